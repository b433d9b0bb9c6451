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
from relapsewatch.knowledge.conditions import CARE_TEAM_CONDITIONS, CONDITIONS
from relapsewatch.knowledge.reasons import (
    UNCONFIRMED_NOTE,
    FactSource,
    approval_text,
    depends_text,
    leaf_names,
    listed_text,
    not_listed_text,
    review_text,
    rule_doubted,
)
from relapsewatch.knowledge.regimens import (
    REGIONS,
    ApprovalStatus,
    Regimen,
    RegimenCatalogue,
    Region,
    load_regimens,
)
from relapsewatch.knowledge.rules import Truth, check_result, is_relevant, plan
from relapsewatch.knowledge.wording import plain_name

__all__ = ["FactSource", "OptionView", "Outcome", "RuleTrace", "options_for", "read_facts"]

Outcome = Literal["listed", "depends", "not_listed"]

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

    Patient-facing text: ``name`` (plain; ``formal_name`` is the knowledge file's), ``why``,
    ``depends_text``, ``approval_text``, ``unconfirmed_note``, ``review_text`` (see
    :meth:`patient_texts`). The rest is for the nurse
    and for citing: ``approval_reference``, ``approval_population``, ``unconfirmed`` (the claims
    as the compilers wrote them), ``sources`` (URLs) and ``trace`` (every rule and its result).
    """

    regimen_id: str
    name: str
    formal_name: str
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
    depends: str | None = None
    outcome: Outcome
    if blocking:
        outcome = "not_listed"
        why = not_listed_text(blocking, regimen, sources)
    else:
        outcome = "depends" if unknown else "listed"
        why = listed_text(regimen, region, checks, facts, sources, prior_lines)
        if unknown:
            depends_on, depends = depends_text(unknown, facts)
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
            facts=tuple((n, facts.get(n), sources[n]) for n in leaf_names(check)),
            unconfirmed=rule_doubted(check, regimen),
        )
        for check, result in zip(checks, results, strict=True)
    )
    return OptionView(
        regimen_id=regimen.id,
        name=plain_name(regimen.id, regimen.name),
        formal_name=regimen.name,
        abbreviation=regimen.abbreviation,
        kind=regimen.type,
        outcome=outcome,
        why=why,
        depends_on=depends_on,
        depends_text=depends,
        region=region,
        approval_status=approval.status,
        approval_text=approval_text(regimen, region),
        approval_reference=approval.reference,
        approval_year=approval.year,
        approval_population=approval.population,
        unconfirmed=claims,
        unconfirmed_note=UNCONFIRMED_NOTE if doubt_note else None,
        sources=regimen.sources,
        review_date=regimen.review_date,
        review_text=review_text(regimen.review_date),
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
