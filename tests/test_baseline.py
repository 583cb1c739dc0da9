"""The baseline: write it, hide what it records, survive code moving, report and prune stale entries."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .conftest import run_cli

HEADER = "from sqlalchemy.orm import Session\n"
OLD = "\n\ndef old(engine):\n    s = Session(engine)\n    return s.query(1).all()\n"
OTHER = "\n\ndef other(engine):\n    s = Session(engine)\n    return s.query(1).all()\n"
NEW = "\n\ndef new(engine):\n    db = Session(engine)\n    return db.query(2).all()\n"
CONNECTION = "from sqlalchemy import create_engine\nengine = create_engine('sqlite://')\n\ndef h():\n    c = engine.connect()\n    c.execute(1)\n"


def _rows(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stdout.splitlines() if ": SQA" in line]


def _entries(path: Path) -> list[dict]:
    return json.loads(path.read_text())["entries"]


def test_write_then_check_hides_old_findings(tmp_path: Path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "db.py").write_text(HEADER + OLD + OTHER)
    (tmp_path / "app" / "conn.py").write_text(CONNECTION)
    written = run_cli("check", ".", "--write-baseline", cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert "wrote 3 baseline entries (3 findings) to sqla-lint-baseline.json" in written.stderr
    baseline = tmp_path / "sqla-lint-baseline.json"
    text = baseline.read_text()
    lines = text.splitlines()
    assert lines[0] == '{"sqla-lint-baseline": 1, "entries": [' and lines[-1] == "]}"
    entries = _entries(baseline)
    assert [(e["path"], e["code"], e["scope"], e["count"]) for e in entries] == [
        ("app/conn.py", "SQA503", "h", 1),
        ("app/db.py", "SQA401", "old", 1),
        ("app/db.py", "SQA401", "other", 1),
    ]
    assert len(lines) == 2 + len(entries)  # one entry per line
    assert entries[1]["statement"] == "s = Session ( engine )"

    clean = run_cli("check", "--baseline", "sqla-lint-baseline.json", ".", cwd=tmp_path)
    assert clean.returncode == 0 and clean.stdout == ""
    assert "3 findings hidden by the baseline sqla-lint-baseline.json" in clean.stderr

    # Code moves down, a new function is added above the old ones, and a new leak appears.
    (tmp_path / "app" / "db.py").write_text(HEADER + "import os\n\n" + NEW + OTHER + "\n\n# moved\n" + OLD)
    gated = run_cli("check", "--baseline", "sqla-lint-baseline.json", ".", cwd=tmp_path)
    assert gated.returncode == 1
    assert _rows(gated) == ["app/db.py:7:10: SQA401 Session `db` is never closed; open it with `with Session(engine) as db:` or close it in `finally`"]
    assert "3 findings hidden" in gated.stderr
    assert "stale baseline" not in gated.stderr


def test_counts_and_identical_statements(tmp_path: Path):
    body = HEADER + "\n\ndef twice(engine):\n    a = Session(engine)\n    a = Session(engine)\n    return a\n"
    (tmp_path / "m.py").write_text(body.replace("return a", "a.query(1)"))
    run_cli("check", "--write-baseline", "b.json", ".", cwd=tmp_path)
    assert [e["count"] for e in _entries(tmp_path / "b.json")] == [2]
    (tmp_path / "m.py").write_text(body.replace("return a", "a = Session(engine)\n    a.query(1)"))
    third = run_cli("check", "--baseline", "b.json", ".", cwd=tmp_path)
    assert third.returncode == 1 and len(_rows(third)) == 1
    assert "2 findings hidden" in third.stderr


def test_stale_entries_are_reported_and_pruned(tmp_path: Path):
    (tmp_path / "db.py").write_text(HEADER + OLD + OTHER)
    (tmp_path / "conn.py").write_text(CONNECTION)
    (tmp_path / "pyproject.toml").write_text('[tool.sqla-lint]\nbaseline = "lint/baseline.json"\n')
    assert run_cli("check", ".", "--write-baseline", cwd=tmp_path).returncode == 0
    baseline = tmp_path / "lint" / "baseline.json"
    assert [e["path"] for e in _entries(baseline)] == ["../conn.py", "../db.py", "../db.py"]

    (tmp_path / "db.py").write_text(HEADER + OLD.replace("return s.query(1).all()", "try:\n        return s.query(1).all()\n    finally:\n        s.close()") + OTHER)
    # A run that does not check conn.py, or SQA503, does not call its entry stale.
    partial = run_cli("check", "db.py", cwd=tmp_path)
    assert partial.returncode == 0
    assert "stale baseline entry (fixed?): ../db.py SQA401 old: s = Session ( engine )" in partial.stderr
    assert "1 baseline finding no longer found; --prune-baseline removes stale entries" in partial.stderr
    assert "conn.py" not in partial.stderr
    assert "conn.py" not in run_cli("check", "--select", "SQA4", ".", cwd=tmp_path).stderr

    pruned = run_cli("check", "--prune-baseline", ".", cwd=tmp_path)
    assert pruned.returncode == 0
    assert "removed 1 stale baseline finding from lint/baseline.json" in pruned.stderr
    assert [(e["path"], e["scope"]) for e in _entries(baseline)] == [("../conn.py", "h"), ("../db.py", "other")]
    assert "stale baseline" not in run_cli("check", ".", cwd=tmp_path).stderr

    (tmp_path / "conn.py").unlink()  # a deleted file's entries are stale whatever is linted
    assert "stale baseline entry (fixed?): ../conn.py SQA503" in run_cli("check", "db.py", cwd=tmp_path).stderr


def test_write_baseline_keeps_entries_outside_the_run(tmp_path: Path):
    (tmp_path / "a.py").write_text(HEADER + OLD)
    (tmp_path / "b.py").write_text(HEADER + OTHER)
    run_cli("check", "--write-baseline", "base.json", ".", cwd=tmp_path)
    (tmp_path / "a.py").write_text(HEADER + OLD + NEW)
    run_cli("check", "--write-baseline", "base.json", "a.py", cwd=tmp_path)
    assert [(e["path"], e["scope"]) for e in _entries(tmp_path / "base.json")] == [("a.py", "new"), ("a.py", "old"), ("b.py", "other")]


def test_baseline_errors(tmp_path: Path):
    (tmp_path / "a.py").write_text(HEADER + OLD)
    for args, message in (
        (("--baseline", "missing.json"), "baseline missing.json does not exist; create it with --write-baseline"),
        (("--prune-baseline",), "--prune-baseline needs a baseline"),
        (("--write-baseline", "x.json", "--baseline", "y.json"), "cannot be combined"),
        (("--write-baseline", "."), "--write-baseline .: is a directory; name a file, or put the paths to lint before the flag"),
    ):
        result = run_cli("check", *args, ".", cwd=tmp_path)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    (tmp_path / "bad.json").write_text('{"entries": []}')
    bad = run_cli("check", "--baseline", "bad.json", ".", cwd=tmp_path)
    assert bad.returncode == 2 and "is not a sqla-lint baseline" in bad.stderr
    (tmp_path / "bad.json").write_text("{")
    assert "is not valid JSON" in run_cli("check", "--baseline", "bad.json", ".", cwd=tmp_path).stderr
