"""GitLab Code Quality: a JSON array GitLab shows in the merge request widget and diff.

GitLab matches issues between the source and target branch by ``fingerprint``, so the
fingerprint hashes the path, the code and the finding's statement and scope (plus a
counter for repeats), never the line: an old finding that moved is not reported as new.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, TextIO

from ..diagnostics import Diagnostic
from ..fingerprints import occurrence_fingerprints

if TYPE_CHECKING:
    from . import RenderContext


def render(diagnostics: list[Diagnostic], stream: TextIO, context: RenderContext) -> None:
    paths = [context.relative(d.path) for d in diagnostics]
    keys = [(path, d.code, context.anchor(d).fingerprint) for path, d in zip(paths, diagnostics)]
    issues = [
        {
            "description": f"{d.code} {d.message}",
            "check_name": d.code,
            "fingerprint": fingerprint,
            "severity": "major",
            "location": {"path": path, "lines": {"begin": d.location.row, "end": max(d.end_location.row, d.location.row)}},
        }
        for d, path, fingerprint in zip(diagnostics, paths, occurrence_fingerprints(keys))
    ]
    json.dump(issues, stream, indent=2, ensure_ascii=False)
    stream.write("\n")
