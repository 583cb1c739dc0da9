"""The old Flask back office, still serving /admin while it is ported to FastAPI.

Older views use the module-wide ``db_session`` registry; views ported since use a
per-request session on ``flask.g``.
"""

from flask import Flask, abort, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from .db import engine
from .models import Customer, Order, Product

# BUG: this registry is never .remove()d (see close_request_session below). Each
# worker thread keeps its session, and whatever transaction it last began, open
# between requests: stale data and "idle in transaction" connections.
db_session = scoped_session(sessionmaker(bind=engine))

app = Flask(__name__)


@app.before_request
def open_request_session() -> None:
    g.db = Session(engine)


@app.teardown_appcontext
def close_request_session(exc: BaseException | None) -> None:
    if "db" in g:
        g.db.close()
    # Missing here: db_session.remove()


# --- legacy views (db_session) -------------------------------------------------


@app.get("/admin/products")
def admin_products():
    products = db_session.scalars(select(Product).order_by(Product.name)).all()
    return jsonify([{"id": p.id, "sku": p.sku, "stock": p.stock} for p in products])


@app.post("/admin/products/<int:product_id>/stock")
def admin_set_stock(product_id: int):
    product = db_session.get(Product, product_id)
    if product is None:
        abort(404)
    product.stock = int(request.form["stock"])
    db_session.commit()
    return jsonify({"id": product.id, "stock": product.stock})


# --- ported views (g.db, closed in teardown) -----------------------------------


@app.get("/admin/customers/<int:customer_id>")
def admin_customer(customer_id: int):
    customer = g.db.get(Customer, customer_id)
    if customer is None:
        abort(404)
    orders = g.db.scalars(select(Order).where(Order.customer_id == customer_id)).all()
    return jsonify(
        {
            "email": customer.email,
            "orders": [{"id": o.id, "status": o.status} for o in orders],
        }
    )
