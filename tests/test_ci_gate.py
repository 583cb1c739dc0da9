"""The documented CI instructions, run as written: the documented gate sees only the new leak."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import REPO, commit_all, init_repo, run_cli

OLD_LEAK = "from sqlalchemy.orm import Session\n\n\ndef legacy(engine):\n    s = Session(engine)\n    return s.query(1).all()\n"
NEW_LEAK = "\n\ndef added_in_this_pr(engine):\n    db = Session(engine)\n    return db.query(2).all()\n"


def _doc_blocks(page: str, language: str, heading: str) -> list[str]:
    text = "\n" + (REPO / page).read_text(encoding="utf-8")
    section = text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, re.DOTALL)


def _workflow_step(name: str, page: str = "docs/ci.md", heading: str = "## GitHub Actions") -> str:
    workflow = yaml.safe_load(_doc_blocks(page, "yaml", heading)[0])
    steps = workflow["jobs"]["sqla-lint"]["steps"]
    return next(step["run"] for step in steps if step.get("name") == name)


def test_readme_gate_is_the_documented_gate():
    """The README's short workflow gates with the same step that the test below runs from docs/ci.md."""
    assert _workflow_step("sqla-lint gate", "README.md", "## CI") == _workflow_step("sqla-lint gate")


def _run_documented(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A documented shell command, with this environment's `sqla-lint` on PATH, as on Actions."""
    env = {**os.environ, "GITHUB_ACTIONS": "true", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_documented_gate_reports_only_the_new_leak(tmp_path: Path):
    repo = init_repo(tmp_path / "repo")
    (repo / "pyproject.toml").write_text('[project]\nname = "shop"\n\n[tool.sqla-lint]\nbaseline = "sqla-lint-baseline.json"\n')
    (repo / "shop.py").write_text(OLD_LEAK)
    adoption = [line.strip() for line in _doc_blocks("docs/adopting.md", "sh", "# Adopting sqla-lint on an existing codebase")[0].splitlines() if line.strip().startswith("sqla-lint ")]
    assert adoption == ["sqla-lint check . --write-baseline"]
    written = _run_documented(adoption[0], repo)
    assert written.returncode == 0, written.stderr
    commit_all(repo, "adopt sqla-lint with a baseline")

    # The pull request adds lines above the old leak and a new leak below it.
    (repo / "shop.py").write_text("import logging\n\n" + OLD_LEAK + NEW_LEAK)
    gate = _run_documented(_workflow_step("sqla-lint gate"), repo)
    assert gate.returncode == 1, gate.stderr
    annotations = gate.stdout.splitlines()
    assert len(annotations) == 1, gate.stdout
    assert annotations[0].startswith("::error title=sqla-lint (SQA401),file=shop.py,line=12,endLine=12,col=10,endColumn=25::")
    assert "`db`" in annotations[0]
    assert "1 finding hidden by the baseline" in gate.stderr

    sarif = _run_documented(_workflow_step("sqla-lint SARIF"), repo)
    assert sarif.returncode == 0 and sarif.stdout == ""
    assert '"ruleId": "SQA401"' in (repo / "sqla-lint.sarif").read_text()

    # Without the baseline both leaks are there: the gate really is hiding the old one.
    assert len([line for line in run_cli("check", "--isolated", ".", cwd=repo).stdout.splitlines() if "SQA401" in line]) == 2


def test_documented_gitlab_job_writes_code_quality(tmp_path: Path):
    job = yaml.safe_load(_doc_blocks("docs/ci.md", "yaml", "## GitLab CI")[0])["sqla-lint"]
    project = tmp_path / "project"
    project.mkdir()
    (project / "shop.py").write_text(OLD_LEAK)
    report_step, gate_step = job["script"][1:]
    assert _run_documented(report_step, project).returncode == 0
    assert (project / job["artifacts"]["reports"]["codequality"]).read_text().count('"check_name": "SQA401"') == 1
    env_free = subprocess.run(["bash", "-c", gate_step], cwd=project, capture_output=True, text=True, timeout=300,
                              env={**{k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})
    assert env_free.returncode == 1 and "shop.py:5:9: SQA401" in env_free.stdout
