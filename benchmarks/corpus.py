"""Fetch the benchmark corpus: real-world SQLAlchemy code from pinned wheels.

The corpus is the Python source of three large projects that use SQLAlchemy
heavily.  Each is downloaded as a pinned wheel with pip and only its ``.py``
files are extracted, into a cache directory outside the repository::

    <cache>/wheels/<wheel file>
    <cache>/src/<project>/...            the extracted .py files
    <cache>/src/<project>/.sqla-lint-bench.json   completion marker

The cache directory is, in order of precedence, ``--cache-dir``, the
environment variable ``SQLA_LINT_BENCH_CACHE``, or ``~/.cache/sqla-lint-bench``.

A wheel already in ``<cache>/wheels`` is not downloaded again, and a tree whose
marker names the same wheel file is not extracted again.  The marker is written
only after a complete extraction, so an interrupted one is redone next time.

Usage::

    python benchmarks/corpus.py [--cache-dir DIR] [--project NAME ...] [--force]

or, from Python::

    from benchmarks.corpus import ensure_corpus
    trees = ensure_corpus()          # {"mlflow": Path(...), ...}

Standard library only.  Exit codes: 0 on success, 2 when pip or extraction
fails (with a message on stderr, not a traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Mapping

__all__ = [
    "CACHE_ENV",
    "DEFAULT_CACHE",
    "PROJECTS",
    "CorpusError",
    "CorpusTree",
    "count_tree",
    "default_cache_dir",
    "ensure_corpus",
    "ensure_project",
    "main",
]

#: Pinned projects and versions.  Changing a pin changes the wheel file name,
#: which invalidates the cached extraction of that project.
PROJECTS: dict[str, str] = {
    "apache-airflow-core": "3.3.2",
    "apache-superset": "6.1.0",
    "mlflow": "3.18.0",
}

CACHE_ENV = "SQLA_LINT_BENCH_CACHE"
DEFAULT_CACHE = Path("~/.cache/sqla-lint-bench")
MARKER_NAME = ".sqla-lint-bench.json"
MARKER_VERSION = 1


class CorpusError(Exception):
    """A download or extraction failed.  ``str(err)`` is a user-facing message."""


@dataclass(frozen=True)
class CorpusTree:
    project: str
    version: str
    wheel: str
    path: Path
    files: int
    lines: int


Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _silent(msg: str) -> None:
    pass


def default_cache_dir() -> Path:
    """``$SQLA_LINT_BENCH_CACHE`` if set and non-empty, else ``~/.cache/sqla-lint-bench``."""
    env = os.environ.get(CACHE_ENV, "").strip()
    return Path(env or DEFAULT_CACHE).expanduser()


def _resolve_cache_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    if cache_dir is None or str(cache_dir) == "":
        return default_cache_dir().resolve()
    return Path(cache_dir).expanduser().resolve()


def _wheel_prefix(project: str, version: str) -> str:
    # Wheel file names use the normalized distribution name with "_" (PEP 427/491).
    name = re.sub(r"[-_.]+", "_", project).lower()
    return f"{name}-{version}-"


def _find_wheel(wheels_dir: Path, project: str, version: str) -> Path | None:
    if not wheels_dir.is_dir():
        return None
    prefix = _wheel_prefix(project, version)
    matches = sorted(
        p
        for p in wheels_dir.iterdir()
        if p.is_file() and p.name.lower().startswith(prefix) and p.name.endswith(".whl")
    )
    return matches[0] if matches else None


def _download(project: str, version: str, wheels_dir: Path, log: Log) -> Path:
    wheels_dir.mkdir(parents=True, exist_ok=True)
    spec = f"{project}=={version}"
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-input",
        "--dest",
        str(wheels_dir),
        spec,
    ]
    log(f"downloading {spec} ...")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise CorpusError(f"could not run pip ({sys.executable} -m pip): {exc}") from None
    if proc.returncode != 0:
        output = (proc.stderr or "").strip() or (proc.stdout or "").strip()
        tail = "\n".join(
            "    " + (line if len(line) <= 300 else line[:297] + "...")
            for line in output.splitlines()[-15:]
        )
        raise CorpusError(
            f"pip download of {spec} failed (exit {proc.returncode}).\n"
            f"  command: {' '.join(cmd)}\n"
            + (f"  pip said:\n{tail}" if tail else "  pip printed nothing.")
        )
    wheel = _find_wheel(wheels_dir, project, version)
    if wheel is None:
        raise CorpusError(
            f"pip download of {spec} succeeded but no wheel named "
            f"{_wheel_prefix(project, version)}*.whl appeared in {wheels_dir}"
        )
    return wheel


def _read_marker(tree: Path) -> dict | None:
    try:
        data = json.loads((tree / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _safe_member_path(name: str) -> PurePosixPath | None:
    """The relative path of a zip member, or None if it is unsafe or not a .py file."""
    if not name.endswith(".py") or name.endswith("/"):
        return None
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or any(part in ("", "..") for part in path.parts):
        return None
    if ":" in path.parts[0]:  # a Windows drive letter
        return None
    return path


def count_tree(tree: Path) -> tuple[int, int]:
    """Number of ``.py`` files under *tree* and their total number of lines."""
    files = 0
    lines = 0
    for path in tree.rglob("*.py"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        files += 1
        lines += data.count(b"\n")
        if data and not data.endswith(b"\n"):
            lines += 1
    return files, lines


def _extract(wheel: Path, project: str, version: str, tree: Path, log: Log) -> None:
    """Extract the .py files of *wheel* into *tree*, atomically replacing it."""
    parent = tree.parent
    parent.mkdir(parents=True, exist_ok=True)
    log(f"extracting {wheel.name} -> {tree}")
    # Leftovers of an extraction that was killed before it could clean up.
    for stale in parent.glob(f".{project}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{project}.partial-", dir=parent))
    try:
        try:
            with zipfile.ZipFile(wheel) as zf:
                for info in zf.infolist():
                    rel = _safe_member_path(info.filename)
                    if rel is None:
                        continue
                    dest = tmp.joinpath(*rel.parts)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
            # A truncated or corrupt download: drop it so the next run fetches it again.
            wheel.unlink(missing_ok=True)
            raise CorpusError(
                f"{wheel} is not a valid wheel ({exc}); it was deleted, run again to re-download"
            ) from None
        files, lines = count_tree(tmp)
        if files == 0:
            raise CorpusError(f"{wheel.name} contains no .py files")
        marker = {
            "marker_version": MARKER_VERSION,
            "project": project,
            "version": version,
            "wheel": wheel.name,
            "files": files,
            "lines": lines,
        }
        (tmp / MARKER_NAME).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        if tree.exists():
            shutil.rmtree(tree)
        os.replace(tmp, tree)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def ensure_project(
    project: str,
    version: str,
    cache_dir: Path,
    *,
    force: bool = False,
    log: Log = _silent,
) -> CorpusTree:
    """Make sure ``<cache_dir>/src/<project>`` holds the .py files of the pinned wheel."""
    wheels_dir = cache_dir / "wheels"
    tree = cache_dir / "src" / project

    wheel = None if force else _find_wheel(wheels_dir, project, version)
    if wheel is None:
        if force:
            old = _find_wheel(wheels_dir, project, version)
            if old is not None:
                old.unlink()
        wheel = _download(project, version, wheels_dir, log)
    else:
        log(f"{project}: using cached {wheel.name}")

    marker = _read_marker(tree)
    complete = (
        not force
        and marker is not None
        and marker.get("marker_version") == MARKER_VERSION
        and marker.get("wheel") == wheel.name
    )
    if not complete:
        try:
            _extract(wheel, project, version, tree, log)
        except OSError as exc:
            raise CorpusError(f"could not extract {wheel.name} into {tree}: {exc}") from None

    try:
        files, lines = count_tree(tree)
    except OSError as exc:
        raise CorpusError(f"could not read {tree}: {exc}") from None
    return CorpusTree(project, version, wheel.name, tree, files, lines)


def _ensure_trees(
    cache_dir: str | os.PathLike[str] | None = None,
    projects: Iterable[str] | Mapping[str, str] | None = None,
    *,
    force: bool = False,
    log: Log = _silent,
) -> list[CorpusTree]:
    root = _resolve_cache_dir(cache_dir)
    if projects is None:
        pins = dict(PROJECTS)
    elif isinstance(projects, Mapping):
        pins = dict(projects)
    else:
        pins = {}
        for name in projects:
            if name not in PROJECTS:
                known = ", ".join(PROJECTS)
                raise CorpusError(f"unknown project {name!r}; known projects: {known}")
            pins[name] = PROJECTS[name]
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CorpusError(f"cannot create cache directory {root}: {exc}") from None
    return [ensure_project(name, ver, root, force=force, log=log) for name, ver in pins.items()]


def ensure_corpus(
    cache_dir: str | os.PathLike[str] | None = None,
    projects: Iterable[str] | Mapping[str, str] | None = None,
    *,
    force: bool = False,
    log: Log | None = None,
) -> dict[str, Path]:
    """Download and extract the corpus if needed; return ``{project: tree path}``.

    *cache_dir* defaults to ``$SQLA_LINT_BENCH_CACHE`` or ``~/.cache/sqla-lint-bench``.
    *projects* restricts to some of :data:`PROJECTS` (names), or gives other pins
    (a mapping of name to version).  Raises :class:`CorpusError` on failure.
    """
    trees = _ensure_trees(cache_dir, projects, force=force, log=log or _silent)
    return {t.project: t.path for t in trees}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="corpus.py",
        description=(
            "Download the pinned benchmark wheels ("
            + ", ".join(f"{k}=={v}" for k, v in PROJECTS.items())
            + ") and extract their .py files."
        ),
    )
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help=f"cache directory (default: ${CACHE_ENV} or {DEFAULT_CACHE})",
    )
    parser.add_argument(
        "--project",
        action="append",
        choices=list(PROJECTS),
        help="only this project (repeatable; default: all)",
    )
    parser.add_argument(
        "--force", action="store_true", help="re-download and re-extract even if cached"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        trees = _ensure_trees(
            args.cache_dir,
            args.project,
            force=args.force,
            log=_silent if args.quiet else _stderr,
        )
    except CorpusError as exc:
        _stderr(f"corpus.py: error: {exc}")
        return 2
    except KeyboardInterrupt:
        _stderr("corpus.py: interrupted")
        return 130

    width = max(len(t.project) for t in trees)
    total_files = total_lines = 0
    for t in trees:
        print(f"{t.project:<{width}}  {t.files:>6} files  {t.lines:>9,} lines  {t.path}")
        total_files += t.files
        total_lines += t.lines
    print(f"{'total':<{width}}  {total_files:>6} files  {total_lines:>9,} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
