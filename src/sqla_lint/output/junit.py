"""JUnit XML, for CI systems that only show test reports: one test suite per file, one
failing test case per finding, and a single passing case when there are none."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from itertools import groupby
from typing import TYPE_CHECKING, TextIO

from ..diagnostics import Diagnostic

if TYPE_CHECKING:
    from . import RenderContext


def render(diagnostics: list[Diagnostic], stream: TextIO, context: RenderContext) -> None:
    count = str(len(diagnostics))
    root = ET.Element("testsuites", name="sqla-lint", tests=count, failures=count, errors="0")
    if not diagnostics:
        suite = ET.SubElement(root, "testsuite", name="sqla-lint", tests="1", failures="0", errors="0")
        ET.SubElement(suite, "testcase", name="No findings", classname="sqla-lint")
    for path, group in groupby(diagnostics, key=lambda d: context.relative(d.path)):
        findings = list(group)
        suite = ET.SubElement(root, "testsuite", name=path, tests=str(len(findings)), failures=str(len(findings)), errors="0")
        for diagnostic in findings:
            where = f"{diagnostic.location.row}:{diagnostic.location.column}"
            case = ET.SubElement(suite, "testcase", name=f"{diagnostic.code} {path}:{where}", classname=path, file=path, line=str(diagnostic.location.row))
            failure = ET.SubElement(case, "failure", message=diagnostic.message, type=diagnostic.code)
            failure.text = f"{path}:{where}: {diagnostic.code} {diagnostic.message}"
    ET.indent(root)
    stream.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    stream.write(ET.tostring(root, encoding="unicode"))
    stream.write("\n")
