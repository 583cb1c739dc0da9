"""Source of any kind in, a libcst tree or the reason there is none out; never a crash.

libcst's native parser recurses on the machine stack. A few thousand levels of nesting
overflow it and kill the whole process with SIGSEGV, which no ``except`` catches
(Instagram/LibCST#619, #1000); one such file in a project took the whole run down, index
and all. Its left-recursive chains (``a[0][0]...``) also take time quadratic in their
length. So a source reaches libcst only when:

- it decodes, as UTF-8 or as its PEP 263 coding comment says. Python refuses to run a
  file that does not, and ruff and flake8 report it as an error too;
- CPython's own parser accepts it. That costs about a tenth of libcst's parse, reports
  syntax errors with Python's messages and positions, and refuses deep nesting
  (200 brackets, about 3,000 levels) with a SyntaxError rather than a crash;
- or CPython refuses it with a plain syntax error, not for its depth, and it is newer
  Python that libcst reads (PEP 695, 701, 750, 758: the project's Python is not the
  running interpreter's). Then libcst parses it once, its rewrite into 3.11 syntax
  (:mod:`.downlevel`) stands in for CPython's tree, and that tree is what the depth
  check below measures. CPython stops at the first error, so it has not seen the rest
  of the file: before libcst does, :func:`_token_depth` bounds the nesting from the
  tokens, with the same limit;
- nothing nests deeper than ``MAX_DEPTH``. CPython keeps ``a and b and c ...`` flat where
  libcst nests it once per operand: a 10,000-operand chain CPython accepts overflows
  libcst's stack. The analysis gives up a few hundred levels down anyway (Python's
  recursion limit), so nothing it could analyse is refused.
"""

from __future__ import annotations

import ast
import functools
import io
import re
import tokenize
import warnings

import libcst as cst

from .facts import AST_FIELDS

MAX_DEPTH = 1000
_LINE_END = re.compile(r"\r\n|\r|\n")
# The largest real modules that use SQLAlchemy (its own compiler.py) are about 300 kB.
# libcst needs about 600 MB and half a minute per MB of source, and even CPython's parser
# about 150 MB and two seconds, so a larger (generated) file is skipped with a warning,
# as Biome skips files over 1 MiB.
MAX_SOURCE_BYTES = 1 << 20


class Unparsable(Exception):
    """Why a source has no tree, and where: a 1-based row and column inside the source."""

    def __init__(self, message: str, row: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.row = max(row, 1)
        self.column = max(column, 1)


def cpython_tree(source: bytes) -> ast.Module | None:
    """CPython's tree of ``source``, or of its rewrite into 3.11 syntax when it is newer
    Python (see the module docstring); None when neither parses (the full path then says
    why). For the stages that only need to know what the file refers to."""
    tree = _compiled(source)
    return _newer(source, tree) if isinstance(tree, SyntaxError) else tree


def newer_syntax_tree(source: bytes) -> ast.Module | None:
    """:func:`cpython_tree` of a ``source`` that only a newer Python parses; None for any
    other, whether CPython parses it or nothing does."""
    tree = _compiled(source)
    return _newer(source, tree) if isinstance(tree, SyntaxError) else None


def _compiled(source: bytes) -> ast.Module | SyntaxError | None:
    """CPython's tree of ``source``, or its syntax error, or None for any other refusal."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an invalid escape is not an error, even under -W error
        try:
            return compile(source, "<source>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)  # type: ignore[no-any-return]
        except SyntaxError as error:
            return error
        except (ValueError, UnicodeError, RecursionError, MemoryError):
            return None


def _newer(source: bytes, refusal: SyntaxError) -> ast.Module | None:
    try:
        return _down_levelled_tree(source, refusal)
    except Unparsable:
        return None


# CPython's refusals for depth. Past them libcst must not look: its parser would overflow.
_TOO_DEEP = re.compile(r"too many (nested|levels)|too complex|recursion", re.IGNORECASE)


def _down_levelled_tree(source: bytes | str, refusal: SyntaxError) -> ast.Module:
    """CPython's tree of the 3.11 rewrite of a ``source`` that CPython refused with
    ``refusal``; raises Unparsable when libcst refuses it too, with CPython's message and
    position. Only ever on this path: the common one, a source CPython parses, costs
    nothing more."""
    text = source if isinstance(source, str) else _decode(source)
    refused = _located(refusal.msg or "invalid syntax", text, refusal.lineno or 1, refusal.offset or 1)
    if _TOO_DEEP.search(refusal.msg or "") or "\0" in text or len(text.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
        raise refused
    depth, rewritten = _rewritten(text)
    if depth > MAX_DEPTH:
        raise Unparsable(f"nested {depth} levels deep; sqla-lint analyses up to {MAX_DEPTH}")
    if rewritten is None:
        raise refused
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            tree = compile(rewritten, "<source>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            raise refused from None
    assert isinstance(tree, ast.Module)
    return tree


@functools.lru_cache(maxsize=4)
def _rewritten(text: str) -> tuple[int, str | None]:
    """How deep ``text`` may nest (:func:`_token_depth`) and, when that is safe, its
    rewrite into 3.11 syntax, or None if libcst refuses it. Kept for the last few texts:
    one run asks about a file in newer syntax up to three times (the index's relevance
    search, its summary, the lint), and this is most of what such a file costs."""
    depth = _token_depth(text)
    if depth > MAX_DEPTH:
        return depth, None
    from .downlevel import down_level

    try:
        return depth, down_level(cst.parse_module(text), text)
    except (cst.ParserSyntaxError, RecursionError, MemoryError, UnicodeError, ValueError, SyntaxError):
        return depth, None


def check_syntax(source: bytes | str) -> ast.Module:
    """CPython's verdict on ``source`` (bytes are decoded per PEP 263), or on its rewrite
    when it is newer Python that libcst reads; raises Unparsable."""
    return _checked(source)[1]


def parse_module(source: bytes | str, tree: ast.Module | None = None) -> cst.Module:
    """The libcst tree of ``source``; raises Unparsable for anything libcst must not see.
    ``tree`` is CPython's parse of the same source, when the caller already made one."""
    text = vetted(source, tree)
    del tree  # see vetted
    return parse_vetted(source, text)


def vetted(source: bytes | str, tree: ast.Module | None = None) -> str:
    """The text of ``source`` once it is known libcst may parse it; raises Unparsable.

    Split from :func:`parse_vetted` so that a caller holding CPython's tree can drop it
    first: for a 500 kB module it is about 15 MB, alive on top of libcst's 130 MB tree
    while that one is built, which is the peak of the worker that parses it."""
    if tree is None:
        text, tree = _checked(source)
    else:
        text = source if isinstance(source, str) else _decode(source)
    depth = _nesting_depth(tree)
    if depth > MAX_DEPTH:
        raise Unparsable(f"nested {depth} levels deep; sqla-lint analyses up to {MAX_DEPTH}")
    return text


def parse_vetted(source: bytes | str, text: str) -> cst.Module:
    """libcst's tree of a ``source`` that :func:`vetted` passed (``text`` is what it returned)."""
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as error:
        raise _located(error.message, text, error.raw_line, error.raw_column + 1) from None
    except RecursionError:
        raise Unparsable("nested too deeply to parse") from None
    except (UnicodeDecodeError, LookupError, SyntaxError, ValueError) as error:
        raise Unparsable(str(error)) from None


def _checked(source: bytes | str) -> tuple[str, ast.Module]:
    text = source if isinstance(source, str) else _decode(source)
    null = text.find("\0")
    if null >= 0:
        raise Unparsable("the file contains a null byte", *_position(text, null))
    # A warning is not an error: under `-W error` (pytest's filterwarnings = error, say)
    # an invalid escape sequence would otherwise come back as a SyntaxError.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            tree = compile(text, "<source>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
        except SyntaxError as error:
            refusal = error
        except (RecursionError, MemoryError):  # CPython's parser stack is full: too deep
            raise Unparsable("nested too deeply to parse") from None
        except ValueError as error:
            raise Unparsable(str(error)) from None
        else:
            assert isinstance(tree, ast.Module)
            return text, tree
    # Newer Python than this interpreter's is no error. When libcst refuses it too,
    # CPython's message and position are the ones reported, as before.
    return text, _down_levelled_tree(text, refusal)


def _decode(data: bytes) -> str:
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:
        if not str(error).startswith("invalid or missing encoding declaration"):
            raise Unparsable(str(error)) from None  # an unknown encoding, or one contradicting a BOM
        encoding = "utf-8"  # a first line that is not UTF-8: say where, below
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        byte = data[error.start]
        if encoding == "utf-8":
            message = (
                f"invalid UTF-8 (byte 0x{byte:02x}) and no other encoding declared; "
                "save the file as UTF-8 or declare its encoding in a PEP 263 coding comment"
            )
        else:
            message = f"byte 0x{byte:02x} is not valid {encoding}, the file's declared encoding"
        text = data[: error.start].decode(encoding, errors="replace")
        raise Unparsable(message, *_position(text, len(text))) from None


def _lines(text: str) -> list[str]:
    """Lines as Python's tokenizer counts them: only CR, LF and CRLF end one (not the form
    feed and other separators ``str.splitlines`` also splits on)."""
    return _LINE_END.split(text)


def _position(text: str, offset: int) -> tuple[int, int]:
    """The 1-based row and column of ``text[offset]``."""
    lines = _lines(text[:offset])
    return len(lines), len(lines[-1]) + 1


def _located(message: str, text: str, row: int, column: int) -> Unparsable:
    """An error at a parser's position, moved inside the file: parsers report some errors
    at end of file, on the line after the last."""
    lines = _lines(text)
    if lines[-1] == "" and len(lines) > 1:
        lines.pop()  # the text ends with a line ending: no line follows it
    if row > len(lines):
        row, column = len(lines), len(lines[-1]) + 1
    return Unparsable(message, row, min(column, len(lines[max(row, 1) - 1]) + 1))


_LEVELS_PER_BLOCK = 3  # ``try`` -> ``except`` -> its body


def _token_depth(text: str) -> int:
    """An upper bound, from the tokens alone, on how deep libcst's tree of ``text`` nests,
    for a source CPython refused, so whose depth is unknown.

    Inside an expression, a level of the tree takes at least one token of its own (an
    operator, a keyword, a dot, a bracket), so the depth at a token is at most the number
    of tokens before it on its logical line. Brackets and commas make that sharper: a
    bracket's contents count from zero, and a comma starts the next element of the
    innermost bracket afresh, unless a ``lambda`` at that level may still be taking
    parameters. Statements nest by indented blocks, and by ``elif``, which is an ``if``
    inside the ``else`` of the one before: 10,000 of them overflow libcst's stack.
    Python 3.11's tokenizer reads newer strings in pieces, and the expressions in their
    replacement fields are not tokens: such a string weighs the characters inside its
    braces (:func:`_string_weight`). An unreadable stream counts to where it stopped and
    adds the rest of the text, token by character.
    """
    deepest = total = 0
    counts = [0]  # tokens of the current element at each open bracket, outermost first
    lambdas = [False]
    elifs = [0]  # of the ``if`` chain going on in each enclosing block
    statements = 0  # the levels of the blocks and chains around the current statement
    starting = True  # the next token starts a statement
    end = 0
    previous: tokenize.TokenInfo | None = None
    lines = _lines(text)
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            kind, string = token.type, token.string
            if kind == tokenize.INDENT:
                elifs.append(0)
                statements += _LEVELS_PER_BLOCK
                starting = True
            elif kind == tokenize.DEDENT:
                statements -= _LEVELS_PER_BLOCK + elifs.pop()
                starting = True
            elif kind == tokenize.NEWLINE or (kind == tokenize.OP and string == ";" and len(counts) == 1):
                counts, lambdas, total = [0], [False], 0
                starting = kind == tokenize.NEWLINE
            elif kind in (tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER):
                pass
            else:
                if starting:
                    starting = False
                    if kind == tokenize.NAME and string == "elif":
                        elifs[-1] += 1
                        statements += 1
                    elif not (kind == tokenize.NAME and string == "else"):
                        statements -= elifs[-1]
                        elifs[-1] = 0
                if kind == tokenize.OP and string in "([{":
                    counts[-1] += 1
                    counts.append(0)
                    lambdas.append(False)
                    total += 1
                elif kind == tokenize.OP and string in ")]}":
                    if len(counts) > 1:
                        total -= counts.pop()
                        lambdas.pop()
                elif kind == tokenize.OP and string == "," and not lambdas[-1]:
                    total -= counts[-1]
                    counts[-1] = 0
                else:
                    weight = _string_weight(token, previous) if kind == tokenize.STRING else 1
                    counts[-1] += weight
                    total += weight
                    if kind == tokenize.NAME and string == "lambda":
                        lambdas[-1] = True
            deepest = max(deepest, statements + total)
            end = token.end[0]
            previous = token
    except (tokenize.TokenError, SyntaxError):
        deepest = max(deepest, statements + total + sum(len(line) for line in lines[end:]))
    return deepest


_BEFORE_A_PIECE = frozenset({tokenize.NAME, tokenize.NUMBER, tokenize.STRING})


def _string_weight(token: tokenize.TokenInfo, previous: tokenize.TokenInfo | None) -> int:
    """1, and for an f-string the characters inside its braces, where the expressions of
    its replacement fields are. The tokenizer of 3.11 reads an f-string that nests its
    own quotes in pieces: ``f"{d["k"]}{x}"`` is ``f"{d["``, ``k`` and ``"]}{x}"``. A
    piece after the first starts right where the code read between them ends, which a
    string in 3.11 code never does; so does a t-string after its prefix, read as a name.
    Other strings weigh 1 whatever braces they hold (docstrings, templates)."""
    string = token.string
    if "{" not in string:
        return 1
    prefix = string[: len(string) - len(string.lstrip("bBrRuUfF"))]
    piece = previous is not None and previous.end == token.start and (previous.type in _BEFORE_A_PIECE or previous.string in ")]}")
    if "f" not in prefix.lower() and not piece:
        return 1
    weight = 1
    depth = 0
    index = 0
    while index < len(string):
        char = string[index]
        if depth == 0 and char in "{}" and string[index + 1 : index + 2] == char:
            index += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        elif depth:
            weight += 1
        index += 1
    return weight


_OPERATOR_HOLDERS = frozenset(kind for kind in AST_FIELDS if {"ctx", "op", "ops"} & set(kind._fields))


def _nesting_depth(tree: ast.AST) -> int:
    """How deep libcst's tree of the same source nests: CPython's, with flat boolean chains
    counted as libcst builds them, one level per operand."""
    deepest = 0
    stack: list[tuple[object, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        kind = type(node)
        fields = AST_FIELDS.get(kind)
        if fields is None:
            continue
        if kind is ast.BoolOp:
            depth += len(node.values) - 2  # type: ignore[attr-defined]
        depth += 1
        if kind in _OPERATOR_HOLDERS and depth > deepest:
            deepest = depth  # ``Load``, ``Add``: leaves the walk skips, a level below
        elif depth - 1 > deepest:
            deepest = depth - 1
        for name in fields:
            value = getattr(node, name, None)
            if type(value) is list:
                stack.extend((child, depth) for child in value)
            elif value is not None:
                stack.append((value, depth))
    return deepest
