"""Value types shared by the engine, the fixer and the output formats.

They are frozen, picklable dataclasses so results can cross process boundaries and be
cached without custom serialisation.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Applicability(enum.Enum):
    SAFE = "safe"
    UNSAFE = "unsafe"


@dataclass(frozen=True, order=True)
class Location:
    """A 1-based row and column, as ruff and flake8 report them."""

    row: int
    column: int


@dataclass(frozen=True)
class Edit:
    """Replace the text between two locations (end exclusive) with ``content``."""

    content: str
    location: Location
    end_location: Location


@dataclass(frozen=True)
class Fix:
    applicability: Applicability
    message: str
    edits: tuple[Edit, ...]


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    path: str
    location: Location
    end_location: Location
    fix: Fix | None = None
    # The reported row, where a `# noqa` goes: the first line of the statement that holds
    # the finding (or the decorator, when that is what is reported).
    statement_row: int = 0

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.location.row, self.location.column, self.code)


@dataclass(frozen=True)
class FileResult:
    """What linting one file produced; an unreadable file is a result, not an exception."""

    path: str
    diagnostics: tuple[Diagnostic, ...] = ()
    error: str | None = None  # set when the file could not be read at all
    skipped: str | None = None  # why a readable file was not linted (it is too large)
    fixed_source: bytes | None = field(default=None, compare=False)
