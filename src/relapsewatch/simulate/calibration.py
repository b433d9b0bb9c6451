"""Calibration figures of a virtual cohort, computed from its truth tables (pure functions).

* median progression-free time per line (Kaplan-Meier; event = the line's true progression,
  IMWG on the noiseless series or clinical, or death; censored at a line change without
  progression, loss to follow-up and the data cut-off), and median time to next treatment;
* the share of patients reaching each line;
* the M-protein doubling time at relapse (``ln 2 / ρ_r`` of lines that progressed).
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numpy.typing import NDArray

from relapsewatch.schema import require_columns

__all__ = ["DAYS_PER_MONTH", "kaplan_meier_median", "line_summary"]

DAYS_PER_MONTH = 365.25 / 12

_NEEDED = (
    "patient_id",
    "line",
    "start_date",
    "progression_date",
    "end_date",
    "end_reason",
    "next_line_start_date",
    "doubling_time_days",
)


def kaplan_meier_median(durations: NDArray[np.float64], events: NDArray[np.bool_]) -> float:
    """Median of the Kaplan-Meier estimate (``nan`` if the curve never reaches 0.5).

    >>> kaplan_meier_median(np.array([1.0, 2.0, 3.0, 4.0]), np.array([True, True, True, True]))
    2.0
    >>> kaplan_meier_median(np.array([1.0, 2.0, 3.0]), np.array([True, False, False]))
    nan
    """
    if durations.size == 0:
        return float("nan")
    order = np.lexsort((~events, durations))  # events before censorings at equal times
    times = durations[order]
    happened = events[order]
    at_risk = durations.size - np.arange(durations.size)
    survival = np.cumprod(np.where(happened, 1.0 - 1.0 / at_risk, 1.0))
    below = np.nonzero(survival <= 0.5)[0]
    return float(times[below[0]]) if below.size else float("nan")


def line_summary(truth_lines: pl.DataFrame, *, patients: int | None = None) -> pl.DataFrame:
    """Per line: patients, share reaching it, median PFS and TTNT (months), doubling time.

    ``patients`` is the cohort size (default: patients with at least one line).
    """
    require_columns(truth_lines, _NEEDED, table="truth_lines")
    total = patients or truth_lines["patient_id"].n_unique()
    rows = []
    for line in sorted(truth_lines["line"].unique().to_list()):
        part = truth_lines.filter(pl.col("line") == line)
        start = part["start_date"].to_physical().to_numpy().astype(np.float64)
        progression = part["progression_date"].to_physical().to_numpy().astype(np.float64)
        end = part["end_date"].to_physical().to_numpy().astype(np.float64)
        died = (part["end_reason"] == "death").to_numpy()
        next_start = part["next_line_start_date"].to_physical().to_numpy().astype(np.float64)
        progressed = ~np.isnan(progression)
        pfs_end = np.where(progressed, progression, end)
        pfs_event = progressed | died
        ttnt_end = np.where(np.isnan(next_start), end, next_start)
        ttnt_event = ~np.isnan(next_start) | died
        doubling = part.filter(pl.col("progression_date").is_not_null())["doubling_time_days"]
        rows.append(
            {
                "line": line,
                "patients": part.height,
                "share_reaching": part.height / total,
                "median_pfs_months": kaplan_meier_median(pfs_end - start, pfs_event)
                / DAYS_PER_MONTH,
                "median_ttnt_months": kaplan_meier_median(ttnt_end - start, ttnt_event)
                / DAYS_PER_MONTH,
                "progressions": int(progressed.sum()),
                "median_doubling_months": float(doubling.median()) / DAYS_PER_MONTH  # type: ignore[arg-type]
                if doubling.len()
                else float("nan"),
            }
        )
    return pl.DataFrame(rows)
