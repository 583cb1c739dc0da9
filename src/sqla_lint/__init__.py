"""sqla-lint: finds SQLAlchemy sessions, connections, engines and pools that are never given back."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sqla-lint")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

from .api import lint_file, lint_paths, lint_source
from .diagnostics import Diagnostic, FileResult
from .settings import Settings

__all__ = ["Diagnostic", "FileResult", "Settings", "__version__", "lint_file", "lint_paths", "lint_source"]
