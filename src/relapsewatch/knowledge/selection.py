"""Treatment options often considered now, for one person, with the reasons in plain words.

:func:`options_for` takes one row of the course engine's ``status`` table and a region and returns
an :class:`OptionView` for every option the knowledge describes at the person's number of prior
lines: the ones listed (with why), the ones whose fit depends on something only the care team can
check, and the common ones *not* listed (with why not). Claims the compilers could not verify are
labelled "not confirmed". Always show :data:`~relapsewatch.knowledge.CARE_TEAM_DECIDES` with them.

>>> status = {"prior_lines": 1, "lenalidomide_exposed": True, "lenalidomide_refractory": True,
...           "pi_exposed": True, "bortezomib_exposed": True, "anti_cd38_refractory": False}
>>> views = {v.regimen_id: v for v in options_for(status, region="eu")}
>>> views["dkd"].outcome, views["drd"].outcome
('listed', 'not_listed')
>>> views["drd"].why
'Not listed because the records show the myeloma stopped responding to lenalidomide. This rule is not confirmed.'
"""  # noqa: E501

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from relapsewatch.errors import DataError, Problem, VocabularyError, echo
from relapsewatch.knowledge.conditions import CARE_TEAM_CONDITIONS, CONDITIONS, AnyOf, Condition
from relapsewatch.knowledge.regimens import (
    REGIONS,
    ApprovalStatus,
    Regimen,
    RegimenCatalogue,
    Region,
    load_regimens,
)
from relapsewatch.knowledge.rules import (
    Check,
    Truth,
    check_result,
    effective_lines,
    is_relevant,
    plan,
)
from relapsewatch.knowledge.wording import (
    PLACE,
    approval_sentence,
    holds_phrase,
    lines_phrase,
    unavailable_reason,
)

__all__ = ["FactSource", "OptionView", "Outcome", "RuleTrace", "options_for", "read_facts"]

Outcome = Literal["listed", "depends", "not_listed"]
#: Where a condition's value came from: the status row, the care team, or nowhere (unknown).
FactSource = Literal["records", "care_team", "not_recorded", "missing_from_status"]

_OUTCOME_ORDER: Mapping[str, int] = {"listed": 0, "depends": 1, "not_listed": 2}


@dataclass(frozen=True, slots=True)
class RuleTrace:
    """One rule and how it came out, for the nurse view (``result`` None = unknown)."""

    rule_id: str
    scope: str
    result: bool | None
    facts: tuple[tuple[str, bool | None, FactSource], ...]
    unconfirmed: bool


@dataclass(frozen=True, slots=True)
class OptionView:
    """One treatment option as shown to a person and their nurse.

    Patient-facing text: ``name``, ``why``, ``depends_text``, ``approval_text``,
    ``unconfirmed_note``, ``review_text`` (see :meth:`patient_texts`). The rest is for the nurse
    and for citing: ``approval_reference``, ``approval_population``, ``unconfirmed`` (the claims
    as the compilers wrote them), ``sources`` (URLs) and ``trace`` (every rule and its result).
    """

    regimen_id: str
    name: str
    abbreviation: str
    kind: str
    outcome: Outcome
    why: str
    depends_on: tuple[str, ...]
    depends_text: str | None
    region: Region
    approval_status: ApprovalStatus
    approval_text: str
    approval_reference: str | None
    approval_year: int | None
    approval_population: str | None
    unconfirmed: tuple[str, ...]
    unconfirmed_note: str | None
    sources: tuple[str, ...]
    review_date: dt.date
    review_text: str
    trace: tuple[RuleTrace, ...]

    @property
    def shown(self) -> bool:
        """Listed, or listed with "depends on ..., which your care team will check"."""
        return self.outcome != "not_listed"

    def patient_texts(self) -> tuple[str, ...]:
        """Every patient-facing string of this view (for display checks and readability)."""
        texts = [self.name, self.why, self.approval_text, self.review_text]
        texts += [t for t in (self.depends_text, self.unconfirmed_note) if t]
        return tuple(texts)


# ---------------------------------------------------------------------------------------------
# Facts
# ---------------------------------------------------------------------------------------------


def _as_truth(value: object, key: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    raise DataError(
        [
            Problem(
                "status",
                None,
                key,
                echo(value),
                "true, false or empty",
                f"Give {key} as a yes/no value, or leave it empty if unknown.",
            )
        ]
    )


def read_facts(
    status: Mapping[str, object], team_facts: Mapping[str, bool] | None = None
) -> tuple[int, dict[str, bool | None], dict[str, FactSource]]:
    """The prior-line count and every condition's value and source for one status row.

    Conditions in :data:`CARE_TEAM_CONDITIONS` come only from ``team_facts`` (what the care team
    has recorded); values for them in ``status`` are ignored because records cannot show them.
    Other conditions come from ``status``; one missing there is unknown, never assumed.
    """
    raw_lines = status.get("prior_lines")
    if isinstance(raw_lines, np.integer):
        raw_lines = int(raw_lines)
    if isinstance(raw_lines, bool) or not isinstance(raw_lines, int) or raw_lines < 0:
        raise DataError(
            [
                Problem(
                    "status",
                    None,
                    "prior_lines",
                    echo(raw_lines),
                    "a whole number >= 0",
                    "Pass a row of the course engine's status table (it has prior_lines).",
                )
            ]
        )
    team = dict(team_facts or {})
    for name in team:
        if name not in CONDITIONS:
            raise VocabularyError(
                f"team_facts: unknown condition {name!r}; known: {sorted(CARE_TEAM_CONDITIONS)}"
            )
        if name not in CARE_TEAM_CONDITIONS:
            raise VocabularyError(
                f"team_facts: {name!r} comes from the records; pass it in "
                f"status. team_facts takes {sorted(CARE_TEAM_CONDITIONS)}"
            )
    facts: dict[str, bool | None] = {}
    sources: dict[str, FactSource] = {}
    for name in CONDITIONS:
        if name in CARE_TEAM_CONDITIONS:
            facts[name] = _as_truth(team.get(name), name)
            sources[name] = "care_team" if name in team else "not_recorded"
        elif name in status:
            facts[name] = _as_truth(status[name], name)
            sources[name] = "records" if facts[name] is not None else "not_recorded"
        else:
            facts[name] = None
            sources[name] = "missing_from_status"
    return raw_lines, facts, sources


# ---------------------------------------------------------------------------------------------
# Words
# ---------------------------------------------------------------------------------------------


def _shows(names: list[str], sources: Mapping[str, FactSource]) -> str:
    by_team = names and all(sources.get(n) == "care_team" for n in names)
    return "your care team has noted that" if by_team else "the records show"


def _leaf_names(check: Check) -> list[str]:
    req = check.requirement
    if isinstance(req, Condition):
        return [req.name]
    if isinstance(req, AnyOf):
        return [x.name for x in req.items if isinstance(x, Condition)]
    return []


def _verb(region: Region) -> str:
    return "recommended" if region == "england" else "approved"


def _blocking_reason(check: Check, regimen: Regimen, sources: Mapping[str, FactSource]) -> str:
    """Why a failed check keeps the option off the list (a clause)."""
    region: Region = "england" if check.scope == "regimen" else check.scope
    if check.kind == "status":
        return unavailable_reason(region, str(check.status))
    if check.kind == "lines":
        phrase = lines_phrase(check.min_lines, check.max_lines)
        return f"in {PLACE[region]} it is only {_verb(region)} {phrase}"
    assert check.requirement is not None
    holds = holds_phrase(check.requirement)
    if check.scope == "regimen":
        shows = _shows(_leaf_names(check), sources)
        if check.kind == "excludes":
            return f"{shows} {holds}"
        if shows.startswith("your care team"):
            return f"your care team has not confirmed that {holds}"
        return f"the records do not show that {holds}"
    place = PLACE[region]
    if check.kind == "excludes":
        return f"in {place} it is not {_verb(region)} when {holds}"
    return f"in {place} it is only {_verb(region)} when {holds}"


def _is_doubted(check: Check, regimen: Regimen) -> bool:
    return check.scope == "regimen" and any(
        name in regimen.unconfirmed_conditions for name in _leaf_names(check)
    )


def _not_listed_text(
    blocking: list[Check], regimen: Regimen, sources: Mapping[str, FactSource]
) -> str:
    sentences: list[str] = []
    for i, check in enumerate(blocking):
        reason = _blocking_reason(check, regimen, sources)
        sentences.append(f"Not listed because {reason}." if i == 0 else f"Also, {reason}.")
        if _is_doubted(check, regimen):
            sentences.append("This rule is not confirmed.")
    return " ".join(sentences)


def _listed_text(
    regimen: Regimen,
    region: Region,
    checks: tuple[Check, ...],
    facts: Mapping[str, bool | None],
    sources: Mapping[str, FactSource],
    prior_lines: int,
) -> str:
    low, top = effective_lines(regimen, regimen.approval(region))
    narrowed = any(c.kind == "lines" for c in checks)
    when = lines_phrase(low, top)
    first = (
        f"Listed because in {PLACE[region]} it is {_verb(region)} {when}."
        if narrowed
        else f"Listed because it is used {when}."
    )
    count = f"{prior_lines} earlier line{'s' if prior_lines != 1 else ''} of treatment"
    sentences = [first, f"The records show {count}."]
    for check in checks:
        if check.kind != "requires" or check.requirement is None:
            continue
        true_items = [
            x
            for x in (
                check.requirement.items
                if isinstance(check.requirement, AnyOf)
                else (check.requirement,)
            )
            if isinstance(x, Condition) and facts.get(x.name) is True
        ]
        if true_items:
            shows = _shows([true_items[0].name], sources)
            sentences.append(f"{shows[0].upper()}{shows[1:]} {holds_phrase(true_items[0])}.")
    return " ".join(dict.fromkeys(sentences))


def _depends(checks: list[Check], facts: Mapping[str, bool | None]) -> tuple[tuple[str, ...], str]:
    names: list[str] = []
    questions: list[str] = []
    for check in checks:
        unknown = [n for n in _leaf_names(check) if facts.get(n) is None]
        fresh = [n for n in unknown if n not in names]
        if not fresh:
            continue
        names += fresh
        questions.append(", or ".join(f"whether {CONDITIONS[n].holds}" for n in fresh))
    if len(questions) == 1:
        return tuple(names), f"This depends on {questions[0]}, which your care team will check."
    body = ", and on ".join(questions)
    return tuple(names), f"This depends on {body}. Your care team will check these."


# A year next to these statuses would date some other decision (e.g. another regimen's licence).
_NO_YEAR = frozenset({"not_applicable", "not_approved", "not_appraised", "unconfirmed"})


def _approval_text(regimen: Regimen, region: Region) -> str:
    approval = regimen.approval(region)
    text = approval_sentence(region, approval.status)
    if approval.status_unconfirmed and approval.status != "unconfirmed":
        text = text[:-1] + " (not confirmed)."
    if approval.year is not None and approval.status not in _NO_YEAR:
        doubt = " (year not confirmed)" if approval.year_unconfirmed else ""
        text += f" The decision dates from {approval.year}{doubt}."
    return text


def _review_text(day: dt.date) -> str:
    return f"This entry was last checked on {day.day} {day:%B %Y}."


_UNCONFIRMED_NOTE = "Some facts in this entry are not confirmed. Your care team can check them."


# ---------------------------------------------------------------------------------------------
# Selection
# ---------------------------------------------------------------------------------------------


def _view(
    regimen: Regimen,
    region: Region,
    prior_lines: int,
    facts: dict[str, bool | None],
    sources: dict[str, FactSource],
) -> OptionView:
    checks = plan(regimen, region)
    results: list[Truth] = [check_result(c, facts, prior_lines) for c in checks]
    blocking = [c for c, r in zip(checks, results, strict=True) if r is False]
    unknown = [c for c, r in zip(checks, results, strict=True) if r is None]
    depends_on: tuple[str, ...] = ()
    depends_text: str | None = None
    outcome: Outcome
    if blocking:
        outcome = "not_listed"
        why = _not_listed_text(blocking, regimen, sources)
    else:
        outcome = "depends" if unknown else "listed"
        why = _listed_text(regimen, region, checks, facts, sources, prior_lines)
        if unknown:
            depends_on, depends_text = _depends(unknown, facts)
    approval = regimen.approval(region)
    claims = regimen.unconfirmed + approval.unconfirmed
    doubt_note = any(
        (
            approval.status_unconfirmed,
            approval.year_unconfirmed,
            approval.reference_unconfirmed,
            bool(claims),
        )
    )
    trace = tuple(
        RuleTrace(
            rule_id=check.rule_id,
            scope=check.scope,
            result=result,
            facts=tuple((n, facts.get(n), sources[n]) for n in _leaf_names(check)),
            unconfirmed=_is_doubted(check, regimen),
        )
        for check, result in zip(checks, results, strict=True)
    )
    return OptionView(
        regimen_id=regimen.id,
        name=regimen.name,
        abbreviation=regimen.abbreviation,
        kind=regimen.type,
        outcome=outcome,
        why=why,
        depends_on=depends_on,
        depends_text=depends_text,
        region=region,
        approval_status=approval.status,
        approval_text=_approval_text(regimen, region),
        approval_reference=approval.reference,
        approval_year=approval.year,
        approval_population=approval.population,
        unconfirmed=claims,
        unconfirmed_note=_UNCONFIRMED_NOTE if doubt_note else None,
        sources=regimen.sources,
        review_date=regimen.review_date,
        review_text=_review_text(regimen.review_date),
        trace=trace,
    )


def options_for(
    status: Mapping[str, object],
    *,
    region: Region,
    team_facts: Mapping[str, bool] | None = None,
    catalogue: RegimenCatalogue | None = None,
) -> list[OptionView]:
    """The options the knowledge describes at this point, listed or not, each with its reason.

    Parameters
    ----------
    status:
        One row of the course engine's ``status`` table: ``prior_lines`` (int) and the yes/no
        conditions of the vocabulary (:data:`~relapsewatch.knowledge.conditions.CONDITIONS`).
        A condition that is missing or empty is unknown.
    region:
        ``"england"`` (NICE), ``"eu"`` (EMA) or ``"us"`` (FDA).
    team_facts:
        What the care team has recorded for the conditions records cannot show
        (:data:`~relapsewatch.knowledge.conditions.CARE_TEAM_CONDITIONS`). Without it those are
        unknown, and an option that depends on them says so ("depends on ...").
    catalogue:
        The regimen knowledge; the packaged one by default.

    Returns
    -------
    list[OptionView]
        Options whose usual line range includes ``prior_lines``: listed ones first, then those
        that depend on the care team's checks, then the ones not listed, each group in the
        knowledge file's order. Empty when ``prior_lines`` is 0 (the knowledge covers relapse).
    """
    if region not in REGIONS:
        raise VocabularyError(f"`region` must be one of {list(REGIONS)}, got {region!r}")
    prior_lines, facts, sources = read_facts(status, team_facts)
    known = catalogue or load_regimens()
    views = [
        _view(regimen, region, prior_lines, facts, sources)
        for regimen in known.regimens
        if is_relevant(regimen, prior_lines)
    ]
    return sorted(views, key=lambda v: _OUTCOME_ORDER[v.outcome])
