"""Exact threshold comparisons (integer micro-units, cross-multiplied percentages) agree with
rational arithmetic on the decimals a lab reports."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from relapsewatch.course.myeloma.exact import (
    OPERAND_LIMIT,
    compare,
    exact_fraction,
    format_micro,
    micro,
    percent_compare,
    ratio_compare,
    to_micro,
)

# canonical values: at most 6 decimal places, as the readers round them
values = st.decimals(min_value=Decimal(0), max_value=Decimal(100_000), places=6,
                     allow_nan=False, allow_infinity=False)  # fmt: skip
percents = st.sampled_from([Decimal(p) for p in ("25", "50", "90", "12.5", "33.3", "1.65")])
ops = st.sampled_from([">=", ">", "<=", "<"])


def _holds(lhs: Fraction, op: str, rhs: Fraction) -> bool:
    return {">=": lhs >= rhs, ">": lhs > rhs, "<=": lhs <= rhs, "<": lhs < rhs}[op]


def _as_micro(*numbers: Decimal) -> pl.DataFrame:
    """The numbers as canonical Float64 values, converted the way the engine does."""
    frame = pl.DataFrame({f"v{i}": [float(n)] for i, n in enumerate(numbers)})
    return frame.select(to_micro(pl.col(c)) for c in frame.columns)


def test_the_float_trap_of_the_specification() -> None:
    assert 1.4 - 0.9 < 0.5  # binary floating point
    frame = _as_micro(Decimal("0.9"), Decimal("1.4"))
    assert frame.select(compare(pl.col("v1") - pl.col("v0"), ">=", micro("0.5"))).item()


@settings(max_examples=300, deadline=None)
@given(value=values, nadir=values, threshold=values, op=ops)
def test_absolute_rise_matches_rational_arithmetic(
    value: Decimal, nadir: Decimal, threshold: Decimal, op: str
) -> None:
    frame = _as_micro(value, nadir)
    got = frame.select(compare(pl.col("v0") - pl.col("v1"), op, micro(threshold))).item()  # type: ignore[arg-type]
    assert got == _holds(Fraction(value) - Fraction(nadir), op, Fraction(threshold))


@settings(max_examples=300, deadline=None)
@given(baseline=values, value=values, percent=percents, op=ops)
def test_percent_reduction_matches_rational_arithmetic(
    baseline: Decimal, value: Decimal, percent: Decimal, op: str
) -> None:
    frame = _as_micro(baseline, value)
    expr = percent_compare(pl.col("v0") - pl.col("v1"), pl.col("v0"), op, exact_fraction(percent))  # type: ignore[arg-type]
    got = frame.select(expr).item()
    # (x0 − x) / x0 × 100 op p, written without division (x0 may be 0)
    lhs = (Fraction(baseline) - Fraction(value)) * 100
    assert got == _holds(lhs, op, Fraction(percent) * Fraction(baseline))


@settings(max_examples=300, deadline=None)
@given(kappa=values, lam=values.filter(lambda v: v > 0), ratio=percents, op=ops)
def test_ratio_compare_matches_rational_arithmetic(
    kappa: Decimal, lam: Decimal, ratio: Decimal, op: str
) -> None:
    frame = _as_micro(kappa, lam)
    got = frame.select(ratio_compare(pl.col("v0"), pl.col("v1"), op, exact_fraction(ratio))).item()  # type: ignore[arg-type]
    assert got == _holds(Fraction(kappa) / Fraction(lam), op, Fraction(ratio))


@settings(max_examples=200, deadline=None)
@given(value=st.integers(min_value=-(OPERAND_LIMIT - 1), max_value=OPERAND_LIMIT - 1))
def test_display_strings_are_the_exact_decimal(value: int) -> None:
    text = pl.DataFrame({"v": [value]}).select(format_micro(pl.col("v"))).item()
    assert Decimal(text) * 1_000_000 == value
    assert not text.endswith(".") and (text == "0" or not text.endswith("0") or "." not in text)


def test_thresholds_as_written_are_exact_fractions() -> None:
    assert exact_fraction(0.1) == Fraction(1, 10)
    assert micro(1.65) == 1_650_000
    assert micro("0.0000005") == 0  # half to even below a micro-unit
