"""Imports that leave the project resolve through the packages installed for the running
interpreter, as pylint and mypy resolve them (SPEC.md, "What counts as a session").

``tests/fixtures/installed/site`` stands for site-packages: a regular package
(``company_db``, re-exporting its factory from ``__init__``) and a portion of an implicit
namespace package (``acme``). The tests put it on ``sys.path`` (in process) or on
``PYTHONPATH`` (the CLI and flake8 in subprocesses); the project imports from it, and also
from ``nowhere_db``, which is installed nowhere and so stays unknown and silent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import hypothesis
import hypothesis.strategies
import pytest

from sqla_lint import indexing, installed
from sqla_lint.api import lint_paths
from sqla_lint.config import Overrides, build_settings, load_config
from sqla_lint.indexing import build_index
from sqla_lint.settings import Settings

from .conftest import FIXTURES, copy_project, run_cli
from .expectations import expectations
from .test_warm_equals_cold import _findings

FIXTURE = FIXTURES / "installed"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    copy_project(FIXTURE / "project", copy)
    return copy


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A copy, outside the project: a test may upgrade it."""
    copy = tmp_path / "site"
    shutil.copytree(FIXTURE / "site", copy)
    return copy


def _install(monkeypatch: pytest.MonkeyPatch, site: Path) -> None:
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])


def _expected(project: Path) -> set[tuple[str, int, str]]:
    return {(p.relative_to(project).as_posix(), e.row, e.code) for p in project.rglob("*.py") for e in expectations(p)}


def _settings(project: Path) -> Settings:
    return build_settings(load_config(project / "pyproject.toml"), Overrides(preview=True))


def _api_findings(project: Path) -> set[tuple[str, int, str]]:
    return {
        (Path(d.path).relative_to(project).as_posix(), d.location.row, d.code)
        for r in lint_paths([str(project)], _settings(project))
        for d in r.diagnostics
    }


def _triples(output: str) -> set[tuple[str, int, str]]:
    found = set()
    for line in output.splitlines():
        if ": SQA" in line:
            path, row, _col, rest = line.split(":", 3)
            found.add((path.removeprefix("./"), int(row), rest.split()[0]))
    return found


def test_factories_of_installed_packages_fire_through_the_api(project: Path, site: Path, monkeypatch):
    _install(monkeypatch, site)
    expected = _expected(project)
    assert len(expected) == 4  # a factory, a helper, a namespace package's factory, one re-exported by the project
    assert _api_findings(project) == expected
    messages = [d.message for r in lint_paths([str(project)], _settings(project)) for d in r.diagnostics]
    assert any("`company_db.get_session()`" in message for message in messages)


def test_not_installed_means_unknown_and_silent(project: Path):
    """The same project with nothing installed under those names: no guess from spelling."""
    assert _api_findings(project) == set()


def test_cli_and_flake8_see_the_installed_package(project: Path, site: Path):
    env = {"PYTHONPATH": str(site)}
    cli = run_cli("check", "--preview", ".", cwd=project, env=env)
    flake8 = subprocess.run(
        [sys.executable, "-m", "flake8", "--isolated", "--select", "SQA", "--sqla-preview", "."],
        check=False, cwd=project, capture_output=True, text=True, timeout=300, env={**os.environ, **env},
    )
    expected = _expected(project)
    assert _triples(cli.stdout) == expected, cli.stdout + cli.stderr
    assert _triples(flake8.stdout) == expected, flake8.stdout + flake8.stderr
    assert cli.returncode == 1
    # Without the package on the path, both stay silent.
    assert run_cli("check", "--preview", ".", cwd=project).returncode == 0
    plain = subprocess.run(
        [sys.executable, "-m", "flake8", "--isolated", "--select", "SQA", "--sqla-preview", "."],
        check=False, cwd=project, capture_output=True, text=True, timeout=300,
    )
    assert _triples(plain.stdout) == set(), plain.stdout + plain.stderr


def test_the_working_directory_is_not_the_installation(project: Path, site: Path):
    """``python -m sqla_lint`` puts the working directory on ``sys.path``; the ``sqla-lint``
    command and flake8 do not. Packages that merely sit in the working directory are not
    installed, so every front end gives the same answer."""
    cli = run_cli("check", "--preview", str(project), cwd=site)
    assert _triples(cli.stdout) == set(), cli.stdout + cli.stderr
    assert cli.returncode == 0, cli.stderr


def test_installed_files_are_read_only_and_never_reported(project: Path, site: Path, monkeypatch):
    _install(monkeypatch, site)
    before = {path: path.read_bytes() for path in site.rglob("*")  if path.is_file()}
    results = list(lint_paths([str(project)], _settings(project)))
    assert all(Path(r.path).is_relative_to(project) for r in results)  # `leaky_helper` is not the project's
    assert {path: path.read_bytes() for path in site.rglob("*") if path.is_file()} == before
    assert not list(site.rglob(".sqla_lint_cache"))


def test_only_relevant_installed_modules_are_summarised(project: Path, site: Path, monkeypatch):
    _install(monkeypatch, site)
    index = build_index(project, use_cache=False)
    installed_modules = {m for m in index.modules if m.partition(".")[0] in ("company_db", "acme")}
    assert installed_modules == {"company_db", "company_db.sessions", "acme.database"}
    assert index.installed == {"company_db", "acme"}  # not nowhere_db: it resolves nowhere
    # The package's pool is not the project's to budget, nor its loop the project's to end.
    assert all(not site_.module.startswith("company_db") for site_ in index.pool_sites())
    assert not any(index.modules[m].shutdown_point for m in installed_modules)
    # Its files are neither linted nor keyed in the result cache.
    assert all(Path(path).is_relative_to(project) for path in index.file_hashes)


def test_stdlib_and_libraries_without_sqlalchemy_cost_no_parse(tmp_path: Path, monkeypatch):
    """A project importing only the standard library and big installed libraries that never
    use SQLAlchemy: their files fail the text test, and none is parsed."""
    root = tmp_path / "plain"
    (root / "app").mkdir(parents=True)
    (root / "pyproject.toml").write_text("")
    (root / "app" / "main.py").write_text("import json\nimport pygments\nimport pytest\nfrom hypothesis import given\n")
    parsed: list[str] = []
    real = indexing._summarize_batch

    def recording(items, *args):
        parsed.extend(str(path) for path, _, _ in items)
        return real(items, *args)

    monkeypatch.setattr(indexing, "_summarize_batch", recording)
    index = build_index(root, use_cache=False)
    assert {"pygments", "pytest", "hypothesis"} <= index.installed  # found, and their files text-tested
    assert "json" not in index.installed
    assert all(Path(path).is_relative_to(root) for path in parsed), parsed
    assert all(module.startswith("app") for module in index.modules)


def test_a_package_too_large_to_read_whole_is_noted(project: Path, site: Path, monkeypatch, capsys):
    _install(monkeypatch, site)
    monkeypatch.setattr(installed, "MAX_FILES_PER_PACKAGE", 1)
    monkeypatch.setattr(indexing, "_noted", set())
    index = build_index(project, use_cache=False)
    assert any("`company_db`" in note and "only the first 1" in note for note in index.notes), index.notes
    assert "sqla-lint: note: installed package `company_db`" in capsys.readouterr().err


def test_installing_upgrading_and_removing_a_package_invalidates_warm_results(project: Path, site: Path, tmp_path: Path, monkeypatch):
    """A warm run is a cold run, faster: what imports resolve to keys the cache."""
    cache = tmp_path / "results"
    expected = sorted(_expected(project))

    def both() -> list[tuple[str, str, int, str]]:
        warm = _findings(project, cache)
        assert warm == _findings(project, None)
        return warm

    assert both() == []  # nothing installed
    _install(monkeypatch, site)
    assert sorted((path, row, code) for path, code, row, _ in both()) == expected
    # An upgrade: the factory becomes a plain function returning nothing the model knows.
    sessions = site / "company_db" / "sessions.py"
    sessions.write_text("def SessionLocal():\n    return object()\n\n\ndef get_session():\n    return object()\n")
    assert [path for path, _, _, _ in both()] == ["app/jobs.py"]  # acme's is still there
    # A namespace package's portion removed: acme resolves nowhere now.
    shutil.rmtree(site / "acme")
    assert both() == []
    # Back to the original release.
    shutil.copytree(FIXTURE / "site", site, dirs_exist_ok=True)
    assert sorted((path, row, code) for path, code, row, _ in both()) == expected
    monkeypatch.setattr(sys, "path", [entry for entry in sys.path if entry != str(site)])
    assert both() == []


def test_imported_names_reads_every_import_form():
    source = b"import a.b as c, d\nfrom e.f import g\n    import h  # indented\nfrom . import i\nfrom .j import k\n"
    assert installed.imported_names(source) == {"a", "d", "e", "h"}


def test_libraries_the_model_knows_by_name_are_not_read(project: Path, site: Path, monkeypatch):
    """alembic's ``op.get_bind()`` is known by its name: reading alembic would only make
    every migration that calls it look like it needs the full analysis."""
    (site / "alembic").mkdir()
    (site / "alembic" / "__init__.py").write_text("from sqlalchemy.engine import Connection\n\n\ndef get_bind() -> Connection: ...\n")
    (project / "app" / "migration.py").write_text("from alembic import op\n\n\ndef upgrade():\n    op.get_bind().execute('select 1')\n")
    _install(monkeypatch, site)
    index = build_index(project, use_cache=False)
    assert "alembic" not in index.installed
    assert "company_db" in index.installed


def test_the_relevance_search_over_installed_files_loses_nothing(project: Path, site: Path, monkeypatch):
    """Against an index of every project module and every installed file the project's
    imports resolve to, with no prefilter: the same findings."""
    import dataclasses

    from sqla_lint.deployment import attach_deployment
    from sqla_lint.discovery import read_source, walk_directory
    from sqla_lint.engine import lint_source
    from sqla_lint.semantic.index import ProjectIndex
    from sqla_lint.semantic.symbols import MODELLED_ROOTS

    _install(monkeypatch, site)
    settings = _settings(project)
    fast = {(Path(r.path).name, d.location.row, d.code, d.message) for r in lint_paths([str(project)], settings) for d in r.diagnostics}
    files = list(walk_directory(project, ()))
    imported = set().union(*(installed.imported_names(read_source(path)) for path in files))
    found = installed.find_installed(
        installed.candidates(imported, indexing._top_level_names(project, files), MODELLED_ROOTS), installed.search_path(project)
    )
    packages = indexing._top_level_names(project, files) | frozenset(found)
    summaries = {}
    for path in files:
        summary = indexing._summarize_file(path, read_source(path), packages, settings.factories).summary
        summaries[summary.module] = summary
    for package in found.values():
        for path, module in package.files:
            summary = indexing._summarize_file(Path(path), Path(path).read_bytes(), packages, settings.factories, module).summary
            summary.pools, summary.shutdown_point = [], False
            summaries[module] = summary
    full = attach_deployment(ProjectIndex(project, summaries, installed=frozenset(found)), settings)
    slow_settings = dataclasses.replace(settings, prefilter=False)
    slow = {
        (Path(r.path).name, d.location.row, d.code, d.message)
        for r in (lint_source(read_source(path), str(path), slow_settings, full) for path in files)
        for d in r.diagnostics
    }
    assert fast == slow
    assert len(fast) == 4


# -- warm equals cold, with the installation changing too ---------------------------------

INSTALLED_FACTORY = "from sqlalchemy.orm import sessionmaker\n\nSessionLocal = sessionmaker()\n"
INSTALLED_PLAIN = "def SessionLocal():\n    return object()\n"
DEPS_INSTALLED_LEAK = "from company_db import SessionLocal\n\n\ndef count():\n    s = SessionLocal()\n    return s.execute(1)\n"


def _site_of(root: Path) -> Path:
    return root.parent / "site"


def _write_installed(text: str):
    def edit(root: Path) -> None:
        package = _site_of(root) / "company_db"
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(text)

    return edit


def _uninstall(root: Path) -> None:
    shutil.rmtree(_site_of(root) / "company_db", ignore_errors=True)


def _installed_as_module(root: Path) -> None:
    """The same name installed as a single module instead of a package."""
    _uninstall(root)
    (_site_of(root) / "company_db.py").write_text(INSTALLED_FACTORY)


def _remove_module(root: Path) -> None:
    (_site_of(root) / "company_db.py").unlink(missing_ok=True)


INSTALL_EDITS = {
    "install": _write_installed(INSTALLED_FACTORY),
    "upgrade to a plain function": _write_installed(INSTALLED_PLAIN),
    "uninstall": _uninstall,
    "install as a module": _installed_as_module,
    "remove the module": _remove_module,
    "deps: installed leak": lambda root: (root / "app" / "deps.py").write_text(DEPS_INSTALLED_LEAK),
    "deps: no import": lambda root: (root / "app" / "deps.py").write_text("def count():\n    return 1\n"),
    "deps: through the project": lambda root: (root / "app" / "deps.py").write_text(DEPS_INSTALLED_LEAK.replace("company_db", "app.shared")),
}
# A project module that re-exports the installed factory beside SQLAlchemy's names: a seed
# whose summary keeps its import of ``company_db`` only while that is installed.
SHARED = "from sqlalchemy.orm import Session\n\nfrom company_db import SessionLocal\n\n__all__ = ['Session', 'SessionLocal']\n"


@hypothesis.settings(max_examples=20, deadline=None, suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
@hypothesis.given(hypothesis.strategies.lists(hypothesis.strategies.sampled_from(sorted(INSTALL_EDITS)), min_size=1, max_size=8))
def test_every_warm_run_reports_what_a_cold_run_reports_as_packages_come_and_go(tmp_path_factory, monkeypatch, edits: list[str]):
    base = tmp_path_factory.mktemp("installed")
    root, cache = base / "project", base / "cache"
    (root / "app").mkdir(parents=True)
    (base / "site").mkdir()
    (root / "pyproject.toml").write_text("")
    (root / "app" / "deps.py").write_text(DEPS_INSTALLED_LEAK)
    (root / "app" / "shared.py").write_text(SHARED)
    with monkeypatch.context() as patch:
        patch.setattr(sys, "path", [*sys.path, str(base / "site")])
        _findings(root, cache)
        for step, edit in enumerate(edits):
            INSTALL_EDITS[edit](root)
            warm = _findings(root, cache)
            assert warm == _findings(root, None), f"after {edits[: step + 1]}"
    shutil.rmtree(base)


def test_a_virtual_environment_inside_the_project_is_the_installation(project: Path, monkeypatch):
    """``.venv`` under the project root: the walk leaves it out, the installation is there."""
    site_packages = project / ".venv" / "lib" / "python3.11" / "site-packages"
    shutil.copytree(FIXTURE / "site", site_packages)
    _install(monkeypatch, site_packages)
    results = list(lint_paths([str(project)], _settings(project)))
    assert {(Path(d.path).relative_to(project).as_posix(), d.location.row, d.code) for r in results for d in r.diagnostics} == _expected(project)
    assert not any(".venv" in Path(r.path).parts for r in results)
