"""The project index summarises only relevant modules, and the prefilter analyses only files
that refer to what it tracks. Both must lose nothing: on every fixture project and on
generated ones, the findings equal those of an index of every module with no prefilter.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from sqla_lint.api import lint_paths
from sqla_lint.deployment import attach_deployment
from sqla_lint.discovery import read_source, walk_directory
from sqla_lint.engine import lint_source, might_have_findings
from sqla_lint import indexing as index_module
from sqla_lint.indexing import build_index
from sqla_lint.semantic.index import ProjectIndex
from sqla_lint.semantic.project import FactoryConfig
from sqla_lint.settings import Settings

from .conftest import FIXTURES, copy_project
from .test_projects import PROJECTS, _settings

ENGINE_CALLERS = FIXTURES / "projects" / "engine_callers"


def _findings(results) -> set[tuple[str, int, str, str]]:
    return {(Path(r.path).name, d.location.row, d.code, d.message) for r in results for d in r.diagnostics}


def _full_index(root: Path, factories: FactoryConfig) -> ProjectIndex:
    """Every module summarised, relevant or not: what the relevance search must agree with."""
    files = list(walk_directory(root, ()))
    packages = index_module._top_level_names(root, files)
    summaries = {}
    for path in files:
        summary = index_module._summarize_file(path, read_source(path), packages, factories).summary
        if summary is not None:
            summaries[summary.module] = summary
    return ProjectIndex(root, summaries)


def _same_findings_as_the_full_analysis(root: Path, settings: Settings) -> set[tuple[str, int, str, str]]:
    fast = _findings(lint_paths([str(root)], settings, jobs=1))
    full_index = attach_deployment(_full_index(root, settings.factories), settings)  # as every front end hands it over
    slow_settings = dataclasses.replace(settings, prefilter=False)
    slow = _findings(
        lint_source(read_source(path), str(path), slow_settings, full_index) for path in walk_directory(root, ())
    )
    assert fast == slow
    return fast


@pytest.mark.parametrize("fixture", PROJECTS, ids=lambda p: p.name)
def test_fixture_projects_lose_nothing(fixture: Path, tmp_path: Path):
    root = tmp_path / fixture.name
    copy_project(fixture, root)
    _same_findings_as_the_full_analysis(root, _settings(root))


# -- generated projects --------------------------------------------------------------------

DB_PARTS = {
    "engine": "engine = create_engine(URL)\n",
    "factory": "SessionLocal = sessionmaker(bind=create_engine(URL))\n",
    "registry": "db_session = scoped_session(sessionmaker(bind=create_engine(URL)))\n",
    "helper": "def get_session():\n    return Session(create_engine(URL))\n",
    "builder": (
        "def count_rows(url):\n"
        "    engine = create_engine(url)\n"
        "    with engine.connect() as conn:\n"
        "        return conn.execute(text('select 1')).scalar()\n"
    ),
}
DB_HEADER = (
    "from sqlalchemy import create_engine, text\n"
    "from sqlalchemy.orm import Session, scoped_session, sessionmaker\n\nURL = 'sqlite://'\n"
)
# How a consumer reaches a name of app/db.py: (import line, spelling at the use).
IMPORT_FORMS = [
    ("from app.db import {name}", "{name}"),
    ("from app.db import {name} as alias_{name}", "alias_{name}"),
    ("from app import db", "db.{name}"),
    ("import app.db", "app.db.{name}"),
    ("import app.db as database", "database.{name}"),
    ("from .db import {name}", "{name}"),
    ("from . import db", "db.{name}"),
    ("from app import {name}", "{name}"),  # through the re-export in app/__init__.py
]
USES = {
    "engine": ["conn = {ref}.connect()\n    conn.execute(text('select 1'))", "with {ref}.connect() as conn:\n        pass"],
    "factory": ["session = {ref}()\n    session.query(1)", "with {ref}() as session:\n        session.query(1)"],
    "registry": ["{ref}.query(1)", "{ref}.remove()"],
    "helper": ["session = {ref}()\n    session.query(1)", "with {ref}() as session:\n        pass"],
    "builder": ["{ref}('sqlite://')"],
}
SHAPES = [
    "def {f}():\n    {use}\n",
    "def {f}(items):\n    for item in items:\n        {use_indented}\n",
    "@app.get('/x')\ndef {f}():\n    {use}\n",
    "def {f}({name}):  # a parameter that only shares the name\n    return {name}\n",
    "# {name} is mentioned in a comment only\ndef {f}():\n    return 1\n",
]


def _consumer(rng: random.Random, index: int, parts: list[str]) -> str:
    lines, bodies = ["from sqlalchemy import text", "from fastapi import FastAPI", "", "app = FastAPI()"], []
    for number in range(rng.randint(1, 3)):
        name = rng.choice(parts)
        spelled = {"engine": "engine", "factory": "SessionLocal", "registry": "db_session", "helper": "get_session", "builder": "count_rows"}[name]
        form, reference = rng.choice(IMPORT_FORMS)
        lines.insert(0, form.format(name=spelled))
        use = rng.choice(USES[name]).format(ref=reference.format(name=spelled))
        shape = rng.choice(SHAPES)
        bodies.append(
            shape.format(f=f"f{index}_{number}", use=use, use_indented=use.replace("\n", "\n    "), name=spelled)
        )
    if rng.random() < 0.3:  # a caller of another consumer's function, from a loop
        target = rng.randrange(max(index, 1))
        lines.insert(0, f"from app.m{target} import f{target}_0")
        bodies.append(f"def again{index}(items):\n    for item in items:\n        f{target}_0()\n")
    return "\n".join(lines) + "\n\n\n" + "\n\n".join(bodies)


def _generate(root: Path, rng: random.Random) -> None:
    package = root / "app"
    package.mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "generated"\nversion = "0"\n')
    parts = rng.sample(sorted(DB_PARTS), rng.randint(1, len(DB_PARTS)))
    (package / "db.py").write_text(DB_HEADER + "".join(DB_PARTS[part] for part in parts))
    names = {"engine": "engine", "factory": "SessionLocal", "registry": "db_session", "helper": "get_session", "builder": "count_rows"}
    (package / "__init__.py").write_text("".join(f"from .db import {names[part]}\n" for part in parts))
    (package / "models.py").write_text("import sqlalchemy as sa\n\nusers = sa.Table('users', sa.MetaData())\n")
    for index in range(rng.randint(1, 5)):
        (package / f"m{index}.py").write_text(_consumer(rng, index, parts))


@pytest.mark.parametrize("seed", range(60))
def test_generated_projects_lose_nothing(seed: int, tmp_path: Path):
    rng = random.Random(seed)
    _generate(tmp_path / "project", rng)
    _same_findings_as_the_full_analysis(tmp_path / "project", Settings())


def test_generated_projects_have_findings_and_skip_modules(tmp_path: Path):
    """The generator exercises both sides: findings across modules, and modules left out."""
    found = skipped = 0
    for seed in range(40):
        root = tmp_path / str(seed)
        _generate(root, random.Random(seed))
        found += len(_findings(lint_paths([str(root)], Settings(), jobs=1)))
        skipped += len(list(walk_directory(root, ()))) - len(build_index(root, use_cache=False).modules)
    assert found > 40
    assert skipped > 40


# -- what is summarised and what is analysed ------------------------------------------------


def test_only_modules_that_can_matter_are_summarised():
    """app/models.py uses SQLAlchemy for column types only; app/views.py imports the module
    and spells a factory's name without using it. app/jobs.py never mentions SQLAlchemy but
    calls an engine-building helper from a loop, so the index needs its call site."""
    built = build_index(ENGINE_CALLERS, use_cache=False)
    assert sorted(built.modules) == ["app.db", "app.jobs"]


def test_a_caller_that_never_mentions_sqlalchemy_decides_sqa501(tmp_path: Path):
    root = tmp_path / "engine_callers"
    copy_project(ENGINE_CALLERS, root)
    messages = [d.message for r in lint_paths([str(root)], Settings(), jobs=1) for d in r.diagnostics]
    assert len(messages) == 1 and "runs per call from a loop in `nightly`" in messages[0]
    (root / "app" / "jobs.py").write_text("from app.db import count_rows\n\nTOTAL = count_rows('sqlite://')\n")
    assert [d.code for r in lint_paths([str(root)], Settings(), jobs=1) for d in r.diagnostics] == []


def test_the_prefilter_resolves_project_names_through_imports():
    built = build_index(ENGINE_CALLERS, use_cache=False)
    views = ENGINE_CALLERS / "app" / "views.py"
    assert not might_have_findings(views.read_bytes(), Settings(), built, path=str(views))
    for uses in ("db.SessionLocal()", "db.engine.connect()", "app.db.SessionLocal()"):
        source = f"import app.db\nfrom app import db\n\n\ndef f():\n    return {uses}\n".encode()
        assert might_have_findings(source, Settings(), built, path=str(views)), uses
    relative = b"from .db import SessionLocal as S\n\n\ndef f():\n    return S()\n"
    assert might_have_findings(relative, Settings(), built, path=str(views))
    assert not might_have_findings(relative, Settings(), built, path=str(ENGINE_CALLERS / "elsewhere.py"))


# -- the index cache ------------------------------------------------------------------------


def test_an_unchanged_project_is_read_back_whole_and_a_change_redoes_only_that_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    root = tmp_path / "engine_callers"
    copy_project(ENGINE_CALLERS, root)
    first = build_index(root)
    parsed: list[str] = []  # one CPython parse gives a file's summary and what its names resolve to
    real_summarize = index_module._summarize_file
    monkeypatch.setattr(
        index_module, "_summarize_file", lambda path, *rest: parsed.append(path.name) or real_summarize(path, *rest)
    )
    again = build_index(root)
    assert (sorted(again.modules), again.digest()) == (sorted(first.modules), first.digest())
    assert parsed == []
    jobs = root / "app" / "jobs.py"
    jobs.write_text(jobs.read_text() + "\n\ndef weekly(urls):\n    for url in urls:\n        count_rows(url)\n")
    changed = build_index(root)
    assert parsed == ["jobs.py"]
    assert changed.digest() != first.digest()


def test_a_damaged_index_cache_is_rebuilt(tmp_path: Path):
    root = tmp_path / "engine_callers"
    copy_project(ENGINE_CALLERS, root)
    first = build_index(root)
    (cache_file,) = (root / ".sqla_lint_cache").glob("index-*.json")
    for damage in (b"", cache_file.read_bytes()[: cache_file.stat().st_size // 2], b'{"files": [], "tree": 3}'):
        cache_file.write_bytes(damage)
        rebuilt = build_index(root)
        assert (sorted(rebuilt.modules), rebuilt.digest()) == (sorted(first.modules), first.digest())


def test_a_summary_damaged_in_a_well_formed_cache_is_searched_again(tmp_path: Path):
    """The summaries of an unchanged tree are decoded when first asked for; one that no
    longer decodes (the file was edited by hand) sends the build back to a search."""
    import json

    root = tmp_path / "engine_callers"
    copy_project(ENGINE_CALLERS, root)
    first = build_index(root)
    (cache_file,) = (root / ".sqla_lint_cache").glob("index-*.json")
    data = json.loads(cache_file.read_text())
    for entry in data["files"].values():
        if "summary" in entry:
            entry["summary"] = {"not": "a summary"}
    cache_file.write_text(json.dumps(data))
    again = build_index(root)
    assert (sorted(again.modules), again.digest()) == (sorted(first.modules), first.digest())
    assert again.modules == first.modules


def test_edits_that_cannot_change_the_index_skip_the_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A comment in a seed module, a new unrelated module: the index stays as it was, with
    only the edited seed summarised again; a new module that uses a tracked name, or an
    edit that changes a summary, searches again and finds the change."""
    root = tmp_path / "engine_callers"
    copy_project(ENGINE_CALLERS, root)
    first = build_index(root)
    summarised: list[str] = []
    real_summarize = index_module._summarize_file
    monkeypatch.setattr(
        index_module, "_summarize_file", lambda path, *rest: summarised.append(path.name) or real_summarize(path, *rest)
    )
    searches: list[int] = []
    real_search = index_module._Build.search
    monkeypatch.setattr(index_module._Build, "search", lambda self, cache: searches.append(1) or real_search(self, cache))
    db = root / "app" / "db.py"
    db.write_text(db.read_text() + "# a comment\n")
    (root / "app" / "cli.py").write_text("import sys\n\n\ndef main():\n    return sys.argv\n")
    again = build_index(root)
    assert (sorted(again.modules), again.digest(), summarised, searches) == (sorted(first.modules), first.digest(), ["db.py"], [])
    (root / "app" / "report.py").write_text("from app.db import SessionLocal\n\n\ndef f():\n    return SessionLocal()\n")
    grown = build_index(root)
    assert searches == [1] and "app.report" in grown.modules
    db.write_text(db.read_text() + "OTHER = sessionmaker()\n")
    changed = build_index(root)
    assert searches == [1, 1] and changed.digest() != grown.digest()
    assert lint_paths([str(root)], Settings(), jobs=1)  # and the findings follow
