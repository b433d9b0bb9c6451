"""Minimal residual disease status with its sensitivity: rules D1–D5 (``docs/criteria.md#d1``).

Every MRD result is kept with its method and sensitivity (D5). A negative result is an IMWG
MRD-negative result (D1 flow / D2 sequencing) only with NGF or NGS, a sensitivity of at least
``mrd_min_sensitivity`` (1e-5: a sensitivity *value* ≤ 1e-5) and a patient in CR or sCR at that
date. Sustained negativity (D4, marrow part) needs a second negative with the **same** method and
sensitivity at least ``mrd_sustained_days`` later and no positive result between: negatives at
1e-5 and 1e-6 are never pooled.

Sensitivities are compared as integer pico-units (``round(s × 10¹²)``), exactly like the other
thresholds.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import polars as pl

from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.course.myeloma.events import place_in_lines
from relapsewatch.course.myeloma.exact import exact_fraction
from relapsewatch.course.myeloma.rules import Criteria
from relapsewatch.course.myeloma.timepoint import RANK

__all__ = ["mrd_results"]

_PICO = 10**12
_DAY = "%Y-%m-%d"
_IMWG_METHODS = ("NGF", "NGS")


def _pico(values: pl.Expr) -> pl.Expr:
    return (values * _PICO).round(0).cast(pl.Int64)


def _sensitivity_text(values: pl.Expr) -> pl.Expr:
    """``1e-5`` for powers of ten, the plain number otherwise."""
    exponent = (-values.log10()).round(0).cast(pl.Int64)
    power_of_ten = _pico(pl.lit(10.0).pow(-exponent)) == _pico(values)
    return (
        pl.when(power_of_ten)
        .then(pl.concat_str([pl.lit("1e-"), exponent.cast(pl.String)]))
        .otherwise(values.cast(pl.String))
    )


def _python_sensitivity(value: float) -> str:
    """``1e-05`` → ``1e-5``."""
    exponent = round(-math.log10(value))
    return f"1e-{exponent}" if math.isclose(10.0**-exponent, value) else f"{value:g}"


def mrd_results(
    measurements: pl.DataFrame,
    lines: pl.DataFrame,
    frame: pl.DataFrame,
    *,
    config: MyelomaCourseConfig,
    rules: Criteria,
    as_of: date | None = None,
) -> pl.DataFrame:
    """One row per MRD result during a line, classified by the D rules.

    Parameters
    ----------
    measurements:
        Measurements encoded by :class:`~.assessments.PatientIndex`; rows with
        ``test == "mrd"`` are used.
    lines:
        The encoded lines frame (``pid, line, start_date, next_start_date``), sorted.
    frame:
        The evaluated assessment frame (for the running confirmed response, C4, at each date).

    Returns
    -------
    ``pid, group, line, date, result, method, sensitivity, category, rule, in_cr,
    sustained_since, criterion`` where ``category`` is ``mrd_negative`` (D1/D2 met),
    ``mrd_positive``, ``negative_not_in_cr``, ``negative_insufficient_sensitivity`` or
    ``negative_method_not_imwg``.
    """
    threshold = rules["D1"].threshold("sensitivity")
    limit = int(exact_fraction(threshold.value) * _PICO)
    results = measurements.filter(pl.col("test") == "mrd")
    if as_of is not None:
        results = results.filter(pl.col("date") <= as_of)
    collected = results.select(
        "pid",
        "date",
        "result",
        method=pl.col("method").str.to_uppercase().str.strip_chars(),
        sensitivity="sensitivity",
    )
    placed = place_in_lines(collected, lines, after_start=False)
    order = pl.col("group").cast(pl.Int64) * (1 << 24) + pl.col("date").cast(pl.Int64)
    responses = frame.select("group", "date", "running", "is_tail")
    if placed.height == 0:
        responses = responses.clear()  # no MRD result in any line: no response to look up
    running = (
        responses.filter(~pl.col("is_tail"))
        .select(response_key=order, running="running")
        .sort("response_key")
    )
    placed = (
        placed.with_columns(key=order)
        .sort("key")
        .join_asof(running, left_on="key", right_on="response_key", strategy="backward",
                   check_sortedness=False)
        .with_columns(
            running=pl.when((pl.col("response_key") // (1 << 24)) == pl.col("group"))
            .then("running")
        )
    )  # fmt: skip
    in_cr = pl.col("running").is_in([RANK["CR"], RANK["sCR"]]).fill_null(False)
    imwg_method = pl.col("method").is_in(_IMWG_METHODS).fill_null(False)
    sensitive = (_pico(pl.col("sensitivity")) <= limit).fill_null(False)
    negative = pl.col("result") == "negative"
    category = (
        pl.when(pl.col("result") == "positive")
        .then(pl.lit("mrd_positive"))
        .when(negative & ~imwg_method)
        .then(pl.lit("negative_method_not_imwg"))
        .when(negative & ~sensitive)
        .then(pl.lit("negative_insufficient_sensitivity"))
        .when(negative & ~in_cr)
        .then(pl.lit("negative_not_in_cr"))
        .when(negative)
        .then(pl.lit("mrd_negative"))
    )
    rule = (
        pl.when(pl.col("category") != "mrd_negative")
        .then(pl.lit(None, dtype=pl.String))
        .when(pl.col("method") == "NGF")
        .then(pl.lit("D1"))
        .otherwise(pl.lit("D2"))
    )
    classified = placed.with_columns(in_cr=in_cr, category=category).with_columns(rule=rule)
    # D4/D5: runs of negatives broken by any positive, per method and exact sensitivity
    classified = classified.sort(
        "pid", "date", "result", descending=[False, False, True]
    ).with_columns(
        run=(pl.col("result") == "positive").cast(pl.Int32).cum_sum().over("pid"),
        sensitivity_key=_pico(pl.col("sensitivity")),
    )
    first_negative = (
        pl.col("date")
        .filter(pl.col("category") == "mrd_negative")
        .min()
        .over("pid", "run", "method", "sensitivity_key")
    )
    sustained = (pl.col("category") == "mrd_negative") & (
        pl.col("date") - pl.col("first_negative") >= timedelta(days=config.mrd_sustained_days)
    )
    classified = classified.with_columns(first_negative=first_negative).with_columns(
        sustained_since=pl.when(sustained).then("first_negative"),
        rule=pl.when(sustained)
        .then(pl.concat_str([pl.col("rule"), pl.lit("+D4")]))
        .otherwise("rule"),
    )
    sensitivity = (
        pl.when(pl.col("sensitivity").is_not_null())
        .then(pl.concat_str([pl.lit(" at sensitivity "), _sensitivity_text(pl.col("sensitivity"))]))
        .otherwise(pl.lit(" with no sensitivity recorded"))
    )
    describe = {
        "mrd_negative": pl.concat_str([pl.lit(", in CR ("), pl.col("rule"), pl.lit(")")]),
        "mrd_positive": pl.lit(""),
        "negative_not_in_cr": pl.lit(", but not in confirmed CR, so not IMWG MRD negativity"),
        "negative_insufficient_sensitivity": pl.lit(
            f", less sensitive than the {_python_sensitivity(config.mrd_min_sensitivity)} IMWG "
            "requires, so not IMWG MRD negativity"
        ),
        "negative_method_not_imwg": pl.lit(
            ", by a method other than NGF or NGS, so not IMWG MRD negativity"
        ),
    }
    detail = pl.lit("")
    for name, text in describe.items():
        detail = pl.when(pl.col("category") == name).then(text).otherwise(detail)
    criterion = pl.concat_str(
        [
            pl.lit("MRD "),
            pl.col("result"),
            pl.lit(" by "),
            pl.col("method").fill_null("unknown method"),
            sensitivity,
            pl.lit(" on "),
            pl.col("date").dt.to_string(_DAY),
            detail,
            pl.when(pl.col("sustained_since").is_not_null())
            .then(
                pl.concat_str(
                    [
                        pl.lit("; sustained since "),
                        pl.col("sustained_since").dt.to_string(_DAY),
                        pl.lit(" (same method and sensitivity; marrow only, no PET/CT data)"),
                    ]
                )
            )
            .otherwise(pl.lit("")),
        ]
    )
    return (
        classified.with_columns(criterion=criterion)
        .select(
            "pid",
            "group",
            "line",
            "date",
            "result",
            "method",
            "sensitivity",
            "category",
            "rule",
            "in_cr",
            "sustained_since",
            "criterion",
        )
        .sort("pid", "date")
    )
