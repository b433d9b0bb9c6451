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
    "classify_treatments",
    "derive_end_reasons",
    "derive_lines",
]

_DEFAULT = MyelomaCourseConfig()

#: Internal end date of an ongoing exposure (``end_date`` null); never leaves this module.
ONGOING = dt.date(9999, 12, 31)


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

#: L5b: mobilisation agents before apheresis (G-CSF agents are supportive and ignored anyway).
MOBILISATION_DRUGS = ("cyclophosphamide", "filgrastim", "pegfilgrastim", "plerixafor")
#: L5c: high-dose conditioning (melphalan; BEAM = carmustine, etoposide, cytarabine, melphalan;
#: common allogeneic conditioning agents).
CONDITIONING_DRUGS = (
    "melphalan",
    "carmustine",
    "etoposide",
    "cytarabine",
    "busulfan",
    "fludarabine",
    "treosulfan",
    "thiotepa",
)
#: L5d: drugs given as planned post-ASCT maintenance or consolidation.
MAINTENANCE_DRUGS = (
    "lenalidomide",
    "pomalidomide",
    "thalidomide",
    "bortezomib",
    "ixazomib",
    "carfilzomib",
    "daratumumab",
    "isatuximab",
    "elotuzumab",
)
#: L5e: CAR-T lymphodepletion.
LYMPHODEPLETION_DRUGS = ("fludarabine", "cyclophosphamide")

_TRANSPLANTS = ("autologous_transplant", "allogeneic_transplant")


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


def classify_treatments(treatments: pl.DataFrame) -> pl.DataFrame:
    """Add ``kind`` (``drug``, ``steroid``, ``supportive``, ``car_t``, a transplant, ``apheresis``,
    ``other_procedure``) and ``end`` (``end_date``, or a far-future date while ongoing).

    >>> t = pl.DataFrame({"patient_id": ["p"] * 3,
    ...     "therapy": ["lenalidomide", "dexamethasone", "zoledronic acid"],
    ...     "drug_classes": [["imid"], ["steroid"], ["supportive"]],
    ...     "start_date": [dt.date(2024, 1, 1)] * 3, "end_date": [None] * 3},
    ...     schema_overrides={"end_date": pl.Date})
    >>> classify_treatments(t)["kind"].to_list()
    ['drug', 'steroid', 'supportive']
    """
    classes = pl.col("drug_classes").fill_null(pl.lit([], dtype=pl.List(pl.String)))
    therapy = pl.col("therapy")
    steroid_only = (classes.list.len() > 0) & (
        classes.list.eval(pl.element() == "steroid").list.all()
    )
    kind = (
        pl.when(therapy.is_in(_TRANSPLANTS))
        .then(therapy)
        .when(therapy == "apheresis")
        .then(pl.lit("apheresis"))
        .when((therapy == "car_t_infusion") | classes.list.contains("car_t"))
        .then(pl.lit("car_t"))
        .when(classes.list.contains("procedure") | therapy.is_in(("radiotherapy", "surgery")))
        .then(pl.lit("other_procedure"))
        .when(classes.list.contains("supportive"))
        .then(pl.lit("supportive"))
        .when(steroid_only)
        .then(pl.lit("steroid"))
        .otherwise(pl.lit("drug"))
    )
    intent = pl.col("intent") if "intent" in treatments.columns else pl.lit(None, pl.String)
    return treatments.with_columns(
        kind=kind,
        drug_classes=classes,
        intent=intent.cast(pl.String),
        end=pl.col("end_date").fill_null(ONGOING),
    )


def _days(days: int) -> pl.Expr:
    return pl.duration(days=days)


# Window helpers for frames sorted by their group keys. ``.over()`` with a cumulative or shifting
# expression runs group by group, which is slow with a hundred thousand patients; on a sorted
# frame the same results come from one pass over the whole column.
_SHIFT = 2**32
_DAY0 = 2**31


def sorted_runs(*keys: str) -> pl.Expr:
    """A run number that changes whenever ``keys`` change (the frame is sorted by them)."""
    return (pl.struct(keys) if len(keys) > 1 else pl.col(keys[0])).rle_id().cast(pl.Int64)


def shift_in_run(expr: pl.Expr, run: pl.Expr, n: int = 1) -> pl.Expr:
    """``expr.shift(n)`` within each run (null across a run boundary)."""
    return pl.when(run == run.shift(n)).then(expr.shift(n))


def cum_max_date_in_run(date: pl.Expr, run: pl.Expr) -> pl.Expr:
    """Running maximum of a non-null date column within each run."""
    key = run * _SHIFT + (date.cast(pl.Int32).cast(pl.Int64) + _DAY0)
    return (key.cum_max() - run * _SHIFT - _DAY0).cast(pl.Int32).cast(pl.Date)


def _asof(
    left: pl.DataFrame,
    right: pl.DataFrame,
    *,
    left_on: str,
    right_on: str,
    strategy: str = "backward",
    tolerance_days: int | None = None,
    exact: bool = True,
    where: pl.Expr | None = None,
) -> pl.DataFrame:
    """``join_asof`` by patient, adding ``right``'s columns to ``left`` in its own row order.

    Only the key columns are sorted and joined (rows of patients absent from ``right`` and rows
    outside ``where`` are skipped); the matches are scattered back, so wide frames never move.
    """
    added = [c for c in right.columns if c != "patient_id"]
    n = left.height
    keys = left.select(
        pl.int_range(n, dtype=pl.UInt32).alias("__order"),
        "patient_id",
        pl.col(left_on).alias("__on"),
        (where if where is not None else pl.lit(True)).alias("__where"),
    ).filter(pl.col("__where") & pl.col("patient_id").is_in(right["patient_id"].implode()))
    joined = (
        keys.sort("__on")
        .join_asof(
            right.sort(right_on),
            left_on="__on",
            right_on=right_on,
            by="patient_id",
            strategy=strategy,  # type: ignore[arg-type]
            tolerance=None if tolerance_days is None else dt.timedelta(days=tolerance_days),
            allow_exact_matches=exact,
            check_sortedness=False,
            coalesce=False,
        )
        .select("__order", *added)
    )
    order = joined["__order"]
    columns = [
        pl.repeat(None, n, dtype=right.schema[name], eager=True)
        .alias(name)
        .scatter(order, joined[name])
        for name in added
    ]
    return left.with_columns(columns)


def _workflow_context(
    rows: pl.DataFrame, progression: pl.DataFrame, config: MyelomaCourseConfig
) -> pl.DataFrame:
    """Per-row flags of the transplant and CAR-T workflows (L5b–L5e, L10, L12).

    These flags depend only on dates, never on line boundaries, so they are computed once.
    """
    empty_dates = pl.DataFrame(schema={"patient_id": pl.String, "date": pl.Date})
    pd_dates = progression.select("patient_id", "date").unique()
    # The latest progression strictly before each start. A progression dated the same day as a
    # new drug does not move the line start onto itself: the event stays in the line it ends,
    # which keeps the lines <-> progression fixpoint stable (the new line's baseline cannot
    # remove the progression that opened it).
    rows = _asof(
        rows,
        pd_dates.rename({"date": "pd_before_start"}),
        left_on="start_date",
        right_on="pd_before_start",
        exact=False,
    )

    def dates(kind: str, name: str) -> pl.DataFrame:
        return (
            rows.filter(pl.col("kind") == kind)
            .select("patient_id", pl.col("start_date").alias(name))
            .unique()
        )

    use_tx = config.transplant_workflow
    tx = (
        rows.filter(pl.col("kind").is_in(_TRANSPLANTS))
        .select(
            "patient_id", pl.col("start_date").alias("tx_date"), pl.col("kind").alias("tx_kind")
        )
        .unique()
        if use_tx
        else empty_dates.rename({"date": "tx_date"}).with_columns(tx_kind=pl.lit(None, pl.String))
    )
    autos = (
        dates("autologous_transplant", "auto_date")
        if use_tx
        else empty_dates.rename({"date": "auto_date"})
    )
    aphereses = dates("apheresis", "apheresis_date")

    # L10: a transplant opens a line unless it is the first ASCT, a tandem, or a planned allo.
    tx = _asof(tx, autos, left_on="tx_date", right_on="auto_date", exact=False)
    tx = _asof(
        tx,
        pd_dates.rename({"date": "pd_before_tx"}),
        left_on="tx_date",
        right_on="pd_before_tx",
        exact=False,
    )
    planned = (
        pl.col("auto_date").is_not_null()
        & ((pl.col("tx_date") - pl.col("auto_date")) <= _days(config.tandem_window_days))
        & ~(pl.col("pd_before_tx") > pl.col("auto_date")).fill_null(False)
    )
    first_auto = (pl.col("tx_kind") == "autologous_transplant") & pl.col("auto_date").is_null()
    tx = (
        tx.with_columns(tx_opens=~planned & ~first_auto)
        .select("patient_id", "tx_date", "tx_kind", "tx_opens")
        .unique(["patient_id", "tx_date"], keep="first", maintain_order=True)
    )

    drug = pl.col("kind").is_in(("drug", "supportive"))
    intent = pl.col("intent")
    # L5c: conditioning attaches to the transplant it precedes.
    rows = _asof(
        rows,
        tx.select("patient_id", pl.col("tx_date").alias("conditioned_tx")),
        left_on="start_date",
        right_on="conditioned_tx",
        strategy="forward",
        tolerance_days=config.conditioning_window_days,
        where=drug & (pl.col("drug_key").is_in(CONDITIONING_DRUGS) | (intent == "conditioning")),
    )
    # L5b: mobilisation before apheresis.
    rows = _asof(
        rows,
        aphereses.rename({"apheresis_date": "mobilised_for"}),
        left_on="start_date",
        right_on="mobilised_for",
        strategy="forward",
        tolerance_days=config.mobilisation_window_days,
        where=drug & (pl.col("drug_key").is_in(MOBILISATION_DRUGS) | (intent == "mobilisation")),
    )
    mobilisation = use_tx & pl.col("mobilised_for").is_not_null()
    # L5d: planned maintenance or consolidation after ASCT with no progression since.
    rows = _asof(
        rows, autos.rename({"auto_date": "last_auto"}), left_on="start_date", right_on="last_auto"
    )
    post_asct = (
        use_tx
        & pl.col("last_auto").is_not_null()
        & ((pl.col("start_date") - pl.col("last_auto")) <= _days(config.maintenance_window_days))
        & ~(pl.col("pd_before_start") > pl.col("last_auto")).fill_null(False)
    )
    rows = rows.with_columns(
        is_mobilisation=mobilisation.fill_null(False),
        post_asct_ok=post_asct.fill_null(False),
        maintenance_drug=pl.col("drug_key").is_in(MAINTENANCE_DRUGS)
        | intent.is_in(("maintenance", "consolidation")).fill_null(False),
    )

    # L12 / L5e: the CAR-T line starts at apheresis, else the first bridging dose, else
    # lymphodepletion, else the infusion; everything from that start to the infusion belongs to it.
    infusions = (
        dates("car_t", "infusion")
        .sort("patient_id", "infusion")
        .with_columns(prev_infusion=shift_in_run(pl.col("infusion"), sorted_runs("patient_id")))
    )
    window = config.car_t_apheresis_window_days
    infusions = _asof(
        infusions, aphereses, left_on="infusion", right_on="apheresis_date", tolerance_days=window
    )
    infusions = _asof(
        infusions,
        tx.select("patient_id", pl.col("tx_date").alias("tx_before")),
        left_on="infusion",
        right_on="tx_before",
    )
    car_t_apheresis = pl.when(
        (pl.col("apheresis_date") > pl.col("prev_infusion")).fill_null(True)
        & (pl.col("tx_before") < pl.col("apheresis_date")).fill_null(True)
    ).then(pl.col("apheresis_date"))
    nxt = _asof(
        rows.select("patient_id", "start_date", "drug_key", "intent", "kind"),
        infusions.select("patient_id", pl.col("infusion").alias("next_infusion")),
        left_on="start_date",
        right_on="next_infusion",
        strategy="forward",
        tolerance_days=window,
    )
    lympho = (
        nxt.filter(
            (pl.col("drug_key").is_in(LYMPHODEPLETION_DRUGS))
            & (
                (pl.col("next_infusion") - pl.col("start_date"))
                <= _days(config.lymphodepletion_window_days)
            )
        )
        .group_by("patient_id", "next_infusion")
        .agg(first_lympho=pl.col("start_date").min())
    )
    bridging = (
        nxt.filter((pl.col("intent") == "bridging") & (pl.col("kind") != "car_t"))
        .group_by("patient_id", "next_infusion")
        .agg(first_bridging=pl.col("start_date").min())
    )
    infusions = (
        infusions.with_columns(car_t_apheresis=car_t_apheresis)
        .join(
            lympho,
            left_on=["patient_id", "infusion"],
            right_on=["patient_id", "next_infusion"],
            how="left",
        )
        .join(
            bridging,
            left_on=["patient_id", "infusion"],
            right_on=["patient_id", "next_infusion"],
            how="left",
        )
    )
    starts = (
        [pl.col("car_t_apheresis"), pl.col("first_bridging")]
        if config.bridging_in_car_t_line
        else []
    )
    infusions = infusions.with_columns(
        car_t_start=pl.min_horizontal(
            pl.coalesce(*starts, pl.col("first_lympho"), pl.col("infusion")), pl.col("infusion")
        )
    )
    rows = _asof(
        rows,
        infusions.select("patient_id", pl.col("infusion").alias("next_infusion"), "car_t_start"),
        left_on="start_date",
        right_on="next_infusion",
        strategy="forward",
        tolerance_days=window,
    )
    rows = rows.with_columns(
        car_t_absorbed=(pl.col("kind") != "car_t")
        & (pl.col("start_date") >= pl.col("car_t_start")).fill_null(False)
    )

    # Effective (sort) dates: an opening transplant starts at its earliest conditioning dose; a
    # CAR-T event at the CAR-T line start.
    effective = (
        rows.filter(pl.col("conditioned_tx").is_not_null())
        .group_by("patient_id", "conditioned_tx")
        .agg(conditioning_start=pl.col("start_date").min())
    )
    tx = tx.join(
        effective,
        left_on=["patient_id", "tx_date"],
        right_on=["patient_id", "conditioned_tx"],
        how="left",
    )
    rows = rows.join(
        tx.select("patient_id", "tx_date", "tx_opens", "conditioning_start"),
        left_on=["patient_id", "start_date"],
        right_on=["patient_id", "tx_date"],
        how="left",
        maintain_order="left",
    )
    is_tx = pl.col("kind").is_in(_TRANSPLANTS)
    tx_opens = is_tx & pl.col("tx_opens").fill_null(False)
    event = tx_opens | (pl.col("kind") == "car_t")
    sort_date = (
        pl.when(tx_opens)
        .then(pl.coalesce("conditioning_start", "start_date"))
        .when(pl.col("kind") == "car_t")
        .then(pl.coalesce("car_t_start", "start_date"))
        .otherwise(pl.col("start_date"))
    )
    lymphodepletion = pl.col("car_t_absorbed") & pl.col("drug_key").is_in(LYMPHODEPLETION_DRUGS)
    return rows.with_columns(
        sort_date=sort_date,
        event_opener=event,
        can_open=((pl.col("kind") == "drug") & ~pl.col("car_t_absorbed")) | event,
        # L5b, L5c, L5e, L5f: exempt from the new-drug and gap rules (not from L8).
        exempt_workflow=pl.col("is_mobilisation")
        | pl.col("conditioned_tx").is_not_null()
        | lymphodepletion
        | (intent == "step_up").fill_null(False),
    )


_STATE_SCHEMA = {
    "patient_id": pl.String,
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
    running = pl.DataFrame(
        schema={"patient_id": pl.String, "drug_key": pl.String, "end": pl.Date, "kind": pl.String}
    )
    starts = [state]
    s, window = pl.col("line_start"), _days(config.regimen_window_days)
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
            & (pl.col("gap") > _days(config.treatment_free_interval_days))
            & (pl.col("pd_before_start") >= pl.col("prev_end")).fill_null(False)
        )
        t_pd_change = (
            pd_rules
            & opener
            & pl.col("first_in_line")
            & (pl.col("pd_before_start") >= s).fill_null(False)
        )
        t_gap = opener & ~exempt & (pl.col("gap") > _days(config.line_gap_days)).fill_null(False)
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
        done = p.filter(in_line)
        alive = running.join(nxt, on="patient_id", how="inner").select(
            "patient_id", "drug_key", "end", "kind", "next_start"
        )
        carried = pl.concat(
            [
                alive,
                done.filter(pl.col("next_start").is_not_null()).select(
                    "patient_id", "drug_key", "end", "kind", "next_start"
                ),
            ]
        ).filter(pl.col("end") >= pl.col("next_start"))
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
    return _asof(
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
    rows = classify_treatments(treatments).with_columns(drug_key=pl.col("therapy"))
    rows = rows.join(
        patients.select("patient_id", "diagnosis_date"),
        on="patient_id",
        how="left",
        maintain_order="left",
    )
    rows = _workflow_context(rows, progression, config)
    walk_kinds = ["drug", "car_t"] + (
        [*_TRANSPLANTS, "apheresis"] if config.transplant_workflow else []
    )
    walk = (
        rows.filter(pl.col("kind").is_in(walk_kinds))
        .with_columns(priority=pl.when(pl.col("event_opener")).then(0).otherwise(1))
        .sort("patient_id", "sort_date", "priority", "drug_key", "start_date", "end")
    )
    starts = _walk(walk, config)
    return _assemble(rows, starts, config, as_of)


def _assemble(
    rows: pl.DataFrame, starts: pl.DataFrame, config: MyelomaCourseConfig, as_of: dt.date | None
) -> Lines:
    """Lines and line drugs from the line starts (membership by date, L13 end dates)."""
    starts = starts.with_columns(
        next_start=shift_in_run(pl.col("line_start"), sorted_runs("patient_id"), -1),
        next_carry=shift_in_run(pl.col("carry_drugs"), sorted_runs("patient_id"), -1),
    )
    window = _days(config.regimen_window_days)
    procedure_kinds = (*_TRANSPLANTS, "apheresis")
    is_product = (pl.col("kind") == "car_t") & (pl.col("therapy") != "car_t_infusion")
    members = rows.filter(
        pl.col("kind").is_in(("drug", "steroid"))
        | is_product
        | pl.col("kind").is_in(procedure_kinds)
        | (pl.col("therapy") == "car_t_infusion")
    ).with_columns(
        anchor=pl.when(pl.col("kind") == "steroid")
        .then(pl.col("start_date") + _days(config.steroid_window_before_days))
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
        .then(pl.min_horizontal("end", pl.col("next_start") - _days(1)))
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
        .sort("patient_id", "line", "drug")
    )
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
            .then(pl.col("next_start") - _days(1))
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
