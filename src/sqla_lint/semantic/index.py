"""The project index: what every module of a project binds, returns, calls and removes.

Real code creates sessions far from where the factory is defined
(``from app.db import SessionLocal``), removes a ``scoped_session`` in another module
than the one that made it, and calls an engine factory from a request handler three
modules away. A per-file linter either misses these or guesses from names.

Each module's facts (:mod:`.facts`) are symbolic (``"call:app.db.SessionLocal"`` rather
than a resolved kind) and come from its own syntax alone; the index is their union, and
resolves chains across modules lazily at query time. It reads no file: building it (which
files, which cache) is :mod:`sqla_lint.indexing`'s job.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from .facts import (
    RELATIVE_IMPORT,
    CallSite,
    FunctionSummary,
    ModuleFacts,
    ModuleSummary,
)
from .symbols import (
    CONNECTION_FOR_ENGINE,
    KNOWN_ROOTS,
    SESSION_FOR_FACTORY,
    Kind,
    call_result_kind,
)

if TYPE_CHECKING:
    from .budget import ConnectionBudget, Deployment
    from .pools import PoolSite

_MAX_DEPTH = 12
_UNKNOWN = object()


class RelevanceMatcher:
    """One compiled regex over names; a hit counts only beside the name of its module.

    Using ``SessionLocal`` of ``app.db`` takes writing ``db``: ``from app.db import
    SessionLocal``, ``from app import db``, ``import app.db``. Only a relative import of a
    package (``from . import SessionLocal``) can leave it out, so one of those counts too.
    """

    def __init__(self, names: dict[str, set[str]]) -> None:
        self._names = {name.encode(): [module.encode() for module in modules] for name, modules in names.items()}
        self._pattern = (
            re.compile(rb"\b(" + b"|".join(re.escape(n) for n in sorted(self._names)) + rb")\b")
            if self._names
            else None
        )

    def matches(self, source: bytes) -> bool:
        if self._pattern is None:
            return False
        for name in set(self._pattern.findall(source)):
            if any(module in source for module in self._names[name]) or RELATIVE_IMPORT.search(source):
                return True
        return False


class ProjectIndex:
    """Module summaries of one project, and the cross-module questions they answer."""

    def __init__(
        self,
        root: Path,
        summaries: dict[str, ModuleSummary] | Callable[[], dict[str, ModuleSummary]],
        digest: str | None = None,
        *,
        installed: frozenset[str] = frozenset(),
    ) -> None:
        self.root = root
        # Top-level names of installed packages whose modules may be among the summaries
        # (read to know what their names are, never linted): they are spelled in full, as
        # installed, so no tail of theirs stands in for a project module.
        self.installed = installed
        # Notes for the user about the build (an installed package too large to read whole).
        self.notes: list[str] = []
        # The summaries, or (with ``digest`` known) how to read them: a run whose every
        # result comes from the result cache needs the digest and never the summaries.
        self._modules = summaries if isinstance(summaries, dict) else None
        self._read_modules = None if isinstance(summaries, dict) else summaries
        self._callers: dict[str, list[CallSite]] | None = None
        self._removed: set[str] | None = None
        self._disposed: set[str] | None = None
        self._splits: dict[str, object] = {}
        self._tracked_names: dict[str, set[str]] | None = None
        self._called: dict[str, str] = {}  # callee -> the function a call of it runs (asked per call site, per question)
        # Worker processes and connection limits (SQA506), found by the layer that reads
        # deployment files and configuration; part of the digest, so results follow them.
        self.deployment: Deployment | None = None
        self._digest = digest  # known already when the summaries come from the index cache
        self._tracked: dict[str, bool] = {}
        self._methods_tracked: dict[str, frozenset[str]] = {}
        self._tracked_directly: dict[str, bool] = {}
        self._defining_classes: dict[str, str] = {}
        self._resource_methods: dict[str, frozenset[str]] = {}
        # The content hash of every file the build read, by absolute path: the result
        # cache's keys, so a run reads each file once.
        self.file_hashes: dict[str, str] = {}
        # What the build's one CPython parse of a file said about linting it, by (content
        # hash, module name): the prefilter's verdict and what its names resolve to. The
        # lint of that file then needs no parse of its own to decide whether libcst must.
        self._screens: dict[tuple[str, str], tuple[bool, set[str] | None]] | None = {}
        self._read_screens: Callable[[], dict[tuple[str, str], tuple[bool, set[str] | None]]] | None = None
        # Files, by (content hash, module name), that the build's text tests ruled out: no
        # known API, no configured factory, no name the index tracks beside its module's.
        # Linting one needs only its syntax check.
        self.ruled_out: set[tuple[str, str]] = set()

    @property
    def screens(self) -> dict[tuple[str, str], tuple[bool, set[str] | None]]:
        if self._screens is None:
            assert self._read_screens is not None
            self._screens, self._read_screens = self._read_screens(), None
        return self._screens

    @screens.setter
    def screens(self, screens: dict[tuple[str, str], tuple[bool, set[str] | None]] | Callable[[], dict[tuple[str, str], tuple[bool, set[str] | None]]]) -> None:
        """The screens, or how to read them from the index cache (only a file that is linted asks)."""
        if isinstance(screens, dict):
            self._screens, self._read_screens = screens, None
        else:
            self._screens, self._read_screens = None, screens

    @property
    def modules(self) -> dict[str, ModuleSummary]:
        if self._modules is None:
            assert self._read_modules is not None
            self._modules, self._read_modules = self._read_modules(), None
        return self._modules

    def __getstate__(self) -> dict[str, object]:
        """Workers get the index without the lookups remembered here (a search's worth)."""
        self.modules  # read now: the readers are this process's
        self.screens
        state = dict(self.__dict__)
        state["_splits"] = {}
        state["_called"] = {}
        return state

    def screen(self, content: str, module: str) -> tuple[bool, set[str] | None] | None:
        """What the build's parse of this text said, if it (or the last build) parsed it:
        (a rule may fire here, what its names resolve to)."""
        return self.screens.get((content, module))

    @classmethod
    def of_module(cls, root: Path, summary: ModuleSummary, within: ProjectIndex | None = None) -> ProjectIndex:
        """``within`` (or nothing) plus one module's own facts. A file linted without a
        project, or one the project's relevance search passed over, still asks every
        per-call and once-only question here, so the CLI, flake8 and the library give
        the same answers and the same messages."""
        if within is not None and within.modules.get(summary.module) == summary:
            return within
        modules = dict(within.modules) if within is not None else {}
        modules[summary.module] = summary
        index = cls(within.root if within is not None else root, modules, installed=within.installed if within is not None else frozenset())
        if within is not None:
            index.deployment, index.screens, index.ruled_out = within.deployment, within.screens, within.ruled_out
        return index

    # -- symbols -------------------------------------------------------------------------

    def _split(self, qualified: str) -> tuple[ModuleSummary, str] | None:
        """The module that holds ``qualified`` and the name inside it (asked hundreds of
        thousands of times in a project's search, so remembered)."""
        known = self._splits.get(qualified, _UNKNOWN)
        if known is _UNKNOWN:
            known = self._splits[qualified] = self._split_uncached(qualified)
        return known  # type: ignore[return-value]

    def _split_uncached(self, qualified: str) -> tuple[ModuleSummary, str] | None:
        parts = qualified.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:cut])
            summary = self.modules.get(prefix) or self._by_suffix.get(prefix)
            if summary is not None:
                return summary, ".".join(parts[cut:])
        return None

    @cached_property
    def _by_suffix(self) -> dict[str, ModuleSummary]:
        """Modules by the tail of their name, where only one module has that tail. A
        project run from a subfolder (``backend/``) imports ``app.db`` where, named from
        its root, the module is ``backend.app.db``; both spellings then find it."""
        found: dict[str, ModuleSummary | None] = {}
        for name, summary in self.modules.items():
            segments = name.split(".")
            if segments[0] in self.installed:
                continue
            for start in range(1, len(segments)):
                if segments[start] in KNOWN_ROOTS:
                    continue  # ``app.utils.sqlalchemy`` must not stand in for SQLAlchemy
                tail = ".".join(segments[start:])
                found[tail] = None if tail in found else summary
        return {tail: summary for tail, summary in found.items() if summary is not None and tail not in self.modules}

    def _locate(self, qualified: str, defines: Callable[[ModuleSummary, str], bool]) -> tuple[ModuleSummary, str] | None:
        """The module and local name that define ``qualified``, following re-exports."""
        for _ in range(_MAX_DEPTH):
            found = self._split(qualified)
            if found is None:
                return None
            summary, name = found
            if defines(summary, name):
                return summary, name
            head, _, rest = name.partition(".")
            if head not in summary.aliases:
                return None
            qualified = summary.aliases[head] + (f".{rest}" if rest else "")
        return None

    def symbol_kind(self, qualified: str, depth: int = 0) -> Kind | None:
        """What a project-level name is bound to: ``app.db.SessionLocal`` -> session factory."""
        if depth > _MAX_DEPTH:
            return None
        located = self._locate(qualified, lambda summary, name: name in summary.bindings)
        if located is None:
            return None
        summary, name = located
        return self.value_kind(summary.bindings[name], depth + 1)

    def function(self, qualified: str) -> FunctionSummary | None:
        located = self._locate(qualified, lambda summary, name: name in summary.functions)
        return located[0].functions[located[1]] if located is not None else None

    def called_function(self, callee: str) -> str:
        """The function a call of ``callee`` runs: itself, through re-exports, or, for a
        project class, its ``__init__`` (a service built per request runs it per request)."""
        called = self._called.get(callee)
        if called is None:
            called = self._called[callee] = self.resolve_function_name(callee) or self.constructor(callee) or callee
        return called

    def constructor(self, cls: str, depth: int = 0) -> str | None:
        """The ``__init__`` that building a project class runs: its own, or, for a class
        that defines none, its first base's that has one (a subclass that only renames)."""
        own = self.resolve_function_name(f"{cls}.__init__")
        if own is not None or depth > _MAX_DEPTH:
            return own
        located = self._locate(cls, lambda summary, name: name in summary.bases)
        if located is None:
            return None
        summary, name = located
        for base in summary.bases[name]:
            found = self.constructor(base, depth + 1)
            if found is not None:
                return found
        return None

    def resolve_function_name(self, qualified: str) -> str | None:
        """The defining qualified name of a function reached through re-exports."""
        located = self._locate(qualified, lambda summary, name: name in summary.functions)
        return f"{located[0].module}.{located[1]}" if located is not None else None

    def call_kind(self, qualified: str, depth: int = 0) -> Kind | None:
        """The kind of value that calling a project name returns."""
        if depth > _MAX_DEPTH:
            return None
        library = call_result_kind(qualified)
        if library is not None:
            return library
        external = self.external_name(qualified)
        if external is not None:
            return call_result_kind(external)
        bound = self.symbol_kind(qualified, depth + 1)
        if bound in SESSION_FOR_FACTORY:
            return SESSION_FOR_FACTORY[bound]
        function = self.function(qualified)
        if function is not None and function.returns and not function.is_cached:
            return self.value_kind(function.returns, depth + 1)
        return None

    def instance_class(self, qualified: str, depth: int = 0) -> str | None:
        """The class a project-level name is an instance of, when its module binds it to
        ``Cls(...)`` (or to what a function returning one returns): ``app.state.backend`` ->
        ``app.backend.Backend``. What the class's methods return is then :meth:`call_kind`
        of ``Cls.method``."""
        located = self._locate(qualified, lambda summary, name: name in summary.bindings)
        if located is None:
            return None
        summary, name = located
        return self._instance_of_value(summary.bindings[name], depth + 1)

    def returned_instance(self, function: str, depth: int = 0) -> str | None:
        """The class a project function (or method) returns an instance of:
        ``DatastoreBackend.get_active_backend`` returning ``cls._active_backend`` that the
        class declares ``_active_backend: "DatastoreBackend"``."""
        summary = self.function(function)
        if summary is None or not summary.returns or summary.is_cached:
            return None
        return self._instance_of_value(summary.returns, depth + 1)

    def _instance_of_value(self, symbolic: str, depth: int) -> str | None:
        if depth > _MAX_DEPTH:
            return None
        tag, _, rest = symbolic.partition(":")
        if tag == "ref":
            return self.instance_class(rest, depth + 1)
        if tag != "call":
            return None
        if self.function(rest) is not None:
            return self.returned_instance(rest, depth + 1)
        return rest  # a class; or a name the project does not define, whose methods no one finds

    @cached_property
    def _subclasses(self) -> dict[str, list[str]]:
        """Each project class (by its defining name) -> the project classes written with it as a base."""
        found: dict[str, list[str]] = defaultdict(list)
        for summary in self.modules.values():
            for name, bases in summary.bases.items():
                for base in bases:
                    found[self._defining_class(base)].append(f"{summary.module}.{name}")
        return found

    def _defining_class(self, cls: str) -> str:
        """Where a class reached through re-exports is defined (its bases or methods say so)."""
        known = self._defining_classes.get(cls)
        if known is None:
            classes = self._classes_by_module
            located = self._locate(cls, lambda summary, name: name in classes.get(summary.module, ()))
            known = self._defining_classes[cls] = f"{located[0].module}.{located[1]}" if located is not None else cls
        return known

    @cached_property
    def _classes_by_module(self) -> dict[str, set[str]]:
        """The classes each module defines, as far as the summaries tell: those with methods or bases."""
        return {
            summary.module: {name.partition(".")[0] for name in summary.functions if "." in name} | set(summary.bases)
            for summary in self.modules.values()
        }

    def overriding_methods(self, cls: str, name: str) -> list[str]:
        """The methods called ``name`` that the project's subclasses of ``cls`` (at any
        depth) define: what ``obj.name()`` may run on an instance typed ``cls`` whose own
        class does not define it (a backend chosen at run time among the project's)."""
        found = (self.resolve_function_name(f"{subclass}.{name}") for subclass in sorted(self._all_subclasses(cls)))
        return [method for method in found if method is not None]

    def method(self, cls: str, name: str, depth: int = 0) -> str | None:
        """The qualified name of the method ``cls.name`` runs: the class's own, or its
        bases' in order (the first that defines it)."""
        own = self.resolve_function_name(f"{cls}.{name}")
        if own is not None or depth > _MAX_DEPTH:
            return own
        located = self._locate(cls, lambda summary, local: local in summary.bases)
        if located is None:
            return None
        summary, local = located
        for base in summary.bases[local]:
            found = self.method(base, name, depth + 1)
            if found is not None:
                return found
        return None

    def resource_methods(self, qualified: str, depth: int = 0) -> frozenset[str]:
        """The names of the methods giving a known kind (``get_write_engine``) that
        ``qualified`` has, as a project class or an instance of one: its own and its bases'.
        A module that names it may then create a resource through it
        (``backend.get_write_engine().connect()``). Methods only its subclasses define do
        not count here: a base of many classes (``Source``) would make every module that
        names it relevant; see :meth:`returned_resource_methods`."""
        if depth > _MAX_DEPTH:
            return frozenset()
        owner = self._defining_class(self.instance_class(qualified) or qualified)
        if owner not in self._returning_methods and owner not in self._bases:
            return frozenset()
        known = self._resource_methods.get(owner)
        if known is None:
            names = frozenset(method.rpartition(".")[2] for method in self._returning_methods.get(owner, ()) if self.call_kind(method) is not None)
            known = names.union(*(self.resource_methods(base, depth + 1) for base in self._bases.get(owner, ())))
            self._resource_methods[owner] = known
        return known

    def returned_resource_methods(self, qualified: str) -> frozenset[str]:
        """For a project function (or method) that returns an instance of a class: the
        names of the methods giving a known kind that the instance may have, its class's,
        its bases', and, since it may be of any of them, its project subclasses'
        (``DatastoreBackend.get_active_backend()`` returning the backend chosen at run time)."""
        cls = self.returned_instance(qualified)
        if cls is None:
            return frozenset()
        return self.resource_methods(cls).union(
            method.rpartition(".")[2]
            for subclass in self._all_subclasses(cls)
            for method in self._returning_methods.get(subclass, ())
            if self.call_kind(method) is not None
        )

    def methods_tracked(self, qualified: str) -> frozenset[str]:
        """The resource methods through which the model could learn a kind from
        ``qualified`` (:meth:`resource_methods`, :meth:`returned_resource_methods`)."""
        known = self._methods_tracked.get(qualified)
        if known is None:
            known = self._methods_tracked[qualified] = self.resource_methods(qualified) | self.returned_resource_methods(qualified)
        return known

    @cached_property
    def _returning_methods(self) -> dict[str, list[str]]:
        """Each project class -> its methods that return something the index can follow."""
        found: dict[str, list[str]] = defaultdict(list)
        for summary in self.modules.values():
            for name, function in summary.functions.items():
                cls, dot, method = name.partition(".")
                if dot and "." not in method and function.returns:
                    found[f"{summary.module}.{cls}"].append(f"{summary.module}.{name}")
        return found

    @cached_property
    def _bases(self) -> dict[str, list[str]]:
        return {f"{summary.module}.{name}": bases for summary in self.modules.values() for name, bases in summary.bases.items()}


    def _all_subclasses(self, cls: str) -> set[str]:
        found: set[str] = set()
        pending = [self._defining_class(cls)]
        while pending:
            for subclass in self._subclasses.get(pending.pop(), ()):
                if subclass not in found:
                    found.add(subclass)
                    pending.append(subclass)
        return found

    def value_kind(self, symbolic: str, depth: int = 0) -> Kind | None:
        tag, _, rest = symbolic.partition(":")
        if tag == "kind":
            return Kind[rest]
        if tag == "ref":
            return self.symbol_kind(rest, depth + 1)
        if tag == "call":
            return self.call_kind(rest, depth + 1)
        if tag == "connect":
            engine = self.symbol_kind(rest, depth + 1)
            return CONNECTION_FOR_ENGINE.get(engine) if engine is not None else None
        return None

    # -- registries ----------------------------------------------------------------------

    def is_removed(self, registry: str) -> bool:
        """Whether any module calls (or hands over) ``<registry>.remove``."""
        if self._removed is None:
            self._removed = {receiver for summary in self.modules.values() for receiver in summary.removes}
        if registry in self._removed:
            return True
        return any(
            self._locate(receiver, lambda summary, name: f"{summary.module}.{name}" == registry) is not None
            for receiver in self._removed
        )

    # -- engines and pools ---------------------------------------------------------------

    def is_disposed(self, engine: str) -> bool:
        """Whether any module calls (or hands over) ``<engine>.dispose``, as :meth:`is_removed`."""
        if self._disposed is None:
            self._disposed = {receiver for summary in self.modules.values() for receiver in summary.disposes}
        if engine in self._disposed:
            return True
        return any(
            self._locate(receiver, lambda summary, name: f"{summary.module}.{name}" == engine) is not None
            for receiver in self._disposed
        )

    def disposes_what_it_keeps(self, callee: str, keyword: str | None, position: int | None) -> bool:
        """Whether calling ``callee`` (a project class) with an engine as this argument hands
        it to an object that keeps it and disposes it: ``ExecutionEngine(engine=engine)``
        whose ``__init__`` does ``self.engine = engine`` and whose ``close`` disposes
        ``self.engine``."""
        constructor = self.called_function(callee)
        if not constructor.endswith(".__init__"):
            return False
        summary = self.function(constructor)
        if summary is None:
            return False
        owner = constructor.removesuffix(".__init__")
        return any(
            (keyword == parameter or (keyword is None and position == at)) and self.is_disposed(f"{owner}.{attribute}")
            for parameter, at, attribute in summary.kept_parameters
        )

    def keeps_for_the_process(self, callee: str, keyword: str | None, position: int | None) -> bool:
        """Whether calling the project function ``callee`` with an engine as this argument
        stores it for the process (``init_model(engine)`` doing ``meta.engine = engine``):
        the caller hands it over, as if it had stored it in a global itself."""
        summary = self.function(callee)
        if summary is None:
            return False
        return any((keyword == parameter or (keyword is None and position == at)) for parameter, at in summary.kept_globally)

    def has_shutdown_point(self) -> bool:
        """Whether the application ends its event loop somewhere it could dispose: a lifespan,
        a shutdown hook, ``asyncio.run``, in any module."""
        return any(summary.shutdown_point for summary in self.modules.values())

    def pool_sites(self) -> list[PoolSite]:
        from .pools import PoolSite

        return [PoolSite.from_json(pool) for _, summary in sorted(self.modules.items()) for pool in summary.pools]

    def connection_budget(self) -> ConnectionBudget:
        """Every engine and pool of the project against its deployment (SQA506)."""
        from .budget import Deployment, connection_budget

        remembered = self.__dict__.get("_budget")  # every module with an engine asks; one answer per deployment
        if remembered is None or remembered[0] is not self.deployment:
            budget = connection_budget(self.pool_sites(), self.deployment or Deployment(), self._left_out_of_budget)
            remembered = self.__dict__["_budget"] = (self.deployment, budget)
        return remembered[1]

    def _left_out_of_budget(self, site: PoolSite) -> str | None:
        """Why a site is not held by a deployed process all the time, or None if it counts.
        One at module level counts; one made in a function counts when the function runs
        once per process (a lifespan, ``main``, a cached factory, code called only from
        such code) or keeps what it makes per key. Made per call (SQA501's judgement), or
        where nothing shows it runs once, it is listed with the reason and not counted."""
        from .budget import not_once_note, per_call_note

        if site.function is None:
            return None
        qualified = f"{site.module}.{site.function}"
        reason = self.per_call_reason(qualified)
        if reason is not None and not site.per_key_cache:
            return per_call_note(reason)
        summary = self.function(qualified)
        once = summary is not None and (summary.is_once or summary.is_cached)
        if site.per_key_cache or once or self.called_only_once(qualified):
            return None
        return not_once_note(site.function)

    # -- call sites ----------------------------------------------------------------------

    def callers(self, function: str) -> list[CallSite]:
        if self._callers is None:
            self._callers = defaultdict(list)
            # In module order, not discovery order: the first reason found is the one reported.
            for _, summary in sorted(self.modules.items()):
                for site in summary.calls:
                    self._callers[self.called_function(site.callee)].append(site)
        return self._callers.get(function, [])

    def per_call_reason(self, function: str, _seen: frozenset[str] = frozenset()) -> str | None:
        """Why a project function runs per request or iteration, anywhere in the project."""
        summary = self.function(function)
        if summary is None or summary.is_once or summary.is_cached:
            return None
        short = function.rpartition(".")[2]
        if summary.is_handler:
            return f"request handler `{short}`"
        if function in _seen:
            return None
        for site in self.callers(function):
            if site.caller is None or site.memoised:
                continue
            caller = self.function(site.caller)
            if caller is not None and (caller.is_once or caller.is_cached):
                continue
            if site.per_iteration:
                return f"a loop in `{site.caller.rpartition('.')[2]}`"
            reason = self.per_call_reason(site.caller, _seen | {function})
            if reason is not None:
                return reason
        return None

    def called_only_once(self, function: str, _seen: frozenset[str] = frozenset()) -> bool:
        """Every call runs once per process (and there is a call): at module level, in
        once-per-process code, or in a function that is itself called only once, never in
        a loop, or memoised where it is called (``if self.tables is None: self.tables =
        load()``, once per holder, as a lazily memoised engine is). ``VECTOR_DB_CLIENT =
        Vector.get_vector(...)`` at module level makes the
        client ``get_vector`` builds once, whatever ``__init__`` does. A function nobody
        calls (a caller the project cannot see) is not known to run once."""
        sites = self.callers(function)
        if not sites or function in _seen:
            return False
        for site in sites:
            if site.memoised:
                continue  # made again only while its result is not kept: once per holder
            if site.per_iteration:
                return False
            if site.caller is None:
                continue
            caller = self.function(site.caller)
            if caller is None:
                return False
            if not (caller.is_once or caller.is_cached or self.called_only_once(site.caller, _seen | {function})):
                return False
        return True

    # -- relevance -----------------------------------------------------------------------

    def tracks(self, qualified: str) -> bool:
        """Whether the model, asking about ``qualified``, could learn a kind from the index:
        a project name bound to a kind, a modelled library reached through the project, or
        a class or instance whose methods give one (:meth:`methods_tracked`)."""
        known = self._tracked.get(qualified)
        if known is None:
            known = self._tracked[qualified] = self._tracks_directly(qualified) or bool(self.methods_tracked(qualified))
        return known

    def _tracks_directly(self, qualified: str) -> bool:
        known = self._tracked_directly.get(qualified)
        if known is None:
            external = self.external_name(qualified)
            known = self._tracked_directly[qualified] = (
                self.symbol_kind(qualified) is not None
                or self.call_kind(qualified) is not None
                or (external is not None and external.partition(".")[0] in KNOWN_ROOTS)
            )
        return known

    def external_name(self, qualified: str) -> str | None:
        """What a project name re-exported from a library is there: ``app.compat.sa.
        create_engine`` -> ``sqlalchemy.create_engine`` when ``app.compat`` does ``import
        sqlalchemy as sa``; None for a name that stays in the project or is not known."""
        left = False
        for _ in range(_MAX_DEPTH):
            found = self._split(qualified)
            if found is None:
                return qualified if left else None
            summary, name = found
            head, _, rest = name.partition(".")
            if head not in summary.aliases:
                return None
            qualified, left = summary.aliases[head] + (f".{rest}" if rest else ""), True
        return None

    def tracked_names(self, installed_only: bool = False) -> dict[str, set[str]]:
        """Names a module must write to use a tracked symbol -> the last segments of the
        modules it may import them from. ``SessionLocal`` of ``app.db`` (or re-exported by
        ``app``) makes a file relevant only if it also writes ``db`` (or ``app``).
        ``installed_only``: those of installed modules, all that an installed module can use.
        The search's text test and the lint's both ask: worked out once per index, each
        caller gets its own copy to extend."""
        if not installed_only and self._tracked_names is not None:
            return {name: set(modules) for name, modules in self._tracked_names.items()}
        tracked: dict[str, set[str]] = defaultdict(set)
        for summary in self.modules.values():
            if installed_only and summary.module.partition(".")[0] not in self.installed:
                continue
            segment = {summary.module.rpartition(".")[2]}
            for name in (*summary.bindings, *(f for f, s in summary.functions.items() if s.returns), *summary.aliases):
                if self.tracks(f"{summary.module}.{name}"):
                    tracked[name.partition(".")[0]] |= segment
        for cls in self._bases:  # ``Replica(Backend)``, whose methods are its base's
            if self.tracks(cls):
                module, _, name = cls.rpartition(".")
                tracked[name].add(module.rpartition(".")[2])
        if not installed_only:
            self._tracked_names = {name: set(modules) for name, modules in tracked.items()}
        return tracked

    @cached_property
    def engine_callers(self) -> set[str]:
        """Functions that create an engine, and every function found calling one of these:
        whether SQA501 fires depends on who calls them (``per_call_reason``)."""
        chain = {
            f"{summary.module}.{name}" for summary in self.modules.values() for name, f in summary.functions.items() if f.creates_engine
        }
        grown = True
        while grown:
            grown = False
            for summary in self.modules.values():
                for site in summary.calls:
                    if site.caller is not None and site.caller not in chain:
                        if self.called_function(site.callee) in chain:
                            chain.add(site.caller)
                            grown = True
        return chain

    @cached_property
    def parameter_binders(self) -> set[str]:
        """Functions that bind a session to a parameter: whether it holds a connection of
        its own depends on what their callers pass (``CallSite.arguments``)."""
        return {
            f"{summary.module}.{name}" for summary in self.modules.values() for name, f in summary.functions.items() if f.bound_parameters
        }

    @cached_property
    def keepers(self) -> set[str]:
        """Functions that keep an engine handed to them (SQA501 asks them through
        :meth:`disposes_what_it_keeps` and :meth:`keeps_for_the_process`): constructors that
        keep a parameter on an attribute their class disposes, and functions that store a
        parameter for the process. A module that re-exports or subclasses one of their
        classes is then relevant, or a caller elsewhere could not find them."""
        found = set()
        for summary in self.modules.values():
            for name, function in summary.functions.items():
                owner = name.removesuffix(".__init__")
                if function.kept_globally or (
                    owner != name and any(self.is_disposed(f"{summary.module}.{owner}.{kept}") for _, _, kept in function.kept_parameters)
                ):
                    found.add(f"{summary.module}.{name}")
        return found

    @cached_property
    def engine_handoff_modules(self) -> frozenset[str]:
        """Modules that may define a project function an engine-creating function hands
        its engine to (``init_model(engine)`` in ``app.model``, or re-exported by ``app``): whether that
        function keeps the engine answers SQA501, and such a module need not mention
        SQLAlchemy at all."""
        found: set[str] = set()
        for summary in self.modules.values():
            for site in summary.calls:
                if site.passes_engine:
                    parts = site.callee.split(".")
                    found.update(".".join(parts[:cut]) for cut in range(1, len(parts)))
        return frozenset(found)

    @cached_property
    def base_class_modules(self) -> frozenset[str]:
        """Modules that may define a base of a project class whose methods give a resource:
        an instance typed by the base (``DatastoreBackend.get_active_backend()``) may run
        them, and what the base's own methods return says which objects are such instances.
        Such a module need not mention SQLAlchemy at all."""
        found: set[str] = set()
        for cls, bases in self._bases.items():
            if any(self.call_kind(method) is not None for method in self._returning_methods.get(cls, ())):
                for base in bases:
                    parts = base.split(".")
                    found.update(".".join(parts[:cut]) for cut in range(1, len(parts)))
        return frozenset(found)

    @property
    def defining_modules(self) -> frozenset[str]:
        """Modules the index needs for what they define, whatever they refer to:
        :attr:`engine_handoff_modules` and :attr:`base_class_modules`."""
        return self.engine_handoff_modules | self.base_class_modules

    def relevance_names(self) -> dict[str, set[str]]:
        """The text test of :meth:`wants`: :meth:`tracked_names`, and the functions on an
        engine-creating chain or binding a session to a parameter beside their modules' names."""
        names = self.tracked_names()
        chain = self.engine_callers | self.parameter_binders
        for qualified in chain | {keeper.removesuffix(".__init__") for keeper in self.keepers}:
            located = self._split(qualified)
            if located is not None:
                summary, local = located
                names.setdefault(local.partition(".")[0], set()).add(summary.module.rpartition(".")[2])
        for summary in self.modules.values():  # re-exports: ``from app import count_rows``
            for alias, target in summary.aliases.items():
                called = self.called_function(target)
                if called in chain or called in self.keepers:
                    names.setdefault(alias, set()).add(summary.module.rpartition(".")[2])
        return names

    @cached_property
    def _matcher(self) -> RelevanceMatcher:
        return RelevanceMatcher(self.tracked_names())

    @cached_property
    def relevance_matcher(self) -> RelevanceMatcher:
        return RelevanceMatcher(self.relevance_names())

    @cached_property
    def _installed_matcher(self) -> RelevanceMatcher:
        return RelevanceMatcher(self.tracked_names(installed_only=True))

    def might_be_used_by_installed(self, source: bytes) -> bool:
        """The text test for an installed module: a name an installed module binds, beside
        its module's name (an installed package does not import the project)."""
        return self._installed_matcher.matches(source)

    def might_be_used_by(self, source: bytes) -> bool:
        """The text test of :meth:`used_by`: a tracked name beside its module's name."""
        return self._matcher.matches(source)

    def used_by(
        self, source: bytes, module_name: str, is_package: bool = False, tree: ast.Module | None = None, referenced: set[str] | None = None
    ) -> bool:
        """Whether ``source`` refers, through its imports, to a symbol the index tracks: the
        prefilter then cannot rule out a finding, as ``from app.db import SessionLocal``
        needs no SQLAlchemy import in the file itself. A text test first (the name beside
        its module's), then the names of CPython's tree, resolved as the model resolves them.
        A source CPython cannot parse counts: the full path decides, and reports it."""
        if not self.might_be_used_by(source):
            return False
        if referenced is None:
            referenced = resolved_references(source, module_name, is_package, tree)
        return referenced is None or any(self._used_here(qualified, source) for qualified in self._internal(referenced))

    def _used_here(self, qualified: str, source: bytes) -> bool:
        """A tracked name, and for one tracked only through its methods (a class, an
        instance: ``Database`` is named in most of a project), a call of one of them."""
        if self._tracks_directly(qualified):
            return True
        methods = self.methods_tracked(qualified)
        if not methods:
            return False
        return re.search(rb"\.\s*(?:" + b"|".join(re.escape(name.encode()) for name in sorted(methods)) + rb")\s*\(", source) is not None

    def wants(self, referenced: set[str] | None) -> bool:
        """Whether a module not yet summarised should be, given what it refers to: it uses
        a tracked symbol, or it may call a function on an engine-creating chain (its call
        sites answer SQA501) or one binding a session to a parameter (they say what it is
        given). None (CPython cannot parse it) counts."""
        if referenced is None:
            return True
        chain, keepers = self.engine_callers | self.parameter_binders, self.keepers
        return any(
            self.tracks(qualified) or self.called_function(qualified) in chain or self.called_function(qualified) in keepers
            for qualified in self._internal(referenced)
        )

    def uses_tracked(self, referenced: set[str] | None) -> bool:
        """Whether a module refers to a symbol the index tracks (None: cannot tell, so it does)."""
        return referenced is None or any(self.tracks(qualified) for qualified in self._internal(referenced))

    def _internal(self, referenced: set[str]) -> list[str]:
        return [qualified for qualified in referenced if qualified.partition(".")[0] in self.packages]

    @cached_property
    def packages(self) -> frozenset[str]:
        """First segments a name of this project can start with: a module's, or (for
        :meth:`_split`'s tails) any segment of one."""
        tops = {module.partition(".")[0] for module in self.modules}
        # A tail never starts at a modelled library's name: ``airflow.utils.sqlalchemy``
        # does not make ``sqlalchemy.orm.Session`` a name of the project. An installed
        # module has no tails (:meth:`_by_suffix`).
        project = [module for module in self.modules if module.partition(".")[0] not in self.installed]
        return frozenset(tops | {segment for module in project for segment in module.split(".")[1:]} - KNOWN_ROOTS)

    def digest(self) -> str:
        """Changes whenever any summary (or the deployment) changes: part of every cached result's key."""
        if self._digest is None:
            self._digest = self._compute_digest()
        if self.deployment is None:
            return self._digest
        return hashlib.sha256(f"{self._digest}|{self.deployment!r}".encode()).hexdigest()[:16]

    def _compute_digest(self) -> str:
        payload = json.dumps({m: s.to_json() for m, s in sorted(self.modules.items())}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def resolved_references(source: bytes, module_name: str, is_package: bool, tree: ast.Module | None = None) -> set[str] | None:
    """What ``source``'s names resolve to (:meth:`.facts.ModuleFacts.references`); None if
    CPython cannot parse it."""
    from .parsing import cpython_tree

    tree = tree if tree is not None else cpython_tree(source)
    if tree is None:
        return None
    try:
        return ModuleFacts(tree, module_name, is_package=is_package).references()
    except RecursionError:
        return None
