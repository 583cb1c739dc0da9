"""A real flake8 run reports exactly what the CLI reports."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sqla_lint import DISTRIBUTION, __version__
from sqla_lint.rules.catalogue import PREVIEW_CODES

from .conftest import REPO, run_cli

LEAK = "from sqlalchemy.orm import Session\n\ndef f(engine):\n    s = Session(engine)\n    return s.query(1).all()\n"


def _flake8(*args: str, cwd: Path = REPO, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flake8", "--isolated", *args],
        cwd=cwd, input=input, capture_output=True, text=True, timeout=300,
    )


def _triples(output: str) -> set[tuple[str, int, str]]:
    found = set()
    for line in output.splitlines():
        path, row, _column, rest = line.split(":", 3)
        found.add((path, int(row), rest.split()[0]))
    return found


def test_plugin_is_registered():
    """flake8 names a plugin by its distribution (and wraps the line, so whitespace is dropped)."""
    result = _flake8("--version")
    assert f"{DISTRIBUTION}:{__version__}" in re.sub(r"\s+", "", result.stdout), result.stdout


@pytest.mark.parametrize(("flake8_preview", "cli_preview", "count"), [((), (), 11), (("--sqla-preview",), ("--preview",), 15)])
def test_same_findings_as_cli_on_example_app(flake8_preview: tuple[str, ...], cli_preview: tuple[str, ...], count: int):
    flake8 = _flake8("--select", "SQA", *flake8_preview, "examples/shop")
    cli = run_cli("check", *cli_preview, "examples/shop", cwd=REPO)
    assert flake8.returncode == 1
    cli_triples = _triples("\n".join(l for l in cli.stdout.splitlines() if l.startswith("examples/")))
    assert _triples(flake8.stdout) == cli_triples
    assert len(cli_triples) == count


@pytest.mark.parametrize(("flake8_preview", "cli_preview"), [((), ()), (("--sqla-preview",), ("--preview",))])
def test_same_findings_on_fixtures_with_two_jobs(flake8_preview: tuple[str, ...], cli_preview: tuple[str, ...]):
    fixtures = "tests/fixtures/rules"
    flake8 = _flake8("--select", "SQA", "--jobs", "2", *flake8_preview, fixtures)
    cli = run_cli("check", "--isolated", *cli_preview, fixtures, cwd=REPO)
    cli_lines = [l for l in cli.stdout.splitlines() if l.startswith(fixtures)]
    assert _triples(flake8.stdout) == _triples("\n".join(cli_lines))
    assert {l.removeprefix("./") for l in flake8.stdout.splitlines() if ": SQA" in l} == set(cli_lines)  # same words
    assert len(cli_lines) > 100
    preview_codes = {code for _path, _row, code in _triples(flake8.stdout)} & PREVIEW_CODES
    assert preview_codes == (PREVIEW_CODES if flake8_preview else set())


POOL = "from psycopg_pool import AsyncConnectionPool\n\npool = AsyncConnectionPool('postgresql://db/app')\n"


def test_preview_rules_under_flake8(tmp_path: Path):
    """flake8 owns select, which cannot ask for preview rules by prefix: --sqla-preview, the
    table's `preview = true`, or flake8's own --select / --extend-select naming the exact code."""
    source = tmp_path / "pools.py"
    source.write_text(POOL)
    assert _flake8("--select", "SQA", str(source)).stdout == ""
    assert _flake8("--select", "SQA5", str(source)).stdout == ""
    for args in (("--select", "SQA", "--sqla-preview"), ("--select", "SQA504"), ("--select", "E9", "--extend-select", "SQA504")):
        result = _flake8(*args, str(source))
        assert result.stdout.startswith(f"{source}:3:8: SQA504 AsyncConnectionPool `pool`"), (args, result.stdout, result.stderr)
    (tmp_path / "pyproject.toml").write_text("[tool.sqla-lint]\npreview = true\n")
    assert ":3:8: SQA504" in _flake8("--select", "SQA", "pools.py", cwd=tmp_path).stdout
    (tmp_path / "pyproject.toml").unlink()
    for flake8_config, fires in (("select = SQA\nsqla-preview = true\n", True), ("select = SQA504\n", True), ("select = SQA\n", False)):
        (tmp_path / "setup.cfg").write_text("[flake8]\n" + flake8_config)
        configured = subprocess.run([sys.executable, "-m", "flake8", "pools.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert (":3:8: SQA504" in configured.stdout) is fires, (flake8_config, configured.stdout, configured.stderr)


def test_stdin_and_noqa_owned_by_flake8():
    result = _flake8("--select", "SQA", "-", input=LEAK)
    assert result.stdout.startswith("stdin:4:9: SQA401")
    suppressed = _flake8("--select", "SQA", "-", input=LEAK.replace("Session(engine)\n", "Session(engine)  # noqa: SQA401\n"))
    assert suppressed.returncode == 0 and suppressed.stdout == ""


def test_factory_options(tmp_path: Path):
    source = tmp_path / "svc.py"
    source.write_text("from app.db import make_session\n\ndef f():\n    s = make_session()\n    s.query(1)\n")
    assert _flake8("--select", "SQA", str(source)).stdout == ""
    configured = _flake8("--select", "SQA", "--sqla-session-factories", "app.db.make_session", str(source))
    assert ":4:9: SQA401" in configured.stdout



def test_connection_budget_reads_the_same_limits_as_the_cli(tmp_path: Path):
    """SQA506's workers and max-connections come from [tool.sqla-lint]; flake8 adds up alike.
    The Procfile's 2 workers would keep 10 per process within budget; the configured 5 do not."""
    project = tmp_path / "budget"
    (project / "app").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'app'\n\n[tool.sqla-lint]\nworkers = 5\nmax-connections = 40\n")
    (project / "app" / "__init__.py").write_text("")
    (project / "app" / "db.py").write_text(
        "from sqlalchemy import create_engine\n\nengine = create_engine('postgresql://db/app', pool_size=2, max_overflow=8)\n"
    )
    (project / "Procfile").write_text("web: gunicorn -w 2 app:app\n")
    flake8 = _flake8("--select", "SQA506", "app", cwd=project)
    cli = run_cli("check", "--select", "SQA506", "app", cwd=project)
    assert _triples(flake8.stdout) == _triples("\n".join(l for l in cli.stdout.splitlines() if l.startswith("app/"))) == {
        ("app/db.py", 3, "SQA506")
    }
    expected = "10 (app.db:3) = 10 per process x 5 processes (`workers = 5` in [tool.sqla-lint]) = 50 > 37"
    assert expected in flake8.stdout and expected in cli.stdout
