"""Plain words for the course: dates, ordinals, regimens and response categories.

>>> regimen_in_words("daratumumab+dexamethasone+lenalidomide")
'daratumumab, lenalidomide and dexamethasone'
>>> regimen_in_words("autologous_transplant+melphalan")
'melphalan, with a stem cell transplant using your own cells'
>>> ordinal(2), ordinal(11)
('second', '11th')
>>> import datetime as dt
>>> date_in_words(dt.date(2024, 3, 4))
'4 March 2024'
>>> response_in_words("VGPR", "serum_urine")
'The myeloma protein has fallen by at least 90% since this treatment began.'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from relapsewatch.errors import VocabularyError

__all__ = [
    "RESPONSE_CATEGORIES",
    "RESPONSE_NAMES",
    "date_in_words",
    "list_in_words",
    "ordinal",
    "regimen_in_words",
    "response_in_words",
]

_ORDINALS = (
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
)

# Steroids are named last, as people hear regimens said ("lenalidomide and dexamethasone").
_STEROIDS = ("dexamethasone", "prednisone", "prednisolone", "methylprednisolone")

_PROCEDURES: Mapping[str, str | None] = {
    "autologous_transplant": "a stem cell transplant using your own cells",
    "allogeneic_transplant": "a stem cell transplant from a donor",
    "car_t_infusion": "CAR-T cell therapy",
    "radiotherapy": "radiotherapy",
    "surgery": "surgery",
    "apheresis": None,  # the cell collection step of a transplant or CAR-T, not a treatment
}

#: IMWG response categories, best first (DESIGN.md ``responses.response``).
RESPONSE_CATEGORIES: tuple[str, ...] = ("sCR", "CR", "VGPR", "PR", "MR", "SD", "PD", "NE")

#: The name doctors use for each category, in plain words.
RESPONSE_NAMES: Mapping[str, str] = {
    "sCR": "a stringent complete response",
    "CR": "a complete response",
    "VGPR": "a very good partial response",
    "PR": "a partial response",
    "MR": "a minimal response",
    "SD": "stable disease",
    "PD": "progressive disease",
}

_MARKER: Mapping[str, str] = {
    "serum_urine": "the myeloma protein",
    "flc_only": "the light chain level made by the myeloma",
    "marrow_only": "the share of myeloma cells in the bone marrow",
}

_SINCE = " since this treatment began"


def ordinal(number: int) -> str:
    """``first`` ... ``tenth``, then ``11th``, ``12th`` ..."""
    if 1 <= number <= len(_ORDINALS):
        return _ORDINALS[number - 1]
    if 10 <= number % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def date_in_words(day: dt.date) -> str:
    """``4 March 2024`` (no leading zero, month in full)."""
    return f"{day.day} {day:%B %Y}"


def list_in_words(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def regimen_in_words(regimen: str) -> str:
    """A ``lines.regimen`` value (generic names joined by ``+``) as people say it."""
    parts = [p.strip() for p in regimen.split("+") if p.strip()]
    procedures = [said for p in parts if (said := _PROCEDURES.get(p))]
    drugs = [p.replace("_", " ") for p in parts if p not in _PROCEDURES]
    drugs = [d for d in drugs if d not in _STEROIDS] + [d for d in drugs if d in _STEROIDS]
    said = list_in_words(drugs)
    if procedures:
        steps = list_in_words(procedures)
        return f"{said}, with {steps}" if said else steps
    return said


def response_in_words(category: str, pathway: str | None) -> str | None:
    """What a response category means, as one or two sentences (``None`` for NE: not scored).

    ``pathway`` is the engine's tracking pathway (``serum_urine``, ``flc_only``,
    ``marrow_only``); it decides which measure the words talk about.
    """
    if category not in RESPONSE_CATEGORIES:
        raise VocabularyError(
            f"response must be one of {list(RESPONSE_CATEGORIES)}, got {category!r}"
        )
    marker = _MARKER.get(pathway or "serum_urine", _MARKER["serum_urine"])
    marker = marker[0].upper() + marker[1:]
    if category == "NE":
        return None
    if category in ("sCR", "CR"):
        text = (
            "Tests can no longer find the myeloma protein in blood or urine. The bone marrow "
            "has very few myeloma cells"
        )
        return text + (", and the light chain balance is normal." if category == "sCR" else ".")
    if category == "VGPR":
        amount = "by more than 90%" if pathway == "flc_only" else "by at least 90%"
        return f"{marker} has fallen {amount}{_SINCE}."
    if category == "PR":
        return f"{marker} has fallen by at least half{_SINCE}."
    if category == "MR":
        return f"{marker} has fallen by at least a quarter, but by less than half{_SINCE}."
    if category == "SD":
        return f"{marker} has not changed much{_SINCE}."
    return "The myeloma has grown again."
