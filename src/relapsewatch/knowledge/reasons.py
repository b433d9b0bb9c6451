"""Why an option is listed, not listed, or depends on the care team: the patient-facing reasons.

Sentences are kept short (one fact each) so every reason reads at grade 8 or below, however
many rules apply. The first reason an option is not listed starts "Not listed because"; later
ones start "Also,". A region's own rules are said together, after "Not listed because of the
rules in <region>." (or "Also, the rules in <region> do not fit."). A rule the compilers could
not verify is followed by "This rule is not confirmed."
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Literal

from relapsewatch.knowledge.conditions import CONDITIONS, AnyOf, Condition, PriorLines
from relapsewatch.knowledge.regimens import Regimen, Region
from relapsewatch.knowledge.rules import Check, effective_lines
from relapsewatch.knowledge.wording import (
    PLACE,
    approval_sentence,
    holds_phrase,
    lines_phrase,
    unavailable_reason,
    when_phrase,
)

__all__ = [
    "UNCONFIRMED_NOTE",
    "FactSource",
    "approval_text",
    "depends_text",
    "leaf_names",
    "listed_text",
    "not_listed_text",
    "review_text",
    "rule_doubted",
]

#: Where a condition's value came from: the status row, the care team, or nowhere (unknown).
FactSource = Literal["records", "care_team", "not_recorded", "missing_from_status"]

UNCONFIRMED_NOTE = "Some facts in this entry are not confirmed. Your care team can check them."

# A year next to these statuses would date some other decision (e.g. another regimen's licence).
_NO_YEAR = frozenset({"not_applicable", "not_approved", "not_appraised", "unconfirmed"})


def leaf_names(check: Check) -> list[str]:
    """The condition names a check reads."""
    req = check.requirement
    if isinstance(req, Condition):
        return [req.name]
    if isinstance(req, AnyOf):
        return [x.name for x in req.items if isinstance(x, Condition)]
    return []


def rule_doubted(check: Check, regimen: Regimen) -> bool:
    """Is this regimen-level rule one the compilers marked unconfirmed?"""
    return check.scope == "regimen" and any(
        name in regimen.unconfirmed_conditions for name in leaf_names(check)
    )


def _by_team(names: list[str], sources: Mapping[str, FactSource]) -> bool:
    return bool(names) and all(sources.get(n) == "care_team" for n in names)


def _verb(region: Region) -> str:
    return "recommended" if region == "england" else "approved"


def _items(requirement: Condition | PriorLines | AnyOf) -> tuple[Condition | PriorLines, ...]:
    return requirement.items if isinstance(requirement, AnyOf) else (requirement,)


def _cases(requirement: AnyOf, verb: str) -> list[str]:
    """``It is <verb> when A.`` ``It is also <verb> when B.``"""
    return [
        f"It is{' also' if i else ''} {verb} {when_phrase(item)}."
        for i, item in enumerate(requirement.items)
    ]


def _regimen_reason(check: Check, sources: Mapping[str, FactSource]) -> list[str]:
    """A failed regimen-level rule: a clause, then any detail sentences."""
    assert check.requirement is not None
    team = _by_team(leaf_names(check), sources)
    if check.kind == "excludes":
        who = "your care team has noted that" if team else "the records show"
        return [f"{who} {holds_phrase(check.requirement)}"]
    if isinstance(check.requirement, AnyOf):
        return ["the records match neither case in which it is used",
                *_cases(check.requirement, "used")]  # fmt: skip
    who = "your care team has not confirmed that" if team else "the records do not show that"
    return [f"{who} {holds_phrase(check.requirement)}"]


def _region_detail(check: Check, region: Region) -> list[str]:
    """Sentences saying what a region's rule needs."""
    verb = _verb(region)
    if check.kind == "lines":
        return [f"There it is only {verb} {lines_phrase(check.min_lines, check.max_lines)}."]
    assert check.requirement is not None
    if check.kind == "excludes":
        return [f"There it is not {verb} when {holds_phrase(check.requirement)}."]
    if isinstance(check.requirement, AnyOf):
        return [*_cases(check.requirement, verb), "The records show neither."]
    return [f"There it is only {verb} {when_phrase(check.requirement)}."]


def not_listed_text(
    blocking: list[Check], regimen: Regimen, sources: Mapping[str, FactSource]
) -> str:
    """Every reason an option is not listed, in plain short sentences."""
    reasons: list[list[str]] = []
    region_detail: list[str] = []
    for check in blocking:
        if check.kind == "status":
            region: Region = "england" if check.scope == "regimen" else check.scope
            reasons.append([unavailable_reason(region, str(check.status))])
        elif check.scope == "regimen":
            reason = _regimen_reason(check, sources)
            if rule_doubted(check, regimen):
                reason.append("This rule is not confirmed.")
            reasons.append(reason)
        else:
            if not region_detail:
                place = PLACE[check.scope]
                first = not reasons
                reasons.append([f"of the rules in {place}" if first
                                else f"the rules in {place} do not fit"])  # fmt: skip
                region_detail = reasons[-1]
            region_detail += _region_detail(check, check.scope)
    sentences: list[str] = []
    for i, (clause, *details) in enumerate(reasons):
        lead = "Not listed because" if i == 0 else "Also,"
        sentences += [f"{lead} {clause}.", *details]
    return " ".join(sentences)


def listed_text(
    regimen: Regimen,
    region: Region,
    checks: tuple[Check, ...],
    facts: Mapping[str, bool | None],
    sources: Mapping[str, FactSource],
    prior_lines: int,
) -> str:
    """Why an option is listed: when it is used, the line count, and the facts that fit."""
    low, top = effective_lines(regimen, regimen.approval(region))
    when = lines_phrase(low, top)
    narrowed = any(c.kind == "lines" for c in checks)
    first = (
        f"Listed because in {PLACE[region]} it is {_verb(region)} {when}."
        if narrowed
        else f"Listed because it is used {when}."
    )
    so_far = f"{prior_lines} line{'s' if prior_lines != 1 else ''} of treatment so far"
    sentences = [first, f"The records show {so_far}."]
    for check in checks:
        if check.kind != "requires" or check.requirement is None:
            continue
        held = [
            x
            for x in _items(check.requirement)
            if isinstance(x, Condition) and facts.get(x.name) is True
        ]
        if held:
            team = _by_team([held[0].name], sources)
            who = "Your care team has noted that" if team else "The records show"
            sentences.append(f"{who} {holds_phrase(held[0])}.")
    return " ".join(dict.fromkeys(sentences))


def depends_text(
    checks: list[Check], facts: Mapping[str, bool | None]
) -> tuple[tuple[str, ...], str]:
    """The unknown conditions an option waits on, and the sentence saying the team checks them."""
    names: list[str] = []
    questions: list[str] = []
    for check in checks:
        fresh = [n for n in leaf_names(check) if facts.get(n) is None and n not in names]
        if fresh:
            names += fresh
            questions.append(", or ".join(f"whether {CONDITIONS[n].holds}" for n in fresh))
    if len(questions) == 1:
        return tuple(names), (f"This depends on {questions[0]}. Your care team will check this.")
    checks_said = [f"Your care team will check {questions[0]}."]
    checks_said += [f"They will also check {q}." for q in questions[1:]]
    return tuple(names), " ".join(["This depends on a few facts.", *checks_said])


def approval_text(regimen: Regimen, region: Region) -> str:
    """The approval status in the region in plain words, with doubts and the year."""
    approval = regimen.approval(region)
    text = approval_sentence(region, approval.status)
    if approval.status_unconfirmed and approval.status != "unconfirmed":
        text = text[:-1] + " (not confirmed)."
    if approval.year is not None and approval.status not in _NO_YEAR:
        doubt = " (year not confirmed)" if approval.year_unconfirmed else ""
        text += f" The decision dates from {approval.year}{doubt}."
    return text


def review_text(day: dt.date) -> str:
    """When the entry was last checked."""
    return f"This entry was last checked on {day.day} {day:%B %Y}."
