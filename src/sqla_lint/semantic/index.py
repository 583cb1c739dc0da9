"""The project index: what every module of a project binds, returns, calls and removes.

Real code creates sessions far from where the factory is defined
(``from app.db import SessionLocal``), removes a ``scoped_session`` in another module
than the one that made it, and calls an engine factory from a request handler three
modules away. A per-file linter either misses these or guesses from names.

Each module is summarised once, symbolically (``"call:app.db.SessionLocal"`` rather than
a resolved kind), from its own syntax alone; the index resolves chains across modules
lazily at query time. Summaries are small, cached on disk by content hash, and the same
for the CLI and the flake8 plugin, so memory never holds another module's tree.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from ..cache import content_hash
from ..discovery import UnreadableError, read_source, relative_files
from .project import FactoryConfig, module_name_for
from .symbols import Kind, call_result_kind

if TYPE_CHECKING:
    import libcst as cst

    from ..prefilter import Prefilter
    from .budget import ConnectionBudget, Deployment
    from .model import ModuleModel
    from .pools import PoolSite

# Reading an index back from its cache needs no parser, so what parses (libcst, the
# model, the prefilter) is imported inside the functions that summarise and search.
SUMMARY_FORMAT = 7  # 2: functions say whether they create an engine; 3: content hashes of cache.content_hash; 4: pools, disposes, shutdown points; 5: pools say what runs apart; 6: keyed holders; 7: sync_engine disposes
_FACTORY_RESULTS = {Kind.SESSION_FACTORY: Kind.SESSION, Kind.ASYNC_SESSION_FACTORY: Kind.ASYNC_SESSION}
_CONNECTION_FOR_ENGINE = {Kind.ENGINE: Kind.CONNECTION, Kind.ASYNC_ENGINE: Kind.ASYNC_CONNECTION}
_MAX_DEPTH = 12


@dataclass(frozen=True)
class CallSite:
    """A call of a project function: who calls it, and whether it runs per iteration."""

    callee: str
    caller: str | None  # qualified caller function; None at module level
    per_iteration: bool


@dataclass
class FunctionSummary:
    returns: str | None = None  # a symbolic value
    borrowed_param: tuple[str, int] | None = None  # a caller passing this gets its own session back
    is_handler: bool = False
    is_once: bool = False
    is_cached: bool = False
    creates_engine: bool = False  # SQA501 then asks who calls it, from anywhere in the project


@dataclass
class ModuleSummary:
    module: str
    bindings: dict[str, str] = field(default_factory=dict)  # name or Cls.attr -> symbolic value
    aliases: dict[str, str] = field(default_factory=dict)  # imported name -> qualified target
    functions: dict[str, FunctionSummary] = field(default_factory=dict)  # f or Cls.f
    calls: list[CallSite] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)  # qualified receivers of `.remove`
    disposes: list[str] = field(default_factory=list)  # qualified receivers of `.dispose` (SQA505)
    pools: list[dict[str, object]] = field(default_factory=list)  # PoolSite.to_json() of each engine and pool (SQA506)
    shutdown_point: bool = False  # a lifespan, shutdown hook or asyncio.run entry point (SQA505)

    def to_json(self) -> dict[str, object]:
        """What ``dataclasses.asdict`` gives, built directly: asdict deep-copies every
        value, and a cold run encodes each summary twice (its digest, the cache)."""
        return {
            "module": self.module,
            "bindings": dict(self.bindings),
            "aliases": dict(self.aliases),
            "functions": {name: dict(vars(function)) for name, function in self.functions.items()},
            "calls": [dict(vars(call)) for call in self.calls],
            "removes": list(self.removes),
            "disposes": list(self.disposes),
            "pools": [dict(pool) for pool in self.pools],
            "shutdown_point": self.shutdown_point,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> ModuleSummary:
        summary = cls(module=str(data["module"]))
        summary.bindings = dict(data.get("bindings", {}))  # type: ignore[arg-type]
        summary.aliases = dict(data.get("aliases", {}))  # type: ignore[arg-type]
        summary.functions = {
            name: FunctionSummary(
                returns=f.get("returns"),
                borrowed_param=tuple(f["borrowed_param"]) if f.get("borrowed_param") else None,  # type: ignore[arg-type]
                is_handler=bool(f.get("is_handler")),
                is_once=bool(f.get("is_once")),
                is_cached=bool(f.get("is_cached")),
                creates_engine=bool(f.get("creates_engine")),
            )
            for name, f in dict(data.get("functions", {})).items()  # type: ignore[union-attr]
        }
        summary.calls = [CallSite(**c) for c in data.get("calls", [])]  # type: ignore[union-attr]
        summary.removes = list(data.get("removes", []))  # type: ignore[arg-type]
        summary.disposes = list(data.get("disposes", []))  # type: ignore[arg-type]
        summary.pools = [dict(pool) for pool in data.get("pools", [])]  # type: ignore[union-attr]
        summary.shutdown_point = bool(data.get("shutdown_point"))
        return summary


def summarize(model: ModuleModel, module: str, project_packages: frozenset[str]) -> ModuleSummary:
    """The symbolic summary of one module, from its own syntax only."""
    summary = ModuleSummary(module=module)
    for local, target in model.imports.bindings.items():
        if target.partition(".")[0] in project_packages:
            summary.aliases[local] = target
    for name, values in model.module_bindings.items():
        symbolic = _first_symbolic(model, values)
        if symbolic is not None:
            summary.bindings[name] = symbolic
    for class_def, attributes in model.class_attributes.items():
        if model.tree.enclosing_function.get(class_def) is not None:
            continue
        for attribute, values in attributes.items():
            symbolic = _first_symbolic(model, values)
            if symbolic is not None:
                summary.bindings[f"{class_def.name.value}.{attribute}"] = symbolic
    creating_engines = set()
    for creation in model.creations:
        outermost = creation.function
        while outermost is not None and model.tree.enclosing_function.get(outermost) is not None:
            outermost = model.tree.enclosing_function[outermost]
        if creation.kind.is_engine and outermost is not None:
            creating_engines.add(outermost)
    for function in model.tree.function_defs:
        if model.tree.enclosing_function.get(function) is not None:
            continue
        qualified_local = model.function_name(function)
        summary.functions[qualified_local] = FunctionSummary(
            returns=model.symbolic_return(function),
            borrowed_param=model.borrowed_session_param(function),
            is_handler=function in model.request_handlers,
            is_once=model.is_once_per_process(function),
            is_cached=model.is_cached(function),
            creates_engine=function in creating_engines,
        )
    for call in model.tree.calls:
        callee = model.callee_qualified_name(call, module)
        if callee is None or callee.partition(".")[0] not in project_packages:
            continue
        caller_function = model.tree.enclosing_function.get(call)
        caller = None
        per_iteration = False
        if caller_function is not None:
            caller = f"{module}.{model.function_name(caller_function)}"
            per_iteration = model.runs_per_iteration(call, caller_function)
        summary.calls.append(CallSite(callee, caller, per_iteration))
    for receiver, node in model.attribute_references("remove"):
        summary.removes.append(model.qualified_receiver(receiver, module, node))
    from .lifecycle import disposed_receivers, has_shutdown_point
    from .pools import pool_sites

    summary.disposes = disposed_receivers(model, module)
    summary.shutdown_point = has_shutdown_point(model)
    if any(creation.kind.is_engine or creation.kind is Kind.POOL for creation in model.creations):
        summary.pools = [site.to_json() for site in pool_sites(ast.parse(model.module.code), module)]
    return summary


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
        from ..prefilter import RELATIVE_IMPORT

        if self._pattern is None:
            return False
        for name in set(self._pattern.findall(source)):
            if any(module in source for module in self._names[name]) or RELATIVE_IMPORT.search(source):
                return True
        return False


def _first_symbolic(model: ModuleModel, values: Iterable[cst.BaseExpression]) -> str | None:
    for value in values:
        symbolic = model.symbolic_value(value)
        if symbolic is not None:
            return symbolic
    return None


class ProjectIndex:
    """Module summaries of one project, and the cross-module questions they answer."""

    def __init__(self, root: Path, summaries: dict[str, ModuleSummary], digest: str | None = None) -> None:
        self.root = root
        self.modules = summaries
        self._callers: dict[str, list[CallSite]] | None = None
        self._removed: set[str] | None = None
        self._disposed: set[str] | None = None
        # Worker processes and connection limits (SQA506), found by the layer that reads
        # deployment files and configuration; part of the digest, so results follow them.
        self.deployment: Deployment | None = None
        self._digest = digest  # known already when the summaries come from the index cache
        self._tracked: dict[str, bool] = {}
        # The content hash of every file the build read, by absolute path: the result
        # cache's keys, so a run reads each file once.
        self.file_hashes: dict[str, str] = {}

    # -- symbols -------------------------------------------------------------------------

    def _split(self, qualified: str) -> tuple[ModuleSummary, str] | None:
        parts = qualified.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            summary = self.modules.get(".".join(parts[:cut]))
            if summary is not None:
                return summary, ".".join(parts[cut:])
        return None

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
        bound = self.symbol_kind(qualified, depth + 1)
        if bound in _FACTORY_RESULTS:
            return _FACTORY_RESULTS[bound]
        function = self.function(qualified)
        if function is not None and function.returns and not function.is_cached:
            return self.value_kind(function.returns, depth + 1)
        return None

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
            return _CONNECTION_FOR_ENGINE.get(engine) if engine is not None else None
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

    def has_shutdown_point(self) -> bool:
        """Whether the application ends its event loop somewhere it could dispose: a lifespan,
        a shutdown hook, ``asyncio.run``, in any module."""
        return any(summary.shutdown_point for summary in self.modules.values())

    def pool_sites(self) -> list[PoolSite]:
        from .pools import PoolSite

        return [PoolSite.from_json(pool) for _, summary in sorted(self.modules.items()) for pool in summary.pools]

    def connection_budget(self) -> ConnectionBudget:
        """Every engine and pool of the project against its deployment (SQA506); which ones
        count is :mod:`.steady_state`'s judgement."""
        from .steady_state import project_budget

        remembered = self.__dict__.get("_budget")  # every module with an engine asks; one answer per deployment
        if remembered is None or remembered[0] is not self.deployment:
            remembered = self.__dict__["_budget"] = (self.deployment, project_budget(self))
        return remembered[1]

    # -- call sites ----------------------------------------------------------------------

    def callers(self, function: str) -> list[CallSite]:
        if self._callers is None:
            self._callers = defaultdict(list)
            # In module order, not discovery order: the first reason found is the one reported.
            for _, summary in sorted(self.modules.items()):
                for site in summary.calls:
                    target = self.resolve_function_name(site.callee) or site.callee
                    self._callers[target].append(site)
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
            if site.caller is None:
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

    def called_only_once(self, function: str) -> bool:
        """Every call is at module level or in once-per-process code (and there is a call)."""
        sites = self.callers(function)
        if not sites:
            return False
        for site in sites:
            if site.caller is None:
                continue
            caller = self.function(site.caller)
            if caller is None or not (caller.is_once or caller.is_cached):
                return False
        return True

    # -- relevance -----------------------------------------------------------------------

    def tracks(self, qualified: str) -> bool:
        """Whether the model, asking about ``qualified``, could learn a kind from the index."""
        known = self._tracked.get(qualified)
        if known is None:
            known = self._tracked[qualified] = self.symbol_kind(qualified) is not None or self.call_kind(qualified) is not None
        return known

    def tracked_names(self) -> dict[str, set[str]]:
        """Names a module must write to use a tracked symbol -> the last segments of the
        modules it may import them from. ``SessionLocal`` of ``app.db`` (or re-exported by
        ``app``) makes a file relevant only if it also writes ``db`` (or ``app``)."""
        tracked: dict[str, set[str]] = defaultdict(set)
        for summary in self.modules.values():
            segment = {summary.module.rpartition(".")[2]}
            for name in (*summary.bindings, *(f for f, s in summary.functions.items() if s.returns), *summary.aliases):
                if self.tracks(f"{summary.module}.{name}"):
                    tracked[name.partition(".")[0]] |= segment
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
                        if (self.resolve_function_name(site.callee) or site.callee) in chain:
                            chain.add(site.caller)
                            grown = True
        return chain

    def relevance_names(self) -> dict[str, set[str]]:
        """The text test of :meth:`wants`: :meth:`tracked_names`, and the functions on an
        engine-creating chain beside their modules' names."""
        names = self.tracked_names()
        chain = self.engine_callers
        for qualified in chain:
            located = self._split(qualified)
            if located is not None:
                summary, local = located
                names.setdefault(local.partition(".")[0], set()).add(summary.module.rpartition(".")[2])
        for summary in self.modules.values():  # re-exports: ``from app import count_rows``
            for alias, target in summary.aliases.items():
                if (self.resolve_function_name(target) or target) in chain:
                    names.setdefault(alias, set()).add(summary.module.rpartition(".")[2])
        return names

    @cached_property
    def _matcher(self) -> RelevanceMatcher:
        return RelevanceMatcher(self.tracked_names())

    @cached_property
    def relevance_matcher(self) -> RelevanceMatcher:
        return RelevanceMatcher(self.relevance_names())

    def might_be_used_by(self, source: bytes) -> bool:
        """The text test of :meth:`used_by`: a tracked name beside its module's name."""
        return self._matcher.matches(source)

    def used_by(self, source: bytes, module_name: str, is_package: bool = False, tree: ast.Module | None = None) -> bool:
        """Whether ``source`` refers, through its imports, to a symbol the index tracks: the
        prefilter then cannot rule out a finding, as ``from app.db import SessionLocal``
        needs no SQLAlchemy import in the file itself. A text test first (the name beside
        its module's), then the names of CPython's tree, resolved as the model resolves them.
        A source CPython cannot parse counts: the full path decides, and reports it."""
        if not self.might_be_used_by(source):
            return False
        referenced = _references(source, module_name, is_package, tree)
        return referenced is None or any(self.tracks(qualified) for qualified in self._internal(referenced))

    def wants(self, referenced: set[str] | None) -> bool:
        """Whether a module not yet summarised should be, given what it refers to: it uses
        a tracked symbol, or it may call a function on an engine-creating chain (its call
        sites answer SQA501). None (CPython cannot parse it) counts."""
        if referenced is None:
            return True
        chain = self.engine_callers
        return any(
            self.tracks(qualified) or (self.resolve_function_name(qualified) or qualified) in chain
            for qualified in self._internal(referenced)
        )

    def _internal(self, referenced: set[str]) -> list[str]:
        return [qualified for qualified in referenced if qualified.partition(".")[0] in self._packages]

    @cached_property
    def _packages(self) -> frozenset[str]:
        return frozenset(module.partition(".")[0] for module in self.modules)

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


# -- building --------------------------------------------------------------------------




def _references(source: bytes, module_name: str, is_package: bool, tree: ast.Module | None = None) -> set[str] | None:
    """What ``source``'s names resolve to (:func:`.names.references`); None if CPython
    cannot parse it."""
    from .names import references
    from .parsing import cpython_tree

    tree = tree if tree is not None else cpython_tree(source)
    if tree is None:
        return None
    try:
        return references(tree, module_name, is_package)
    except RecursionError:
        return None


def _summarize_file(
    path: Path, data: bytes, project_packages: frozenset[str], factories: FactoryConfig, keep: bool = False
) -> ModuleSummary | None:
    from .model import ModuleModel
    from .parsing import MAX_SOURCE_BYTES, Unparsable, parse_module

    if len(data) > MAX_SOURCE_BYTES:
        return None
    try:
        module = parse_module(data, keep=keep)
    except Unparsable:
        return None
    name = module_name_for(str(path))
    try:
        model = ModuleModel(module, name, factories, is_package=path.name == "__init__.py")
        return summarize(model, name, project_packages)
    except RecursionError:
        return None


def _summarize_batch(
    items: list[tuple[Path, bytes]], project_packages: frozenset[str], factories: FactoryConfig, keep: bool = False
) -> list[tuple[Path, ModuleSummary | None]]:
    return [(path, _summarize_file(path, data, project_packages, factories, keep)) for path, data in items]


class IndexCache:
    """What building the index learned, on disk: per file, by content hash, its summary and
    what its names resolve to; and a hash of the whole tree, so an unchanged project skips
    the relevance search too. Written atomically; anything unreadable is ignored."""

    def __init__(self, root: Path, key: str) -> None:
        self.path = root / ".sqla_lint_cache" / f"index-{key}.json"
        self.entries: dict[str, dict[str, object]] = {}
        self.tree = self.digest = ""
        self.summarised: list[str] = []
        self.seeds: set[str] = set()
        self.hashes: dict[str, str] = {}  # every file's content hash at the last build
        self.stats: dict[str, list[int]] = {}  # and its size, times and inode when hashed
        self.started = 0  # when that build began, in ns
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("files"), dict):
                self.entries = data["files"]
                self.tree, self.digest = str(data.get("tree", "")), str(data.get("digest", ""))
                self.summarised = [str(relative) for relative in data.get("summarised", [])]
                self.seeds = {str(relative) for relative in data.get("seeds", [])}
                self.hashes = {str(relative): str(digest) for relative, digest in dict(data.get("hashes", {})).items()}
                self.stats = dict(data.get("stats", {}))
                self.started = int(data.get("started", 0))
        except (OSError, ValueError, TypeError, AttributeError):
            self.entries, self.tree, self.digest, self.summarised, self.seeds, self.hashes = {}, "", "", [], set(), {}
            self.stats, self.started = {}, 0

    def known_hash(self, relative: str, status: os.stat_result) -> str | None:
        """The content hash stored for a file whose status says it has not changed since.

        Any write changes a file's ctime, which no tool can set back (``os.utime`` sets
        the others), so size, mtime, ctime and inode together say "unchanged", as git's
        index does. Also like git, a file whose times are within :data:`RACY_NS` of the
        last build's start is hashed anyway: on a file system with coarse times, an edit
        in the same tick as the hashing would otherwise go unseen.
        """
        if self.stats.get(relative) != _signature(status):
            return None
        if max(status.st_mtime_ns, status.st_ctime_ns) >= self.started - RACY_NS:
            return None
        return self.hashes.get(relative)

    def _entry(self, relative: str, digest: str) -> dict[str, object] | None:
        entry = self.entries.get(relative)
        return entry if isinstance(entry, dict) and entry.get("hash") == digest else None

    def summary(self, relative: str, digest: str) -> ModuleSummary | None:
        entry = self._entry(relative, digest)
        if entry is None or not isinstance(entry.get("summary"), dict):
            return None
        try:
            return ModuleSummary.from_json(entry["summary"])  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def references(self, relative: str, digest: str) -> tuple[bool, set[str] | None]:
        """(found, what the file's names resolve to, None when CPython cannot parse it)."""
        entry = self._entry(relative, digest)
        if entry is None or "references" not in entry:
            return False, None
        references = entry["references"]
        if references is None:
            return True, None
        return (True, {str(name) for name in references}) if isinstance(references, list) else (False, None)

    def save(self, build: _Build, tree: str, digest: str) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            ignore = self.path.parent / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# Created by sqla-lint\n*\n")
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".index-", suffix=".tmp")
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                # dumps, not dump: only encoding in one go uses CPython's C encoder.
                stream.write(
                    json.dumps(
                        {
                            "tree": tree,
                            "digest": digest,
                            "started": build.started,
                            "stats": build.stats,
                            "summarised": list(build.by_file),
                            "seeds": sorted(build.seeds),
                            "hashes": build.digests,
                            "files": build.entries(self),
                        }
                    )
                )
            os.replace(temporary, self.path)
            for stale in self.path.parent.glob("index-*.json"):  # other versions' and settings'
                if stale != self.path:
                    stale.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only tree still lints; it just rebuilds the index next time


def build_index(
    root: Path,
    factories: FactoryConfig = FactoryConfig(),
    excludes: tuple[str, ...] = (),
    *,
    use_cache: bool = True,
    jobs: int = 1,
) -> ProjectIndex:
    """Summarise every relevant module under ``root``.

    A module is relevant when it may use a modelled library's API (the prefilter's text
    stage: only such a module can bind a session, engine or factory of its own), names a
    configured factory, uses a name another relevant module binds, or may call a function
    that creates an engine (or calls one that does). Relevance grows to a fixed point, so
    ``from app.db import SessionLocal`` in a file that never says "sqlalchemy" counts, and
    a module that only says ``import sqlalchemy as sa`` for its column types does not.
    """
    from .. import __version__

    key = hashlib.sha256(f"{SUMMARY_FORMAT}|{__version__}|{factories!r}".encode()).hexdigest()[:12]
    cache = IndexCache(root, key) if use_cache else None
    build = _Build(root, factories, excludes, jobs, cache)
    tree = hashlib.sha256(json.dumps(sorted(build.digests.items())).encode()).hexdigest()
    index = build.reuse(cache, tree) if cache is not None else None
    if index is None:
        index = build.search(cache)
        if cache is not None:
            cache.save(build, tree, index.digest())
    index.file_hashes = {build.paths[relative]: content for relative, content in build.digests.items()}
    return index


_MAX_EDITS = 64  # more changed files than this: search again rather than check each
RACY_NS = 2_000_000_000  # FAT and some network file systems keep times to 2 s


def _signature(status: os.stat_result) -> list[int]:
    return [status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino]


class _Contents(dict[str, bytes]):
    """File contents by relative path, read on first use: an index whose files are known
    unchanged from their status reads none of them."""

    def __init__(self, paths: dict[str, str]) -> None:
        super().__init__()
        self._paths = paths

    def __missing__(self, relative: str) -> bytes:
        try:
            data = read_source(Path(self._paths[relative]))
        except UnreadableError:
            data = b""  # gone since the build looked at it: as good as empty
        self[relative] = data
        return data


class _Build:
    """One build of a project's index: its files, and the relevance search over them."""

    def __init__(
        self, root: Path, factories: FactoryConfig, excludes: tuple[str, ...], jobs: int, cache: IndexCache | None = None
    ) -> None:
        self.root, self.factories, self.jobs = root, factories, jobs
        self._prefix = os.path.join(str(root), "")
        self.started = time.time_ns()
        self.relatives = relative_files(root, excludes)
        self.paths: dict[str, str] = {}  # as text: no Path per file
        self.digests: dict[str, str] = {}
        self.stats: dict[str, list[int]] = {}
        self.contents = _Contents(self.paths)
        for relative in self.relatives:
            path = self._prefix + relative
            try:
                status = os.stat(path)
                digest = cache.known_hash(relative, status) if cache is not None else None
                if digest is None:
                    data = self.contents[relative] = read_source(Path(path))
                    digest = content_hash(data)
            except (OSError, UnreadableError):
                continue
            self.paths[relative], self.digests[relative], self.stats[relative] = path, digest, _signature(status)
        self.by_file: dict[str, ModuleSummary] = {}
        self.referenced: dict[str, set[str] | None] = {}
        self.seeds: set[str] = set()
        self.parsed: dict[str, ModuleSummary | None] = {}

    @cached_property
    def packages(self) -> frozenset[str]:
        """Asked only when summarising: an index read back from its cache does without."""
        return _top_level_names(self.root, [self._prefix + relative for relative in self.relatives])

    @cached_property
    def factory_names(self) -> Prefilter:
        from ..prefilter import Prefilter

        return Prefilter(self.factories.session_factories | self.factories.engine_factories)

    def is_seed(self, relative: str) -> bool:
        from ..prefilter import may_use_known_api

        data = self.contents[relative]
        return may_use_known_api(data) or self.factory_names.names_a_factory(data)

    def index(self, digest: str | None = None) -> ProjectIndex:
        return ProjectIndex(self.root, {summary.module: summary for summary in self.by_file.values()}, digest)

    def references(self, relative: str, cache: IndexCache | None) -> set[str] | None:
        """What the file's names resolve to: CPython's parse once per file, and once per change."""
        if relative not in self.referenced:
            found, names = cache.references(relative, self.digests[relative]) if cache is not None else (False, None)
            if not found:
                path = self.paths[relative]
                names = _references(self.contents[relative], module_name_for(path), os.path.basename(path) == "__init__.py")
            self.referenced[relative] = names
        return self.referenced[relative]

    def wanted(self, index: ProjectIndex, relative: str, cache: IndexCache | None) -> bool:
        """Whether ``index`` makes the module relevant: the text test, then its names."""
        return index.relevance_matcher.matches(self.contents[relative]) and index.wants(self.references(relative, cache))

    def summarise(self, relatives: list[str], cache: IndexCache | None, keep: bool = False) -> dict[str, ModuleSummary | None]:
        """Summaries from the cache, from earlier in this build, or parsed (in workers).
        ``keep``: the files are about to be linted in this process, which may reuse the parse."""
        found: dict[str, ModuleSummary | None] = {}
        to_parse: list[tuple[Path, bytes]] = []
        for relative in relatives:
            summary = cache.summary(relative, self.digests[relative]) if cache is not None else None
            if summary is None and relative not in self.parsed:
                to_parse.append((Path(self.paths[relative]), self.contents[relative]))
            found[relative] = summary or self.parsed.get(relative)
        if to_parse:
            from ..workers import LARGE_FILE_BYTES

            if any(len(data) > LARGE_FILE_BYTES for _, data in to_parse):
                # This process parses the largest modules itself, the peak of the run: it
                # need not hold every other file's text then; they are read when next needed.
                self.contents.clear()
        for path, summary in _run_summaries(to_parse, self.packages, self.factories, self.jobs, keep):
            relative = str(path)[len(self._prefix) :]
            found[relative] = self.parsed[relative] = summary
        return found

    def search(self, cache: IndexCache | None) -> ProjectIndex:
        """The relevance search: seeds, then every module the summaries so far make relevant."""
        self.seeds = {relative for relative in self.digests if self.is_seed(relative)}
        done: set[str] = set()
        pending = sorted(self.seeds)
        while pending:
            done.update(pending)
            for relative, summary in self.summarise(pending, cache).items():
                if summary is not None:
                    self.by_file[relative] = summary
            partial = self.index()
            pending = [relative for relative in self.digests if relative not in done and self.wanted(partial, relative, cache)]
        return self.index()

    def reuse(self, cache: IndexCache, tree: str) -> ProjectIndex | None:
        """The last build's index, when this tree is that build's or its edits cannot
        change the index; None when a search is needed."""
        if cache.tree == tree and cache.digest:
            index = self.read_back(cache)
            if index is not None:
                if self.contents:  # some files were hashed again: record their status for next time
                    cache.save(self, tree, index.digest())
                return index
        index = self.after_edits(cache)
        if index is not None:
            cache.save(self, tree, index.digest())
        return index

    def read_back(self, cache: IndexCache) -> ProjectIndex | None:
        """The last build's index, for a tree whose every file is unchanged."""
        self.seeds = set(cache.seeds)  # unchanged too, and saved again with the rest
        for relative in cache.summarised:
            summary = cache.summary(relative, self.digests.get(relative, ""))
            if summary is None:
                return None
            self.by_file[relative] = summary
        return self.index(cache.digest)

    def after_edits(self, cache: IndexCache) -> ProjectIndex | None:
        """The last build's index, when the files edited since cannot change what it holds.

        An edited module the index held must still be a seed (as it was), with the same
        summary; an edited module it did not hold must still be neither a seed nor wanted
        by that index. The search would then meet the same modules with the same
        summaries, in the same order. Otherwise (or after a deletion of a held module, or
        many edits) None: search again.
        """
        if not cache.summarised or not cache.digest or not cache.hashes:
            return None
        held = set(cache.summarised)
        edited = [r for r in self.digests if cache.hashes.get(r) != self.digests[r]]
        deleted = [r for r in cache.hashes if r not in self.digests]
        if len(edited) > _MAX_EDITS or held.intersection(deleted):
            return None
        edited_held = [r for r in edited if r in held]
        if any(not self.is_seed(r) or r not in cache.seeds for r in edited_held):
            return None
        renewed = self.summarise(edited_held, None, keep=len(edited_held) == 1)
        for relative, summary in renewed.items():
            if summary is None or summary != cache.summary(relative, cache.hashes.get(relative, "")):
                return None
        self.seeds = {r for r in cache.seeds if r in self.digests}
        for relative in cache.summarised:  # in the last build's order
            summary = renewed.get(relative) or cache.summary(relative, self.digests.get(relative, ""))
            if summary is None:
                return None
            self.by_file[relative] = summary
        index = self.index(cache.digest)
        for relative in edited:
            if relative in held:
                continue
            if self.is_seed(relative) or self.wanted(index, relative, cache):
                return None
        return index

    def entries(self, cache: IndexCache) -> dict[str, dict[str, object]]:
        """What to keep: summaries, and name resolutions, also those of the last build
        for files unchanged since."""
        entries: dict[str, dict[str, object]] = {}
        for relative, entry in cache.entries.items():
            if isinstance(entry, dict) and "references" in entry and entry.get("hash") == self.digests.get(relative):
                entries[relative] = {"hash": entry["hash"], "references": entry["references"]}
        for relative, summary in self.by_file.items():
            stored = cache.entries.get(relative)
            if isinstance(stored, dict) and stored.get("hash") == self.digests[relative] and "summary" in stored:
                as_json = stored["summary"]  # what it was read back from: encoding it again costs more
            else:
                as_json = summary.to_json()
            entries.setdefault(relative, {"hash": self.digests[relative]})["summary"] = as_json
        for relative, names in self.referenced.items():
            entries.setdefault(relative, {"hash": self.digests[relative]})["references"] = (
                sorted(names) if names is not None else None
            )
        return entries


def _run_summaries(
    items: list[tuple[Path, bytes]], project_packages: frozenset[str], factories: FactoryConfig, jobs: int, keep: bool = False
) -> list[tuple[Path, ModuleSummary | None]]:
    if jobs <= 1 or len(items) < 16:
        return _summarize_batch(items, project_packages, factories, keep)
    from ..workers import batches_by_size, run_batches

    batches = [[items[i] for i in batch] for batch in batches_by_size([len(data) for _, data in items], jobs)]
    done: list[list[tuple[Path, ModuleSummary | None]]] = [[] for _ in batches]
    # The workers are kept: the next project's index, then linting, need them again.
    for position, summaries in run_batches(_summarize_batch, batches, (project_packages, factories), jobs, keep=True):
        done[position] = summaries
    return [summary for batch in done for summary in batch]


def _top_level_names(root: Path, files: list[Path] | list[str]) -> frozenset[str]:
    """First segments of every module name in the project: what "internal" means."""
    return frozenset(module_name_for(str(path)).partition(".")[0] for path in files) - {""}
