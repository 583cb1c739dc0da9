"""Nightly reports, run from cron against the read replica.

    python -m shop.reports --day 2024-05-01 --output sales.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from contextlib import ExitStack, closing
from datetime import date, datetime, time, timedelta

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session, sessionmaker

from .db import REPORTING_URL, get_reporting_engine
from .models import Customer, Order, OrderItem, Product

# Created once at import; get_reporting_engine() is cached anyway.
engine = get_reporting_engine(REPORTING_URL)
ReportSession = sessionmaker(bind=engine)


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min)
    return start, start + timedelta(days=1)


def daily_sales(day: date) -> Sequence[Row]:
    start, end = _day_bounds(day)
    stmt = (
        select(Product.sku, func.sum(OrderItem.quantity).label("units"))
        .join(OrderItem.product)
        .join(OrderItem.order)
        .where(Order.created_at >= start, Order.created_at < end)
        .group_by(Product.sku)
        .order_by(Product.sku)
    )
    # BUG: closed only on the success path. If the query fails (statement timeout,
    # replica restart) the exception skips close() and the connection stays checked
    # out, "idle in transaction" on the replica.
    session = ReportSession()
    rows = session.execute(stmt).all()
    session.close()
    return rows


def top_customers(limit: int = 10) -> Sequence[Row]:
    stmt = (
        select(Customer.email, func.count(Order.id).label("orders"))
        .join(Customer.orders)
        .group_by(Customer.email)
        .order_by(func.count(Order.id).desc())
        .limit(limit)
    )
    with Session(engine) as session:
        rows = session.execute(stmt).all()
        # BUG (harmless): redundant, leaving the `with` block closes the session.
        session.close()
    return rows


def low_stock(session: Session, threshold: int = 5) -> Sequence[Row]:
    """The caller owns the session."""
    stmt = (
        select(Product.sku, Product.stock)
        .where(Product.active, Product.stock < threshold)
        .order_by(Product.stock)
    )
    return session.execute(stmt).all()


def pending_order_count() -> int:
    with closing(ReportSession()) as session:
        return session.scalar(select(func.count(Order.id)).where(Order.status == "pending")) or 0


def write_sales_csv(path: str, day: date) -> int:
    """Stream one day's order lines to CSV on a plain connection."""
    start, end = _day_bounds(day)
    stmt = (
        select(Order.id, Order.created_at, OrderItem.product_id, OrderItem.quantity)
        .join(Order.items)
        .where(Order.created_at >= start, Order.created_at < end)
    )
    count = 0
    with engine.connect() as conn, open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["order_id", "created_at", "product_id", "quantity"])
        for row in conn.execution_options(stream_results=True).execute(stmt):
            writer.writerow(row)
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shop.reports")
    parser.add_argument("--day", type=date.fromisoformat, default=date.today() - timedelta(days=1))
    parser.add_argument("--output", help="also write the day's order lines to this CSV file")
    args = parser.parse_args(argv)

    print(f"Sales for {args.day}:")
    for sku, units in daily_sales(args.day):
        print(f"  {sku:<20} {units:>6}")

    print("Top customers:")
    for email, orders in top_customers():
        print(f"  {email:<40} {orders:>4}")

    with ExitStack() as stack:
        session = stack.enter_context(ReportSession())
        stack.enter_context(session.begin())
        print("Low stock:")
        for sku, stock in low_stock(session):
            print(f"  {sku:<20} {stock:>4}")

    print(f"Pending orders: {pending_order_count()}")
    if args.output:
        print(f"Wrote {write_sales_csv(args.output, args.day)} lines to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
