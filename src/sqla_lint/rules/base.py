"""The rule interface: a rule asks the semantic model questions and reports nodes.

A rule's class docstring is its documentation page, and its ``EXAMPLE_FIRES`` /
``EXAMPLE_SILENT`` snippets are shown on that page and run as tests, so the docs cannot
drift from the behaviour.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import libcst as cst
from libcst.metadata import CodeRange

from ..diagnostics import Applicability
from ..semantic import Creation, ModuleModel, Outcome, Ownership, OwnershipAnalysis
from ..semantic.symbols import closers_for


Replacement = cst.CSTNode | cst.FlattenSentinel[cst.CSTNode] | cst.RemovalSentinel


@dataclass(frozen=True, eq=False)
class Rewrite:
    """A fix in tree terms, as in Fixit: each node is replaced by a new one.

    The rule knows the shape, so it says what to replace; the engine turns that into
    text edits covering only the lines that change, so every other byte stays as it is.
    Findings that share one rewrite (one ``finally`` disposing two engines) share one
    object, and the fixer applies it once.
    """

    message: str
    replacements: tuple[tuple[cst.CSTNode, Replacement], ...]
    applicability: Applicability = Applicability.SAFE


@dataclass(frozen=True)
class Finding:
    """A rule's report before the engine turns nodes into positions."""

    node: cst.CSTNode
    message: str
    fix: Rewrite | None = None


@dataclass
class RuleContext:
    """What every rule sees for one file; analyses are computed once and shared."""

    model: ModuleModel
    _ownership_cache: dict[tuple[int, frozenset[str]], Ownership] = field(default_factory=dict)

    @cached_property
    def ownership(self) -> OwnershipAnalysis:
        return OwnershipAnalysis(self.model)

    def positions_of(self, nodes: list[cst.CSTNode]) -> dict[cst.CSTNode, CodeRange]:
        """Where ``nodes`` are in the source (a code-generation pass: ask only for a few)."""
        from ..positions import positions_of

        return positions_of(self.model.module, self.model.tree, nodes)

    def reported_leak(self, creation: Creation) -> Ownership | None:
        """The creation's ownership when it is a leak worth reporting: not one that only an
        exception leaves open where that exception ends the process anyway (a script, a
        CLI command, alembic's ``env.py``)."""
        ownership = self.ownership_of(creation)
        if not ownership.leaks:
            return None
        if ownership.outcome.leaks_only_when_something_raises and self.model.failure_ends_the_process(creation.function):
            return None
        return ownership

    def ownership_of(self, creation: Creation) -> Ownership:
        closers = closers_for(creation.kind)
        key = (id(creation.call), closers)
        if key not in self._ownership_cache:
            self._ownership_cache[key] = self.ownership.of(creation.call, closers)
        return self._ownership_cache[key]


class Rule:
    CODE: ClassVar[str]
    NAME: ClassVar[str]
    SUMMARY: ClassVar[str]
    FIX: ClassVar[Applicability | None] = None
    # The fix is FIX where it can be; in some shapes it changes behaviour and is unsafe.
    FIX_SOMETIMES_UNSAFE: ClassVar[bool] = False
    EXAMPLE_FIRES: ClassVar[str] = ""
    EXAMPLE_SILENT: ClassVar[str] = ""

    def check(self, context: RuleContext) -> Iterator[Finding]:
        raise NotImplementedError


_LEAK_PHRASES: dict[Outcome, str] = {
    Outcome.ANONYMOUS: "{subject} is never bound to a name, so nothing can close it; open it with `{opener} {source} as {var}:`",
    Outcome.NEVER_CLOSED: "{subject} is never closed; open it with `{opener} {source} as {var}:` or close it in `finally`",
    Outcome.SUCCESS_PATH_ONLY: "{subject} is closed only on the success path: an exception before `{var}.close()` leaves it open; use `{opener} {source} as {var}:` or close it in `finally`",
    Outcome.SOME_PATHS: "{subject} is not closed on every path; use `{opener} {source} as {var}:` or close it in `finally`",
    Outcome.USED_OUTSIDE_TRY: "{subject} is used outside the `try` whose `finally` closes it; create it inside the `try` or use `{opener}`",
    Outcome.YIELDED_NOT_CLOSED: "{subject} is yielded but never closed after the `yield`; wrap the `yield` in `try:` / `finally: {closer}`",
    Outcome.YIELDED_SUCCESS_PATH: "{subject} is closed after the `yield` only on the success path; move the close into `finally`",
    Outcome.SELF_NEVER_CLOSED: "{subject} is stored on `{holder}`, and `{owner}` never closes it; close it in `close()` or `__exit__`",
    Outcome.PASSED_UNCLOSED: "{subject} is passed straight into a call that uses it without closing it, and nothing else can; open it with `{opener} {source} as {var}:` and pass `{var}`",
    Outcome.ATTRIBUTE_NEVER_CLOSED: "{subject} is stored on `{holder}`, and this module never closes it; close it in a teardown hook or middleware `finally`",
}


def leak_message(context: RuleContext, creation: Creation, ownership: Ownership, noun: str) -> str:
    """The message for a leaked session or connection, naming what holds it."""
    holder = ownership.holder
    variable = holder if holder and "." not in holder else ("conn" if creation.kind.is_connection else "session")
    if creation.via_helper:
        subject = f"{noun} returned by `{creation.via_helper}()`"
        if holder and "." not in holder:
            subject += f" (`{holder}`)"
    elif holder and "." not in holder:
        subject = f"{noun} `{holder}`"
    else:
        subject = f"{noun} from `{creation.source}`"
    owner = ""
    if creation.function is not None:
        owner_class = context.model.class_of_function(creation.function)
        owner = owner_class.name.value if owner_class is not None else ""
    closer = f"{'await ' if creation.kind.is_async else ''}{variable}.close()"
    return _LEAK_PHRASES[ownership.outcome].format(
        subject=subject,
        opener="async with" if creation.kind.is_async else "with",
        source=creation.source,
        var=variable,
        holder=holder,
        owner=owner or "the class",
        closer=closer,
    )
