"""The regimen catalogue: ``data/treatment-options.yaml`` as typed, frozen records.

The yaml is a copy of our team's compiled research document
(``shared/domain/treatment-options.yaml``, with its companion ``treatment-options.md``). Its header
says when it was compiled; that date is the review date of every entry. Nothing here is clinical
advice: the knowledge only describes options that guidelines, regulators and NICE have described.

Claims the compilers could not verify are listed per entry (``unconfirmed``). The loader sorts them
into what they put in doubt (an approval status or year, a requires/excludes rule, the usual line
range) so the selection can label exactly those facts "not confirmed".

>>> catalogue = load_regimens()
>>> catalogue.get("dkd").name
'Daratumumab, carfilzomib and dexamethasone'
>>> catalogue.get("dkd").approval("us").max_prior_lines
3
>>> str(catalogue.review_date)
'2026-11-23'
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Literal, cast

import yaml

from relapsewatch.errors import DataError, Problem, RelapsewatchError, echo
from relapsewatch.knowledge.conditions import (
    Condition,
    Requirement,
    leaves,
    parse_condition,
    parse_requirement,
)

__all__ = [
    "APPROVAL_STATUSES",
    "REGIONS",
    "Approval",
    "ApprovalStatus",
    "Regimen",
    "RegimenCatalogue",
    "Region",
    "load_regimens",
    "parse_regimens",
]

Region = Literal["england", "eu", "us"]
#: Regions of the web app setting, in display order.
REGIONS: tuple[Region, ...] = ("england", "eu", "us")
#: Region -> the approval key used in the yaml.
_REGION_KEYS: Mapping[Region, str] = {"england": "uk_nice", "eu": "eu_ema", "us": "us_fda"}

ApprovalStatus = Literal[
    "recommended",
    "recommended_cdf",
    "not_recommended",
    "terminated",
    "not_appraised",
    "approved",
    "approved_conditional",
    "approved_accelerated",
    "positive_opinion",
    "withdrawn",
    "not_approved",
    "not_applicable",
    "unconfirmed",
]
#: Every status value documented in the yaml header.
APPROVAL_STATUSES: tuple[str, ...] = ApprovalStatus.__args__  # type: ignore[attr-defined]

DATA_FILE = "treatment-options.yaml"

# Words in an unconfirmed claim that tie it to one region's approval.
_REGION_WORDS: Mapping[Region, re.Pattern[str]] = {
    "england": re.compile(r"\b(NICE|NHS|CDF|TA\d+)\b"),
    "eu": re.compile(r"\b(EU|EC|CHMP|EMA|CMA)\b"),
    "us": re.compile(r"\b(US|FDA)\b"),
}


@dataclass(frozen=True, slots=True)
class Approval:
    """One region's regulatory or NICE position on a regimen.

    Region-level ``min_prior_lines``, ``max_prior_lines``, ``requires`` and ``excludes`` narrow the
    regimen-level ones for that region (NICE is often narrower than the licence).
    ``status_unconfirmed`` / ``year_unconfirmed`` say the compilers could not verify them.
    """

    region: Region
    status: ApprovalStatus
    reference: str | None
    year: int | None
    population: str | None
    min_prior_lines: int | None
    max_prior_lines: int | None
    requires: tuple[Requirement, ...]
    excludes: tuple[Condition, ...]
    unconfirmed: tuple[str, ...]
    status_unconfirmed: bool
    year_unconfirmed: bool
    reference_unconfirmed: bool


@dataclass(frozen=True, slots=True)
class Regimen:
    """One treatment option of the catalogue (a drug regimen, cell therapy, procedure or trial).

    ``displayed`` is false for entries kept only so filters recognise past exposure (the yaml's
    ``status_note`` says "Do not display"). ``unconfirmed_conditions`` names the requires/excludes
    rules the compilers could not verify; ``lines_unconfirmed`` flags a doubtful line range.
    """

    id: str
    name: str
    abbreviation: str
    type: str
    drugs: tuple[str, ...]
    classes: tuple[str, ...]
    min_prior_lines: int
    max_prior_lines: int | None
    requires: tuple[Requirement, ...]
    excludes: tuple[Condition, ...]
    eligibility_basis: str
    approvals: tuple[Approval, ...]
    trial: str | None
    notes: str | None
    guideline_mentions: tuple[str, ...]
    unconfirmed: tuple[str, ...]
    sources: tuple[str, ...]
    review_date: dt.date
    displayed: bool
    unconfirmed_conditions: frozenset[str]
    lines_unconfirmed: bool

    def approval(self, region: Region) -> Approval:
        """The approval for ``region`` (every entry has all three)."""
        for approval in self.approvals:
            if approval.region == region:
                return approval
        raise KeyError(region)

    def condition_names(self) -> frozenset[str]:
        """Every condition name used by this entry, at regimen or region level."""
        reqs = list(self.requires) + list(self.excludes)
        for approval in self.approvals:
            reqs += list(approval.requires) + list(approval.excludes)
        return frozenset(
            leaf.name for req in reqs for leaf in leaves(req) if isinstance(leaf, Condition)
        )


@dataclass(frozen=True, slots=True)
class RegimenCatalogue:
    """Every regimen of the knowledge file, in file order, with the file's review date."""

    regimens: tuple[Regimen, ...]
    review_date: dt.date
    file: str

    def get(self, regimen_id: str) -> Regimen:
        """The regimen with this id; :class:`KeyError` naming the known ids otherwise."""
        for regimen in self.regimens:
            if regimen.id == regimen_id:
                return regimen
        raise KeyError(f"no regimen {regimen_id!r}; known: {[r.id for r in self.regimens]}")

    def medicine_names(self) -> frozenset[str]:
        """Every drug name the catalogue mentions (lower case), for plain-language checks."""
        names: set[str] = set()
        for regimen in self.regimens:
            for drug in regimen.drugs:
                base = re.sub(r"\s*\(.*\)$", "", drug).strip().lower()
                if regimen.type in ("drug_regimen", "cell_therapy") and base:
                    names.add(base)
        return frozenset(names)


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


class _Problems:
    """Collects every problem in the file before failing once, with all of them."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[Problem] = []

    def add(self, where: str, found: object, expected: str, fix: str) -> None:
        self.items.append(Problem(self.file, None, where, echo(found), expected, fix))


def _compiled_date(text: str, problems: _Problems) -> dt.date:
    match = re.search(r"^#.*\bCompiled (\d{4}-\d{2}-\d{2})\b", text, flags=re.MULTILINE)
    if match is None:
        problems.add(
            "header",
            "no 'Compiled YYYY-MM-DD' line",
            "a compiled date in the header",
            "Add '# Compiled YYYY-MM-DD ...' to the header comment.",
        )
        return dt.date.min
    return dt.date.fromisoformat(match.group(1))


def _int_or_none(value: object, where: str, problems: _Problems) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problems.add(where, value, "a whole number >= 0 or null", "Write a count such as 1.")
        return None
    return value


def _strings(value: object, where: str, problems: _Problems) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.add(where, value, "a list", "Write a yaml list, e.g. [a, b].")
        return ()
    return tuple(str(v) for v in value)


def _requirements(value: object, where: str, problems: _Problems) -> tuple[Requirement, ...]:
    out: list[Requirement] = []
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.add(where, value, "a list", "Write a yaml list of condition names.")
        return ()
    for i, raw in enumerate(value):
        try:
            out.append(parse_requirement(raw, where=f"{where}[{i}]"))
        except RelapsewatchError as exc:
            problems.add(f"{where}[{i}]", raw, "a condition of the vocabulary", str(exc))
    return tuple(out)


def _exclusions(value: object, where: str, problems: _Problems) -> tuple[Condition, ...]:
    out: list[Condition] = []
    for i, raw in enumerate(_strings(value, where, problems)):
        try:
            out.append(parse_condition(raw, where=f"{where}[{i}]"))
        except RelapsewatchError as exc:
            problems.add(f"{where}[{i}]", raw, "a condition of the vocabulary", str(exc))
    return tuple(out)


def _claims_about(region: Region, claims: Sequence[str], word: str) -> bool:
    """Does a regimen-level claim doubt this region's ``word`` (status, year)?"""
    pattern = _REGION_WORDS[region]
    return any(word in claim.lower() and pattern.search(claim) for claim in claims)


def _approval(
    raw: object, region: Region, where: str, regimen_claims: tuple[str, ...], problems: _Problems
) -> Approval | None:
    if not isinstance(raw, Mapping):
        problems.add(
            where,
            raw,
            "a mapping with status, reference and year",
            f"Add the {_REGION_KEYS[region]} approval entry.",
        )
        return None
    status = raw.get("status")
    if status not in APPROVAL_STATUSES:
        problems.add(
            f"{where}.status",
            status,
            f"one of {', '.join(APPROVAL_STATUSES)}",
            "Use a status value documented in the yaml header.",
        )
        return None
    claims = _strings(raw.get("unconfirmed"), f"{where}.unconfirmed", problems)
    lowered = [c.lower() for c in claims]
    reference = raw.get("reference")
    population = raw.get("population")
    return Approval(
        region=region,
        status=cast(ApprovalStatus, status),
        reference=None if reference is None else str(reference),
        year=_int_or_none(raw.get("year"), f"{where}.year", problems),
        population=None if population is None else str(population),
        min_prior_lines=_int_or_none(
            raw.get("min_prior_lines"), f"{where}.min_prior_lines", problems
        ),
        max_prior_lines=_int_or_none(
            raw.get("max_prior_lines"), f"{where}.max_prior_lines", problems
        ),
        requires=_requirements(raw.get("requires"), f"{where}.requires", problems),
        excludes=_exclusions(raw.get("excludes"), f"{where}.excludes", problems),
        unconfirmed=claims,
        status_unconfirmed=status == "unconfirmed"
        or any("status" in c for c in lowered)
        or _claims_about(region, regimen_claims, "status"),
        year_unconfirmed=any(c.startswith("year") for c in lowered)
        or _claims_about(region, regimen_claims, "year"),
        reference_unconfirmed=any(c.startswith("reference") or "ta number" in c for c in lowered)
        or _claims_about(region, regimen_claims, "ta number"),
    )


def _unconfirmed_conditions(
    claims: tuple[str, ...], excludes: tuple[Condition, ...], names: frozenset[str]
) -> frozenset[str]:
    """Conditions whose rule a claim doubts: named in it, or all excludes for a generic claim."""
    doubted = {name for name in names if any(name in claim for claim in claims)}
    generic = [c for c in claims if c.lower().startswith("exclusions")]
    if generic and not any(name in claim for claim in generic for name in names):
        doubted |= {c.name for c in excludes}
    return frozenset(doubted)


def _regimen(raw: object, index: int, review: dt.date, problems: _Problems) -> Regimen | None:
    where = f"entry {index + 1}"
    if not isinstance(raw, Mapping):
        problems.add(where, raw, "a mapping", "Each list item must be a regimen mapping.")
        return None
    rid = raw.get("id")
    if not isinstance(rid, str) or not rid:
        problems.add(f"{where}.id", rid, "a non-empty id", "Give the entry an id.")
        return None
    for key in ("name", "abbreviation", "type", "eligibility_basis"):
        if not isinstance(raw.get(key), str):
            problems.add(f"{rid}.{key}", raw.get(key), "text", f"Add {key} to {rid}.")
    min_lines = _int_or_none(raw.get("min_prior_lines"), f"{rid}.min_prior_lines", problems)
    if min_lines is None:
        problems.add(
            f"{rid}.min_prior_lines",
            raw.get("min_prior_lines"),
            "a whole number",
            "Give the fewest prior lines at which it is used.",
        )
    claims = _strings(raw.get("unconfirmed"), f"{rid}.unconfirmed", problems)
    approvals_raw = raw.get("approvals")
    approvals: list[Approval] = []
    if not isinstance(approvals_raw, Mapping):
        problems.add(
            f"{rid}.approvals",
            approvals_raw,
            "a mapping of uk_nice, eu_ema, us_fda",
            "Add the three regional approvals.",
        )
    else:
        unknown = set(approvals_raw) - set(_REGION_KEYS.values())
        for key in sorted(unknown):
            problems.add(
                f"{rid}.approvals.{key}",
                key,
                "uk_nice, eu_ema or us_fda",
                "Use a region key documented in the yaml header.",
            )
        for region, key in _REGION_KEYS.items():
            approval = _approval(
                approvals_raw.get(key), region, f"{rid}.approvals.{key}", claims, problems
            )
            if approval is not None:
                approvals.append(approval)
    sources = _strings(raw.get("source_urls"), f"{rid}.source_urls", problems)
    if not sources:
        problems.add(
            f"{rid}.source_urls",
            raw.get("source_urls"),
            "at least one source URL",
            "Every clinical fact needs a source; add its URL.",
        )
    excludes = _exclusions(raw.get("excludes"), f"{rid}.excludes", problems)
    requires = _requirements(raw.get("requires"), f"{rid}.requires", problems)
    status_note = raw.get("status_note")
    regimen = Regimen(
        id=rid,
        name=str(raw.get("name")),
        abbreviation=str(raw.get("abbreviation")),
        type=str(raw.get("type")),
        drugs=_strings(raw.get("drugs"), f"{rid}.drugs", problems),
        classes=_strings(raw.get("classes"), f"{rid}.classes", problems),
        min_prior_lines=min_lines or 0,
        max_prior_lines=_int_or_none(
            raw.get("max_prior_lines"), f"{rid}.max_prior_lines", problems
        ),
        requires=requires,
        excludes=excludes,
        eligibility_basis=str(raw.get("eligibility_basis")),
        approvals=tuple(approvals),
        trial=None if raw.get("trial") is None else str(raw.get("trial")),
        notes=None if raw.get("notes") is None else str(raw.get("notes")),
        guideline_mentions=_strings(
            raw.get("guideline_mentions"), f"{rid}.guideline_mentions", problems
        ),
        unconfirmed=claims,
        sources=sources,
        review_date=review,
        displayed=not (
            isinstance(status_note, str) and status_note.lower().startswith("do not display")
        ),
        unconfirmed_conditions=frozenset(),
        lines_unconfirmed=any("min_prior_lines" in c for c in claims),
    )
    doubted = _unconfirmed_conditions(claims, excludes, regimen.condition_names())
    return replace(regimen, unconfirmed_conditions=doubted)


def parse_regimens(text: str, *, file: str = DATA_FILE) -> RegimenCatalogue:
    """Parse the regimen yaml text; :class:`DataError` lists every problem (file, key, fix)."""
    problems = _Problems(file)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = None if mark is None else mark.line + 1
        raise DataError(
            [Problem(file, line, None, "invalid YAML", "valid YAML", f"Fix the YAML syntax: {exc}")]
        ) from exc
    review = _compiled_date(text, problems)
    if not isinstance(raw, list):
        problems.add("top level", raw, "a list of regimens", "The file must be a yaml list.")
        raise DataError(problems.items)
    regimens = [r for i, item in enumerate(raw) if (r := _regimen(item, i, review, problems))]
    ids = [r.id for r in regimens]
    for rid in sorted({i for i in ids if ids.count(i) > 1}):
        problems.add(rid, rid, "a unique id", "Give each regimen its own id.")
    if problems.items:
        raise DataError(problems.items, summary=f"{len(problems.items)} problem(s) in {file}")
    return RegimenCatalogue(tuple(regimens), review, file)


@cache
def load_regimens() -> RegimenCatalogue:
    """The packaged regimen catalogue (parsed once per process)."""
    text = (
        resources.files("relapsewatch.knowledge")
        .joinpath("data", DATA_FILE)
        .read_text(encoding="utf-8")
    )
    return parse_regimens(text)
