"""`--add-noqa`: a suppression for every finding the run would report, written in place."""

from __future__ import annotations

from pathlib import Path

from .conftest import run_cli
from .test_noqa import CONNECTION, MULTILINE, _rows


def test_add_noqa_suppresses_every_current_finding(tmp_path: Path):
    (tmp_path / "m.py").write_text(MULTILINE)
    (tmp_path / "c.py").write_bytes(CONNECTION.replace("c = engine.connect()", "c = engine.connect()  # noqa: E501").replace("\n", "\r\n").encode())
    result = run_cli("check", "--add-noqa", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "added 3 noqa comments in 2 files" in result.stderr
    multiline = (tmp_path / "m.py").read_text()
    assert "    rows = list(  # noqa: SQA401\n" in multiline
    assert "    s = Session(engine)  # noqa: SQA401\n" in multiline
    assert b"    c = engine.connect()  # noqa: E501, SQA503\r\n" in (tmp_path / "c.py").read_bytes()
    assert (tmp_path / "c.py").read_bytes().count(b"\r\n") == CONNECTION.count("\n")
    assert run_cli("check", ".", cwd=tmp_path).returncode == 0
    again = run_cli("check", "--add-noqa", ".", cwd=tmp_path)
    assert again.returncode == 0 and "added 0 noqa comments in 0 files" in again.stderr
    assert (tmp_path / "m.py").read_text() == multiline


def test_add_noqa_never_writes_inside_a_string(tmp_path: Path):
    source = tmp_path / "s.py"
    text = 'from sqlalchemy.orm import Session\n\ndef f(engine):\n    s = Session(engine); doc = """\n    text\n    """\n    return s\n\ndef g(engine):\n    t = Session(engine); t.query(1)\n'
    source.write_text(text)
    before = run_cli("check", str(source))
    assert _rows(before) == [(10, "SQA401")]
    text = text.replace("return s\n", "s.query(1)\n")
    source.write_text(text)
    assert _rows(run_cli("check", str(source))) == [(4, "SQA401"), (10, "SQA401")]
    result = run_cli("check", "--add-noqa", str(source))
    assert result.returncode == 0
    assert f"cannot add a noqa comment at {source}:4" in result.stderr
    written = source.read_text()
    assert written == text.replace("t.query(1)\n", "t.query(1)  # noqa: SQA401\n")
    compile(written, str(source), "exec")


def test_add_noqa_rejects_stdin():
    result = run_cli("check", "--add-noqa", "-", input="x = 1\n")
    assert result.returncode == 2 and "cannot read from stdin" in result.stderr
