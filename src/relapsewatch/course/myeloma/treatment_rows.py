"""Treatment rows as the course engine reads them, and window helpers for sorted frames.

* :func:`classify_treatments` sorts every treatment row into a kind (drug, steroid, supportive
  care, transplant, apheresis, CAR-T, other procedure) and gives ongoing courses a far-future end
  (:data:`ONGOING`) so running maxima work.
* :func:`sorted_runs`, :func:`shift_in_run` and :func:`cum_max_date_in_run` compute per-group
  shifts and running maxima on a frame sorted by its group keys in one pass over the column
  (``.over()`` with a cumulative expression runs group by group, which is slow with a hundred
  thousand patients).
* :func:`asof_by_patient` is ``join_asof`` by patient that moves only the key columns, joining
  patient and date as one packed integer (:func:`patient_day`).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

__all__ = [
    "ONGOING",
    "TRANSPLANTS",
    "asof_by_patient",
    "classify_treatments",
    "cum_max_date_in_run",
    "days",
    "patient_day",
    "shift_in_run",
    "sort_by_codes",
    "sorted_runs",
]

#: Internal end date of an ongoing exposure (``end_date`` null); never leaves the engine.
ONGOING = dt.date(9999, 12, 31)
TRANSPLANTS = ("autologous_transplant", "allogeneic_transplant")


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
        pl.when(therapy.is_in(TRANSPLANTS))
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


def days(n: int) -> pl.Expr:
    """A duration of ``n`` days."""
    return pl.duration(days=n)


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


def sort_by_codes(frame: pl.DataFrame, *keys: str) -> pl.DataFrame:
    """``frame.sort(*keys)`` for keys that identify the rows, through one integer per row (rows
    with equal keys, if any, keep their order).

    Each key becomes a small code in the same order: text (or a categorical) its rank among the
    key's distinct values (an enumeration of them, sorted), an enumeration its own code, a date
    or an integer its distance from the smallest value; the codes are packed into one Int64,
    most significant key first. Sorting one integer column is several times cheaper than
    comparing text. Keys with nulls, or too wide to pack together, are sorted as they are.

    >>> f = pl.DataFrame({"patient_id": ["p2", "p1", "p2"], "line": [2, 3, 1]})
    >>> sort_by_codes(f, "patient_id", "line").rows()
    [('p1', 3), ('p2', 1), ('p2', 2)]
    """
    if frame.height < 2 or any(frame[key].null_count() for key in keys):
        return frame.sort(keys)
    packed: pl.Series | None = None
    for key in keys:
        column = frame[key]
        if column.dtype in (pl.String, pl.Categorical):
            # a categorical sorts by its text, not by its codes (which are in order of arrival)
            column = column.cast(pl.String)
            distinct = column.unique().sort()
            code = column.cast(pl.Enum(distinct)).to_physical().cast(pl.Int64)
        else:
            code = column.to_physical().cast(pl.Int64)
            code = code - code.min()
        width = int(code.max()).bit_length()  # type: ignore[arg-type]
        if packed is not None and width and packed.max() >= 1 << (63 - width):  # type: ignore[operator]
            return frame.sort(keys)
        packed = code if packed is None else packed * (1 << width) + code
    if packed is None:
        return frame
    return (
        frame.with_columns(packed.alias("__key")).sort("__key", maintain_order=True).drop("__key")
    )


def patient_day(day: pl.Expr) -> pl.Expr:
    """``patient_id`` and a date packed into one sortable integer: the patient's enumeration
    code above, the day below (``patient_id`` an enumeration, as inside :func:`derive_lines`)."""
    return pl.col("patient_id").to_physical().cast(pl.Int64) * _SHIFT + (
        day.cast(pl.Int32).cast(pl.Int64) + _DAY0
    )


def asof_by_patient(
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
    ``patient_id`` must be an enumeration: patient and date are joined as one packed integer
    (:func:`patient_day`), and a match found in another patient's rows is no match.
    """
    added = [c for c in right.columns if c != "patient_id"]
    n = left.height
    if n == 0 or right.height == 0:
        return left.with_columns(pl.lit(None, right[name].dtype).alias(name) for name in added)
    keys = (
        left.select(
            pl.int_range(n, dtype=pl.UInt32).alias("__order"),
            patient_day(pl.col(left_on)).alias("__on"),
            (
                (where if where is not None else pl.lit(True))
                & pl.col("patient_id").is_in(right["patient_id"].implode())
            ).alias("__where"),
        )
        .filter(pl.col("__where") & pl.col("__on").is_not_null())
        .drop("__where")
    )
    dated = right.with_columns(__at=patient_day(pl.col(right_on))).filter(
        pl.col("__at").is_not_null()
    )
    joined = (
        keys.sort("__on")
        .join_asof(
            dated.sort("__at"),
            left_on="__on",
            right_on="__at",
            strategy=strategy,  # type: ignore[arg-type]
            tolerance=tolerance_days,
            allow_exact_matches=exact,
            check_sortedness=False,
            coalesce=False,
        )
        .filter((pl.col("__at") // _SHIFT) == (pl.col("__on") // _SHIFT))
        .select("__order", *added)
    )
    order = joined["__order"]
    columns = [
        pl.repeat(None, n, dtype=right[name].dtype, eager=True)
        .alias(name)
        .scatter(order, joined[name])
        for name in added
    ]
    return left.with_columns(columns)
