"""The myeloma course of a cohort: responses, lines, refractoriness, relapses and status.

:func:`derive_course` ties the two halves of the engine together. Lines of therapy depend on
confirmed progression (L5d, L8, L10) and responses depend on lines (baselines and nadirs reset per
line, N3), so the two are iterated to a fixpoint: lines without progression, responses on those
lines, lines with the progression found, and so on until no patient's line starts change. Only
the patients whose inputs changed are recomputed in later rounds; the number of rounds is bounded
by ``config.max_course_iterations`` and the result is deterministic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Protocol

import polars as pl

from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.course.myeloma.exposure import (
    composite_conditions,
    derive_drug_exposure,
    exposure_conditions,
)
from relapsewatch.course.myeloma.lines import Lines, derive_end_reasons, derive_lines
from relapsewatch.course.myeloma.refractory import (
    derive_refractoriness,
    first_response_dates,
    nonresponsive_lines,
    patient_states,
    refractory_conditions,
)
from relapsewatch.course.myeloma.relapses import (
    derive_relapses,
    progression_events,
    relapse_number_at,
)
from relapsewatch.course.myeloma.responses import derive_responses, prepare_responses
from relapsewatch.course.myeloma.status import asct_conditions, derive_status
from relapsewatch.course.myeloma.treatment_rows import sort_by_codes
from relapsewatch.schema import FINDINGS, MEASUREMENTS, PATIENTS, TREATMENTS, require_columns

__all__ = ["LINES", "Course", "data_cutoff", "derive_course", "truncate_at"]

_DEFAULT = MyelomaCourseConfig()

#: Columns of the ``lines`` table (DESIGN.md "Derived tables").
LINES: dict[str, pl.DataType] = {
    "patient_id": pl.String(),
    "line": pl.Int32(),
    "start_date": pl.Date(),
    "end_date": pl.Date(),
    "regimen": pl.String(),
    "best_response": pl.String(),
    "progression_date": pl.Date(),
    "refractory_to": pl.String(),
    "end_reason": pl.String(),
}

_RESPONSE_FRAMES = (
    "responses",
    "progression",
    "unconfirmed_progression",
    "line_summary",
    "relapse_from_cr",
    "relapse_from_mrd",
    "crab_signals",
    "mrd",
)


class _Tables(Protocol):
    """Anything with the four canonical frames as attributes (e.g. ``CanonicalTables``)."""

    @property
    def patients(self) -> pl.DataFrame: ...
    @property
    def measurements(self) -> pl.DataFrame: ...
    @property
    def treatments(self) -> pl.DataFrame: ...
    @property
    def findings(self) -> pl.DataFrame: ...


@dataclass(frozen=True)
class Course:
    """Everything the engine derived for a cohort.

    The four tables of DESIGN.md are :attr:`lines`, :attr:`relapses`, :attr:`responses` and
    :attr:`status` (see :meth:`tables`); the other frames keep the detail and the evidence.

    Attributes
    ----------
    lines, relapses, responses, status:
        The derived tables, with exactly the DESIGN.md columns.
    line_detail:
        Lines with every internal column: ``drugs``, ``induction``, ``procedures``,
        ``carried_over``, ``opened_by`` / ``opened_rule``, ``next_start_date``, ``pathway``,
        ``baseline``, ``relapse_number_at_line_start`` (K4), ``refractory_to``, ``end_reason``.
    line_drugs:
        Each drug in each line with its first and last dose in the line.
    drug_exposure:
        First and last dose of every drug (E1).
    refractory, refractory_episodes:
        The date each drug became refractory (F3) and every qualifying episode (F1, F2).
    conditions:
        Long: ``patient_id, condition, since, rule, evidence`` for every exposure, refractory,
        composite and ASCT condition (E5: the date it became true).
    progression_events:
        Every progression event (K1) with ``on_therapy``; the counted ones are :attr:`relapses`.
    patient_states:
        F4 states at ``as_of``.
    line_summary, progression, unconfirmed_progression, relapse_from_cr, relapse_from_mrd,
    crab_signals, mrd:
        From the response engine (:func:`relapsewatch.course.myeloma.responses.derive_responses`).
    as_of:
        The date the course is evaluated at (the data cut-off unless given).
    iterations:
        Rounds of the lines/progression fixpoint; ``unconverged`` lists patients whose lines
        still changed in the last allowed round.
    """

    lines: pl.DataFrame
    relapses: pl.DataFrame
    responses: pl.DataFrame
    status: pl.DataFrame
    line_detail: pl.DataFrame
    line_drugs: pl.DataFrame
    drug_exposure: pl.DataFrame
    refractory: pl.DataFrame
    refractory_episodes: pl.DataFrame
    conditions: pl.DataFrame
    progression_events: pl.DataFrame
    patient_states: pl.DataFrame
    line_summary: pl.DataFrame
    progression: pl.DataFrame
    unconfirmed_progression: pl.DataFrame
    relapse_from_cr: pl.DataFrame
    relapse_from_mrd: pl.DataFrame
    crab_signals: pl.DataFrame
    mrd: pl.DataFrame
    as_of: dt.date
    iterations: int
    unconverged: tuple[str, ...]

    def tables(self) -> dict[str, pl.DataFrame]:
        """The four derived tables of DESIGN.md, by name."""
        return {
            "lines": self.lines,
            "relapses": self.relapses,
            "responses": self.responses,
            "status": self.status,
        }

    def frames(self) -> dict[str, pl.DataFrame]:
        """Every frame of the course, by name."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if isinstance(getattr(self, f.name), pl.DataFrame)
        }


def _frame(
    tables: _Tables | Mapping[str, pl.DataFrame], name: str, schema: Mapping[str, pl.DataType]
) -> pl.DataFrame:
    frame = tables.get(name) if isinstance(tables, Mapping) else getattr(tables, name, None)
    if frame is None:
        if name == "findings":
            return pl.DataFrame(schema=dict(schema))
        frame = pl.DataFrame()
    require_columns(frame, tuple(schema), table=name)
    return frame


def data_cutoff(
    patients: pl.DataFrame,
    measurements: pl.DataFrame,
    treatments: pl.DataFrame,
    findings: pl.DataFrame,
) -> dt.date:
    """The data cut-off: the latest date anywhere in the records.

    >>> p = pl.DataFrame({"diagnosis_date": [dt.date(2024, 1, 1)]})
    >>> m = pl.DataFrame({"date": [dt.date(2024, 6, 3)]})
    >>> t = pl.DataFrame({"start_date": [dt.date(2024, 1, 8)], "end_date": [None]},
    ...                  schema_overrides={"end_date": pl.Date})
    >>> data_cutoff(p, m, t, pl.DataFrame({"date": []}, schema={"date": pl.Date}))
    datetime.date(2024, 6, 3)
    """
    candidates = [
        patients["diagnosis_date"].max(),
        measurements["date"].max(),
        treatments["start_date"].max(),
        treatments["end_date"].max(),
        findings["date"].max(),
    ]
    dates = [c for c in candidates if isinstance(c, dt.date)]
    if not dates:
        raise ValueError("`tables` must hold at least one dated record to find the cut-off")
    return max(dates)


def truncate_at(
    patients: pl.DataFrame,
    measurements: pl.DataFrame,
    treatments: pl.DataFrame,
    findings: pl.DataFrame,
    as_of: dt.date,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The records as they stood on ``as_of``: later results, doses and findings are dropped and
    a course still running then is ongoing (``end_date`` null)."""
    day = pl.lit(as_of, pl.Date)
    return (
        patients,
        measurements.filter(pl.col("date") <= day),
        treatments.filter(pl.col("start_date") <= day).with_columns(
            end_date=pl.when(pl.col("end_date") > day).then(None).otherwise(pl.col("end_date"))
        ),
        findings.filter(pl.col("date") <= day),
    )


def _subset(frame: pl.DataFrame, ids: pl.Series) -> pl.DataFrame:
    return frame.filter(pl.col("patient_id").is_in(ids.implode()))


def _replace(old: pl.DataFrame, new: pl.DataFrame, ids: pl.Series) -> pl.DataFrame:
    kept = old.filter(~pl.col("patient_id").is_in(ids.implode()))
    return pl.concat([kept, new.select(old.columns).cast(old.schema)])


#: Beyond this many runs of replaced patients, sorting again is cheaper than splicing blocks.
_SPLICE_LIMIT = 256


def _merge_in(old: pl.DataFrame, new: pl.DataFrame, ids: pl.Series) -> pl.DataFrame:
    """``old`` with the rows of the patients ``ids`` replaced by ``new`` (whose patients are all
    in ``ids``), in :func:`_sorted` order, as both already are.

    Each patient's rows are one block, so when few patients change the new blocks are spliced
    in place of the old ones: no row is compared or moved one by one.
    """
    ids = ids.unique().sort()
    old_ids, new_ids = old["patient_id"], new["patient_id"]
    blocks = pl.DataFrame(
        {
            "old_from": old_ids.search_sorted(ids, side="left"),
            "old_to": old_ids.search_sorted(ids, side="right"),
            "new_from": new_ids.search_sorted(ids, side="left"),
            "new_to": new_ids.search_sorted(ids, side="right"),
        }
    )
    # patients with no kept row between them are replaced as one run
    runs = blocks.group_by(
        run=(pl.col("old_from") != pl.col("old_to").shift(1)).cum_sum(), maintain_order=True
    ).agg(pl.col("old_from", "new_from").first(), pl.col("old_to", "new_to").last())
    if runs.height > _SPLICE_LIMIT:
        return _sorted(_replace(old, new, ids))
    new = new.select(old.columns).cast(old.schema)
    parts, kept_from = [], 0
    for _, old_from, new_from, old_to, new_to in runs.iter_rows():
        parts.append(old.slice(kept_from, old_from - kept_from))
        parts.append(new.slice(new_from, new_to - new_from))
        kept_from = old_to
    parts.append(old.slice(kept_from))
    # left in pieces: :func:`_fixpoint` makes each frame contiguous once, after the last round
    return pl.concat(parts, rechunk=False)


def _fixpoint(
    patients: pl.DataFrame,
    measurements: pl.DataFrame,
    treatments: pl.DataFrame,
    findings: pl.DataFrame,
    clinical: pl.DataFrame,
    config: MyelomaCourseConfig,
    as_of: dt.date,
) -> tuple[Lines, dict[str, pl.DataFrame], int, tuple[str, ...]]:
    """Iterate lines <-> progression until no patient's line starts change.

    The response frames are put in :func:`_sorted` order as they come and :func:`_merge_in`
    keeps them so; the lines are sorted once at the end.
    """
    lines = derive_lines(treatments, patients, clinical, config=config, as_of=as_of)
    # the line-independent part of the response engine, prepared once for every round
    prepared = prepare_responses(
        measurements, patients, treatments, findings, config=config, as_of=as_of,
        extra_patient_ids=lines.lines["patient_id"],
    )  # fmt: skip

    def respond(lines: Lines, ids: pl.Series | None) -> dict[str, pl.DataFrame]:
        line_input = lines.lines.select("patient_id", "line", "start_date", "next_start_date")
        result = derive_responses(
            measurements,
            line_input if ids is None else _subset(line_input, ids),
            patients,
            treatments,
            findings,
            config=config,
            as_of=as_of,
            prepared=prepared if ids is None else prepared.of_patients(ids),
        )
        return {name: _sorted(getattr(result, name)) for name in _RESPONSE_FRAMES}

    def pd_dates(progression: pl.DataFrame) -> pl.DataFrame:
        return pl.concat([progression.select("patient_id", "date"), clinical]).unique()

    frames = respond(lines, None)
    used = pd_dates(frames["progression"].head(0))
    iterations, unconverged = 1, pl.Series("patient_id", [], pl.String)
    # A progression can only move a line if some treatment starts after it (L5d, L8, L10 all
    # compare it with a later start), so patients whose new or vanished progression dates come
    # after their last treatment start keep their lines as they are.
    last_start = treatments.group_by("patient_id").agg(last_start=pl.col("start_date").max())
    while True:
        found = pd_dates(frames["progression"])
        key = ["patient_id", "date"]
        differing = pl.concat(
            [found.join(used, on=key, how="anti"), used.join(found, on=key, how="anti")]
        )
        changed = (
            differing.join(last_start, on="patient_id", how="inner")
            .filter(pl.col("date") < pl.col("last_start"))["patient_id"]
            .unique()
        )
        if changed.is_empty():
            unconverged = changed
            break
        if iterations >= config.max_course_iterations:
            unconverged = changed
            break
        iterations += 1
        used = _replace(used, _subset(found, changed), changed)
        relined = derive_lines(
            _subset(treatments, changed),
            _subset(patients, changed),
            _subset(found, changed),
            config=config,
            as_of=as_of,
        )
        # patients whose line starts moved: a (line, start) of one run missing from the other
        starts = ["patient_id", "line", "start_date"]
        before = _subset(lines.lines, changed).select(starts)
        after = relined.lines.select(starts)
        moved = pl.concat(
            [after.join(before, on=starts, how="anti"), before.join(after, on=starts, how="anti")]
        )["patient_id"].unique()
        lines = Lines(
            lines=_replace(lines.lines, relined.lines, changed),
            line_drugs=_replace(lines.line_drugs, relined.line_drugs, changed),
        )
        if moved.is_empty():
            continue
        sub = respond(lines, moved)
        frames = {
            name: _merge_in(frames[name], sub[name], moved)
            if "patient_id" in frames[name].columns
            else frames[name]
            for name in _RESPONSE_FRAMES
        }
    # each patient's rows come from one derive_lines call, already in line (and drug) order,
    # so a stable sort by patient alone orders them by patient, line (and drug)
    ordered = Lines(
        lines=lines.lines.sort("patient_id", maintain_order=True),
        line_drugs=lines.line_drugs.sort("patient_id", maintain_order=True),
    )
    frames = {name: frame.rechunk() for name, frame in frames.items()}
    return ordered, frames, iterations, tuple(unconverged.sort().to_list())


def _in_order(frame: pl.DataFrame, keys: Sequence[str]) -> bool:
    """Whether ``frame`` is already sorted by ``keys`` (no nulls in them, each row at least the
    one before), so that a stable sort would leave it as it is."""
    if any(frame[k].null_count() for k in keys):
        return False
    at_least_previous = pl.lit(True)
    for k in reversed(keys):
        column, previous = pl.col(k), pl.col(k).shift(1)
        at_least_previous = (column > previous) | ((column == previous) & at_least_previous)
    return bool(frame.select(at_least_previous.slice(1).all()).item())


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    keys = [c for c in ("patient_id", "line", "date") if c in frame.columns]
    if not keys or _in_order(frame, keys):
        return frame
    return frame.sort(keys, maintain_order=True)


def derive_course(
    tables: _Tables | Mapping[str, pl.DataFrame],
    *,
    config: MyelomaCourseConfig = _DEFAULT,
    as_of: dt.date | None = None,
) -> Course:
    """Derive the whole myeloma course of every patient in ``tables``.

    Parameters
    ----------
    tables:
        Canonical frames (``patients``, ``measurements``, ``treatments``, optional
        ``findings``): a :class:`relapsewatch.io.CanonicalTables` or a mapping of name to frame.
    config:
        Engine settings; :func:`relapsewatch.course.myeloma.config.preset` gives the named ones.
    as_of:
        Evaluate the course as it stood on this date (later records are ignored). Default: the
        data cut-off, the latest date in the records.

    Returns
    -------
    Course
        The four DESIGN.md tables plus the detail frames.
    """
    patients = _frame(
        tables,
        "patients",
        {"patient_id": PATIENTS["patient_id"], "diagnosis_date": PATIENTS["diagnosis_date"]},
    )
    measurements = _frame(
        tables,
        "measurements",
        {k: MEASUREMENTS[k] for k in ("patient_id", "date", "test", "value", "result")},
    )
    treatments = _frame(
        tables,
        "treatments",
        {
            k: TREATMENTS[k]
            for k in ("patient_id", "therapy", "drug_classes", "start_date", "end_date")
        },
    )
    findings = _frame(tables, "findings", FINDINGS)
    cutoff = as_of or data_cutoff(patients, measurements, treatments, findings)
    patients, measurements, treatments, findings = truncate_at(
        patients, measurements, treatments, findings, cutoff
    )

    clinical = (
        findings.filter(pl.col("finding") == "clinical_relapse")
        .select("patient_id", "date")
        .unique()
        if config.clinical_relapse_is_progression
        else pl.DataFrame(schema={"patient_id": pl.String, "date": pl.Date})
    )
    lines, frames, iterations, unconverged = _fixpoint(
        patients, measurements, treatments, findings, clinical, config, cutoff
    )
    return _assemble(
        patients,
        treatments,
        findings,
        lines,
        frames,
        config=config,
        as_of=cutoff,
        iterations=iterations,
        unconverged=unconverged,
    )


def _assemble(
    patients: pl.DataFrame,
    treatments: pl.DataFrame,
    findings: pl.DataFrame,
    lines: Lines,
    frames: dict[str, pl.DataFrame],
    *,
    config: MyelomaCourseConfig,
    as_of: dt.date,
    iterations: int,
    unconverged: tuple[str, ...],
) -> Course:
    """Relapses, refractoriness, conditions and status from settled lines and responses."""
    summary = frames["line_summary"].with_columns(pl.col("line").cast(pl.Int32))
    events = progression_events(frames["progression"], findings, lines.lines, config=config)
    first_response = first_response_dates(summary)
    relapses = derive_relapses(events, first_response)
    nonresponsive = nonresponsive_lines(lines.lines, summary, lines.line_drugs, config=config)
    refractoriness = derive_refractoriness(
        treatments, events, nonresponsive, lines.line_drugs, config=config
    )
    drug_exposure = derive_drug_exposure(treatments)
    atomic = pl.concat(
        [
            exposure_conditions(drug_exposure, treatments),
            refractory_conditions(refractoriness.refractory),
        ]
    )
    asct = asct_conditions(treatments, events, as_of, config=config).with_columns(
        rule=pl.lit("L5d"), evidence=pl.lit(None, pl.String)
    )
    conditions = sort_by_codes(
        pl.concat(
            [atomic, composite_conditions(atomic), asct.select(atomic.columns).cast(atomic.schema)]
        ),
        "patient_id",
        "condition",
    )
    states = patient_states(
        patients.select("patient_id", pl.lit(as_of).alias("at")),
        refractoriness.events,
        nonresponsive,
        first_response,
    )

    deaths = findings.filter(pl.col("finding") == "death").select("patient_id", "date")
    # each line's distinct drugs, sorted before grouping (groups keep the row order): a plain
    # text join per group instead of a unique and a sort per group
    refractory_to = (
        refractoriness.episodes.select("patient_id", "line", "drug")
        .unique()
        .sort("drug")
        .group_by("patient_id", "line")
        .agg(refractory_to=pl.col("drug").str.join("+"))
    )
    detail = (
        derive_end_reasons(lines.lines, relapses, deaths)
        .join(
            summary.select(
                "patient_id",
                "line",
                *(
                    c
                    for c in ("best_response", "best_response_date", "pathway", "baseline")
                    if c in summary.columns
                ),
            ),
            on=["patient_id", "line"],
            how="left",
        )
        .join(
            relapses.select(
                "patient_id", "line", pl.col("date").alias("progression_date"), "relapse_number"
            ),
            on=["patient_id", "line"],
            how="left",
        )
        .join(refractory_to, on=["patient_id", "line"], how="left")
    )
    detail = detail.with_columns(
        relapse_number_at_line_start=relapse_number_at(relapses, detail, on="start_date"),
        fixpoint_converged=~pl.col("patient_id").is_in(list(unconverged)),
    ).sort("patient_id", "line")
    latest = _latest_responses(lines.lines, summary, relapses)
    status = derive_status(
        patients,
        lines.lines,
        relapses,
        latest,
        conditions,
        states,
        refractoriness.events,
        as_of=as_of,
    )
    return Course(
        lines=detail.select(list(LINES)).cast(LINES),  # type: ignore[arg-type]
        relapses=relapses,
        responses=frames["responses"],
        status=status,
        line_detail=detail,
        line_drugs=lines.line_drugs,
        drug_exposure=drug_exposure,
        refractory=refractoriness.refractory,
        refractory_episodes=refractoriness.episodes,
        conditions=conditions,
        progression_events=refractoriness.events,
        patient_states=states,
        line_summary=summary,
        **{
            name: frames[name]
            for name in _RESPONSE_FRAMES
            if name not in ("responses", "line_summary")
        },
        as_of=as_of,
        iterations=iterations,
        unconverged=unconverged,
    )


def _latest_responses(
    lines: pl.DataFrame, summary: pl.DataFrame, relapses: pl.DataFrame
) -> pl.DataFrame:
    """The confirmed response in force (C4) in each patient's latest line: PD once a progression
    event is counted in that line, else the line's best confirmed response so far."""
    last = lines.sort("patient_id", "line").group_by("patient_id").agg(pl.col("line").last())
    return (
        last.join(
            summary.select("patient_id", "line", "best_response", "best_response_date"),
            on=["patient_id", "line"],
            how="left",
        )
        .join(
            relapses.select("patient_id", "line", pl.col("date").alias("pd")),
            on=["patient_id", "line"],
            how="left",
        )
        .select(
            "patient_id",
            latest_response=pl.when(pl.col("pd").is_not_null())
            .then(pl.lit("PD"))
            .otherwise(pl.col("best_response")),
            latest_response_date=pl.coalesce("pd", "best_response_date"),
        )
    )
