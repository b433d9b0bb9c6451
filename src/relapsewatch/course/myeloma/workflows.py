"""The transplant and CAR-T workflows of the lines engine (spec §2.5 L5b–L5e, L10, L12).

Per treatment row, flags that depend only on dates, never on line boundaries, so they are
computed once before the line walk: mobilisation before apheresis, conditioning before a
transplant, planned maintenance after ASCT, which transplants open a line, where a CAR-T line
starts and which rows belong to it, and the latest progression before each start.
"""

from __future__ import annotations

import polars as pl

from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.course.myeloma.treatment_rows import (
    TRANSPLANTS,
    asof_by_patient,
    days,
    shift_in_run,
    sorted_runs,
)

__all__ = [
    "CONDITIONING_DRUGS",
    "LYMPHODEPLETION_DRUGS",
    "MAINTENANCE_DRUGS",
    "MOBILISATION_DRUGS",
    "workflow_context",
]

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


def workflow_context(
    rows: pl.DataFrame, progression: pl.DataFrame, config: MyelomaCourseConfig
) -> pl.DataFrame:
    """Per-row flags of the transplant and CAR-T workflows (L5b–L5e, L10, L12).

    These flags depend only on dates, never on line boundaries, so they are computed once.
    """
    empty_dates = rows.select("patient_id", date="start_date").clear()
    pd_dates = progression.select("patient_id", "date").unique()
    # The latest progression strictly before each start. A progression dated the same day as a
    # new drug does not move the line start onto itself: the event stays in the line it ends,
    # which keeps the lines <-> progression fixpoint stable (the new line's baseline cannot
    # remove the progression that opened it).
    rows = asof_by_patient(
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
        rows.filter(pl.col("kind").is_in(TRANSPLANTS))
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
    tx = asof_by_patient(tx, autos, left_on="tx_date", right_on="auto_date", exact=False)
    tx = asof_by_patient(
        tx,
        pd_dates.rename({"date": "pd_before_tx"}),
        left_on="tx_date",
        right_on="pd_before_tx",
        exact=False,
    )
    planned = (
        pl.col("auto_date").is_not_null()
        & ((pl.col("tx_date") - pl.col("auto_date")) <= days(config.tandem_window_days))
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
    rows = asof_by_patient(
        rows,
        tx.select("patient_id", pl.col("tx_date").alias("conditioned_tx")),
        left_on="start_date",
        right_on="conditioned_tx",
        strategy="forward",
        tolerance_days=config.conditioning_window_days,
        where=drug & (pl.col("drug_key").is_in(CONDITIONING_DRUGS) | (intent == "conditioning")),
    )
    # L5b: mobilisation before apheresis.
    rows = asof_by_patient(
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
    rows = asof_by_patient(
        rows, autos.rename({"auto_date": "last_auto"}), left_on="start_date", right_on="last_auto"
    )
    post_asct = (
        use_tx
        & pl.col("last_auto").is_not_null()
        & ((pl.col("start_date") - pl.col("last_auto")) <= days(config.maintenance_window_days))
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
    infusions = asof_by_patient(
        infusions, aphereses, left_on="infusion", right_on="apheresis_date", tolerance_days=window
    )
    infusions = asof_by_patient(
        infusions,
        tx.select("patient_id", pl.col("tx_date").alias("tx_before")),
        left_on="infusion",
        right_on="tx_before",
    )
    car_t_apheresis = pl.when(
        (pl.col("apheresis_date") > pl.col("prev_infusion")).fill_null(True)
        & (pl.col("tx_before") < pl.col("apheresis_date")).fill_null(True)
    ).then(pl.col("apheresis_date"))
    nxt = asof_by_patient(
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
                <= days(config.lymphodepletion_window_days)
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
    rows = asof_by_patient(
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
    is_tx = pl.col("kind").is_in(TRANSPLANTS)
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
