"""Lines of therapy from drug exposures and procedures (spec §2.5, rules L1–L13).

IMWG defines a line as one agent, a combination or a *planned* sequence of regimens (Rajkumar
2011; Rajkumar, Richardson, San Miguel 2015). The engine walks each patient's exposures in date
order and opens a new line when one of the named triggers in :data:`LINE_TRIGGERS` fires. The walk
is vectorised across patients: each pass finds, for every patient at once, where the current line
ends, so the number of passes is the largest number of lines any patient has.

What counts as an exposure (L1, L2):

* a line-opening drug is any anti-myeloma drug that is not a steroid, supportive care or a
  procedure; its exposure runs from ``start_date`` to ``end_date`` (null = ongoing);
* steroids never open, extend or advance a line; given within
  ``[line_start - 14 d, line_start + regimen window]`` they are listed in the line's regimen;
* supportive care (bisphosphonates, G-CSF, ...) and radiotherapy or surgery are ignored;
* transplants, apheresis and CAR-T infusions take part through the workflow rules (L5b–L5e, L10,
  L12) when ``config.transplant_workflow`` is on (parity presets switch it off: peers read drug
  exposures only).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.course.myeloma.treatment_rows import (
    ONGOING,
    TRANSPLANTS,
    asof_by_patient,
    classify_treatments,
    cum_max_date_in_run,
    days,
    shift_in_run,
    sort_by_codes,
    sorted_runs,
)
from relapsewatch.course.myeloma.workflows import (
    CONDITIONING_DRUGS,
    LYMPHODEPLETION_DRUGS,
    MAINTENANCE_DRUGS,
    MOBILISATION_DRUGS,
    workflow_context,
)
from relapsewatch.schema import require_columns

__all__ = [
    "CONDITIONING_DRUGS",
    "END_REASONS",
    "LINE_RULES",
    "LINE_TRIGGERS",
    "LYMPHODEPLETION_DRUGS",
    "MAINTENANCE_DRUGS",
    "MOBILISATION_DRUGS",
    "LineRule",
    "Lines",
    "derive_end_reasons",
    "derive_lines",
]

_DEFAULT = MyelomaCourseConfig()


@dataclass(frozen=True, slots=True)
class LineRule:
    """One line-of-therapy rule, printable and citable."""

    code: str
    rule: str
    source: str


_SPEC = "shared/domain/myeloma-course.md §2.5"
_IMWG = "Rajkumar et al. Blood 2011; Rajkumar, Richardson, San Miguel Blood 2015"

LINE_RULES: tuple[LineRule, ...] = (
    LineRule(
        "L1",
        "An exposure runs from its start to its recorded end; infusions end on the "
        "administration day. The last dose is the latest end.",
        _SPEC,
    ),
    LineRule(
        "L2",
        "Only non-steroid anti-myeloma drugs open a line; steroids near the start are "
        "listed in the regimen.",
        _SPEC,
    ),
    LineRule("L3", "Line 1 starts on the first line-opening drug on or after diagnosis.", _SPEC),
    LineRule(
        "L4",
        "The regimen is the drugs first given within the regimen window "
        "(60 days by default) from the line start.",
        _SPEC,
    ),
    LineRule(
        "L5",
        "A drug not in the line, first given after the regimen window, starts a new "
        "line (unplanned addition or substitution).",
        _IMWG,
    ),
    LineRule("L5a", "Another route or formulation of the same drug is the same drug.", _SPEC),
    LineRule(
        "L5b",
        "Mobilisation (cyclophosphamide, G-CSF, plerixafor) up to 30 days before "
        "apheresis is part of the line.",
        _SPEC,
    ),
    LineRule(
        "L5c",
        "Conditioning (melphalan, BEAM-type) up to 14 days before a transplant is "
        "part of the transplant.",
        _SPEC,
    ),
    LineRule(
        "L5d",
        "Maintenance or consolidation starting up to 180 days after ASCT, with no "
        "progression since, is part of the line.",
        _IMWG,
    ),
    LineRule(
        "L5e",
        "Lymphodepletion (fludarabine, cyclophosphamide) up to 14 days before a "
        "CAR-T infusion is part of the CAR-T line.",
        _SPEC,
    ),
    LineRule("L5f", "Bispecific step-up doses are the same drug and the same line.", _SPEC),
    LineRule("L6", "Continuing or dropping some of the line's drugs does not start a line.", _IMWG),
    LineRule(
        "L7",
        "A restart more than 90 days after every exposure ended starts a new line, "
        "except inside the transplant workflow.",
        "Hess et al. Future Oncol 2021 (option B)",
    ),
    LineRule(
        "L8",
        "A restart after a progression in a treatment-free interval, or any new drug "
        "after a progression, starts a new line.",
        "Rajkumar et al. Blood 2011",
    ),
    LineRule("L9", "Progression with the regimen continued unchanged is not a new line.", _IMWG),
    LineRule(
        "L10",
        "A second transplant starts a new line unless it is a planned tandem "
        "(within 180 days, no progression between); an allo-SCT does unless planned "
        "within 180 days of an auto-SCT.",
        _IMWG,
    ),
    LineRule(
        "L11", "Re-treatment with an earlier regimen after a different line is a new line.", _IMWG
    ),
    LineRule(
        "L12",
        "A CAR-T line starts at apheresis (else the first bridging dose); bridging "
        "belongs to the CAR-T line.",
        _SPEC + " (A-21)",
    ),
    LineRule(
        "L13",
        "A line ends the day before the next starts if drugs carry over, else at "
        "its last exposure end.",
        _SPEC,
    ),
)

#: Why a line started: trigger name -> rule code.
LINE_TRIGGERS: dict[str, str] = {
    "first_line": "L3",
    "car_t": "L12",
    "new_transplant": "L10",
    "progression_in_gap": "L8",
    "change_after_progression": "L8",
    "treatment_gap": "L7",
    "new_drug": "L5",
}

#: Why a line ended (``lines.end_reason``).
END_REASONS: dict[str, str] = {
    "progression": "a progression event in this line; the next line followed it",
    "drug_added": "a drug was added after the regimen window (L5); the others continued",
    "regimen_changed": "the regimen was replaced by a different one (L5, L11)",
    "restarted_after_gap": "treatment restarted after a long treatment-free interval (L7)",
    "new_transplant": "a new (non-tandem) stem-cell transplant (L10)",
    "car_t": "CAR-T therapy started (L12)",
    "death": "the patient died",
    "stopped": "every drug of the line stopped and no new line has started",
    "ongoing": "the line is still running at the cut-off",
}


@dataclass(frozen=True)
class Lines:
    """Lines of therapy of a cohort.

    Attributes
    ----------
    lines:
        One row per patient and line: ``patient_id, line, start_date, end_date, next_start_date,
        regimen`` (``+``-joined sorted drugs), ``drugs``, ``induction`` (the L4 regimen),
        ``procedures``, ``carried_over`` (drugs continuing from the previous line),
        ``opened_by`` (a :data:`LINE_TRIGGERS` name) and ``opened_rule``.
    line_drugs:
        One row per patient, line and drug: ``first_dose`` and ``last_dose`` within the line
        (``last_dose`` null while ongoing), ``days_in_line``, ``drug_classes``, ``carried``.
    """

    lines: pl.DataFrame
    line_drugs: pl.DataFrame


#: The walk state's columns besides ``patient_id`` (typed like the walk rows').
_STATE_SCHEMA = {
    "line": pl.Int32,
    "line_start": pl.Date,
    "carry_drugs": pl.List(pl.String),
    "carry_end": pl.Date,
    "opened_by": pl.String,
}


def _walk(rows: pl.DataFrame, config: MyelomaCourseConfig) -> pl.DataFrame:
    """Line starts per patient: one pass per line number, each vectorised over patients.

    ``rows`` are the walk rows (line-opening drugs, workflow drugs, transplants, apheresis,
    CAR-T), sorted by patient and ``sort_date``. Returns ``patient_id, line, line_start,
    carry_drugs, carry_end, opened_by``.
    """
    first = (
        rows.filter(
            pl.col("can_open") & (pl.col("sort_date") >= pl.col("diagnosis_date")).fill_null(True)
        )
        .group_by("patient_id")
        .agg(line_start=pl.col("sort_date").min())
    )
    state = first.select(
        "patient_id",
        pl.lit(1, pl.Int32).alias("line"),
        "line_start",
        pl.lit([], dtype=pl.List(pl.String)).alias("carry_drugs"),
        pl.lit(None, pl.Date).alias("carry_end"),
        pl.lit("first_line").alias("opened_by"),
    )
    pending = (
        rows.join(first, on="patient_id", how="inner", maintain_order="left")
        .filter(pl.col("sort_date") >= pl.col("line_start"))
        .drop("line_start")
    )
    # Rows still running from earlier lines (end >= current line start): they carry over.
    running = rows.select("patient_id", "drug_key", "end", "kind").clear()
    starts = [state]
    s, window = pl.col("line_start"), days(config.regimen_window_days)
    after_open = pl.col("sort_date") > s
    pd_rules = pl.lit(config.new_line_after_pd)
    while state.height:
        p = pending.join(state, on="patient_id", how="inner", maintain_order="left")
        run = pl.col("__run")
        first_in_line = pl.struct("patient_id", "drug_key").is_first_distinct() & ~(
            pl.col("carry_drugs").list.contains(pl.col("drug_key"))
        )
        prev_end = pl.max_horizontal(
            shift_in_run(cum_max_date_in_run(pl.col("end"), run), run), pl.col("carry_end")
        )
        p = p.with_columns(__run=sorted_runs("patient_id"))
        gap = pl.col("sort_date") - prev_end
        p = p.with_columns(first_in_line=first_in_line, gap=gap, prev_end=prev_end)
        opener = pl.col("can_open") & ~pl.col("car_t_absorbed") & after_open
        exempt = pl.col("exempt_workflow") | (
            pl.col("post_asct_ok") & (pl.col("maintenance_drug") | ~pl.col("first_in_line"))
        )
        t_event = pl.col("event_opener") & after_open
        t_pd_gap = (
            pd_rules
            & opener
            & (pl.col("gap") > days(config.treatment_free_interval_days))
            & (pl.col("pd_before_start") >= pl.col("prev_end")).fill_null(False)
        )
        t_pd_change = (
            pd_rules
            & opener
            & pl.col("first_in_line")
            & (pl.col("pd_before_start") >= s).fill_null(False)
        )
        t_gap = opener & ~exempt & (pl.col("gap") > days(config.line_gap_days)).fill_null(False)
        t_new = opener & ~exempt & pl.col("first_in_line") & (pl.col("sort_date") > s + window)
        reason = (
            pl.when(t_event & (pl.col("kind") == "car_t"))
            .then(pl.lit("car_t"))
            .when(t_event)
            .then(pl.lit("new_transplant"))
            .when(t_pd_gap)
            .then(pl.lit("progression_in_gap"))
            .when(t_pd_change)
            .then(pl.lit("change_after_progression"))
            .when(t_gap)
            .then(pl.lit("treatment_gap"))
            .when(t_new)
            .then(pl.lit("new_drug"))
        )
        p = p.with_columns(reason=reason)
        nxt = (
            p.filter(pl.col("reason").is_not_null())
            .group_by("patient_id", maintain_order=True)
            .agg(next_start=pl.col("sort_date").first(), next_reason=pl.col("reason").first())
        )
        p = p.join(nxt, on="patient_id", how="left", maintain_order="left")
        in_line = pl.col("next_start").is_null() | (pl.col("sort_date") < pl.col("next_start"))
        alive = running.join(nxt, on="patient_id", how="inner").select(
            "patient_id", "drug_key", "end", "kind", "next_start"
        )
        ended = (
            p.select("patient_id", "drug_key", "end", "kind", "next_start", "sort_date")
            .filter(in_line & pl.col("next_start").is_not_null())
            .drop("sort_date")
        )
        carried = pl.concat([alive, ended]).filter(pl.col("end") >= pl.col("next_start"))
        running = carried.drop("next_start")
        carry = carried.group_by("patient_id").agg(
            carry_drugs=pl.col("drug_key")
            .filter(pl.col("kind").is_in(("drug", "car_t")))
            .unique()
            .sort(),
            carry_end=pl.col("end").max(),
        )
        state = (
            nxt.join(state.select("patient_id", "line"), on="patient_id")
            .join(carry, on="patient_id", how="left")
            .select(
                "patient_id",
                (pl.col("line") + 1).cast(pl.Int32).alias("line"),
                pl.col("next_start").alias("line_start"),
                pl.col("carry_drugs").fill_null(pl.lit([], dtype=pl.List(pl.String))),
                "carry_end",
                pl.col("next_reason").alias("opened_by"),
            )
        )
        starts.append(state)
        pending = p.filter(~in_line).select(pending.columns)
    return pl.concat(starts).cast(_STATE_SCHEMA).sort("patient_id", "line")  # type: ignore[arg-type]


def _line_of(frame: pl.DataFrame, starts: pl.DataFrame, on: str, name: str) -> pl.DataFrame:
    """The line whose interval ``[start, next start)`` contains ``frame[on]``."""
    return asof_by_patient(
        frame,
        starts.select("patient_id", pl.col("line_start").alias("__s"), pl.col("line").alias(name)),
        left_on=on,
        right_on="__s",
    ).drop("__s")


def derive_lines(
    treatments: pl.DataFrame,
    patients: pl.DataFrame,
    progression: pl.DataFrame | None = None,
    *,
    config: MyelomaCourseConfig = _DEFAULT,
    as_of: dt.date | None = None,
) -> Lines:
    """Derive lines of therapy (L1–L13) for every patient in ``treatments``.

    Parameters
    ----------
    treatments, patients:
        Canonical frames (:data:`relapsewatch.schema.TREATMENTS`, ``PATIENTS``).
    progression:
        Progression events used by L5d, L8 and L10: ``patient_id, date``. ``None`` means none
        known yet (the first pass of the course fixpoint).
    config:
        The engine settings (regimen window, gap, transplant windows, ...).
    as_of:
        The data cut-off. A last line whose latest dose is within
        ``config.treatment_free_interval_days`` of it is still running (``end_date`` null):
        infusions are recorded dose by dose, so the next dose may simply not be due yet.

    Returns
    -------
    Lines
        ``lines`` (one row per line) and ``line_drugs`` (one row per drug and line).

    Examples
    --------
    Daratumumab added on day 77 of Rd is a new line (spec Ex-6); lenalidomide carries over.

    >>> d = dt.date
    >>> t = pl.DataFrame({"patient_id": ["p"] * 3,
    ...     "therapy": ["lenalidomide", "dexamethasone", "daratumumab"],
    ...     "drug_classes": [["imid"], ["steroid"], ["anti_cd38"]],
    ...     "start_date": [d(2024, 1, 8), d(2024, 1, 8), d(2024, 3, 25)],
    ...     "end_date": [None, None, d(2024, 3, 25)]}, schema_overrides={"end_date": pl.Date})
    >>> pts = pl.DataFrame({"patient_id": ["p"], "diagnosis_date": [d(2024, 1, 2)]})
    >>> derive_lines(t, pts).lines.select("line", "start_date", "end_date", "regimen").rows()
    [(1, datetime.date(2024, 1, 8), datetime.date(2024, 3, 24), 'dexamethasone+lenalidomide'), \
(2, datetime.date(2024, 3, 25), None, 'daratumumab+dexamethasone+lenalidomide')]
    """
    require_columns(
        treatments,
        ("patient_id", "therapy", "drug_classes", "start_date", "end_date"),
        table="treatments",
    )
    require_columns(patients, ("patient_id", "diagnosis_date"), table="patients")
    if progression is None:
        progression = pl.DataFrame(schema={"patient_id": pl.String, "date": pl.Date})
    # Patients as an enumeration of their identifiers in sorted order: the joins, group-bys and
    # sorts below compare small integers instead of text, in the same order.
    identifier = treatments.schema["patient_id"]
    patient = pl.Enum(
        pl.concat([f["patient_id"].cast(pl.String) for f in (treatments, patients, progression)])
        .unique()
        .drop_nulls()
        .sort()
    )
    treatments, patients, progression = (
        f.with_columns(pl.col("patient_id").cast(patient))
        for f in (treatments, patients, progression)
    )
    rows = classify_treatments(treatments).with_columns(drug_key=pl.col("therapy"))
    rows = rows.join(
        patients.select("patient_id", "diagnosis_date"),
        on="patient_id",
        how="left",
        maintain_order="left",
    )
    rows = workflow_context(rows, progression, config)
    walk_kinds = ["drug", "car_t"] + (
        [*TRANSPLANTS, "apheresis"] if config.transplant_workflow else []
    )
    walk = (
        rows.filter(pl.col("kind").is_in(walk_kinds))
        .with_columns(priority=pl.when(pl.col("event_opener")).then(0).otherwise(1))
        .sort("patient_id", "sort_date", "priority", "drug_key", "start_date", "end")
    )
    starts = _walk(walk, config)
    lines = _assemble(rows, starts, config, as_of)
    return Lines(
        lines=lines.lines.with_columns(pl.col("patient_id").cast(identifier)),
        line_drugs=lines.line_drugs.with_columns(pl.col("patient_id").cast(identifier)),
    )


def _assemble(
    rows: pl.DataFrame, starts: pl.DataFrame, config: MyelomaCourseConfig, as_of: dt.date | None
) -> Lines:
    """Lines and line drugs from the line starts (membership by date, L13 end dates)."""
    starts = starts.with_columns(
        next_start=shift_in_run(pl.col("line_start"), sorted_runs("patient_id"), -1),
        next_carry=shift_in_run(pl.col("carry_drugs"), sorted_runs("patient_id"), -1),
    )
    window = days(config.regimen_window_days)
    procedure_kinds = (*TRANSPLANTS, "apheresis")
    is_product = (pl.col("kind") == "car_t") & (pl.col("therapy") != "car_t_infusion")
    members = rows.filter(
        pl.col("kind").is_in(("drug", "steroid"))
        | is_product
        | pl.col("kind").is_in(procedure_kinds)
        | (pl.col("therapy") == "car_t_infusion")
    ).with_columns(
        anchor=pl.when(pl.col("kind") == "steroid")
        .then(pl.col("start_date") + days(config.steroid_window_before_days))
        .otherwise(pl.col("sort_date")),
        is_procedure=pl.col("kind").is_in(procedure_kinds)
        | (pl.col("therapy") == "car_t_infusion"),
    )
    members = _line_of(members, starts, "anchor", "first_line")
    members = _line_of(members, starts, "end", "last_line").filter(
        pl.col("first_line").is_not_null()
    )
    members = (
        members.with_columns(last_line=pl.max_horizontal("first_line", "last_line"))
        .with_columns(line=pl.int_ranges("first_line", pl.col("last_line") + 1, dtype=pl.Int32))
        .explode("line")
    )
    members = members.join(
        starts.select("patient_id", "line", "line_start", "next_start"),
        on=["patient_id", "line"],
        how="left",
    )
    # Steroids are regimen components only near the start (L2) or when running at the start.
    steroid_listed = (pl.col("line") > pl.col("first_line")) | (
        pl.col("start_date") <= pl.col("line_start") + window
    )
    members = members.filter((pl.col("kind") != "steroid") | steroid_listed).with_columns(
        first_dose=pl.max_horizontal("start_date", "line_start"),
        last_dose=pl.when(pl.col("next_start").is_not_null())
        .then(pl.min_horizontal("end", pl.col("next_start") - days(1)))
        .otherwise(pl.col("end")),
        carried=pl.col("line") > pl.col("first_line"),
    )

    drugs = members.filter(~pl.col("is_procedure"))
    line_drugs = (
        drugs.group_by("patient_id", "line", pl.col("drug_key").alias("drug"))
        .agg(
            pl.col("drug_classes").first(),
            pl.col("kind").first(),
            first_dose=pl.col("first_dose").min(),
            last_dose=pl.col("last_dose").max(),
            carried=pl.col("carried").all(),
            line_start=pl.col("line_start").first(),
        )
        .with_columns(
            in_window=pl.col("carried") | (pl.col("first_dose") <= pl.col("line_start") + window),
            last_dose=pl.when(pl.col("last_dose") < ONGOING).then(pl.col("last_dose")),
        )
        .with_columns(days_in_line=(pl.col("last_dose") - pl.col("first_dose")).dt.total_days() + 1)
        .drop("line_start")
    )
    line_drugs = sort_by_codes(line_drugs, "patient_id", "line", "drug")
    # line_drugs is sorted by patient, line and drug: groups keep that order, lists come sorted.
    per_line = line_drugs.group_by("patient_id", "line", maintain_order=True).agg(
        drugs=pl.col("drug"),
        induction=pl.col("drug").filter(pl.col("in_window")),
    )
    procedures = (
        members.filter(pl.col("is_procedure") & ~pl.col("carried"))
        .group_by("patient_id", "line")
        .agg(procedures=pl.col("therapy").unique().sort())
    )
    activity = (
        members.filter(pl.col("kind") != "steroid")
        .group_by("patient_id", "line")
        .agg(last_activity=pl.col("last_dose").max())
    )
    empty = pl.lit([], dtype=pl.List(pl.String))
    recent = pl.lit(
        ONGOING
        if as_of is None
        else as_of - dt.timedelta(days=config.treatment_free_interval_days),
        pl.Date,
    )
    lines = (
        starts.join(per_line, on=["patient_id", "line"], how="left")
        .join(procedures, on=["patient_id", "line"], how="left")
        .join(activity, on=["patient_id", "line"], how="left")
        .with_columns(
            pl.col("drugs").fill_null(empty),
            pl.col("induction").fill_null(empty),
            pl.col("procedures").fill_null(empty),
            end_date=pl.when(
                pl.col("next_start").is_not_null() & (pl.col("next_carry").list.len() > 0)
            )
            .then(pl.col("next_start") - days(1))
            .when(pl.col("next_start").is_null() & (pl.col("last_activity") >= recent))
            .then(None)
            .when(pl.col("last_activity") < ONGOING)
            .then(pl.col("last_activity")),
        )
        .select(
            "patient_id",
            "line",
            pl.col("line_start").alias("start_date"),
            "end_date",
            pl.col("next_start").alias("next_start_date"),
            pl.col("drugs").list.join("+").alias("regimen"),
            "drugs",
            "induction",
            "procedures",
            pl.col("carry_drugs").alias("carried_over"),
            "opened_by",
            pl.col("opened_by").replace_strict(LINE_TRIGGERS).alias("opened_rule"),
        )
        .sort("patient_id", "line")
    )
    return Lines(lines=lines, line_drugs=line_drugs)


def derive_end_reasons(
    lines: pl.DataFrame, progression: pl.DataFrame, deaths: pl.DataFrame
) -> pl.DataFrame:
    """Add ``end_reason`` (a key of :data:`END_REASONS`) to ``lines``.

    ``progression`` holds the counted progression events (``patient_id, line``); ``deaths`` the
    death dates (``patient_id, date``).
    """
    progressed = (
        progression.select("patient_id", "line").unique().with_columns(progressed=pl.lit(True))
    )
    died = deaths.group_by("patient_id").agg(death=pl.col("date").min())
    nxt = lines.select(
        "patient_id",
        (pl.col("line") - 1).alias("line"),
        pl.col("opened_by").alias("next_opened_by"),
        pl.col("carried_over").list.len().alias("next_carried"),
    )
    out = (
        lines.join(progressed, on=["patient_id", "line"], how="left")
        .join(nxt, on=["patient_id", "line"], how="left")
        .join(died, on="patient_id", how="left")
    )
    has_next = pl.col("next_start_date").is_not_null()
    reason = (
        pl.when(
            pl.col("progressed").fill_null(False) & (has_next | pl.col("end_date").is_not_null())
        )
        .then(pl.lit("progression"))
        .when(has_next & (pl.col("next_opened_by") == "new_drug") & (pl.col("next_carried") > 0))
        .then(pl.lit("drug_added"))
        .when(
            has_next
            & pl.col("next_opened_by").is_in(
                ("new_drug", "change_after_progression", "progression_in_gap")
            )
        )
        .then(pl.lit("regimen_changed"))
        .when(has_next & (pl.col("next_opened_by") == "treatment_gap"))
        .then(pl.lit("restarted_after_gap"))
        .when(has_next)
        .then(pl.col("next_opened_by"))
        .when(pl.col("end_date").is_null())
        .then(pl.lit("ongoing"))
        .when(pl.col("death") >= pl.col("start_date"))
        .then(pl.lit("death"))
        .otherwise(pl.lit("stopped"))
    )
    return out.with_columns(end_reason=reason).drop(
        "progressed", "next_opened_by", "next_carried", "death"
    )
