"""Multi-module fixture projects: cross-module findings through the API, the CLI and flake8.

Each project under ``tests/fixtures/projects/`` is a small package with its own
``pyproject.toml`` and inline ``# expect:`` comments in any of its files.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sqla_lint.api import lint_paths
from sqla_lint.config import Overrides, build_settings, load_config
from sqla_lint.settings import Settings

from .conftest import FIXTURES, copy_project, run_cli
from .expectations import expectations

PROJECTS = sorted(p for p in (FIXTURES / "projects").iterdir() if (p / "pyproject.toml").is_file())


def _expected(project: Path) -> set[tuple[str, int, str]]:
    return {
        (path.relative_to(project).as_posix(), e.row, e.code)
        for path in project.rglob("*.py")
        for e in expectations(path)
    }


@pytest.fixture(params=PROJECTS, ids=lambda p: p.name)
def project(request, tmp_path: Path) -> Path:
    copy = tmp_path / request.param.name
    copy_project(request.param, copy)
    return copy


def _settings(project: Path) -> Settings:
    """Preview rules too: the projects hold their fixtures (SQA505, SQA506 across modules)."""
    return build_settings(load_config(project / "pyproject.toml"), Overrides(preview=True))


def _flake8_options(project: Path) -> list[str]:
    """The project's rule knobs as flake8 options."""
    factories = _settings(project).factories
    options = []
    for flag, values in (
        ("--sqla-session-factories", factories.session_factories),
        ("--sqla-engine-factories", factories.engine_factories),
        ("--sqla-called-once", factories.called_once),
    ):
        if values:
            options.append(f"{flag}={','.join(sorted(values))}")
    return options


def test_api_matches_expectations(project: Path):
    results = list(lint_paths([str(project)], _settings(project)))
    actual = {
        (Path(d.path).relative_to(project).as_posix(), d.location.row, d.code)
        for r in results
        for d in r.diagnostics
    }
    assert actual == _expected(project)
    for path in project.rglob("*.py"):
        for wanted in expectations(path):
            if wanted.text:
                messages = [
                    d.message
                    for r in results
                    for d in r.diagnostics
                    if Path(d.path) == path and d.location.row == wanted.row and d.code == wanted.code
                ]
                assert any(wanted.text in m for m in messages), (path.name, wanted, messages)


def test_cli_and_flake8_agree(project: Path):
    cli = run_cli("check", "--preview", ".", cwd=project)
    flake8 = subprocess.run(
        [sys.executable, "-m", "flake8", "--isolated", "--select", "SQA", "--sqla-preview", *_flake8_options(project), "."],
        cwd=project, capture_output=True, text=True, timeout=300,
    )

    def triples(output: str) -> set[tuple[str, int, str]]:
        found = set()
        for line in output.splitlines():
            if ": SQA" in line:
                path, row, _col, rest = line.split(":", 3)
                found.add((path.removeprefix("./"), int(row), rest.split()[0]))
        return found

    def messages(output: str) -> set[str]:
        return {line.removeprefix("./") for line in output.splitlines() if ": SQA" in line}

    expected = _expected(project)
    assert triples(cli.stdout) == expected, cli.stdout + cli.stderr
    assert triples(flake8.stdout) == expected, flake8.stdout + flake8.stderr
    assert messages(cli.stdout) == messages(flake8.stdout)  # the same words, columns too
    assert cli.returncode == (1 if expected else 0)


def test_called_once_declaration_is_what_silences(tmp_path: Path):
    """Without the project's `called-once`, the same code fires: the setting does the work."""
    project = tmp_path / "called_once"
    copy_project(FIXTURES / "projects" / "called_once", project)
    (project / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0"\n')
    codes = [d.code for r in lint_paths([str(project)], Settings()) for d in r.diagnostics]
    assert codes == ["SQA501"] * 3  # make_engine, _extract_query_log, and _populate_lineage, which fires anyway


def test_index_is_cached_and_rebuilt_on_change(project: Path):
    from sqla_lint.indexing import build_index

    first = build_index(project)
    assert first.modules, "fixture projects all have relevant modules"
    cache_files = list((project / ".sqla_lint_cache").glob("index-*.json"))
    assert len(cache_files) == 1
    again = build_index(project)
    assert again.digest() == first.digest()
    target = next(p for p in sorted(project.rglob("*.py")) if "from sqlalchemy import" in p.read_text())
    target.write_text(target.read_text() + "\nEXTRA_ENGINE = create_engine('sqlite://')\n")
    changed = build_index(project)
    assert changed.digest() != first.digest()
