"""Background jobs, run by a thread-pool worker process (``python -m shop.workers``).

Workers have their own, smaller engine: the web processes already hold most of
the database's connection budget.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from psycopg_pool import ConnectionPool
from sqlalchemy import create_engine, delete, select, update
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from .db import DATABASE_URL, PG_CONNINFO
from .models import Cart, Order, Product
from .repositories import CatalogReader

log = logging.getLogger(__name__)

engine = create_engine(DATABASE_URL, pool_size=4, max_overflow=0, pool_pre_ping=True)
WorkerSession = sessionmaker(bind=engine)

# Thread-local sessions for run_task(); removed after every task.
TaskSession = scoped_session(WorkerSession)


@lru_cache(maxsize=1)
def get_worker_session() -> Session:
    # BUG: lru_cache turns this into one Session shared by every caller and every
    # worker thread. Sessions are not thread-safe, and identity-map state leaks
    # from one job into the next. Open WorkerSession() per job instead.
    return WorkerSession()


def reindex_products(index: Callable[[Product], None]) -> None:
    with get_worker_session() as session:
        for product in session.scalars(select(Product).where(Product.active)):
            index(product)


def full_reindex(index: Callable[[Product], None]) -> None:
    with CatalogReader() as catalog:
        for product in catalog.iter_products():
            index(product)


def sync_inventory(feed: Iterable[tuple[str, int]]) -> None:
    """Apply the supplier's stock feed."""
    # BUG: commit() is not close(). The session is never closed; on any exception
    # it keeps its connection checked out until garbage collection.
    session = WorkerSession()
    for sku, qty in feed:
        session.execute(update(Product).where(Product.sku == sku).values(stock=qty))
    session.commit()


def purge_expired_carts() -> int:
    # BUG: no try/finally. If the DELETE fails (lock timeout) the connection is
    # never returned to the pool; after four failures the worker pool is exhausted.
    conn = engine.connect()
    result = conn.execute(delete(Cart).where(Cart.expires_at < datetime.now(timezone.utc)))
    conn.commit()
    conn.close()
    return result.rowcount


def archive_old_orders(days: int = 365) -> int:
    cutoff = datetime.now(timezone.utc) - timedelta(days=days)
    conn = engine.connect()
    try:
        result = conn.execute(
            update(Order)
            .where(Order.created_at < cutoff, Order.archived.is_(False))
            .values(archived=True)
        )
        conn.commit()
        return result.rowcount
    finally:
        conn.close()


def expire_stale_orders() -> None:
    cutoff = datetime.now(timezone.utc) - timedelta(hours=2)
    with engine.begin() as conn:
        conn.execute(
            update(Order)
            .where(Order.status == "pending", Order.created_at < cutoff)
            .values(status="expired")
        )


def restock_product(session: Session, sku: str, qty: int) -> None:
    """Task body: gets the thread's session from run_task()."""
    session.execute(update(Product).where(Product.sku == sku).values(stock=Product.stock + qty))


def run_task(task: Callable[..., Any], *args: Any) -> None:
    try:
        task(TaskSession, *args)
        TaskSession.commit()
    except Exception:
        TaskSession.rollback()
        log.exception("task %s failed", task.__name__)
    finally:
        TaskSession.remove()


# Raw psycopg pool for refreshing the search view (bypasses the ORM).
# BUG: relies on psycopg_pool's implicit `open=True` outside `with`. psycopg_pool 3.2 warns
# about it, and the default is to become `False`: the pool would then never be opened, and
# every `search_pool.connection()` would raise `PoolClosed`.
search_pool = ConnectionPool(PG_CONNINFO, max_size=2)


def refresh_search_view() -> None:
    with search_pool.connection() as conn:
        conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY product_search")


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    with ThreadPoolExecutor(max_workers=4) as pool:
        pool.submit(run_task, restock_product, "SKU-1", 10)
        pool.submit(purge_expired_carts)
        pool.submit(archive_old_orders)
        pool.submit(expire_stale_orders)
        pool.submit(refresh_search_view)


if __name__ == "__main__":
    main()
