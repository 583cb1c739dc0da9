"""The baseline: findings a team has accepted for now, so CI fails only on new ones.

An entry is keyed by the file's path (relative to the baseline file, ``/``-separated), the
code, and a fingerprint of the finding's normalised statement and enclosing function (see
:mod:`sqla_lint.fingerprints`), with a count for identical statements. Line numbers are
not part of the key, so entries survive code moving up and down; editing the statement
itself makes the finding new again, on purpose.

The file is JSON with one entry per line, sorted, so baseline changes review and merge
like code. Entries whose file was linted (or no longer exists) and that matched nothing
are stale: the finding was fixed, and ``--prune-baseline`` removes them.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .diagnostics import Diagnostic
from .fingerprints import Anchor
from .settings import ConfigError

FORMAT_VERSION = 1
DEFAULT_NAME = "sqla-lint-baseline.json"


@dataclass(frozen=True, order=True)
class Key:
    path: str
    code: str
    fingerprint: str


@dataclass(frozen=True)
class Entry:
    key: Key
    count: int
    scope: str = ""
    statement: str = ""


@dataclass(frozen=True)
class Outcome:
    kept: list[Diagnostic]  # not in the baseline: these are reported
    hidden: int  # findings the baseline accounted for
    stale: list[Entry]  # entries (with the unmatched count) for findings that are gone


class Baseline:
    def __init__(self, path: Path, entries: Iterable[Entry] = ()) -> None:
        self.path = path
        self.entries: dict[Key, Entry] = {entry.key: entry for entry in entries}

    @property
    def directory(self) -> Path:
        return Path(os.path.abspath(self.path)).parent

    def relative(self, path: str) -> str:
        return Path(os.path.relpath(os.path.abspath(path), self.directory)).as_posix()

    @classmethod
    def load(cls, path: Path) -> Baseline:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"baseline {path} does not exist; create it with --write-baseline") from None
        except OSError as error:
            raise ConfigError(f"cannot read baseline {path}: {error.strerror}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ConfigError(f"baseline {path} is not valid JSON: {error}") from None
        if not isinstance(data, dict) or data.get("sqla-lint-baseline") != FORMAT_VERSION or not isinstance(data.get("entries"), list):
            raise ConfigError(f"baseline {path} is not a sqla-lint baseline (version {FORMAT_VERSION})")
        entries = []
        for number, item in enumerate(data["entries"], start=1):
            try:
                key = Key(str(item["path"]), str(item["code"]), str(item["fingerprint"]))
                count = int(item.get("count", 1))
            except (TypeError, KeyError, ValueError):
                raise ConfigError(f"baseline {path}: entry {number} needs path, code, fingerprint and count") from None
            entries.append(Entry(key, count, str(item.get("scope", "")), str(item.get("statement", ""))))
        return cls(path, entries)

    def apply(self, diagnostics: list[Diagnostic], anchor: Callable[[Diagnostic], Anchor], in_scope: Callable[[str, str], bool]) -> Outcome:
        """Hide findings the baseline covers; ``in_scope(path, code)`` says what this run checked."""
        remaining = Counter({key: entry.count for key, entry in self.entries.items()})
        kept, hidden = [], 0
        for diagnostic in diagnostics:
            key = Key(self.relative(diagnostic.path), diagnostic.code, anchor(diagnostic).fingerprint)
            if remaining[key] > 0:
                remaining[key] -= 1
                hidden += 1
            else:
                kept.append(diagnostic)
        stale = []
        for key, entry in sorted(self.entries.items()):
            unused = remaining[key]
            if unused > 0 and (in_scope(key.path, key.code) or not (self.directory / key.path).exists()):
                stale.append(Entry(key, unused, entry.scope, entry.statement))
        return Outcome(kept, hidden, stale)

    def pruned(self, stale: list[Entry]) -> Baseline:
        counts = Counter({key: entry.count for key, entry in self.entries.items()})
        for entry in stale:
            counts[entry.key] -= entry.count
        return Baseline(self.path, (Entry(k, counts[k], e.scope, e.statement) for k, e in self.entries.items() if counts[k] > 0))

    def replaced(self, diagnostics: list[Diagnostic], anchor: Callable[[Diagnostic], Anchor], in_scope: Callable[[str, str], bool]) -> Baseline:
        """This run's findings, plus the old entries for files or codes this run did not check."""
        counts: Counter[Key] = Counter()
        details: dict[Key, Anchor] = {}
        for diagnostic in diagnostics:
            found = anchor(diagnostic)
            key = Key(self.relative(diagnostic.path), diagnostic.code, found.fingerprint)
            counts[key] += 1
            details[key] = found
        entries = [Entry(key, count, details[key].scope, details[key].preview) for key, count in counts.items()]
        entries += [e for k, e in self.entries.items() if k not in counts and not in_scope(k.path, k.code)]
        return Baseline(self.path, entries)

    @property
    def total(self) -> int:
        return sum(entry.count for entry in self.entries.values())

    def write(self) -> None:
        lines = []
        for key, entry in sorted(self.entries.items(), key=lambda item: (item[0].path, item[0].code, item[1].scope, item[0].fingerprint)):
            item = {"path": key.path, "code": key.code, "fingerprint": key.fingerprint, "count": entry.count, "scope": entry.scope, "statement": entry.statement}
            lines.append(json.dumps(item, ensure_ascii=False))
        body = ",\n".join(lines)
        text = f'{{"sqla-lint-baseline": {FORMAT_VERSION}, "entries": [\n{body}\n]}}\n' if lines else f'{{"sqla-lint-baseline": {FORMAT_VERSION}, "entries": []}}\n'
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(text, encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"cannot write baseline {self.path}: {error.strerror}") from None
