"""``[tool.sqla-lint]`` in ``pyproject.toml``: discovery, validation, and merging with flags.

Every key and code is validated: a typo is an error that names it, never silently
ignored. As in ruff, each file is governed by the closest ``pyproject.toml`` with a
``[tool.sqla-lint]`` table above it, and ``per-file-ignores`` patterns (like the
``baseline`` path) are relative to that file's directory.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .discovery import DEFAULT_EXCLUDES, Discovered, discover, is_excluded
from .semantic.project import FactoryConfig
from .settings import ConfigError, Settings, exact_codes, expand_selectors, gate_preview

KNOWN_KEYS = frozenset(
    {
        "select",
        "ignore",
        "extend-select",
        "preview",
        "per-file-ignores",
        "exclude",
        "extend-exclude",
        "session-factories",
        "engine-factories",
        "called-once",
        "baseline",
        "max-connections",
        "reserved-connections",
        "workers",
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
        if _has_table(candidate / "pyproject.toml"):
            return candidate / "pyproject.toml"
    return None


def _has_table(pyproject: Path) -> bool:
    if not pyproject.is_file():
        return False
    try:
        text = pyproject.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError):
        return False
    except tomllib.TOMLDecodeError:
        return "sqla-lint" in text  # ours but broken: load_config reports it, never skip it
    tool = data.get("tool", {})
    return isinstance(tool, dict) and "sqla-lint" in tool


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
            raise ConfigError(f"{path}: unknown key {key!r} in [tool.sqla-lint] (known keys: {', '.join(sorted(KNOWN_KEYS))})")
    for key in ("select", "ignore", "extend-select", "exclude", "extend-exclude", "session-factories", "engine-factories", "called-once"):
        if key in table and not (isinstance(table[key], list) and all(isinstance(v, str) for v in table[key])):
            raise ConfigError(f"{path}: {key!r} must be a list of strings")
    if "per-file-ignores" in table:
        value = table["per-file-ignores"]
        if not isinstance(value, dict) or not all(
            isinstance(v, list) and all(isinstance(c, str) for c in v) for v in value.values()
        ):
            raise ConfigError(f"{path}: 'per-file-ignores' must map glob patterns to lists of codes")
    if "preview" in table and not isinstance(table["preview"], bool):
        raise ConfigError(f"{path}: 'preview' must be true or false")
    if "baseline" in table and not isinstance(table["baseline"], str):
        raise ConfigError(f"{path}: 'baseline' must be a path string")
    for key, least in (("max-connections", 1), ("reserved-connections", 0), ("workers", 1)):
        if key in table and not (type(table[key]) is int and table[key] >= least):
            raise ConfigError(f"{path}: {key!r} must be a whole number of at least {least}")
    maximum = table.get("max-connections", 100)
    reserved = table.get("reserved-connections", 3)
    if reserved >= maximum:
        raise ConfigError(
            f"{path}: 'reserved-connections' ({reserved}) must be less than 'max-connections' ({maximum})"
        )
    return FileConfig(path, table)


@dataclass(frozen=True)
class Overrides:
    """What the command line says; ``None`` means "not given"."""

    select: list[str] | None = None
    ignore: list[str] | None = None
    extend_select: list[str] | None = None
    preview: bool | None = None
    session_factories: list[str] | None = None
    engine_factories: list[str] | None = None
    called_once: list[str] | None = None
    extend_exclude: list[str] | None = None


def build_settings(config: FileConfig, overrides: Overrides) -> Settings:
    origin = str(config.path) if config.path else "the command line"
    values = config.values
    # Two layers, as in ruff: the file's selection, then the command line's on top of it
    # (a command-line --select starts over, so `--select ALL` really means all).
    enabled = set(expand_selectors(values.get("select", ["ALL"]), origin))
    enabled |= expand_selectors(values.get("extend-select", []), origin)
    enabled -= expand_selectors(values.get("ignore", []), origin)
    if overrides.select is not None:
        enabled = set(expand_selectors(overrides.select, "--select"))
    enabled |= expand_selectors(overrides.extend_select or [], "--extend-select")
    enabled -= expand_selectors(overrides.ignore or [], "--ignore")
    exact = exact_codes(values.get("select", [])) | exact_codes(values.get("extend-select", []))
    if overrides.select is not None:
        exact = exact_codes(overrides.select)
    exact |= exact_codes(overrides.extend_select or [])
    preview = overrides.preview if overrides.preview is not None else bool(values.get("preview", False))

    per_file = []
    for pattern, codes in values.get("per-file-ignores", {}).items():
        per_file.append((anchored_pattern(pattern, config.root), expand_selectors(codes, f"{origin} per-file-ignores")))

    excludes = tuple(values.get("exclude", DEFAULT_EXCLUDES))
    excludes += tuple(values.get("extend-exclude", []))
    excludes += tuple(overrides.extend_exclude or [])

    factories = FactoryConfig(
        session_factories=frozenset(values.get("session-factories", [])) | frozenset(overrides.session_factories or []),
        engine_factories=frozenset(values.get("engine-factories", [])) | frozenset(overrides.engine_factories or []),
        called_once=frozenset(values.get("called-once", [])) | frozenset(overrides.called_once or []),
    )
    return Settings(
        enabled=gate_preview(enabled, preview=preview, exact=exact),
        preview=preview,
        factories=factories,
        exclude=excludes,
        per_file_ignores=tuple(per_file),
        max_connections=values.get("max-connections", 100),
        reserved_connections=values.get("reserved-connections", 3),
        workers=values.get("workers"),
    )


def anchored_pattern(pattern: str, root: Path | None) -> str:
    """A pattern with a ``/`` is relative to the config's directory; a bare name matches anywhere."""
    if root is None or "/" not in pattern or pattern.startswith(("/", "*")):
        return pattern
    return (root.resolve() / pattern).as_posix()


def baseline_path(config: FileConfig) -> Path | None:
    """The ``baseline`` key, relative to the config file's directory."""
    value: str | None = config.values.get("baseline")
    if not value:
        return None
    return config.root / value if config.root is not None else Path(value)


class ConfigResolver:
    """Which configuration governs each file: ``--isolated``, ``--config``, or the closest one.

    Lookups are cached per directory, so a tree of thousands of files reads each
    ``pyproject.toml`` once, and settings are built once per configuration file.
    """

    def __init__(self, overrides: Overrides, *, config: Path | None = None, isolated: bool = False) -> None:
        self._overrides = overrides
        self._fixed: FileConfig | None = None
        if isolated:
            self._fixed = FileConfig()
        elif config is not None:
            self._fixed = load_config(config)
        self._by_directory: dict[Path, Path | None] = {}
        self._by_text: dict[str, FileConfig] = {}
        self._configs: dict[Path | None, FileConfig] = {}
        self._settings: dict[Path | None, Settings] = {}

    def config_for(self, path: Path) -> FileConfig:
        if self._fixed is not None:
            return self._fixed  # without asking the file system whether ``path`` is a folder
        return self._config_in(os.fspath(path if path.is_dir() else path.parent))

    def settings_for(self, path: Path) -> Settings:
        return self._settings_of(self.config_for(path))

    def _config_in(self, directory: str) -> FileConfig:
        """Per folder as spelled: a walk asks once per folder, not once per file."""
        if self._fixed is not None:
            return self._fixed
        config = self._by_text.get(directory)
        if config is None:
            found = self._lookup(Path(os.path.abspath(directory)))
            if found not in self._configs:
                self._configs[found] = load_config(found) if found is not None else FileConfig()
            config = self._by_text[directory] = self._configs[found]
        return config

    def _settings_of(self, config: FileConfig) -> Settings:
        if config.path not in self._settings:
            self._settings[config.path] = build_settings(config, self._overrides)
        return self._settings[config.path]

    def _lookup(self, directory: Path) -> Path | None:
        if directory in self._by_directory:
            return self._by_directory[directory]
        candidate = directory / "pyproject.toml"
        if _has_table(candidate):
            found: Path | None = candidate
        elif directory.parent != directory:
            found = self._lookup(directory.parent)
        else:
            found = None
        self._by_directory[directory] = found
        return found

    def plan(self, paths: list[str], force_exclude: bool) -> list[tuple[Settings, list[Discovered]]]:
        """The files to lint, grouped by the settings that govern them.

        Each path given is walked with the exclusions of its own configuration; a file
        under a nested configuration is linted with that one, and skipped if that one
        excludes it (relative to its directory), unless it was named explicitly.
        """
        groups: dict[Path | None, tuple[Settings, list[Discovered]]] = {}
        seen: set[Path] = set()
        for raw in paths:
            walk_settings = self.settings_for(Path(raw))
            for found in discover([raw], walk_settings.exclude, force_exclude):
                if found.path in seen:
                    continue
                seen.add(found.path)
                config = self._config_in(os.path.dirname(found.path))
                settings = self._settings_of(config)
                if settings is not walk_settings and (force_exclude or not found.explicit) and config.root is not None:
                    relative = Path(os.path.relpath(os.path.abspath(found.path), os.path.abspath(config.root)))
                    if is_excluded(relative, settings.exclude):
                        continue
                groups.setdefault(config.path, (settings, []))[1].append(found)
        return list(groups.values())
