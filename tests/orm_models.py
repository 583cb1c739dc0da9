"""The source of a small mapped model with a lazy relationship, seeded with one user, for
the tests that lint or run code using it. The module it is run as defines
``DATABASE_URL``."""

MODELS = """\
from sqlalchemy import ForeignKey, create_engine, func, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker
from sqlalchemy.pool import NullPool, QueuePool


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    nickname: Mapped[str | None] = mapped_column(default=None)
    addresses: Mapped[list["Address"]] = relationship()


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


engine = create_engine(DATABASE_URL, poolclass=QueuePool)
Base.metadata.create_all(engine)
SessionLocal = sessionmaker(bind=engine)
with SessionLocal() as seed:
    seed.add(User(name="ada", addresses=[Address(email="ada@example.com")]))
    seed.commit()
"""
