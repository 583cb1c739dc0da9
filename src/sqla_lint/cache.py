"""The result cache: a second run over an unchanged tree reads results instead of linting.

One file per settings, ``<cache dir>/results-<key>.json``, whose name is a hash of the
settings and the tool's fingerprint, so other settings or another build of sqla-lint never
read it. Inside, per linted path: the hash of the file's content, the module name it
resolved to and the project index's digest (a file's findings depend on what other
modules bind), and the result. A result is used only when all three still match, so an
edited file, a moved package or a changed neighbour is a miss, and an edited file
replaces its own entry rather than adding one.

One file, read once, rather than one per entry: a warm run over three thousand files
spent more time opening entries than everything else it did. It is written whole, to a
temporary file renamed into place, so a run never reads a half-written cache; before
writing, a run merges what is on disk then, so two runs sharing a cache lose at most
each other's latest entries (a miss next time, never a wrong result). A cache that cannot
be read or decoded is empty. JSON rather than pickle, so a cache restored from somewhere
else cannot run code.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import __version__
from .diagnostics import Applicability, Diagnostic, Edit, FileResult, Fix, Location
from .semantic.project import find_project_root
from .settings import Settings

__all__ = ["CACHE_DIR_ENV", "ResultCache", "content_hash", "default_cache_dir"]

CACHE_DIR_ENV = "SQLA_LINT_CACHE_DIR"
_FORMAT = 3  # 2: results keep why a file was skipped; 3: one file per settings


def content_hash(data: bytes) -> str:
    """What a file's content is known by, in the result cache and the project index. SHA-256
    because processors with SHA extensions hash it at over 1 GB/s, well over twice BLAKE2's
    rate: a warm run hashes every file, so this is a fifth of its time either way."""
    return hashlib.sha256(data).hexdigest()[:32]


def default_cache_dir(paths: list[str]) -> Path:
    """``$SQLA_LINT_CACHE_DIR``; else ``.sqla_lint_cache`` in the project root of the first
    path (the nearest folder with ``pyproject.toml``, ``setup.cfg`` or ``.git``); else
    ``$XDG_CACHE_HOME/sqla-lint``."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    start = Path(paths[0]) if paths and paths[0] != "-" else Path.cwd()
    try:
        root = find_project_root(start)
    except OSError:
        root = None
    if root is not None:
        return root / ".sqla_lint_cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sqla-lint"


class ResultCache:
    """Built once per run, for one settings; read on first use, written by :meth:`save`."""

    def __init__(self, directory: Path, settings: Settings) -> None:
        self.directory = Path(directory)
        salt = json.dumps([_FORMAT, tool_fingerprint(), _canonical(settings)], sort_keys=True, separators=(",", ":"))
        self.path = self.directory / f"results-{hashlib.blake2b(salt.encode(), digest_size=10).hexdigest()}.json"
        self._entries: dict[str, Any] | None = None
        self._added: dict[str, list[Any]] = {}

    def get(self, path: str, module: str, index_digest: str, content: str) -> FileResult | None:
        """The stored result of ``path``, if its content, module name and index digest match."""
        entry = self._added.get(path) or self._stored().get(path)
        try:
            if entry[:3] != [content, module, index_digest]:
                return None
            return _decode_result(entry[3])
        except (ValueError, KeyError, TypeError, AttributeError, IndexError):
            return None

    def put(self, path: str, module: str, index_digest: str, content: str, result: FileResult) -> None:
        if result.error is None:  # an unreadable file is retried, not remembered
            self._added[path] = [content, module, index_digest, _encode(result)]

    def save(self) -> None:
        """Write what this run added, merged into what is on disk now; a cache that cannot
        be written is not an error."""
        if not self._added:
            return
        merged = {**self._read(), **self._added}
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._ignore_in_git()
            descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                    # dumps, not dump: only encoding in one go uses CPython's C encoder.
                    handle.write(json.dumps({"files": merged}, sort_keys=True, separators=(",", ":")))
                os.replace(temporary, self.path)
            except BaseException:
                _remove(temporary)
                raise
        except OSError:
            pass
        self._entries, self._added = merged, {}

    def _stored(self) -> dict[str, Any]:
        if self._entries is None:
            self._entries = self._read()
        return self._entries

    def _read(self) -> dict[str, Any]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
            files = data["files"]
            return files if isinstance(files, dict) else {}
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def _ignore_in_git(self) -> None:
        marker = self.directory / ".gitignore"
        if not marker.exists():
            marker.write_text("# Created by sqla-lint: the result cache, safe to delete.\n*\n", encoding="utf-8")


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


@lru_cache(maxsize=1)
def tool_fingerprint() -> str:
    """The version, plus the size and time of every module of this package, so that an
    editable install that changes the code does not read results (or an index) of the old
    code."""
    package = Path(__file__).parent
    stamp = hashlib.blake2b(__version__.encode(), digest_size=16)
    for module in sorted(package.rglob("*.py")):
        try:
            status = module.stat()
        except OSError:
            continue
        stamp.update(f"{module.relative_to(package)}:{status.st_size}:{status.st_mtime_ns};".encode())
    return stamp.hexdigest()


def _canonical(value: Any) -> Any:
    """A JSON value that is equal for equal settings, whatever the set iteration order."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _canonical(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(item) for item in value), key=repr)
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in sorted(value.items(), key=repr)}
    if isinstance(value, enum.Enum):
        return value.value
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: _encode(getattr(value, field.name))
            for field in dataclasses.fields(value)
            if field.name != "fixed_source"
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [_encode(item) for item in value]
    return value


def _decode_result(data: dict[str, Any]) -> FileResult:
    return FileResult(
        path=data["path"],
        diagnostics=tuple(_decode_diagnostic(item) for item in data["diagnostics"]),
        error=data["error"],
        skipped=data.get("skipped"),
    )


def _decode_diagnostic(data: dict[str, Any]) -> Diagnostic:
    fields = dict(data)
    fields["location"] = Location(**data["location"])
    fields["end_location"] = Location(**data["end_location"])
    fix = data.get("fix")
    if fix is not None:
        fields["fix"] = Fix(
            applicability=Applicability(fix["applicability"]),
            message=fix["message"],
            edits=tuple(
                Edit(edit["content"], Location(**edit["location"]), Location(**edit["end_location"]))
                for edit in fix["edits"]
            ),
        )
    return Diagnostic(**fields)
