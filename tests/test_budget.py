"""SQA506's inputs and outputs: worker counts from deployment files, pool sites, the sum,
``sqla-lint budget`` (text and JSON), its configuration keys, and the result cache
following a deployment file."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from sqla_lint.deployment import find_worker_statements, worker_count
from sqla_lint.semantic.budget import BudgetLimits, Deployment, WorkerCount, connection_budget, per_call_note
from sqla_lint.semantic.pools import pool_sites

from .conftest import FIXTURES, copy_project

ASYNC_APP = FIXTURES / "projects" / "async_app"


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "number", "source"),
    [
        ({"gunicorn.conf.py": "bind = ':80'\nworkers = 6\n"}, 6, "gunicorn.conf.py:2"),
        ({"gunicorn.conf.py": "import os\nworkers = int(os.environ.get('WEB_CONCURRENCY', 3))\n"}, 3, "gunicorn.conf.py:2"),
        ({"Dockerfile": 'FROM python:3.12\nCMD ["gunicorn", "-w", "5", "app:app"]\n'}, 5, "Dockerfile:2"),
        ({"Procfile": "web: gunicorn -c deploy/gconf.py app:app\n", "deploy/gconf.py": "workers = 7\n"}, 7, "deploy/gconf.py:1"),
        ({"docker-compose.prod.yml": "services:\n  web:\n    environment:\n      WEB_CONCURRENCY: 9\n"}, 9, "docker-compose.prod.yml:4"),
        ({"Makefile": "run:\n\tuvicorn app:app --workers=4\n"}, 4, "Makefile:2"),
        ({"bin/start.sh": "#!/bin/sh\nexec hypercorn app:app \\\n  -w 8\n"}, 8, "bin/start.sh:2"),
        ({"start.sh": "export WEB_CONCURRENCY=2\n# gunicorn -w 64 (an old setting)\ngunicorn -w4 app:app\n"}, 4, "start.sh:3"),
        ({"Dockerfile": 'CMD gunicorn app:app --workers ${WEB_CONCURRENCY:-3}\n'}, 3, "Dockerfile:1"),
    ],
)
def test_worker_counts_are_read_from_deployment_files(tmp_path: Path, files: dict[str, str], number: int, source: str):
    statements = find_worker_statements(_write(tmp_path, files))
    count = worker_count(statements)
    assert (count.number, count.assumed) == (number, False)
    assert count.source.endswith(source)


def test_no_deployment_file_assumes_one_process_and_says_so(tmp_path: Path):
    _write(tmp_path, {"app.py": "workers = 12\n", "README.md": "run gunicorn -w 8\n"})
    count = worker_count(find_worker_statements(tmp_path))
    assert count == WorkerCount.assume_one()
    assert "1 process assumed" in count.source


def test_a_worker_count_from_the_machine_assumes_one_process_and_says_where(tmp_path: Path):
    _write(tmp_path, {"gunicorn.conf.py": "import multiprocessing\nworkers = multiprocessing.cpu_count() * 2 + 1\n"})
    count = worker_count(find_worker_statements(tmp_path))
    assert (count.number, count.assumed) == (1, True)
    assert count.source.startswith("`workers = multiprocessing.cpu_count() * 2 + 1` at gunicorn.conf.py:2 depends on the machine")


def test_configured_workers_override_deployment_files(tmp_path: Path):
    statements = find_worker_statements(_write(tmp_path, {"Procfile": "web: gunicorn -w 8 app:app\n"}))
    count = worker_count(statements, configured=2)
    assert count.number == 2 and "[tool.sqla-lint]" in count.source


def test_a_nested_project_keeps_its_deployment(tmp_path: Path):
    _write(tmp_path, {"pyproject.toml": "", "examples/shop/pyproject.toml": "", "examples/shop/Procfile": "web: gunicorn -w 8 a:b\n"})
    assert find_worker_statements(tmp_path) == []


def _sites(source: str):
    return pool_sites(ast.parse(source), "app.db")


def test_pool_sites_resolve_names_by_what_they_are():
    sites = _sites(
        "import sqlalchemy as sa\n"
        "from sqlalchemy.ext.asyncio import create_async_engine as make\n"
        "from myapp.fake import create_engine\n"
        "from psycopg_pool import ConnectionPool\n"
        "a = sa.create_engine(URL, pool_size=settings.size)\n"
        "b = make(URL, max_overflow=0)\n"
        "c = create_engine(URL, pool_size=500)\n"
        "d = ConnectionPool(URL, min_size=2)\n"
    )
    assert [(s.holder, s.line, s.constructor) for s in sites] == [
        ("a", 5, "sqlalchemy.create_engine"),
        ("b", 6, "sqlalchemy.ext.asyncio.create_async_engine"),
        ("d", 8, "psycopg_pool.ConnectionPool"),
    ]
    budget = connection_budget(sites, Deployment())
    assert [line.most for line in budget.lines] == [15, 5, 2]
    assert any("`pool_size=settings.size` is not a literal" in note for note in budget.lines[0].notes)
    assert budget.lines[0].formula == "pool_size=5 (default) + max_overflow=10 (default)"


def test_budget_leaves_out_per_call_engines_and_null_pools_and_says_why():
    sites = _sites(
        "from sqlalchemy import create_engine\n"
        "from sqlalchemy.pool import NullPool\n"
        "a = create_engine(URL, pool_size=30, max_overflow=0)\n"
        "b = create_engine(URL, poolclass=NullPool)\n"
        "def handler():\n"
        "    c = create_engine(URL, pool_size=50)\n"
        "u = create_engine(URL, max_overflow=-1)\n"
    )
    deployment = Deployment(WorkerCount(4, "Procfile:1"), BudgetLimits(100, 3))
    budget = connection_budget(sites, deployment, lambda site: per_call_note("request handler `handler`") if site.function == "handler" else None)
    assert [line.most for line in budget.lines] == [30, None, None, None]
    assert "NullPool" in budget.lines[1].notes[0] and "per checkout" in budget.lines[1].notes[0]
    assert "made per call (request handler `handler`; SQA501)" in budget.lines[2].notes[0]
    assert budget.lines[3].unbounded
    assert (budget.per_process, budget.total, budget.exceeded) == (30, 120, True)
    assert budget.arithmetic() == (
        "30 (app.db:3) = 30 per process x 4 processes (Procfile:1) = 120 > 97 "
        "(max-connections 100 - reserved-connections 3)"
    )


def test_pools_in_different_branches_are_alternatives_and_the_largest_counts():
    """One process makes the pools of one branch of an ``if`` / ``match``: a SQLite or a
    PostgreSQL engine, a pgvector client's pooled or null-pooled engine. The branch that
    holds the most counts; what runs whatever the branch counts too."""
    sites = _sites(
        "from sqlalchemy import create_engine\n"
        "import psycopg_pool\n"
        "if POSTGRES:\n"  # 3
        "    main = create_engine(URL, pool_size=20, max_overflow=0)\n"
        "elif MYSQL:\n"  # 5
        "    main = create_engine(URL, pool_size=8, max_overflow=0)\n"
        "    extra = create_engine(URL, pool_size=8, max_overflow=0)\n"
        "else:\n"
        "    main = create_engine(URL, pool_size=1, max_overflow=0)\n"
        "always = create_engine(URL, pool_size=2, max_overflow=0)\n"
        "def make(kind):\n"
        "    match kind:\n"  # 12
        "        case 'a':\n"
        "            return psycopg_pool.ConnectionPool(URL, max_size=6)\n"
        "        case _:\n"
        "            return psycopg_pool.ConnectionPool(URL, max_size=9)\n"
        "spare = create_engine(URL, pool_size=3, max_overflow=0) if FLAG else create_engine(URL, pool_size=4, max_overflow=0)\n"
    )
    assert [site.branches for site in sites] == [((3, 0),), ((3, 1), (5, 0)), ((3, 1), (5, 0)), ((3, 1), (5, 1)), (), ((12, 0),), ((12, 1),), ((17, 0),), ((17, 1),)]
    budget = connection_budget(sites, Deployment(WorkerCount(1, "Procfile:1"), BudgetLimits(100, 3)))
    assert [line.most for line in budget.lines] == [20, None, None, None, 2, None, 9, None, 4]
    assert "an alternative to app.db:4" in budget.lines[1].notes[-1]
    assert "an alternative to app.db:16" in budget.lines[5].notes[-1]
    assert budget.per_process == 20 + 2 + 9 + 4
    # Once the MySQL branch holds more, both of its engines count and the others drop out.
    heavier = _sites(
        "from sqlalchemy import create_engine\n"
        "if POSTGRES:\n"
        "    main = create_engine(URL, pool_size=10, max_overflow=0)\n"
        "else:\n"
        "    main = create_engine(URL, pool_size=8, max_overflow=0)\n"
        "    extra = create_engine(URL, pool_size=8, max_overflow=0)\n"
    )
    assert [line.most for line in connection_budget(heavier, Deployment()).lines] == [None, 8, 8]


def test_budget_command_prints_the_table_and_exits_1_over_budget(tmp_path: Path, cli):
    project = tmp_path / "async_app"
    copy_project(ASYNC_APP, project)
    text = cli("budget", str(project))
    assert text.returncode == 1, text.stderr
    table = "\n".join(" ".join(line.split()) for line in text.stdout.splitlines())  # column widths aside
    for expected in (
        "reporting_engine app/db.py:11 pool_size=30 + max_overflow=10 40",
        "migration_engine app/db.py:14 NullPool not counted",
        "NullPool keeps no pool",
        "workers 3 (`gunicorn --workers 3`, Procfile:1)",
        "stated: `uvicorn --workers 2` at deploy/run.sh:3",
        "total 255 (85 x 3)",
        "budget 97 (max-connections 100 - reserved-connections 3)",
        "over budget by 158",
    ):
        assert expected in table, text.stdout
    data = json.loads(cli("budget", "--output-format", "json", str(project)).stdout)
    assert (data["per_process"], data["total"], data["available"], data["exceeded"]) == (85, 255, 97, True)
    assert data["workers"]["source"] == "`gunicorn --workers 3`, Procfile:1"
    assert [(p["name"], p["filename"], p["line"], p["most_per_process"]) for p in data["pools"]] == [
        ("engine", "app/db.py", 6, 30),
        ("audit_engine", "app/db.py", 9, 15),
        ("reporting_engine", "app/db.py", 11, 40),
        ("migration_engine", "app/db.py", 14, None),
    ]
    within = cli("budget", "--workers", "1", "--max-connections", "500", str(project))
    assert within.returncode == 0 and "within budget (412 to spare)" in within.stdout


def test_budget_configuration_keys_are_validated(tmp_path: Path, cli):
    project = tmp_path / "async_app"
    copy_project(ASYNC_APP, project)
    pyproject = project / "pyproject.toml"
    base = pyproject.read_text()
    pyproject.write_text(base + "\n[tool.sqla-lint]\nworkers = 1\nmax-connections = 200\nreserved-connections = 10\n")
    configured = cli("budget", str(project))
    assert configured.returncode == 0, configured.stdout
    assert "`workers = 1` in [tool.sqla-lint]" in configured.stdout and "190  (max-connections 200 - reserved-connections 10)" in configured.stdout
    for bad, message in (
        ("max-connections = '100'", "'max-connections' must be a whole number"),
        ("workers = 0", "'workers' must be a whole number of at least 1"),
        ("reserved-connections = 100", "'reserved-connections' (100) must be less than 'max-connections' (100)"),
        ("max-conections = 10", "unknown key 'max-conections'"),
    ):
        pyproject.write_text(base + f"\n[tool.sqla-lint]\n{bad}\n")
        for command in (("budget", str(project)), ("check", str(project))):
            result = cli(*command)
            assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, (bad, result.stderr)


def test_check_follows_a_changed_deployment_file_through_the_cache(tmp_path: Path, cli):
    project = tmp_path / "async_app"
    copy_project(ASYNC_APP, project)
    first = cli("check", "--select", "SQA506", str(project))
    assert first.returncode == 1 and "x 3 processes (`gunicorn --workers 3`, Procfile:1)" in first.stdout
    (project / "Procfile").write_text("web: gunicorn app.main:app --workers 1\n")
    (project / "deploy" / "run.sh").unlink()
    second = cli("check", "--select", "SQA506", str(project))
    assert second.returncode == 0, second.stdout


@pytest.mark.parametrize(
    ("module", "source", "apart"),
    [
        ("tests.conftest", "from sqlalchemy import create_engine\ne = create_engine(URL, pool_size=99)\n", "test code"),
        ("app.test_db", "from sqlalchemy import create_engine\ne = create_engine(URL, pool_size=99)\n", "test code"),
        ("migrations.env", "from alembic import context\nfrom sqlalchemy import engine_from_config\ne = engine_from_config(c)\n", "a migration environment (alembic)"),
        ("app.db", "from sqlalchemy import create_engine\nif __name__ == '__main__':\n    e = create_engine(URL)\n", "a `__main__` block"),
        ("app.db", "from sqlalchemy import create_engine\ne = create_engine(URL)\n", None),
    ],
)
def test_engines_apart_from_the_deployed_processes_are_not_counted(module: str, source: str, apart: str | None):
    (site,) = pool_sites(ast.parse(source), module)
    assert site.apart == apart
    (line,) = connection_budget([site], Deployment()).lines
    assert (line.most is None) == (apart is not None)
