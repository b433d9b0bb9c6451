"""Relapse numbering (spec §2.7, rules K1–K4).

A progression event is a confirmed IMWG progression (P1–P6, confirmed per C3) or an adjudicated
clinical relapse supplied as a finding (X3). Each line interval ``[line_k start, line_k+1 start)``
counts at most its first event; the k-th counted event is relapse k. Relapse from CR or from MRD
negativity (X1, X2) is recorded elsewhere and never counts here. Line number and relapse number
are independent (K4): a line changed without progression does not move the relapse number.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from relapsewatch.course.myeloma.config import MyelomaCourseConfig

__all__ = [
    "RELAPSES",
    "RELAPSE_RULES",
    "RelapseRule",
    "derive_relapses",
    "progression_events",
    "relapse_label",
    "relapse_number_at",
]

_DEFAULT = MyelomaCourseConfig()


@dataclass(frozen=True, slots=True)
class RelapseRule:
    """One relapse-numbering rule, printable and citable."""

    code: str
    rule: str
    source: str


_SPEC = "shared/domain/myeloma-course.md §2.7"

RELAPSE_RULES: tuple[RelapseRule, ...] = (
    RelapseRule(
        "K1",
        "A progression event is a confirmed IMWG progression or a clinical relapse "
        "recorded by the care team; relapse from CR or MRD alone does not count.",
        _SPEC + "; Kumar et al. Lancet Oncol 2016",
    ),
    RelapseRule("K2", "Each line interval counts at most its first progression event.", _SPEC),
    RelapseRule(
        "K3",
        "The k-th counted event is relapse k; labels NDMM, 1st relapse, 2nd relapse, 3rd+ relapse.",
        _SPEC,
    ),
    RelapseRule(
        "K4",
        "Line number and relapse number are independent; relapse number at each "
        "line start is reported for line-based comparisons.",
        _SPEC,
    ),
)

#: Columns of the ``relapses`` table (DESIGN.md "Derived tables").
RELAPSES: dict[str, pl.DataType] = {
    "patient_id": pl.String(),
    "relapse_number": pl.Int32(),
    "date": pl.Date(),
    "confirmed_date": pl.Date(),
    "line": pl.Int32(),
    "kind": pl.String(),
    "criterion": pl.String(),
    "primary_refractory": pl.Boolean(),
}

_EVENTS: dict[str, pl.DataType] = {
    "patient_id": pl.String(),
    "date": pl.Date(),
    "confirmed_date": pl.Date(),
    "line": pl.Int32(),
    "kind": pl.String(),
    "rule": pl.String(),
    "criterion": pl.String(),
}


def relapse_label(number: pl.Expr) -> pl.Expr:
    """K3 disease-status label for a count of relapses.

    >>> pl.select(relapse_label(pl.Series([0, 1, 2, 3, 7]))).to_series().to_list()
    ['NDMM', '1st relapse', '2nd relapse', '3rd+ relapse', '3rd+ relapse']
    """
    return (
        pl.when(number <= 0)
        .then(pl.lit("NDMM"))
        .when(number == 1)
        .then(pl.lit("1st relapse"))
        .when(number == 2)
        .then(pl.lit("2nd relapse"))
        .otherwise(pl.lit("3rd+ relapse"))
    )


def _fmt(date: pl.Expr) -> pl.Expr:
    return date.dt.strftime("%Y-%m-%d")


def progression_events(
    progression: pl.DataFrame,
    findings: pl.DataFrame,
    lines: pl.DataFrame,
    *,
    config: MyelomaCourseConfig = _DEFAULT,
) -> pl.DataFrame:
    """K1: every progression event, with the line interval it falls in and readable evidence.

    Parameters
    ----------
    progression:
        Confirmed progression from the response engine: ``patient_id, line, date,
        confirmed_date, criterion, rule``.
    findings:
        Canonical findings; rows with ``finding == "clinical_relapse"`` are adjudicated clinical
        relapses (used when ``config.clinical_relapse_is_progression``).
    lines:
        ``patient_id, line, start_date`` (line intervals for clinical relapses).

    Returns
    -------
    pl.DataFrame
        ``patient_id, date, confirmed_date, line, kind, rule, criterion`` sorted by patient and
        date; events before the first line are dropped (nothing to relapse from).
    """
    pd_events = progression.select(
        "patient_id",
        "date",
        pl.coalesce("confirmed_date", "date").alias("confirmed_date"),
        pl.col("line").cast(pl.Int32),
        pl.lit("progression").alias("kind"),
        pl.col("rule").cast(pl.String),
        # The response engine's evidence usually names the confirming result already.
        pl.when(
            pl.col("confirmed_date").is_not_null()
            & (pl.col("confirmed_date") != pl.col("date"))
            & ~pl.col("criterion").str.contains("confirmed", literal=True).fill_null(False)
        )
        .then(
            pl.format(
                "{}; confirmed by the next result on {}",
                pl.col("criterion"),
                _fmt(pl.col("confirmed_date")),
            )
        )
        .otherwise(pl.col("criterion").cast(pl.String))
        .alias("criterion"),
    )
    frames = [pd_events]
    if config.clinical_relapse_is_progression and findings.height:
        clinical = findings.filter(pl.col("finding") == "clinical_relapse").select(
            "patient_id",
            "date",
            pl.col("date").alias("confirmed_date"),
            pl.lit("clinical").alias("kind"),
            pl.lit("X3").alias("rule"),
            pl.when(pl.col("detail").is_not_null() & (pl.col("detail").str.strip_chars() != ""))
            .then(
                pl.format(
                    "clinical relapse recorded by the care team on {}: {}",
                    _fmt(pl.col("date")),
                    pl.col("detail").str.strip_chars(),
                )
            )
            .otherwise(
                pl.format("clinical relapse recorded by the care team on {}", _fmt(pl.col("date")))
            )
            .alias("criterion"),
        )
        starts = lines.select("patient_id", "start_date", pl.col("line").cast(pl.Int32)).sort(
            "start_date"
        )
        clinical = (
            clinical.sort("date")
            .join_asof(
                starts,
                left_on="date",
                right_on="start_date",
                by="patient_id",
                check_sortedness=False,
            )
            .drop("start_date")
        )
        frames.append(clinical.select(list(_EVENTS)))
    events = pl.concat([f.cast(_EVENTS) for f in frames])  # type: ignore[arg-type]
    return (
        events.filter(pl.col("line").is_not_null())
        .unique(["patient_id", "date", "kind"], keep="first")
        .sort("patient_id", "date", pl.col("kind") != "progression", "line")
    )


def derive_relapses(events: pl.DataFrame, first_response: pl.DataFrame) -> pl.DataFrame:
    """K2–K3: the counted relapses, one per line interval at most.

    Parameters
    ----------
    events:
        From :func:`progression_events`.
    first_response:
        ``patient_id, first_response_date``: the date of the first confirmed response of MR or
        better (null or absent if never reached). An event before it is primary refractory.

    Examples
    --------
    >>> import datetime as dt
    >>> d = dt.date
    >>> ev = pl.DataFrame({"patient_id": ["p", "p", "p"],
    ...     "date": [d(2024, 5, 1), d(2024, 6, 1), d(2025, 1, 6)],
    ...     "confirmed_date": [d(2024, 6, 3), d(2024, 6, 1), d(2025, 2, 3)],
    ...     "line": [1, 1, 2], "kind": ["progression", "clinical", "progression"],
    ...     "rule": ["P1", "X3", "P1"], "criterion": ["a", "b", "c"]})
    >>> fr = pl.DataFrame({"patient_id": ["p"], "first_response_date": [d(2024, 3, 1)]})
    >>> derive_relapses(ev, fr).select("relapse_number", "line", "primary_refractory").rows()
    [(1, 1, False), (2, 2, False)]
    """
    counted = events.sort("patient_id", "date", pl.col("kind") != "progression").unique(
        ["patient_id", "line"], keep="first", maintain_order=True
    )
    return (
        counted.join(
            first_response.select("patient_id", "first_response_date"), on="patient_id", how="left"
        )
        .with_columns(
            relapse_number=(pl.int_range(pl.len()).over("patient_id") + 1).cast(pl.Int32),
            primary_refractory=~(pl.col("first_response_date") < pl.col("date")).fill_null(False),
        )
        .select(list(RELAPSES))
        .cast(RELAPSES)  # type: ignore[arg-type]
        .sort("patient_id", "relapse_number")
    )


def relapse_number_at(
    relapses: pl.DataFrame, points: pl.DataFrame, *, on: str, strict: bool = True
) -> pl.Series:
    """Number of counted relapses dated before (``strict``) or on ``points[on]``, per row.

    Used for ``relapse_number_at_line_start`` (K4, strictly before the line start) and for the
    status as of a date (on or before it).
    """
    counts = relapses.select(
        "patient_id", pl.col("date").alias("__d"), pl.col("relapse_number").alias("__n")
    ).sort("__d")
    joined = (
        points.select("patient_id", on)
        .with_row_index("__i")
        .sort(on)
        .join_asof(
            counts,
            left_on=on,
            right_on="__d",
            by="patient_id",
            allow_exact_matches=not strict,
            check_sortedness=False,
        )
        .sort("__i")
    )
    return joined["__n"].fill_null(0).cast(pl.Int32)
