"""Run ``--fix`` over a copy of the benchmark corpus and check what it did.

For each project, the cached sources (see ``corpus.py``) are copied to a temporary
directory, so the cache is never modified. The fixer then runs over the copy, and the
script checks that every changed file still compiles and that a second run changes
nothing. It prints, per project, the files changed, the fixes per rule, the findings
that remain and those checks; ``--diffs DIR`` saves one unified diff per changed file
for review.

Usage::

    python benchmarks/fix_corpus.py [--cache-dir DIR] [--project NAME ...] [--diffs DIR]

Exit 0 when every check holds, 1 when one fails, 2 when the corpus cannot be fetched.
"""

from __future__ import annotations

import argparse
import difflib
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

from sqla_lint.api import fix_paths
from sqla_lint.edits import decode
from sqla_lint.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.corpus import PROJECTS, CorpusError, ensure_corpus  # noqa: E402


def fix_project(name: str, tree: Path, diffs: Path | None) -> bool:
    settings = Settings()
    with tempfile.TemporaryDirectory(prefix=f"sqla-lint-fix-{name}-") as scratch:
        copy = Path(scratch) / name
        shutil.copytree(tree, copy)
        first = list(fix_paths([str(copy)], settings))
        changed = [outcome for outcome in first if outcome.source is not None]
        fixes = Counter(code for outcome in first for code in outcome.fixed)
        remaining = Counter(d.code for outcome in first for d in outcome.result.diagnostics)
        errors = [f"{outcome.path}: {outcome.error or outcome.result.error}" for outcome in first if outcome.error or outcome.result.error]
        broken = []
        for outcome in changed:
            try:
                compile(Path(outcome.path).read_bytes(), outcome.path, "exec", dont_inherit=True)
            except SyntaxError as error:
                broken.append(f"{outcome.path}: {error}")
            if diffs is not None:
                _save_diff(diffs / name, copy, outcome.path, outcome.original, outcome.source)
        second = list(fix_paths([str(copy)], settings))
        not_idempotent = [outcome.path for outcome in second if outcome.source is not None or outcome.fixed]
    print(f"{name}: {len(first)} files, {len(changed)} changed")
    print(f"  fixes: {sum(fixes.values())} ({_counts(fixes)})")
    print(f"  remaining findings: {sum(remaining.values())} ({_counts(remaining)})")
    print(f"  changed files that do not compile: {len(broken)}")
    print(f"  files a second --fix changes: {len(not_idempotent)}")
    for line in errors + broken + not_idempotent:
        print(f"    {line}")
    return not (errors or broken or not_idempotent)


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{code}: {count}" for code, count in sorted(counter.items())) or "none"


def _save_diff(directory: Path, root: Path, path: str, before: bytes | None, after: bytes | None) -> None:
    assert before is not None and after is not None
    relative = Path(path).relative_to(root)
    target = directory / (str(relative).replace("/", "__") + ".diff")
    target.parent.mkdir(parents=True, exist_ok=True)
    lines = difflib.unified_diff(
        decode(before)[0].splitlines(keepends=True),
        decode(after)[0].splitlines(keepends=True),
        fromfile=f"a/{relative}",
        tofile=f"b/{relative}",
    )
    target.write_text("".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--project", action="append", choices=sorted(PROJECTS))
    parser.add_argument("--diffs", type=Path, default=None, help="save one unified diff per changed file here")
    args = parser.parse_args(argv)
    try:
        trees = ensure_corpus(cache_dir=args.cache_dir, projects=args.project)
    except CorpusError as error:
        print(f"fix_corpus: {error}", file=sys.stderr)
        return 2
    ok = True
    for name, tree in sorted(trees.items()):
        ok = fix_project(name, Path(tree), args.diffs) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
