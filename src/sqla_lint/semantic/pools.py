"""Where a module builds engines and pools, and with which limits: the facts SQA506 adds up.

Read from CPython's tree (line numbers come free, and the index builds its module facts
from it), with names resolved through the module's imports as :class:`.names.ImportMap`
resolves them: ``from sqlalchemy import create_engine as ce`` is an engine, a project
function that happens to be called ``create_engine`` is not.

Only what the code states is recorded: a literal ``pool_size=10`` is 10; a size read from
settings or the environment is recorded as not a literal, and the budget counts the
library's default for it and says so.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from .facts import ModuleFacts, written_chain
from .symbols import Kind, call_result_kind, is_cache_decorator

# Keywords that bound a pool, per constructor family.
_SQLALCHEMY_LIMITS = ("pool_size", "max_overflow")
_PSYCOPG_LIMITS = ("min_size", "max_size")
_ASYNCPG_LIMITS = ("max_size",)
_AIOPG_LIMITS = ("maxsize",)


@dataclass(frozen=True)
class PoolSetting:
    """One limit as written at the call: its value, or why there is none."""

    name: str
    value: int | None  # None: not given, or not a literal
    written: str | None = None  # the source of a value that is not a literal

    def to_json(self) -> list[object]:
        return [self.name, self.value, self.written]


@dataclass(frozen=True)
class PoolSite:
    """A call that builds an engine or a connection pool."""

    module: str
    line: int
    column: int  # 0-based, as CPython counts
    constructor: str  # qualified: ``sqlalchemy.create_engine``
    family: str  # "sqlalchemy", "psycopg", "psycopg-null", "asyncpg", "aiopg"
    is_async: bool
    poolclass: str | None  # the last segment of ``poolclass=``: "NullPool", ...
    settings: tuple[PoolSetting, ...]
    holder: str | None  # what it is assigned to: ``engine``, ``app.state.engine``
    function: str | None  # the enclosing top-level function or method, ``f`` / ``Cls.f``
    per_key_cache: bool  # kept in a dict keyed by URL or tenant, or cached per argument
    sqlite: bool  # a literal ``sqlite`` URL: no server connections
    passes_kwargs: bool  # ``**options``: limits may come from there
    apart: str | None = None  # why it runs apart from the deployed processes: test code, a migration, a script
    # The branches it is made in, outermost first, within its function (or module level):
    # (line of the ``if`` / ``match`` / conditional expression, which branch). Two sites in
    # different branches of one statement are alternatives: one process makes only one.
    branches: tuple[tuple[int, int], ...] = ()

    @property
    def label(self) -> str:
        return f"{self.module}:{self.line}"

    def setting(self, name: str) -> PoolSetting:
        return next((s for s in self.settings if s.name == name), PoolSetting(name, None))

    def to_json(self) -> dict[str, object]:
        return {
            "module": self.module,
            "line": self.line,
            "column": self.column,
            "constructor": self.constructor,
            "family": self.family,
            "is_async": self.is_async,
            "poolclass": self.poolclass,
            "settings": [s.to_json() for s in self.settings],
            "holder": self.holder,
            "function": self.function,
            "per_key_cache": self.per_key_cache,
            "sqlite": self.sqlite,
            "passes_kwargs": self.passes_kwargs,
            "apart": self.apart,
            "branches": [list(branch) for branch in self.branches],
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> PoolSite:
        settings = tuple(PoolSetting(str(s[0]), s[1], s[2]) for s in data["settings"])  # type: ignore[union-attr,index,arg-type]
        return cls(
            module=str(data["module"]),
            line=int(data["line"]),  # type: ignore[arg-type]
            column=int(data["column"]),  # type: ignore[arg-type]
            constructor=str(data["constructor"]),
            family=str(data["family"]),
            is_async=bool(data["is_async"]),
            poolclass=data["poolclass"],  # type: ignore[arg-type]
            settings=settings,
            holder=data["holder"],  # type: ignore[arg-type]
            function=data["function"],  # type: ignore[arg-type]
            per_key_cache=bool(data["per_key_cache"]),
            sqlite=bool(data["sqlite"]),
            passes_kwargs=bool(data["passes_kwargs"]),
            apart=data.get("apart"),  # type: ignore[arg-type]
            branches=tuple((int(line), int(branch)) for line, branch in data.get("branches", ())),  # type: ignore[union-attr]
        )


def _family(qualified: str, kind: Kind) -> tuple[str, tuple[str, ...]] | None:
    root, _, rest = qualified.partition(".")
    leaf = qualified.rpartition(".")[2]
    if kind.is_engine:
        return "sqlalchemy", _SQLALCHEMY_LIMITS
    if kind is not Kind.POOL:
        return None
    if root == "psycopg_pool":
        return ("psycopg-null" if "Null" in leaf else "psycopg"), _PSYCOPG_LIMITS
    if root == "asyncpg":
        return "asyncpg", _ASYNCPG_LIMITS
    if root == "aiopg" and rest:
        return "aiopg", _AIOPG_LIMITS
    return None


def pool_sites(tree: ast.Module, module: str, is_package: bool = False) -> list[PoolSite]:
    """Every engine and pool construction in ``tree``, in source order."""
    return pool_sites_of(ModuleFacts(tree, module, is_package=is_package))


def pool_sites_of(facts: ModuleFacts) -> list[PoolSite]:
    """:func:`pool_sites` from a module's facts: their walk, parents and import resolution."""
    return _Collector(facts).sites


class _Collector:
    def __init__(self, facts: ModuleFacts) -> None:
        self.module = facts.module
        self.facts = facts
        self.parents = facts.parent
        self.sites = [site for call in facts.calls if (site := self._site(call))]

    def _resolve(self, node: ast.expr) -> str | None:
        return self.facts.qualified_name(node)

    def _site(self, call: ast.Call) -> PoolSite | None:
        qualified = self._resolve(call.func)
        kind = call_result_kind(qualified) if qualified else None
        if qualified is None or kind is None:
            return None
        family = _family(qualified, kind)
        if family is None:
            return None
        name, limits = family
        keywords = {k.arg: k.value for k in call.keywords if k.arg is not None}
        settings = []
        for limit in limits:
            value = keywords.get(limit)
            if value is None:
                settings.append(PoolSetting(limit, None))
            elif (number := _literal_int(value)) is not None:
                settings.append(PoolSetting(limit, number))
            else:
                settings.append(PoolSetting(limit, None, ast.unparse(value)))
        poolclass_node = keywords.get("poolclass")
        poolclass = None
        if poolclass_node is not None:
            resolved = self._resolve(poolclass_node) or written_chain(poolclass_node) or ast.unparse(poolclass_node)
            poolclass = resolved.rpartition(".")[2]
        url = call.args[0] if call.args else keywords.get("url")
        sqlite = isinstance(url, ast.Constant) and isinstance(url.value, str) and url.value.startswith("sqlite")
        function = self._outermost_function(call)
        return PoolSite(
            module=self.module,
            line=call.lineno,
            column=call.col_offset,
            constructor=qualified,
            family=name,
            is_async=kind is Kind.ASYNC_ENGINE or name in ("asyncpg", "aiopg") or "Async" in qualified.rpartition(".")[2],
            poolclass=poolclass,
            settings=tuple(settings),
            holder=self._holder(call),
            function=self._function_name(function) if function is not None else None,
            per_key_cache=self._per_key_cache(call, function),
            sqlite=sqlite,
            passes_kwargs=any(k.arg is None for k in call.keywords),
            apart=self._apart(call),
            branches=self._branches(call),
        )

    def _branches(self, call: ast.Call) -> tuple[tuple[int, int], ...]:
        """The ``if`` / ``match`` / ``x if c else y`` branches that hold ``call``, up to its
        function (an engine in a nested function is made when that one runs: the path stops
        there too)."""
        found: list[tuple[int, int]] = []
        child: ast.AST = call
        current = self.parents.get(call)
        while current is not None and not isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            if isinstance(current, (ast.If, ast.IfExp)):
                body = current.body if isinstance(current.body, list) else [current.body]
                orelse = current.orelse if isinstance(current.orelse, list) else [current.orelse]
                if any(child is node for node in body):
                    found.append((current.lineno, 0))
                elif any(child is node for node in orelse):
                    found.append((current.lineno, 1))
            elif isinstance(current, ast.match_case):
                statement = self.parents.get(current)
                if isinstance(statement, ast.Match):
                    found.append((statement.lineno, statement.cases.index(current)))
            child, current = current, self.parents.get(current)
        return tuple(reversed(found))

    def _apart(self, call: ast.Call) -> str | None:
        """Code that builds its engine outside the web or worker processes the budget
        multiplies: tests, alembic's migration environment, a ``__main__`` block."""
        segments = self.module.split(".")
        if any(s in ("tests", "test", "testing", "conftest") or s.startswith("test_") or s.endswith("_test") for s in segments):
            return "test code"
        if any(target == "alembic" or target.startswith("alembic.") for target in self.facts.imports.values()):
            return "a migration environment (alembic)"
        current = self.parents.get(call)
        while current is not None:
            if isinstance(current, ast.If) and _is_main_guard(current.test):
                return "a `__main__` block"
            current = self.parents.get(current)
        return None

    def _value_of(self, call: ast.AST) -> ast.AST:
        """The expression that carries the call's value out: ``await pool`` carries ``pool``."""
        parent = self.parents.get(call)
        return parent if isinstance(parent, ast.Await) else call

    def _holder(self, call: ast.Call) -> str | None:
        value = self._value_of(call)
        parent = self.parents.get(value)
        if isinstance(parent, ast.Assign) and parent.value is value and len(parent.targets) == 1:
            target = parent.targets[0]
            return written_chain(target) or (ast.unparse(target) if isinstance(target, ast.Subscript) else None)
        if isinstance(parent, ast.AnnAssign) and parent.value is value:
            return written_chain(parent.target)
        return None

    def _outermost_function(self, node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        found = None
        current = self.parents.get(node)
        while current is not None:
            if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found = current
            current = self.parents.get(current)
        return found

    def _function_name(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
        owner = self.parents.get(function)
        return f"{owner.name}.{function.name}" if isinstance(owner, ast.ClassDef) else function.name

    def _per_key_cache(self, call: ast.Call, function: ast.FunctionDef | ast.AsyncFunctionDef | None) -> bool:
        """One engine per key: ``cache[url] = create_engine(url)``, ``cache.setdefault(url,
        ...)``, a local stored under a key, or a function cached per argument."""
        value = self._value_of(call)
        parent = self.parents.get(value)
        if isinstance(parent, ast.Assign) and any(_keyed(t) for t in parent.targets):
            return True
        if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Attribute) and parent.func.attr == "setdefault":
            return True
        if function is None:
            return False
        holder = self._holder(call)
        if holder is not None and "." not in holder:
            for node in ast.walk(function):
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id == holder:
                    if any(_keyed(t) for t in node.targets):
                        return True
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "setdefault"
                    and any(isinstance(a, ast.Name) and a.id == holder for a in node.args[1:])
                ):
                    return True
        arguments = function.args
        has_parameters = bool(arguments.posonlyargs or arguments.args or arguments.kwonlyargs or arguments.vararg or arguments.kwarg)
        if isinstance(self.parents.get(function), ast.ClassDef) and arguments.args:
            has_parameters = len(arguments.args) > 1 or bool(arguments.kwonlyargs or arguments.vararg or arguments.kwarg)
        for decorator in function.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            qualified = self._resolve(target)
            if qualified is not None and is_cache_decorator(qualified) and has_parameters:
                return True
        return False


def _keyed(target: ast.expr) -> bool:
    """``cache[url]``: one entry per key. ``app["db"]`` is one slot, not a cache."""
    if not isinstance(target, ast.Subscript):
        return False
    key = target.slice
    return not (isinstance(key, ast.Constant) and isinstance(key.value, str))


def _literal_int(node: ast.expr) -> int | None:
    """``10``, ``-1``; None for anything else (booleans too)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _literal_int(node.operand)
        return -inner if inner is not None else None
    return node.value if isinstance(node, ast.Constant) and type(node.value) is int else None


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )
