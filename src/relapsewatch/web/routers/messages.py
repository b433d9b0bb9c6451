"""Messages: a patient's questions to their care team, the replies, and the staff inbox.

* ``GET /patients/{patient_id}/messages``: the patient's threads; the patient also gets the
  form to start one (patient, nurse, clinician).
* ``POST /patients/{patient_id}/messages``: start a thread (the patient only).
* ``GET /patients/{patient_id}/messages/{thread_id}``: one thread with its messages.
* ``POST /patients/{patient_id}/messages/{thread_id}``: write in it (the patient, nurses and
  clinicians of their care teams).
* ``GET /inbox``: per care team, its patients' threads with their status (nurse, clinician).

Who may open which patient is checked by ``authorize`` before these run (RELIABILITY A3); a
thread is then only found under the patient it belongs to, so a thread id of another patient's
thread answers 404 exactly like a missing one, and nothing can move a message between patients
(A4). A malformed thread id is a 404 too. Every audit row names the thread where it is known.

After a patient writes, the care team's notification address gets a short e-mail with no
patient data (:mod:`relapsewatch.web.notify`), sent once the response is done.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, HTTPException, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import HTMLResponse, RedirectResponse, Response

from relapsewatch.store.accounts import SignedIn
from relapsewatch.store.messages import (
    BODY_MAX_CHARS,
    SUBJECT_MAX_CHARS,
    MessageError,
    ThreadView,
    UnknownThreadError,
    care_team_addresses,
    inbox,
    reply,
    start_thread,
    thread_with_messages,
    threads_for_patient,
)
from relapsewatch.web.auth import Clock, CurrentUser
from relapsewatch.web.deps import (
    PatientId,
    SessionDep,
    SessionFactoryDep,
    SettingsDep,
    TemplatesDep,
    render,
)
from relapsewatch.web.forms import FormErrors
from relapsewatch.web.notify import send_new_question_notice
from relapsewatch.web.settings import WebSettings

__all__ = ["router"]

router = APIRouter(tags=["messages"])

#: Thread ids are positive integers well inside a 64-bit column; anything else is "not found".
_THREAD_ID = re.compile(r"[1-9][0-9]{0,17}")

#: Form fields may be longer than the limits, so the page can say by how much (the store checks).
FormText = Annotated[str, Form(max_length=4 * BODY_MAX_CHARS)]

NO_ERRORS = FormErrors({}, ())


def _now(request: Request) -> dt.datetime:
    clock: Clock = request.app.state.clock
    return clock()


def _set_resource(request: Request, thread_id: int) -> None:
    draft = getattr(request.state, "audit", None)
    if draft is not None:
        draft.resource_id = str(thread_id)


def _not_found(request: Request) -> HTTPException:
    """The 404 of a thread that is not this patient's (or not there): recorded as denied."""
    draft = getattr(request.state, "audit", None)
    if draft is not None:
        draft.denied = True
    return HTTPException(status_code=404)


def _thread_number(request: Request, thread_id: str) -> int:
    if not _THREAD_ID.fullmatch(thread_id):
        raise _not_found(request)
    return int(thread_id)


def _notify(
    background: BackgroundTasks,
    settings: WebSettings,
    session_factory: sessionmaker[Session],
    patient_id: str,
) -> None:
    """Queue the care team's e-mail (after the response; the message is already committed)."""
    if not settings.smtp_host:
        return
    with session_factory() as session:
        addresses = care_team_addresses(session, patient_id)
    if addresses:
        background.add_task(send_new_question_notice, settings, addresses)


def _list_page(
    request: Request,
    templates: TemplatesDep,
    session: Session,
    signed_in: SignedIn,
    patient_id: str,
    *,
    values: dict[str, str] | None = None,
    errors: FormErrors = NO_ERRORS,
    status_code: int = 200,
) -> HTMLResponse:
    is_patient = signed_in.account.role == "patient"
    return render(
        request,
        templates,
        "messages/list.html",
        {
            "section": "messages" if is_patient else "inbox",
            "patient_id": patient_id,
            "is_patient": is_patient,
            "threads": threads_for_patient(session, patient_id),
            "values": values or {"subject": "", "body": ""},
            "errors": errors,
            "subject_max": SUBJECT_MAX_CHARS,
            "body_max": BODY_MAX_CHARS,
        },
        status_code=status_code,
    )


def _thread_page(
    request: Request,
    templates: TemplatesDep,
    signed_in: SignedIn,
    view: ThreadView,
    *,
    values: dict[str, str] | None = None,
    errors: FormErrors = NO_ERRORS,
    status_code: int = 200,
) -> HTMLResponse:
    is_patient = signed_in.account.role == "patient"
    return render(
        request,
        templates,
        "messages/thread.html",
        {
            "section": "messages" if is_patient else "inbox",
            "patient_id": view.thread.patient_id,
            "is_patient": is_patient,
            "view": view,
            "values": values or {"body": ""},
            "errors": errors,
            "body_max": BODY_MAX_CHARS,
        },
        status_code=status_code,
    )


@router.get("/patients/{patient_id}/messages", name="messages.list", response_class=HTMLResponse)
def message_list(
    request: Request,
    patient_id: PatientId,
    session: SessionDep,
    templates: TemplatesDep,
    signed_in: CurrentUser,
) -> HTMLResponse:
    """The patient's threads (and, for the patient, the form to ask a new question)."""
    return _list_page(request, templates, session, signed_in, patient_id)


@router.post("/patients/{patient_id}/messages", name="messages.start", response_class=HTMLResponse)
def start(
    request: Request,
    patient_id: PatientId,
    session_factory: SessionFactoryDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    signed_in: CurrentUser,
    background: BackgroundTasks,
    subject: FormText = "",
    body: FormText = "",
) -> Response:
    """Start a thread; back to the list with the problem (400), or on to the new thread (303)."""
    try:
        thread_id = start_thread(
            session_factory, patient_id, signed_in.account, subject, body, _now(request)
        )
    except MessageError as err:
        with session_factory() as session:
            return _list_page(
                request,
                templates,
                session,
                signed_in,
                patient_id,
                values={"subject": subject, "body": body},
                errors=FormErrors({err.field: str(err)}, ()),
                status_code=400,
            )
    except UnknownThreadError:
        raise _not_found(request) from None
    _set_resource(request, thread_id)
    _notify(background, settings, session_factory, patient_id)
    target = request.app.url_path_for("messages.thread", patient_id=patient_id, thread_id=thread_id)
    return RedirectResponse(str(target), status_code=303)


@router.get(
    "/patients/{patient_id}/messages/{thread_id}",
    name="messages.thread",
    response_class=HTMLResponse,
)
def thread(
    request: Request,
    patient_id: PatientId,
    thread_id: str,
    session: SessionDep,
    templates: TemplatesDep,
    signed_in: CurrentUser,
) -> HTMLResponse:
    """One thread of this patient, oldest message first; 404 for any other thread id."""
    number = _thread_number(request, thread_id)
    _set_resource(request, number)
    view = thread_with_messages(session, patient_id, number)
    if view is None:
        raise _not_found(request)
    return _thread_page(request, templates, signed_in, view)


@router.post(
    "/patients/{patient_id}/messages/{thread_id}",
    name="messages.reply",
    response_class=HTMLResponse,
)
def write_more(
    request: Request,
    patient_id: PatientId,
    thread_id: str,
    session_factory: SessionFactoryDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    signed_in: CurrentUser,
    background: BackgroundTasks,
    body: FormText = "",
) -> Response:
    """Write in a thread of this patient; the thread again with the problem (400), or back to
    it (303). A thread of another patient is a 404 and nothing is written (A4)."""
    number = _thread_number(request, thread_id)
    _set_resource(request, number)
    try:
        reply(session_factory, number, patient_id, signed_in.account, body, _now(request))
    except UnknownThreadError:
        raise _not_found(request) from None
    except MessageError as err:
        with session_factory() as session:
            view = thread_with_messages(session, patient_id, number)
        if view is None:
            raise _not_found(request) from None
        return _thread_page(
            request,
            templates,
            signed_in,
            view,
            values={"body": body},
            errors=FormErrors({err.field: str(err)}, ()),
            status_code=400,
        )
    if signed_in.account.role == "patient":
        _notify(background, settings, session_factory, patient_id)
    target = request.app.url_path_for("messages.thread", patient_id=patient_id, thread_id=number)
    return RedirectResponse(f"{target}#latest", status_code=303)


@router.get("/inbox", name="messages.inbox", response_class=HTMLResponse)
def staff_inbox(
    request: Request, session: SessionDep, templates: TemplatesDep, signed_in: CurrentUser
) -> HTMLResponse:
    """Per care team of the signed-in nurse or clinician: its patients' threads, newest first."""
    return render(
        request,
        templates,
        "messages/inbox.html",
        {"section": "inbox", "teams": inbox(session, signed_in.account)},
    )
