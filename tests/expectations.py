"""Reads the inline ``# expect: CODE "text"`` comments of fixture files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqla_lint.semantic import FactoryConfig
from sqla_lint.settings import Settings

_EXPECT = re.compile(r"#\s*expect:\s*(?P<body>.+)$")
_ITEM = re.compile(r'(?P<code>SQA\d{3})(?:\s+"(?P<text>[^"]*)")?')
_CONFIG = re.compile(r"#\s*sqla-lint:\s*(?P<key>[a-z-]+)\s*=\s*(?P<value>.+)$")


@dataclass(frozen=True)
class Expected:
    row: int
    code: str
    text: str | None


def expectations(path: Path) -> list[Expected]:
    found = []
    for row, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = _EXPECT.search(line)
        if match:
            for item in _ITEM.finditer(match.group("body")):
                found.append(Expected(row, item.group("code"), item.group("text")))
    return found


def settings_for(path: Path) -> Settings:
    """Rule settings from a first-line ``# sqla-lint: session-factories=a,b`` comment."""
    first = path.read_text(encoding="utf-8").splitlines()[:1]
    sessions: frozenset[str] = frozenset()
    engines: frozenset[str] = frozenset()
    for line in first:
        match = _CONFIG.search(line)
        if match:
            values = frozenset(v.strip() for v in match.group("value").split(",") if v.strip())
            if match.group("key") == "session-factories":
                sessions = values
            elif match.group("key") == "engine-factories":
                engines = values
    return Settings(factories=FactoryConfig(sessions, engines))
