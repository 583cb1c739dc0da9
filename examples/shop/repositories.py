"""Data access: repositories and service functions.

Most of this module never opens a session itself: the caller (a request handler or
a job) owns the session and passes it in. The two classes at the bottom own one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .db import engine
from .models import AuditEvent, Order, OrderItem, Product


class OrderRepository:
    """Per-request repository. The session is borrowed, never closed here."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, order_id: int) -> Order | None:
        stmt = (
            select(Order)
            .where(Order.id == order_id)
            .options(selectinload(Order.items).selectinload(OrderItem.product))
        )
        return self.session.scalars(stmt).one_or_none()

    def for_customer(self, customer_id: int, limit: int = 50) -> Sequence[Order]:
        stmt = (
            select(Order)
            .where(Order.customer_id == customer_id)
            .order_by(Order.created_at.desc())
            .limit(limit)
        )
        return self.session.scalars(stmt).all()

    def add(self, order: Order) -> Order:
        self.session.add(order)
        self.session.flush()
        return order


class OutOfStock(Exception):
    pass


def place_order(session: Session, customer_id: int, lines: Iterable[tuple[str, int]]) -> Order:
    """Create an order and reserve stock. The caller commits (or rolls back) and closes."""
    order = Order(customer_id=customer_id)
    for sku, quantity in lines:
        product = session.scalars(
            select(Product).where(Product.sku == sku).with_for_update()
        ).one()
        if product.stock < quantity:
            raise OutOfStock(sku)
        product.stock -= quantity
        order.items.append(
            OrderItem(product=product, quantity=quantity, unit_price_cents=product.price_cents)
        )
    session.add(order)
    session.flush()
    return order


def active_products(session: Session, limit: int = 100) -> Sequence[Product]:
    stmt = select(Product).where(Product.active).order_by(Product.name).limit(limit)
    return session.scalars(stmt).all()


class CatalogReader:
    """Long-lived read-only reader used by the search indexer.

    It owns its session and gives it back in ``close()``; use it as a context
    manager::

        with CatalogReader() as catalog:
            for product in catalog.iter_products():
                ...
    """

    def __init__(self) -> None:
        self._session = Session(engine, autoflush=False)

    def iter_products(self, batch_size: int = 500) -> Iterator[Product]:
        stmt = select(Product).where(Product.active).execution_options(yield_per=batch_size)
        yield from self._session.scalars(stmt)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> CatalogReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AuditLogWriter:
    """Writes audit events from the admin tools."""

    def __init__(self) -> None:
        # BUG: the writer owns this session but has no close()/__exit__. If a
        # commit fails, the session keeps its pooled connection checked out, in a
        # failed transaction, until the writer happens to be garbage-collected.
        self.session = Session(engine)

    def record(self, kind: str, **payload: Any) -> None:
        self.session.add(AuditEvent(kind=kind, payload=payload))
        self.session.commit()
