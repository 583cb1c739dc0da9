"""``--statistics``: how many findings each code has, most frequent first (as ruff prints)."""

from __future__ import annotations

import json
from collections import Counter
from typing import TextIO

from ..diagnostics import Diagnostic


def render_statistics(diagnostics: list[Diagnostic], stream: TextIO, *, as_json: bool = False) -> None:
    from ..docs import rules_table  # the rule names come from the rules

    names = {code: name for code, name, _fix, _summary in rules_table()}
    counts = Counter(d.code for d in diagnostics)
    fixable = Counter(d.code for d in diagnostics if d.fix is not None)
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    if as_json:
        json.dump([{"code": code, "name": names.get(code, ""), "count": count, "fixable": fixable[code]} for code, count in rows], stream, indent=2)
        stream.write("\n")
        return
    width = max((len(str(count)) for _code, count in rows), default=1)
    for code, count in rows:
        marker = "[*]" if fixable[code] else "[ ]"
        stream.write(f"{count:>{width}}\t{code}\t{marker} {names.get(code, '')}\n")
