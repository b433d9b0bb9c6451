"""IMWG 2016 responses, progression and relapse for every patient and line: the public entry
point :func:`derive_responses` (spec §1).

Given the lines of therapy (computed elsewhere), it combines results into assessments (A-28),
takes each line's baseline and pathway (M1–M6), the nadir in force (N1–N4), the time-point
response (R rules, U6), progression (P1–P8) and its confirmation (C3), the confirmed response
(C2, C4–C6), relapse from CR and from MRD negativity (X1, X2), candidate CRAB signals (X3) and MRD
status (D1–D5). Everything is vectorised across patients; nothing loops over patients in Python.

>>> import datetime as dt
>>> from relapsewatch.schema import MEASUREMENTS, PATIENTS, TREATMENTS, FINDINGS, empty_frame
>>> d = dt.date
>>> rows = [("p", d(2024, 1, 10), 3.0), ("p", d(2024, 2, 12), 1.4), ("p", d(2024, 3, 11), 1.2)]
>>> m = pl.DataFrame([{"patient_id": p, "date": t, "test": "serum_m_protein", "value": v}
...                   for p, t, v in rows]).with_columns(
...     *(pl.lit(None, dtype=MEASUREMENTS[c]).alias(c) for c in MEASUREMENTS
...       if c not in ("patient_id", "date", "test", "value")))
>>> lines = pl.DataFrame({"patient_id": ["p"], "line": [1], "start_date": [d(2024, 1, 15)],
...                       "next_start_date": [None]}, schema_overrides={"next_start_date": pl.Date})
>>> result = derive_responses(m, lines, empty_frame(PATIENTS), empty_frame(TREATMENTS),
...                           empty_frame(FINDINGS), config=MyelomaCourseConfig())
>>> result.responses.select("date", "response", "confirmed").rows()
[(datetime.date(2024, 2, 12), 'PR', True), (datetime.date(2024, 3, 11), 'PR', False)]
>>> result.line_summary.select("best_response", "best_response_date").row(0)
('PR', datetime.date(2024, 2, 12))
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from relapsewatch.course.myeloma import segments
from relapsewatch.course.myeloma.assessments import (
    CRAB_TESTS,
    RESPONSE_TESTS,
    PatientIndex,
    build_assessments,
    daily_results,
    line_baselines,
    line_frame,
)
from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.course.myeloma.confirmation import with_confirmation
from relapsewatch.course.myeloma.events import (
    clinical_relapses,
    crab_signals,
    relapse_from_cr,
    relapse_from_mrd,
    with_relapse_signs,
)
from relapsewatch.course.myeloma.exact import format_micro
from relapsewatch.course.myeloma.mrd import mrd_results
from relapsewatch.course.myeloma.nadir import with_nadirs
from relapsewatch.course.myeloma.progression import progression_tables, with_progression
from relapsewatch.course.myeloma.rules import Criteria, criteria
from relapsewatch.course.myeloma.timepoint import (
    CATEGORY,
    RANK,
    with_antibody_interference,
    with_cr_marrow,
    with_evaluability,
    with_timepoint_responses,
)
from relapsewatch.errors import ConfigError, SchemaError, echo
from relapsewatch.schema import require_columns

__all__ = [
    "EvaluatedAssessments",
    "ResponseInputs",
    "ResponseResult",
    "derive_responses",
    "evaluate_assessments",
    "prepare_responses",
]

_LINES = ("patient_id", "line", "start_date", "next_start_date")
_MEASUREMENTS = ("patient_id", "date", "test", "value", "result", "method", "sensitivity")
_FINDINGS = ("patient_id", "date", "finding", "detail")
_TREATMENTS = ("patient_id", "drug_classes", "start_date", "end_date")

#: Flags of the ``responses`` table, in the order they are written.
RESPONSE_FLAGS: tuple[tuple[str, str], ...] = (
    ("pd_unconfirmed", "pd_unconfirmed"),
    ("confirmed_as", "confirmed_as=<category>"),
    ("flag_confirmation_late", "confirmation_late"),
    ("flag_awaiting_confirmation", "awaiting_confirmation"),
    ("flag_urine_unassessed", "urine_unassessed"),
    ("flag_cr_unconfirmed_marrow", "cr_unconfirmed_marrow"),
    ("flag_scr_unassessed", "scr_unassessed_no_clonality"),
    ("antibody_interference", "antibody_interference_possible"),
    ("flag_light_chain_escape", "light_chain_escape_possible"),
    ("pd_after_next_line", "pd_confirmed_after_next_line_start"),
    ("imaging_flag", "imaging_progression"),
    ("after_progression", "after_progression"),
    ("nonquantifiable", "nonquantifiable_as_zero"),
    ("duplicate", "duplicate_same_day"),
    ("combined", "results_combined_within_tolerance"),
    ("no_measurable_disease", "no_measurable_disease"),
    ("missing_tracking_value", "missing_tracking_value"),
)


@dataclass(frozen=True, slots=True)
class ResponseResult:
    """Everything :func:`derive_responses` derives, one frame per concern.

    Attributes
    ----------
    responses:
        ``patient_id, date, line, response, confirmed, pathway, flags``: one row per assessment
        per line, sorted by ``patient_id, date``. ``response`` is the time-point response;
        ``confirmed`` says C2/C3 confirmed that category; ``flags`` is ``;``-joined.
    progression:
        ``patient_id, line, date, confirmed_date, criterion, rule``: the first confirmed PD of
        each line (C3, C5), with readable evidence.
    unconfirmed_progression:
        ``patient_id, line, date, criterion, rule``: PD-qualifying assessments not confirmed,
        up to the line's confirmed PD.
    line_summary:
        ``patient_id, line, best_response, best_response_date, pathway, baseline,
        evaluable_assessments, reached_mr, first_response_date, nadir`` for every input line.
    relapse_from_cr:
        ``patient_id, line, date, confirmed_date, cr_date, criterion`` (X1).
    relapse_from_mrd:
        ``patient_id, line, date, confirmed_date, mrd_negative_date, criterion`` (X2).
    crab_signals:
        ``patient_id, line, date, signal, value, baseline, criterion`` (X3 candidates).
    mrd:
        ``patient_id, line, date, result, method, sensitivity, category, rule, in_cr,
        sustained_since, criterion`` (D1–D5).
    clinical_relapses:
        ``patient_id, line, date, criterion``: adjudicated clinical relapses from the findings.
    """

    responses: pl.DataFrame
    progression: pl.DataFrame
    unconfirmed_progression: pl.DataFrame
    line_summary: pl.DataFrame
    relapse_from_cr: pl.DataFrame
    relapse_from_mrd: pl.DataFrame
    crab_signals: pl.DataFrame
    mrd: pl.DataFrame
    clinical_relapses: pl.DataFrame


@dataclass(frozen=True, slots=True)
class EvaluatedAssessments:
    """The evaluated assessment frame with the intermediate tables it was built from.

    ``frame`` has one row per assessment per line plus one tail row per line (``is_tail``), with
    every intermediate column (values and nadirs in micro-units, ``tp``, ``conf``, PD columns),
    keyed by ``pid`` (positions in ``index``). It is the engine's working table, exposed for
    tests and explanations, not a stable schema. ``lines`` and ``baselines`` are in the same
    order (``group`` is a row position in them).
    """

    frame: pl.DataFrame
    baselines: pl.DataFrame
    daily: pl.DataFrame
    lines: pl.DataFrame
    measurements: pl.DataFrame
    findings: pl.DataFrame
    index: PatientIndex
    rules: Criteria

    def with_patient_ids(self) -> pl.DataFrame:
        """``frame`` with the ``patient_id`` column in place of ``pid``."""
        return self.index.decode(self.frame)


@dataclass(frozen=True, slots=True)
class ResponseInputs:
    """The part of the response engine that does not depend on the lines of therapy.

    Built by :func:`prepare_responses`; pass it to :func:`derive_responses` as ``prepared=``
    when the same patients are evaluated against several versions of their lines (the
    lines <-> progression fixpoint), so patients are encoded and results combined into
    assessments only once.
    """

    index: PatientIndex
    measurements: pl.DataFrame
    patients: pl.DataFrame
    treatments: pl.DataFrame
    findings: pl.DataFrame
    daily: pl.DataFrame
    assessments: pl.DataFrame
    config: MyelomaCourseConfig
    as_of: date | None

    def of_patients(self, patient_ids: pl.Series) -> ResponseInputs:
        """The same inputs restricted to ``patient_ids`` (same ``index``, rows in the same
        order): every prepared row belongs to one patient, so this equals preparing those
        patients' frames alone, without encoding and combining their results again."""
        positions = pl.int_range(self.index.ids.len(), dtype=pl.UInt32, eager=True)
        pids = positions.filter(self.index.ids.is_in(patient_ids.cast(pl.String).implode()))
        kept = pl.col("pid").is_in(pids.implode())
        return ResponseInputs(
            index=self.index, measurements=self.measurements.filter(kept),
            patients=self.patients.filter(kept), treatments=self.treatments.filter(kept),
            findings=self.findings.filter(kept), daily=self.daily.filter(kept),
            assessments=self.assessments.filter(kept), config=self.config, as_of=self.as_of,
        )  # fmt: skip


def prepare_responses(
    measurements: pl.DataFrame,
    patients: pl.DataFrame,
    treatments: pl.DataFrame,
    findings: pl.DataFrame,
    *,
    config: MyelomaCourseConfig,
    as_of: date | None = None,
    extra_patient_ids: pl.Series | None = None,
) -> ResponseInputs:
    """Check the columns, keep what the engine reads, encode patients as ``pid`` (dense
    integers in identifier order) and combine results into assessments (A-28, A-29, U7)."""
    require_columns(measurements, _MEASUREMENTS, table="measurements")
    require_columns(patients, ("patient_id",), table="patients")
    require_columns(treatments, _TREATMENTS, table="treatments")
    require_columns(findings, _FINDINGS, table="findings")
    measurements = measurements.select(_MEASUREMENTS)
    patients = patients.select(
        "patient_id",
        *(
            pl.col(c) if c in patients.columns else pl.lit(None, dtype=pl.String).alias(c)
            for c in ("heavy_chain", "light_chain")
        ),
    )
    findings = findings.select(_FINDINGS)
    treatments = treatments.select(_TREATMENTS)
    if as_of is not None:
        measurements = measurements.filter(pl.col("date") <= as_of)
        findings = findings.filter(pl.col("date") <= as_of)
        treatments = treatments.filter(pl.col("start_date") <= as_of)
    columns = [frame["patient_id"] for frame in (measurements, patients, treatments, findings)]
    if extra_patient_ids is not None:
        columns.append(extra_patient_ids)
    index = PatientIndex.of(*columns)
    measurements, findings = index.encode(measurements), index.encode(findings)
    daily = daily_results(measurements, (*RESPONSE_TESTS, *CRAB_TESTS))
    return ResponseInputs(
        index=index, measurements=measurements, patients=index.encode(patients),
        treatments=index.encode(treatments), findings=findings, daily=daily,
        assessments=build_assessments(daily, findings, config=config), config=config,
        as_of=as_of,
    )  # fmt: skip


def _encode_lines(lines: pl.DataFrame, index: PatientIndex) -> pl.DataFrame:
    require_columns(lines, _LINES, table="lines")
    lines = lines.select(
        pl.col("patient_id").cast(pl.String),
        pl.col("line").cast(pl.Int64),
        pl.col("start_date").cast(pl.Date),
        pl.col("next_start_date").cast(pl.Date),
    )
    unknown = lines.filter(~pl.col("patient_id").is_in(index.ids.implode()))
    if unknown.height:
        raise SchemaError(
            "`lines` must only name patients of the prepared inputs, got "
            f"{echo(unknown['patient_id'][0])}; prepare the inputs with every patient's frames."
        )
    return index.encode(lines).sort("pid", "start_date")


def evaluate_assessments(
    measurements: pl.DataFrame,
    lines: pl.DataFrame,
    patients: pl.DataFrame,
    treatments: pl.DataFrame,
    findings: pl.DataFrame,
    *,
    config: MyelomaCourseConfig,
    as_of: date | None = None,
    prepared: ResponseInputs | None = None,
) -> EvaluatedAssessments:
    """Run the response engine up to the evaluated assessment frame (see
    :class:`EvaluatedAssessments`). :func:`derive_responses` builds its tables from it."""
    if prepared is None:
        require_columns(lines, _LINES, table="lines")
        prepared = prepare_responses(
            measurements, patients, treatments, findings, config=config, as_of=as_of,
            extra_patient_ids=lines["patient_id"].cast(pl.String),
        )  # fmt: skip
    elif prepared.config != config or prepared.as_of != as_of:
        raise ConfigError(
            "`prepared` must come from prepare_responses with the same `config` and `as_of`; "
            "prepare the inputs again."
        )
    index, daily, findings = prepared.index, prepared.daily, prepared.findings
    lines = _encode_lines(lines, index)
    rules = criteria(config)
    baselines = line_baselines(daily, lines, config=config, rules=rules)
    frame = line_frame(prepared.assessments, lines, baselines)
    frame = with_nadirs(frame, config=config)
    frame = with_antibody_interference(frame, prepared.patients, prepared.treatments, config=config)
    frame = with_evaluability(frame, rules=rules)
    frame = with_cr_marrow(frame, daily, config=config)
    frame = with_timepoint_responses(frame, config=config, rules=rules)
    frame = with_progression(frame, findings, config=config, rules=rules)
    frame = with_confirmation(frame, config=config)
    frame = with_relapse_signs(frame, rules=rules)
    return EvaluatedAssessments(
        frame=frame, baselines=baselines, daily=daily, lines=lines,
        measurements=prepared.measurements, findings=findings, index=index, rules=rules,
    )  # fmt: skip


def derive_responses(
    measurements: pl.DataFrame,
    lines: pl.DataFrame,
    patients: pl.DataFrame,
    treatments: pl.DataFrame,
    findings: pl.DataFrame,
    *,
    config: MyelomaCourseConfig,
    as_of: date | None = None,
    prepared: ResponseInputs | None = None,
) -> ResponseResult:
    """IMWG 2016 responses, progression and relapse per assessment and line.

    Parameters
    ----------
    measurements:
        Canonical MEASUREMENTS frame (:mod:`relapsewatch.schema`), values in canonical units.
    lines:
        ``patient_id: str, line: int, start_date: date, next_start_date: date | null``. The
        nadir and baseline are per line (N3); a PD may be confirmed by an assessment after the
        next line start (C3), a response may not (C2).
    patients:
        Canonical PATIENTS (``heavy_chain`` and ``light_chain`` for antibody interference, U6).
    treatments:
        Canonical TREATMENTS (anti-CD38 / anti-SLAMF7 exposure dates for U6).
    findings:
        Canonical FINDINGS: imaging events (P5), death (C3), clinical relapse (passed through).
    config:
        Thresholds and options (:class:`MyelomaCourseConfig`).
    as_of:
        Data cut-off: results, findings and treatments dated later are ignored.
    prepared:
        Optional :func:`prepare_responses` output for these same frames, ``config`` and
        ``as_of``: the line-independent work is then reused (the other frames are not read).

    Returns
    -------
    ResponseResult
    """
    evaluated = evaluate_assessments(
        measurements, lines, patients, treatments, findings, config=config, as_of=as_of,
        prepared=prepared,
    )  # fmt: skip
    frame, baselines, rules = evaluated.frame, evaluated.baselines, evaluated.rules
    lines, findings, decode = evaluated.lines, evaluated.findings, evaluated.index.decode
    progression, unconfirmed = progression_tables(frame, rules=rules)
    mrd = mrd_results(evaluated.measurements, lines, frame, config=config, rules=rules)
    return ResponseResult(
        responses=decode(_responses_table(frame)),
        progression=decode(progression),
        unconfirmed_progression=decode(unconfirmed),
        line_summary=decode(_line_summary(frame, lines, baselines)),
        relapse_from_cr=decode(relapse_from_cr(frame)),
        relapse_from_mrd=decode(relapse_from_mrd(frame, mrd)),
        crab_signals=decode(crab_signals(evaluated.daily, findings, lines, baselines,
                                         rules=rules)),
        mrd=decode(mrd.drop("group")),
        clinical_relapses=decode(clinical_relapses(findings, lines)),
    )  # fmt: skip


def _category(rank: pl.Expr) -> pl.Expr:
    return segments.lookup(rank, CATEGORY, pl.String)


def _responses_table(frame: pl.DataFrame) -> pl.DataFrame:
    """The DESIGN ``responses`` table with its readable flags.

    The flags of a row are packed into one integer (one bit per flag, plus the confirmed
    category when it differs), and each distinct integer is spelt out once.
    """
    tp, conf = pl.col("tp"), pl.col("conf")
    conditions: dict[str, pl.Expr] = {
        "pd_unconfirmed": (tp == RANK["PD"]) & ~pl.col("pd_confirmed"),
        "flag_confirmation_late": pl.col("flag_confirmation_late"),
        "flag_awaiting_confirmation": pl.col("flag_awaiting_confirmation"),
        "flag_urine_unassessed": pl.col("flag_urine_unassessed"),
        "flag_cr_unconfirmed_marrow": pl.col("flag_cr_unconfirmed_marrow"),
        "flag_scr_unassessed": pl.col("flag_scr_unassessed"),
        "antibody_interference": pl.col("antibody_interference"),
        "flag_light_chain_escape": pl.col("flag_light_chain_escape"),
        "pd_after_next_line": (pl.col("pd_confirmed_by") == "next")
        & (pl.col("date") == pl.col("progression_date"))
        & pl.col("next_start_date").is_not_null()
        & (pl.col("pd_confirmed_date") >= pl.col("next_start_date")),
        "imaging_flag": pl.col("pd_P5"),
        "after_progression": pl.col("date") > pl.col("progression_date"),
        "nonquantifiable": pl.col("s_nq") | pl.col("u_nq"),
        "duplicate": pl.col("duplicate"),
        "combined": pl.col("combined"),
        "no_measurable_disease": pl.col("pathway") == "not_evaluable",
        "missing_tracking_value": ~pl.col("evaluable") & (pl.col("pathway") != "not_evaluable"),
    }
    bits = [name for name, _ in RESPONSE_FLAGS if name != "confirmed_as"]
    # 16 flag bits above 4 bits of category fit an Int32; a null condition counts as unset,
    # like a false one (one conditional per flag instead of a fill, a cast and a product)
    zero = pl.lit(0, dtype=pl.Int32)
    code = pl.sum_horizontal(
        pl.when(conditions[name]).then(pl.lit(1 << (4 + i), dtype=pl.Int32)).otherwise(zero)
        for i, name in enumerate(bits)
    ) + pl.when((conf != tp) & (tp >= RANK["SD"])).then(conf.cast(pl.Int32) + 1).otherwise(zero)
    table = (
        frame.select("pid", "date", "line", "tp", "confirmed", "pathway", "is_tail",
                     flag_code=code)
        .filter(~pl.col("is_tail"))
        .select(
            "pid",
            "date",
            "line",
            response=_category(tp),
            confirmed="confirmed",
            pathway=pl.col("pathway").cast(pl.String),
            flag_code="flag_code",
        )
    )  # fmt: skip
    bit = {name: 4 + i for i, name in enumerate(bits)}
    spelled: dict[int, str] = {}
    for value in table["flag_code"].unique().to_list():
        words = []
        for name, text in RESPONSE_FLAGS:
            if name == "confirmed_as":
                if value % 16:
                    words.append(f"confirmed_as={CATEGORY[value % 16 - 1]}")
            elif value >> bit[name] & 1:
                words.append(text)
        spelled[value] = ";".join(words)
    # the frame is ordered by patient, line and date, so already by patient and date
    # with no rows `spelled` is empty, and Polars' replace_strict then ignores `return_dtype`
    flags = (
        pl.col("flag_code").replace_strict(spelled, return_dtype=pl.String)
        if spelled
        else pl.lit(None, dtype=pl.String)
    )
    return table.with_columns(flags=flags).drop("flag_code")


#: Dates as day numbers shifted by ``_DAY0`` fit in ``[0, _DAY_SPAN)``.
_DAY0, _DAY_SPAN = 1 << 31, 1 << 32

_NADIR_LABEL = {
    "s": ("serum M-protein ", " g/dL"),
    "u": ("urine M-protein ", " mg/24h"),
    "dflc": ("dFLC ", " mg/L"),
    "bmpc": ("marrow plasma cells ", "%"),
}


def _tracked(pathway: pl.Expr, serum_involved: pl.Expr) -> pl.Expr:
    return (
        pl.when((pathway == "serum_urine") & serum_involved)
        .then(pl.lit("s"))
        .when(pathway == "serum_urine")
        .then(pl.lit("u"))
        .when(pathway == "flc_only")
        .then(pl.lit("dflc"))
        .when(pathway == "marrow_only")
        .then(pl.lit("bmpc"))
    )


def _line_summary(
    frame: pl.DataFrame, lines: pl.DataFrame, baselines: pl.DataFrame
) -> pl.DataFrame:
    """Best confirmed response (C6), first response and the confirmed nadir per line."""
    own = frame.select(
        "group", "date", "conf", "progression_date", "pathway", "serum_involved", "s_nad",
        "u_nad", "d_nad", "b_nad", "evaluable", "tracked_nadir_after", "is_tail",
    ).filter(~pl.col("is_tail"))  # fmt: skip
    window = pl.col("progression_date").is_null() | (pl.col("date") <= pl.col("progression_date"))
    # the nadir of the tracked value (the branches of _tracked, evaluated once rather than
    # once per comparison with its label)
    pathway = pl.col("pathway")
    nadir_at_pd = (
        pl.when((pathway == "serum_urine") & pl.col("serum_involved"))
        .then("s_nad")
        .when(pathway == "serum_urine")
        .then("u_nad")
        .when(pathway == "flc_only")
        .then("d_nad")
        .when(pathway == "marrow_only")
        .then("b_nad")
    )
    own = own.with_columns(
        window_conf=pl.when(window).then("conf"),
        nadir_at_pd=pl.when(pl.col("date") == pl.col("progression_date")).then(nadir_at_pd),
    )
    # the best response and its first date as one maximum: rank above, the date's distance
    # from the far future below (so among equal ranks the earliest date wins)
    day = pl.col("date").cast(pl.Int32).cast(pl.Int64)
    best_key = pl.col("window_conf").cast(pl.Int64) * _DAY_SPAN + (_DAY_SPAN - 1 - _DAY0 - day)
    # plain aggregations only (the fast path of group_by)
    summary = (
        own.with_columns(
            best_key=best_key,
            response_date=pl.when(
                (pl.col("window_conf") >= RANK["MR"]) & (pl.col("window_conf") != RANK["PD"])
            ).then("date"),
        )
        .group_by("group")
        .agg(
            pl.col("best_key").max(),
            evaluable_assessments=pl.col("evaluable").sum().cast(pl.Int64),
            first_response_date=pl.col("response_date").min(),
            nadir_at_pd=pl.col("nadir_at_pd").max(),
            nadir_at_end=pl.col("tracked_nadir_after").last(),
        )
        .with_columns(
            best=(pl.col("best_key") // _DAY_SPAN).cast(own.schema["window_conf"]),
            best_response_date=(_DAY_SPAN - 1 - _DAY0 - pl.col("best_key") % _DAY_SPAN)
            .cast(pl.Int32)
            .cast(pl.Date),
        )
        .with_columns(nadir_micro=pl.coalesce("nadir_at_pd", "nadir_at_end"))
    )
    label = _tracked(pl.col("pathway"), pl.col("serum_involved"))
    # the value formatted once, between the tracked test's name and unit (null: no tracked test)
    prefix, unit = (
        label.replace_strict({k: v[i] for k, v in _NADIR_LABEL.items()}, return_dtype=pl.String)
        for i in (0, 1)
    )
    nadir_text = pl.concat_str([prefix, format_micro(pl.col("nadir_micro")), unit])
    per_line = baselines.select("pid", "line", "pathway", "baseline", "serum_involved")
    return (
        per_line.with_row_index("group")
        .with_columns(pl.col("group").cast(pl.UInt32))
        .join(summary, on="group", how="left")
        .select(
            "pid",
            "line",
            best_response=_category(pl.col("best").fill_null(RANK["NE"])),
            best_response_date="best_response_date",
            pathway=pl.col("pathway").cast(pl.String),
            baseline="baseline",
            evaluable_assessments=pl.col("evaluable_assessments").fill_null(0),
            reached_mr=pl.col("first_response_date").is_not_null(),
            first_response_date="first_response_date",
            nadir=nadir_text,
        )
        .sort("pid", "line")
    )
