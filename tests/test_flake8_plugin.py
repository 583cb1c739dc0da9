"""A real flake8 run reports exactly what the CLI reports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
    result = _flake8("--version")
    assert "sqla-lint" in result.stdout


def test_same_findings_as_cli_on_example_app():
    flake8 = _flake8("--select", "SQA", "examples/shop")
    cli = run_cli("check", "examples/shop", cwd=REPO)
    assert flake8.returncode == 1
    cli_triples = _triples("\n".join(l for l in cli.stdout.splitlines() if l.startswith("examples/")))
    assert _triples(flake8.stdout) == cli_triples
    assert len(cli_triples) == 13  # 11, and SQA505 and SQA506 while they run without --preview


def test_same_findings_on_fixtures_with_two_jobs():
    fixtures = "tests/fixtures/rules"
    flake8 = _flake8("--select", "SQA", "--jobs", "2", fixtures)
    cli = run_cli("check", "--isolated", fixtures, cwd=REPO)
    cli_lines = [l for l in cli.stdout.splitlines() if l.startswith(fixtures)]
    assert _triples(flake8.stdout) == _triples("\n".join(cli_lines))
    assert len(cli_lines) > 100


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
