"""Suppression in the CLI: `# noqa` read as flake8 reads it, and file-level noqa."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import run_cli

# The anonymous session sits on the third line of a statement that starts on the second.
MULTILINE = """\
from sqlalchemy.orm import Session

def f(engine):
    rows = list(
        Session(engine).execute(1)
    )
    return rows

def g(engine):
    s = Session(engine)
    return s.query(1).all()
"""
CONNECTION = "from sqlalchemy import create_engine\nengine = create_engine('sqlite://')\n\ndef h():\n    c = engine.connect()\n    c.execute(1)\n"


def _rows(result: subprocess.CompletedProcess[str]) -> list[tuple[int, str]]:
    found = []
    for line in result.stdout.splitlines():
        if ": SQA" in line:
            _path, row, _column, rest = line.split(":", 3)
            found.append((int(row), rest.split()[0]))
    return found


def _flake8(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flake8", "--isolated", "--select", "SQA", str(path)], capture_output=True, text=True, timeout=300)


def test_reported_on_the_statements_first_line_and_flake8_agrees(tmp_path: Path):
    source = tmp_path / "m.py"
    source.write_text(MULTILINE)
    cli = run_cli("check", str(source))
    assert _rows(cli) == [(4, "SQA401"), (10, "SQA401")]
    assert f"{source}:4:5: SQA401" in cli.stdout
    assert _rows(_flake8(source)) == _rows(cli)


def test_noqa_lines_are_the_same_for_both_front_ends(tmp_path: Path):
    """flake8 joins only lines continued by a backslash or a multi-line string; so does the CLI."""
    for variant, expected in (
        (MULTILINE.replace("rows = list(\n", "rows = list(  # noqa: SQA401\n"), [(10, "SQA401")]),
        (MULTILINE.replace("    )\n    return rows", "    )  # noqa: SQA4\n    return rows"), [(4, "SQA401"), (10, "SQA401")]),
        (MULTILINE.replace("s = Session(engine)\n", "s = \\\n        Session(engine)  # noqa\n"), [(4, "SQA401")]),
    ):
        source = tmp_path / "m.py"
        source.write_text(variant)
        assert _rows(run_cli("check", str(source))) == expected
        assert _rows(_flake8(source)) == expected


def test_noqa_codes_and_prefixes(tmp_path: Path):
    source = tmp_path / "c.py"
    for comment, suppressed in (
        ("# noqa", True),
        ("# NOQA:SQA503", True),
        ("# noqa: SQA5", True),
        ("# noqa: E501,SQA503", True),
        ("# noqa: SQA401", False),
        ("# noqa: SQA50", True),
    ):
        source.write_text(CONNECTION.replace("c = engine.connect()", f"c = engine.connect()  {comment}"))
        result = run_cli("check", str(source))
        assert (result.returncode == 0) is suppressed, comment
        assert (_rows(_flake8(source)) == []) is suppressed, comment


def test_file_level_noqa_with_codes(tmp_path: Path):
    source = tmp_path / "c.py"
    both = CONNECTION + "\n\ndef f(engine):\n    from sqlalchemy.orm import Session\n    s = Session(engine)\n    s.query(1)\n"
    source.write_text("# sqla-lint: noqa: SQA5\n" + both)
    assert {code for _row, code in _rows(run_cli("check", str(source)))} == {"SQA401"}
    source.write_text("# sqla-lint: noqa: SQA401, SQA503\n" + both)
    assert run_cli("check", str(source)).returncode == 0
    source.write_text("# sqla-lint: noqa\n" + both)
    assert run_cli("check", str(source)).returncode == 0
    # Only a comment on its own line counts, and it does not swallow the next line's words.
    source.write_text("x = 1  # sqla-lint: noqa\n" + both)
    assert run_cli("check", str(source)).returncode == 1
    source.write_text("# sqla-lint: noqa: SQA5\nS = 1\n" + both)
    assert {code for _row, code in _rows(run_cli("check", str(source)))} == {"SQA401"}
