"""What makes a run over a mostly unchanged tree fast, each proved to change nothing:
no parser on a run answered from the cache, one walk and one read per file, text-based
exclusion, and one parse for a file that is both summarised and linted."""

from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqla_lint import api
from sqla_lint.discovery import DEFAULT_EXCLUDES, is_excluded, walk_directory
from sqla_lint.rules import RULES_BY_CODE
from sqla_lint.rules.catalogue import RULE_CODES
from sqla_lint.settings import Settings

from .conftest import run_cli

LEAK = "from sqlalchemy.orm import Session\n\ndef f(engine):\n    s = Session(engine)\n    return s.query(1).all()\n"
DB = (
    "from sqlalchemy import create_engine\nfrom sqlalchemy.orm import Session, sessionmaker\n\n"
    "SessionLocal = sessionmaker(create_engine('sqlite://'))\n\n\n"
    "def count(engine):\n    s = Session(engine)\n    return s.query(1).count()\n"
)
USER = "from app.db import SessionLocal\n\ndef handler():\n    db = SessionLocal()\n    return db.query(1).all()\n"


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "app").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'app'\n")
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "db.py").write_text(DB)
    (root / "app" / "views.py").write_text(USER)
    (root / "app" / "leak.py").write_text(LEAK)
    for index in range(20):
        (root / "app" / f"plain{index}.py").write_text(f"VALUE = {index}\n")
    return root


def test_a_run_answered_from_the_cache_never_imports_libcst(tmp_path: Path):
    root = _project(tmp_path)
    env = {**os.environ, "SQLA_LINT_CACHE_DIR": str(tmp_path / "cache")}
    script = (
        "import sys; from sqla_lint import cli; code = cli.main(['check', sys.argv[1]]);"
        "print(code, 'libcst' in sys.modules, 'sqla_lint.rules.base' in sys.modules)"
    )
    runs = [
        subprocess.run([sys.executable, "-c", script, str(root)], env=env, capture_output=True, text=True, timeout=300)
        for _ in range(2)
    ]
    (cold, warm) = [run.stdout.splitlines() for run in runs]
    assert cold[-1] == "1 True True"  # it linted: the parser and rules were needed
    assert warm[-1] == "1 False False"  # the same findings, read back
    assert cold[:-1] == warm[:-1] and any("SQA401" in line for line in warm)


def test_a_comment_in_a_summarised_module_is_linted_as_without_the_cache(tmp_path: Path):
    """The edited module is summarised for the index and then linted, with one parse:
    the findings are those of a run with no cache at all."""
    root = _project(tmp_path)
    env = {"SQLA_LINT_CACHE_DIR": str(tmp_path / "cache")}
    run_cli("check", str(root), env=env)
    db = root / "app" / "db.py"
    db.write_text(db.read_text() + "# a comment\n")
    warm = run_cli("check", str(root), env=env)
    fresh = run_cli("check", "--no-cache", str(root), env=env)
    assert warm.stdout == fresh.stdout and warm.returncode == fresh.returncode == 1
    assert "app/db.py" in warm.stdout


def test_the_catalogue_names_every_rule_in_code_order():
    assert RULE_CODES == tuple(RULES_BY_CODE) == tuple(sorted(RULES_BY_CODE))
    assert all(RULES_BY_CODE[code].CODE == code for code in RULE_CODES)


def _reference_is_excluded(path: Path, patterns: tuple[str, ...]) -> bool:
    """Exclusion as it was first written: each pattern, with fnmatch, against each part
    and (as P, */P, */P/*) against the whole path."""
    for pattern in patterns:
        if any(fnmatch.fnmatch(part, pattern) for part in path.parts):
            return True
        if any(fnmatch.fnmatch(path.as_posix(), form) for form in (pattern, f"*/{pattern}", f"*/{pattern}/*")):
            return True
    return False


_NAMES = st.sampled_from(["build", "a", "ab", "b.py", "x.py", ".venv", "node_modules", "test_a.py", "tests", "sub"])
_PATTERNS = st.one_of(
    _NAMES,
    st.sampled_from(["*.py", "a*", "a*py", "test_*", "b?py", "[ab]", "tests/*", "a/b.py", "sub/a", "*/x.py", "*"]),
)


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(_NAMES, min_size=1, max_size=4), patterns=st.lists(_PATTERNS, max_size=4))
def test_exclusion_matches_fnmatch_per_pattern(parts: list[str], patterns: list[str]):
    path = Path(*parts)
    assert is_excluded(path, tuple(patterns)) == _reference_is_excluded(path, tuple(patterns))


@pytest.mark.parametrize("excludes", [DEFAULT_EXCLUDES, ("tests/*",), ("a*py", "sub"), ("*/x.py", "build")])
def test_walking_finds_what_testing_every_path_finds(tmp_path: Path, excludes: tuple[str, ...]):
    root = tmp_path / "tree"
    for relative in ["a.py", "ab.py", "x.py", "sub/a.py", "sub/x.py", "tests/test_a.py", "build/b.py", "sub/build/x.py", "deep/sub/a/b.py", ".venv/x.py"]:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text("")
    every = sorted(p for p in root.rglob("*.py") if not _reference_is_excluded(p.relative_to(root), excludes))
    assert sorted(walk_directory(root, excludes)) == every
    assert [str(p) for p in walk_directory(root, excludes)] == [str(p) for p in walk_directory(Path(str(root) + "/"), excludes)]


@pytest.mark.parametrize("path", ["a.py", "sub/a.py", "./a.py", "sub/../a.py", ".hidden/a.py", "a//b.py", "/abs/a.py"])
def test_absolute_paths_are_those_of_abspath(path: str):
    assert api._absolute(path, os.getcwd()) == os.path.abspath(path)


def test_a_file_outside_every_index_is_still_answered_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Without a project index the content hash comes from reading the file."""
    from sqla_lint.cache import ResultCache

    root = _project(tmp_path)
    no_index = Settings(project_index=False)
    cache_dir = tmp_path / "cache"
    first = [r.diagnostics for r in api.lint_paths([str(root)], no_index, jobs=1, cache=ResultCache(cache_dir, no_index))]
    linted: list[str] = []
    real = api.lint_source
    monkeypatch.setattr(api, "lint_source", lambda data, path, *rest, **kw: linted.append(path) or real(data, path, *rest, **kw))
    again = [r.diagnostics for r in api.lint_paths([str(root)], no_index, jobs=1, cache=ResultCache(cache_dir, no_index))]
    assert again == first and linted == []


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from sqla_lint import indexing as index_module

    read: list[str] = []
    real = index_module.read_source
    monkeypatch.setattr(index_module, "read_source", lambda path: read.append(Path(path).name) or real(path))
    return read


def test_files_known_unchanged_from_their_status_are_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from sqla_lint import indexing as index_module

    root = _project(tmp_path)
    first = index_module.build_index(root)
    monkeypatch.setattr(index_module, "RACY_NS", -(10**18))  # as if the last build were long ago
    read = _reads(monkeypatch)
    again = index_module.build_index(root)
    assert read == []
    assert (again.digest(), again.file_hashes) == (first.digest(), first.file_hashes)


def test_an_edit_that_keeps_size_and_mtime_is_seen_by_its_ctime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from sqla_lint import indexing as index_module

    root = _project(tmp_path)
    views = root / "app" / "views.py"
    first = index_module.build_index(root)
    before = views.stat()
    views.write_text(USER.replace("db.query(1).all()", "db.query(2).all()"))
    os.utime(views, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (views.stat().st_size, views.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    monkeypatch.setattr(index_module, "RACY_NS", -(10**18))
    read = _reads(monkeypatch)
    again = index_module.build_index(root)
    assert "views.py" in read  # (and then the others, for the search the edit calls for)
    assert again.file_hashes[str(views)] != first.file_hashes[str(views)]


def test_a_file_changed_in_the_same_tick_as_the_last_build_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """On a file system whose times do not move within a tick, status alone cannot see an
    edit made just after the build hashed the file; a file that recent is always read."""
    from sqla_lint import indexing as index_module

    monkeypatch.setattr(index_module, "_signature", lambda status: [status.st_size])  # times that never move
    root = _project(tmp_path)
    views = root / "app" / "views.py"
    first = index_module.build_index(root)
    views.write_text(USER.replace("db.query(1).all()", "db.query(2).all()"))
    read = _reads(monkeypatch)
    again = index_module.build_index(root)
    assert "views.py" in read
    assert again.file_hashes[str(views)] != first.file_hashes[str(views)]


def test_summaries_encode_as_asdict_does(tmp_path: Path):
    from dataclasses import asdict

    from sqla_lint.indexing import build_index
    from sqla_lint.semantic.facts import ModuleSummary

    projects = Path(__file__).parent / "fixtures" / "projects"
    summaries = [
        summary
        for root in [_project(tmp_path), *sorted(p for p in projects.iterdir() if p.is_dir())]
        for summary in build_index(root, use_cache=False).modules.values()
    ]
    assert any(s.calls for s in summaries) and any(s.functions for s in summaries) and any(s.aliases for s in summaries)
    for summary in summaries:
        assert summary.to_json() == asdict(summary)
        assert ModuleSummary.from_json(summary.to_json()) == summary


def test_an_index_saved_again_after_a_read_back_keeps_its_seeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A read-back that hashed files again (a racy one) saves the index to record their
    status; it must save the seeds too, or the next edit cannot skip the search."""
    from sqla_lint import indexing as index_module

    root = _project(tmp_path)
    index_module.build_index(root)
    (cache_file,) = (root / ".sqla_lint_cache").glob("index-*.json")
    import json

    seeds = json.loads(cache_file.read_text())["seeds"]
    assert "app/db.py" in seeds
    index_module.build_index(root)  # every file is racy still: read back, hashed again, saved
    assert json.loads(cache_file.read_text())["seeds"] == seeds
    searches: list[int] = []
    real_search = index_module._Build.search
    monkeypatch.setattr(index_module._Build, "search", lambda self, cache: searches.append(1) or real_search(self, cache))
    db = root / "app" / "db.py"
    db.write_text(db.read_text() + "# a comment\n")
    index_module.build_index(root)
    assert searches == []
