"""Running operations within groups of consecutive rows, written as whole-column operations.

The response frame is sorted by ``group`` (one patient's line) and date. A window expression
``expr.over("group")`` evaluates complex expressions group by group, which is slow for hundreds
of thousands of small groups; these helpers give the same results with a handful of passes over
the whole column:

* :func:`forward_fill`: fill nulls from earlier rows of the same group only;
* :func:`previous`: the value of the row before, within the group;
* :func:`cumulative_min` / :func:`cumulative_max`: running extremes that restart at each group
  (an offset per group makes a global running extreme restart);
* :func:`broadcast`: a per-group aggregate copied to every row of the group.

``group`` must be a non-decreasing integer column numbered from 0 and below
:data:`GROUP_LIMIT`; values of running extremes must be in ``[0, VALUE_LIMIT)`` (micro-units:
up to about a million canonical units). The products then stay inside Int64.

>>> import polars as pl
>>> f = pl.DataFrame({"group": [0, 0, 0, 1, 1], "x": [5, None, 3, None, 7]})
>>> f.select(forward_fill(pl.col("x"))).to_series().to_list()
[5, 5, 3, None, 7]
>>> f.select(cumulative_min(pl.col("x"))).to_series().to_list()
[5, None, 3, None, 7]
>>> f.select(previous(pl.col("x"))).to_series().to_list()
[None, 5, None, None, None]
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

__all__ = [
    "GROUP_LIMIT",
    "VALUE_LIMIT",
    "broadcast",
    "cumulative_max",
    "cumulative_min",
    "forward_fill",
    "index_size",
    "lookup",
    "nulls",
    "previous",
]

#: Values passed to the running extremes must be in ``[0, VALUE_LIMIT)``.
VALUE_LIMIT = 1 << 40
#: At most this many groups (patient-lines) per frame.
GROUP_LIMIT = 1 << 22
_GROUP = pl.col("group")


def forward_fill(values: pl.Expr, group: pl.Expr = _GROUP) -> pl.Expr:
    """Nulls filled with the last non-null value of the same group (else null)."""
    source = pl.when(values.is_not_null()).then(group).forward_fill()
    return pl.when(source == group).then(values.forward_fill())


def previous(values: pl.Expr, group: pl.Expr = _GROUP) -> pl.Expr:
    """The value of the preceding row when it is in the same group (else null)."""
    return pl.when(group.shift(1) == group).then(values.shift(1))


def cumulative_min(values: pl.Expr, group: pl.Expr = _GROUP) -> pl.Expr:
    """Running minimum restarting at each group; null rows stay null.

    Group ``g`` is lifted by ``(last group − g) × VALUE_LIMIT``, so every value of a later group
    is below every value of the earlier ones and the global running minimum restarts.
    """
    lift = (group.max() - group).cast(pl.Int64) * VALUE_LIMIT
    return (values.cast(pl.Int64) + lift).cum_min() - lift


def cumulative_max(values: pl.Expr, group: pl.Expr = _GROUP) -> pl.Expr:
    """Running maximum restarting at each group; null rows stay null."""
    lift = group.cast(pl.Int64) * VALUE_LIMIT
    return (values.cast(pl.Int64) + lift).cum_max() - lift


def index_size(*indices: pl.Series) -> int:
    """One more than the largest index in ``indices`` (0 when all are empty): the length of a
    lookup table addressed by them."""
    largest = -1
    for index in indices:
        value = index.max()
        if isinstance(value, int):
            largest = max(largest, value)
    return largest + 1


def lookup(
    codes: pl.Expr, table: Mapping[int, object], dtype: pl.DataType | type[pl.DataType]
) -> pl.Expr:
    """``table[code]`` for small non-negative integer codes (null for a null code or one not in
    ``table``), as a gather from a short literal column: ``replace_strict`` with a mapping
    hashes every value, several times slower on a column of a million rows.

    >>> pl.DataFrame({"c": [2, None, 0]}).select(
    ...     lookup(pl.col("c"), {0: "NE", 2: "SD"}, pl.String)).to_series().to_list()
    ['SD', None, 'NE']
    """
    values = [table.get(code) for code in range(max(table) + 1)]
    return pl.lit(pl.Series(values, dtype=dtype)).gather(codes)


def nulls(name: str, size: int, dtype: pl.DataType | type[pl.DataType]) -> pl.Series:
    """A column of ``size`` nulls (to fill by ``scatter``)."""
    return pl.repeat(None, size, dtype=dtype, eager=True).alias(name)


def broadcast(frame: pl.DataFrame, aggregate: pl.Expr, *, name: str) -> pl.Series:
    """``aggregate`` computed per group and copied to each row of the group (like
    ``aggregate.over("group")``, through a group-by and a gather)."""
    size = index_size(frame["group"])
    per_group = frame.group_by("group").agg(aggregate.alias(name))
    dtype = per_group.schema[name]
    lookup = nulls(name, size, dtype)
    if per_group.height:
        lookup = lookup.scatter(per_group["group"], per_group[name])
    return lookup.gather(frame["group"])
