"""Every ``.py`` file of the standard library and of this environment's site-packages, linted
in parallel through the library API: no exception, and every file accounted for.

A file is accounted for as linted (with or without findings), as SQA001 (it does not
parse: the standard library ships deliberately broken test data), as unreadable (with the
reason), or as skipped for size (with the reason). Nothing is dropped and nothing is
reported twice. Run alone with ``python3 -m pytest -m slow``.
"""

from __future__ import annotations

import os
import site
import sysconfig
from collections import Counter
from pathlib import Path

import pytest

from sqla_lint.api import lint_paths
from sqla_lint.diagnostics import FileResult
from sqla_lint.settings import SYNTAX_ERROR_CODE, Settings

pytestmark = pytest.mark.slow


def _python_files(root: Path, skip: set[Path]) -> set[Path]:
    found = set()
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = [name for name in subdirectories if Path(directory, name) not in skip]
        found.update(Path(directory, name) for name in names if name.endswith(".py"))
    return found


def _corpus() -> tuple[set[Path], set[Path]]:
    """The standard library (without the interpreter's own site-packages, which need not be
    this environment's) and the site-packages directories of this environment."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    packages = {Path(p) for p in (*site.getsitepackages(), sysconfig.get_paths()["purelib"]) if Path(p).is_dir()}
    library = _python_files(stdlib, skip={stdlib / "site-packages", *packages})
    installed = set().union(*(_python_files(p, skip=set()) for p in packages))
    return library, installed - library


def _outcome(result: FileResult) -> str:
    if result.error:
        return "unreadable"
    if result.skipped:
        return "skipped"
    if any(d.code == SYNTAX_ERROR_CODE for d in result.diagnostics):
        return SYNTAX_ERROR_CODE
    return "linted"


def test_stdlib_and_site_packages_lint_without_a_crash():
    library, installed = _corpus()
    files = sorted(library | installed)
    # No cache and no writes: the interpreter's directories are not ours to litter.
    settings = Settings(cache=False)
    results = list(lint_paths([str(path) for path in files], settings, jobs=os.cpu_count() or 1))

    by_path = Counter(result.path for result in results)
    assert sorted(by_path) == [str(path) for path in files], "a file is missing from the results"
    assert max(by_path.values()) == 1, "a file was reported twice"

    outcomes = Counter(_outcome(result) for result in results)
    reasons = [f"{r.path}: {r.error or r.skipped}" for r in results if r.error or r.skipped]
    unparsable = sorted(r.path for r in results if _outcome(r) == SYNTAX_ERROR_CODE)
    print(f"\n{len(library)} stdlib + {len(installed)} site-packages files: {dict(outcomes)}")
    print("\n".join(["SQA001:", *unparsable, "not linted:", *reasons]))

    assert len(library) > 500 and len(installed) > 500  # both corpora were found
    assert outcomes["unreadable"] == 0, reasons
    assert all(r.skipped and "size limit" in r.skipped for r in results if _outcome(r) == "skipped")
    # SQA001 belongs to the standard library's deliberately broken test data (tokenizer
    # and lib2to3 samples); everything importable must parse.
    assert all(("test" in Path(path).parts or "tests" in Path(path).parts) for path in unparsable), unparsable
    assert outcomes["linted"] >= 0.98 * len(files)
    findings = Counter(d.code for r in results for d in r.diagnostics if d.code != SYNTAX_ERROR_CODE)
    print(f"rule findings: {dict(findings)}")
