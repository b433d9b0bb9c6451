"""Messages in the web app: asked, answered and read end to end; nobody else sees or moves them
(RELIABILITY A3, A4); the care team's e-mail carries no patient data (D5, G1).

The cohort's care team A (``nurse.a``, ``clinician.a``) looks after W-LEN and W-BTZ; team B
(``nurse.b``) looks after none of them. ``patient.w-len`` is W-LEN's own account.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import socket
import sys
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from relapsewatch.store.accounts import create_user
from relapsewatch.store.audit import audit_rows
from relapsewatch.store.db import make_session_factory
from relapsewatch.store.messages import start_thread
from relapsewatch.store.models import Message, MessageThread
from relapsewatch.web import WebSettings, create_app

sys.path.insert(0, str(Path(__file__).parent))
from accounts_support import PASSWORDS, FakeClock, SeededAccounts, sign_in

SUBJECT = "canary-subject-71 about my tablets"
BODY = "canary-body-5b1e: is the new tablet taken with food?"
ANSWER = "canary-answer-9d2c: yes, with breakfast."


def _client(app: FastAPI, username: str) -> TestClient:
    client = TestClient(
        app, base_url="https://testserver", raise_server_exceptions=True, follow_redirects=False
    )
    client.__enter__()
    sign_in(client, username)
    return client


@pytest.fixture
def patient(app: FastAPI) -> Iterator[TestClient]:
    """Signed in as ``patient.w-len`` (W-LEN's own account)."""
    client = _client(app, "patient.w-len")
    yield client
    client.__exit__(None, None, None)


@pytest.fixture
def nurse_b(app: FastAPI) -> Iterator[TestClient]:
    """Signed in as ``nurse.b`` (care team B: none of the cohort)."""
    client = _client(app, "nurse.b")
    yield client
    client.__exit__(None, None, None)


@pytest.fixture
def btz_thread(engine: Engine, accounts: SeededAccounts) -> int:
    """A thread of W-BTZ, started by W-BTZ's own account (made here)."""
    factory = make_session_factory(engine)
    author = create_user(
        factory,
        username="patient.w-btz",
        password=PASSWORDS["patient"],
        role="patient",
        display_name="Patient W-BTZ",
        now=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        patient_id="W-BTZ",
    )
    return start_thread(
        factory,
        "W-BTZ",
        author,
        "Another patient's question",
        "canary-other-3e4f",
        dt.datetime(2026, 11, 20, tzinfo=dt.UTC),
    )


def _ask(client: TestClient, subject: str = SUBJECT, body: str = BODY) -> int:
    sent = client.post("/patients/W-LEN/messages", data={"subject": subject, "body": body})
    assert sent.status_code == 303, sent.text[-800:]
    found = re.fullmatch(r"/patients/W-LEN/messages/(\d+)", sent.headers["location"])
    assert found, sent.headers["location"]
    return int(found.group(1))


def _stored(engine: Engine) -> list[tuple[int, str, str, int]]:
    """Every thread as (id, patient, status, messages)."""
    with make_session_factory(engine)() as session:
        counts = dict(
            session.execute(
                select(Message.thread_id, func.count()).group_by(Message.thread_id)
            ).all()
        )
        threads = session.scalars(select(MessageThread).order_by(MessageThread.id))
        return [(t.id, t.patient_id, t.status, counts.get(t.id, 0)) for t in threads]


def _inbox_team_a(client: TestClient) -> str:
    html = client.get("/inbox").text
    return html[html.index("Care team A") :]


def test_a_question_is_sent_answered_and_read_end_to_end(
    patient: TestClient, client: TestClient, clock: FakeClock, engine: Engine
) -> None:
    page = patient.get("/patients/W-LEN/messages")
    assert page.status_code == 200
    assert "working hours" in page.text
    assert 'action="/patients/W-LEN/messages"' in page.text
    assert 'name="csrf_token"' in page.text
    thread_id = _ask(patient)

    inbox = _inbox_team_a(client)
    assert "1 new, 0 answered" in inbox
    assert SUBJECT in inbox
    assert f'href="/patients/W-LEN/messages/{thread_id}"' in inbox
    assert BODY not in inbox  # the inbox lists subjects, not what was written

    clock.advance(minutes=3)
    thread_page = client.get(f"/patients/W-LEN/messages/{thread_id}")
    assert thread_page.status_code == 200
    assert BODY in thread_page.text
    answered = client.post(f"/patients/W-LEN/messages/{thread_id}", data={"body": ANSWER})
    assert answered.status_code == 303
    assert answered.headers["location"] == f"/patients/W-LEN/messages/{thread_id}#latest"

    seen = patient.get(f"/patients/W-LEN/messages/{thread_id}").text
    assert ANSWER in seen
    assert "Nurse A (nurse)" in seen
    assert "Your care team has replied" in seen
    assert "Your care team has replied" in patient.get("/patients/W-LEN/messages").text
    assert "0 new, 1 answered" in _inbox_team_a(client)
    assert _stored(engine) == [(thread_id, "W-LEN", "answered", 2)]

    with make_session_factory(engine)() as session:
        rows = audit_rows(session, limit=20)
    created = [r for r in rows if r.resource_type == "message" and r.action == "create"]
    assert {r.resource_id for r in created} == {str(thread_id)}
    assert {r.outcome for r in created} == {"success"}


def test_staff_of_another_care_team_get_404_and_an_empty_inbox(
    patient: TestClient, nurse_b: TestClient, engine: Engine
) -> None:
    thread_id = _ask(patient)
    before = _stored(engine)
    for response in (
        nurse_b.get("/patients/W-LEN/messages"),
        nurse_b.get(f"/patients/W-LEN/messages/{thread_id}"),
        nurse_b.post(f"/patients/W-LEN/messages/{thread_id}", data={"body": "Hello"}),
    ):
        assert response.status_code == 404
        assert SUBJECT not in response.text and BODY not in response.text
    inbox = nurse_b.get("/inbox")
    assert inbox.status_code == 200
    assert "Care team B" in inbox.text
    assert "0 new, 0 answered" in inbox.text
    assert SUBJECT not in inbox.text and "W-LEN" not in inbox.text
    assert _stored(engine) == before


def _without_request_id(html: str) -> str:
    return re.sub(r"[0-9a-f]{16}", "", html)


def test_a_patient_reaches_no_other_patients_messages(
    patient: TestClient, btz_thread: int, engine: Engine
) -> None:
    before = _stored(engine)
    refused = {
        "list": patient.get("/patients/W-BTZ/messages"),
        "start": patient.post("/patients/W-BTZ/messages", data={"subject": "Hi", "body": "Hi"}),
        "thread": patient.get(f"/patients/W-BTZ/messages/{btz_thread}"),
        "reply": patient.post(f"/patients/W-BTZ/messages/{btz_thread}", data={"body": "Hi"}),
        # W-BTZ's thread id under the patient's own id (A4): neither shown nor written to.
        "own path": patient.get(f"/patients/W-LEN/messages/{btz_thread}"),
        "own path reply": patient.post(
            f"/patients/W-LEN/messages/{btz_thread}", data={"body": "Hi"}
        ),
        "missing": patient.get("/patients/W-LEN/messages/987654"),
        "malformed": patient.get("/patients/W-LEN/messages/1x"),
        "too big": patient.get("/patients/W-LEN/messages/99999999999999999999999"),
    }
    assert {name: r.status_code for name, r in refused.items()} == dict.fromkeys(refused, 404)
    for response in refused.values():
        assert "Another patient" not in response.text and "canary-other" not in response.text
    # A foreign thread and a missing one cannot be told apart.
    assert _without_request_id(refused["own path"].text) == _without_request_id(
        refused["missing"].text
    )
    assert _stored(engine) == before
    assert "Another patient" not in patient.get("/patients/W-LEN/messages").text


def test_a_thread_id_under_another_patients_path_is_never_shown_or_moved(
    patient: TestClient, client: TestClient, engine: Engine
) -> None:
    thread_id = _ask(patient)
    before = _stored(engine)
    # nurse.a may see both W-LEN and W-BTZ; the thread is W-LEN's only.
    shown = client.get(f"/patients/W-BTZ/messages/{thread_id}")
    moved = client.post(f"/patients/W-BTZ/messages/{thread_id}", data={"body": "Moved?"})
    assert (shown.status_code, moved.status_code) == (404, 404)
    assert SUBJECT not in shown.text
    assert SUBJECT not in client.get("/patients/W-BTZ/messages").text
    assert _stored(engine) == before == [(thread_id, "W-LEN", "new", 1)]


def test_staff_cannot_start_a_thread_for_a_patient(client: TestClient, engine: Engine) -> None:
    refused = client.post("/patients/W-LEN/messages", data={"subject": "Hi", "body": "Hi"})
    assert refused.status_code == 403
    assert 'action="/patients/W-LEN/messages"' not in client.get("/patients/W-LEN/messages").text
    assert _stored(engine) == []


def test_empty_and_too_long_messages_are_refused_with_the_field_named(
    patient: TestClient, client: TestClient, engine: Engine
) -> None:
    empty = patient.post("/patients/W-LEN/messages", data={"subject": SUBJECT, "body": "  "})
    assert empty.status_code == 400
    assert "Your message was not sent yet" in empty.text
    assert 'id="body-error"' in empty.text and 'href="#body"' in empty.text
    assert f'value="{SUBJECT}"' in empty.text  # what was typed is kept
    too_long = patient.post(
        "/patients/W-LEN/messages", data={"subject": SUBJECT, "body": "a" * 5001}
    )
    assert too_long.status_code == 400
    assert 'id="body-error"' in too_long.text and "5001 characters" in too_long.text
    no_subject = patient.post("/patients/W-LEN/messages", data={"subject": "", "body": BODY})
    assert no_subject.status_code == 400
    assert 'id="subject-error"' in no_subject.text and 'id="body-error"' not in no_subject.text
    assert _stored(engine) == []

    thread_id = _ask(patient)
    for writer in (patient, client):
        blank = writer.post(f"/patients/W-LEN/messages/{thread_id}", data={"body": "\n \t"})
        assert blank.status_code == 400
        assert 'id="body-error"' in blank.text
        assert BODY in blank.text  # the thread is shown again with the problem
    assert _stored(engine) == [(thread_id, "W-LEN", "new", 1)]


def test_the_help_page_links_a_signed_in_patient_to_their_messages(
    patient: TestClient, client: TestClient
) -> None:
    link = 'href="/patients/W-LEN/messages">Send a question to your care team</a>'
    page = patient.get("/support/ask").text
    assert link in page
    assert "Your specialist team" in page  # the phone and e-mail details stay
    assert "Send a question to your care team" not in client.get("/support/ask").text
    assert 'href="/patients/W-LEN/messages"' in patient.get("/support").text  # the menu
    assert 'href="/inbox"' in client.get("/support").text


# --- e-mail to the care team ----------------------------------------------------------------


class Recorder:
    """An aiosmtpd handler that keeps every envelope it is given."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    """A local SMTP server on loopback, recording what it receives."""
    recorder = Recorder()
    port = _free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


def _app_with(settings: WebSettings, engine: Engine, clock: FakeClock, **smtp: Any) -> FastAPI:
    return create_app(settings.model_copy(update=smtp), engine=engine, clock=clock)


def test_a_patients_question_sends_the_team_one_mail_without_patient_data(
    settings: WebSettings,
    engine: Engine,
    accounts: SeededAccounts,
    clock: FakeClock,
    smtp_server: tuple[Recorder, int],
) -> None:
    recorder, port = smtp_server
    app = _app_with(
        settings, engine, clock, smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False
    )
    patient, nurse = _client(app, "patient.w-len"), _client(app, "nurse.a")
    try:
        thread_id = _ask(patient)
        assert len(recorder.envelopes) == 1
        (envelope,) = recorder.envelopes
        assert envelope.rcpt_tos == ["team-a@example.test"]
        raw = bytes(envelope.content)
        mail = message_from_bytes(raw)
        assert "A new question is waiting in relapsewatch. Sign in to read it." in str(
            mail.get_payload(decode=True), "utf-8"
        )
        for secret in ("W-LEN", "w-len", SUBJECT, "tablets", "canary-", f"/{thread_id}"):
            assert secret.encode() not in raw, secret
        nurse.post(f"/patients/W-LEN/messages/{thread_id}", data={"body": ANSWER})
        assert len(recorder.envelopes) == 1  # staff replies send nothing
        patient.post(f"/patients/W-LEN/messages/{thread_id}", data={"body": "canary-more-2"})
        assert len(recorder.envelopes) == 2  # the patient writing more does
        assert b"canary" not in bytes(recorder.envelopes[1].content).lower()
    finally:
        patient.__exit__(None, None, None)
        nurse.__exit__(None, None, None)


def test_no_mail_is_sent_without_an_smtp_host(
    patient: TestClient, smtp_server: tuple[Recorder, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder, _port = smtp_server
    opened: list[object] = []
    monkeypatch.setattr("relapsewatch.web.notify.smtplib.SMTP", lambda *a, **k: opened.append(a))
    _ask(patient)
    assert opened == [] and recorder.envelopes == []


def test_a_failed_mail_never_fails_the_question_and_logs_no_details(
    settings: WebSettings,
    engine: Engine,
    accounts: SeededAccounts,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed_port = _free_port()  # nothing listens there: the connection is refused
    app = _app_with(
        settings, engine, clock, smtp_host="127.0.0.1", smtp_port=closed_port, smtp_starttls=False
    )
    patient = _client(app, "patient.w-len")
    try:
        with caplog.at_level(logging.DEBUG, logger="relapsewatch"):
            thread_id = _ask(patient)
    finally:
        patient.__exit__(None, None, None)
    assert _stored(engine) == [(thread_id, "W-LEN", "new", 1)]
    notices = [r.getMessage() for r in caplog.records if r.name == "relapsewatch.web.notify"]
    assert notices == ["new-question e-mail not sent (ConnectionRefusedError)"]
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("relapsewatch"))
    for secret in ("team-a@example.test", "W-LEN", SUBJECT, BODY):
        assert secret not in logged
