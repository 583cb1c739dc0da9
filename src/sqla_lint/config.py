"""``[tool.sqla-lint]`` in ``pyproject.toml``: discovery, validation, and merging with flags.

Every key and code is validated: a typo is an error that names it, never silently
ignored.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .discovery import DEFAULT_EXCLUDES
from .semantic import FactoryConfig
from .settings import ConfigError, Settings, expand_selectors

KNOWN_KEYS = frozenset(
    {
        "select",
        "ignore",
        "extend-select",
        "per-file-ignores",
        "exclude",
        "extend-exclude",
        "session-factories",
        "engine-factories",
        "called-once",
        "baseline",
    }
)


@dataclass(frozen=True)
class FileConfig:
    """The validated contents of one ``[tool.sqla-lint]`` table."""

    path: Path | None = None
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> Path | None:
        return self.path.parent if self.path is not None else None


def find_config(start: Path) -> Path | None:
    """The closest ``pyproject.toml`` with a ``[tool.sqla-lint]`` table, from ``start`` up."""
    directory = start if start.is_dir() else start.parent
    directory = directory.resolve()
    for candidate in (directory, *directory.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            try:
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue
            if "sqla-lint" in data.get("tool", {}):
                return pyproject
    return None


def load_config(path: Path) -> FileConfig:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not valid UTF-8") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    table = data.get("tool", {}).get("sqla-lint", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.sqla-lint] must be a table")
    for key in table:
        if key not in KNOWN_KEYS:
            raise ConfigError(f"{path}: unknown key {key!r} in [tool.sqla-lint]")
    for key in ("select", "ignore", "extend-select", "exclude", "extend-exclude", "session-factories", "engine-factories", "called-once"):
        if key in table and not (isinstance(table[key], list) and all(isinstance(v, str) for v in table[key])):
            raise ConfigError(f"{path}: {key!r} must be a list of strings")
    if "per-file-ignores" in table:
        value = table["per-file-ignores"]
        if not isinstance(value, dict) or not all(
            isinstance(v, list) and all(isinstance(c, str) for c in v) for v in value.values()
        ):
            raise ConfigError(f"{path}: 'per-file-ignores' must map glob patterns to lists of codes")
    if "baseline" in table and not isinstance(table["baseline"], str):
        raise ConfigError(f"{path}: 'baseline' must be a path string")
    return FileConfig(path, table)


@dataclass(frozen=True)
class Overrides:
    """What the command line says; ``None`` means "not given"."""

    select: list[str] | None = None
    ignore: list[str] | None = None
    extend_select: list[str] | None = None
    session_factories: list[str] | None = None
    engine_factories: list[str] | None = None
    called_once: list[str] | None = None
    extend_exclude: list[str] | None = None


def build_settings(config: FileConfig, overrides: Overrides) -> Settings:
    origin = str(config.path) if config.path else "the command line"
    values = config.values
    select_list = overrides.select if overrides.select is not None else values.get("select", ["ALL"])
    enabled = set(expand_selectors(select_list, origin if overrides.select is None else "--select"))
    enabled |= expand_selectors(values.get("extend-select", []), origin)
    enabled |= expand_selectors(overrides.extend_select or [], "--extend-select")
    enabled -= expand_selectors(values.get("ignore", []), origin)
    enabled -= expand_selectors(overrides.ignore or [], "--ignore")

    per_file = []
    for pattern, codes in values.get("per-file-ignores", {}).items():
        per_file.append((pattern, expand_selectors(codes, f"{origin} per-file-ignores")))

    excludes = tuple(values.get("exclude", DEFAULT_EXCLUDES))
    excludes += tuple(values.get("extend-exclude", []))
    excludes += tuple(overrides.extend_exclude or [])

    factories = FactoryConfig(
        session_factories=frozenset(values.get("session-factories", [])) | frozenset(overrides.session_factories or []),
        engine_factories=frozenset(values.get("engine-factories", [])) | frozenset(overrides.engine_factories or []),
        called_once=frozenset(values.get("called-once", [])) | frozenset(overrides.called_once or []),
    )
    return Settings(
        enabled=frozenset(enabled),
        factories=factories,
        exclude=excludes,
        per_file_ignores=tuple(per_file),
    )
