"""Lint real projects whole and compare the findings with a ledger of audited verdicts.

Fixtures test what we thought of; real code tests what we did not.  This script fetches
pinned releases of projects that use SQLAlchemy heavily (wheels, with ``pip download
--no-deps``, into the cache of :mod:`benchmarks.corpus`, outside the repository), lints each
one whole with the CLI as its own project root, and compares the findings with
``benchmarks/ledger.csv``, the committed record of what a person decided on reading the code.

Each ledger row is one of:

- ``TP`` / ``FP``: a finding sqla-lint reports, judged real or not by SPEC.md's contract;
- ``FN``: a leak found by reading the code that sqla-lint does not report (it has a line and
  the code that should fire there); these measure recall;
- ``?``: a finding written by ``--update`` that nobody has audited yet.

A finding is matched to its row by project, version, path, code and the statement
fingerprint that the baseline uses (:mod:`sqla_lint.fingerprints`: the normalised statement
and the name of the enclosing function, never the line), so rows survive code moving.  An FN
row whose fingerprint cell is empty gets the fingerprint of its line, read from the tree.

Printed: per project, the findings; per rule, findings / TP / FP / unaudited / precision and
FN / recall (recall over the TP and FN rows, an FN that is now reported counting as found);
then every finding that is new (not in the ledger), every row that is gone (in the ledger,
not reported), and every FN that is now reported.

Usage::

    python benchmarks/realworld.py [--ledger PATH] [--project NAME ...] [--cache-dir DIR]
                                   [--jobs N] [--update]

``--update`` rewrites the ledger with every new finding appended as an unaudited row
(verdict ``?``), FN fingerprints filled in, and the line and statement of matched rows
refreshed.  It never writes a verdict and never drops a row.

Standard library only (sqla-lint itself is imported for its fingerprints).  Exit code 0
whatever the findings; 2 on a usage error or a malformed ledger.  A project that cannot be
fetched or linted is reported and left out, and its ledger rows are not counted as gone.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import CorpusError, _resolve_cache_dir, ensure_project  # noqa: E402

#: Pinned projects and versions.  A new pin makes its ledger rows "for another version":
#: audit the new findings and rewrite those rows.
PROJECTS: dict[str, str] = {
    "apache-airflow-core": "3.3.2",
    "apache-superset": "6.1.0",
    "mlflow": "3.18.0",
    "dagster": "1.13.29",
    "open-webui": "0.12.4",
    "langflow-base": "1.13.0",
    "acryl-datahub": "1.7.0.17",
    "jupyterhub": "6.1.1",
    "buildbot": "4.3.0",
    "celery": "5.7.0",
    "kombu": "5.7.0",
    "apscheduler": "3.11.3",
    "pandas": "3.1.1",
    "keystone": "30.0.0",
    "nova": "34.0.0",
    "flask-appbuilder": "5.3.0",
    "fastapi-users-db-sqlalchemy": "7.0.0",
    "chainlit": "2.12.0",
    "prefect": "3.9.1",
    "optuna": "5.1.0",
    "dataset": "2.0.0",
    "records": "0.6.0",
    "great-expectations": "1.24.1",
    "zenml": "0.98.0",
    "feast": "0.67.0",
    "ckan": "2.12.0",
    "pgadmin4": "9.18",
}

#: What each project's maintainers would write in ``[tool.sqla-lint]`` of their own
#: ``pyproject.toml``: functions that run once per process where nothing in the code shows
#: it (the framework calls them once per run), as a user declares them (docs/configuration.md).
#: Written into the marker ``pyproject.toml`` of the extracted tree.
PROJECT_SETTINGS: dict[str, dict[str, list[str]]] = {
    "acryl-datahub": {
        "called-once": [
            # once per ingestion run: get_workunits_internal yields from them once
            "datahub.ingestion.source.sql.clickhouse.ClickHouseSource._extract_query_log",
            "datahub.ingestion.source.sql.clickhouse.ClickHouseSource._fetch_xml_dictionaries",
            # one UnityCatalogProfiler per run, whose get_workunits the source runs once
            "datahub.ingestion.source.unity.profiler.UnityCatalogProfiler.get_workunits",
        ],
    },
    "jupyterhub": {
        # traitlets runs each Application's start (and JupyterHub.initialize's init_db) once
        "called-once": ["jupyterhub.app.JupyterHub.init_db", "jupyterhub.app.UpgradeDB.start"],
    },
}

DEFAULT_LEDGER = Path(__file__).resolve().parent / "ledger.csv"
COLUMNS = ("project", "version", "path", "line", "code", "fingerprint", "verdict", "statement", "why")
VERDICTS = ("TP", "FP", "FN", "?")
UNAUDITED_WHY = "unaudited: written by --update, read the code and set TP or FP"


class LedgerError(Exception):
    """The ledger cannot be read.  ``str(err)`` names the file and row."""


@dataclass(frozen=True)
class Finding:
    """One finding of this run, anchored by its statement fingerprint."""

    project: str
    version: str
    path: str  # relative to the project tree, "/"-separated
    line: int
    code: str
    fingerprint: str
    statement: str = ""
    message: str = ""

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.project, self.version, self.path, self.code, self.fingerprint)


@dataclass(frozen=True)
class Row:
    """One ledger row; ``number`` is its line in the CSV file (for messages)."""

    project: str
    version: str
    path: str
    line: int
    code: str
    fingerprint: str
    verdict: str
    statement: str = ""
    why: str = ""
    number: int = 0

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.project, self.version, self.path, self.code, self.fingerprint)


@dataclass
class Comparison:
    """The ledger against one run.  Only rows of projects (at the versions) that ran take part."""

    matched: list[tuple[Finding, Row]] = field(default_factory=list)
    new: list[Finding] = field(default_factory=list)  # reported, not in the ledger
    gone: list[Row] = field(default_factory=list)  # TP / FP / ? rows nothing matched
    missed: list[Row] = field(default_factory=list)  # FN rows still not reported
    caught: list[tuple[Finding, Row]] = field(default_factory=list)  # FN rows now reported
    other_version: list[Row] = field(default_factory=list)  # rows for a version that did not run


@dataclass(frozen=True)
class RuleStats:
    code: str
    findings: int
    tp: int
    fp: int
    unaudited: int
    fn_missed: int
    fn_caught: int

    @property
    def precision(self) -> float | None:
        judged = self.tp + self.fp
        return self.tp / judged if judged else None

    @property
    def recall(self) -> float | None:
        """Found real leaks over all known real leaks: TP rows and FN rows, an FN row that
        this run reports counting as found."""
        found = self.tp + self.fn_caught
        known = found + self.fn_missed
        return found / known if known else None


# --- the ledger -------------------------------------------------------------------------


def parse_ledger(text: str, source: str = "ledger") -> list[Row]:
    """Rows of a ledger CSV; raises :class:`LedgerError` naming the row that is wrong."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        return []
    missing = [name for name in COLUMNS if name not in reader.fieldnames]
    if missing:
        raise LedgerError(f"{source}: the header lacks column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}")
    rows = []
    for record in reader:
        number = reader.line_num
        values = {name: (record.get(name) or "").strip() for name in COLUMNS}
        if not any(values.values()):
            continue
        verdict = values["verdict"]
        if verdict not in VERDICTS:
            raise LedgerError(f"{source}:{number}: verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
        for required in ("project", "version", "path", "code"):
            if not values[required]:
                raise LedgerError(f"{source}:{number}: the {required} cell is empty")
        try:
            line = int(values["line"]) if values["line"] else 0
        except ValueError:
            raise LedgerError(f"{source}:{number}: line {values['line']!r} is not a number") from None
        if verdict == "FN" and not (line > 0 or values["fingerprint"]):
            raise LedgerError(f"{source}:{number}: an FN row needs the line of the leak (or its fingerprint)")
        if verdict != "FN" and not values["fingerprint"]:
            raise LedgerError(f"{source}:{number}: a {verdict} row needs the finding's fingerprint")
        if verdict in ("TP", "FP", "FN") and not values["why"]:
            raise LedgerError(f"{source}:{number}: a {verdict} row needs a one-line reason in the why cell")
        rows.append(Row(values["project"], values["version"], values["path"], line, values["code"], values["fingerprint"], verdict, values["statement"], values["why"], number))
    return rows


def format_ledger(rows: Iterable[Row]) -> str:
    """The CSV text of *rows*, sorted so that diffs of the ledger review like code."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in sorted(rows, key=lambda r: (r.project, r.path, r.line, r.code, r.verdict, r.fingerprint)):
        writer.writerow([row.project, row.version, row.path, row.line or "", row.code, row.fingerprint, row.verdict, row.statement, row.why])
    return out.getvalue()


def fill_fingerprints(rows: Sequence[Row], anchor: Callable[[Row], tuple[str, str] | None]) -> list[Row]:
    """FN rows without a fingerprint get the one of their line; ``anchor(row)`` gives
    ``(fingerprint, statement)`` or None when the file is not there."""
    filled = []
    for row in rows:
        if row.verdict == "FN" and not row.fingerprint:
            found = anchor(row)
            if found is not None:
                row = replace(row, fingerprint=found[0], statement=row.statement or found[1])
        filled.append(row)
    return filled


# --- comparing --------------------------------------------------------------------------


def compare(findings: Sequence[Finding], rows: Sequence[Row], ran: dict[str, str]) -> Comparison:
    """Match *findings* to *rows* by key; *ran* maps each project that was linted to its version.

    Identical statements in one scope share a fingerprint, so matching is by count: each row
    takes one finding.  A finding prefers an audited row over an FN row over an unaudited one.
    """
    result = Comparison()
    available: dict[tuple[str, ...], list[Row]] = defaultdict(list)
    preference = {"TP": 0, "FP": 0, "FN": 1, "?": 2}
    for row in sorted(rows, key=lambda r: (preference[r.verdict], r.number)):
        if row.project not in ran:
            continue
        if ran[row.project] != row.version:
            result.other_version.append(row)
            continue
        available[row.key].append(row)
    for finding in findings:
        candidates = available.get(finding.key)
        if not candidates:
            result.new.append(finding)
            continue
        row = candidates.pop(0)
        if row.verdict == "FN":
            result.caught.append((finding, row))
        else:
            result.matched.append((finding, row))
    for remaining in available.values():
        for row in remaining:
            (result.missed if row.verdict == "FN" else result.gone).append(row)
    result.gone.sort(key=lambda r: r.number)
    result.missed.sort(key=lambda r: r.number)
    return result


def rule_stats(comparison: Comparison, findings: Sequence[Finding]) -> list[RuleStats]:
    codes = sorted({f.code for f in findings} | {r.code for r in comparison.missed} | {r.code for _, r in comparison.caught})
    reported = Counter(f.code for f in findings)
    verdicts: dict[str, Counter[str]] = defaultdict(Counter)
    for finding, row in comparison.matched:
        verdicts[finding.code][row.verdict] += 1
    for finding in comparison.new:
        verdicts[finding.code]["?"] += 1
    missed = Counter(r.code for r in comparison.missed)
    caught = Counter(r.code for _, r in comparison.caught)
    return [
        RuleStats(code, reported[code], verdicts[code]["TP"], verdicts[code]["FP"], verdicts[code]["?"], missed[code], caught[code])
        for code in codes
    ]


def updated_rows(rows: Sequence[Row], comparison: Comparison) -> list[Row]:
    """The ledger after ``--update``: new findings appended as ``?``, matched rows given this
    run's line and statement, every other row kept as it was."""
    refreshed = {id(row): replace(row, line=finding.line, statement=finding.statement) for finding, row in (*comparison.matched, *comparison.caught)}
    result = [refreshed.get(id(row), row) for row in rows]
    result += [
        Row(f.project, f.version, f.path, f.line, f.code, f.fingerprint, "?", f.statement, UNAUDITED_WHY) for f in comparison.new
    ]
    return result


# --- printing ---------------------------------------------------------------------------


def _ratio(value: float | None) -> str:
    return "   n/a" if value is None else f"{value:6.2f}"


def format_report(comparison: Comparison, findings: Sequence[Finding], counts: dict[str, tuple[str, int]]) -> str:
    """The printed report; *counts* maps each project that ran to ``(version, files)``."""
    lines = []
    per_project = Counter(f.project for f in findings)
    if counts:
        width = max(len(name) for name in counts)
        lines.append(f"{'project':<{width}}  {'version':<10} {'files':>6} {'findings':>8}")
        for name, (version, files) in counts.items():
            lines.append(f"{name:<{width}}  {version:<10} {files:>6} {per_project[name]:>8}")
        lines.append("")
    lines.append("rule    findings    TP    FP     ?  precision    FN  FN now found  recall")
    stats = rule_stats(comparison, findings)
    for s in stats:
        lines.append(
            f"{s.code:<7} {s.findings:>8} {s.tp:>5} {s.fp:>5} {s.unaudited:>5}     {_ratio(s.precision)} {s.fn_missed:>5} {s.fn_caught:>13}  {_ratio(s.recall)}"
        )
    if stats:
        total = RuleStats("all", *(sum(getattr(s, name) for s in stats) for name in ("findings", "tp", "fp", "unaudited", "fn_missed", "fn_caught")))
        lines.append(
            f"{'all':<7} {total.findings:>8} {total.tp:>5} {total.fp:>5} {total.unaudited:>5}     {_ratio(total.precision)} {total.fn_missed:>5} {total.fn_caught:>13}  {_ratio(total.recall)}"
        )
    lines.append("(precision over audited findings; recall over TP and FN rows, an FN now reported counting as found)")

    def section(title: str, entries: list[str]) -> None:
        lines.append("")
        lines.append(f"{title}: {len(entries)}")
        lines.extend(f"  {entry}" for entry in entries)

    section("new findings, not in the ledger (audit them)", [f"{f.project} {f.path}:{f.line} {f.code} [{f.fingerprint}] {f.message}" for f in comparison.new])
    section("gone, in the ledger but not reported", [f"{r.project} {r.path}:{r.line} {r.code} [{r.fingerprint}] was {r.verdict}: {r.why}" for r in comparison.gone])
    section("FN rows now reported (make them TP)", [f"{f.project} {f.path}:{f.line} {f.code} [{f.fingerprint}]: {r.why}" for f, r in comparison.caught])
    if comparison.other_version:
        section("rows for a version that did not run (re-audit at the pinned version)", [f"{r.project}=={r.version} {r.path}:{r.line} {r.code}" for r in comparison.other_version])
    return "\n".join(lines) + "\n"


# --- running ----------------------------------------------------------------------------


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def mark_project(tree: Path, settings: dict[str, list[str]] | None = None) -> None:
    """A ``pyproject.toml`` makes the extracted tree its own project root, as a checkout
    would be (the same marker as ``benchmarks/bench.py`` writes), with the project's
    ``[tool.sqla-lint]`` settings (:data:`PROJECT_SETTINGS`). A marker written here is
    rewritten when the settings change; any other ``pyproject.toml`` is left alone."""
    marker = tree / "pyproject.toml"
    head = f'[project]\nname = "{tree.name}"\nversion = "0"\n'
    text = head
    if settings:
        text += "\n[tool.sqla-lint]\n" + "".join(f"{key} = {json.dumps(values)}\n" for key, values in sorted(settings.items()))
    if not marker.exists() or (marker.read_text() != text and marker.read_text().startswith(head)):
        marker.write_text(text)


def cli_accepts_preview() -> bool:
    """``--preview`` is newer than some builds of the CLI; without it, lint without it."""
    proc = subprocess.run([sys.executable, "-m", "sqla_lint", "check", "--help"], capture_output=True, text=True, check=False)
    return "--preview" in proc.stdout


class LintError(Exception):
    pass


def lint_tree(tree: Path, *, preview: bool, jobs: int | None) -> list[dict]:
    command = [sys.executable, "-m", "sqla_lint", "check", "--no-cache", "--exit-zero", "--output-format", "json"]
    if preview:
        command.append("--preview")
    if jobs:
        command += ["--jobs", str(jobs)]
    command.append(str(tree))
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join("    " + line for line in (proc.stderr or proc.stdout).strip().splitlines()[-10:])
        raise LintError(f"sqla-lint exited {proc.returncode}\n{tail}")
    try:
        data = json.loads(proc.stdout or "[]")
    except ValueError as error:
        raise LintError(f"sqla-lint printed output that is not JSON: {error}") from None
    if not isinstance(data, list):
        raise LintError("sqla-lint's JSON output is not an array")
    return data


class Anchors:
    """Statement fingerprints of rows in the extracted trees, each file read once."""

    def __init__(self, trees: dict[str, Path]) -> None:
        from sqla_lint.fingerprints import SourceIndex

        self._index = SourceIndex
        self._trees = trees
        self._files: dict[Path, object] = {}

    def __call__(self, project: str, path: str, line: int) -> tuple[str, str] | None:
        tree = self._trees.get(project)
        if tree is None:
            return None
        file = tree / path
        if file not in self._files:
            try:
                self._files[file] = self._index(file.read_bytes())
            except OSError:
                self._files[file] = None
        index = self._files[file]
        if index is None:
            return None
        anchor = index.anchor(line)  # type: ignore[attr-defined]
        return anchor.fingerprint, anchor.preview


def findings_of(project: str, version: str, tree: Path, raw: list[dict], anchors: Anchors) -> list[Finding]:
    found = []
    for item in raw:
        path = Path(os.path.relpath(os.path.abspath(item["filename"]), tree)).as_posix()
        line = int(item["location"]["row"])
        fingerprint, statement = anchors(project, path, line) or ("", "")
        found.append(Finding(project, version, path, line, item["code"], fingerprint, statement, item.get("message", "")))
    return found


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="realworld.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ledger", type=Path, default=DEFAULT_LEDGER, help=f"the ledger CSV (default: {DEFAULT_LEDGER.name} beside this script)")
    parser.add_argument("--project", action="append", choices=list(PROJECTS), help="only this project (repeatable; default: all)")
    parser.add_argument("--cache-dir", metavar="DIR", help="download and extraction cache (default: as benchmarks/corpus.py)")
    parser.add_argument("-j", "--jobs", type=int, help="worker processes for sqla-lint (default: its own)")
    parser.add_argument("--update", action="store_true", help="append new findings to the ledger as unaudited rows (verdict '?'); never writes a verdict")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        _stderr("realworld.py: error: --jobs must be at least 1")
        return 2
    try:
        text = args.ledger.read_text(encoding="utf-8") if args.ledger.exists() else ""
        rows = parse_ledger(text, str(args.ledger))
    except (OSError, UnicodeDecodeError) as error:
        _stderr(f"realworld.py: error: cannot read the ledger {args.ledger}: {error}")
        return 2
    except LedgerError as error:
        _stderr(f"realworld.py: error: {error}")
        return 2

    pins = {name: PROJECTS[name] for name in (args.project or PROJECTS)}
    cache = _resolve_cache_dir(args.cache_dir)
    preview = cli_accepts_preview()
    if not preview:
        _stderr("realworld.py: this sqla-lint has no --preview; linting without it")
    trees: dict[str, Path] = {}
    counts: dict[str, tuple[str, int]] = {}
    raw: dict[str, list[dict]] = {}
    for name, version in pins.items():
        try:
            tree = ensure_project(name, version, cache, log=_stderr)
        except CorpusError as error:
            _stderr(f"realworld.py: {name}=={version} left out: {error}")
            continue
        mark_project(tree.path, PROJECT_SETTINGS.get(name))
        _stderr(f"linting {name}=={version} ({tree.files} files) ...")
        try:
            raw[name] = lint_tree(tree.path, preview=preview, jobs=args.jobs)
        except (LintError, OSError) as error:
            _stderr(f"realworld.py: {name}=={version} left out: {error}")
            continue
        trees[name] = tree.path
        counts[name] = (version, tree.files)

    anchors = Anchors(trees)
    findings = [f for name in counts for f in findings_of(name, pins[name], trees[name], raw[name], anchors)]
    rows = fill_fingerprints(rows, lambda row: anchors(row.project, row.path, row.line) if row.line else None)
    comparison = compare(findings, rows, {name: pins[name] for name in counts})
    sys.stdout.write(format_report(comparison, findings, counts))
    if args.update:
        args.ledger.write_text(format_ledger(updated_rows(rows, comparison)), encoding="utf-8")
        print(f"\nwrote {args.ledger}: {len(comparison.new)} unaudited row(s) added (verdict '?')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
