"""Unit conversion: every conversion of spec §1.2, exact where the factor is exact."""

from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from relapsewatch.errors import UnitError
from relapsewatch.vocab.units import conversion_factor, convert, normalise_unit_text

# (test, reported unit, exact factor to the canonical unit), spec §1.2.
EXACT = [
    ("serum_m_protein", "g/dL", "1"),
    ("serum_m_protein", "g/L", "0.1"),  # g/L ÷ 10
    ("serum_m_protein", "mg/dL", "0.001"),  # mg/dL ÷ 1000
    ("urine_m_protein", "mg/24h", "1"),
    ("urine_m_protein", "g/24h", "1000"),  # g/24 h × 1000
    ("urine_m_protein", "mg/24 h", "1"),
    ("flc_kappa", "mg/L", "1"),
    ("flc_kappa", "mg/dL", "10"),  # mg/dL × 10
    ("flc_lambda", "mg/dL", "10"),
    ("bm_plasma_cells", "%", "1"),
    ("calcium", "mg/dL", "1"),
    ("hemoglobin", "g/L", "0.1"),  # g/L ÷ 10
    ("hemoglobin", "g/dL", "1"),
    ("creatinine", "mg/dL", "1"),
]

# Conversions through a molar mass: the spec states rounded factors (§1.2, §5.1 U5).
MOLAR = [
    ("calcium", "mmol/L", Decimal("4.008")),  # mmol/L × 4.008
    ("creatinine", "umol/L", 1 / Decimal("88.4")),  # µmol/L ÷ 88.4
    ("creatinine", "µmol/L", 1 / Decimal("88.4")),
    ("hemoglobin", "mmol/L", Decimal("1.611")),  # mmol/L × 1.611
]


@pytest.mark.parametrize(("test", "unit", "factor"), EXACT)
def test_exact_factor_is_exact(test: str, unit: str, factor: str) -> None:
    assert conversion_factor(test, unit) == Decimal(factor)


@pytest.mark.parametrize(("test", "unit", "spec_factor"), MOLAR)
def test_molar_conversion_matches_spec_factor(test: str, unit: str, spec_factor: Decimal) -> None:
    got = conversion_factor(test, unit)
    # 0.05 % tolerance: the spec rounds to 4 significant figures; a x10 error is far outside.
    assert abs(got - spec_factor) / spec_factor < Decimal("0.0005")


def test_worked_thresholds_of_spec_convert_as_stated() -> None:
    # §5.1 U5: 11 mg/dL = 2.74 mmol/L; creatinine 2 mg/dL = 177 umol/L.
    assert round(Decimal("2.74") * conversion_factor("calcium", "mmol/L"), 1) == Decimal("11.0")
    assert round(Decimal("177") * conversion_factor("creatinine", "umol/L"), 2) == Decimal("2.00")


@pytest.mark.parametrize(
    ("test", "unit", "why"),
    [
        ("flc_ratio", "mg/L", "ratio"),
        ("urine_m_protein", "mg/dL", "24-hour"),
        ("serum_m_protein", "g", "g/dL"),
        ("serum_ife", "g/dL", "qualitative"),
        ("serum_m_protein", "blorp", "unknown unit"),
        ("calcium", "g", "mg/dL"),
    ],
)
def test_impossible_unit_is_an_error_that_says_why(test: str, unit: str, why: str) -> None:
    with pytest.raises(UnitError, match=why):
        conversion_factor(test, unit)


@pytest.mark.parametrize("unit", [None, "", "  "])
def test_missing_unit_is_an_error_not_a_default(unit: str | None) -> None:
    with pytest.raises(UnitError, match="never guessed"):
        conversion_factor("serum_m_protein", unit)


def test_unitless_ratio_accepts_no_unit() -> None:
    assert conversion_factor("flc_ratio", "") == 1
    assert conversion_factor("flc_ratio", "ratio") == 1


def test_unit_spellings_normalise() -> None:
    assert normalise_unit_text("g/24hr") == "g/day"
    assert normalise_unit_text("μmol/l") == "umol/L"


@given(st.decimals(min_value=0, max_value=100000, places=3, allow_nan=False))
def test_g_per_l_to_g_per_dl_is_exact_at_six_places(value: Decimal) -> None:
    frame = pl.DataFrame({"v": [float(value)]})
    got = frame.select(
        convert(pl.col("v"), pl.lit(float(conversion_factor("serum_m_protein", "g/L"))))
    ).item()
    assert Decimal(str(got)) == value / 10


@given(st.decimals(min_value=0, max_value=1000, places=2, allow_nan=False))
def test_flc_mg_dl_and_mg_l_describe_the_same_amount(value: Decimal) -> None:
    frame = pl.DataFrame({"v": [float(value)]})
    in_mg_l = frame.select(convert(pl.col("v"), pl.lit(10.0))).item()
    assert Decimal(str(in_mg_l)) == value * 10


@pytest.mark.parametrize("unit", ["(", "g/(dL", "mg/dL)", '"', "**", "g dL dL ("])
def test_text_that_is_not_a_unit_is_an_unknown_unit(unit: str) -> None:
    with pytest.raises(UnitError, match="unknown unit"):
        conversion_factor("serum_m_protein", unit)


def test_canonical_units_convert_by_one_without_building_pint() -> None:
    # a run whose results are all in canonical units never pays for pint's registry (0.45 s
    # in each worker); the factor is the one pint gives
    from relapsewatch.vocab import units
    from relapsewatch.vocab.analytes import ANALYTES

    canonical = {a.name: a.canonical_unit for a in ANALYTES.values() if a.canonical_unit}
    assert canonical, "the analytes have canonical units"
    conversion_factor.cache_clear()
    units._registry.cache_clear()
    assert {
        test: conversion_factor(test, unit) for test, unit in canonical.items()
    } == dict.fromkeys(canonical, Decimal(1))
    assert units._registry.cache_info().currsize == 0
    registry = units._registry()
    for unit in canonical.values():
        text = normalise_unit_text(unit)
        assert registry.Quantity(Decimal(1), text).to(text).magnitude == 1
