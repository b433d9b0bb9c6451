"""Where each patient stands on one date: the ``status`` table (DESIGN.md "Derived tables").

One row per patient as of the data cut-off (or ``--as-of``): lines received, relapses and their
label, treatment state, latest response, and every condition of the treatment-options condition
vocabulary (``shared/domain/treatment-options.yaml``) that the records can show. Conditions that
need data the canonical tables do not hold (``t_11_14``, ``transplant_eligible``,
``car_t_eligible``, ``corneal_disease``, ``lenalidomide_intolerant``) are not invented.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from relapsewatch.course.myeloma import segments
from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.course.myeloma.exposure import NAMED_DRUGS
from relapsewatch.course.myeloma.relapses import relapse_label

__all__ = ["STATES", "STATUS_CONDITIONS", "asct_conditions", "derive_status"]

_DEFAULT = MyelomaCourseConfig()

#: ``status.state`` values, in order of precedence.
STATES: dict[str, str] = {
    "untreated": "no line of therapy has started",
    "progressing": "a progression event in the current line, no new line yet",
    "on_treatment": "the current line is still running",
    "remission": "off treatment with a partial response or better",
    "off_treatment": "off treatment, not in remission",
}

_CLASS_CONDITIONS = (
    "imid_exposed",
    "imid_refractory",
    "pi_exposed",
    "pi_refractory",
    "anti_cd38_exposed",
    "anti_cd38_refractory",
)
#: Boolean condition columns of ``status`` (each true when its condition holds at ``as_of``).
STATUS_CONDITIONS: tuple[str, ...] = (
    "triple_class_exposed",
    "triple_class_refractory",
    "penta_exposed",
    "penta_refractory",
    "quad_refractory",
    "double_refractory",
    *_CLASS_CONDITIONS,
    *(f"{d.replace(' ', '_')}_{s}" for d in NAMED_DRUGS for s in ("exposed", "refractory")),
    "prior_bcma",
    "prior_bcma_car_t",
    "prior_gprc5d",
    "prior_asct",
    "lenalidomide_maintenance_after_asct",
    "remission_after_prior_asct_ge_18m",
    "remission_after_prior_asct_ge_36m",
)

_RESPONSE_ORDER = {"sCR": 7, "CR": 6, "VGPR": 5, "PR": 4, "MR": 3, "SD": 2, "PD": 1, "NE": 0}


def asct_conditions(
    treatments: pl.DataFrame,
    events: pl.DataFrame,
    as_of: dt.date,
    *,
    config: MyelomaCourseConfig = _DEFAULT,
) -> pl.DataFrame:
    """ASCT-related conditions of the vocabulary, long (``patient_id, condition, since``).

    * ``lenalidomide_maintenance_after_asct``: lenalidomide started within the maintenance
      window after an autologous transplant with no progression between (L5d);
    * ``remission_after_prior_asct_ge_18m`` / ``_ge_36m``: the latest autologous transplant was
      followed by at least 18 (36) calendar months without a progression event.
    """
    asct = (
        treatments.filter(pl.col("therapy") == "autologous_transplant")
        .select("patient_id", pl.col("start_date").alias("asct"))
        .unique()
        .sort("asct")
    )
    pd_dates = events.select("patient_id", pl.col("date").alias("pd")).sort("pd")
    len_rows = (
        treatments.filter(pl.col("therapy") == "lenalidomide")
        .select("patient_id", "start_date")
        .sort("start_date")
    )
    maint = (
        len_rows.join_asof(
            asct, left_on="start_date", right_on="asct", by="patient_id", check_sortedness=False
        )
        .join_asof(
            pd_dates, left_on="start_date", right_on="pd", by="patient_id", check_sortedness=False
        )
        .filter(
            pl.col("asct").is_not_null()
            & (
                (pl.col("start_date") - pl.col("asct"))
                <= pl.duration(days=config.maintenance_window_days)
            )
            & ~(pl.col("pd") > pl.col("asct")).fill_null(False)
        )
        .group_by("patient_id")
        .agg(since=pl.col("start_date").min())
        .with_columns(condition=pl.lit("lenalidomide_maintenance_after_asct"))
    )
    latest = asct.group_by("patient_id").agg(asct=pl.col("asct").max())
    after = (
        latest.join(pd_dates, on="patient_id", how="left")
        .filter(pl.col("pd").is_null() | (pl.col("pd") > pl.col("asct")))
        .group_by("patient_id")
        .agg(pl.col("asct").first(), pd=pl.col("pd").min())
    )
    remission = [
        after.with_columns(since=pl.col("asct").dt.offset_by(f"{months}mo"))
        .filter(pl.col("since") <= pl.coalesce(pl.col("pd"), pl.lit(as_of)))
        .select("patient_id", "since", condition=pl.lit(f"remission_after_prior_asct_ge_{months}m"))
        for months in (18, 36)
    ]
    return pl.concat([f.select("patient_id", "condition", "since") for f in [maint, *remission]])


def derive_status(
    patients: pl.DataFrame,
    lines: pl.DataFrame,
    relapses: pl.DataFrame,
    latest_responses: pl.DataFrame,
    conditions: pl.DataFrame,
    states: pl.DataFrame,
    events: pl.DataFrame,
    *,
    as_of: dt.date,
) -> pl.DataFrame:
    """The ``status`` table as of ``as_of`` (inputs already cut at ``as_of``).

    Parameters
    ----------
    patients:
        Every patient (one status row each, treated or not).
    lines:
        ``patient_id, line, start_date, end_date``.
    relapses:
        Counted relapses (``patient_id, relapse_number, date, line``).
    latest_responses:
        ``patient_id, latest_response, latest_response_date``: the confirmed response in force.
    conditions:
        Long conditions (``patient_id, condition, since``) from exposure and refractoriness.
    states:
        F4 states at ``as_of`` (:func:`relapsewatch.course.myeloma.refractory.patient_states`).
    events:
        Progression events with ``line`` and ``on_therapy``.
    """
    last_line = (
        lines.sort("patient_id", "line")
        .group_by("patient_id")
        .agg(
            lines_received=pl.len().cast(pl.Int32),
            last_line=pl.col("line").last(),
            last_start=pl.col("start_date").last(),
            last_end=pl.col("end_date").last(),
        )
    )
    counted = relapses.group_by("patient_id").agg(
        relapses=pl.len().cast(pl.Int32), last_relapse=pl.col("date").max()
    )
    on_last = (
        events.join(last_line.select("patient_id", "last_line"), on="patient_id")
        .filter((pl.col("line") == pl.col("last_line")) & pl.col("on_therapy"))
        .select("patient_id")
        .unique()
        .with_columns(progressed_on_last_therapy=True)
    )
    # one column per status condition: true when held, else null (as a pivot would give). The
    # conditions a patient holds are the bits of one integer (a plain group-by aggregation;
    # fewer than 64 conditions fit an Int64), then each column reads its bit.
    bit = {i: 1 << i for i in range(len(STATUS_CONDITIONS))}
    held = conditions.filter(
        (pl.col("since") <= as_of) & pl.col("condition").is_in(STATUS_CONDITIONS)
    ).select(
        "patient_id",
        held=segments.lookup(
            pl.col("condition").cast(pl.Enum(STATUS_CONDITIONS)).to_physical(), bit, pl.Int64
        ),
    )
    wide = (
        held.group_by("patient_id")
        .agg(pl.col("held").bitwise_or())
        .select(
            "patient_id",
            *(
                pl.when((pl.col("held") & bit[i]) != 0).then(True).alias(c)
                for i, c in enumerate(STATUS_CONDITIONS)
            ),
        )
    )

    out = (
        patients.select("patient_id")
        .unique(maintain_order=True)
        .join(last_line, on="patient_id", how="left")
        .join(counted, on="patient_id", how="left")
        .join(
            latest_responses.select(
                "patient_id",
                pl.col("latest_response").cast(pl.String),
                pl.col("latest_response_date").cast(pl.Date),
            ),
            on="patient_id",
            how="left",
        )
        .join(
            states.select(
                "patient_id",
                "primary_refractory",
                "primary_refractory_type",
                "relapsed_and_refractory",
                "relapsed",
            ),
            on="patient_id",
            how="left",
        )
        .join(on_last, on="patient_id", how="left")
        .join(wide, on="patient_id", how="left")
        .with_columns(pl.col("lines_received", "relapses").fill_null(0))
    )
    ongoing = pl.col("last_end").is_null() | (pl.col("last_end") >= as_of)
    progressing = (pl.col("last_relapse") >= pl.col("last_start")).fill_null(False)
    remission = (
        pl.col("latest_response").replace_strict(_RESPONSE_ORDER, default=0, return_dtype=pl.Int8)
        >= 4
    )
    state = (
        pl.when(pl.col("lines_received") == 0)
        .then(pl.lit("untreated"))
        .when(progressing)
        .then(pl.lit("progressing"))
        .when(ongoing)
        .then(pl.lit("on_treatment"))
        .when(remission)
        .then(pl.lit("remission"))
        .otherwise(pl.lit("off_treatment"))
    )
    out = (
        out.with_columns(state=state)
        .with_columns(
            as_of=pl.lit(as_of, pl.Date),
            current_line=pl.when((pl.col("lines_received") > 0) & ongoing).then(
                pl.col("last_line")
            ),
            prior_lines=(
                pl.col("lines_received") - (pl.col("state") == "on_treatment").cast(pl.Int32)
            ).cast(pl.Int32),
            relapse_label=relapse_label(pl.col("relapses")),
            no_prior_asct=~pl.col("prior_asct").fill_null(False),
        )
        .with_columns(
            pl.col(c).fill_null(False)
            for c in (
                "primary_refractory",
                "relapsed_and_refractory",
                "relapsed",
                "progressed_on_last_therapy",
                *STATUS_CONDITIONS,
            )
        )
    )
    design = ("triple_class_exposed", "triple_class_refractory", "penta_refractory")
    return out.select(
        "patient_id",
        "as_of",
        "lines_received",
        pl.col("current_line").cast(pl.Int32),
        "relapses",
        "state",
        "latest_response",
        *design,
        "latest_response_date",
        "prior_lines",
        "relapse_label",
        "primary_refractory",
        "primary_refractory_type",
        "relapsed_and_refractory",
        "relapsed",
        "progressed_on_last_therapy",
        *(c for c in STATUS_CONDITIONS if c not in design),
        "no_prior_asct",
    ).sort("patient_id")
