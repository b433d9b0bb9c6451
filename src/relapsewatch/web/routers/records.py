"""Data rights: "who has looked at my record", downloading a record, and erasing one.

* ``GET /patients/{id}/access-log``: every audited request on the record, newest first, in
  plain words, 100 or fewer per page (RELIABILITY D7; ONC 170.315(d)(3)). The patient and admins.
* ``GET /patients/{id}/export`` with ``export.json`` and ``export.zip``: the whole record as
  JSON and as the canonical CSV tables (G1; GDPR Art. 15, 20). The patient and their care team.
* ``GET``/``POST /admin/patients/{id}/erase``: an admin erases a patient (G2; GDPR Art. 17)
  after typing the id to confirm; the form shows row counts only, never clinical values.

How the erasure is audited
    The audit middleware writes the POST's row when the response starts, after the patient is
    gone, and a row names a patient only through the pseudonym link that erasing deletes. So
    the route takes the pseudonym the erasure removed and records it as the row's
    ``resource_id`` (with ``resource_type`` ``patient``), with no subject and a detail that
    holds only counts: an auditor sees that the kept rows carrying that pseudonym end with an
    erasure, and nothing in the row names the person.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request
from starlette.responses import HTMLResponse, Response

from relapsewatch.store.audit import AccessEntry, access_log
from relapsewatch.store.errors import UnknownPatientError
from relapsewatch.store.patient_data import (
    count_patient_rows,
    erase_patient,
    export_patient,
    export_patient_csv,
)
from relapsewatch.web.auth import AuditDraft, Clock, CurrentUser
from relapsewatch.web.deps import (
    PatientId,
    SessionDep,
    SessionFactoryDep,
    TemplatesDep,
    render,
)

__all__ = ["ACCESS_LOG_PAGE_SIZE", "AccessLine", "access_line", "router"]

router = APIRouter(tags=["records"])

#: Lines per page of the access log (RELIABILITY C7: pages hold 100 or fewer).
ACCESS_LOG_PAGE_SIZE = 100

PageNumber = Annotated[int, Query(ge=1, le=10_000, description="Page of the list, from 1.")]
Confirmation = Annotated[str, Form(max_length=200)]

#: What a request did, in words: (action, resource type) first, then the action alone.
#: ``{record}`` is "your record" for the patient and "this record" for an admin.
_DID: dict[tuple[str, str], str] = {
    ("read", "course"): "looked at {record}",
    ("read", "access_log"): "looked at the list of who has seen {record}",
    ("read", "export_page"): "opened the page to download {record}",
    ("read", "result_form"): "opened the form to add a test result",
    ("read", "treatment_form"): "opened the form to add a treatment",
    ("read", "erasure_form"): "opened the page to erase {record}",
    ("read", "message"): "read a message",
    ("query", "message"): "looked at the messages",
    ("create", "measurement"): "added a test result",
    ("create", "treatment"): "added a treatment",
    ("create", "message"): "wrote a message",
    ("export", "record_json"): "downloaded a copy of {record}",
    ("export", "record_csv"): "downloaded a copy of {record} as tables",
    ("delete", "patient"): "erased {record}",
}
_DID_BY_ACTION = {
    "read": "looked at {record}",
    "query": "searched {record}",
    "create": "added to {record}",
    "update": "changed {record}",
    "delete": "removed part of {record}",
    "export": "downloaded a copy of {record}",
    "import": "imported results into {record}",
}
_OUTCOME_WORDS = {
    "success": "Done",
    "denied": "Not allowed",
    "failure": "Not finished",
    "error": "Not finished (a fault in the app)",
}
_ROLE_WORDS = {"anonymous": "not signed in"}


@dataclass(frozen=True, slots=True)
class AccessLine:
    """One line of the access log page: when, who, what happened and how it ended."""

    audit_id: int
    at: dt.datetime
    who: str
    what: str
    outcome: str
    allowed: bool


def access_line(entry: AccessEntry, *, own: bool) -> AccessLine:
    """An audit row in plain words (``own``: the patient is reading about their own record).

    >>> entry = AccessEntry(dt.datetime(2026, 1, 2, tzinfo=dt.UTC), "Nurse A", "nurse", "read",
    ...     "course", "success", 7)
    >>> access_line(entry, own=True).what
    'Nurse A (nurse) looked at your record'
    """
    record = "your record" if own else "this record"
    phrase = _DID.get((entry.action, entry.resource_type)) or _DID_BY_ACTION.get(
        entry.action, "used {record}"
    )
    role = _ROLE_WORDS.get(entry.role, entry.role)
    return AccessLine(
        audit_id=entry.audit_id,
        at=entry.at,
        who=f"{entry.who} ({role})",
        what=f"{entry.who} ({role}) {phrase.format(record=record)}",
        outcome=_OUTCOME_WORDS.get(entry.outcome, entry.outcome),
        allowed=entry.outcome != "denied",
    )


def _download_name(patient_id: str, suffix: str) -> str:
    """A file name safe in a header: the id's letters, digits, dots, dashes and underscores."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", patient_id)[:64].strip("._") or "patient"
    return f"record-{safe}.{suffix}"


def _download(body: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content=body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/patients/{patient_id}/access-log", name="records.access_log", response_class=HTMLResponse
)
def access_log_page(
    request: Request,
    patient_id: PatientId,
    session: SessionDep,
    templates: TemplatesDep,
    signed_in: CurrentUser,
    page: PageNumber = 1,
) -> HTMLResponse:
    """Who has looked at the record: every audited request on it, newest first (D7)."""
    size = ACCESS_LOG_PAGE_SIZE
    entries = access_log(session, patient_id, limit=size + 1, offset=(page - 1) * size)
    own = signed_in.account.role == "patient"
    shown = [access_line(e, own=own) for e in entries[:size]]
    return render(
        request,
        templates,
        "records/access_log.html",
        {
            "section": "account",
            "patient_id": patient_id,
            "own": own,
            "lines": shown,
            "page": page,
            "has_next": len(entries) > size,
        },
    )


@router.get(
    "/patients/{patient_id}/export", name="records.export_page", response_class=HTMLResponse
)
def export_page(
    request: Request, patient_id: PatientId, templates: TemplatesDep, signed_in: CurrentUser
) -> HTMLResponse:
    """A page with the two downloads of the record (G1)."""
    return render(
        request,
        templates,
        "records/export.html",
        {
            "section": "account",
            "patient_id": patient_id,
            "own": signed_in.account.role == "patient",
        },
    )


@router.get("/patients/{patient_id}/export.json", name="records.export_json")
def export_json(patient_id: PatientId, session: SessionDep) -> Response:
    """The whole record as one JSON file (every table with a patient reference)."""
    try:
        record = export_patient(session, patient_id)
    except UnknownPatientError:
        raise HTTPException(status_code=404) from None
    body = json.dumps(record, ensure_ascii=False, indent=1, allow_nan=False).encode()
    return _download(body, "application/json", _download_name(patient_id, "json"))


@router.get("/patients/{patient_id}/export.zip", name="records.export_csv")
def export_csv(patient_id: PatientId, session: SessionDep) -> Response:
    """The canonical CSV tables of the record in a zip (re-importable)."""
    try:
        body = export_patient_csv(session, patient_id)
    except UnknownPatientError:
        raise HTTPException(status_code=404) from None
    return _download(body, "application/zip", _download_name(patient_id, "zip"))


def _erase_form(
    request: Request,
    templates: TemplatesDep,
    patient_id: str,
    counts: dict[str, int],
    *,
    wrong: bool = False,
) -> HTMLResponse:
    return render(
        request,
        templates,
        "records/erase.html",
        {"section": "admin", "patient_id": patient_id, "counts": counts, "wrong": wrong},
        status_code=400 if wrong else 200,
    )


@router.get(
    "/admin/patients/{patient_id}/erase", name="records.erase_form", response_class=HTMLResponse
)
def erase_form(
    request: Request, patient_id: PatientId, session: SessionDep, templates: TemplatesDep
) -> HTMLResponse:
    """What erasing the patient would delete (row counts only) and the confirmation form."""
    return _erase_form(request, templates, patient_id, count_patient_rows(session, patient_id))


@router.post(
    "/admin/patients/{patient_id}/erase", name="records.erase", response_class=HTMLResponse
)
def erase(
    request: Request,
    patient_id: PatientId,
    factory: SessionFactoryDep,
    templates: TemplatesDep,
    confirm: Confirmation = "",
) -> HTMLResponse:
    """Erase the patient once the admin has typed the id; 400 with the form otherwise.

    No request-scoped session here: SQLite's VACUUM after the erasure needs every other
    connection idle, so each read below opens and closes its own session.
    """
    if confirm.strip() != patient_id:
        with factory() as session:
            counts = count_patient_rows(session, patient_id)
        return _erase_form(request, templates, patient_id, counts, wrong=True)
    clock: Clock = request.app.state.clock
    try:
        report = erase_patient(factory, patient_id, now=clock())
    except UnknownPatientError:  # erased by someone else a moment ago
        raise HTTPException(status_code=404) from None
    draft: AuditDraft | None = getattr(request.state, "audit", None)
    if draft is not None:
        draft.patient_id = None
        draft.resource_id = report.pseudonym
        draft.detail = (
            f"erased {report.total_rows} rows in {len(report.rows_deleted)} tables; "
            f"{report.audit_rows_kept} audit rows kept"
        )
    return render(
        request,
        templates,
        "records/erased.html",
        {"section": "admin", "patient_id": patient_id, "report": report},
    )
