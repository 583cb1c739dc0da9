"""The CLI as users run it: a real subprocess, real exit codes, real output."""

from __future__ import annotations

import json
from pathlib import Path

from sqla_lint.rules import ALL_RULES
from sqla_lint.rules.catalogue import PREVIEW_CODES

from .conftest import REPO

LEAK = "from sqlalchemy.orm import Session\n\ndef f(engine):\n    s = Session(engine)\n    return s.query(1).all()\n"
CLEAN = "from sqlalchemy.orm import Session\n\ndef f(engine):\n    with Session(engine) as s:\n        return s.query(1).all()\n"


def test_example_app_reports_every_rule(cli):
    result = cli("check", "examples/shop", cwd=REPO)
    assert result.returncode == 1, result.stderr
    codes = {line.split(": ")[1].split()[0] for line in result.stdout.splitlines() if line.startswith("examples/")}
    assert codes == {rule.CODE for rule in ALL_RULES} - PREVIEW_CODES
    assert result.stdout.rstrip().endswith("Found 11 errors.")
    preview = cli("check", "--preview", "examples/shop", cwd=REPO)
    codes = {line.split(": ")[1].split()[0] for line in preview.stdout.splitlines() if line.startswith("examples/")}
    assert codes == {rule.CODE for rule in ALL_RULES}
    assert "examples/shop/api.py:159:27: SQA406 AsyncSession `session`" in preview.stdout
    assert "examples/shop/workers.py:118:15: SQA504 ConnectionPool `search_pool`" in preview.stdout
    assert preview.stdout.rstrip().endswith("Found 15 errors.")


def test_budget_of_the_example_app(cli):
    result = cli("budget", "examples/shop", cwd=REPO)
    assert result.returncode == 1, result.stderr
    table = "\n".join(" ".join(line.split()) for line in result.stdout.splitlines())  # column widths aside
    for expected in (
        "async_engine db.py:35 pool_size=10 + max_overflow=10 (default) 20",
        "_warehouse_engines[url] api.py:31 pool_size=2 + max_overflow=0 2",
        "get_reporting_engine() db.py:76 pool_size=2 + max_overflow=0 2",
        "made per call (request handler `warehouse_stock`; SQA501): not part of the steady-state sum",
        "one per key of a cache: counted once",
        "workers 4 (`workers = 4`, gunicorn.conf.py:11)",
        "total 284 (71 x 4)",
        "over budget by 187",
    ):
        assert expected in table, result.stdout


def test_exit_codes(cli, tmp_path: Path):
    (tmp_path / "leak.py").write_text(LEAK)
    (tmp_path / "clean.py").write_text(CLEAN)
    assert cli("check", str(tmp_path / "clean.py")).returncode == 0
    leaked = cli("check", str(tmp_path / "leak.py"))
    assert leaked.returncode == 1
    assert f"{tmp_path / 'leak.py'}:4:9: SQA401 Session `s` is never closed" in leaked.stdout
    assert cli("check", "--exit-zero", str(tmp_path / "leak.py")).returncode == 0


def test_usage_errors_are_one_line_and_exit_2(cli, tmp_path: Path):
    for args, text in (
        (("check", str(tmp_path / "missing.py")), "No such file or directory"),
        (("check", "--select", "SQA999", str(tmp_path)), "unknown rule selector 'SQA999'"),
        (("check", "--bogus"), "unrecognized arguments: --bogus"),
        (("check", "--output-format", "xml", str(tmp_path)), "invalid choice"),
        (("rule", "SQA999"), "unknown rule code"),
    ):
        result = cli(*args)
        assert result.returncode == 2, args
        assert text in result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_select_ignore_and_prefixes(cli, tmp_path: Path):
    source = tmp_path / "app.py"
    source.write_text(LEAK + "\n\ndef g(engine):\n    c = engine.connect()\n")
    source.write_text(LEAK.replace("def f(engine):", "def f(engine: Engine):").replace(
        "from sqlalchemy.orm import Session", "from sqlalchemy import Engine\nfrom sqlalchemy.orm import Session"
    ) + "\n\ndef g(engine: Engine):\n    c = engine.connect()\n    c.execute(1)\n")
    everything = cli("check", str(source)).stdout
    assert "SQA401" in everything and "SQA503" in everything
    only_sessions = cli("check", "--select", "SQA4", str(source)).stdout
    assert "SQA401" in only_sessions and "SQA503" not in only_sessions
    ignored = cli("check", "--ignore", "SQA401", str(source)).stdout
    assert "SQA401" not in ignored and "SQA503" in ignored


def test_json_output_shape(cli, tmp_path: Path):
    (tmp_path / "leak.py").write_text(LEAK)
    result = cli("check", "--output-format", "json", str(tmp_path / "leak.py"))
    data = json.loads(result.stdout)
    assert len(data) == 1
    entry = data[0]
    assert entry["code"] == "SQA401"
    assert entry["filename"] == str(tmp_path / "leak.py")
    assert entry["location"] == {"row": 4, "column": 9}
    assert entry["end_location"]["row"] == 4
    assert entry["fix"] is None or set(entry["fix"]) == {"applicability", "message", "edits"}
    assert entry["url"].endswith("SQA401.md")
    assert "`s`" in entry["message"]


def test_full_output_shows_source_line(cli, tmp_path: Path):
    (tmp_path / "leak.py").write_text(LEAK)
    result = cli("check", "--output-format", "full", str(tmp_path / "leak.py"))
    assert "    4 |     s = Session(engine)" in result.stdout
    assert "^^^^^^^^^^^^^^^" in result.stdout


def test_syntax_error_is_a_finding_and_run_goes_on(cli, tmp_path: Path):
    (tmp_path / "broken.py").write_text("from sqlalchemy.orm import Session\ndef f(:\n")
    (tmp_path / "leak.py").write_text(LEAK)
    result = cli("check", str(tmp_path))
    assert result.returncode == 1
    assert "broken.py:2:" in result.stdout and "SQA001" in result.stdout
    assert "leak.py:4:9: SQA401" in result.stdout
    assert "Traceback" not in result.stderr


def test_directory_walk_skips_virtualenvs_and_gitignored(cli, tmp_path: Path):
    import subprocess

    for relative in ("app/leak.py", ".venv/lib/leak.py", "node_modules/x/leak.py", "generated/leak.py", "env2/leak.py"):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(LEAK)
    (tmp_path / "env2" / "pyvenv.cfg").write_text("home = /usr\n")
    (tmp_path / ".gitignore").write_text("generated/\nenv2/\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    result = cli("check", ".", cwd=tmp_path)
    reported = {line.split(":")[0] for line in result.stdout.splitlines() if "SQA401" in line}
    assert reported == {"app/leak.py"}


def test_force_exclude_applies_to_named_files(cli, tmp_path: Path):
    venv_file = tmp_path / ".venv" / "leak.py"
    venv_file.parent.mkdir()
    venv_file.write_text(LEAK)
    assert cli("check", str(venv_file)).returncode == 1
    assert cli("check", "--force-exclude", str(venv_file)).returncode == 0


def test_stdin(cli):
    result = cli("check", "-", "--stdin-filename", "app/db.py", input=LEAK)
    assert result.returncode == 1
    assert result.stdout.startswith("app/db.py:4:9: SQA401")


def test_rule_and_rules_commands(cli):
    page = cli("rule", "SQA401")
    assert page.returncode == 0
    for heading in ("# SQA401 session-not-closed", "## What it does", "## Why is this bad?", "## Example", "## Use instead"):
        assert heading in page.stdout
    listing = cli("rules", "--output-format", "json")
    codes = [row["code"] for row in json.loads(listing.stdout)]
    assert codes == ["SQA001", *sorted(rule.CODE for rule in ALL_RULES)]


def test_noqa_suppresses(cli, tmp_path: Path):
    source = LEAK.replace("s = Session(engine)", "s = Session(engine)  # noqa: SQA401")
    (tmp_path / "a.py").write_text(source)
    assert cli("check", str(tmp_path / "a.py")).returncode == 0
    (tmp_path / "b.py").write_text(LEAK.replace("s = Session(engine)", "s = Session(engine)  # noqa: SQA503"))
    assert cli("check", str(tmp_path / "b.py")).returncode == 1
    (tmp_path / "c.py").write_text("# sqla-lint: noqa\n" + LEAK)
    assert cli("check", str(tmp_path / "c.py")).returncode == 0


def test_config_file_is_discovered_and_validated(cli, tmp_path: Path):
    (tmp_path / "leak.py").write_text(LEAK)
    (tmp_path / "pyproject.toml").write_text('[tool.sqla-lint]\nignore = ["SQA401"]\n')
    assert cli("check", ".", cwd=tmp_path).returncode == 0
    assert cli("check", "--isolated", ".", cwd=tmp_path).returncode == 1
    (tmp_path / "pyproject.toml").write_text('[tool.sqla-lint]\nignroe = ["SQA401"]\n')
    bad = cli("check", ".", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown key 'ignroe'" in bad.stderr


POOL = "from psycopg_pool import AsyncConnectionPool\n\npool = AsyncConnectionPool('postgresql://db/app')\n"


def test_preview_rules_run_with_preview_or_their_exact_code(cli, tmp_path: Path):
    """SQA504 is in preview: --preview, `preview = true` or its exact code runs it; a prefix or ALL does not."""
    source = tmp_path / "pools.py"
    source.write_text(POOL)
    for args in ((), ("--select", "SQA5"), ("--select", "ALL"), ("--extend-select", "SQA5"), ("--preview", "--ignore", "SQA504")):
        result = cli("check", "--isolated", "--no-cache", *args, str(source))
        assert result.returncode == 0 and result.stdout == "", args
    for args in (("--preview",), ("--select", "SQA504"), ("--select", "sqa504,SQA4"), ("--extend-select", "SQA504")):
        result = cli("check", "--isolated", "--no-cache", *args, str(source))
        assert result.returncode == 1, args
        assert f"{source}:3:8: SQA504 AsyncConnectionPool `pool` is opened in its constructor" in result.stdout, args
    (tmp_path / "pyproject.toml").write_text("[tool.sqla-lint]\npreview = true\n")
    assert "SQA504" in cli("check", str(source), cwd=tmp_path).stdout
    assert cli("check", "--no-preview", str(source), cwd=tmp_path).returncode == 0
    listing = {row["code"]: row["preview"] for row in json.loads(cli("rules", "--output-format", "json").stdout)}
    assert listing["SQA504"] is True and listing["SQA401"] is False
    assert "(preview)" in cli("rules").stdout.splitlines()[[r.CODE for r in ALL_RULES].index("SQA504") + 1]
    assert "This rule is in **preview**" in cli("rule", "SQA504").stdout


def test_preview_results_are_cached_apart(cli, tmp_path: Path):
    """The same tree linted with and without preview: each run reports its own findings."""
    (tmp_path / "pools.py").write_text(POOL)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'pools'\n")
    assert cli("check", ".", cwd=tmp_path).returncode == 0
    assert "SQA504" in cli("check", "--preview", ".", cwd=tmp_path).stdout
    assert cli("check", ".", cwd=tmp_path).returncode == 0
