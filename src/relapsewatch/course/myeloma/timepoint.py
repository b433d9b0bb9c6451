"""Time-point (unconfirmed) response per assessment: the R rules (``docs/criteria.md#r-cr``).

Evaluated in the order PD (P8) → sCR → CR → VGPR → PR → MR → SD, per tracking pathway (M5):

* ``serum_urine``: R-sCR, R-CR, R-VGPR, R-PR, R-MR, with missing urine handled by A-9 and the
  marrow requirement of A-10;
* ``flc_only``: R-sCR-FLC, R-CR-FLC, R-VGPR-FLC (strictly > 90 %), R-PR-FLC, no MR;
* ``marrow_only``: R-CR-BM, R-PR-BM;
* ``not_evaluable``: NE throughout (imaging progression P5 still counts).

Serum immunofixation is first resolved for therapeutic-antibody interference (U6). All
comparisons are exact (:mod:`.exact`). Categories are stored as ranks (:data:`RANK`).
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from relapsewatch.course.myeloma import segments
from relapsewatch.course.myeloma.assessments import (
    INDETERMINATE,
    MAB_ONLY,
    NEGATIVE,
    NOT_CLONAL,
    POSITIVE,
    TEST_CODE,
    day_key,
)
from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.course.myeloma.exact import MICRO, Op, percent_compare, ratio_compare
from relapsewatch.course.myeloma.progression import PdInputs, pd_criteria
from relapsewatch.course.myeloma.rules import Criteria, Threshold
from relapsewatch.course.myeloma.treatment_rows import cum_max_date_in_run, sorted_runs

__all__ = [
    "CATEGORY",
    "RANK",
    "with_antibody_interference",
    "with_cr_marrow",
    "with_evaluability",
    "with_timepoint_responses",
]

#: Response categories as ranks: better is higher; PD and NE sit below SD.
RANK: dict[str, int] = {"NE": 0, "PD": 1, "SD": 2, "MR": 3, "PR": 4, "VGPR": 5, "CR": 6, "sCR": 7}
CATEGORY: dict[int, str] = {rank: name for name, rank in RANK.items()}
_ANTIBODY_CLASSES = ("anti_cd38", "anti_slamf7")
_FAR_FUTURE_DAYS = 365 * 1000


def with_antibody_interference(
    frame: pl.DataFrame,
    patients: pl.DataFrame,
    treatments: pl.DataFrame,
    *,
    config: MyelomaCourseConfig,
) -> pl.DataFrame:
    """Resolve serum immunofixation for therapeutic-antibody interference (U6, A-16).

    Adds ``sife`` (result code: negative, positive, indeterminate or null) and
    ``antibody_interference`` (bool), and resolves ``uife``. A DIRA/Hydrashift result overrides
    the plain IFE; an IFE ``positive_therapeutic_mab_only`` counts as negative; a plain positive
    IFE in an IgG-κ patient with anti-CD38 or anti-SLAMF7 exposure overlapping the previous
    ``antibody_interference_days`` is indeterminate. ``patients`` and ``treatments`` are
    encoded by :class:`~.assessments.PatientIndex`.
    """
    igg_kappa = patients.filter(
        (pl.col("heavy_chain") == "IgG") & (pl.col("light_chain") == "kappa")
    )["pid"]
    exposures = (
        treatments.filter(
            pl.col("drug_classes").list.eval(pl.element().is_in(_ANTIBODY_CLASSES)).list.any()
        )
        .select(
            "pid",
            exposure=day_key(pl.col("pid"), pl.col("start_date")),
            exposure_end=pl.coalesce(
                "end_date", pl.col("start_date") + timedelta(days=_FAR_FUTURE_DAYS)
            ),
        )
        .sort("exposure")
        .with_columns(latest_end=cum_max_date_in_run(pl.col("exposure_end"), sorted_runs("pid")))
        .drop("pid")
    )
    candidates = (
        frame.lazy()
        .filter(
            (pl.col("sife_plain") == POSITIVE)
            & pl.col("sife_dira").is_null()
            & pl.col("pid").is_in(igg_kappa.implode())
        )
        .select("row", "akey", "date")
        .collect()
        .sort("akey")
        .join_asof(exposures, left_on="akey", right_on="exposure", strategy="backward",
                   check_sortedness=False)
        .filter(
            ((pl.col("exposure") // (1 << 32)) == (pl.col("akey") // (1 << 32)))
            & (pl.col("latest_end")
               >= pl.col("date") - timedelta(days=config.antibody_interference_days))
        )
    )  # fmt: skip
    interference = pl.repeat(False, frame.height, dtype=pl.Boolean, eager=True)
    if candidates.height:
        interference = interference.scatter(candidates["row"], True)
    dira = (
        pl.when(pl.col("sife_dira").is_in([NEGATIVE, MAB_ONLY]))
        .then(pl.lit(NEGATIVE, dtype=pl.Int8))
        .otherwise(pl.col("sife_dira"))
    )
    plain = (
        pl.when(pl.col("sife_plain") == MAB_ONLY)
        .then(pl.lit(NEGATIVE, dtype=pl.Int8))
        .when(pl.col("antibody_interference"))
        .then(pl.lit(INDETERMINATE, dtype=pl.Int8))
        .otherwise(pl.col("sife_plain"))
    )
    return frame.with_columns(antibody_interference=interference).with_columns(
        sife=pl.coalesce(dira, plain),
        uife=pl.when(pl.col("uife") == MAB_ONLY)
        .then(pl.lit(NEGATIVE, dtype=pl.Int8))
        .otherwise(pl.col("uife")),
    )


def with_evaluability(frame: pl.DataFrame, *, rules: Criteria) -> pl.DataFrame:
    """Add the PD criteria (``pd_P1`` … ``pd_P5``, ``pd_any``), ``lab_evaluable``,
    ``evaluable`` (not NE), ``next_row`` and ``next_date`` (the next evaluable assessment of the
    same line, its tail included).

    An assessment is evaluable when it has the pathway's tracking value (serum M-protein if serum
    is involved, else urine; both light chains; marrow plasma cells) or meets a PD criterion.
    """
    criteria = pd_criteria(PdInputs.own(), rules=rules)
    pathway = pl.col("pathway")
    lab_evaluable = (
        pl.when(pathway == "serum_urine")
        .then(
            pl.when(pl.col("serum_involved"))
            .then(pl.col("s").is_not_null())
            .otherwise(pl.col("u").is_not_null())
        )
        .when(pathway == "flc_only")
        .then(pl.col("kappa").is_not_null() & pl.col("lambda").is_not_null())
        .when(pathway == "marrow_only")
        .then(pl.col("bmpc").is_not_null())
        .otherwise(pl.lit(False))
    )
    frame = (
        frame.with_columns(
            *(expr.alias(f"pd_{name}") for name, expr in criteria.items()),
            lab_evaluable=lab_evaluable,
        )
        .with_columns(
            pd_any=pl.any_horizontal([pl.col(f"pd_{name}") for name in criteria]),
        )
        .with_columns(evaluable=pl.col("lab_evaluable") | pl.col("pd_any"))
    )
    # next evaluable row of the same line: a global scan, then a same-group check (no window)
    candidate = pl.when(pl.col("evaluable")).then(pl.col("row")).shift(-1).backward_fill()
    frame = frame.with_columns(next_candidate=candidate).with_columns(
        next_row=pl.when(pl.col("group").gather(pl.col("next_candidate")) == pl.col("group")).then(
            pl.col("next_candidate")
        )
    )
    return frame.drop("next_candidate").with_columns(
        next_date=pl.col("date").gather(pl.col("next_row"))
    )


def with_cr_marrow(
    frame: pl.DataFrame, daily: pl.DataFrame, *, config: MyelomaCourseConfig
) -> pl.DataFrame:
    """Add ``cr_bmpc`` and ``cr_clonality``: the latest marrow results in
    ``[line start, confirming date + marrow_cr_after_confirm_days]`` (R-CR).

    The confirming date is the next evaluable assessment if it is no later than the next line
    start, else the assessment itself. Looked up only where the urine immunofixation is negative
    (the only rows where CR is possible).
    """
    within = pl.col("next_date").is_not_null() & (
        pl.col("next_start_date").is_null() | (pl.col("next_date") <= pl.col("next_start_date"))
    )
    window_end = pl.when(within).then("next_date").otherwise("date") + timedelta(
        days=config.marrow_cr_after_confirm_days
    )
    candidates = (
        frame.lazy()
        .filter((pl.col("uife") == NEGATIVE) & ~pl.col("is_tail"))
        .select("row", "pid", "start_date", window=day_key(pl.col("pid"), window_end))
        .collect()
        .sort("window")
    )
    out = frame
    for test, name, source in (
        ("bm_plasma_cells", "cr_bmpc", "value"),
        ("bm_clonality", "cr_clonality", "result"),
    ):
        marrow = daily.filter(pl.col("test") == TEST_CODE[test]).select(
            found=day_key(pl.col("pid"), pl.col("date")), marrow_date="date", marrow=source
        )
        found = (
            candidates.join_asof(marrow, left_on="window", right_on="found",
                                 strategy="backward", check_sortedness=False)
            .filter(
                ((pl.col("found") // (1 << 32)) == pl.col("pid").cast(pl.Int64))
                & (pl.col("marrow_date") >= pl.col("start_date"))
            )
        )  # fmt: skip
        column = segments.nulls(name, frame.height, marrow["marrow"].dtype)
        if found.height:
            column = column.scatter(found["row"], found["marrow"])
        out = out.with_columns(column)
    return out


def _reduction(baseline: str, value: pl.Expr | str, t: Threshold) -> pl.Expr:
    v = pl.col(value) if isinstance(value, str) else value
    return percent_compare(pl.col(baseline) - v, pl.col(baseline), t.op, t.value)


def _ratio(op: Op, t: Threshold) -> pl.Expr:
    both = pl.col("kappa").is_not_null() & pl.col("lambda").is_not_null() & (pl.col("lambda") > 0)
    return (
        pl.when(both)
        .then(ratio_compare(pl.col("kappa"), pl.col("lambda"), op, t.value))
        .otherwise(ratio_compare(pl.col("ratio"), pl.lit(MICRO, dtype=pl.Int64), op, t.value))
    )


def with_timepoint_responses(
    frame: pl.DataFrame, *, config: MyelomaCourseConfig, rules: Criteria
) -> pl.DataFrame:
    """Add ``tp`` (the time-point response rank, :data:`RANK`) and the flag columns
    ``flag_urine_unassessed``, ``flag_cr_unconfirmed_marrow``, ``flag_scr_unassessed``,
    ``flag_light_chain_escape``.
    """
    pathway = pl.col("pathway")
    su, flc, bm = pathway == "serum_urine", pathway == "flc_only", pathway == "marrow_only"
    r_cr = rules["R-CR"]
    ratio_low, ratio_high = (rules["R-sCR"].threshold(n) for n in ("ratio_low", "ratio_high"))
    ratio_normal = _ratio(ratio_low.op, ratio_low) & _ratio(ratio_high.op, ratio_high)
    ratio_normal = ratio_normal.fill_null(False)

    # --- shared CR conditions (R-CR, A-10) ---
    plasmacytoma = (
        segments.cumulative_max(
            pl.col("imaging").str.contains("plasmacytoma").fill_null(False).cast(pl.Int64)
        )
        > 0
    )
    cr_core = (pl.col("sife") == NEGATIVE) & (pl.col("uife") == NEGATIVE) & ~plasmacytoma
    cr_core = cr_core.fill_null(False)
    marrow_threshold = r_cr.threshold("marrow")
    marrow_known = pl.col("cr_bmpc").is_not_null()
    marrow_ok = (pl.col("cr_bmpc") < marrow_threshold.micro).fill_null(False)
    marrow_pass = marrow_ok | (~marrow_known & (not config.require_marrow_for_cr))
    not_clonal = (pl.col("cr_clonality") == NOT_CLONAL).fill_null(False)

    # Subexpressions read by several rules are computed once as temporary columns (eager
    # with_columns does not share them): the urine value in force, cr_core, ratio_normal and
    # the pathway tests.
    shared = {"_u_val": segments.forward_fill(pl.col("u")), "_cr_core": cr_core,
              "_ratio_normal": ratio_normal, "_su": su, "_flc": flc, "_bm": bm}  # fmt: skip
    frame = frame.with_columns(**shared)
    cr_core, ratio_normal = pl.col("_cr_core"), pl.col("_ratio_normal")
    su, flc, bm = pl.col("_su"), pl.col("_flc"), pl.col("_bm")
    cr_base = cr_core & marrow_pass

    # --- serum_urine ---
    u_val = pl.col("_u_val")
    status = pl.col("urine_status")
    inv, notinv = status == "involved", status == "not_involved"

    def serum_ok(t: Threshold) -> pl.Expr:
        return (~pl.col("serum_involved") | _reduction("s0", "s", t)).fill_null(False)

    r_vgpr, r_pr, r_mr = rules["R-VGPR"], rules["R-PR"], rules["R-MR"]

    def below(t: Threshold) -> pl.Expr:
        return u_val < t.micro

    pr_urine = (
        pl.when(inv & u_val.is_not_null())
        .then(
            _reduction("u0", u_val, r_pr.threshold("urine_fall")) | below(r_pr.threshold("urine"))
        )
        .when(notinv & u_val.is_not_null())
        .then(below(r_pr.threshold("urine")))
        .otherwise(pl.lit(True))
    ).fill_null(False)
    vgpr_urine = (
        pl.when(u_val.is_not_null()).then(below(r_vgpr.threshold("urine"))).otherwise(notinv)
    )
    mr_urine = (
        pl.when(inv & u_val.is_not_null())
        .then(_reduction("u0", u_val, r_mr.threshold("urine_fall")))
        .otherwise(pl.lit(True))
    ).fill_null(False)
    serum_not_seen = (pl.col("s") == 0) | (~pl.col("serum_involved") & pl.col("s").is_null())
    urine_not_seen = (u_val == 0) | (notinv & u_val.is_null())
    su_vgpr = (
        (serum_not_seen & urine_not_seen) | (serum_ok(r_vgpr.threshold("serum")) & vgpr_urine)
    ).fill_null(False)
    su_pr = serum_ok(r_pr.threshold("serum")) & pr_urine
    su_mr = serum_ok(r_mr.threshold("serum")) & mr_urine & pl.lit(config.include_mr)

    # --- flc_only and marrow_only ---
    flc_pr = _reduction("d0", "dflc", rules["R-PR-FLC"].threshold("dflc")).fill_null(False)
    flc_vgpr = _reduction("d0", "dflc", rules["R-VGPR-FLC"].threshold("dflc")).fill_null(False)
    bm_pr = _reduction("bmpc0", "bmpc", rules["R-PR-BM"].threshold("marrow")).fill_null(False)

    scr = pl.lit(config.include_scr) & (
        (su & cr_base & ratio_normal & not_clonal) | (flc & cr_base & ratio_normal & not_clonal)
    )
    cr = (su & cr_base) | ((flc | bm) & cr_base & ratio_normal)
    vgpr = (su & su_vgpr) | (flc & flc_vgpr)
    pr = (su & su_pr) | (flc & flc_pr) | (bm & bm_pr)
    mr = su & su_mr
    tp = (
        pl.when(pl.col("pd_any"))
        .then(pl.lit(RANK["PD"]))
        .when(~pl.col("lab_evaluable"))
        .then(pl.lit(RANK["NE"]))
        .when(scr)
        .then(pl.lit(RANK["sCR"]))
        .when(cr)
        .then(pl.lit(RANK["CR"]))
        .when(vgpr)
        .then(pl.lit(RANK["VGPR"]))
        .when(pr)
        .then(pl.lit(RANK["PR"]))
        .when(mr)
        .then(pl.lit(RANK["MR"]))
        .otherwise(pl.lit(RANK["SD"]))
        .cast(pl.Int8)
    )
    urine_gap = status.eq("unknown") | (inv & u_val.is_null())
    kappa_escape = (pl.col("chain") == "kappa") & _ratio("<", ratio_low).fill_null(False)
    lambda_escape = (pl.col("chain") == "lambda") & _ratio(">", ratio_high).fill_null(False)
    return (
        frame.with_columns(tp=tp)
        .with_columns(
            flag_urine_unassessed=su
            & pl.col("lab_evaluable")
            & urine_gap
            & pl.col("tp").is_between(RANK["MR"], RANK["VGPR"]),
            flag_cr_unconfirmed_marrow=(su | flc | bm)
            & cr_core
            & ~marrow_known
            & pl.lit(config.require_marrow_for_cr)
            & pl.col("lab_evaluable")
            & ~pl.col("pd_any"),
            flag_scr_unassessed=(su | flc)
            & (pl.col("tp") == RANK["CR"])
            & pl.col("cr_clonality").is_null()
            & pl.lit(config.include_scr),
            flag_light_chain_escape=flc & (kappa_escape | lambda_escape),
        )
        .drop(*shared)
    )
