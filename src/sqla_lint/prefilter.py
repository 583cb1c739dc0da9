"""Which files cannot produce a finding, decided without libcst.

A libcst parse costs about ten times CPython's own parser, and most files of a real project
never create a session, engine, connection or pool: they do not mention SQLAlchemy at all, or
only annotate parameters with ``Session``. This module proves that cheaply, so only the other
files pay for libcst. It is conservative: a file is skipped only when the full analysis
provably finds nothing in it. ``tests/test_prefilter.py`` checks that on the fixtures and on
generated programs.

Why skipping is sound: every kind the semantic model infers (:mod:`.semantic.model`) starts
at a *seed*:

1. a call to a configured factory, or to a name the caller passes as ``extra_names`` (the
   hook for a project index that knows what other modules export);
2. a call whose callee resolves through imports to a known API
   (:data:`.semantic.symbols.CALL_RESULT_LEAVES`);
3. a parameter or return annotation that resolves to a known type
   (:data:`.semantic.symbols.ANNOTATION_LEAVES`).

From a seed, kinds only move (assignments, ``with ... as``, returns, attributes), except that
calling a session factory gives a session and ``connect()``/``begin()`` on an engine gives a
connection. A qualified name's last segment is always written in the file, in the import or
in the attribute chain, and its root package is written too unless a relative import reaches
it. So:

- Text stage: a file with no known name, or with neither a known root package nor a relative
  import, has no seed of kind 2 or 3; one with no configured or extra name has none of kind 1.
- Tree stage (:mod:`.semantic.screen`, over the module facts of CPython's parse, the same
  facts the project index summarises): a known symbol used anywhere but an annotation (a call, an
  alias, an attribute) makes the file worth analysing, except ``sessionmaker``: a factory
  creates nothing until it is called. What is left are resources that only come from
  annotations or factories, and for each a finding needs one more step, which the stage
  looks for with the values that may hold the resource over-approximated by name,
  regardless of scope:

  - a session from an annotated parameter must be returned, yielded or entered in a
    ``with`` (SQA401 at a helper's call site, SQA402, SQA404), or appear in the arguments
    of a call that may run things at once (``gather``, ``create_task``; SQA406);
  - an engine from an annotation must have ``connect()``, ``begin()`` or
    ``raw_connection()`` called (SQA503); engines a helper returns are exempt from
    SQA501 and SQA502;
  - a session factory must be called or have ``begin()`` called.

A skipped file has still been parsed by CPython, or its rewrite when it is newer Python
than the interpreter's (:mod:`.semantic.downlevel`). A file neither parses is analysed in
full, so its SQA001 comes from the full path exactly as without the prefilter.

A new way for the model to infer a kind must be mirrored in the tree stage; add its shape to the program
generator in ``tests/test_prefilter.py``, which compares both paths.
"""

from __future__ import annotations

import ast
import codecs
import re
import symtable
import warnings
from collections.abc import Iterable

from .semantic import screen
from .semantic.facts import KNOWN_LEAVES, RELATIVE_IMPORT, ModuleFacts
from .semantic.parsing import cpython_tree, newer_syntax_tree
from .semantic.symbols import KNOWN_ROOTS

__all__ = ["RELATIVE_IMPORT", "Prefilter", "may_use_known_api", "parses"]

# The shortest spellings that every known name contains (``Session`` is in ``AsyncSession``):
# a fast substring test first, the exact identifier test only on files that pass it.
_KNOWN_SUBSTRINGS = tuple(
    leaf.encode()
    for leaf in KNOWN_LEAVES
    if not any(other != leaf and other in leaf for other in KNOWN_LEAVES)
)
_ROOT_SUBSTRINGS = tuple(root.encode() for root in sorted(KNOWN_ROOTS))


def _identifiers(names: Iterable[str]) -> re.Pattern[bytes]:
    """Any of ``names`` as a whole identifier. A non-ASCII neighbour counts as a boundary,
    which can only make the pattern match more often."""
    alternatives = b"|".join(re.escape(name.encode()) for name in sorted(names, key=len, reverse=True))
    return re.compile(b"(?<![A-Za-z0-9_])(?:" + alternatives + b")(?![A-Za-z0-9_])")


_KNOWN_NAMES = _identifiers(KNOWN_LEAVES)
_IDENTIFIER = re.compile(r"[^\W\d]\w*")
_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.MULTILINE)


class Prefilter:
    """Built once per settings; ``needs_analysis`` is called once per file.

    ``factory_names`` are the configured session and engine factories; ``extra_names`` are
    further names whose call may create a resource, such as what a project index knows
    other modules export. A file that mentions any of them is always analysed.
    """

    def __init__(self, factory_names: Iterable[str] = (), extra_names: Iterable[str] = ()) -> None:
        words = {
            word
            for name in (*factory_names, *extra_names)
            for word in _IDENTIFIER.findall(name.rpartition(".")[2])
        }
        self._named = _identifiers(words) if words else None

    def names_a_factory(self, source: bytes) -> bool:
        """Whether ``source`` mentions a configured factory or an extra name."""
        return self._named is not None and self._named.search(source) is not None

    def needs_analysis(
        self, source: bytes, tree: ast.Module | None = None, *, check_syntax: bool = True, facts: ModuleFacts | None = None
    ) -> bool:
        """False only when the full analysis cannot report anything for ``source``.

        ``tree`` is CPython's parse of ``source`` when the caller has one (flake8 does), and
        ``facts`` its module facts when the caller has those (the index build does). A file
        that CPython cannot parse needs analysis when ``check_syntax`` is set, so that it
        gets its SQA001 from the same parser as without the prefilter.
        """
        if not _ascii_transparent(source):
            return True
        if self.names_a_factory(source):
            return True
        if not may_use_known_api(source):
            return check_syntax and tree is None and facts is None and not parses(source)
        if facts is None:
            if tree is None:
                tree = cpython_tree(source)
                if tree is None:
                    return True
            try:
                facts = ModuleFacts(tree)
            except RecursionError:
                return True
        return screen.needs_analysis(facts)


def may_use_known_api(source: bytes) -> bool:
    """The text stage: whether ``source`` may hold a seed of kind 2 or 3 (see above). The
    project index summarises only such modules and those that use what they bind."""
    if not _ascii_transparent(source):
        return True
    return (
        any(name in source for name in _KNOWN_SUBSTRINGS)
        and (any(root in source for root in _ROOT_SUBSTRINGS) or RELATIVE_IMPORT.search(source) is not None)
        and _KNOWN_NAMES.search(source) is not None
    )


_PARSE_ERRORS = (SyntaxError, ValueError, UnicodeError, RecursionError, MemoryError)


def parses(source: bytes) -> bool:
    """Whether CPython parses ``source``, without building the tree: its symbol table pass
    runs the parser and skips turning the tree into Python objects, a quarter of the cost.
    It also rejects a few programs the parser accepts (``nonlocal`` at module level); those
    go to the full path too, where libcst decides, so no finding depends on the difference.
    A source in newer syntax than this interpreter's parses when its rewrite does
    (:func:`.newer_syntax_tree`), as on the full path."""
    # A warning is not an error (as in :mod:`.semantic.parsing`): under ``-W error`` an
    # invalid escape sequence would otherwise send the file down the slow path.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            symtable.symtable(source, "<prefilter>", "exec")  # type: ignore[arg-type]
        except SyntaxError:
            return newer_syntax_tree(source) is not None
        except _PARSE_ERRORS:
            return False
    return True


def _ascii_transparent(source: bytes) -> bool:
    """Whether ASCII identifiers are spelled with the same bytes as in ASCII: true of UTF-8
    and the single-byte encodings, not of UTF-7, which can spell ``Session`` in base64."""
    first = source.find(b"\n")
    second = source.find(b"\n", first + 1) if first >= 0 else -1
    head = source if second < 0 else source[:second]
    match = _CODING.search(head)
    if match is None:
        return True
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
    except (LookupError, UnicodeDecodeError):
        return True  # CPython rejects the file, which is then analysed in full
    return name in ("utf-8", "utf-8-sig", "ascii") or name.startswith(("iso8859", "cp125"))
