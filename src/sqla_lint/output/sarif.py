"""SARIF 2.1.0, the format GitHub code scanning uploads.

Every rule is listed with its documentation page as help text, so an alert explains
itself in the Security tab. Locations are 1-based regions in a URI relative to
``%SRCROOT%`` (the directory sqla-lint ran in, normally the checkout), columns count code
points, and each result carries a line-independent fingerprint so an alert survives code
moving up and down.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import quote

from .. import HOMEPAGE, __version__
from ..diagnostics import Diagnostic, Location
from .json_format import DOCS_URL

if TYPE_CHECKING:
    from . import RenderContext

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"


def _rules() -> list[dict[str, Any]]:
    from ..docs import rule_page, rules_table, section  # the rule pages load the rules

    rules = []
    for code, name, fix, summary in rules_table():
        page = rule_page(code)
        rules.append(
            {
                "id": code,
                "name": name,
                "shortDescription": {"text": summary},
                "fullDescription": {"text": section(page, "What it does") or summary},
                "help": {"text": page, "markdown": page},
                "helpUri": DOCS_URL.format(code=code),
                "defaultConfiguration": {"level": "error"},
                "properties": {"fix": fix},
            }
        )
    return rules


def _artifact(path: str) -> dict[str, str]:
    if path.startswith("/"):
        return {"uri": "file://" + quote(path)}
    return {"uri": quote(path), "uriBaseId": SRCROOT}


def _region(start: Location, end: Location) -> dict[str, int]:
    end = max(end, start)
    return {"startLine": start.row, "startColumn": start.column, "endLine": end.row, "endColumn": end.column}


def _fixes(diagnostic: Diagnostic, artifact: dict[str, str]) -> list[dict[str, Any]]:
    if diagnostic.fix is None:
        return []
    replacements = [
        {"deletedRegion": _region(edit.location, edit.end_location), "insertedContent": {"text": edit.content}}
        for edit in diagnostic.fix.edits
    ]
    return [{"description": {"text": diagnostic.fix.message}, "artifactChanges": [{"artifactLocation": artifact, "replacements": replacements}]}]


def document(diagnostics: list[Diagnostic], context: RenderContext) -> dict[str, Any]:
    rules = _rules()
    index_of = {rule["id"]: position for position, rule in enumerate(rules)}
    results = []
    for diagnostic in diagnostics:
        artifact = _artifact(context.relative(diagnostic.path))
        anchor = context.anchor(diagnostic)
        result: dict[str, Any] = {
            "ruleId": diagnostic.code,
            "level": "error",
            "message": {"text": diagnostic.message},
            "locations": [
                {"physicalLocation": {"artifactLocation": artifact, "region": _region(diagnostic.location, diagnostic.end_location)}}
            ],
            "partialFingerprints": {"sqlaLintStatement/v1": anchor.fingerprint},
        }
        if diagnostic.code in index_of:
            result["ruleIndex"] = index_of[diagnostic.code]
        fixes = _fixes(diagnostic, artifact)
        if fixes:
            result["fixes"] = fixes
        results.append(result)
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "sqla-lint",
                        "version": __version__,
                        "informationUri": HOMEPAGE,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {SRCROOT: {"uri": context.root.as_uri() + "/"}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def render(diagnostics: list[Diagnostic], stream: TextIO, context: RenderContext) -> None:
    json.dump(document(diagnostics, context), stream, indent=2, ensure_ascii=False)
    stream.write("\n")
