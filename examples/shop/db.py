"""Database wiring: one engine and one session factory per process.

Everything here is created once, at import time. Request handlers and jobs open a
short-lived session per unit of work from ``SessionLocal`` / ``async_session``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

DATABASE_URL = os.environ.get(
    "SHOP_DATABASE_URL", "postgresql+psycopg://shop@localhost:5432/shop"
)
REPORTING_URL = os.environ.get(
    "SHOP_REPORTING_URL", "postgresql+psycopg://shop_ro@replica:5432/shop"
)
# libpq connection string for the raw psycopg pool (no SQLAlchemy dialect prefix).
PG_CONNINFO = os.environ.get("SHOP_PG_CONNINFO", "host=localhost dbname=shop user=shop")

# Module-level engine and session factories: the recommended pattern.
engine = create_engine(DATABASE_URL, pool_size=10, max_overflow=5, pool_pre_ping=True)
SessionLocal = sessionmaker(bind=engine, expire_on_commit=False)

# BUG: nothing disposes async_engine, although the app has a lifespan (lifespan.py):
# at shutdown its pooled connections are dropped after the event loop has closed
# ("Event loop is closed"), and PostgreSQL keeps their backends idle (SQA505). It is
# also the largest share of a connection budget that 4 gunicorn workers exceed (SQA506).
async_engine = create_async_engine(DATABASE_URL, pool_size=10, pool_pre_ping=True)
async_session = async_sessionmaker(async_engine, expire_on_commit=False)


def get_db() -> Iterator[Session]:
    """FastAPI dependency: one session per request, always closed."""
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


async def get_async_db() -> AsyncIterator[AsyncSession]:
    """FastAPI dependency for the async routes."""
    async with async_session() as session:
        try:
            yield session
        finally:
            # BUG (harmless, but noise): `async with` already closes the session
            # when the block exits; this close() is redundant.
            await session.close()


@contextmanager
def session_scope() -> Iterator[Session]:
    """Transactional scope for scripts: commit on success, roll back on error."""
    session = SessionLocal()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


@lru_cache(maxsize=None)
def get_reporting_engine(url: str = REPORTING_URL) -> Engine:
    """One small read-only engine per replica URL, created on first use and cached."""
    return create_engine(
        url,
        pool_size=2,
        max_overflow=0,
        execution_options={"postgresql_readonly": True},
    )


async def check_database() -> bool:
    """Used by the /healthz endpoint."""
    async with async_session() as session:
        result = await session.execute(text("SELECT 1"))
        return result.scalar_one() == 1
