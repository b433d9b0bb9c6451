"""Analytes: canonical test names, LOINC codes (both ways), units and result vocabularies.

Source: ``shared/domain/myeloma-course.md`` §1.2 (canonical units) and §5.2 (LOINC codes, with the
confirmation status of each code). Codes marked unconfirmed there are mapped but carry
``confirmed=False`` so that reports can say so. Rule of §5.2: map by LOINC first, then by name;
never map a ratio code to a concentration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Literal

import polars as pl

__all__ = [
    "ANALYTES",
    "LOINC",
    "Analyte",
    "LoincCode",
    "analyte_for",
    "analyte_lookup_frame",
]

Kind = Literal["quantitative", "qualitative"]


@dataclass(frozen=True, slots=True)
class LoincCode:
    code: str
    confirmed: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class Analyte:
    """A laboratory test the engine understands.

    ``canonical_unit`` is a pint expression (``None`` for qualitative tests and the unitless
    ratio); ``display_unit`` is how the unit is written in outputs. ``molar_mass_g_mol`` enables
    substance-concentration units (mmol/L) through pint's chemistry context.
    """

    name: str
    label: str
    kind: Kind
    canonical_unit: str | None
    display_unit: str | None
    loinc: tuple[LoincCode, ...] = ()
    results: tuple[str, ...] = ()
    molar_mass_g_mol: Decimal | None = None
    unitless: bool = False
    aliases: tuple[str, ...] = ()


_IFE_RESULTS = ("positive", "negative", "indeterminate", "positive_therapeutic_mab_only")

ANALYTES: Mapping[str, Analyte] = MappingProxyType(
    {
        a.name: a
        for a in (
            Analyte(
                "serum_m_protein",
                "serum M-protein",
                "quantitative",
                "g/dL",
                "g/dL",
                (LoincCode("33358-3", True, "ARUP 3002568; public OMOP mappings"),),
                aliases=("spep", "m_spike", "serum_m_spike", "paraprotein"),
            ),
            Analyte(
                "urine_m_protein",
                "urine M-protein (24 h)",
                "quantitative",
                "mg/day",
                "mg/24h",
                (LoincCode("42482-0", False, "seen in two public mappings; verify"),),
                aliases=("upep", "urine_m_spike", "bence_jones_24h"),
            ),
            Analyte(
                "flc_kappa",
                "serum free kappa",
                "quantitative",
                "mg/L",
                "mg/L",
                (LoincCode("36916-5", True, "OSU catalogue IFLC"),),
                aliases=("kappa_flc", "free_kappa", "kappa"),
            ),
            Analyte(
                "flc_lambda",
                "serum free lambda",
                "quantitative",
                "mg/L",
                "mg/L",
                (LoincCode("33944-0", True, "OSU catalogue; 33944-8 is not a real code"),),
                aliases=("lambda_flc", "free_lambda", "lambda"),
            ),
            Analyte(
                "flc_ratio",
                "free kappa/lambda ratio",
                "quantitative",
                None,
                None,
                (
                    LoincCode("48378-4", False, "three public mappings; not checked on loinc.org"),
                    LoincCode("40844-3", True, "deprecated but still used; mapped"),
                ),
                unitless=True,
                aliases=("kappa_lambda_ratio", "flc_kl_ratio"),
            ),
            Analyte(
                "serum_ife",
                "serum immunofixation",
                "qualitative",
                None,
                None,
                (LoincCode("25700-6", True, "ARUP 3002568"),),
                results=_IFE_RESULTS,
                aliases=("sife",),
            ),
            Analyte(
                "urine_ife",
                "urine immunofixation",
                "qualitative",
                None,
                None,
                results=_IFE_RESULTS,
                aliases=("uife",),
            ),
            Analyte(
                "bm_plasma_cells",
                "bone-marrow plasma cells",
                "quantitative",
                "percent",
                "%",
                (LoincCode("11118-7", False, "one public mapping only"),),
                aliases=("bmpc", "marrow_plasma_cells"),
            ),
            Analyte(
                "bm_clonality",
                "bone-marrow clonality",
                "qualitative",
                None,
                None,
                results=("clonal", "not_clonal"),
            ),
            Analyte(
                "mrd",
                "minimal residual disease",
                "qualitative",
                None,
                None,
                (LoincCode("93021-4", True, "abnormal plasma cells by flow; healthassure"),),
                results=("positive", "negative"),
            ),
            Analyte(
                "calcium",
                "calcium",
                "quantitative",
                "mg/dL",
                "mg/dL",
                (
                    LoincCode("17861-6", True, "mass concentration"),
                    LoincCode("2000-8", True, "substance concentration"),
                ),
                molar_mass_g_mol=Decimal("40.078"),  # IUPAC standard atomic weight of Ca
            ),
            Analyte(
                "creatinine",
                "creatinine",
                "quantitative",
                "mg/dL",
                "mg/dL",
                (
                    LoincCode("2160-0", True, "mass concentration"),
                    LoincCode("14682-9", False, "substance concentration"),
                ),
                molar_mass_g_mol=Decimal("113.12"),  # C4H7N3O; 1 mg/dL = 88.4 umol/L
            ),
            Analyte(
                "hemoglobin",
                "haemoglobin",
                "quantitative",
                "g/dL",
                "g/dL",
                (LoincCode("718-7", True, "public mappings"),),
                molar_mass_g_mol=Decimal("16114.5"),  # Hb monomer; 1 mmol/L = 1.611 g/dL (§1.2)
                aliases=("haemoglobin", "hb", "hgb"),
            ),
        )
    }
)

#: LOINC code -> canonical analyte name.
LOINC: Mapping[str, str] = MappingProxyType(
    {code.code: a.name for a in ANALYTES.values() for code in a.loinc}
)


def _key(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


_BY_KEY: dict[str, str] = {}
for _a in ANALYTES.values():
    _BY_KEY[_key(_a.name)] = _a.name
    for _alias in _a.aliases:
        _BY_KEY[_key(_alias)] = _a.name


def analyte_for(test: str) -> Analyte | None:
    """The analyte for a canonical name, alias or LOINC code; ``None`` if unknown.

    >>> analyte_for("33358-3").name
    'serum_m_protein'
    >>> analyte_for("Serum M-Protein").name
    'serum_m_protein'
    >>> analyte_for("cholesterol") is None
    True
    """
    code = test.strip()
    if code in LOINC:
        return ANALYTES[LOINC[code]]
    name = _BY_KEY.get(_key(code))
    return ANALYTES[name] if name else None


def analyte_lookup_frame(reported: pl.Series) -> pl.DataFrame:
    """Map distinct reported test names/codes to canonical names (null when unknown).

    Works on the distinct values, so it is cheap on millions of rows.
    """
    distinct = reported.unique().drop_nulls().sort()
    mapped = [
        (a.name if (a := analyte_for(str(v))) is not None else None) for v in distinct.to_list()
    ]
    return pl.DataFrame(
        {"reported_test": distinct, "test": pl.Series(mapped, dtype=pl.String())},
        schema={"reported_test": pl.String(), "test": pl.String()},
    )
