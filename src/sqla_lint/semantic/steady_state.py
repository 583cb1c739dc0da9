"""Which engines and pools a deployed process holds all the time: the sites SQA506 counts.

A site at module level counts. One made in a function counts when the function runs once
per process (a lifespan or startup hook, ``main``, a cached factory, a function called
only from once-per-process code) or keeps what it makes in a per-key cache. Made per call
(SQA501's judgement), or in a function nothing shows to run once, it is listed with the
reason and not counted. The project index answers across modules; without one, the
module's own model answers the same questions.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from .budget import ConnectionBudget, Deployment, connection_budget, not_once_note, per_call_note
from .pools import PoolSite, pool_sites

if TYPE_CHECKING:
    from .index import ProjectIndex
    from .model import ModuleModel


def project_budget(index: ProjectIndex) -> ConnectionBudget:
    def left_out(site: PoolSite) -> str | None:
        if site.function is None:
            return None
        qualified = f"{site.module}.{site.function}"
        reason = index.per_call_reason(qualified)
        if reason is not None and not site.per_key_cache:
            return per_call_note(reason)
        summary = index.function(qualified)
        once = summary is not None and (summary.is_once or summary.is_cached)
        if site.per_key_cache or once or index.called_only_once(qualified):
            return None
        return not_once_note(site.function)

    return connection_budget(index.pool_sites(), index.deployment or Deployment(), left_out)


def module_budget(model: ModuleModel) -> ConnectionBudget:
    """One module as the whole project, with one process assumed (no index: stdin, or the
    index turned off)."""
    try:
        tree = ast.parse(model.module.code)
    except (SyntaxError, ValueError):
        return connection_budget((), Deployment())

    def left_out(site: PoolSite) -> str | None:
        if site.function is None:
            return None
        owner, _, name = site.function.rpartition(".")
        function = model.methods.get(model.classes[owner], {}).get(name) if owner in model.classes else model.module_functions.get(name)
        if function is None:
            return not_once_note(site.function)
        reason = model.per_call_reason(function)
        if reason is not None and not site.per_key_cache:
            return per_call_note(reason)
        calls = model.call_sites.get(function, ())
        called_once = bool(calls) and all(model.tree.enclosing_function.get(call) is None for call in calls)
        if site.per_key_cache or model.is_once_per_process(function) or called_once:
            return None
        return not_once_note(site.function)

    return connection_budget(pool_sites(tree, model.module_name), Deployment(), left_out)
