"""Which SQA401 / SQA503 fixes are safe, which unsafe, and what the unsafe ones say.

The ``with`` rewrite closes the session or connection at the end of its block. It is safe
where nothing read from the resource outlives that block, and unsafe (applied only with
``--unsafe-fixes``) where a value that may be an ORM instance, or may still need the
resource, does. ``tests/test_autofix_oracle.py`` shows on a real engine that the unsafe
shapes really behave differently after the fix and the safe ones do not.
"""

from __future__ import annotations

import textwrap

import pytest

from sqla_lint.engine import lint_source
from sqla_lint.settings import Settings

from .orm_models import MODELS

HEADER = (
    MODELS
    + """
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import update

from app.mail import send_welcome
from app.models import Invoice

executor = ThreadPoolExecutor()
CURRENT = None

"""
)


def _fix_of(body: str):
    source = HEADER + textwrap.dedent(body)
    findings = [d for d in lint_source(source, "case.py", Settings()).diagnostics if d.code in ("SQA401", "SQA503")]
    assert len(findings) == 1, findings
    return findings[0].fix


SAFE = {
    "returns-nothing": """
        def create(name):
            db = SessionLocal()
            db.add(User(name=name))
            db.commit()
        """,
    "returns-a-count": """
        def count():
            db = SessionLocal()
            return db.query(User).count()
        """,
    "returns-len": """
        def count():
            db = SessionLocal()
            return len(db.scalars(select(User)).all())
        """,
    "returns-a-scalar-of-a-sql-function": """
        def count():
            db = SessionLocal()
            return db.scalar(select(func.count()).select_from(User))
        """,
    "returns-a-sql-function-value": """
        def now():
            db = SessionLocal()
            return db.scalar(func.now())
        """,
    "returns-a-rowcount": """
        def rename_all(name):
            db = SessionLocal()
            result = db.execute(update(User).values(name=name))
            db.commit()
            return result.rowcount
        """,
    "returns-text-rows": """
        def rows():
            db = SessionLocal()
            return db.execute(text("select 1")).all()
        """,
    "returns-rows-of-columns": """
        def names():
            db = SessionLocal()
            return db.execute(select(User.id, User.name).where(User.id > 1)).all()
        """,
    "returns-a-column-of-a-statement-in-a-local": """
        def names():
            db = SessionLocal()
            stmt = select(User.name).order_by(User.name)
            return db.scalars(stmt).all()
        """,
    "returns-a-mapped-column-of-a-module-class": """
        def name_of(user_id):
            db = SessionLocal()
            user = db.get(User, user_id)
            return user.name
        """,
    "returns-an-optional-mapped-column": """
        def nickname_of(user_id):
            db = SessionLocal()
            return db.scalars(select(User).where(User.id == user_id)).one().nickname
        """,
    "returns-a-formatted-string": """
        def label(user_id):
            db = SessionLocal()
            user = db.get(User, user_id)
            return f"{user.name} <{user.addresses}>"
        """,
    "returns-a-comparison": """
        def exists(user_id):
            db = SessionLocal()
            return db.get(User, user_id) is not None
        """,
    "returns-an-instance-after-commit": """
        def create(name):
            db = SessionLocal()
            user = User(name=name)
            db.add(user)
            db.commit()
            return user
        """,
    "returns-instances-after-close": """
        def everyone():
            db = SessionLocal()
            users = db.scalars(select(User)).all()
            db.close()
            return list(users)
        """,
    "returns-an-instance-after-a-begin-block": """
        def create(name):
            db = SessionLocal()
            with db.begin():
                user = User(name=name)
                db.add(user)
            return user
        """,
    "early-return-after-rollback": """
        def rename(user_id, name):
            db = SessionLocal()
            user = db.get(User, user_id)
            if user is None:
                db.rollback()
                return user
            user.name = name
            db.commit()
            return user
        """,
    "stored-before-commit": """
        class Cache:
            def load(self, user_id):
                db = SessionLocal()
                self.user = db.get(User, user_id)
                db.commit()
        """,
    "handed-to-a-plain-function": """
        def welcome(user_id):
            db = SessionLocal()
            send_welcome(db.get(User, user_id))
        """,
    "kept-in-a-container-made-in-the-block": """
        def count_by_name():
            db = SessionLocal()
            found = {}
            for user in db.scalars(select(User)):
                found[user.name] = user
            return len(found)
        """,
    "session-yielded-by-a-dependency": """
        def get_db():
            db = SessionLocal()
            yield db
        """,
    "connection-rows": """
        def rows():
            conn = engine.connect()
            return conn.execute(select(User)).all()
        """,
    "connection-result-read-in-the-block": """
        def total():
            conn = engine.connect()
            result = conn.execute(text("select 1"))
            return result.scalar_one()
        """,
}

UNSAFE = {
    "returns-an-instance": (
        """
        def get(user_id):
            db = SessionLocal()
            return db.get(User, user_id)
        """,
        "`db.get(User, user_id)` is returned; it may hold ORM instances",
    ),
    "returns-a-list-of-instances": (
        """
        def everyone():
            db = SessionLocal()
            return db.scalars(select(User)).all()
        """,
        "is returned; it may hold ORM instances",
    ),
    "returns-a-relationship": (
        """
        def addresses_of(user_id):
            db = SessionLocal()
            user = db.get(User, user_id)
            return user.addresses
        """,
        "`user.addresses` is returned",
    ),
    "returns-an-attribute-of-an-imported-model": (
        """
        def total_of(invoice_id):
            db = SessionLocal()
            invoice = db.get(Invoice, invoice_id)
            return invoice.total
        """,
        "`invoice.total` is returned",
    ),
    "returns-a-lazy-result": (
        """
        def users():
            db = SessionLocal()
            return db.execute(select(User))
        """,
        "may still need the session (a lazy `Result` or `Query`)",
    ),
    "returns-a-lazy-query": (
        """
        def users():
            db = SessionLocal()
            query = db.query(User).filter(User.id > 1)
            return query
        """,
        "`query` is returned; it may still need the session",
    ),
    "returns-a-comprehension-of-instances": (
        """
        def active():
            db = SessionLocal()
            return [user for user in db.scalars(select(User)) if user.name]
        """,
        "is returned; it may hold ORM instances",
    ),
    "yields-instances": (
        """
        def each_user():
            db = SessionLocal()
            for user in db.scalars(select(User)):
                yield user
        """,
        "`user` is yielded",
    ),
    "stores-on-self": (
        """
        class Cache:
            def load(self, user_id):
                db = SessionLocal()
                self.user = db.get(User, user_id)
        """,
        "is stored in `self.user`",
    ),
    "stores-in-a-global": (
        """
        def remember(user_id):
            global CURRENT
            db = SessionLocal()
            CURRENT = db.get(User, user_id)
        """,
        "is stored in `CURRENT`",
    ),
    "appends-to-a-parameter": (
        """
        def collect(user_id, out):
            db = SessionLocal()
            out.append(db.get(User, user_id))
        """,
        "is added to `out`",
    ),
    "registers-a-callback": (
        """
        def later(user_id, callbacks):
            db = SessionLocal()
            user = db.get(User, user_id)
            callbacks.append(lambda: len(user.addresses))
        """,
        "is added to `callbacks`",
    ),
    "hands-to-a-thread-pool": (
        """
        def notify(user_id):
            db = SessionLocal()
            executor.submit(send_welcome, db.get(User, user_id))
        """,
        "is handed to `executor.submit`",
    ),
    "raises-it": (
        """
        def check(user_id):
            db = SessionLocal()
            user = db.get(User, user_id)
            raise LookupError(user)
        """,
        "is raised",
    ),
    "read-after-the-block": (
        """
        def find(user_id, flag):
            user = None
            if flag:
                db = SessionLocal()
                user = db.get(User, user_id)
            return user
        """,
        "is read after the block",
    ),
    "adds-the-callers-object": (
        """
        def save(user):
            db = SessionLocal()
            db.add(user)
            db.flush()
        """,
        "`user` comes from outside the block and is added to the session",
    ),
    "refresh-after-commit": (
        """
        def create(name):
            db = SessionLocal()
            user = User(name=name)
            db.add(user)
            db.commit()
            db.refresh(user)
            return user
        """,
        "`user` is returned",
    ),
    "early-return-without-commit": (
        """
        def rename(user_id, name):
            db = SessionLocal()
            user = db.get(User, user_id)
            if user.name == name:
                return user
            user.name = name
            db.commit()
            return user
        """,
        "`user` is returned",
    ),
    "attribute-read-after-commit": (
        """
        def create(total):
            db = SessionLocal()
            invoice = Invoice(total=total)
            db.add(invoice)
            db.commit()
            return invoice.id
        """,
        "`invoice.id` is returned",
    ),
    "selects-an-entity-from-a-variable": (
        """
        class Repository:
            def all(self):
                db = SessionLocal()
                return db.scalars(select(self.model)).all()
        """,
        "is returned; it may hold ORM instances",
    ),
    "connection-lazy-result": (
        """
        def rows():
            conn = engine.connect()
            return conn.execute(text("select 1"))
        """,
        "may still need the connection (a lazy `Result`)",
    ),
}


@pytest.mark.parametrize("body", SAFE.values(), ids=SAFE.keys())
def test_safe(body: str):
    fix = _fix_of(body)
    assert fix is not None and fix.applicability.value == "safe", fix
    assert "unsafe" not in fix.message


@pytest.mark.parametrize(("body", "reason"), UNSAFE.values(), ids=UNSAFE.keys())
def test_unsafe(body: str, reason: str):
    fix = _fix_of(body)
    assert fix is not None and fix.applicability.value == "unsafe", fix
    assert reason in fix.message
    assert fix.message.startswith("Open `")


def test_no_fix_where_the_session_itself_is_kept():
    fix = _fix_of(
        """
        def repository():
            db = SessionLocal()
            repo = Repository(db)
            return repo
        """
    )
    assert fix is None
