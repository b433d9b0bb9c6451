"""The condition vocabulary of the treatment-options knowledge, and requirement expressions.

The vocabulary is the one documented in the header of ``data/treatment-options.yaml`` (our team's
compiled document, ``shared/domain/treatment-options.yaml``); a test checks that this module and the
header list the same names. Each condition is a yes/no fact about a person's past treatment or
health. Most come from the records (the course engine's ``status`` table); a few are clinical
judgements that records cannot show (:data:`CARE_TEAM_CONDITIONS`): those are always *unknown*
unless the care team has recorded them.

A requirement is one of

* :class:`Condition` -- a named fact must hold (``lenalidomide_exposed``);
* :class:`PriorLines` -- a count expression on the IMWG number of prior lines (``prior_lines>=2``);
* :class:`AnyOf` -- at least one of several conditions or count expressions holds.

Requirements are evaluated with three-valued (Kleene) logic: ``True``, ``False`` or ``None`` for
unknown, both in Python (:func:`evaluate`) and as Polars expressions (:func:`to_expr`), so the
single-person and whole-cohort forms of the selection agree by construction.

>>> parse_requirement({"any_of": ["bortezomib_exposed", "prior_lines>=2"]}, where="rd")
AnyOf(items=(Condition(name='bortezomib_exposed'), PriorLines(op='>=', count=2)))
>>> evaluate(PriorLines(">=", 2), {}, prior_lines=3)
True
>>> evaluate(AnyOf((Condition("t_11_14"), PriorLines("==", 2))), {"t_11_14": None}, prior_lines=1)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import polars as pl

from relapsewatch.errors import VocabularyError

__all__ = [
    "CARE_TEAM_CONDITIONS",
    "CONDITIONS",
    "AnyOf",
    "Condition",
    "ConditionInfo",
    "PriorLines",
    "Requirement",
    "evaluate",
    "leaves",
    "parse_condition",
    "parse_requirement",
    "to_expr",
]

KnownFrom = Literal["records", "care_team"]


@dataclass(frozen=True, slots=True)
class ConditionInfo:
    """One condition of the vocabulary.

    Attributes
    ----------
    name:
        The name used in the yaml and in the ``status`` table.
    meaning:
        What it means, for the nurse (from the yaml header).
    holds:
        Patient-facing words for "this is true", written to follow "the records show that" or
        "whether" (e.g. ``"the myeloma stopped responding to lenalidomide"``).
    known_from:
        ``"records"`` when the course engine can derive it; ``"care_team"`` when only a clinician
        can say (fitness, genetics, eye health, intolerance).
    """

    name: str
    meaning: str
    holds: str
    known_from: KnownFrom = "records"


_PI = "bortezomib, carfilzomib or ixazomib"
_IMID = "lenalidomide, pomalidomide or thalidomide"
_CD38 = "daratumumab or isatuximab"

_INFOS: tuple[ConditionInfo, ...] = (
    ConditionInfo(
        "lenalidomide_exposed", "has received lenalidomide", "lenalidomide was used before"
    ),
    ConditionInfo(
        "lenalidomide_refractory",
        "refractory to lenalidomide",
        "the myeloma stopped responding to lenalidomide",
    ),
    # Intolerance is a clinical judgement: the canonical tables do not say why a drug stopped.
    ConditionInfo(
        "lenalidomide_intolerant",
        "stopped lenalidomide because of side effects",
        "lenalidomide had to stop because of side effects",
        "care_team",
    ),
    ConditionInfo(
        "pomalidomide_exposed", "has received pomalidomide", "pomalidomide was used before"
    ),
    ConditionInfo(
        "pomalidomide_refractory",
        "refractory to pomalidomide",
        "the myeloma stopped responding to pomalidomide",
    ),
    ConditionInfo(
        "imid_exposed",
        "any of thalidomide / lenalidomide / pomalidomide",
        f"{_IMID} was used before",
    ),
    ConditionInfo("bortezomib_exposed", "has received bortezomib", "bortezomib was used before"),
    ConditionInfo(
        "bortezomib_refractory",
        "refractory to bortezomib",
        "the myeloma stopped responding to bortezomib",
    ),
    ConditionInfo(
        "carfilzomib_refractory",
        "refractory to carfilzomib",
        "the myeloma stopped responding to carfilzomib",
    ),
    ConditionInfo(
        "pi_exposed", "any of bortezomib / carfilzomib / ixazomib", f"{_PI} was used before"
    ),
    ConditionInfo(
        "pi_refractory",
        "refractory to any of bortezomib / carfilzomib / ixazomib",
        f"the myeloma stopped responding to {_PI}",
    ),
    ConditionInfo(
        "anti_cd38_exposed", "daratumumab or isatuximab received", f"{_CD38} was used before"
    ),
    ConditionInfo(
        "anti_cd38_refractory",
        "refractory to daratumumab or isatuximab",
        f"the myeloma stopped responding to {_CD38}",
    ),
    ConditionInfo(
        "daratumumab_refractory",
        "refractory to daratumumab",
        "the myeloma stopped responding to daratumumab",
    ),
    ConditionInfo(
        "triple_class_exposed",
        "PI + IMiD + anti-CD38 all received",
        "drugs from all three main drug groups were used before",
    ),
    ConditionInfo(
        "triple_class_refractory",
        "refractory to >=1 of each of the three classes",
        "the myeloma stopped responding to all three main drug groups",
    ),
    ConditionInfo(
        "penta_refractory",
        "refractory to >=2 PIs, >=2 IMiDs and an anti-CD38 antibody",
        "the myeloma stopped responding to five main myeloma drugs",
    ),
    ConditionInfo(
        "prior_bcma",
        "any BCMA-directed therapy (ADC, bispecific or CAR-T)",
        "a treatment aimed at BCMA was used before",
    ),
    ConditionInfo(
        "prior_bcma_car_t",
        "BCMA-directed CAR-T received",
        "CAR-T cell therapy aimed at BCMA was used before",
    ),
    ConditionInfo(
        "prior_gprc5d",
        "GPRC5D-directed therapy received",
        "a treatment aimed at GPRC5D was used before",
    ),
    ConditionInfo(
        "progressed_on_last_therapy",
        "progression on or soon after the last therapy",
        "the myeloma grew on or soon after the last treatment",
    ),
    ConditionInfo(
        "t_11_14",
        "translocation t(11;14) on FISH",
        "the myeloma cells have a gene change called t(11;14)",
        "care_team",
    ),
    ConditionInfo(
        "transplant_eligible",
        "fit for high-dose melphalan + ASCT",
        "a stem cell transplant would be safe for you",
        "care_team",
    ),
    ConditionInfo(
        "prior_asct",
        "has had an autologous stem cell transplant",
        "a stem cell transplant using your own cells was done before",
    ),
    ConditionInfo(
        "no_prior_asct",
        "has not had an autologous stem cell transplant",
        "there has been no stem cell transplant before",
    ),
    ConditionInfo(
        "remission_after_prior_asct_ge_18m",
        "remission after prior ASCT >= 18 months",
        "the last transplant kept the myeloma away for 18 months or more",
    ),
    ConditionInfo(
        "remission_after_prior_asct_ge_36m",
        "remission after prior ASCT >= 36 months",
        "the last transplant kept the myeloma away for 36 months or more",
    ),
    ConditionInfo(
        "lenalidomide_maintenance_after_asct",
        "lenalidomide maintenance after ASCT",
        "lenalidomide was taken after the transplant",
    ),
    ConditionInfo(
        "car_t_eligible",
        "fit for and able to access CAR-T (apheresis, bridging, specialist centre)",
        "CAR-T cell therapy is possible for you",
        "care_team",
    ),
    ConditionInfo(
        "corneal_disease",
        "existing disease of the cornea",
        "there is a problem with the clear front layer of the eye",
        "care_team",
    ),
)

#: The condition vocabulary, by name (same names as the yaml header).
CONDITIONS: Mapping[str, ConditionInfo] = {info.name: info for info in _INFOS}

#: Conditions that records cannot show; always unknown unless the care team has recorded them.
CARE_TEAM_CONDITIONS: frozenset[str] = frozenset(
    info.name for info in _INFOS if info.known_from == "care_team"
)


@dataclass(frozen=True, slots=True)
class Condition:
    """A named condition of the vocabulary must hold."""

    name: str


@dataclass(frozen=True, slots=True)
class PriorLines:
    """A count expression on the IMWG number of prior lines (``prior_lines>=N`` or ``==N``)."""

    op: Literal[">=", "=="]
    count: int


@dataclass(frozen=True, slots=True)
class AnyOf:
    """At least one of the items holds."""

    items: tuple[Condition | PriorLines, ...]


Requirement = Condition | PriorLines | AnyOf

_PRIOR_LINES = re.compile(r"^prior_lines\s*(>=|==)\s*(\d+)$")


def parse_condition(raw: object, *, where: str) -> Condition:
    """A vocabulary condition name, or :class:`VocabularyError` naming where it was found.

    >>> parse_condition("lenalidomide_refractory", where="dkd.excludes")
    Condition(name='lenalidomide_refractory')
    >>> parse_condition("lenalidomide_refactory", where="x.excludes")
    Traceback (most recent call last):
    ...
    relapsewatch.errors.VocabularyError: x.excludes: unknown condition 'lenalidomide_refactory'; ...
    """
    if not isinstance(raw, str):
        raise VocabularyError(f"{where}: a condition must be a name, got {raw!r}")
    if raw not in CONDITIONS:
        from difflib import get_close_matches

        close = get_close_matches(raw, list(CONDITIONS), n=1)
        hint = f"did you mean '{close[0]}'?" if close else "see the vocabulary in the yaml header."
        raise VocabularyError(f"{where}: unknown condition {raw!r}; {hint}")
    return Condition(raw)


def _parse_item(raw: object, *, where: str) -> Condition | PriorLines:
    if isinstance(raw, str):
        match = _PRIOR_LINES.match(raw.strip())
        if match:
            op: Literal[">=", "=="] = ">=" if match.group(1) == ">=" else "=="
            return PriorLines(op, int(match.group(2)))
    return parse_condition(raw, where=where)


def parse_requirement(raw: object, *, where: str) -> Requirement:
    """Parse one ``requires`` item: a name, a count expression, or ``{any_of: [...]}``."""
    if isinstance(raw, Mapping):
        if set(raw) != {"any_of"} or not isinstance(raw["any_of"], list) or not raw["any_of"]:
            raise VocabularyError(
                f"{where}: a mapping requirement must be {{any_of: [names]}}, got {raw!r}"
            )
        return AnyOf(tuple(_parse_item(x, where=where) for x in raw["any_of"]))
    return _parse_item(raw, where=where)


def leaves(requirement: Requirement) -> tuple[Condition | PriorLines, ...]:
    """The conditions and count expressions inside a requirement."""
    if isinstance(requirement, AnyOf):
        return requirement.items
    return (requirement,)


def evaluate(
    requirement: Requirement, facts: Mapping[str, bool | None], *, prior_lines: int
) -> bool | None:
    """Three-valued truth of a requirement: ``None`` when it depends on an unknown fact.

    A condition missing from ``facts`` is unknown. ``AnyOf`` is true if any item is true, false
    if every item is false, else unknown (Kleene logic, as Polars evaluates ``|`` with nulls).
    """
    if isinstance(requirement, Condition):
        return facts.get(requirement.name)
    if isinstance(requirement, PriorLines):
        if requirement.op == ">=":
            return prior_lines >= requirement.count
        return prior_lines == requirement.count
    values = [evaluate(item, facts, prior_lines=prior_lines) for item in requirement.items]
    if any(v is True for v in values):
        return True
    if all(v is False for v in values):
        return False
    return None


def to_expr(requirement: Requirement, *, prior_lines: str = "prior_lines") -> pl.Expr:
    """The requirement as a nullable Boolean Polars expression over condition columns.

    Columns are named as the conditions; a null means unknown. ``|`` and ``&`` on nullable
    Booleans follow Kleene logic in Polars, matching :func:`evaluate`.
    """
    if isinstance(requirement, Condition):
        return pl.col(requirement.name).cast(pl.Boolean)
    if isinstance(requirement, PriorLines):
        if requirement.op == ">=":
            return pl.col(prior_lines) >= requirement.count
        return pl.col(prior_lines) == requirement.count
    exprs = [to_expr(item, prior_lines=prior_lines) for item in requirement.items]
    combined = exprs[0]
    for expr in exprs[1:]:
        combined = combined | expr
    return combined
