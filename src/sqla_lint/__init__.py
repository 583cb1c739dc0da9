"""sqla-lint: finds SQLAlchemy sessions, connections, engines and pools that are never given back.

The library names below are imported on first use (PEP 562), not with the package: a run
whose results all come from the cache never needs libcst, and importing it is a third of
that run's time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Said by the package itself rather than read through importlib.metadata, which costs a
# tenth of a warm run's start-up; tests/test_distribution.py holds them to pyproject.toml.
# The index name differs from the command's: "sqla-lint" there is an unrelated project.
DISTRIBUTION = "sqlalchemy-lifecycle-lint"
HOMEPAGE = "https://github.com/sqla-lint/sqla-lint"
DOCS_URL = f"{HOMEPAGE}#readme"

__all__ = ["DISTRIBUTION", "DOCS_URL", "HOMEPAGE", "Diagnostic", "FileResult", "Settings", "__version__", "lint_file", "lint_paths", "lint_source"]

_HOMES = {
    "lint_file": "api",
    "lint_paths": "api",
    "lint_source": "api",
    "Diagnostic": "diagnostics",
    "FileResult": "diagnostics",
    "Settings": "settings",
}

if TYPE_CHECKING:
    from .api import lint_file, lint_paths, lint_source
    from .diagnostics import Diagnostic, FileResult
    from .settings import Settings


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{_HOMES[name]}", __name__), name)
