"""Units: every reported unit converted to the analyte's canonical unit with pint.

Source: ``shared/domain/myeloma-course.md`` §1.2 (canonical units and accepted inputs) and §5.1
(unit pitfalls U1–U3, U5). Conversion factors come from pint with exact ``Decimal`` arithmetic,
never from a hand-written table: g/L -> g/dL is exactly 0.1, mg/dL -> mg/L exactly 10. Substance
concentrations (mmol/L, umol/L) go through pint's chemistry context with the analyte's molar mass.

Impossible units are errors that say why: a mass for a ratio, a concentration (mg/dL) for a 24-hour
urine amount (U3: it needs the 24-h volume), or any unit for a qualitative test.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from functools import lru_cache
from typing import Any

import polars as pl

from relapsewatch.errors import UnitError
from relapsewatch.vocab.analytes import ANALYTES, Analyte

__all__ = [
    "MIXUP_SERUM_M_PROTEIN_G_DL",
    "canonical_unit_label",
    "conversion_factor",
    "convert",
    "normalise_unit_text",
]

#: U1: a serum M-protein above this many g/dL is a probable g/L mix-up (flagged, not changed).
MIXUP_SERUM_M_PROTEIN_G_DL = 15


@lru_cache(maxsize=1)
def _registry() -> Any:
    """pint's registry with pint itself, built on first use (about 0.45 s), so a process whose
    results are all in canonical units (:func:`conversion_factor` answers 1 for them without
    pint), or that converts nothing, never pays for it."""
    import pint

    return pint.UnitRegistry(non_int_type=Decimal)


# Spellings labs use that pint does not parse as written. "/24h" is a per-day amount.
_SPELLINGS: tuple[tuple[str, str], ...] = (
    (r"/\s*24\s*(h|hr|hrs|hour|hours)\b", "/day"),
    (r"/\s*d\b", "/day"),
    (r"\bmcg\b", "ug"),
    (r"\bmcmol\b", "umol"),
    (r"\bl\b", "L"),
)


def normalise_unit_text(unit: str) -> str:
    """Rewrite a reported unit into a form pint parses.

    >>> normalise_unit_text(" mg/24 h ")
    'mg/day'
    >>> normalise_unit_text("µmol/L")
    'umol/L'
    """
    text = unicodedata.normalize("NFKC", unit).strip()
    text = text.replace("μ", "u").replace("µ", "u")
    for pattern, replacement in _SPELLINGS:
        text = re.sub(pattern, replacement, text)
    return text.replace(" ", "")


def canonical_unit_label(test: str) -> str | None:
    """The unit written in outputs for a canonical test (``None`` when unitless/qualitative)."""
    return ANALYTES[test].display_unit


def _why_impossible(analyte: Analyte, unit: str) -> str:
    if analyte.name == "urine_m_protein":
        return (
            "urine M-protein must be a 24-hour amount (mg/24h or g/24h); a concentration needs "
            "the 24-hour urine volume to convert (§5.1 U3): report it as mg/24h"
        )
    if analyte.unitless:
        return f"{analyte.label} is a ratio and has no unit: leave the unit empty or write 'ratio'"
    return (
        f"{analyte.label} is reported in {analyte.display_unit} or an equivalent unit "
        f"(e.g. {_examples(analyte)})"
    )


def _examples(analyte: Analyte) -> str:
    examples = {
        "serum_m_protein": "g/dL, g/L, mg/dL",
        "flc_kappa": "mg/L, mg/dL",
        "flc_lambda": "mg/L, mg/dL",
        "bm_plasma_cells": "%",
        "calcium": "mg/dL, mmol/L",
        "creatinine": "mg/dL, umol/L",
        "hemoglobin": "g/dL, g/L, mmol/L",
    }
    return examples.get(analyte.name, str(analyte.display_unit))


@lru_cache(maxsize=1024)
def conversion_factor(test: str, unit: str | None) -> Decimal:
    """The exact factor that turns a value in ``unit`` into the canonical unit of ``test``.

    Raises :class:`UnitError` when the unit is missing, unknown or impossible for the test.

    >>> conversion_factor("serum_m_protein", "g/L")
    Decimal('0.1')
    >>> conversion_factor("flc_kappa", "mg/dL")
    Decimal('10')
    >>> conversion_factor("urine_m_protein", "g/24h")
    Decimal('1000')
    """
    analyte = ANALYTES.get(test)
    if analyte is None:
        raise UnitError(f"unknown test {test!r}; use a canonical test name or LOINC code")
    if analyte.kind == "qualitative":
        if unit is None or unit.strip() == "":
            return Decimal(1)
        raise UnitError(f"{analyte.label} is a qualitative result and has no unit: leave it empty")
    if unit is None or unit.strip() == "":
        if analyte.unitless:
            return Decimal(1)
        raise UnitError(
            f"{analyte.label} needs a unit; a missing unit is never guessed: add the unit the "
            f"lab reported ({_examples(analyte)})"
        )
    text = normalise_unit_text(unit)
    if analyte.unitless:
        if text.lower() in {"ratio", "1"}:
            return Decimal(1)
        raise UnitError(f"{unit!r} is impossible: {_why_impossible(analyte, unit)}")
    assert analyte.canonical_unit is not None
    if text == normalise_unit_text(analyte.canonical_unit):
        # the canonical unit itself, written as pint would read it: the factor is 1 without
        # building pint's registry (about 0.45 s of start-up in every process that converts)
        return Decimal(1)
    try:
        quantity = _registry().Quantity(Decimal(1), text)
    except Exception as exc:
        # pint parses unit text as a Python expression: text that is not a unit can fail in
        # the tokenizer ('g/(dL'), in an assertion ('**') or as an undefined unit; each means
        # the same to the person who typed it
        raise UnitError(
            f"unknown unit {unit!r} for {analyte.label}; expected {_examples(analyte)}"
        ) from exc
    from pint.errors import DimensionalityError  # imported with the registry above

    try:
        if analyte.molar_mass_g_mol is not None:
            registry = _registry()
            molar_mass = registry.Quantity(analyte.molar_mass_g_mol, "g/mol")
            with registry.context("chemistry", mw=molar_mass):
                magnitude = quantity.to(analyte.canonical_unit).magnitude
        else:
            magnitude = quantity.to(analyte.canonical_unit).magnitude
    except (DimensionalityError, ArithmeticError) as exc:
        raise UnitError(f"{unit!r} is impossible: {_why_impossible(analyte, unit)}") from exc
    return Decimal(format(Decimal(magnitude).normalize(), "f"))


def convert(values: pl.Expr, factor: pl.Expr) -> pl.Expr:
    """Multiply by the conversion factor and keep 6 decimal places of the canonical unit.

    Rounding at 6 decimal places makes exact factors give exact results (1.4 g/L -> 0.14 g/dL)
    and leaves thresholds free of binary-floating-point noise.
    """
    return (values * factor).round(6)
