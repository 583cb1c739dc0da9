"""What the model finds a module creating: a resource the caller then owns, and a psycopg_pool
pool as its constructor was called. Kept apart from the model so that the analyses mixed
into it can name them without importing it."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from .symbols import Kind
from .tree import FunctionNode


@dataclass(frozen=True)
class Creation:
    """A call that creates a resource the caller then owns."""

    call: cst.Call
    kind: Kind
    function: FunctionNode | None
    source: str  # how the resource was made, for messages: "SessionLocal()", "get_session()"
    via_helper: str | None = None  # the project function that returned it, if any


@dataclass(frozen=True)
class PoolConstructor:
    """A call of a psycopg_pool pool class, as written."""

    qualified_name: str
    is_async: bool
    open_argument: cst.BaseExpression | None  # the ``open=`` value, if written
    opens: bool | None  # whether the constructor opens the pool; None if it cannot be told

    @property
    def implicit_open(self) -> bool:
        """Opened because ``open=`` was left out (the default psycopg_pool is changing)."""
        return self.opens is True and self.open_argument is None
