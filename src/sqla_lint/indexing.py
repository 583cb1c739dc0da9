"""Building a project's index: which files, read once, summarised where needed, cached.

:class:`~sqla_lint.semantic.index.ProjectIndex` answers questions about a project from
its modules' facts and reads nothing itself. This module does the I/O around it: it walks
the project, hashes files (trusting an unchanged status, as git does), keeps the facts and
the relevance search's results in ``.sqla_lint_cache``, and summarises changed modules
(in workers for a large project).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from .cache import content_hash, tool_fingerprint
from .discovery import UnreadableError, read_source, relative_files
from .installed import (
    InstalledPackage,
    candidates,
    find_installed,
    imported_names,
    resolution_key,
    search_path,
    stat_digest,
)
from .semantic.facts import COMPATIBILITY_IMPORT, ModuleFacts, ModuleSummary
from .semantic.index import ProjectIndex, RelevanceMatcher
from .semantic.project import FactoryConfig, module_name_for
from .semantic.summaries import summary_of
from .semantic.symbols import KNOWN_ROOTS, MODELLED_ROOTS

if TYPE_CHECKING:
    from .prefilter import Prefilter

# ``x.dispose()``, or ``x.dispose`` handed to a hook: a module that disposes an engine it
# was given (a class's ``close``, another module's shutdown hook) answers SQA501 and SQA505.
DISPOSE_CALL = re.compile(rb"\.dispose\b")
SUMMARY_FORMAT = 10  # 10: instances of a module's own classes (`call:mod.Cls`), bases of every class; 9: the branches a pool is made in; 8: what each call passes, parameters a session is bound to; 7: parameters kept for the process, bases of classes without __init__, memoised call sites; 6: kept constructor parameters; 2: engine-creating functions; 3: content hashes; 4: facts from CPython's tree; 5: compatibility modules, classes called


@dataclass(frozen=True)
class FileFacts:
    """What one CPython parse of a file gives the build: its facts, what its names resolve
    to, and the prefilter's verdict, so that neither the search nor the lint parses again."""

    summary: ModuleSummary | None
    references: set[str] | None  # None: CPython cannot parse it
    screen: bool  # the prefilter's tree stage: a rule may fire here (settings' syntax check aside)


def _summarize_file(
    path: Path, data: bytes, project_packages: frozenset[str], factories: FactoryConfig, module: str | None = None
) -> FileFacts:
    """The file's facts from one parse with CPython: no libcst for the index. (The parsing
    module is imported here: an index read back from its cache needs no parser at all.)
    ``module`` names a file of an installed package, named from where it is installed."""
    from .semantic.parsing import MAX_SOURCE_BYTES, cpython_tree

    if len(data) > MAX_SOURCE_BYTES:
        return FileFacts(None, None, True)
    tree = cpython_tree(data)
    if tree is None:
        return FileFacts(None, None, True)
    module, is_package = module or module_name_for(str(path)), path.name == "__init__.py"
    try:
        facts = ModuleFacts(tree, module, factories, is_package)
        summary, references = summary_of(facts, project_packages), facts.references()
    except RecursionError:
        return FileFacts(None, None, True)
    return FileFacts(summary, references, _prefilter(factories).needs_analysis(data, tree, check_syntax=False, facts=facts))


@lru_cache(maxsize=8)
def _prefilter(factories: FactoryConfig) -> Prefilter:
    from .prefilter import Prefilter

    return Prefilter(factories.session_factories | factories.engine_factories)


def _summarize_batch(
    items: list[tuple[Path, bytes, str | None]], project_packages: frozenset[str], factories: FactoryConfig
) -> list[tuple[Path, FileFacts]]:
    return [(path, _summarize_file(path, data, project_packages, factories, module)) for path, data, module in items]


class IndexCache:
    """What building the index learned, on disk: per file, by content hash, its summary and
    what its names resolve to; and a hash of the whole tree, so an unchanged project skips
    the relevance search too. Written atomically; anything unreadable is ignored."""

    def __init__(self, root: Path, key: str) -> None:
        self.root = str(root)
        self.path = root / ".sqla_lint_cache" / f"index-{key}.json"
        self.entries: dict[str, dict[str, object]] = {}
        self.tree = self.digest = ""
        self.summarised: list[str] = []
        self.seeds: set[str] = set()
        self.hashes: dict[str, str] = {}  # every file's content hash at the last build
        self.stats: dict[str, list[int]] = {}  # and its size, times and inode when hashed
        self.started = 0  # when that build began, in ns
        # Installed files are keyed by absolute path, and named from where they are installed.
        self.installed_modules: dict[str, str] = {}
        self.installed = ""  # :func:`.installed.resolution_key` at the last build
        self.imported: dict[str, list[str]] | None = None  # relative -> names its import lines name, where any
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
                self.installed = str(data.get("installed", ""))
                self.imported = dict(data["imported"]) if isinstance(data.get("imported"), dict) else None
        except (OSError, ValueError, TypeError, AttributeError):
            self.entries, self.tree, self.digest, self.summarised, self.seeds, self.hashes = {}, "", "", [], set(), {}
            self.stats, self.started, self.installed, self.imported = {}, 0, "", None

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
        """What is stored for a file with this content *and* the module name it has now:
        an ``__init__.py`` added or removed renames modules whose text did not change."""
        entry = self.entries.get(relative)
        if not isinstance(entry, dict) or entry.get("hash") != digest:
            return None
        return entry if entry.get("module") == self.module_of(relative) else None

    def module_of(self, relative: str) -> str:
        return self.installed_modules.get(relative) or module_name_for(os.path.join(self.root, relative))

    def imported_names(self, relative: str, digest: str) -> list[str] | None:
        """The names a file's import lines named at the last build, if its content is the
        same (only files that name some are stored); None when unknown."""
        if self.imported is None or self.hashes.get(relative) != digest:
            return None
        return [str(name) for name in self.imported.get(relative, ())]

    def forget_summaries(self) -> None:
        """What installed packages resolve to has changed: every module's summary may name
        them differently (a project's imports of them are kept as its own), so none is reused.
        Files' hashes and statuses stay good."""
        self.entries, self.tree, self.digest, self.summarised, self.seeds = {}, "", "", [], set()

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
                            "installed": build.installed_key,
                            # None: not looked at (the next build that looks reads every file)
                            "imported": {relative: names for relative, names in build.imported.items() if names}
                            if build.looked_up_installed
                            else None,
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
    installed: bool = True,
) -> ProjectIndex:
    """Summarise every relevant module under ``root``.

    A module is relevant when it may use a modelled library's API (the prefilter's text
    stage: only such a module can bind a session, engine or factory of its own), names a
    configured factory, uses a name another relevant module binds, or may call a function
    that creates an engine (or calls one that does). Relevance grows to a fixed point, so
    ``from app.db import SessionLocal`` in a file that never says "sqlalchemy" counts, and
    a module that only says ``import sqlalchemy as sa`` for its column types does not.

    With ``installed``, the packages project modules import from the running interpreter's
    installation (:mod:`.installed`) join the search, read only: their relevant modules
    are summarised under the names they are installed as, and never linted.
    """
    key = hashlib.sha256(f"{SUMMARY_FORMAT}|{tool_fingerprint()}|{factories!r}".encode()).hexdigest()[:12]
    cache = IndexCache(root, key) if use_cache else None
    build = _Build(root, factories, excludes, jobs, cache, installed=installed)
    if cache is not None and cache.installed != build.installed_key:
        cache.forget_summaries()
    tree = hashlib.sha256(json.dumps([build.installed_key, sorted(build.digests.items())]).encode()).hexdigest()
    index = build.reuse(cache, tree) if cache is not None else None
    if index is None:
        index = build.search(cache)
        if cache is not None:
            cache.save(build, tree, index.digest())
    project_files = [relative for relative in build.digests if relative not in build.installed_modules]
    index.file_hashes = {build.paths[relative]: build.digests[relative] for relative in project_files}
    # A build that parsed nothing (an unchanged tree) reads its screens from the cache only
    # if a file is linted; one that parsed files has them at hand.
    index.screens = build.screens(cache) if build.screens_parsed else (lambda: build.screens(cache))
    index.ruled_out = {
        (build.digests[relative], module_name_for(build.paths[relative])) for relative in build.ruled_out if relative not in build.installed_modules
    }
    index.notes = build.notes
    for note in build.notes:
        if note not in _noted:  # once per process: flake8 builds (or reads back) an index per worker
            _noted.add(note)
            sys.stderr.write(f"sqla-lint: note: {note}\n")
    return index


_noted: set[str] = set()


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
        self,
        root: Path,
        factories: FactoryConfig,
        excludes: tuple[str, ...],
        jobs: int,
        cache: IndexCache | None = None,
        *,
        installed: bool = True,
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
        self.screens_parsed: dict[str, tuple[bool, set[str] | None]] = {}  # relative -> what linting it needs
        self.ruled_out: set[str] = set()  # files the search's text tests left out, every one
        # Files of installed packages the project imports join the search, keyed by their
        # absolute path (never a relative one) and named from where they are installed.
        self.installed: dict[str, InstalledPackage] = {}
        self.installed_modules: dict[str, str] = {}
        self.imported: dict[str, list[str]] = {}  # relative -> top-level names its import lines name
        if cache is not None:
            cache.installed_modules = self.installed_modules
        self.looked_up_installed = installed
        if installed:
            self.add_installed(cache)
        self.installed_key = resolution_key(self.installed)
        self.notes = [package.note() for package in self.installed.values() if package.truncated]

    @cached_property
    def project_packages(self) -> frozenset[str]:
        return _top_level_names(self.root, [self._prefix + relative for relative in self.relatives])

    @cached_property
    def packages(self) -> frozenset[str]:
        """Names a summary keeps imports of: the project's, and the installed packages'."""
        return self.project_packages | frozenset(self.installed)

    def add_installed(self, cache: IndexCache | None) -> None:
        """The files of the installed packages project modules import, by their status:
        the names come from each file's import lines (from the cache for a file unchanged),
        so a warm run reads no file to know them."""
        imported: set[str] = set()
        for relative, digest in self.digests.items():
            names = cache.imported_names(relative, digest) if cache is not None else None
            if names is None:
                names = sorted(imported_names(self.contents[relative]))
            self.imported[relative] = names
            imported.update(names)
        wanted = candidates(imported, self.project_packages, MODELLED_ROOTS)
        if not wanted:
            return
        self.installed = find_installed(wanted, search_path(self.root))
        for package in self.installed.values():
            for path, module in package.files:
                try:
                    status = os.stat(path)
                except OSError:
                    continue
                self.paths[path], self.digests[path], self.installed_modules[path] = path, stat_digest(status), module

    def module_of(self, relative: str) -> str:
        return self.installed_modules.get(relative) or module_name_for(self.paths[relative])

    def is_seed(self, relative: str) -> bool:
        from .prefilter import may_use_known_api

        data = self.contents[relative]
        return (
            may_use_known_api(data)
            or _prefilter(self.factories).names_a_factory(data)
            or COMPATIBILITY_IMPORT.search(data) is not None  # what it re-exports is tracked
            # What it disposes counts for other modules; an installed package disposes
            # its own engines, which are never linted (PyYAML disposes its loaders).
            or (relative not in self.installed_modules and DISPOSE_CALL.search(data) is not None)
        )

    def index(self, digest: str | None = None) -> ProjectIndex:
        return ProjectIndex(
            self.root, {summary.module: summary for summary in self.by_file.values()}, digest, installed=frozenset(self.installed)
        )

    def screens(self, cache: IndexCache | None) -> dict[tuple[str, str], tuple[bool, set[str] | None]]:
        """What each file's one parse said about linting it, by (content hash, module name):
        this build's parses, and the last build's for files unchanged since."""
        found: dict[tuple[str, str], tuple[bool, set[str] | None]] = {}
        if cache is not None:
            for relative in cache.entries:
                if relative in self.installed_modules:
                    continue  # never linted
                digest = self.digests.get(relative)
                entry = cache._entry(relative, digest) if digest is not None else None
                if entry is not None and "screen" in entry and "references" in entry:
                    references = entry["references"]
                    names = {str(name) for name in references} if isinstance(references, list) else None
                    found[(digest, cache.module_of(relative))] = (bool(entry["screen"]), names)  # type: ignore[index]
        for relative, screen in self.screens_parsed.items():
            found[(self.digests[relative], module_name_for(self.paths[relative]))] = screen
        return found

    def parse(self, relatives: list[str]) -> None:
        """Each file's facts from one CPython parse (in workers for many): its summary, what
        its names resolve to, and what linting it needs."""
        by_path = {str(Path(self.paths[r])): r for r in relatives if r not in self.parsed}
        to_parse = [(Path(path), self.contents[r], self.installed_modules.get(r)) for path, r in by_path.items()]
        if not to_parse:
            return
        from .workers import LARGE_FILE_BYTES

        if any(len(data) > LARGE_FILE_BYTES for _, data, _ in to_parse):
            # This process parses the largest modules itself, the peak of the run: it
            # need not hold every other file's text then; they are read when next needed.
            self.contents.clear()
        for path, facts in _run_summaries(to_parse, self.packages, self.factories, self.jobs):
            relative = by_path[str(path)]  # not sliced off the root: ``Path("./a.py")`` reads "a.py"
            if relative in self.installed_modules:
                if facts.summary is not None:
                    # What an installed package's names are, not what it deploys or when
                    # its loop ends: its pools are not the project's (SQA506), nor is a
                    # shutdown point the project's application (SQA505).
                    facts.summary.pools, facts.summary.shutdown_point = [], False
            else:
                self.screens_parsed[relative] = (facts.screen, facts.references)
            self.parsed[relative] = facts.summary
            self.referenced[relative] = facts.references

    def references(self, relative: str, cache: IndexCache | None) -> set[str] | None:
        """What the file's names resolve to: CPython's parse once per file, and once per change."""
        if relative not in self.referenced:
            found, names = cache.references(relative, self.digests[relative]) if cache is not None else (False, None)
            if found:
                self.referenced[relative] = names
            else:
                self.parse([relative])
        return self.referenced[relative]

    def wanted(self, index: ProjectIndex, relative: str, cache: IndexCache | None) -> bool:
        """Whether ``index`` makes the module relevant: the text test, then its names; or it
        may define what an engine-creating function hands its engine to, or a base of a
        class whose methods give a resource."""
        if relative in self.installed_modules:
            return self.installed_wanted(index, relative, cache)
        if self.module_of(relative) in index.defining_modules:
            return True
        return index.relevance_matcher.matches(self.contents[relative]) and index.wants(self.references(relative, cache))

    def installed_wanted(self, index: ProjectIndex, relative: str, cache: IndexCache | None) -> bool:
        """An installed module matters only for what its names are: it binds or re-exports
        a name the index tracks. Who calls an engine-creating function in it, or what it
        hands an engine to, would answer SQA501 for code that is never linted, so those
        (often large, SQLAlchemy-heavy) modules are not parsed for that."""
        return index.might_be_used_by_installed(self.contents[relative]) and index.uses_tracked(self.references(relative, cache))

    def summarise(self, relatives: list[str], cache: IndexCache | None) -> dict[str, ModuleSummary | None]:
        """Summaries from the cache, from earlier in this build, or parsed (in workers)."""
        found: dict[str, ModuleSummary | None] = {}
        if cache is not None:
            for relative in relatives:
                summary = cache.summary(relative, self.digests[relative])
                if summary is not None:
                    found[relative] = summary
        self.parse([relative for relative in relatives if relative not in found])
        for relative in relatives:
            if relative not in found:
                found[relative] = self.parsed.get(relative)
        return found

    def search(self, cache: IndexCache | None) -> ProjectIndex:
        """The relevance search: seeds, then every module the summaries so far make relevant.
        The files a round's text test picks are parsed together (in workers), once each."""
        self.seeds = {relative for relative in self.digests if self.is_seed(relative)}
        done: set[str] = set()
        pending = sorted(self.seeds)
        # The text test grows with the index: a file that failed it for the names of the
        # rounds before is tested again only for the names (or modules) new since, so each
        # file is scanned about once for every name, not once per round.
        tested: dict[str, set[str]] = {}
        text_matched: set[str] = set()
        while pending:
            done.update(pending)
            for relative, summary in self.summarise(pending, cache).items():
                if summary is not None:
                    self.by_file[relative] = summary
            partial = self.index()
            fresh = _untested(partial.relevance_names(), tested)
            if fresh:
                matcher = RelevanceMatcher(fresh)
                text_matched.update(
                    r for r in self.digests if r not in done and r not in text_matched and matcher.matches(self.contents[r])
                )
            candidates = [
                r
                for r in self.digests
                if r in text_matched and r not in done and (r not in self.installed_modules or partial.might_be_used_by_installed(self.contents[r]))
            ]
            uncached = [r for r in candidates if cache is None or not cache.references(r, self.digests[r])[0]]
            self.parse(uncached)
            pending = [
                relative
                for relative in candidates
                if (partial.uses_tracked if relative in self.installed_modules else partial.wants)(self.references(relative, cache))
            ]
            handoff = partial.defining_modules
            if handoff:
                pending += [
                    r
                    for r in self.digests
                    if r not in done and r not in pending and r not in self.installed_modules and self.module_of(r) in handoff
                ]
        # The last round tested every file left with the final index's names.
        self.ruled_out = {relative for relative in self.digests if relative not in done and relative not in text_matched}
        return self.index()

    def reuse(self, cache: IndexCache, tree: str) -> ProjectIndex | None:
        """The last build's index, when this tree is that build's or its edits cannot
        change the index; None when a search is needed."""
        if cache.tree == tree and cache.digest:
            index = self.read_back(cache)
            if index is not None:
                if self.contents:  # some files were hashed again: record their status for next time
                    index.modules  # noqa: B018 -- the save writes the summaries back
                    cache.save(self, tree, index.digest())
                return index
        index = self.after_edits(cache)
        if index is not None:
            cache.save(self, tree, index.digest())
        return index

    def read_back(self, cache: IndexCache) -> ProjectIndex | None:
        """The last build's index, for a tree whose every file is unchanged. Its summaries
        are decoded when first asked for: a run that finds every result in the result cache
        needs only the digest."""
        self.seeds = set(cache.seeds)  # unchanged too, and saved again with the rest
        for relative in cache.summarised:
            entry = cache._entry(relative, self.digests.get(relative, ""))
            if entry is None or not isinstance(entry.get("summary"), dict):
                return None

        def read() -> dict[str, ModuleSummary]:
            for relative in cache.summarised:
                summary = cache.summary(relative, self.digests[relative])
                if summary is None:  # written by hand, not by us: search as if uncached
                    self.by_file.clear()
                    return self.search(None).modules
                self.by_file[relative] = summary
            return {summary.module: summary for summary in self.by_file.values()}

        return ProjectIndex(self.root, read, cache.digest, installed=frozenset(self.installed))

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
        if any(os.path.basename(relative) == "__init__.py" for relative in (*edited, *deleted) if relative not in cache.hashes or relative not in self.digests):
            return None  # a package appeared or went: module names, and so every summary's names, may differ
        edited_held = [r for r in edited if r in held]
        if any(not self.is_seed(r) or r not in cache.seeds for r in edited_held):
            return None
        renewed = self.summarise(edited_held, None)
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

        def entry(relative: str) -> dict[str, object]:
            return entries.setdefault(relative, {"hash": self.digests[relative], "module": cache.module_of(relative)})

        for relative in cache.entries:
            stored = cache._entry(relative, self.digests.get(relative, ""))
            if stored is not None and "references" in stored:
                entry(relative)["references"] = stored["references"]
                if "screen" in stored:
                    entry(relative)["screen"] = stored["screen"]
        for relative, summary in self.by_file.items():
            stored = cache._entry(relative, self.digests[relative])
            if stored is not None and "summary" in stored:
                as_json = stored["summary"]  # what it was read back from: encoding it again costs more
            else:
                as_json = summary.to_json()
            entry(relative)["summary"] = as_json
        for relative, names in self.referenced.items():
            entry(relative)["references"] = sorted(names) if names is not None else None
        for relative, (verdict, _) in self.screens_parsed.items():
            entry(relative)["screen"] = verdict
        return entries


def _untested(names: dict[str, set[str]], tested: dict[str, set[str]]) -> dict[str, set[str]]:
    """The (name, module) pairs of ``names`` not in ``tested``, which then holds them too."""
    fresh: dict[str, set[str]] = {}
    for name, modules in names.items():
        seen = tested.setdefault(name, set())
        new = modules - seen
        if new:
            fresh[name] = new
            seen |= new
    return fresh


def _run_summaries(
    items: list[tuple[Path, bytes, str | None]], project_packages: frozenset[str], factories: FactoryConfig, jobs: int
) -> list[tuple[Path, FileFacts]]:
    if jobs <= 1 or len(items) < 16:
        return _summarize_batch(items, project_packages, factories)
    from .workers import batches_by_size, run_batches

    batches = [[items[i] for i in batch] for batch in batches_by_size([len(data) for _, data, _ in items], jobs)]
    done: list[list[tuple[Path, FileFacts]]] = [[] for _ in batches]
    # The workers are kept: the next project's index, then linting, need them again.
    for position, summaries in run_batches(_summarize_batch, batches, (project_packages, factories), jobs, keep=True):
        done[position] = summaries
    return [summary for batch in done for summary in batch]


def _top_level_names(root: Path, files: list[Path] | list[str]) -> frozenset[str]:
    """Every segment of every module name in the project: what "internal" means (a
    module named from the root, ``backend.app.db``, may be imported as ``app.db``)."""
    names = [module_name_for(str(path)) for path in files]
    tops = {name.partition(".")[0] for name in names}
    return frozenset(tops | ({segment for name in names for segment in name.split(".")[1:]} - KNOWN_ROOTS)) - {""}
