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

import hashlib
import json
import os
import re
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import libcst as cst

from ..discovery import UnreadableError, read_source, walk_directory
from .model import FactoryConfig, ModuleModel, module_name_for
from .parsing import MAX_SOURCE_BYTES, Unparsable, parse_module
from .parsing import MAX_SOURCE_BYTES, Unparsable, parse_module
from .symbols import Kind, call_result_kind

PROJECT_MARKERS = ("pyproject.toml", "setup.cfg", ".git")
SUMMARY_FORMAT = 1
_BASE_WORDS = ("sqlalchemy", "sqlmodel", "psycopg_pool", "asyncpg", "aiopg")
_FACTORY_RESULTS = {Kind.SESSION_FACTORY: Kind.SESSION, Kind.ASYNC_SESSION_FACTORY: Kind.ASYNC_SESSION}
_CONNECTION_FOR_ENGINE = {Kind.ENGINE: Kind.CONNECTION, Kind.ASYNC_ENGINE: Kind.ASYNC_CONNECTION}
_MAX_DEPTH = 12


def find_project_root(path: Path) -> Path | None:
    """The nearest folder with ``pyproject.toml``, ``setup.cfg`` or ``.git`` above ``path``."""
    start = path.resolve()
    directory = start if start.is_dir() else start.parent
    for candidate in (directory, *directory.parents):
        if any((candidate / marker).exists() for marker in PROJECT_MARKERS):
            return candidate
    return None


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


@dataclass
class ModuleSummary:
    module: str
    bindings: dict[str, str] = field(default_factory=dict)  # name or Cls.attr -> symbolic value
    aliases: dict[str, str] = field(default_factory=dict)  # imported name -> qualified target
    functions: dict[str, FunctionSummary] = field(default_factory=dict)  # f or Cls.f
    calls: list[CallSite] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)  # qualified receivers of `.remove`

    def to_json(self) -> dict[str, object]:
        return asdict(self)

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
            )
            for name, f in dict(data.get("functions", {})).items()  # type: ignore[union-attr]
        }
        summary.calls = [CallSite(**c) for c in data.get("calls", [])]  # type: ignore[union-attr]
        summary.removes = list(data.get("removes", []))  # type: ignore[arg-type]
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
    return summary


class RelevanceMatcher:
    """One compiled regex over tracked names; a hit counts only beside its module's name."""

    def __init__(self, tracked: dict[str, set[str]]) -> None:
        self._tracked = {name.encode(): [segment.encode() for segment in segments] for name, segments in tracked.items()}
        self._pattern = (
            re.compile(rb"\b(" + b"|".join(re.escape(n) for n in sorted(self._tracked)) + rb")\b")
            if self._tracked
            else None
        )

    def matches(self, source: bytes) -> bool:
        if self._pattern is None:
            return False
        for name in set(self._pattern.findall(source)):
            if any(segment in source for segment in self._tracked[name]):
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

    def __init__(self, root: Path, summaries: dict[str, ModuleSummary]) -> None:
        self.root = root
        self.modules = summaries
        self._callers: dict[str, list[CallSite]] | None = None
        self._removed: set[str] | None = None
        self._digest: str | None = None

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

    # -- call sites ----------------------------------------------------------------------

    def callers(self, function: str) -> list[CallSite]:
        if self._callers is None:
            self._callers = defaultdict(list)
            for summary in self.modules.values():
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

    # -- prefilter -----------------------------------------------------------------------

    def tracked_names(self) -> dict[str, set[str]]:
        """Project names bound to something the rules track -> segments of their modules.

        ``SessionLocal`` in ``app.db`` (or re-exported by ``app``) makes a file relevant
        only if the file also mentions ``db`` or ``app``: importing it needs one of them.
        """
        tracked: dict[str, set[str]] = defaultdict(set)
        for summary in self.modules.values():
            segments = set(summary.module.split("."))
            for name in summary.bindings:
                if self.symbol_kind(f"{summary.module}.{name}") is not None:
                    tracked[name.partition(".")[0]] |= segments
            for name, function in summary.functions.items():
                if function.returns and self.call_kind(f"{summary.module}.{name}") is not None:
                    tracked[name.partition(".")[0]] |= segments
            for alias, target in summary.aliases.items():
                if self.symbol_kind(target) is not None or self.call_kind(target) is not None:
                    tracked[alias] |= segments
        return tracked

    @cached_property
    def _matcher(self) -> RelevanceMatcher:
        return RelevanceMatcher(self.tracked_names())

    def mentions_tracked_name(self, source: bytes) -> bool:
        return self._matcher.matches(source)

    def digest(self) -> str:
        """Changes whenever any summary changes: part of every cached result's key."""
        if self._digest is None:
            self._digest = self._compute_digest()
        return self._digest

    def _compute_digest(self) -> str:
        payload = json.dumps({m: s.to_json() for m, s in sorted(self.modules.items())}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


# -- building --------------------------------------------------------------------------




def _summarize_file(path: Path, data: bytes, project_packages: frozenset[str], factories: FactoryConfig) -> ModuleSummary | None:
    if len(data) > MAX_SOURCE_BYTES:
        return None
    try:
        module = parse_module(data)
    except Unparsable:
        return None
    name = module_name_for(str(path))
    try:
        model = ModuleModel(module, name, factories, is_package=path.name == "__init__.py")
        return summarize(model, name, project_packages)
    except RecursionError:
        return None


def _summarize_batch(
    items: list[tuple[Path, bytes]], project_packages: frozenset[str], factories: FactoryConfig
) -> list[tuple[Path, ModuleSummary | None]]:
    return [(path, _summarize_file(path, data, project_packages, factories)) for path, data in items]


class IndexCache:
    """Summaries on disk, keyed by file content hash; written atomically, corruption ignored."""

    def __init__(self, root: Path, key: str) -> None:
        self.path = root / ".sqla_lint_cache" / f"index-{key}.json"
        self.entries: dict[str, dict[str, object]] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("files"), dict):
                self.entries = data["files"]
        except (OSError, ValueError):
            self.entries = {}

    def get(self, relative: str, digest: str) -> ModuleSummary | None:
        entry = self.entries.get(relative)
        if not isinstance(entry, dict) or entry.get("hash") != digest or not isinstance(entry.get("summary"), dict):
            return None
        try:
            return ModuleSummary.from_json(entry["summary"])  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError):
            return None

    def save(self, entries: dict[str, dict[str, object]]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            ignore = self.path.parent / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# Created by sqla-lint\n*\n")
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".index-", suffix=".tmp")
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump({"files": entries}, stream)
            os.replace(temporary, self.path)
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

    A module is relevant when it mentions one of the modelled libraries, a configured
    factory, or a name another relevant module binds; relevance grows to a fixed point,
    so ``from app.db import SessionLocal`` in a file that never says "sqlalchemy" counts.
    """
    from .. import __version__
    files = list(walk_directory(root, excludes))
    contents: dict[Path, bytes] = {}
    for path in files:
        try:
            contents[path] = read_source(path)
        except UnreadableError:
            continue
    project_packages = _top_level_names(root, files)
    key = hashlib.sha256(f"{SUMMARY_FORMAT}|{__version__}|{factories!r}".encode()).hexdigest()[:12]
    cache = IndexCache(root, key) if use_cache else None

    base = re.compile(
        rb"\b(?:"
        + b"|".join(re.escape(w.encode()) for w in (*_BASE_WORDS, *(n.rpartition(".")[2] for n in factories.session_factories | factories.engine_factories)))
        + rb")\b"
    )
    summaries: dict[str, ModuleSummary] = {}
    entries: dict[str, dict[str, object]] = {}
    done: set[Path] = set()
    pending = [p for p, data in contents.items() if base.search(data)]
    while pending:
        to_parse: list[tuple[Path, bytes]] = []
        for path in pending:
            done.add(path)
            relative = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
            digest = hashlib.sha1(contents[path]).hexdigest()
            cached = cache.get(relative, digest) if cache is not None else None
            if cached is not None:
                summaries[cached.module] = cached
                entries[relative] = {"hash": digest, "summary": cached.to_json()}
            else:
                to_parse.append((path, contents[path]))
        for path, summary in _run_summaries(to_parse, project_packages, factories, jobs):
            if summary is None:
                continue
            relative = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
            summaries[summary.module] = summary
            entries[relative] = {"hash": hashlib.sha1(contents[path]).hexdigest(), "summary": summary.to_json()}
        matcher = RelevanceMatcher(ProjectIndex(root, summaries).tracked_names())
        pending = [p for p, data in contents.items() if p not in done and matcher.matches(data)]
    if cache is not None and entries != cache.entries:
        cache.save(entries)
    return ProjectIndex(root, summaries)


def _run_summaries(
    items: list[tuple[Path, bytes]], project_packages: frozenset[str], factories: FactoryConfig, jobs: int
) -> list[tuple[Path, ModuleSummary | None]]:
    if jobs <= 1 or len(items) < 16:
        return _summarize_batch(items, project_packages, factories)
    from concurrent.futures import ProcessPoolExecutor

    size = max(4, len(items) // (jobs * 4))
    batches = [items[i : i + size] for i in range(0, len(items), size)]
    results: list[tuple[Path, ModuleSummary | None]] = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for batch in pool.map(_summarize_batch, batches, [project_packages] * len(batches), [factories] * len(batches)):
            results.extend(batch)
    return results


def _top_level_names(root: Path, files: list[Path]) -> frozenset[str]:
    """First segments of every module name in the project: what "internal" means."""
    return frozenset(module_name_for(str(path)).partition(".")[0] for path in files) - {""}
