"""Patients: the nurse's searchable list, and one patient's course page."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from markupsafe import Markup
from starlette.responses import HTMLResponse

from relapsewatch.store.accounts import visible_patients
from relapsewatch.store.repository import (
    count_patients,
    get_patient,
    list_patients,
    load_course,
    load_patient_tables,
)
from relapsewatch.web.auth import CurrentUser
from relapsewatch.web.deps import (
    PageCacheDep,
    PatientId,
    RegionDep,
    SessionDep,
    SettingsDep,
    TemplatesDep,
    page_context,
    render,
)
from relapsewatch.web.page_cache import CachedBody
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
    signed_in: CurrentUser,
    q: Search = None,
    page: PageNumber = 1,
) -> HTMLResponse:
    """The patients of the signed-in nurse's or clinician's care teams."""
    search = (q or "").strip() or None
    size = settings.page_size
    visible = visible_patients(signed_in.account)
    total = count_patients(session, search=search, where=visible)
    pages = max(1, -(-total // size))
    shown = list_patients(
        session,
        search=search,
        limit=size,
        offset=(min(page, pages) - 1) * size,
        where=visible,
    )
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
    signed_in: CurrentUser,
    scale: Annotated[Literal["linear", "log"], Query(description="Chart scale.")] = "linear",
) -> HTMLResponse:
    """One patient's course. The body is cached by record version (see ``page_cache``)."""
    patient = get_patient(session, patient_id)
    if patient is None:
        raise HTTPException(status_code=404)
    audience = "patient" if signed_in.account.role == "patient" else "staff"
    key = (patient_id, patient.version, region, scale, audience)
    body = cache.get(key)
    if body is None:
        tables = load_patient_tables(session, patient_id)
        if tables is None:
            raise HTTPException(status_code=404)
        course = load_course(session, patient_id)
        view = course_page(patient, tables, course, region=region, scale=scale)
        html = templates.get_template("patients/_course_main.html").render(
            {
                **page_context(request),
                "request": request,
                "section": "patients",
                "page": view,
                "patient": patient,
                "audience": audience,
            }
        )
        has_chart = bool(view.chart or (view.residual and view.residual.figure_json))
        body = cache.put(key, CachedBody(html, has_chart))
    return render(
        request,
        templates,
        "patients/course.html",
        {
            "section": "patients",
            "patient": patient,
            "main_html": Markup(body.html),
            "has_chart": body.has_chart,
        },
    )
