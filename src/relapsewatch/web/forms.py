"""The nurse's entry forms: choices offered, and problems turned into messages per field.

Values are validated by the store with the importer's own rules
(:func:`relapsewatch.store.repository.add_measurement` raises a
:class:`~relapsewatch.errors.DataError` whose problems name the form field as ``column``); this
module only maps those problems back onto the form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from fastapi import HTTPException, Request
from starlette.responses import RedirectResponse, Response

from relapsewatch.errors import DataError, Problem
from relapsewatch.schema import INTENTS
from relapsewatch.store.errors import StaleVersionError, UnknownPatientError
from relapsewatch.vocab.analytes import ANALYTES

__all__ = [
    "INTENT_CHOICES",
    "METHOD_CHOICES",
    "TEST_CHOICES",
    "UNITS_BY_TEST",
    "UNIT_CHOICES",
    "FormErrors",
    "form_errors",
]

#: Tests offered in the result form, in the order a myeloma clinic thinks of them.
TEST_CHOICES: tuple[tuple[str, str], ...] = tuple(
    (name, ANALYTES[name].label[:1].upper() + ANALYTES[name].label[1:])
    for name in (
        "serum_m_protein",
        "flc_kappa",
        "flc_lambda",
        "flc_ratio",
        "serum_ife",
        "urine_m_protein",
        "urine_ife",
        "bm_plasma_cells",
        "bm_clonality",
        "mrd",
        "hemoglobin",
        "calcium",
        "creatinine",
    )
)

#: Units the form offers for each test (any unit the importer accepts also works).
UNITS_BY_TEST: Mapping[str, tuple[str, ...]] = {
    "serum_m_protein": ("g/dL", "g/L", "mg/dL"),
    "urine_m_protein": ("mg/24h", "g/24h"),
    "flc_kappa": ("mg/L", "mg/dL"),
    "flc_lambda": ("mg/L", "mg/dL"),
    "bm_plasma_cells": ("%",),
    "hemoglobin": ("g/dL", "g/L", "mmol/L"),
    "calcium": ("mg/dL", "mmol/L"),
    "creatinine": ("mg/dL", "umol/L"),
}

#: Every unit in the form's unit list, plus "no unit" for ratios and qualitative results.
UNIT_CHOICES: tuple[tuple[str, str], ...] = (
    ("", "No unit (a ratio, or a result such as positive)"),
    *((unit, unit) for unit in dict.fromkeys(u for units in UNITS_BY_TEST.values() for u in units)),
)

METHOD_CHOICES: tuple[tuple[str, str], ...] = (
    ("", "Not an MRD test"),
    ("NGF", "NGF (next-generation flow)"),
    ("NGS", "NGS (next-generation sequencing)"),
)

INTENT_CHOICES: tuple[tuple[str, str], ...] = (
    ("", "Not stated"),
    *((intent, intent.replace("_", " ").capitalize()) for intent in INTENTS),
)


@dataclass(frozen=True)
class FormErrors:
    """Messages per field, and the ones that belong to no field."""

    fields: Mapping[str, str]
    general: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)


def _message(problem: Problem) -> str:
    fix = problem.fix[:1].upper() + problem.fix[1:]
    return f"Found {problem.found}; expected {problem.expected}. {fix}".rstrip()


def form_errors(problems: Iterable[Problem], fields: Iterable[str]) -> FormErrors:
    """Map problems onto the form's fields (first problem per field; the rest are general)."""
    known = set(fields)
    by_field: dict[str, str] = {}
    general: list[str] = []
    for problem in problems:
        if problem.severity != "error":
            continue
        if problem.column in known and problem.column not in by_field:
            by_field[problem.column] = _message(problem)
        else:
            general.append(_message(problem))
    return FormErrors(by_field, tuple(general))


def stale_message(entry: str) -> str:
    """What a nurse reads when someone else changed the record first (HTTP 409)."""
    return (
        "Someone else changed this patient's records while you were typing. Nothing was saved. "
        f"Check the patient's page, then enter the {entry} again."
    )


def save_entry(
    request: Request,
    patient_id: str,
    *,
    entry: str,
    fields: Iterable[str],
    save: Callable[[], object],
    show_form: Callable[[FormErrors, int], Response],
) -> Response:
    """Save one form entry through the store, or show the form again with what to fix.

    Unknown patient: 404. Changed meanwhile: the form with :func:`stale_message` (409). Invalid:
    the importer's problems mapped onto the fields (422). Saved: back to the patient's results.
    """
    try:
        save()
    except UnknownPatientError:
        raise HTTPException(status_code=404) from None
    except StaleVersionError:
        return show_form(FormErrors({}, (stale_message(entry),)), 409)
    except DataError as err:
        return show_form(form_errors(err.problems, fields), 422)
    target = request.app.url_path_for("patients.course", patient_id=patient_id)
    return RedirectResponse(f"{target}#results", status_code=303)
