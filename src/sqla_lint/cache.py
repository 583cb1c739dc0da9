"""The result cache: a second run over an unchanged tree reads results instead of linting.

One entry per linted path, under ``<cache dir>/<2 hex>/<key>.json``. The entry's name is a
hash of the path, the module name it resolves to, the settings and the tool's fingerprint;
inside, the result is stored with the hash of the file's content, and it is used only when
that still matches. So a changed file, other settings or another build of sqla-lint is a
miss, and an edited file replaces its own entry rather than adding one.

Entries are written to a temporary file and renamed into place, so a run never reads a
half-written entry, and two runs sharing a cache can only race to write the same result.
An entry that cannot be read or decoded is a miss. JSON rather than pickle, so a cache
restored from somewhere else cannot run code.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from . import __version__
from .diagnostics import Applicability, Diagnostic, Edit, FileResult, Fix, Location
from .settings import Settings

__all__ = ["CACHE_DIR_ENV", "ResultCache", "content_hash", "default_cache_dir"]

CACHE_DIR_ENV = "SQLA_LINT_CACHE_DIR"
_FORMAT = 2  # 2: results keep why a file was skipped
_PROJECT_MARKERS = ("pyproject.toml", "setup.cfg", ".git")


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def default_cache_dir(paths: list[str]) -> Path:
    """``$SQLA_LINT_CACHE_DIR``; else ``.sqla_lint_cache`` in the project root of the first
    path (the nearest folder with ``pyproject.toml``, ``setup.cfg`` or ``.git``); else
    ``$XDG_CACHE_HOME/sqla-lint``."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    start = Path(paths[0]) if paths and paths[0] != "-" else Path.cwd()
    try:
        directory = start.resolve()
        if not directory.is_dir():
            directory = directory.parent
        for candidate in (directory, *directory.parents):
            if any((candidate / marker).exists() for marker in _PROJECT_MARKERS):
                return candidate / ".sqla_lint_cache"
    except OSError:
        pass
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sqla-lint"


class ResultCache:
    """Built once per run, for one settings; safe to use from several processes."""

    def __init__(self, directory: Path, settings: Settings) -> None:
        self.directory = Path(directory)
        self._salt = json.dumps(
            [_FORMAT, _tool_fingerprint(), _canonical(settings)], sort_keys=True, separators=(",", ":")
        )

    def key(self, path: str, module_name: str) -> str:
        return hashlib.blake2b(
            f"{self._salt}\0{path}\0{module_name}".encode("utf-8", "surrogatepass"), digest_size=20
        ).hexdigest()

    def get(self, key: str, digest: str) -> FileResult | None:
        try:
            with open(self._entry(key), encoding="utf-8") as handle:
                entry = json.load(handle)
            if entry["content"] != digest:
                return None
            return _decode_result(entry["result"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def put(self, key: str, digest: str, result: FileResult) -> None:
        """Store a result; a cache that cannot be written is not an error."""
        if result.error is not None:
            return
        target = self._entry(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._ignore_in_git()
            descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                    json.dump({"content": digest, "result": _encode(result)}, handle, separators=(",", ":"))
                os.replace(temporary, target)
            except BaseException:
                _remove(temporary)
                raise
        except OSError:
            pass

    def _entry(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def _ignore_in_git(self) -> None:
        marker = self.directory / ".gitignore"
        if not marker.exists():
            marker.write_text("# Created by sqla-lint: the result cache, safe to delete.\n*\n", encoding="utf-8")


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _tool_fingerprint() -> str:
    """The version, plus the size and time of every module of this package, so that an
    editable install that changes the code does not read results of the old code."""
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
