"""``# noqa`` comments: which findings they suppress, and writing them for ``--add-noqa``.

The CLI reads ``# noqa`` exactly as flake8 does, so the two front ends agree on every
(file, line, code): the comment goes on the reported row (the statement's first line),
or on any line joined to it by a backslash or a multi-line string, and codes are
prefixes (``# noqa: SQA4``). A file-level ``# sqla-lint: noqa`` or
``# sqla-lint: noqa: SQA401,SQA5`` on a line of its own silences the whole file.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import tokenize
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .diagnostics import Diagnostic

# flake8's own pattern (flake8.defaults.NOQA_INLINE_REGEXP), so both front ends read it alike.
NOQA = re.compile(r"# noqa(?::[\s]?(?P<codes>([A-Z]+[0-9]+(?:[,\s]+)?)+))?", re.IGNORECASE)
FILE_NOQA = re.compile(rb"^[ \t]*#[ \t]*sqla-lint:[ \t]*noqa(?::[ \t]*(?P<codes>[A-Z]+[0-9]*(?:[ \t,]+[A-Z]+[0-9]*)*))?[ \t]*$", re.IGNORECASE | re.MULTILINE)


def codes_match(codes: str | None, code: str) -> bool:
    """A bare noqa matches everything; otherwise any listed code or prefix."""
    if codes is None:
        return True
    return any(code.startswith(part.upper()) for part in re.split(r"[\s,]+", codes.strip()) if part)


def logical_line_ranges(data: bytes) -> dict[int, tuple[int, int]]:
    """Row -> the rows flake8 searches for its ``noqa``: joined by backslashes or strings.

    Mirrors ``flake8.processor.FileProcessor._noqa_line_mapping``; lines inside brackets
    stay separate because the tokenizer ends each with an ``NL`` token.
    """
    ranges: dict[int, tuple[int, int]] = {}
    first, last = 0, 0
    try:
        for token in tokenize.tokenize(io.BytesIO(data).readline):
            if token.type in (tokenize.ENCODING, tokenize.ENDMARKER, tokenize.DEDENT):
                continue
            first = min(first, token.start[0]) if first else token.start[0]
            last = max(last, token.end[0])
            if token.type in (tokenize.NL, tokenize.NEWLINE):
                for row in range(first, last + 1):
                    ranges[row] = (first, last)
                first, last = 0, 0
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
        return {}
    return ranges


def apply_noqa(diagnostics: list[Diagnostic], data: bytes) -> list[Diagnostic]:
    """Drop findings suppressed by ``# noqa[: CODES]`` or a file-level ``# sqla-lint: noqa``."""
    file_level = [m.group("codes") for m in FILE_NOQA.finditer(data)]
    lines = data.decode("utf-8", errors="replace").splitlines()
    ranges: dict[int, tuple[int, int]] | None = None
    kept = []
    for diagnostic in diagnostics:
        if any(codes_match(codes.decode() if codes else None, diagnostic.code) for codes in file_level):
            continue
        row = diagnostic.location.row
        if ranges is None:
            ranges = logical_line_ranges(data)
        first, last = ranges.get(row, (row, row))
        text = "".join(lines[first - 1 : last])
        match = NOQA.search(text)
        if match is None or not codes_match(match.group("codes"), diagnostic.code):
            kept.append(diagnostic)
    return kept


@dataclass(frozen=True)
class AddNoqaResult:
    added: int  # comments written or extended
    files: int
    skipped: list[Diagnostic]  # rows where a comment cannot go (inside a string, after a backslash)


def add_noqa(diagnostics: Iterable[Diagnostic]) -> AddNoqaResult:
    """Append ``# noqa: CODE`` to each finding's reported line, extending an existing one."""
    by_path: dict[str, dict[int, list[Diagnostic]]] = defaultdict(lambda: defaultdict(list))
    for diagnostic in diagnostics:
        by_path[diagnostic.path][diagnostic.location.row].append(diagnostic)
    added, files, skipped = 0, 0, []
    for path, rows in sorted(by_path.items()):
        data = Path(path).read_bytes()
        updated, count, unplaced = _add_to_source(data, rows)
        skipped += unplaced
        if count:
            _write_atomically(Path(path), updated)
            added += count
            files += 1
    return AddNoqaResult(added, files, skipped)


def _commentable_rows(data: bytes) -> set[int]:
    """Rows whose end is outside any string and not continued by a backslash."""
    rows = set()
    try:
        for token in tokenize.tokenize(io.BytesIO(data).readline):
            if token.type in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
                rows.add(token.start[0])
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
        pass
    return rows


def _add_to_source(data: bytes, rows: dict[int, list[Diagnostic]]) -> tuple[bytes, int, list[Diagnostic]]:
    lines = data.splitlines(keepends=True)
    commentable = _commentable_rows(data)
    count, unplaced = 0, []
    for row, found in rows.items():
        if row not in commentable or not 0 < row <= len(lines):
            unplaced += found
            continue
        line = lines[row - 1]
        body = line.rstrip(b"\r\n")
        ending = line[len(body) :]
        text = body.decode("utf-8", errors="surrogateescape")
        codes = sorted({d.code for d in found})
        match = NOQA.search(text)
        if match is not None and match.group("codes") is None:
            continue  # a bare noqa already covers everything
        if match is not None:
            present = [c for c in re.split(r"[\s,]+", match.group("codes").strip()) if c]
            merged = present + [c for c in codes if not codes_match(match.group("codes"), c)]
            text = text[: match.start()] + "# noqa: " + ", ".join(merged) + text[match.end() :].lstrip(", ")
        else:
            text = text.rstrip() + "  # noqa: " + ", ".join(codes)
        lines[row - 1] = text.encode("utf-8", errors="surrogateescape") + ending
        count += 1
    return b"".join(lines), count, unplaced


def _write_atomically(path: Path, data: bytes) -> None:
    """Temp file in the same directory plus rename: a crash never leaves half a file."""
    mode = path.stat().st_mode
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
