"""How many worker processes the project runs, read from its own deployment files (SQA506).

Every worker process builds its own engines and pools, so the connection budget is the
sum per process times the processes. The number is where the project states it:

- ``workers = N`` in ``gunicorn.conf.py`` (or in a config a command names with ``-c``);
- ``-w N`` / ``--workers N`` of gunicorn, uvicorn or hypercorn in a ``Dockerfile``,
  ``Procfile``, ``docker-compose*.yml``, ``*.sh`` or ``Makefile``;
- ``WEB_CONCURRENCY`` set in those files (gunicorn and uvicorn read it).

Where several files state one, the largest is taken (each is a way the same code may be
deployed). ``workers`` in ``[tool.sqla-lint]`` overrides them all. With none, one process
is assumed, and the report says so. Each number keeps the file and line it came from.
"""

from __future__ import annotations

import ast
import fnmatch
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .discovery import is_excluded
from .semantic.budget import BudgetLimits, Deployment, WorkerCount
from .semantic.project import PROJECT_MARKERS

if TYPE_CHECKING:
    from .semantic.index import ProjectIndex
    from .settings import Settings

_COMMAND_FILES = ("Dockerfile", "Dockerfile.*", "*.Dockerfile", "Procfile", "docker-compose*.yml", "docker-compose*.yaml", "compose.yml", "compose.yaml", "*.sh", "Makefile")
_GUNICORN_CONFIGS = ("gunicorn.conf.py", "gunicorn_conf.py", "gunicorn_config.py")
_SERVERS = re.compile(r"\b(gunicorn|uvicorn|hypercorn)\b")
_WEB_CONCURRENCY = re.compile(r"""WEB_CONCURRENCY["']?\s*(?:=|:|\s)\s*["']?(\d+)|\$\{WEB_CONCURRENCY:-(\d+)\}""")
_PRUNED = frozenset({"node_modules", "__pycache__", ".sqla_lint_cache", "site-packages", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
_MAX_FILE_BYTES = 1 << 20


@dataclass(frozen=True)
class WorkerStatement:
    """One place that states a worker count."""

    number: int | None  # None: set from the machine or the environment, with no default to read
    source: str  # ``Procfile:1``
    how: str  # ``gunicorn -w 4``, ``workers = 4``, ``WEB_CONCURRENCY=4``


def find_worker_statements(root: Path, excludes: tuple[str, ...] = ()) -> list[WorkerStatement]:
    """Every worker count the project's deployment files state, in path order."""
    found: list[WorkerStatement] = []
    configs_named: list[tuple[Path, str]] = []
    for path in _deployment_files(root, excludes):
        text = _read(path)
        if text is None:
            continue
        relative = path.relative_to(root).as_posix()
        if path.name in _GUNICORN_CONFIGS:
            found.extend(_gunicorn_config(text, relative))
            continue
        for number, line in enumerate(_logical_lines(text), start=1):
            found.extend(_command_line(line, f"{relative}:{number}", configs_named, path.parent))
    seen = {statement.source.rpartition(":")[0] for statement in found}
    for config, named_at in configs_named:
        try:
            relative = config.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            continue
        if relative in seen:
            continue
        seen.add(relative)
        text = _read(config)
        if text is not None:
            found.extend(
                WorkerStatement(s.number, s.source, f"{s.how} (the config `-c` names at {named_at})") for s in _gunicorn_config(text, relative)
            )
    return found


def worker_count(statements: list[WorkerStatement], configured: int | None = None, config_path: Path | None = None) -> WorkerCount:
    """The configured ``workers``, else the largest count stated, else one process assumed."""
    if configured is not None:
        where = f" in {config_path.name}" if config_path is not None else ""
        return WorkerCount(configured, f"`workers = {configured}` in [tool.sqla-lint]{where}")
    numbers = [s for s in statements if s.number is not None]
    if not numbers:
        unread = next(iter(statements), None)
        if unread is None:
            return WorkerCount.assume_one()
        return WorkerCount(
            1,
            f"`{unread.how}` at {unread.source} depends on the machine: 1 process assumed; "
            "set `workers` in [tool.sqla-lint]",
            assumed=True,
        )
    largest = max(numbers, key=lambda s: s.number or 0)
    return WorkerCount(largest.number or 1, f"`{largest.how}`, {largest.source}")


def deployment_for(root: Path, excludes: tuple[str, ...], limits: BudgetLimits, configured: int | None = None, config_path: Path | None = None) -> tuple[Deployment, list[WorkerStatement]]:
    statements = [] if configured is not None else find_worker_statements(root, excludes)
    return Deployment(worker_count(statements, configured, config_path), limits), statements


def _deployment_files(root: Path, excludes: tuple[str, ...]) -> list[Path]:
    found: list[Path] = []
    for directory, folders, files in os.walk(root):
        base = Path(directory)
        # A folder with a marker file of its own is another project (an example app, a
        # vendored service): its deployment is not this one's.
        folders[:] = sorted(
            f
            for f in folders
            if f not in _PRUNED
            and not f.startswith(".")
            and not is_excluded((base / f).relative_to(root), excludes)
            and not any((base / f / marker).exists() for marker in PROJECT_MARKERS)
        )
        for name in sorted(files):
            if name in _GUNICORN_CONFIGS or any(fnmatch.fnmatchcase(name, pattern) for pattern in _COMMAND_FILES):
                found.append(base / name)
    return found


def _read(path: Path) -> str | None:
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _logical_lines(text: str) -> list[str]:
    """Lines with ``\\``-continuations joined onto their first line (the others left empty),
    so line numbers stay those of the file."""
    lines = text.splitlines()
    joined = list(lines)
    start = None
    for number, line in enumerate(lines):
        if start is not None:
            joined[start] += " " + line.rstrip("\\")
            joined[number] = ""
        elif line.rstrip().endswith("\\"):
            joined[number] = line.rstrip().rstrip("\\")
        if line.rstrip().endswith("\\"):
            start = number if start is None else start
        else:
            start = None
    return joined


def _words(line: str) -> list[str]:
    """Shell words, also of a Dockerfile's JSON form ``CMD ["gunicorn", "-w", "4"]``."""
    cleaned = re.sub(r'[\[\],]', " ", line)
    try:
        return shlex.split(cleaned, comments=True)
    except ValueError:
        return cleaned.replace('"', " ").replace("'", " ").split()


def _command_line(line: str, source: str, configs_named: list[tuple[Path, str]], directory: Path) -> list[WorkerStatement]:
    found: list[WorkerStatement] = []
    if line.lstrip().startswith("#"):
        return found
    concurrency = _WEB_CONCURRENCY.search(line)
    if concurrency:
        value = concurrency.group(1) or concurrency.group(2)
        how = f"WEB_CONCURRENCY={value}" if concurrency.group(1) else concurrency.group(0)
        found.append(WorkerStatement(int(value), source, how))
    server = _SERVERS.search(line)
    if server is None:
        return found
    words = _words(line[server.start() :])
    name = server.group(1)
    for position, word in enumerate(words):
        value = None
        if word in ("-w", "--workers") and position + 1 < len(words):
            value = words[position + 1]
        elif word.startswith("--workers="):
            value = word.partition("=")[2]
        elif word.startswith("-w") and word[2:].isdigit():
            value = word[2:]
        if value is not None and value.isdigit():
            found.append(WorkerStatement(int(value), source, f"{name} {word if '=' in word or word[2:].isdigit() else word + ' ' + value}"))
        config = None
        if word in ("-c", "--config") and position + 1 < len(words):
            config = words[position + 1]
        elif word.startswith("--config="):
            config = word.partition("=")[2]
        if config and name == "gunicorn" and config.endswith(".py") and not config.startswith("python:"):
            configs_named.append((directory / config, source))
    return found


def _gunicorn_config(text: str, relative: str) -> list[WorkerStatement]:
    """``workers = 4`` at the top level of a gunicorn config (a literal; anything else,
    such as ``multiprocessing.cpu_count() * 2 + 1``, depends on the machine)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    found = []
    for statement in tree.body:
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target] if isinstance(statement, ast.AnnAssign) else []
        value = getattr(statement, "value", None)
        if any(isinstance(t, ast.Name) and t.id == "workers" for t in targets):
            if isinstance(value, ast.Constant) and type(value.value) is int:
                found.append(WorkerStatement(value.value, f"{relative}:{statement.lineno}", f"workers = {value.value}"))
            else:
                found.append(WorkerStatement(_environment_default(value), f"{relative}:{statement.lineno}", f"workers = {ast.unparse(value)}"))  # type: ignore[arg-type]
    return found


def _environment_default(value: ast.expr | None) -> int | None:
    """``int(os.environ.get("WEB_CONCURRENCY", 4))`` / ``os.getenv(..., "4")``: the default."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "int" and value.args:
        value = value.args[0]
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr in ("get", "getenv") and len(value.args) == 2:
        default = value.args[1]
        if isinstance(default, ast.Constant) and str(default.value).isdigit():
            return int(default.value)
    return None


def attach_deployment(index: ProjectIndex, settings: Settings) -> ProjectIndex:
    """Hand the index its project's deployment, when SQA506 runs: the rule asks the index
    for the budget, and results cached under the index's digest follow the deployment."""
    if "SQA506" in settings.enabled_rules:
        limits = BudgetLimits(settings.max_connections, settings.reserved_connections)
        index.deployment = deployment_for(index.root, settings.exclude, limits, settings.workers)[0]
    return index
