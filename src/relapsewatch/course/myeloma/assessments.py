"""From single lab results to assessments, line baselines and the tracking pathway.

* :func:`daily_results`: one row per patient, date and test (A-29 same-day duplicates; U7
  unquantifiable results), values as exact integer micro-units (:mod:`.exact`).
* :func:`build_assessments`: results within ±7 days combined into one assessment anchored at the
  serum M-protein date, else the free light chain date (A-28); imaging findings (P5) join as
  assessments on their own date.
* :func:`line_baselines`: the baseline of every test for every line (M1), measurability (M2–M4),
  the tracking pathway (M5) and the involved compartments (M6).
* :func:`line_frame`: every assessment placed in its line, plus one *tail* row per line (the first
  assessment on or after the next line start), which may confirm a PD (C3) but is never output.

All steps are vectorised across patients; rows are keyed by ``patient_id`` and sorted by date.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.course.myeloma.exact import (
    MICRO,
    format_micro,
    ratio_compare,
    to_micro,
)
from relapsewatch.course.myeloma.rules import Criteria
from relapsewatch.schema import DETECTED_NONQUANTIFIABLE

__all__ = [
    "CRAB_TESTS",
    "IMAGING_FINDINGS",
    "RESPONSE_TESTS",
    "build_assessments",
    "daily_results",
    "line_baselines",
    "line_frame",
]

#: Tests that enter the response assessment.
RESPONSE_TESTS = (
    "serum_m_protein",
    "urine_m_protein",
    "flc_kappa",
    "flc_lambda",
    "flc_ratio",
    "serum_ife",
    "urine_ife",
    "bm_plasma_cells",
    "bm_clonality",
)
#: Tests used only for candidate CRAB signals (X3).
CRAB_TESTS = ("calcium", "hemoglobin", "creatinine")
#: Findings that are progression by imaging (P5).
IMAGING_FINDINGS = ("new_bone_lesion", "new_plasmacytoma", "plasmacytoma_increase")

_QUANTITATIVE = (
    "serum_m_protein",
    "urine_m_protein",
    "flc_kappa",
    "flc_lambda",
    "flc_ratio",
    "bm_plasma_cells",
    *CRAB_TESTS,
)
#: Internal test name of a serum IFE read by a DIRA / Hydrashift reflex assay (U6).
SERUM_IFE_DIRA = "serum_ife_dira"
_DIRA_METHODS = ("dira", "hydrashift")
#: Qualitative results ordered from better to worse within a test (A-29 keeps the worse).
_RESULT_RANK = {
    "negative": 1,
    "not_clonal": 2,
    "positive_therapeutic_mab_only": 3,
    "indeterminate": 4,
    "positive": 5,
    "clonal": 6,
}
_RANK_RESULT = {rank: result for result, rank in _RESULT_RANK.items()}
#: Tests that form an assessment of their own when no anchor is near (A-28).
_STANDALONE = ("urine_m_protein", "bm_plasma_cells")
_FLC_ANCHORS = ("flc_kappa", "flc_lambda")

#: Wide assessment columns: (test, value column, result column, unquantifiable column).
_WIDE: tuple[tuple[str, str | None, str | None, str | None], ...] = (
    ("serum_m_protein", "s", None, "s_nq"),
    ("urine_m_protein", "u", None, "u_nq"),
    ("flc_kappa", "kappa", None, None),
    ("flc_lambda", "lambda", None, None),
    ("flc_ratio", "ratio", None, None),
    ("serum_ife", None, "sife_plain", None),
    (SERUM_IFE_DIRA, None, "sife_dira", None),
    ("urine_ife", None, "uife", None),
    ("bm_plasma_cells", "bmpc", None, None),
    ("bm_clonality", None, "clonality", None),
)


def daily_results(
    measurements: pl.DataFrame, tests: Sequence[str], *, as_of: date | None = None
) -> pl.DataFrame:
    """One row per ``patient_id``, ``date`` and ``test`` (rule A-29, U7).

    Values become Int64 micro-units in ``value``; an unquantifiable result (``<0.1``, ``trace``)
    is 0 with ``nonquantifiable`` set (N4, A-13); a quantitative test reported ``negative`` is 0.
    Same-day duplicates keep the worse value (the larger number, the more positive result) and
    set ``duplicate``. A serum IFE read by DIRA or Hydrashift is kept apart as ``serum_ife_dira``.

    >>> import datetime as dt
    >>> m = pl.DataFrame({"patient_id": ["a", "a"], "date": [dt.date(2024, 1, 1)] * 2,
    ...     "test": ["serum_m_protein"] * 2, "value": [1.4, 1.5], "result": [None, None],
    ...     "method": [None, None]}, schema_overrides={"result": pl.String, "method": pl.String})
    >>> daily_results(m, ["serum_m_protein"]).select("value", "duplicate").row(0)
    (1500000, True)
    """
    frame = measurements.lazy().filter(pl.col("test").is_in(list(tests)))
    if as_of is not None:
        frame = frame.filter(pl.col("date") <= as_of)
    method = pl.col("method").str.to_lowercase()
    nonquantifiable = pl.col("result") == DETECTED_NONQUANTIFIABLE
    quantitative = pl.col("test").is_in(_QUANTITATIVE)
    frame = frame.select(
        "patient_id",
        "date",
        test=pl.when((pl.col("test") == "serum_ife") & method.is_in(_DIRA_METHODS))
        .then(pl.lit(SERUM_IFE_DIRA))
        .otherwise(pl.col("test")),
        value=pl.when(nonquantifiable | (quantitative & (pl.col("result") == "negative")))
        .then(pl.lit(0, dtype=pl.Int64))
        .otherwise(to_micro(pl.col("value"))),
        nonquantifiable=nonquantifiable.fill_null(False),
        result_rank=pl.col("result").replace_strict(
            _RESULT_RANK, default=None, return_dtype=pl.Int8
        ),
    )
    aggregated = frame.group_by("patient_id", "date", "test").agg(
        pl.col("value").max(),
        # an unquantifiable band is worse than a measured 0, better than any positive number
        nonquantifiable=(
            pl.col("nonquantifiable").any() & (pl.col("value").max().fill_null(0) == 0)
        ),
        result_rank=pl.col("result_rank").max(),
        duplicate=pl.len() > 1,
    )
    return (
        aggregated.with_columns(
            result=pl.col("result_rank").replace_strict(
                _RANK_RESULT, default=None, return_dtype=pl.String
            )
        )
        .drop("result_rank")
        .sort("patient_id", "date", "test")
        .collect()
    )


def build_assessments(
    daily: pl.DataFrame, findings: pl.DataFrame, *, config: MyelomaCourseConfig
) -> pl.DataFrame:
    """Combine daily results into assessments (A-28) and add imaging findings (P5).

    Anchors are the serum M-protein dates, then free light chain dates with no serum M-protein
    within the tolerance. Every other result joins the nearest anchor within
    ``assessment_tolerance_days``; a urine M-protein or marrow result with no anchor near is an
    assessment of its own; other lone results (an immunofixation alone) support no response and
    are left out. Within an assessment a test's result from the anchor day wins, then the nearer
    day, then the later day.

    Returns one row per ``patient_id`` and ``date`` with the wide columns ``s``, ``s_nq``, ``u``,
    ``u_nq``, ``kappa``, ``lambda``, ``ratio``, ``sife_plain``, ``sife_dira``, ``uife``, ``bmpc``,
    ``clonality``, ``imaging`` (finding names), ``duplicate`` and ``combined`` (results from
    other days joined in).
    """
    tolerance = f"{config.assessment_tolerance_days}d"
    results = daily.lazy().filter(pl.col("test").is_in([*RESPONSE_TESTS, SERUM_IFE_DIRA]))
    serum_dates = (
        results.filter(pl.col("test") == "serum_m_protein")
        .select("patient_id", "date")
        .unique()
        .sort("date")
    )
    flc_dates = (
        results.filter(pl.col("test").is_in(_FLC_ANCHORS))
        .select("patient_id", "date")
        .unique()
        .sort("date")
    )
    lone_flc = (
        flc_dates.join_asof(
            serum_dates.with_columns(serum_date=pl.col("date")),
            on="date",
            by="patient_id",
            strategy="nearest",
            tolerance=tolerance,
            check_sortedness=False,
        )
        .filter(pl.col("serum_date").is_null())
        .select("patient_id", "date")
    )
    anchors = (
        pl.concat([serum_dates, lone_flc])
        .unique()
        .select("patient_id", anchor=pl.col("date"))
        .sort("anchor")
    )
    placed = (
        results.sort("date")
        .join_asof(
            anchors,
            left_on="date",
            right_on="anchor",
            by="patient_id",
            strategy="nearest",
            tolerance=tolerance,
            check_sortedness=False,
        )
        .with_columns(
            assessment_date=pl.coalesce(
                "anchor",
                pl.when(pl.col("test").is_in(_STANDALONE)).then(pl.col("date")),
            )
        )
        .filter(pl.col("assessment_date").is_not_null())
        .with_columns(
            # lower is better: the anchor day, then nearer, then later
            priority=(pl.col("date") - pl.col("assessment_date")).dt.total_days().abs() * 2
            + (pl.col("date") < pl.col("assessment_date")).cast(pl.Int64),
        )
    )
    aggregations: list[pl.Expr] = []
    for test, value_col, result_col, nq_col in _WIDE:
        is_test = pl.col("test") == test
        best = pl.col("priority").filter(is_test).arg_min()
        if value_col is not None:
            aggregations.append(pl.col("value").filter(is_test).get(best).alias(value_col))
        if result_col is not None:
            aggregations.append(pl.col("result").filter(is_test).get(best).alias(result_col))
        if nq_col is not None:
            aggregations.append(pl.col("nonquantifiable").filter(is_test).get(best).alias(nq_col))
    wide = (
        placed.group_by("patient_id", "assessment_date")
        .agg(
            *aggregations,
            duplicate=pl.col("duplicate").any(),
            combined=(pl.col("priority") > 0).any(),
        )
        .rename({"assessment_date": "date"})
    )
    imaging = (
        findings.lazy()
        .filter(pl.col("finding").is_in(IMAGING_FINDINGS))
        .group_by("patient_id", "date")
        .agg(imaging=pl.col("finding").unique().sort().str.join("+"))
    )
    return (
        wide.join(imaging, on=["patient_id", "date"], how="full", coalesce=True)
        .with_columns(
            pl.col("duplicate", "combined").fill_null(False),
            pl.col("s_nq", "u_nq").fill_null(False),
        )
        .sort("patient_id", "date")
        .collect()
    )


_BASELINE_TESTS = (
    ("serum_m_protein", "s0"),
    ("urine_m_protein", "u0"),
    ("flc_kappa", "kappa0"),
    ("flc_lambda", "lambda0"),
    ("flc_ratio", "ratio0"),
    ("serum_ife", "sife0"),
    ("urine_ife", "uife0"),
    ("bm_plasma_cells", "bmpc0"),
    ("hemoglobin", "hb0"),
    ("creatinine", "creat0"),
)


def line_baselines(
    daily: pl.DataFrame, lines: pl.DataFrame, *, config: MyelomaCourseConfig, rules: Criteria
) -> pl.DataFrame:
    """Per patient and line: baselines (M1), measurability (M2–M4), pathway (M5), involvement (M6).

    Columns: ``patient_id, line, start_date, next_start_date``; for each test ``<name>0`` (value
    in micro-units or qualitative result) and ``<name>0_date``; ``s0_nq``, ``u0_nq``;
    ``chain`` (involved light chain, ``kappa``/``lambda``/null), ``d0`` (baseline dFLC),
    ``serum_involved`` (bool), ``urine_status`` (``involved``/``not_involved``/``unknown``),
    ``pathway`` and ``response_from`` (assessments after this date are on-line responses:
    the later of the line start and a look-ahead baseline date).
    """
    keys = lines.lazy().select("patient_id", "line", "start_date", "next_start_date")
    tests = pl.LazyFrame({"test": [t for t, _ in _BASELINE_TESTS]})
    left = keys.join(tests, how="cross").sort("start_date")
    right = (
        daily.lazy()
        .filter(pl.col("test").is_in([t for t, _ in _BASELINE_TESTS]))
        .select("patient_id", "test", "date", "value", "result", "nonquantifiable")
        .sort("date")
    )
    before = left.join_asof(
        right,
        left_on="start_date",
        right_on="date",
        by=["patient_id", "test"],
        strategy="backward",
        tolerance=f"{config.baseline_window_days}d",
        coalesce=False,
        check_sortedness=False,
    )
    after = left.join_asof(
        right,
        left_on="start_date",
        right_on="date",
        by=["patient_id", "test"],
        strategy="forward",
        tolerance=f"{config.baseline_lookahead_days}d",
        coalesce=False,
        check_sortedness=False,
    ).select(
        "patient_id",
        "line",
        "test",
        date_after="date",
        value_after="value",
        result_after="result",
        nq_after="nonquantifiable",
    )
    long = before.join(after, on=["patient_id", "line", "test"], how="left").select(
        "patient_id",
        "line",
        "test",
        date=pl.coalesce("date", "date_after"),
        value=pl.when(pl.col("date").is_not_null()).then("value").otherwise("value_after"),
        result=pl.when(pl.col("date").is_not_null()).then("result").otherwise("result_after"),
        nq=pl.when(pl.col("date").is_not_null()).then("nonquantifiable").otherwise("nq_after"),
    )
    wide_cols: list[pl.Expr] = []
    for test, name in _BASELINE_TESTS:
        is_test = pl.col("test") == test
        source = "result" if test in ("serum_ife", "urine_ife") else "value"
        wide_cols.append(pl.col(source).filter(is_test).first().alias(name))
        wide_cols.append(pl.col("date").filter(is_test).first().alias(f"{name}_date"))
    wide_cols.append(
        pl.col("nq")
        .filter(pl.col("test") == "serum_m_protein")
        .first()
        .fill_null(False)
        .alias("s0_nq")
    )
    wide_cols.append(
        pl.col("nq")
        .filter(pl.col("test") == "urine_m_protein")
        .first()
        .fill_null(False)
        .alias("u0_nq")
    )
    wide = long.group_by("patient_id", "line").agg(*wide_cols)
    frame = keys.join(wide, on=["patient_id", "line"], how="left")
    return (
        frame.with_columns(_pathway_columns(config, rules))
        .with_columns(_response_from())
        .with_columns(baseline=_baseline_text())
        .sort("patient_id", "line")
        .collect()
    )


def _ratio_above(kappa: str, lam: str, ratio: str, threshold_low: bool, rules: Criteria) -> pl.Expr:
    """Exact κ/λ ratio compare: recomputed from κ and λ when both exist, else the given ratio."""
    t = rules["M4"].threshold("lambda" if threshold_low else "kappa")
    both = pl.col(kappa).is_not_null() & pl.col(lam).is_not_null() & (pl.col(lam) > 0)
    from_chains = ratio_compare(pl.col(kappa), pl.col(lam), t.op, t.value)
    from_ratio = ratio_compare(pl.col(ratio), pl.lit(MICRO, dtype=pl.Int64), t.op, t.value)
    return pl.when(both).then(from_chains).otherwise(from_ratio)


def _pathway_columns(config: MyelomaCourseConfig, rules: Criteria) -> list[pl.Expr]:
    m2 = rules["M2"].threshold("serum")
    m3 = rules["M3"].threshold("urine")
    m4 = rules["M4"].threshold("involved")
    m5 = rules["M5"].threshold("marrow")
    kappa_involved = _ratio_above("kappa0", "lambda0", "ratio0", False, rules)
    lambda_involved = _ratio_above("kappa0", "lambda0", "ratio0", True, rules)
    chain = (
        pl.when(kappa_involved)
        .then(pl.lit("kappa"))
        .when(lambda_involved)
        .then(pl.lit("lambda"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    involved0 = pl.when(chain == "kappa").then("kappa0").otherwise("lambda0")
    uninvolved0 = pl.when(chain == "kappa").then("lambda0").otherwise("kappa0")
    serum_measurable = (pl.col("s0") >= m2.micro).fill_null(False)
    urine_measurable = (pl.col("u0") >= m3.micro).fill_null(False)
    flc_measurable = (chain.is_not_null() & (involved0 >= m4.micro)).fill_null(False)
    marrow_measurable = (pl.col("bmpc0") >= m5.micro).fill_null(False)
    pathway = (
        pl.when(serum_measurable | urine_measurable)
        .then(pl.lit("serum_urine"))
        .when(flc_measurable)
        .then(pl.lit("flc_only"))
        .when(marrow_measurable)
        .then(pl.lit("marrow_only"))
        .otherwise(pl.lit("not_evaluable"))
    )
    urine_involved = (pl.col("u0") > 0) | pl.col("u0_nq") | (pl.col("uife0") == "positive")
    urine_clear = (pl.col("u0") == 0) | (pl.col("uife0") == "negative")
    return [
        chain.alias("chain"),
        pl.when(chain.is_not_null())
        .then(pl.max_horizontal(involved0 - uninvolved0, pl.lit(0, dtype=pl.Int64)))
        .alias("d0"),
        ((pl.col("s0") > 0) | pl.col("s0_nq") | (pl.col("sife0") == "positive"))
        .fill_null(False)
        .alias("serum_involved"),
        pl.when(urine_involved.fill_null(False))
        .then(pl.lit("involved"))
        .when(urine_clear.fill_null(False))
        .then(pl.lit("not_involved"))
        .otherwise(pl.lit("unknown"))
        .alias("urine_status"),
        pathway.alias("pathway"),
    ]


def _response_from() -> pl.Expr:
    """The later of the line start and the date of a look-ahead baseline of the tracked test."""
    tracked_date = (
        pl.when(pl.col("pathway") == "serum_urine")
        .then(pl.when(pl.col("serum_involved")).then("s0_date").otherwise("u0_date"))
        .when(pl.col("pathway") == "flc_only")
        .then(pl.max_horizontal("kappa0_date", "lambda0_date"))
        .when(pl.col("pathway") == "marrow_only")
        .then("bmpc0_date")
    )
    return pl.max_horizontal("start_date", tracked_date).alias("response_from")


def _baseline_text() -> pl.Expr:
    """The line baseline in words (M1), e.g. ``serum M-protein 3 g/dL (2024-01-10); …``."""

    def part(label: str, value: pl.Expr, unit: str, when: pl.Expr, on: str) -> pl.Expr:
        return pl.when(when).then(
            pl.concat_str(
                [
                    pl.lit(label + " "),
                    value,
                    pl.lit(f"{unit} ("),
                    pl.col(on).dt.to_string("%Y-%m-%d"),
                    pl.lit(")"),
                ]
            )
        )

    s_value = (
        pl.when(pl.col("s0_nq"))
        .then(pl.lit("detected, not quantifiable"))
        .otherwise(pl.concat_str([format_micro(pl.col("s0")), pl.lit(" g/dL")]))
    )
    return pl.concat_str(
        [
            part("serum M-protein", s_value, "", pl.col("s0").is_not_null(), "s0_date"),
            part(
                "urine M-protein",
                format_micro(pl.col("u0")),
                " mg/24h",
                pl.col("u0").is_not_null(),
                "u0_date",
            ),
            part(
                "free κ",
                format_micro(pl.col("kappa0")),
                " mg/L",
                pl.col("kappa0").is_not_null(),
                "kappa0_date",
            ),
            part(
                "free λ",
                format_micro(pl.col("lambda0")),
                " mg/L",
                pl.col("lambda0").is_not_null(),
                "lambda0_date",
            ),
            pl.when(pl.col("chain").is_not_null()).then(
                pl.concat_str(
                    [
                        pl.lit("involved chain "),
                        pl.col("chain").replace_strict({"kappa": "κ", "lambda": "λ"}),
                        pl.lit(", dFLC "),
                        format_micro(pl.col("d0")),
                        pl.lit(" mg/L"),
                    ]
                )
            ),
            part("serum IFE", pl.col("sife0"), "", pl.col("sife0").is_not_null(), "sife0_date"),
            part("urine IFE", pl.col("uife0"), "", pl.col("uife0").is_not_null(), "uife0_date"),
            part(
                "marrow plasma cells",
                format_micro(pl.col("bmpc0")),
                "%",
                pl.col("bmpc0").is_not_null(),
                "bmpc0_date",
            ),
        ],
        separator="; ",
        ignore_nulls=True,
    ).replace("", "no baseline results")


def line_frame(
    assessments: pl.DataFrame, lines: pl.DataFrame, baselines: pl.DataFrame
) -> pl.DataFrame:
    """Place each assessment in its line, add one tail row per line, and sort.

    A line's own rows are the assessments dated after ``response_from`` and before the next line
    start. Its *tail* is the first assessment on or after the next line start that carries a
    tracking value or an imaging finding: it may confirm a PD of this line (C3) or, on the very
    day of the next start, a response (C2), but it is never output for this line.

    Adds ``line``, the line's baseline columns, ``is_tail``, ``dflc`` (A-11: involved minus
    uninvolved, at least 0), ``group`` (one integer per patient and line) and ``row`` (position).
    """
    bounds = lines.select("patient_id", "line", "start_date", "next_start_date").sort("start_date")
    placed = (
        assessments.lazy()
        .sort("date")
        .join_asof(
            bounds.lazy(),
            left_on="date",
            right_on="start_date",
            by="patient_id",
            strategy="backward",
            check_sortedness=False,
        )
        .filter(
            pl.col("line").is_not_null()
            & (pl.col("next_start_date").is_null() | (pl.col("date") < pl.col("next_start_date")))
        )
        .with_columns(is_tail=pl.lit(False))
    )
    trackable = (
        pl.col("s").is_not_null()
        | pl.col("u").is_not_null()
        | pl.col("kappa").is_not_null()
        | pl.col("bmpc").is_not_null()
        | pl.col("imaging").is_not_null()
    )
    tails = (
        bounds.lazy()
        .filter(pl.col("next_start_date").is_not_null())
        .sort("next_start_date")
        .join_asof(
            assessments.lazy().filter(trackable).sort("date"),
            left_on="next_start_date",
            right_on="date",
            by="patient_id",
            strategy="forward",
            coalesce=False,
            check_sortedness=False,
        )
        .filter(pl.col("date").is_not_null())
        .with_columns(is_tail=pl.lit(True))
    )
    columns = [*assessments.columns, "line", "is_tail"]
    base = baselines.lazy().drop("start_date", "next_start_date")
    frame = (
        pl.concat([placed.select(columns), tails.select(columns)])
        .join(
            bounds.lazy().select("patient_id", "line", "start_date", "next_start_date"),
            on=["patient_id", "line"],
            how="left",
        )
        .join(base, on=["patient_id", "line"], how="left")
        .filter(pl.col("is_tail") | (pl.col("date") > pl.col("response_from")))
        .sort("patient_id", "line", "date")
    )
    involved = pl.when(pl.col("chain") == "kappa").then("kappa").otherwise("lambda")
    uninvolved = pl.when(pl.col("chain") == "kappa").then("lambda").otherwise("kappa")
    return frame.with_columns(
        dflc=pl.when(pl.col("chain").is_not_null()).then(
            pl.max_horizontal(involved - uninvolved, pl.lit(0, dtype=pl.Int64))
        ),
        group=pl.struct("patient_id", "line").rle_id(),
        row=pl.int_range(pl.len(), dtype=pl.UInt32),
    ).collect()
