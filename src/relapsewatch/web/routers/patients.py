"""Patients: the nurse's searchable list, and one patient's course page."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.responses import HTMLResponse

from relapsewatch.store.repository import (
    count_patients,
    get_patient,
    list_patients,
    load_course,
    load_patient_tables,
)
from relapsewatch.web.deps import (
    PageCacheDep,
    PatientId,
    RegionDep,
    SessionDep,
    SettingsDep,
    TemplatesDep,
    render,
)
from relapsewatch.web.page_cache import cached_response_body
from relapsewatch.web.views import course_page

__all__ = ["router"]

router = APIRouter(prefix="/patients", tags=["patients"])

Search = Annotated[
    str | None, Query(max_length=64, description="Part of a patient id (case-insensitive).")
]
PageNumber = Annotated[int, Query(ge=1, le=100_000, description="Page of the list, from 1.")]


@router.get("", name="patients.list", response_class=HTMLResponse)
def patient_list(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    q: Search = None,
    page: PageNumber = 1,
) -> HTMLResponse:
    search = (q or "").strip() or None
    size = settings.page_size
    total = count_patients(session, search=search)
    pages = max(1, -(-total // size))
    shown = list_patients(session, search=search, limit=size, offset=(min(page, pages) - 1) * size)
    return render(
        request,
        templates,
        "patients/list.html",
        {
            "section": "patients",
            "patients": shown,
            "search": search or "",
            "total": total,
            "page": min(page, pages),
            "pages": pages,
        },
    )


@router.get("/{patient_id}", name="patients.course", response_class=HTMLResponse)
def patient_course(
    request: Request,
    patient_id: PatientId,
    session: SessionDep,
    templates: TemplatesDep,
    region: RegionDep,
    cache: PageCacheDep,
    scale: Annotated[Literal["linear", "log"], Query(description="Chart scale.")] = "linear",
) -> HTMLResponse:
    patient = get_patient(session, patient_id)
    if patient is None:
        raise HTTPException(status_code=404)
    key = (patient_id, patient.version, region, scale)
    accepts = request.headers.get("accept-encoding", "")
    cached = cache.get(key)
    if cached is not None:
        body, headers = cached_response_body(cached, accepts)
        return HTMLResponse(body, headers=headers)
    tables = load_patient_tables(session, patient_id)
    if tables is None:
        raise HTTPException(status_code=404)
    course = load_course(session, patient_id)
    view = course_page(patient, tables, course, region=region, scale=scale)
    page = render(
        request,
        templates,
        "patients/course.html",
        {"section": "patients", "page": view, "patient": patient},
    )
    stored = cache.put(key, bytes(page.body))
    if stored is None:
        return page
    body, headers = cached_response_body(stored, accepts)
    return HTMLResponse(body, headers=headers)
