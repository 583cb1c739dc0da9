"""HTTP API (FastAPI). The application object is built in ``lifespan.create_app``."""

import asyncio
import os
from collections.abc import Iterator

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from .db import check_database, engine, get_async_db, get_db
from .models import Order, Product
from .repositories import OrderRepository, OutOfStock, active_products, place_order

router = APIRouter()

# Each warehouse runs its own small PostgreSQL instance.
WAREHOUSE_URLS = {
    "ams": os.environ.get("SHOP_WAREHOUSE_AMS_URL", "postgresql+psycopg://wh@wh-ams/stock"),
    "ber": os.environ.get("SHOP_WAREHOUSE_BER_URL", "postgresql+psycopg://wh@wh-ber/stock"),
}
_warehouse_engines: dict[str, Engine] = {}


def get_warehouse_engine(code: str) -> Engine:
    """One engine per warehouse URL, created on first use and then reused."""
    url = WAREHOUSE_URLS[code]
    if url not in _warehouse_engines:
        _warehouse_engines[url] = create_engine(url, pool_size=2, max_overflow=0)
    return _warehouse_engines[url]


def get_db_no_autoflush() -> Iterator[Session]:
    """Dependency for the search endpoints, which only read."""
    # BUG: no try/finally around the yield: nothing ever closes this session.
    # Every search request leaves a session behind for the garbage collector.
    db = Session(engine, autoflush=False)
    yield db


class OrderLineIn(BaseModel):
    sku: str
    quantity: int


class OrderIn(BaseModel):
    customer_id: int
    lines: list[OrderLineIn]


class OrderOut(BaseModel):
    id: int
    status: str
    total_cents: int


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"database": "ok" if await check_database() else "down"}


@router.get("/products")
def list_products(limit: int = 100, db: Session = Depends(get_db)) -> list[dict]:
    return [
        {"sku": p.sku, "name": p.name, "price_cents": p.price_cents}
        for p in active_products(db, limit=limit)
    ]


@router.get("/products/search")
def search_products(q: str, db: Session = Depends(get_db_no_autoflush)) -> list[dict]:
    stmt = select(Product).where(Product.name.ilike(f"%{q}%")).limit(20)
    return [{"sku": p.sku, "name": p.name} for p in db.scalars(stmt)]


@router.post("/orders", status_code=201)
def create_order(payload: OrderIn, db: Session = Depends(get_db)) -> OrderOut:
    try:
        lines = [(line.sku, line.quantity) for line in payload.lines]
        order = place_order(db, payload.customer_id, lines)
    except OutOfStock as exc:
        db.rollback()
        raise HTTPException(status_code=409, detail=f"out of stock: {exc}") from None
    db.commit()
    return OrderOut(id=order.id, status=order.status, total_cents=order.total_cents)


@router.get("/orders/{order_id}")
def get_order(order_id: int, db: Session = Depends(get_db)) -> OrderOut:
    order = OrderRepository(db).get(order_id)
    if order is None:
        raise HTTPException(status_code=404)
    return OrderOut(id=order.id, status=order.status, total_cents=order.total_cents)


@router.get("/customers/{customer_id}/order-count")
async def customer_order_count(
    customer_id: int, session: AsyncSession = Depends(get_async_db)
) -> dict[str, int]:
    count = await session.scalar(
        select(func.count(Order.id)).where(Order.customer_id == customer_id)
    )
    return {"customer_id": customer_id, "orders": count or 0}


@router.post("/orders/{order_id}/cancel")
async def cancel_order(order_id: int, request: Request) -> dict[str, str]:
    # The async session factory is created once in the lifespan.
    async with request.app.state.sessionmaker() as session, session.begin():
        order = await session.get(Order, order_id)
        if order is None:
            raise HTTPException(status_code=404)
        order.status = "cancelled"
    return {"status": "cancelled"}


@router.get("/stock/{sku}/live")
async def live_stock(sku: str, request: Request) -> dict[str, int]:
    # Raw psycopg pool opened in the lifespan; a connection is borrowed per request.
    async with request.app.state.stock_pool.connection() as conn:
        cur = await conn.execute("SELECT qty FROM live_stock WHERE sku = %s", (sku,))
        row = await cur.fetchone()
    if row is None:
        raise HTTPException(status_code=404)
    return {"sku": sku, "qty": row[0]}


@router.get("/admin/warehouses/{code}/health")
def warehouse_health(code: str) -> dict[str, str]:
    if code not in WAREHOUSE_URLS:
        raise HTTPException(status_code=404)
    with get_warehouse_engine(code).connect() as conn:
        conn.execute(text("SELECT 1"))
    return {"warehouse": code, "status": "ok"}


@router.get("/admin/warehouses/{code}/stock")
def warehouse_stock(code: str) -> list[dict]:
    if code not in WAREHOUSE_URLS:
        raise HTTPException(status_code=404)
    # BUG: a brand-new engine, and so a brand-new connection pool, on every request.
    # Nothing disposes it; under load this opens connections until the warehouse
    # database refuses more. Use get_warehouse_engine(code), as warehouse_health does.
    wh_engine = create_engine(WAREHOUSE_URLS[code])
    with wh_engine.connect() as conn:
        rows = conn.execute(text("SELECT sku, qty FROM stock ORDER BY sku")).all()
    return [{"sku": r.sku, "qty": r.qty} for r in rows]


@router.get("/customers/{customer_id}/summary")
async def customer_summary(
    customer_id: int, session: AsyncSession = Depends(get_async_db)
) -> dict[str, int]:
    # BUG: both queries run at once on the request's one AsyncSession. Under load this
    # raises IllegalStateChangeError / "concurrent operations are not permitted"; await
    # them one after the other (or give each its own session).
    orders, spent = await asyncio.gather(
        session.scalar(select(func.count(Order.id)).where(Order.customer_id == customer_id)),
        session.scalar(select(func.sum(Order.total_cents)).where(Order.customer_id == customer_id)),
    )
    return {"customer_id": customer_id, "orders": orders or 0, "spent_cents": spent or 0}
