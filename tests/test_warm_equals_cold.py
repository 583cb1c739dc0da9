"""A warm run is a cold run, faster: whatever the facts and the index depend on keys the cache.

Random edit sequences over a small project (packages appearing and going, a factory module
renamed, emptied or edited, a leak added and fixed, configuration changed) are linted after
every edit twice: with the result and index caches of all earlier runs, and with none. The
two must report the same findings.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from sqla_lint import api
from sqla_lint.cache import ResultCache
from sqla_lint.config import Overrides, build_settings, load_config

DATABASE = """\
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("sqlite+aiosqlite://")
SessionLocal = async_sessionmaker(engine)
"""
DEPS_REDUNDANT_CLOSE = """\
from app.database import SessionLocal


async def get_db():
    async with SessionLocal() as s:
        try:
            yield s
        finally:
            await s.close()
"""
DEPS_LEAK = """\
from app.database import SessionLocal


async def count():
    s = SessionLocal()
    return await s.scalar(1)
"""
DEPS_CLEAN = """\
from app.database import SessionLocal


async def count():
    async with SessionLocal() as s:
        return await s.scalar(1)
"""


def _add_package(root: Path) -> None:
    (root / "app" / "__init__.py").write_text("")


def _remove_package(root: Path) -> None:
    (root / "app" / "__init__.py").unlink(missing_ok=True)


def _rename_database(root: Path) -> None:
    old, new = root / "app" / "database.py", root / "app" / "db.py"
    if old.exists():
        old.rename(new)
    elif new.exists():
        new.rename(old)


def _empty_database(root: Path) -> None:
    for name in ("database.py", "db.py"):
        if (root / "app" / name).exists():
            (root / "app" / name).write_text("")


def _restore_database(root: Path) -> None:
    (root / "app" / "db.py").unlink(missing_ok=True)
    (root / "app" / "database.py").write_text(DATABASE)


def _deps(text: str):
    return lambda root: (root / "app" / "deps.py").write_text(text)


def _configure_factory(root: Path) -> None:
    (root / "pyproject.toml").write_text('[tool.sqla-lint]\nsession-factories = ["app.database.SessionLocal"]\n')


def _unconfigure(root: Path) -> None:
    (root / "pyproject.toml").write_text("")


EDITS = {
    "add __init__": _add_package,
    "remove __init__": _remove_package,
    "rename database.py": _rename_database,
    "empty database.py": _empty_database,
    "restore database.py": _restore_database,
    "deps: redundant close": _deps(DEPS_REDUNDANT_CLOSE),
    "deps: leak": _deps(DEPS_LEAK),
    "deps: clean": _deps(DEPS_CLEAN),
    "configure a factory": _configure_factory,
    "no configuration": _unconfigure,
}


def _findings(root: Path, cache_dir: Path | None) -> list[tuple[str, str, int, str]]:
    lint_settings = build_settings(load_config(root / "pyproject.toml"), Overrides())
    if cache_dir is None:
        lint_settings = dataclasses.replace(lint_settings, cache=False)
    cache = ResultCache(cache_dir, lint_settings) if cache_dir is not None else None
    return sorted(
        (Path(result.path).relative_to(root).as_posix(), d.code, d.location.row, d.message)
        for result in api.lint_paths([str(root)], lint_settings, jobs=1, cache=cache)
        for d in result.diagnostics
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(sorted(EDITS)), min_size=1, max_size=8))
def test_every_warm_run_reports_what_a_cold_run_reports(tmp_path_factory, edits: list[str]):
    base = tmp_path_factory.mktemp("warm")
    root, cache_dir = base / "project", base / "cache"
    (root / "app").mkdir(parents=True)
    (root / "pyproject.toml").write_text("")
    (root / "app" / "database.py").write_text(DATABASE)
    (root / "app" / "deps.py").write_text(DEPS_REDUNDANT_CLOSE)
    _findings(root, cache_dir)
    for edit in edits:
        EDITS[edit](root)
        warm = _findings(root, cache_dir)
        cold = _findings(root, None)
        assert warm == cold, f"after {edits[: edits.index(edit) + 1]}"
    shutil.rmtree(base)


def test_a_package_marker_added_later_is_seen_by_the_warm_run(tmp_path: Path):
    """The case from the issue: ``app/`` without ``__init__.py``, then with an empty one."""
    root, cache_dir = tmp_path / "project", tmp_path / "cache"
    (root / "app").mkdir(parents=True)
    (root / "pyproject.toml").write_text("")
    (root / "app" / "database.py").write_text(DATABASE)
    (root / "app" / "deps.py").write_text(DEPS_REDUNDANT_CLOSE)
    _findings(root, cache_dir)
    _add_package(root)
    warm = _findings(root, cache_dir)
    assert [code for _, code, _, _ in warm] == ["SQA404"]
    assert warm == _findings(root, None)
