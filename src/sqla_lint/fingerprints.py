"""Fingerprints that identify a finding by what the code says, not by where it is.

A baseline written today must still match after lines are added above a finding, and a
code-scanning alert must stay the same alert when its function moves down the file. So a
fingerprint hashes the finding's statement, with whitespace and comments normalised away,
and the name of the function or class that encloses it; never a line number.

This works on the file's bytes with the stdlib tokenizer and ``ast`` (only files that have
findings are read), so it also covers files that libcst cannot parse.
"""

from __future__ import annotations

import ast
import hashlib
import io
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

_LAYOUT_TOKENS = frozenset({tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER, tokenize.ENCODING})
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
STATEMENT_PREVIEW = 80


@dataclass(frozen=True)
class Anchor:
    """Where a finding is, in terms that survive code moving up and down."""

    scope: str  # "Class.method", "function", or "" at module level
    statement: str  # the statement's tokens joined by single spaces

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256(f"{self.scope}\n{self.statement}".encode("utf-8"))
        return digest.hexdigest()[:16]

    @property
    def preview(self) -> str:
        text = self.statement
        return text if len(text) <= STATEMENT_PREVIEW else text[: STATEMENT_PREVIEW - 1] + "…"


class SourceIndex:
    """Answers "which logical line and which scope hold row N?" for one file."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    @cached_property
    def _lines(self) -> list[str]:
        return self._data.decode("utf-8", errors="replace").splitlines()

    @cached_property
    def logical_lines(self) -> list[tuple[int, int, list[str]]]:
        """``(first_row, last_row, significant token strings)`` per logical line.

        A statement in brackets spanning several rows is one logical line, so its
        fingerprint covers all of it; blank and comment-only lines are skipped.
        """
        result: list[tuple[int, int, list[str]]] = []
        first, last = 0, 0
        strings: list[str] = []
        try:
            for token in tokenize.tokenize(io.BytesIO(self._data).readline):
                if token.type in _LAYOUT_TOKENS and not strings:
                    first, last = 0, 0
                    continue
                first = first or token.start[0]
                last = max(last, token.end[0])
                if token.type not in _LAYOUT_TOKENS:
                    strings.append(token.string)
                if token.type == tokenize.NEWLINE:
                    result.append((first, last, strings))
                    first, last, strings = 0, 0, []
        except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
            pass
        return result

    @cached_property
    def _scopes(self) -> list[tuple[int, int, int, str]]:
        """``(body_first_row, last_row, depth, qualified name)`` for every def and class."""
        try:
            tree = ast.parse(self._data)
        except SyntaxError:
            # Newer Python than the interpreter's has scopes too. Only then is libcst
            # loaded: a run answered from the cache does without it.
            from .semantic.parsing import cpython_tree

            found_tree = cpython_tree(self._data)
            if found_tree is None:
                return []
            tree = found_tree
        except (ValueError, RecursionError, MemoryError):
            return []
        found: list[tuple[int, int, int, str]] = []

        def visit(node: ast.AST, prefix: str, depth: int) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, _SCOPES):
                    name = f"{prefix}{child.name}"
                    found.append((_first_row(child.body[0]), child.end_lineno or child.lineno, depth, name))
                    visit(child, f"{name}.", depth + 1)
                else:
                    visit(child, prefix, depth)

        visit(tree, "", 0)
        return found

    def scope_of(self, row: int) -> str:
        best = ("", -1)
        for body_first, last, depth, name in self._scopes:
            if body_first <= row <= last and depth > best[1]:
                best = (name, depth)
        return best[0]

    def statement_at(self, row: int) -> str:
        """The logical line holding ``row``; a decorator line runs on to its ``def``/``class``."""
        lines = self.logical_lines
        for index, (first, last, strings) in enumerate(lines):
            if first <= row <= last:
                parts = list(strings)
                while lines[index][2][0] == "@" and index + 1 < len(lines):
                    index += 1
                    parts += lines[index][2]
                return " ".join(parts)
        if 0 < row <= len(self._lines):
            return " ".join(self._lines[row - 1].split())
        return ""

    def anchor(self, row: int) -> Anchor:
        return Anchor(self.scope_of(row), self.statement_at(row))


def _first_row(statement: ast.stmt) -> int:
    """Where a statement starts, counting its decorators (``ast`` puts ``lineno`` on ``def``)."""
    decorators: list[ast.expr] = getattr(statement, "decorator_list", [])
    return min([statement.lineno, *(decorator.lineno for decorator in decorators)])


def occurrence_fingerprints(keys: Sequence[tuple[str, ...]]) -> list[str]:
    """One stable, unique hash per key, numbering repeats in order (for GitLab and SARIF)."""
    seen: dict[tuple[str, ...], int] = {}
    hashes = []
    for key in keys:
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        hashes.append(hashlib.sha256("\0".join((*key, str(occurrence))).encode("utf-8")).hexdigest())
    return hashes
