"""Analytes and LOINC codes of spec §5.2, mapped both ways."""

import polars as pl
import pytest

from relapsewatch.vocab.analytes import ANALYTES, LOINC, analyte_for, analyte_lookup_frame


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("33358-3", "serum_m_protein"),
        ("25700-6", "serum_ife"),
        ("36916-5", "flc_kappa"),
        ("33944-0", "flc_lambda"),
        ("48378-4", "flc_ratio"),
        ("40844-3", "flc_ratio"),  # deprecated but still used (§5.2)
        ("17861-6", "calcium"),
        ("2000-8", "calcium"),
        ("2160-0", "creatinine"),
        ("718-7", "hemoglobin"),
        ("93021-4", "mrd"),
    ],
)
def test_loinc_maps_to_canonical_name(code: str, name: str) -> None:
    assert LOINC[code] == name
    assert analyte_for(code) is ANALYTES[name]


def test_names_map_back_to_their_codes() -> None:
    for name, analyte in ANALYTES.items():
        for code in analyte.loinc:
            assert LOINC[code.code] == name


def test_the_fake_lambda_code_is_not_mapped() -> None:
    # §5.2: 33944-8 is not a real code.
    assert analyte_for("33944-8") is None


def test_unconfirmed_codes_are_marked() -> None:
    urine = ANALYTES["urine_m_protein"].loinc[0]
    assert urine.code == "42482-0" and urine.confirmed is False


def test_a_ratio_code_never_maps_to_a_concentration() -> None:
    for code in ("48378-4", "40844-3"):
        assert ANALYTES[LOINC[code]].unitless


def test_lookup_frame_maps_distinct_values_and_marks_unknown() -> None:
    lookup = analyte_lookup_frame(pl.Series(["33358-3", "SPEP", "33358-3", "cholesterol", None]))
    assert dict(lookup.iter_rows()) == {
        "33358-3": "serum_m_protein",
        "SPEP": "serum_m_protein",
        "cholesterol": None,
    }
