"""Add a result (nurse): one lab result typed into a form, validated like the importer.

The store validates the row with the importer's rules, stores it and recomputes the patient's
course in the same transaction, so the patient page shows the new course at once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from starlette.responses import HTMLResponse, Response

from relapsewatch.store.repository import add_measurement, get_patient
from relapsewatch.web.deps import (
    PatientId,
    SessionDep,
    SessionFactoryDep,
    TemplatesDep,
    render,
)
from relapsewatch.web.forms import (
    METHOD_CHOICES,
    TEST_CHOICES,
    UNIT_CHOICES,
    UNITS_BY_TEST,
    FormErrors,
    save_entry,
)

__all__ = ["router"]

router = APIRouter(prefix="/patients/{patient_id}/results", tags=["results"])

FIELDS = ("date", "test", "value", "unit", "method", "sensitivity")

Text = Annotated[str, Form(max_length=64)]


def _form(
    request: Request,
    templates: TemplatesDep,
    patient_id: str,
    version: int,
    values: dict[str, str],
    errors: FormErrors | None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        templates,
        "entries/result.html",
        {
            "section": "patients",
            "patient_id": patient_id,
            "version": version,
            "values": values,
            "errors": errors or FormErrors({}, ()),
            "tests": TEST_CHOICES,
            "units": UNIT_CHOICES,
            "units_by_test": UNITS_BY_TEST,
            "methods": METHOD_CHOICES,
        },
        status_code=status_code,
    )


@router.get("/new", name="results.form", response_class=HTMLResponse)
def new_result(
    request: Request, patient_id: PatientId, session: SessionDep, templates: TemplatesDep
) -> HTMLResponse:
    patient = get_patient(session, patient_id)
    if patient is None:
        raise HTTPException(status_code=404)
    values = dict.fromkeys(FIELDS, "") | {"test": "serum_m_protein", "unit": "g/dL"}
    return _form(request, templates, patient_id, patient.version, values, None)


@router.post("", name="results.add", response_class=HTMLResponse)
def add_result(
    request: Request,
    patient_id: PatientId,
    session_factory: SessionFactoryDep,
    templates: TemplatesDep,
    version: Annotated[int, Form(ge=0)],
    date: Text = "",
    test: Text = "",
    value: Text = "",
    unit: Text = "",
    method: Text = "",
    sensitivity: Text = "",
) -> Response:
    values = {
        "date": date.strip(),
        "test": test.strip(),
        "value": value.strip(),
        "unit": unit.strip(),
        "method": method.strip(),
        "sensitivity": sensitivity.strip(),
    }
    row: dict[str, object] = {k: (v or None) for k, v in values.items()}
    return save_entry(
        request,
        patient_id,
        entry="result",
        fields=FIELDS,
        save=lambda: add_measurement(session_factory, patient_id, row, expected_version=version),
        show_form=lambda errors, status: _form(
            request, templates, patient_id, version, values, errors, status
        ),
    )
