"""Bad input, through the real CLI and the API: a clear one-line message, never a traceback,
and the run goes on for the other files.

One tree holds every case beside a file with a real leak. The CLI runs over it twice, once
walking the directory and once with every file named, and each case checks its own line of
output. Decisions a ruff or flake8 user would look for:

- a file in latin-1 (or any encoding) with a PEP 263 coding comment is linted like any
  other, as Python runs it and flake8 reads it;
- invalid UTF-8 without a coding comment is SQA001 at the offending byte: Python refuses to
  run such a file, and ruff and flake8 report it as an error;
- a file that cannot be read (permissions, a broken link, a link loop, a FIFO or socket)
  is an error on stderr and exit 1; a file over the 1 MiB size limit is not linted, with
  a warning on stderr, and does not change the exit code.
"""

from __future__ import annotations

import os
import socket
import subprocess
import warnings
from pathlib import Path

import pytest

from sqla_lint.api import lint_file, lint_paths
from sqla_lint.diagnostics import FileResult
from sqla_lint.engine import lint_source
from sqla_lint.settings import Settings

from .conftest import run_cli

IMPORT = b"from sqlalchemy.orm import Session\n"
LEAK = b"def f(engine):\n    s = Session(engine)\n    return s.query(1).all()\n"

posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs, sockets and symlinks as POSIX makes them")


def _write(root: Path, name: str, data: bytes) -> None:
    (root / name).write_bytes(data)


def _deep_boolean_chain(operands: int) -> bytes:
    return IMPORT + b"x = " + b" and ".join([b"a"] * operands) + b"\n"


# name -> (how to make it, where its line goes, the line). Rows and columns are exact.
CASES: dict[str, tuple[object, str, str]] = {
    "leak.py": (IMPORT + LEAK, "stdout", "leak.py:3:9: SQA401 Session `s` is never closed"),
    "syntax.py": (IMPORT + b"def f(:\n", "stdout", "syntax.py:2:7: SQA001 file cannot be parsed: invalid syntax"),
    "latin1.py": (
        b"# -*- coding: latin-1 -*-\n" + IMPORT + b"NAME = 'caf\xe9'\n" + LEAK,
        "stdout",
        "latin1.py:5:9: SQA401 Session `s` is never closed",
    ),
    "bom.py": (b"\xef\xbb\xbf" + IMPORT + LEAK, "stdout", "bom.py:3:9: SQA401 Session `s` is never closed"),
    "crlf.py": ((IMPORT + LEAK).replace(b"\n", b"\r\n"), "stdout", "crlf.py:3:9: SQA401 Session `s` is never closed"),
    "mixed_endings.py": (
        IMPORT.replace(b"\n", b"\r\n") + LEAK.replace(b"\n", b"\r", 1),
        "stdout",
        "mixed_endings.py:3:9: SQA401 Session `s` is never closed",
    ),
    "non_utf8.py": (
        IMPORT + b"NAME = 'caf\xe9'\n" + LEAK,
        "stdout",
        "non_utf8.py:2:12: SQA001 file cannot be parsed: invalid UTF-8 (byte 0xe9) and no other encoding declared;",
    ),
    "non_utf8_first_line.py": (
        b"# caf\xe9\n" + IMPORT,
        "stdout",
        "non_utf8_first_line.py:1:6: SQA001 file cannot be parsed: invalid UTF-8 (byte 0xe9)",
    ),
    "utf16.py": ((IMPORT + LEAK).decode().encode("utf-16"), "stdout", "utf16.py:1:1: SQA001 file cannot be parsed: invalid UTF-8 (byte 0xff)"),
    "unknown_encoding.py": (b"# coding: klingon\n" + IMPORT, "stdout", "unknown_encoding.py:1:1: SQA001 file cannot be parsed: unknown encoding: klingon"),
    "null_byte.py": (IMPORT + b"x = 1\0\n", "stdout", "null_byte.py:2:6: SQA001 file cannot be parsed: the file contains a null byte"),
    # CPython refuses more than 200 brackets; libcst used to overflow its stack on them.
    "deep_brackets.py": (IMPORT + b"x = " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "stdout", "deep_brackets.py:2:205: SQA001 file cannot be parsed: too many nested parentheses"),
    # Newer Python than the interpreter's (PEP 695) is linted like any other file...
    "newer_python.py": (IMPORT + b"type Rows[T] = list[T]\n" + LEAK, "stdout", "newer_python.py:4:9: SQA401 Session `s` is never closed"),
    # ...but CPython stops at it without measuring the rest, so libcst must not see this.
    "newer_python_deep.py": (
        IMPORT + b"type Rows[T] = list[T]\nx = " + b"-" * 20_000 + b"1\n" + LEAK,
        "stdout",
        "newer_python_deep.py:1:1: SQA001 file cannot be parsed: nested 20003 levels deep; sqla-lint analyses up to 1000",
    ),
    # CPython keeps a boolean chain flat; libcst nests it and overflowed (SIGSEGV) here.
    # The leak makes the file worth analysing, so the prefilter cannot skip it.
    "deep_boolean_chain.py": (_deep_boolean_chain(20_000) + LEAK, "stdout", "deep_boolean_chain.py:1:1: SQA001 file cannot be parsed: nested 20003 levels deep; sqla-lint analyses up to 1000"),
    # Valid Python that CPython accepts, deeper than a recursive analysis allowed: the tree
    # walk is iterative now, so the file is analysed and its leak found.
    "deep_unary.py": (IMPORT + LEAK + b"x = " + b"-" * 600 + b"1\n", "stdout", "deep_unary.py:3:9: SQA401 Session `s` is never closed"),
    "empty.py": (b"", None, ""),
    "only_bom.py": (b"\xef\xbb\xbf", None, ""),
    "huge.py": ("huge", "stderr", "sqla-lint: warning: huge.py: not linted: 5.0 MiB is over the 1 MiB size limit"),
}
POSIX_CASES: dict[str, tuple[object, str, str]] = {
    "broken_link.py": ("symlink:nowhere.py", "stderr", "sqla-lint: error: broken_link.py: broken symbolic link to nowhere.py"),
    "loop_a.py": ("symlink:loop_b.py", "stderr", "sqla-lint: error: loop_a.py: cannot read file: "),
    "loop_b.py": ("symlink:loop_a.py", "stderr", "sqla-lint: error: loop_b.py: cannot read file: "),
    "fifo.py": ("fifo", "stderr", "sqla-lint: error: fifo.py: not a regular file (a FIFO, socket or device)"),
    "socket.py": ("socket", "stderr", "sqla-lint: error: socket.py: cannot read file: "),
    "device.py": ("symlink:/dev/zero", "stderr", "sqla-lint: error: device.py: not a regular file (a FIFO, socket or device)"),
}


def _huge() -> bytes:
    """A 5 MiB generated module that uses SQLAlchemy, with a leak at its very end."""
    chunk = IMPORT + b"".join(
        b"def handler_%d(engine):\n    with Session(engine) as s:\n        return s.execute(%d).all()\n\n" % (i, i)
        for i in range(100)
    )
    copies = (5 << 20) // len(chunk)
    return (chunk * copies) + b" " * ((5 << 20) - copies * len(chunk) - len(LEAK) - 1) + b"\n" + LEAK


def _make(root: Path, name: str, how: object) -> None:
    path = root / name
    if isinstance(how, bytes):
        path.write_bytes(how)
    elif how == "huge":
        path.write_bytes(_huge())
    elif how == "fifo":
        os.mkfifo(path)
    elif how == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()
    else:
        assert isinstance(how, str) and how.startswith("symlink:")
        path.symlink_to(how.removeprefix("symlink:"))


def _cases() -> dict[str, tuple[object, str, str]]:
    return {**CASES, **(POSIX_CASES if hasattr(os, "mkfifo") else {})}


@pytest.fixture(scope="module")
def bad_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad-input")
    for name, (how, _, _) in _cases().items():
        _make(root, name, how)
    # A directory whose name looks like a file: walked, not read.
    (root / "package.py").mkdir()
    (root / "package.py" / "inner.py").write_bytes(IMPORT + LEAK)
    return root


@pytest.fixture(scope="module", params=["walked", "named"])
def cli_run(request: pytest.FixtureRequest, bad_tree: Path) -> subprocess.CompletedProcess[str]:
    names = ["."] if request.param == "walked" else [*sorted(_cases()), "package.py"]
    return run_cli("check", "--isolated", *names, cwd=bad_tree)


def test_run_goes_on_and_exits_1(cli_run: subprocess.CompletedProcess[str]):
    assert cli_run.returncode == 1, cli_run.stderr
    assert "Traceback" not in cli_run.stdout + cli_run.stderr
    assert "internal error" not in cli_run.stderr
    assert "package.py/inner.py:3:9: SQA401" in cli_run.stdout


@pytest.mark.parametrize("name", sorted(_cases()))
def test_each_case_reports_one_clear_line(cli_run: subprocess.CompletedProcess[str], name: str):
    _, stream, expected = _cases()[name]
    mentions = [line for line in cli_run.stdout.splitlines() if line.startswith(f"{name}:")]
    mentions += [line for line in cli_run.stderr.splitlines() if f" {name}: " in line]
    if stream is None:
        assert mentions == []
        return
    assert len(mentions) == 1, mentions
    assert expected in mentions[0] and mentions[0] in getattr(cli_run, stream), (expected, mentions)


def test_stderr_is_one_line_per_problem(cli_run: subprocess.CompletedProcess[str]):
    expected = sum(1 for _, stream, _ in _cases().values() if stream == "stderr")
    assert len(cli_run.stderr.splitlines()) == expected, cli_run.stderr


def test_api_accounts_for_every_file(bad_tree: Path):
    settings = Settings(cache=False)
    named = [str(bad_tree / name) for name in sorted(_cases())]
    results = {Path(result.path).name: result for result in lint_paths(named, settings)}
    assert set(results) == set(_cases())
    for name, (_, stream, expected) in _cases().items():
        result = results[name]
        if stream is None:
            assert result == FileResult(str(bad_tree / name)), result
        elif expected.startswith("sqla-lint: error:"):
            assert (result.error or "").startswith(expected.split(f"{name}: ", 1)[1]), result
            assert not result.diagnostics
        elif expected.startswith("sqla-lint: warning:"):
            assert result.skipped and not result.error and not result.diagnostics, result
        else:
            code = expected.split(": ", 1)[1].split()[0]
            assert [d.code for d in result.diagnostics] == [code], result
    assert lint_file(bad_tree / "package.py", settings).error == "is a directory"


def test_path_that_does_not_exist_is_exit_2_naming_it(tmp_path: Path):
    _write(tmp_path, "leak.py", IMPORT + LEAK)
    result = run_cli("check", "leak.py", "missing/nowhere.py", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "sqla-lint: error: missing/nowhere.py: No such file or directory\n"


@posix_only
def test_unreadable_file(unprivileged):
    """Run as an identity file modes bind (root reads a mode-0 file whatever its mode)."""
    root, run, identity = unprivileged
    owner = root.stat().st_uid
    _write(root, "leak.py", IMPORT + LEAK)
    _write(root, "secret.py", IMPORT + LEAK)
    for name in ("leak.py", "secret.py"):
        os.chown(root / name, owner, -1)
    (root / "secret.py").chmod(0)
    result = run("check", "--isolated", "--no-cache", ".")
    assert result.returncode == 1, (identity, result.stdout + result.stderr)
    assert result.stderr == "sqla-lint: error: secret.py: cannot read file: Permission denied\n"
    assert "leak.py:3:9: SQA401" in result.stdout


@posix_only
def test_broken_link_tracked_by_git_is_reported(tmp_path: Path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    _write(tmp_path, "leak.py", IMPORT + LEAK)
    (tmp_path / "generated.py").symlink_to("build/generated.py")
    result = run_cli("check", "--isolated", ".", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == "sqla-lint: error: generated.py: broken symbolic link to build/generated.py\n"
    assert "leak.py:3:9: SQA401" in result.stdout


def test_compiler_warnings_are_not_syntax_errors():
    """Under ``-W error`` (pytest's ``filterwarnings = error``) an invalid escape sequence
    used to come back from ``compile`` as a SyntaxError, so as a false SQA001."""
    source = IMPORT + b"PATTERN = '\\d+'\n" + LEAK
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for prefilter in (True, False):
            result = lint_source(source, "x.py", Settings(prefilter=prefilter, project_index=False))
            assert [d.code for d in result.diagnostics] == ["SQA401"]
        assert lint_source(b"PATTERN = '\\d+'\n", "x.py", Settings()).diagnostics == ()


def test_positions_past_the_recursion_limit_are_a_finding_not_a_crash():
    """A chain the model could still walk but whose positions (a deeper, recursive code
    generation) could not, raised RecursionError out of ``lint_source``. Where that window
    lies depends on the caller's stack, so every depth around it is tried."""

    def at_depth(frames: int, source: bytes) -> FileResult:
        if frames:
            return at_depth(frames - 1, source)
        return lint_source(source, "x.py", Settings(project_index=False))

    source = IMPORT + b"def f(e):\n    s = Session(e)\n    x = a" + b"[0]" * 300 + b"\n    return s.query(1).all()\n"
    codes = {tuple(d.code for d in at_depth(frames, source).diagnostics) for frames in range(0, 120, 4)}
    assert codes <= {("SQA401",), ("SQA001",)}
    assert ("SQA401",) in codes


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_fix_does_not_hang_on_a_fifo(tmp_path: Path):
    """Found at integration: the fixer read files with read_bytes(), which blocks on a FIFO."""
    os.mkfifo(tmp_path / "pipe.py")
    (tmp_path / "leak.py").write_bytes(IMPORT + LEAK)
    result = run_cli("check", "--isolated", "--fix", ".", cwd=tmp_path)
    assert "pipe.py: not a regular file" in result.stderr
    assert "Traceback" not in result.stderr
