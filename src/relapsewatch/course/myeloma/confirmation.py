"""Confirmation and best response: rules C1–C6 (``docs/criteria.md#c2``), and the
admiralonco-compatible entry point :func:`confirm_timepoint_responses`.

The engine and the oracle share :func:`confirmed_category`, the C2/C3 decision for one record
given the next non-NE record. Categories are ranks (:data:`~.timepoint.RANK`:
NE 0 < PD 1 < SD 2 < MR 3 < PR 4 < VGPR 5 < CR 6 < sCR 7).

admiralonco column names map to ours as: ``USUBJID`` → ``patient_id``, ``ADT`` → ``date``,
``AVALC`` (OVR) → ``response``, ``PDOFL`` → ``pd_other``, ``PDIFL`` → ``pd_imaging``,
``DTHPDFL`` → ``death_from_pd``, ``NACTDT`` → ``new_therapy_date``, ``RANDDT`` →
``randomisation_date``.
"""

from __future__ import annotations

import polars as pl

from relapsewatch.course.myeloma import segments
from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.course.myeloma.timepoint import CATEGORY, RANK
from relapsewatch.errors import SchemaError

__all__ = [
    "best_confirmed_responses",
    "confirm_timepoint_responses",
    "confirmed_category",
    "running_confirmed",
    "with_confirmation",
]

_NE, _PD, _SD, _MR, _CR = RANK["NE"], RANK["PD"], RANK["SD"], RANK["MR"], RANK["CR"]
#: C4 order (admiralonco ``aval_resp_conf``): PD is the top so a running max makes it absorbing.
_RUNNING_ORDER = {
    _NE: 1,
    _SD: 2,
    RANK["MR"]: 3,
    RANK["PR"]: 4,
    RANK["VGPR"]: 5,
    _CR: 6,
    RANK["sCR"]: 7,
    _PD: 8,
}
_RUNNING_RANK = {order: rank for rank, order in _RUNNING_ORDER.items()}


def confirmed_category(
    tp: pl.Expr, next_tp: pl.Expr, next_date: pl.Expr, limit_date: pl.Expr, pd_confirmed: pl.Expr
) -> pl.Expr:
    """The confirmed category of one record (C2 for responses, C3 outcome for PD).

    * NE stays NE; SD needs no confirmation;
    * a response (MR or better) followed by the same or better → itself; by a lower response or
      SD → that category; by PD, by nothing, or by a record after ``limit_date`` (the next line
      start / new anti-cancer therapy date; null means none) → SD;
    * PD → PD when ``pd_confirmed``, else NE (``pd_unconfirmed``).
    """
    beyond = next_tp.is_null() | (limit_date.is_not_null() & (next_date > limit_date))
    response = (
        pl.when(beyond | (next_tp == _PD))
        .then(pl.lit(_SD))
        .when(next_tp >= tp)
        .then(tp)
        .otherwise(next_tp)
    )
    return (
        pl.when(tp == _NE)
        .then(pl.lit(_NE))
        .when(tp == _PD)
        .then(pl.when(pd_confirmed).then(pl.lit(_PD)).otherwise(pl.lit(_NE)))
        .when(tp == _SD)
        .then(pl.lit(_SD))
        .otherwise(response)
        .cast(pl.Int8)
    )


def running_confirmed(confirmed: pl.Expr, *, group: str) -> pl.Expr:
    """C4: the running best confirmed category, confirmed PD absorbing, as a rank.

    ``group == "group"`` is the engine's numbered line column (whole-column running maximum,
    :mod:`.segments`); any other column is a window over it.
    """
    order = segments.lookup(confirmed, _RUNNING_ORDER, pl.Int8)
    if group == "group":
        running = segments.cumulative_max(order).cast(pl.Int8)
    else:
        running = order.cum_max().over(group)
    return segments.lookup(running, _RUNNING_RANK, pl.Int8)


def with_confirmation(frame: pl.DataFrame, *, config: MyelomaCourseConfig) -> pl.DataFrame:
    """Add ``conf`` (C2/C3 confirmed rank of each assessment), ``confirmed`` (bool),
    ``running`` (C4), ``flag_confirmation_late`` and ``flag_awaiting_confirmation``.

    The confirming assessment is the next evaluable one of the line (C1: a same-day duplicate is
    already one assessment); for a response it must be dated no later than the next line start.
    """
    next_tp = pl.col("tp").gather(pl.col("next_row"))
    frame = frame.with_columns(next_tp=next_tp).with_columns(
        conf=confirmed_category(
            pl.col("tp"),
            pl.col("next_tp"),
            pl.col("next_date"),
            pl.col("next_start_date"),
            pl.col("pd_confirmed"),
        ),
    )
    gap = (pl.col("next_date") - pl.col("date")).dt.total_days()
    used_next = ((pl.col("tp") >= _MR) & pl.col("next_tp").is_not_null()) | (
        pl.col("pd_confirmed_by") == "next"
    )
    return frame.with_columns(
        confirmed=(pl.col("conf") == pl.col("tp")) & (pl.col("tp") != _NE),
        running=running_confirmed(pl.col("conf"), group="group"),
        flag_confirmation_late=(used_next & (gap > config.confirmation_warn_days)).fill_null(False),
        flag_awaiting_confirmation=(pl.col("tp") >= _MR)
        & pl.col("next_row").is_null()
        & pl.col("next_start_date").is_null(),
    )


# ------------------------------------------------------------------------------------------------
# admiralonco-compatible entry point (spec §4)
# ------------------------------------------------------------------------------------------------

_ORACLE_COLUMNS = ("patient_id", "date", "response")
_FLAGS = ("pd_other", "pd_imaging", "death_from_pd")


def confirm_timepoint_responses(
    frame: pl.DataFrame, *, config: MyelomaCourseConfig | None = None
) -> pl.DataFrame:
    """Confirm investigator time-point responses as admiralonco's IMWG vignette does (COVR).

    Parameters
    ----------
    frame:
        One row per time-point response: ``patient_id``, ``date``, ``response`` (``sCR CR VGPR
        PR MR SD PD NE``) and optionally the flags ``pd_other`` (PDOFL, biochemical PD),
        ``pd_imaging`` (PDIFL), ``death_from_pd`` (DTHPDFL) as booleans and
        ``new_therapy_date`` (NACTDT).
    config:
        Only ``confirmation_warn_days`` is read (default 84).

    Returns
    -------
    The input sorted by ``patient_id, date`` with ``record_confirmed_response`` (C2/C3 for the
    record itself), ``confirmed_response`` (COVR: the running best, PD absorbing, C4) and
    ``confirmation_late`` (the confirming record is more than 84 days later).

    A PD with no flag at all is treated as biochemical PD (``pd_other``); admiralonco leaves it
    missing. As in admiralonco, the PD branch ignores ``new_therapy_date``, so a later record
    may confirm PD.

    >>> import datetime as dt
    >>> tp = pl.DataFrame({"patient_id": ["x"] * 3, "response": ["PR", "VGPR", "PD"],
    ...     "date": [dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)],
    ...     "pd_other": [None, None, True]})
    >>> confirm_timepoint_responses(tp)["confirmed_response"].to_list()
    ['PR', 'PR', 'PR']
    """
    warn_days = (config or MyelomaCourseConfig()).confirmation_warn_days
    for column in _ORACLE_COLUMNS:
        if column not in frame.columns:
            raise SchemaError(
                f"`frame` must have column '{column}', got columns {sorted(frame.columns)}; "
                "rename USUBJID -> patient_id, ADT -> date, AVALC -> response."
            )
    unknown = set(frame["response"].drop_nulls().unique()) - set(RANK)
    if unknown:
        raise SchemaError(f"`response` must be one of {', '.join(RANK)}, got {sorted(unknown)}")
    data = frame.with_columns(
        *(
            pl.col(f).cast(pl.Boolean).fill_null(False)
            if f in frame.columns
            else pl.lit(False).alias(f)
            for f in _FLAGS
        ),
        (
            pl.col("new_therapy_date")
            if "new_therapy_date" in frame.columns
            else pl.lit(None, dtype=pl.Date).alias("new_therapy_date")
        ),
        tp=pl.col("response").replace_strict(RANK, return_dtype=pl.Int8),
        _order=pl.int_range(pl.len()),
    ).sort("patient_id", "date", "_order")
    assessed = data.filter(pl.col("tp") != _NE).with_columns(
        next_tp=pl.col("tp").shift(-1).over("patient_id"),
        next_date=pl.col("date").shift(-1).over("patient_id"),
    )
    flagged = pl.col("pd_imaging") | pl.col("death_from_pd")
    pd_confirmed = flagged | (pl.col("next_tp") == _PD).fill_null(False)
    assessed = assessed.with_columns(
        conf=confirmed_category(
            pl.col("tp"),
            pl.col("next_tp"),
            pl.col("next_date"),
            pl.col("new_therapy_date"),
            pd_confirmed,
        ),
        confirmation_late=(
            ((pl.col("tp") >= _MR) | ((pl.col("tp") == _PD) & ~flagged))
            & ((pl.col("next_date") - pl.col("date")).dt.total_days() > warn_days)
        ).fill_null(False),
    )
    combined = (
        data.join(assessed.select("_order", "conf", "confirmation_late"), on="_order", how="left")
        .with_columns(pl.col("conf").fill_null(_NE), pl.col("confirmation_late").fill_null(False))
        .sort("patient_id", "date", "_order")
        .with_columns(
            record_confirmed_response=pl.col("conf").replace_strict(
                CATEGORY, return_dtype=pl.String
            ),
            confirmed_response=running_confirmed(pl.col("conf"), group="patient_id").replace_strict(
                CATEGORY, return_dtype=pl.String
            ),
        )
    )
    return combined.drop("tp", "conf", "_order")


def best_confirmed_responses(confirmed: pl.DataFrame) -> pl.DataFrame:
    """Best confirmed overall response (CBOR) and first PD date per patient, admiralonco style.

    Takes the output of :func:`confirm_timepoint_responses` and keeps records that are the worst
    of their date and on or after ``randomisation_date`` if given (ANL01FL), before
    ``new_therapy_date`` (ANL02FL) and up to the first confirmed PD (ANL03FL). The best response
    is the first record in the order sCR, CR, VGPR, PR, MR, SD, PD, NE, else ``MISSING``.

    Returns ``patient_id, best_response, best_response_date, progression_date``.
    """
    worst_first = {"PD": 1, "SD": 2, "MR": 3, "PR": 4, "VGPR": 5, "CR": 6, "sCR": 7, "NE": 8}
    best_first = {"sCR": 1, "CR": 2, "VGPR": 3, "PR": 4, "MR": 5, "SD": 6, "PD": 7, "NE": 8}
    data = confirmed.with_columns(
        _worst=pl.col("confirmed_response").replace_strict(worst_first, return_dtype=pl.Int8),
        _order=pl.int_range(pl.len()),
    )
    after_randomisation = (
        pl.col("date") >= pl.col("randomisation_date")
        if "randomisation_date" in data.columns
        else pl.lit(True)
    )
    first_pd = pl.col("date").filter(pl.col("confirmed_response") == "PD").min().over("patient_id")
    one_per_date = pl.col("_order") == pl.col("_order").sort_by("_worst").first().over(
        "patient_id", "date"
    )
    analysed = data.filter(
        one_per_date
        & after_randomisation.fill_null(False)
        & (pl.col("new_therapy_date").is_null() | (pl.col("date") < pl.col("new_therapy_date")))
        & (first_pd.is_null() | (pl.col("date") <= first_pd))
    )
    best = (
        analysed.with_columns(
            _best=pl.col("confirmed_response").replace_strict(best_first, return_dtype=pl.Int8)
        )
        .sort("patient_id", "_best", "date")
        .group_by("patient_id", maintain_order=True)
        .agg(
            best_response=pl.col("confirmed_response").first(),
            best_response_date=pl.col("date").first(),
            progression_date=pl.col("date").filter(pl.col("confirmed_response") == "PD").min(),
        )
    )
    patients = confirmed.select("patient_id").unique()
    return (
        patients.join(best, on="patient_id", how="left")
        .with_columns(pl.col("best_response").fill_null("MISSING"))
        .sort("patient_id")
    )
