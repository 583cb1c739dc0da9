"""``--fix``, ``--diff``, ``--unsafe-fixes``, ``--show-fixes``, ``--exit-non-zero-on-fix`` as users run them."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path

import pytest

from sqla_lint import cli, engine, fixer
from sqla_lint.diagnostics import Applicability

LEAK = "from sqlalchemy.orm import Session\n\ndef f(engine):\n    s = Session(engine)\n    return s.query(1).all()\n"
FIXED = "from sqlalchemy.orm import Session\n\ndef f(engine):\n    with Session(engine) as s:\n        return s.query(1).all()\n"
# A leak with no safe shape: the session is used after the `if` block that creates it.
UNFIXABLE = (
    "from sqlalchemy.orm import Session\n\ndef g(engine, flag):\n    if flag:\n"
    "        s = Session(engine)\n    return s.query(1).all()\n"
)
CLEAN = FIXED
# A leak whose fix is unsafe: the returned instance is detached once the block closes the session.
UNSAFE_LEAK = "from sqlalchemy.orm import Session\n\ndef get(engine, user_id):\n    s = Session(engine)\n    return s.get(User, user_id)\n"
UNSAFE_FIXED = (
    "from sqlalchemy.orm import Session\n\ndef get(engine, user_id):\n    with Session(engine) as s:\n"
    "        return s.get(User, user_id)\n"
)
HIDDEN_HINT = "(1 hidden fix can be enabled with the `--unsafe-fixes` option.)\n"


def test_fix_writes_and_exits_0_when_everything_is_fixed(cli, tmp_path: Path):
    target = tmp_path / "leak.py"
    target.write_text(LEAK)
    result = cli("check", "--fix", str(target))
    assert result.returncode == 0, result.stdout + result.stderr
    assert target.read_text() == FIXED
    assert result.stdout == "Found 1 error (1 fixed, 0 remaining).\n"


def test_fix_reports_what_remains(cli, tmp_path: Path):
    (tmp_path / "leak.py").write_text(LEAK)
    (tmp_path / "unfixable.py").write_text(UNFIXABLE)
    result = cli("check", "--fix", str(tmp_path))
    assert result.returncode == 1
    assert (tmp_path / "leak.py").read_text() == FIXED
    assert (tmp_path / "unfixable.py").read_text() == UNFIXABLE
    assert "unfixable.py:5:13: SQA401" in result.stdout
    assert result.stdout.rstrip().endswith("Found 2 errors (1 fixed, 1 remaining).")


def test_diff_prints_and_writes_nothing(cli, tmp_path: Path):
    target = tmp_path / "leak.py"
    target.write_text(LEAK)
    before = target.stat().st_mtime_ns
    result = cli("check", "--diff", str(target))
    assert result.returncode == 1
    assert target.read_text() == LEAK and target.stat().st_mtime_ns == before
    assert f"--- {target}\n+++ {target}\n" in result.stdout
    assert "-    s = Session(engine)\n" in result.stdout
    assert "+    with Session(engine) as s:\n" in result.stdout
    assert "Would fix 1 error." in result.stderr
    clean = tmp_path / "clean.py"
    clean.write_text(CLEAN)
    quiet = cli("check", "--diff", str(clean))
    assert quiet.returncode == 0 and quiet.stdout == ""
    unfixable = tmp_path / "unfixable.py"
    unfixable.write_text(UNFIXABLE)
    assert cli("check", "--diff", str(unfixable)).returncode == 0


def test_show_fixes_and_exit_non_zero_on_fix(cli, tmp_path: Path):
    target = tmp_path / "leak.py"
    target.write_text(LEAK)
    result = cli("check", "--fix", "--show-fixes", "--exit-non-zero-on-fix", str(target))
    assert result.returncode == 1
    assert f"Fixed 1 error:\n- {target}:\n    1 × SQA401 (session-not-closed)\n" in result.stdout
    again = cli("check", "--fix", "--exit-non-zero-on-fix", str(target))
    assert again.returncode == 0 and again.stdout == ""


def test_json_output_carries_the_fix(cli, tmp_path: Path):
    (tmp_path / "leak.py").write_text(LEAK)
    result = cli("check", "--output-format", "json", str(tmp_path / "leak.py"))
    fix = json.loads(result.stdout)[0]["fix"]
    assert fix == {
        "applicability": "safe",
        "message": "Open `s` with `with Session(engine) as s:`",
        "edits": [
            {
                "content": "    with Session(engine) as s:\n        return s.query(1).all()\n",
                "location": {"row": 4, "column": 1},
                "end_location": {"row": 6, "column": 1},
            }
        ],
    }
    assert result.stderr == ""


def test_full_output_shows_the_fix(cli, tmp_path: Path):
    (tmp_path / "leak.py").write_text(LEAK)
    result = cli("check", "--output-format", "full", str(tmp_path / "leak.py"))
    assert "  = fix (safe): Open `s` with `with Session(engine) as s:`\n" in result.stdout
    assert "    4 -     s = Session(engine)\n    5 -     return s.query(1).all()\n" in result.stdout
    assert "    4 +     with Session(engine) as s:\n    5 +         return s.query(1).all()\n" in result.stdout


def test_plain_check_output_is_unchanged_by_fixes(cli, tmp_path: Path):
    (tmp_path / "leak.py").write_text(LEAK)
    result = cli("check", str(tmp_path / "leak.py"))
    assert result.stdout.rstrip().endswith("Found 1 error.")
    assert result.stderr == ""


def test_fix_stdin_prints_the_fixed_source(cli):
    result = cli("check", "--fix", "-", "--stdin-filename", "app/db.py", input=LEAK)
    assert result.returncode == 0
    assert result.stdout == FIXED
    assert "Found 1 error (1 fixed, 0 remaining)." in result.stderr
    diff = cli("check", "--diff", "-", "--stdin-filename", "app/db.py", input=LEAK)
    assert diff.returncode == 1 and "+    with Session(engine) as s:" in diff.stdout


def test_crlf_bom_and_tabs_survive(cli, tmp_path: Path):
    source = "\ufeff" + LEAK.replace("    ", "\t").replace("\n", "\r\n")
    target = tmp_path / "crlf.py"
    target.write_bytes(source.encode("utf-8"))
    assert cli("check", "--fix", str(target)).returncode == 0
    assert target.read_bytes() == ("\ufeff" + FIXED.replace("    ", "\t").replace("\n", "\r\n")).encode("utf-8")


def test_mode_is_kept_and_unchanged_files_are_not_written(cli, tmp_path: Path):
    target = tmp_path / "leak.py"
    target.write_text(LEAK)
    target.chmod(0o640)
    clean = tmp_path / "clean.py"
    clean.write_text(CLEAN)
    before = clean.stat().st_mtime_ns
    assert cli("check", "--fix", str(tmp_path)).returncode == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert clean.stat().st_mtime_ns == before
    assert _temporary_files(tmp_path) == []


def _temporary_files(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".sqla-lint.tmp")]


# -- in process, where a failure has to be injected ----------------------------------------


def test_a_file_that_cannot_be_written_is_reported_and_others_are_fixed(tmp_path: Path, monkeypatch, capsys):
    (tmp_path / "a.py").write_text(LEAK)
    (tmp_path / "b.py").write_text(LEAK)
    real_replace = os.replace

    def replace(source, destination):
        if Path(destination).name == "a.py":
            raise PermissionError(13, "Permission denied")
        real_replace(source, destination)

    monkeypatch.setattr(fixer.os, "replace", replace)
    code = cli.main(["check", "--fix", "--jobs", "1", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 1
    assert f"sqla-lint: error: {tmp_path / 'a.py'}: cannot write fixed file: Permission denied" in err
    assert (tmp_path / "a.py").read_text() == LEAK
    assert (tmp_path / "b.py").read_text() == FIXED
    assert "a.py:4:9: SQA401" in out
    assert _temporary_files(tmp_path) == []


def test_a_file_changed_on_disk_is_not_overwritten(tmp_path: Path):
    target = tmp_path / "leak.py"
    target.write_text(LEAK + "# edited meanwhile\n")
    with pytest.raises(fixer.WriteError, match="changed on disk"):
        fixer.write_atomically(target, FIXED.encode(), expected=LEAK.encode())
    assert target.read_text() == LEAK + "# edited meanwhile\n"


def test_unsafe_fixes_apply_only_with_the_option(tmp_path: Path, monkeypatch, capsys):
    real_run_rules = engine._run_rules

    def run_rules_with_unsafe_fixes(model, codes):
        return [
            (code, dataclasses.replace(f, fix=dataclasses.replace(f.fix, applicability=Applicability.UNSAFE)) if f.fix else f)
            for code, f in real_run_rules(model, codes)
        ]

    monkeypatch.setattr(engine, "_run_rules", run_rules_with_unsafe_fixes)
    target = tmp_path / "leak.py"
    target.write_text(LEAK)
    assert cli.main(["check", "--fix", str(target)]) == 1
    assert target.read_text() == LEAK
    out, err = capsys.readouterr()
    assert out.rstrip().endswith("Found 1 error.")
    assert "(1 hidden fix can be enabled with the `--unsafe-fixes` option.)" in err
    assert cli.main(["check", "--diff", str(target)]) == 0
    assert cli.main(["check", "--fix", "--unsafe-fixes", str(target)]) == 0
    assert target.read_text() == FIXED


# -- unsafe fixes, from a shape the analysis really calls unsafe ------------------------


def test_fix_leaves_unsafe_fixes_and_says_they_are_hidden(cli, tmp_path: Path):
    (tmp_path / "leak.py").write_text(LEAK)
    (tmp_path / "unsafe.py").write_text(UNSAFE_LEAK)
    result = cli("check", "--fix", str(tmp_path))
    assert result.returncode == 1
    assert (tmp_path / "leak.py").read_text() == FIXED
    assert (tmp_path / "unsafe.py").read_text() == UNSAFE_LEAK
    assert "unsafe.py:4:9: SQA401" in result.stdout
    assert result.stdout.rstrip().endswith("Found 2 errors (1 fixed, 1 remaining).")
    assert result.stderr == HIDDEN_HINT


def test_unsafe_fixes_option_applies_them(cli, tmp_path: Path):
    target = tmp_path / "unsafe.py"
    target.write_text(UNSAFE_LEAK)
    result = cli("check", "--fix", "--unsafe-fixes", str(target))
    assert result.returncode == 0, result.stdout + result.stderr
    assert target.read_text() == UNSAFE_FIXED
    assert result.stdout == "Found 1 error (1 fixed, 0 remaining).\n"
    assert result.stderr == ""


def test_diff_shows_unsafe_fixes_only_with_the_option(cli, tmp_path: Path):
    target = tmp_path / "unsafe.py"
    target.write_text(UNSAFE_LEAK)
    plain = cli("check", "--diff", str(target))
    assert plain.returncode == 0 and plain.stdout == ""
    assert plain.stderr == "No errors would be fixed.\n" + HIDDEN_HINT
    unsafe = cli("check", "--diff", "--unsafe-fixes", str(target))
    assert unsafe.returncode == 1
    assert "+    with Session(engine) as s:\n" in unsafe.stdout
    assert unsafe.stderr == "Would fix 1 error.\n"
    assert target.read_text() == UNSAFE_LEAK


def test_json_output_marks_the_fix_unsafe_and_says_why(cli, tmp_path: Path):
    (tmp_path / "unsafe.py").write_text(UNSAFE_LEAK)
    result = cli("check", "--output-format", "json", str(tmp_path / "unsafe.py"))
    fix = json.loads(result.stdout)[0]["fix"]
    assert fix["applicability"] == "unsafe"
    assert fix["message"] == (
        "Open `s` with `with Session(engine) as s:` (unsafe: `s.get(User, user_id)` is returned; it may hold "
        "ORM instances, which the `with` block detaches, so attributes not loaded yet raise `DetachedInstanceError`)"
    )
    assert fix["edits"] == [
        {
            "content": "    with Session(engine) as s:\n        return s.get(User, user_id)\n",
            "location": {"row": 4, "column": 1},
            "end_location": {"row": 6, "column": 1},
        }
    ]


def test_full_output_labels_the_fix_unsafe(cli, tmp_path: Path):
    (tmp_path / "unsafe.py").write_text(UNSAFE_LEAK)
    result = cli("check", "--output-format", "full", str(tmp_path / "unsafe.py"))
    assert "  = fix (unsafe): Open `s` with `with Session(engine) as s:` (unsafe: `s.get(User, user_id)` is returned;" in result.stdout
