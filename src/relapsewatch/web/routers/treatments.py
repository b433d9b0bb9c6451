"""Add a treatment (nurse): one drug or procedure typed into a form, validated like the importer.

Brand names and regimen abbreviations are recognised as in files (e.g. ``Revlimid`` is
lenalidomide). The patient's course is recomputed in the same transaction.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from starlette.responses import HTMLResponse, Response

from relapsewatch.store.repository import add_treatment, get_patient
from relapsewatch.web.deps import (
    PatientId,
    SessionDep,
    SessionFactoryDep,
    TemplatesDep,
    render,
)
from relapsewatch.web.forms import INTENT_CHOICES, FormErrors, save_entry

__all__ = ["router"]

router = APIRouter(prefix="/patients/{patient_id}/treatments", tags=["treatments"])

FIELDS = ("therapy", "start_date", "end_date", "intent")

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
        "entries/treatment.html",
        {
            "section": "patients",
            "patient_id": patient_id,
            "version": version,
            "values": values,
            "errors": errors or FormErrors({}, ()),
            "intents": INTENT_CHOICES,
        },
        status_code=status_code,
    )


@router.get("/new", name="treatments.form", response_class=HTMLResponse)
def new_treatment(
    request: Request, patient_id: PatientId, session: SessionDep, templates: TemplatesDep
) -> HTMLResponse:
    patient = get_patient(session, patient_id)
    if patient is None:
        raise HTTPException(status_code=404)
    return _form(request, templates, patient_id, patient.version, dict.fromkeys(FIELDS, ""), None)


@router.post("", name="treatments.add", response_class=HTMLResponse)
def add_treatment_entry(
    request: Request,
    patient_id: PatientId,
    session_factory: SessionFactoryDep,
    templates: TemplatesDep,
    version: Annotated[int, Form(ge=0)],
    therapy: Text = "",
    start_date: Text = "",
    end_date: Text = "",
    intent: Text = "",
) -> Response:
    values = {
        "therapy": therapy.strip(),
        "start_date": start_date.strip(),
        "end_date": end_date.strip(),
        "intent": intent.strip(),
    }
    row: dict[str, object] = {k: (v or None) for k, v in values.items()}
    return save_entry(
        request,
        patient_id,
        entry="treatment",
        fields=FIELDS,
        save=lambda: add_treatment(session_factory, patient_id, row, expected_version=version),
        show_form=lambda errors, status: _form(
            request, templates, patient_id, version, values, errors, status
        ),
    )
