"""The rule plan of one regimen in one region: which checks decide whether it is listed.

The plan depends only on the knowledge, not on the person. One person's ``status`` row is checked
against it in Python (:mod:`relapsewatch.knowledge.selection`), a whole ``status`` frame with Polars
expressions (:mod:`relapsewatch.knowledge.selection_frame`); both use the same plan and the same
three-valued logic, so they agree.

A plan holds, in order:

1. the approval status in the region (refused, withdrawn or not approved there: blocks);
2. the region's narrower line range, when the region sets one (e.g. FDA: at least 4 prior lines);
3. the regimen's ``requires`` and ``excludes``;
4. the region's extra ``requires`` and ``excludes`` (e.g. NICE: first line included bortezomib).

The regimen's own line range is not a check: an option outside it is not one "often considered
now" and is left out entirely (see :func:`is_relevant`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

from relapsewatch.knowledge.conditions import (
    AnyOf,
    Condition,
    PriorLines,
    Requirement,
    evaluate,
    to_expr,
)
from relapsewatch.knowledge.regimens import Approval, Regimen, Region
from relapsewatch.knowledge.wording import UNAVAILABLE_STATUSES

__all__ = [
    "Check",
    "Truth",
    "check_expr",
    "check_result",
    "describe",
    "effective_lines",
    "is_relevant",
    "plan",
]

Truth = bool | None
CheckKind = Literal["status", "lines", "requires", "excludes"]


@dataclass(frozen=True, slots=True)
class Check:
    """One rule of a plan.

    ``scope`` is ``"regimen"`` for the regimen-level rules, else the region whose approval adds
    the rule. ``requirement`` is set for requires/excludes; ``min_lines``/``max_lines`` for lines.
    """

    kind: CheckKind
    scope: Region | Literal["regimen"]
    requirement: Requirement | None = None
    min_lines: int = 0
    max_lines: int | None = None
    status: str | None = None

    @property
    def rule_id(self) -> str:
        """A short stable name for the nurse view, e.g. ``us.lines>=4`` or ``regimen.excludes``."""
        if self.kind == "status":
            return f"{self.scope}.status={self.status}"
        if self.kind == "lines":
            top = "" if self.max_lines is None else f"<={self.max_lines}"
            return f"{self.scope}.lines>={self.min_lines}{top}"
        return f"{self.scope}.{self.kind}:{describe(self.requirement)}"


def describe(requirement: Requirement | None) -> str:
    """A requirement written back in the yaml's notation."""
    if isinstance(requirement, Condition):
        return requirement.name
    if isinstance(requirement, PriorLines):
        return f"prior_lines{requirement.op}{requirement.count}"
    if isinstance(requirement, AnyOf):
        return "any_of[" + ",".join(describe(x) for x in requirement.items) + "]"
    return ""


def is_relevant(regimen: Regimen, prior_lines: int) -> bool:
    """Is the option one considered at this point (its own line range), and meant to be shown?"""
    top = regimen.max_prior_lines
    return (
        regimen.displayed
        and prior_lines >= regimen.min_prior_lines
        and (top is None or prior_lines <= top)
    )


def effective_lines(regimen: Regimen, approval: Approval) -> tuple[int, int | None]:
    """The line range in the region: the regimen's, narrowed by the region's own limits."""
    low = max(regimen.min_prior_lines, approval.min_prior_lines or 0)
    tops = [t for t in (regimen.max_prior_lines, approval.max_prior_lines) if t is not None]
    return low, (min(tops) if tops else None)


def plan(regimen: Regimen, region: Region) -> tuple[Check, ...]:
    """The ordered checks deciding whether ``regimen`` is listed in ``region``."""
    approval = regimen.approval(region)
    checks: list[Check] = [Check("status", region, status=approval.status)]
    low, top = effective_lines(regimen, approval)
    if (low, top) != (regimen.min_prior_lines, regimen.max_prior_lines):
        checks.append(Check("lines", region, min_lines=low, max_lines=top))
    checks += [Check("requires", "regimen", r) for r in regimen.requires]
    checks += [Check("excludes", "regimen", c) for c in regimen.excludes]
    checks += [Check("requires", region, r) for r in approval.requires]
    checks += [Check("excludes", region, c) for c in approval.excludes]
    return tuple(checks)


def check_result(check: Check, facts: dict[str, bool | None], prior_lines: int) -> Truth:
    """Does the check let the option through: ``True``, ``False`` (blocks) or ``None``."""
    if check.kind == "status":
        return check.status not in UNAVAILABLE_STATUSES
    if check.kind == "lines":
        top = check.max_lines
        return prior_lines >= check.min_lines and (top is None or prior_lines <= top)
    assert check.requirement is not None
    value = evaluate(check.requirement, facts, prior_lines=prior_lines)
    if check.kind == "requires":
        return value
    return None if value is None else not value


def check_expr(check: Check, *, prior_lines: str = "prior_lines") -> pl.Expr:
    """The same check as a nullable Boolean Polars expression (Kleene logic)."""
    if check.kind == "status":
        return pl.lit(check.status not in UNAVAILABLE_STATUSES, dtype=pl.Boolean)
    if check.kind == "lines":
        expr = pl.col(prior_lines) >= check.min_lines
        if check.max_lines is not None:
            expr = expr & (pl.col(prior_lines) <= check.max_lines)
        return expr
    assert check.requirement is not None
    value = to_expr(check.requirement, prior_lines=prior_lines)
    return value if check.kind == "requires" else ~value
