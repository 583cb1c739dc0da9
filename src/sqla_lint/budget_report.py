"""``sqla-lint budget [PATH]``: the whole connection budget of a project, as a table or JSON.

SQA506 reports one line, at the largest share; this shows every engine and pool, its
file and line, its settings, its most connections per process (or why it is not
counted), the worker processes and every place that states a number, the total and the
budget. Exit status 1 when the total exceeds the budget, as a CI gate.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .deployment import WorkerStatement, deployment_for
from .semantic.budget import BudgetLimits, BudgetLine, ConnectionBudget
from .indexing import build_index
from .semantic.project import find_project_root, module_name_for
from .settings import Settings


@dataclass(frozen=True)
class BudgetReport:
    root: Path
    budget: ConnectionBudget
    statements: tuple[WorkerStatement, ...]
    files: dict[str, str]  # module -> path relative to the root

    def file_of(self, line: BudgetLine) -> str:
        return f"{self.files.get(line.site.module, line.site.module)}:{line.site.line}"


def budget_report(path: Path, settings: Settings) -> BudgetReport:
    """The budget of the project holding ``path`` (its nearest marker folder, else ``path``)."""
    start = path if path.is_dir() else path.parent
    root = find_project_root(start) or start.resolve()
    index = build_index(root, settings.factories, settings.exclude, use_cache=settings.cache)
    limits = BudgetLimits(settings.max_connections, settings.reserved_connections)
    deployment, statements = deployment_for(root, settings.exclude, limits, settings.workers)
    index.deployment = deployment
    files = {}
    for absolute in index.file_hashes:
        module = module_name_for(absolute)
        if module in index.modules:
            files.setdefault(module, os.path.relpath(absolute, root))
    return BudgetReport(root, index.connection_budget(), tuple(statements), files)


def render_text(report: BudgetReport) -> str:
    budget = report.budget
    rows = [("engine or pool", "file:line", "pool", "per process")]
    for line in budget.lines:
        site = line.site
        name = site.holder or (f"{site.function}()" if site.function else f"{site.constructor.rpartition('.')[2]}(...)")
        rows.append((name, report.file_of(line), line.formula, str(line.most) if line.most is not None else "not counted"))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    out = [f"Connection budget of {report.root}", ""]
    for number, row in enumerate(rows):
        out.append("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if number == 0:
            out.append("  " + "  ".join("-" * width for width in widths))
            continue
        for note in budget.lines[number - 1].notes:
            out.append(f"      {note}")
    if len(rows) == 1:
        out.append("  (no engines or pools found)")
    workers = budget.deployment.workers
    limits = budget.deployment.limits
    out += [
        "",
        f"  per process  {budget.per_process}",
        f"  workers      {workers.number}  ({workers.source})",
    ]
    for statement in report.statements:
        number = "" if statement.number is not None else " (no number to read)"
        out.append(f"                 stated: `{statement.how}` at {statement.source}{number}")
    verdict = f"over budget by {budget.total - budget.available}" if budget.exceeded else f"within budget ({budget.available - budget.total} to spare)"
    out += [
        f"  total        {budget.total}  ({budget.per_process} x {workers.number})",
        f"  budget       {budget.available}  (max-connections {limits.max_connections} - reserved-connections {limits.reserved_connections})",
        f"  result       {verdict}",
        "",
    ]
    return "\n".join(out)


def render_json(report: BudgetReport) -> str:
    budget = report.budget
    workers = budget.deployment.workers
    limits = budget.deployment.limits
    data = {
        "root": str(report.root),
        "pools": [
            {
                "name": line.site.holder,
                "constructor": line.site.constructor,
                "module": line.site.module,
                "filename": report.files.get(line.site.module),
                "line": line.site.line,
                "poolclass": line.site.poolclass,
                "settings": {s.name: s.value if s.value is not None else s.written for s in line.site.settings},
                "formula": line.formula,
                "most_per_process": line.most,
                "counted": line.most is not None,
                "unbounded": line.unbounded,
                "notes": list(line.notes),
            }
            for line in budget.lines
        ],
        "per_process": budget.per_process,
        "workers": {
            "number": workers.number,
            "source": workers.source,
            "assumed": workers.assumed,
            "stated": [{"number": s.number, "source": s.source, "how": s.how} for s in report.statements],
        },
        "total": budget.total,
        "max_connections": limits.max_connections,
        "reserved_connections": limits.reserved_connections,
        "available": budget.available,
        "exceeded": budget.exceeded,
    }
    return json.dumps(data, indent=2) + "\n"
