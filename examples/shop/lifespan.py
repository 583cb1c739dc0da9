"""Application factory and lifespans.

Run the shop with ``uvicorn shop.lifespan:app`` and the internal metrics endpoint with
``uvicorn shop.lifespan:metrics_app``.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from .api import router
from .db import DATABASE_URL, PG_CONNINFO


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # One engine per process, disposed at shutdown.
    engine = create_async_engine(DATABASE_URL, pool_size=10, pool_pre_ping=True)
    app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)

    # Raw psycopg pool for the live-stock endpoint (bypasses the ORM).
    stock_pool = AsyncConnectionPool(PG_CONNINFO, min_size=1, max_size=4, open=False)
    await stock_pool.open()
    app.state.stock_pool = stock_pool

    try:
        yield
    finally:
        await engine.dispose()
        # BUG: stock_pool is never closed. On shutdown (or on every reload under
        # `uvicorn --reload`) its connections stay open on the server until they
        # time out, and its background workers are never stopped.


@asynccontextmanager
async def metrics_lifespan(app: FastAPI) -> AsyncIterator[None]:
    # `async with` opens the pool and closes it when the app shuts down.
    async with AsyncConnectionPool(PG_CONNINFO, min_size=1, max_size=2) as pool:
        app.state.pool = pool
        yield


def create_app() -> FastAPI:
    app = FastAPI(title="shop", lifespan=lifespan)
    app.include_router(router)
    return app


app = create_app()
metrics_app = FastAPI(title="shop metrics", lifespan=metrics_lifespan)


@metrics_app.get("/metrics/orders")
async def order_metrics() -> dict[str, int]:
    async with metrics_app.state.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM orders WHERE status = 'pending'")
        (pending,) = await cur.fetchone()
    return {"orders_pending": pending}
