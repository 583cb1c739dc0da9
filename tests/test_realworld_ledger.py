"""The real-project ledger's comparison logic (benchmarks/realworld.py), on synthetic data.

No network and no linting here: findings and rows are built by hand, so each test says exactly
which finding should match which row, and what precision, recall, new and gone come out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.realworld import (
    COLUMNS,
    Finding,
    LedgerError,
    Row,
    compare,
    fill_fingerprints,
    format_ledger,
    format_report,
    PROJECT_SETTINGS,
    main,
    mark_project,
    parse_ledger,
    rule_stats,
    updated_rows,
)

HEADER = ",".join(COLUMNS) + "\n"
RAN = {"proj": "1.0"}


def _finding(path: str, code: str, fingerprint: str, line: int = 10) -> Finding:
    return Finding("proj", "1.0", path, line, code, fingerprint, f"stmt {fingerprint}", f"message {fingerprint}")


def _row(path: str, code: str, fingerprint: str, verdict: str, *, line: int = 10, version: str = "1.0", project: str = "proj", number: int = 0) -> Row:
    return Row(project, version, path, line, code, fingerprint, verdict, "", "because", number)


def _stats(comparison, findings):
    return {s.code: s for s in rule_stats(comparison, findings)}


def test_parse_ledger_reads_every_verdict_and_skips_blank_rows():
    text = HEADER + (
        'proj,1.0,a.py,3,SQA401,aaaa,TP,"s = Session()",never closed\n'
        ",,,,,,,,\n"
        "proj,1.0,b.py,7,SQA501,bbbb,FP,,called once\n"
        "proj,1.0,c.py,12,SQA503,,FN,,engine.execute result never closed\n"
        "proj,1.0,d.py,1,SQA403,dddd,?,,\n"
    )
    rows = parse_ledger(text)
    assert [(r.path, r.verdict, r.line, r.fingerprint) for r in rows] == [
        ("a.py", "TP", 3, "aaaa"),
        ("b.py", "FP", 7, "bbbb"),
        ("c.py", "FN", 12, ""),
        ("d.py", "?", 1, "dddd"),
    ]
    assert rows[0].statement == "s = Session()"
    assert rows[1].number == 4  # the CSV line, for messages


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("proj,1.0,a.py,3,SQA401,aaaa,maybe,,x\n", "verdict 'maybe' is not one of"),
        ("proj,1.0,a.py,3,SQA401,,TP,,x\n", "a TP row needs the finding's fingerprint"),
        ("proj,1.0,a.py,,SQA401,,FN,,x\n", "an FN row needs the line"),
        ("proj,1.0,a.py,3,SQA401,aaaa,FP,,\n", "a FP row needs a one-line reason"),
        ("proj,1.0,a.py,three,SQA401,aaaa,TP,,x\n", "line 'three' is not a number"),
        (",1.0,a.py,3,SQA401,aaaa,TP,,x\n", "the project cell is empty"),
    ],
)
def test_parse_ledger_names_the_bad_row(line: str, message: str):
    with pytest.raises(LedgerError, match=message) as error:
        parse_ledger(HEADER + line, "ledger.csv")
    assert "ledger.csv:2" in str(error.value)


def test_parse_ledger_rejects_a_missing_column():
    with pytest.raises(LedgerError, match="lacks column"):
        parse_ledger("project,version,path\nproj,1.0,a.py\n", "ledger.csv")


def test_parse_then_format_round_trips():
    rows = [_row("b.py", "SQA501", "bbbb", "FP", line=7), _row("a.py", "SQA401", "aaaa", "TP", line=3)]
    again = parse_ledger(format_ledger(rows))
    assert [(r.path, r.code, r.fingerprint, r.verdict, r.line, r.why) for r in again] == [
        ("a.py", "SQA401", "aaaa", "TP", 3, "because"),
        ("b.py", "SQA501", "bbbb", "FP", 7, "because"),
    ]


def test_matching_is_by_fingerprint_not_by_line():
    findings = [_finding("a.py", "SQA401", "aaaa", line=99)]
    comparison = compare(findings, [_row("a.py", "SQA401", "aaaa", "TP", line=3)], RAN)
    assert [(f.line, r.line) for f, r in comparison.matched] == [(99, 3)]
    assert comparison.new == [] and comparison.gone == []


def test_another_code_path_or_fingerprint_does_not_match():
    findings = [_finding("a.py", "SQA503", "aaaa"), _finding("b.py", "SQA401", "aaaa"), _finding("a.py", "SQA401", "zzzz")]
    comparison = compare(findings, [_row("a.py", "SQA401", "aaaa", "TP")], RAN)
    assert comparison.matched == []
    assert len(comparison.new) == 3
    assert [r.fingerprint for r in comparison.gone] == ["aaaa"]


def test_identical_statements_match_by_count():
    findings = [_finding("a.py", "SQA401", "aaaa", line=3), _finding("a.py", "SQA401", "aaaa", line=8)]
    one_row = compare(findings, [_row("a.py", "SQA401", "aaaa", "TP")], RAN)
    assert len(one_row.matched) == 1 and [f.line for f in one_row.new] == [8]
    three_rows = compare(findings, [_row("a.py", "SQA401", "aaaa", "TP", number=n) for n in (2, 3, 4)], RAN)
    assert len(three_rows.matched) == 2 and [r.number for r in three_rows.gone] == [4]


def test_precision_counts_audited_findings_only():
    findings = [
        _finding("a.py", "SQA401", "t1"),
        _finding("a.py", "SQA401", "t2"),
        _finding("a.py", "SQA401", "t3"),
        _finding("a.py", "SQA401", "f1"),
        _finding("a.py", "SQA401", "unaudited"),
        _finding("a.py", "SQA401", "brand-new"),
        _finding("b.py", "SQA501", "f2"),
    ]
    rows = [
        _row("a.py", "SQA401", "t1", "TP"),
        _row("a.py", "SQA401", "t2", "TP"),
        _row("a.py", "SQA401", "t3", "TP"),
        _row("a.py", "SQA401", "f1", "FP"),
        _row("a.py", "SQA401", "unaudited", "?"),
        _row("b.py", "SQA501", "f2", "FP"),
    ]
    comparison = compare(findings, rows, RAN)
    stats = _stats(comparison, findings)
    assert (stats["SQA401"].findings, stats["SQA401"].tp, stats["SQA401"].fp, stats["SQA401"].unaudited) == (6, 3, 1, 2)
    assert stats["SQA401"].precision == pytest.approx(0.75)
    assert stats["SQA501"].precision == 0.0
    assert [f.fingerprint for f in comparison.new] == ["brand-new"]


def test_recall_counts_tp_rows_and_fn_rows_and_an_fn_now_reported_counts_as_found():
    findings = [_finding("a.py", "SQA503", "tp"), _finding("a.py", "SQA503", "caught")]
    rows = [
        _row("a.py", "SQA503", "tp", "TP"),
        _row("a.py", "SQA503", "caught", "FN"),
        _row("a.py", "SQA503", "missed-1", "FN"),
        _row("a.py", "SQA503", "missed-2", "FN"),
        _row("c.py", "SQA401", "missed-3", "FN"),
    ]
    comparison = compare(findings, rows, RAN)
    assert [r.fingerprint for _, r in comparison.caught] == ["caught"]
    assert [r.fingerprint for r in comparison.missed] == ["missed-1", "missed-2", "missed-3"]
    assert comparison.new == [] and comparison.gone == []
    stats = _stats(comparison, findings)
    assert (stats["SQA503"].tp, stats["SQA503"].fn_caught, stats["SQA503"].fn_missed) == (1, 1, 2)
    assert stats["SQA503"].recall == pytest.approx(0.5)
    assert stats["SQA503"].precision == 1.0  # an FN now reported is not yet audited as TP
    assert stats["SQA401"].findings == 0 and stats["SQA401"].recall == 0.0 and stats["SQA401"].precision is None


def test_an_audited_row_is_preferred_over_an_fn_row_with_the_same_key():
    findings = [_finding("a.py", "SQA401", "same")]
    rows = [_row("a.py", "SQA401", "same", "FN", number=2), _row("a.py", "SQA401", "same", "TP", number=3)]
    comparison = compare(findings, rows, RAN)
    assert [r.verdict for _, r in comparison.matched] == ["TP"]
    assert [r.verdict for r in comparison.missed] == ["FN"]


def test_rows_of_projects_that_did_not_run_are_neither_gone_nor_missed():
    rows = [_row("a.py", "SQA401", "x", "TP", project="other"), _row("a.py", "SQA401", "y", "FN", project="other")]
    comparison = compare([], rows, RAN)
    assert comparison.gone == [] and comparison.missed == [] and comparison.other_version == []


def test_rows_for_another_version_are_set_aside():
    findings = [_finding("a.py", "SQA401", "aaaa")]
    comparison = compare(findings, [_row("a.py", "SQA401", "aaaa", "TP", version="0.9")], RAN)
    assert comparison.matched == [] and comparison.gone == []
    assert [f.fingerprint for f in comparison.new] == ["aaaa"]
    assert [r.version for r in comparison.other_version] == ["0.9"]


def test_fill_fingerprints_only_touches_fn_rows_without_one():
    rows = [_row("a.py", "SQA401", "", "FN", line=5), _row("a.py", "SQA401", "keep", "FN", line=6), _row("a.py", "SQA401", "tp", "TP", line=7)]
    asked = []

    def anchor(row):
        asked.append(row.line)
        return (f"fp{row.line}", f"statement {row.line}")

    filled = fill_fingerprints(rows, anchor)
    assert asked == [5]
    assert [(r.fingerprint, r.statement) for r in filled] == [("fp5", "statement 5"), ("keep", ""), ("tp", "")]
    assert fill_fingerprints(rows[:1], lambda row: None)[0].fingerprint == ""


def test_update_appends_new_findings_as_unaudited_and_never_writes_a_verdict():
    findings = [_finding("a.py", "SQA401", "old", line=40), _finding("a.py", "SQA401", "new", line=50)]
    rows = [_row("a.py", "SQA401", "old", "FP", line=3), _row("a.py", "SQA401", "gone", "TP", line=9)]
    comparison = compare(findings, rows, RAN)
    updated = updated_rows(rows, comparison)
    assert [(r.fingerprint, r.verdict, r.line) for r in updated] == [("old", "FP", 40), ("gone", "TP", 9), ("new", "?", 50)]
    assert updated[2].why.startswith("unaudited")
    assert [r.verdict for r in parse_ledger(format_ledger(updated))].count("?") == 1


def test_report_lists_new_gone_and_caught():
    findings = [_finding("a.py", "SQA401", "new"), _finding("a.py", "SQA503", "caught")]
    rows = [_row("a.py", "SQA401", "gone", "FP"), _row("a.py", "SQA503", "caught", "FN")]
    comparison = compare(findings, rows, RAN)
    report = format_report(comparison, findings, {"proj": ("1.0", 12)})
    assert "new findings, not in the ledger (audit them): 1" in report
    assert "gone, in the ledger but not reported: 1" in report
    assert "FN rows now reported (make them TP): 1" in report
    assert "proj a.py:10 SQA401 [new]" in report


def test_a_malformed_ledger_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    ledger = tmp_path / "ledger.csv"
    ledger.write_text(HEADER + "proj,1.0,a.py,3,SQA401,aaaa,perhaps,,x\n")
    assert main(["--ledger", str(ledger)]) == 2
    assert "verdict 'perhaps'" in capsys.readouterr().err


def test_the_marker_carries_the_projects_settings_as_a_user_would_write_them(tmp_path: Path):
    """The per-project settings go into ``[tool.sqla-lint]`` of the marker, which the CLI
    reads as it reads a user's own; a marker written before the settings is rewritten, a
    project's own ``pyproject.toml`` never."""
    from sqla_lint.config import load_config

    tree = tmp_path / "jupyterhub"
    tree.mkdir()
    mark_project(tree)
    assert "[tool.sqla-lint]" not in (tree / "pyproject.toml").read_text()
    mark_project(tree, PROJECT_SETTINGS["jupyterhub"])
    config = load_config(tree / "pyproject.toml")
    assert config.values["called-once"] == PROJECT_SETTINGS["jupyterhub"]["called-once"]
    own = tmp_path / "own"
    own.mkdir()
    (own / "pyproject.toml").write_text('[project]\nname = "theirs"\n')
    mark_project(own, {"called-once": ["x.y"]})
    assert (own / "pyproject.toml").read_text() == '[project]\nname = "theirs"\n'
