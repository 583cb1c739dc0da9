"""Newer Python than the interpreter's is analysed like any other (SPEC.md, "Syntax").

On Python 3.11, PEP 695 (``type X = ...``, ``def f[T]``, ``class C[T]``), PEP 701 f-strings
and PEP 758 ``except A, B:`` do not parse, but libcst reads them. Each case is a module
with the construct around a real leak: the leak is found and there is no SQA001, through
the API and the CLI. SQA001 stays for what neither parser reads, with CPython's message.
The cross-module case (a factory defined with PEP 695 syntax, used elsewhere) is the
``modern_syntax`` project under ``tests/fixtures/projects``, run by test_projects.py through
the API, the CLI and flake8.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import libcst as cst
import pytest

from sqla_lint.engine import lint_source
from sqla_lint.fixer import fix_source
from sqla_lint.prefilter import Prefilter
from sqla_lint.semantic.downlevel import down_level
from sqla_lint.semantic.parsing import MAX_DEPTH, Unparsable, check_syntax, cpython_tree, newer_syntax_tree, parse_module
from sqla_lint.settings import Settings

from .conftest import run_cli

IMPORT = "from sqlalchemy.orm import Session\n"

# name -> (module, the row of its leak). Each module is refused by CPython 3.11.
CASES: dict[str, tuple[str, int]] = {
    "type_alias": (
        IMPORT + "type Rows[T] = list[tuple[T, ...]]\n\ndef f(engine):\n    s = Session(engine)\n    return s.query(1).all()\n",
        5,
    ),
    "generic_def": (
        IMPORT + "def first[T: int, *Ts, **P](engine, items: list[T]) -> T:\n    s = Session(engine)\n    return s.query(items[0]).one()\n",
        3,
    ),
    "generic_class": (
        IMPORT + "class Repo[T](object):\n    def load(self, engine) -> list[T]:\n        s = Session(engine)\n        return s.query(1).all()\n",
        4,
    ),
    "generic_class_over_lines": (
        IMPORT + "class Repo[\n    T,\n    U = int,\n]:\n    def load(self, engine):\n        s = Session(engine)\n        return s.query(1).all()\n",
        7,
    ),
    "fstring_nested_quotes": (
        IMPORT + 'def f(engine, d):\n    s = Session(engine)\n    return s.execute(f"select {d["column"]}").all()\n',
        3,
    ),
    "fstring_session_inside_a_field": (
        IMPORT + 'def f(engine, d):\n    return f"{Session(engine).execute(d["q"]).all()}"\n',
        3,
    ),
    "fstring_backslash_and_comment": (
        IMPORT
        + "def f(engine, rows):\n    s = Session(engine)\n"
        + "    text = f\"{'\\n'.join(rows)} {\n        s.query(1).all()  # a comment\n    }\"\n    return text\n",
        3,
    ),
    "fstring_concatenated": (
        IMPORT + 'def f(engine, d):\n    s = Session(engine)\n    return s.execute("select " f"{d["c"]}" " from t").all()\n',
        3,
    ),
    "except_without_parentheses": (
        IMPORT + "def f(engine):\n    try:\n        s = Session(engine)\n        return s.query(1).all()\n    except ValueError, TypeError:\n        return None\n",
        4,
    ),
    "except_star_without_parentheses": (
        IMPORT + "def f(engine):\n    try:\n        s = Session(engine)\n        return s.query(1).all()\n    except* ValueError, TypeError:\n        return None\n",
        4,
    ),
    "tstring": (
        IMPORT + 'def f(engine, name):\n    s = Session(engine)\n    return s.execute(t"select {name}").all()\n',
        3,
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_cpython_refuses_each_case(name: str):
    with pytest.raises(SyntaxError):
        ast.parse(CASES[name][0])


@pytest.mark.parametrize("prefilter", [True, False], ids=["prefilter", "no-prefilter"])
@pytest.mark.parametrize("name", CASES)
def test_the_leak_is_found_and_no_syntax_error(name: str, prefilter: bool):
    source, row = CASES[name]
    result = lint_source(source.encode(), f"{name}.py", Settings(prefilter=prefilter))
    assert result.error is None
    assert [(d.location.row, d.code) for d in result.diagnostics] == [(row, "SQA401")]


@pytest.mark.parametrize("name", CASES)
def test_the_rewrite_keeps_every_line_and_the_leaks_column(name: str):
    source, row = CASES[name]
    rewritten = down_level(cst.parse_module(source), source)
    assert len(rewritten.splitlines()) == len(source.splitlines())
    tree = cpython_tree(source.encode())
    assert tree is not None
    calls = [(node.lineno, node.col_offset) for node in ast.walk(tree) if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Session"]
    line = source.splitlines()[row - 1]
    assert calls == [(row, line.index("Session("))]


@pytest.mark.parametrize("name", CASES)
def test_the_syntax_check_and_libcst_accept_it(name: str):
    source = CASES[name][0]
    assert isinstance(check_syntax(source), ast.Module)
    assert parse_module(source.encode()).code == source  # the real source, byte for byte
    assert newer_syntax_tree(source.encode()) is not None


def test_code_cpython_reads_costs_no_rewrite():
    assert newer_syntax_tree(b"x = 1\n") is None
    assert newer_syntax_tree(b"def f(:\n") is None


def test_the_prefilter_screens_newer_python_instead_of_sending_it_to_libcst():
    """A module in newer syntax that cannot produce a finding is skipped, like any other."""
    source = b"type Pair[T] = tuple[T, T]\n\ndef first[T](pair: Pair[T]) -> T:\n    return pair[0]\n"
    assert not Prefilter().needs_analysis(source)
    assert lint_source(source, "m.py", Settings()).diagnostics == ()


def test_a_type_alias_keeps_its_value_where_it_was():
    source = "type X[T] = dict[str, T]\n"
    (statement,) = cpython_tree(source.encode()).body  # type: ignore[union-attr]
    assert isinstance(statement, ast.Assign)
    assert [target.id for target in statement.targets] == ["X"]  # type: ignore[attr-defined]
    assert statement.value.col_offset == source.index("dict")


# What neither parser reads keeps CPython's verdict, as before: also where it points at the
# newer syntax rather than at the real error further down (libcst's position is no better
# in general: it reports an unclosed bracket at the end of the file).
ERRORS = [
    ("def f(:\n", "invalid syntax", 1, 7),
    ("type X = int\ndef f(:\n", "invalid syntax", 1, 6),
    ('x = f"{d["k"]}"\nx = (\n', "f-string: unmatched '['", 1, 11),
]


@pytest.mark.parametrize(("source", "message", "row", "column"), ERRORS)
def test_what_neither_parses_is_sqa001_with_cpythons_message(source: str, message: str, row: int, column: int):
    (diagnostic,) = lint_source(source.encode(), "m.py", Settings()).diagnostics
    assert (diagnostic.code, diagnostic.location.row, diagnostic.location.column) == ("SQA001", row, column)
    assert diagnostic.message == f"file cannot be parsed: {message}"
    assert cpython_tree(source.encode()) is None


# Deep nesting behind newer syntax: CPython stops at the newer syntax and never measures it,
# and libcst's parser would overflow its stack (SIGSEGV) on any of these.
DEEP = {
    "unary_chain": "x = " + "-" * 20_000 + "1\n",
    "boolean_chain": "x = " + " and ".join(["a"] * 20_000) + "\n",
    "brackets": "x = " + "(" * 5_000 + "1" + ")" * 5_000 + "\n",
    "brackets_within_cpythons_limit": "x = " + "(-a + " * 150 + "lambda: " * 1_500 + "1" + ")" * 150 + "\n",
    "lambdas_with_parameters": "x = " + "lambda a, b: " * 5_000 + "1\n",
    "inside_an_fstring": 'x = f"{d["k"]} {' + "-" * 20_000 + '1}"\n',
    "elif_chain": "if a:\n    pass\n" + "elif a:\n    pass\n" * 20_000,
}


@pytest.mark.parametrize("name", DEEP)
def test_deep_nesting_behind_newer_syntax_is_refused_in_a_separate_process(name: str, tmp_path: Path):
    """In a child process, so a crash would show as a signal rather than end the test run."""
    path = tmp_path / f"{name}.py"
    path.write_text("type X = int\n" + DEEP[name])
    result = run_cli("check", "--isolated", "--no-cache", str(path), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if ": SQA" in line]
    if name == "brackets":  # CPython's tokenizer got there first
        assert line.endswith(f"{name}.py:2:205: SQA001 file cannot be parsed: too many nested parentheses")
    else:
        assert re.search(rf"/{name}\.py:1:1: SQA001 file cannot be parsed: nested \d+ levels deep; sqla-lint analyses up to {MAX_DEPTH}$", line)


def test_deep_nesting_cpython_refuses_for_its_depth_never_reaches_libcst():
    source = "x = " + "[" * 100_000 + "]" * 100_000 + "\ntype X = int\n"
    with pytest.raises(Unparsable, match="too many nested parentheses"):
        check_syntax(source)
    assert cpython_tree(source.encode()) is None


def test_the_cli_reports_the_leaks_and_no_syntax_error(tmp_path: Path):
    for name, (source, _) in CASES.items():
        (tmp_path / f"{name}.py").write_text(source)
    result = run_cli("check", "--isolated", "--no-cache", ".", cwd=tmp_path)
    found = sorted(line.split(" ")[0:2] for line in result.stdout.splitlines() if ": SQA" in line)
    expected = sorted([f"{name}.py:{row}:{CASES[name][0].splitlines()[row - 1].index('Session(') + 1}:", "SQA401"] for name, (_, row) in CASES.items())
    assert found == expected, result.stdout + result.stderr
    assert result.returncode == 1


def test_a_fix_works_on_the_real_source():
    source, _ = CASES["generic_def"]
    fixed = fix_source(source.encode(), "m.py", Settings(), unsafe=True)
    assert fixed.error is None and fixed.fixed == ("SQA401",)
    text = fixed.source.decode()
    assert "def first[T: int, *Ts, **P](engine, items: list[T]) -> T:\n    with Session(engine) as s:\n" in text
    assert lint_source(fixed.source, "m.py", Settings()).diagnostics == ()


def test_flake8_reports_its_own_syntax_error_on_newer_python(tmp_path: Path):
    """flake8 parses every file with the running interpreter first and runs no plugin on
    one it cannot parse (E999): through flake8, newer Python only counts for the project
    index, which test_projects.py checks on the ``modern_syntax`` project."""
    path = tmp_path / "m.py"
    path.write_text(CASES["type_alias"][0])
    result = subprocess.run(
        [sys.executable, "-m", "flake8", "--isolated", "--select", "SQA,E999", str(path)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert "E999" in result.stdout and "SQA" not in result.stdout


# Shapes that nest one level per few tokens, at a depth CPython still parses and measures.
SHAPES = {
    "unary": "x = " + "-" * 300 + "1\n",
    "binary": "x = " + " + ".join(["a"] * 300) + "\n",
    "power": "x = " + " ** ".join(["a"] * 300) + "\n",
    "boolean": "x = " + " and ".join(["a"] * 300) + "\n",
    "attributes": "x = a" + ".b" * 300 + "\n",
    "calls": "x = f" + "()" * 300 + "\n",
    "subscripts": "x = a" + "[0]" * 300 + "\n",
    "lambdas_with_parameters": "x = " + "lambda a, b: " * 300 + "1\n",
    "ternaries": "x = " + "a if b else " * 300 + "c\n",
    "brackets_between_commas": "x = " + "[1, (2, " * 90 + "3" + ")]" * 90 + "\n",
    "fstring": 'x = f"{' + "-" * 300 + '1}"\n',
    "blocks": "".join("    " * i + "if a:\n" for i in range(90)) + "    " * 90 + "x = " + "-" * 200 + "1\n",
}


@pytest.mark.parametrize("name", SHAPES)
def test_the_token_bound_is_at_least_the_depth_it_stands_for(name: str):
    """Where CPython parses, its tree's depth (what ``vetted`` limits) is known: the bound
    that stands in for it on newer syntax must never be below it."""
    from sqla_lint.semantic.parsing import _nesting_depth, _token_depth

    source = SHAPES[name]
    assert _token_depth(source) + 1 >= _nesting_depth(ast.parse(source))


def test_the_token_bound_on_real_code():
    """The bound is no lower than the depth on every module of sqla-lint and every fixture,
    and far below the limit: newer syntax is not refused for ordinary code."""
    from sqla_lint.semantic.parsing import _nesting_depth, _token_depth

    root = Path(__file__).parent.parent
    files = [*sorted((root / "src").rglob("*.py")), *sorted((root / "tests" / "fixtures").rglob("*.py"))]
    assert len(files) > 100
    for path in files:
        text = path.read_text(encoding="utf-8")
        bound = _token_depth(text)
        tree = cpython_tree(text.encode())
        assert tree is not None and _nesting_depth(tree) <= bound + 1 and bound < MAX_DEPTH // 2, path


def test_an_elif_chain_counts_as_the_nesting_it_is():
    """``elif`` is an ``if`` in the ``else`` of the one before; 10,000 crashed libcst."""
    from sqla_lint.semantic.parsing import _nesting_depth, _token_depth

    chain = "if a:\n    pass\n" + "elif a:\n    pass\n" * 300 + "else:\n    pass\n"
    assert _token_depth(chain) + 1 >= _nesting_depth(ast.parse(chain))
    separate = ("if a:\n    pass\nelif b:\n    pass\nx = 1\n") * 300
    assert _token_depth(separate) < 10


# f-strings CPython 3.11 refuses -> the tuple of their fields that stands in for them.
FSTRINGS = [
    ('x = f"{count:>{width}}\\t{names.get(code, "")}\\n"\n', "x = (count, width, names.get(code, ''))"),
    ('x = f"{x!r} {y=} { z } {w:{a}.{b}}" f"{d["k"]}"\n', "x = (x, y, z, w, a, b, d['k'])"),
    ('x = "a" f"{d["k"]}" \'b\'\n', "x = (d['k'],)"),
    ('x = (f"{d["k"]}"  # a comment\n     "tail" f"{g()}")\n', "x = (d['k'], g())"),
    ('x = f"""{\nx  # a comment\n}{y}"""\n', "x = (x, y)"),
    ('x = f"{f"{d["k"]}"}"\n', "x = ((d['k'],),)"),
    ("x = f\"{'\\n'.join(rows)}\"\n", "x = ('\\n'.join(rows),)"),
    ('x = t"{name!r:>{width}} {make()}"\n', "x = (name, width, make())"),
]


@pytest.mark.parametrize(("source", "expected"), FSTRINGS)
def test_an_fstring_cpython_refuses_is_the_tuple_of_its_fields(source: str, expected: str):
    rewritten = down_level(cst.parse_module(source), source)
    assert len(rewritten.splitlines()) == len(source.splitlines())
    assert ast.unparse(ast.parse(rewritten)) == expected


class _Modernise(cst.CSTTransformer):
    """Real code rewritten in newer syntax: a type parameter on every def and class,
    ``except (A, B):`` without parentheses, and the quotes of strings inside f-strings
    made the f-string's own."""

    def __init__(self) -> None:
        self.quotes: list[str] = []

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        return updated.with_changes(type_parameters=updated.type_parameters or _TYPE_PARAMETERS)

    def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef) -> cst.ClassDef:
        return updated.with_changes(type_parameters=updated.type_parameters or _TYPE_PARAMETERS)

    def leave_ExceptHandler(self, original: cst.ExceptHandler, updated: cst.ExceptHandler) -> cst.ExceptHandler:
        kind = updated.type
        if isinstance(kind, cst.Tuple) and kind.lpar and updated.name is None and len(kind.elements) > 1:
            return updated.with_changes(type=kind.with_changes(lpar=[], rpar=[]), whitespace_after_except=cst.SimpleWhitespace(" "))
        return updated

    def visit_FormattedString(self, node: cst.FormattedString) -> None:
        self.quotes.append(node.start[-1])

    def leave_FormattedString(self, original: cst.FormattedString, updated: cst.FormattedString) -> cst.FormattedString:
        self.quotes.pop()
        return updated

    def leave_SimpleString(self, original: cst.SimpleString, updated: cst.SimpleString) -> cst.SimpleString:
        value = updated.value
        if self.quotes and self.quotes[-1] == '"' and value[:1] == "'" and value[:3] != "'''" and not set("\"\\\n") & set(value):
            return updated.with_changes(value='"' + value[1:-1] + '"')
        return updated


_TYPE_PARAMETERS = cst.TypeParameters(params=[cst.TypeParam(cst.TypeVar(cst.Name("T_")))])


def test_real_code_in_newer_syntax_keeps_every_call_on_its_line():
    """sqla-lint's own modules, modernised: CPython's tree of the rewrite has the same
    calls on the same lines as the tree of the original."""

    def calls(tree: ast.AST) -> list[tuple[int, str]]:
        return sorted((node.lineno, ast.unparse(node.func)) for node in ast.walk(tree) if isinstance(node, ast.Call))

    modernised = 0
    for path in sorted((Path(__file__).parent.parent / "src").rglob("*.py")):
        source = path.read_bytes()
        modern = cst.parse_module(source).visit(_Modernise()).code.encode()
        if modern == source:
            continue
        modernised += 1
        tree = newer_syntax_tree(modern)
        assert tree is not None, path
        assert calls(tree) == calls(ast.parse(source)), path
    assert modernised > 40


def test_a_finding_in_newer_python_is_fingerprinted_with_its_scope():
    """Baselines identify a finding by its scope and statement: a generic method's scope
    is ``Repo.load`` as in any other file."""
    from sqla_lint.fingerprints import SourceIndex

    source, row = CASES["generic_class"]
    assert SourceIndex(source.encode()).scope_of(row) == "Repo.load"
