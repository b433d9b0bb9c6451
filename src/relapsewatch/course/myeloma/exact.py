"""Exact threshold comparisons for the response criteria.

IMWG thresholds are decimal numbers (0.5 g/dL, 25 %, 1.65). Binary floating point cannot hold most
of them, so ``1.4 - 0.9 >= 0.5`` is ``False`` in float arithmetic. The engine therefore compares
on **integer micro-units**: every canonical value (already rounded to 6 decimal places by the
readers) becomes ``round(value × 10⁶)`` as ``Int64``, and every threshold becomes an exact integer
or fraction. Percentages are compared by cross-multiplication, never by division::

    red(x) ≥ 50 %   ⇔   (x0 − x) · 100 · q  ≥  p · x0        for 50 = p / q

The products run in ``Int64`` when operands below :data:`OPERAND_LIMIT` (about two million
canonical units) times the threshold's factors cannot overflow, else in ``Int128``. Display
strings are built from the same integers, so what a nurse reads is exactly what was compared.

>>> import polars as pl
>>> frame = pl.DataFrame({"nadir": [0.9], "value": [1.4]}).select(
...     nadir=to_micro(pl.col("nadir")), value=to_micro(pl.col("value")))
>>> frame.select(compare(pl.col("value") - pl.col("nadir"), ">=", micro("0.5"))).item()
True
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Literal

import polars as pl

__all__ = [
    "MICRO",
    "OPERAND_LIMIT",
    "Op",
    "compare",
    "exact_fraction",
    "format_micro",
    "format_percent",
    "micro",
    "percent_compare",
    "ratio_compare",
    "to_micro",
]

#: Scale of the integer units: 1 canonical unit = 1,000,000 micro-units.
MICRO = 1_000_000

Op = Literal[">=", ">", "<=", "<"]

_SYMBOLS: dict[str, str] = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}


def exact_fraction(value: float | int | str | Decimal | Fraction) -> Fraction:
    """The decimal a person wrote, as an exact fraction (``0.1`` is 1/10, not 0x3FB999…).

    >>> exact_fraction(1.65)
    Fraction(33, 20)
    >>> exact_fraction("25")
    Fraction(25, 1)
    """
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float):
        value = repr(value)
    return Fraction(Decimal(str(value)))


def micro(value: float | int | str | Decimal | Fraction) -> int:
    """A threshold in micro-units, exactly.

    >>> micro(0.5), micro("1.0"), micro(100)
    (500000, 1000000, 100000000)
    """
    scaled = exact_fraction(value) * MICRO
    if scaled.denominator != 1:
        rounded = Decimal(scaled.numerator) / Decimal(scaled.denominator)
        return int(rounded.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    return int(scaled)


def to_micro(values: pl.Expr) -> pl.Expr:
    """Canonical values (Float64, ≤ 6 decimal places) as Int64 micro-units.

    ``1.4`` is stored as ``1.39999999999999991…``; × 10⁶ and rounding gives exactly 1,400,000.
    """
    return (values * MICRO).round(0).cast(pl.Int64)


def _apply(lhs: pl.Expr, op: Op, rhs: pl.Expr | int) -> pl.Expr:
    if op == ">=":
        return lhs >= rhs
    if op == ">":
        return lhs > rhs
    if op == "<=":
        return lhs <= rhs
    if op == "<":
        return lhs < rhs
    raise ValueError(f"`op` must be one of >=, >, <=, <, got {op!r}")


def compare(lhs: pl.Expr, op: Op, threshold_micro: int) -> pl.Expr:
    """``lhs op threshold`` on micro-units (both sides integers)."""
    return _apply(lhs, op, threshold_micro)


#: Operands of the cross-multiplications are micro-unit values below this bound (the engine
#: checks its inputs against it); with small factors the products then fit in Int64.
OPERAND_LIMIT = 1 << 41


def _product_type(*factors: int) -> type[pl.DataType]:
    """Int64 when ``OPERAND_LIMIT × factor`` cannot overflow it, else Int128 (slower)."""
    if max(abs(f) for f in factors) * OPERAND_LIMIT < (1 << 63):
        return pl.Int64
    return pl.Int128


def percent_compare(part: pl.Expr, whole: pl.Expr, op: Op, percent: Fraction) -> pl.Expr:
    """``part / whole × 100  op  percent`` by cross-multiplication (``whole`` ≥ 0).

    * a reduction from baseline: ``part = x0 − x``, ``whole = x0``;
    * a relative rise over the nadir: ``part = x − nadir``, ``whole = nadir``. With a nadir of 0
      every rise meets the relative part, as the specification says (``rel`` with ``x_nad = 0``).

    >>> import polars as pl
    >>> f = pl.DataFrame({"x0": [3_500_000], "x": [350_000]})
    >>> f.select(percent_compare(pl.col("x0") - pl.col("x"), pl.col("x0"), ">=",
    ...                          exact_fraction(90))).item()
    True
    """
    dtype = _product_type(100 * percent.denominator, percent.numerator)
    lhs = part.cast(dtype) * (100 * percent.denominator)
    rhs = whole.cast(dtype) * percent.numerator
    return _apply(lhs, op, rhs)


def ratio_compare(numerator: pl.Expr, denominator: pl.Expr, op: Op, ratio: Fraction) -> pl.Expr:
    """``numerator / denominator  op  ratio`` by cross-multiplication (``denominator`` > 0).

    Used for the κ/λ ratio against 0.26 and 1.65 without forming the ratio.
    """
    dtype = _product_type(ratio.denominator, ratio.numerator)
    lhs = numerator.cast(dtype) * ratio.denominator
    rhs = denominator.cast(dtype) * ratio.numerator
    return _apply(lhs, op, rhs)


def format_micro(values: pl.Expr) -> pl.Expr:
    """Micro-units as the shortest exact decimal string (``1400000`` → ``"1.4"``).

    >>> import polars as pl
    >>> pl.DataFrame({"v": [1_400_000, 500_000, 0, 1_240_000_000, -600_000]}).select(
    ...     format_micro(pl.col("v"))).to_series().to_list()
    ['1.4', '0.5', '0', '1240', '-0.6']
    """
    magnitude = values.abs()
    remainder = magnitude % MICRO
    # the six decimals with their leading zeros are the digits of 1_000_000 + remainder after
    # the first; each intermediate is read once (eager Polars would compute a shared one again)
    decimals = (remainder + MICRO).cast(pl.String).str.slice(1).str.strip_chars_end("0")
    fraction = pl.when(remainder != 0).then(pl.concat_str([pl.lit("."), decimals]))
    sign = pl.when(values < 0).then(pl.lit("-"))
    whole = (magnitude // MICRO).cast(pl.String)
    return pl.when(values.is_not_null()).then(
        pl.concat_str([sign, whole, fraction], ignore_nulls=True)
    )


def format_percent(part: pl.Expr, whole: pl.Expr) -> pl.Expr:
    """``part / whole × 100`` rounded to one decimal for display only (``"75"``, ``"16.7"``).

    Null when ``whole`` is 0.

    >>> import polars as pl
    >>> pl.DataFrame({"p": [1, 5], "w": [6, 0]}).select(format_percent(pl.col("p"), pl.col("w"))
    ...     ).to_series().to_list()
    ['16.7', None]
    """
    ratio = pl.when(whole != 0).then(part.cast(pl.Float64) * 1000 / whole.cast(pl.Float64))
    tenths = ratio.round(0).cast(pl.Int64)
    return format_micro(tenths * (MICRO // 10))


def symbol(op: Op) -> str:
    """The mathematical symbol of a comparison (``">="`` → ``"≥"``)."""
    return _SYMBOLS[op]
