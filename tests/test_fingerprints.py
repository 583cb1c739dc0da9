"""Finding anchors: the normalised statement and its scope, independent of line numbers."""

from __future__ import annotations

from sqla_lint.fingerprints import SourceIndex, occurrence_fingerprints

SOURCE = b'''class Repo:
    @staticmethod
    @lru_cache(
        maxsize=1)
    def cached():
        return Session(engine)

    def load(self):
        rows = list(
            Session(engine).execute(1)
        )
        return rows
'''


def test_anchor_is_the_whole_statement_and_its_scope():
    index = SourceIndex(SOURCE)
    assert index.anchor(3).scope == "Repo"
    assert index.anchor(3).statement == "@ lru_cache ( maxsize = 1 ) def cached ( ) :"
    assert index.anchor(2).statement == "@ staticmethod @ lru_cache ( maxsize = 1 ) def cached ( ) :"
    assert index.anchor(9).scope == "Repo.load"
    assert index.anchor(9).statement == "rows = list ( Session ( engine ) . execute ( 1 ) )"
    assert index.anchor(10) == index.anchor(9)


def test_fingerprint_ignores_layout_comments_and_position():
    moved = b"import os\n\n\n" + SOURCE.replace(b"rows = list(\n", b"rows = list(  # noqa: SQA401\n").replace(b"            Session", b"                Session")
    assert SourceIndex(moved).anchor(12).fingerprint == SourceIndex(SOURCE).anchor(9).fingerprint
    renamed = SOURCE.replace(b"def load(self)", b"def load_all(self)")
    assert SourceIndex(renamed).anchor(9).fingerprint != SourceIndex(SOURCE).anchor(9).fingerprint


def test_unparsable_source_falls_back_to_the_line():
    index = SourceIndex(b"def f(:\n    x = (\n")
    assert index.anchor(1).scope == ""
    assert index.anchor(1).statement
    assert index.anchor(99).statement == ""


def test_occurrence_fingerprints_number_repeats():
    first, second, other = occurrence_fingerprints([("a", "SQA401", "x"), ("a", "SQA401", "x"), ("b", "SQA401", "x")])
    assert len({first, second, other}) == 3
    assert occurrence_fingerprints([("a", "SQA401", "x")]) == [first]
