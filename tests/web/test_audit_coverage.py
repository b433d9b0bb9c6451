"""Every request to a route that touches patient data leaves exactly one audit row (D1), and no
patient data or injected line breaks reach the logs (D5).

D1 is generated from the app: for every (route, method) whose POLICY rule names an action, and
every role the rule allows, one request must append exactly one row holding the signed-in user
and role, the action and resource type the policy names, the patient's pseudonym (for routes
that name a patient), the time in UTC to the millisecond, the client address, the outcome of
the response's status and the response's ``X-Request-ID``. Routes without an action append none.
Login (success and failure) and logout are checked on their own.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from accounts_support import PASSWORDS
from httpx import Response
from security_support import (
    ACTOR_OF_ROLE,
    OWN_PATIENT,
    ROLES_AND_ANONYMOUS,
    World,
    api_routes,
    audit_rows_after,
    build_world,
    https_client,
    last_audit_id,
    open_session,
    param_values,
    path_for,
    send,
    use_session,
)
from sqlalchemy import select

from relapsewatch.io import CanonicalTables
from relapsewatch.store.accounts import create_user
from relapsewatch.store.audit import pseudonym_of
from relapsewatch.store.models import AuditEvent
from relapsewatch.web.policy import rule_for


@pytest.fixture(scope="module")
def world(
    shared_database_url: str,
    cohort: CanonicalTables,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    made = build_world(shared_database_url, cohort, tmp_path_factory.mktemp("staging"))
    # A time with sub-millisecond digits: the row keeps milliseconds only.
    made.clock.now = made.clock.now.replace(microsecond=123_456)
    yield made
    made.engine.dispose()


def _expected_outcome(status: int) -> str:
    if status < 400:
        return "success"
    if status < 500:
        return "failure"
    return "error"


def _as_utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _check_row(
    world: World, row: AuditEvent, response: Response, *, user: str | None, action: str
) -> list[str]:
    """What is wrong with this row (empty when nothing)."""
    wrong = []
    account = world.user(user) if user else None
    expected = {
        "user_id": account.id if account else None,
        "role": account.role if account else "anonymous",
        "action": action,
        "client_ip": "testclient",
        "outcome": _expected_outcome(response.status_code),
        "request_id": response.headers["x-request-id"],
    }
    for name, value in expected.items():
        if getattr(row, name) != value:
            wrong.append(f"{name}={getattr(row, name)!r}, expected {value!r}")
    at = _as_utc(row.at)
    if at != world.clock.now.replace(microsecond=world.clock.now.microsecond // 1000 * 1000):
        wrong.append(f"at={row.at!r}")
    return wrong


def test_every_audited_route_and_role_gives_exactly_one_complete_row(world: World) -> None:
    """D1: generated over every (route, method) × allowed role; unaudited routes add none."""
    victim = create_user(
        world.factory,
        username="audit.target",
        password=PASSWORDS["nurse"],
        role="nurse",
        display_name="Audit Target",
        now=world.clock.now,
        team_ids=[world.accounts.team_id],
    )
    values = {**param_values(world, patient_id=OWN_PATIENT), "user_id": str(victim.id)}
    with world.factory() as session:
        pseudonym = pseudonym_of(session, OWN_PATIENT, create=False)
    problems = []
    audited = unaudited = 0
    with https_client(world.app) as client:
        for route, method in api_routes(world.app):
            rule = rule_for(str(route.name), method)
            assert rule is not None
            path = path_for(route, values)
            roles = ROLES_AND_ANONYMOUS if rule.public else sorted(rule.roles)
            for role in roles:
                user = None if role == "anonymous" else ACTOR_OF_ROLE[role]
                use_session(client, open_session(world, user) if user else None)
                last = last_audit_id(world.factory)
                response = send(client, method, path, headers={"Accept": "*/*"})
                rows = audit_rows_after(world.factory, last)
                where = f"{route.name} {method} as {role} ({response.status_code})"
                if rule.action is None:
                    unaudited += 1
                    if rows:
                        problems.append(f"{where}: {len(rows)} rows, expected none")
                    continue
                audited += 1
                if len(rows) != 1:
                    problems.append(f"{where}: {len(rows)} rows, expected 1")
                    continue
                row = rows[0]
                wrong = _check_row(world, row, response, user=user, action=rule.action)
                if row.resource_type != rule.resource:
                    wrong.append(f"resource_type={row.resource_type!r}")
                if rule.patient_scoped:
                    with world.factory() as session:
                        pseudonym = pseudonym_of(session, OWN_PATIENT, create=False)
                    if pseudonym is None or row.subject != pseudonym:
                        wrong.append(f"subject={row.subject!r}, expected {pseudonym!r}")
                    if OWN_PATIENT in str(row.subject):
                        wrong.append("the subject is the patient id itself")
                problems.extend(f"{where}: {w}" for w in wrong)
    print(f"D1: {audited} audited requests, {unaudited} unaudited")
    assert problems == []
    assert audited >= 20


def test_login_success_and_failure_and_logout_are_audited(world: World) -> None:
    with https_client(world.app) as client:
        last = last_audit_id(world.factory)
        failed = client.post("/login", data={"username": "nurse.b", "password": "not it at all"})
        ok = client.post("/login", data={"username": "nurse.b", "password": PASSWORDS["nurse"]})
        token = client.get("/account/password").text.split('name="csrf-token" content="')[1]
        out = client.post("/logout", headers={"X-CSRF-Token": token[:43]})
        assert (failed.status_code, ok.status_code, out.status_code) == (401, 303, 303)
        rows = audit_rows_after(world.factory, last)
    nurse = world.user("nurse.b")
    assert [(r.action, r.resource_type, r.outcome, r.user_id, r.role) for r in rows] == [
        ("login", "session", "failure", None, "anonymous"),
        ("login", "session", "success", nurse.id, "nurse"),
        ("logout", "session", "success", nurse.id, "nurse"),
    ]
    for row, response in zip(rows, (failed, ok, out), strict=True):
        assert row.request_id == response.headers["x-request-id"]
        assert row.client_ip == "testclient"
        assert row.subject is None


def test_a_locked_out_login_is_audited_as_denied(world: World) -> None:
    with https_client(world.app) as client:
        for _ in range(10):
            client.post("/login", data={"username": "clinician.b", "password": "nope"})
        last = last_audit_id(world.factory)
        locked = client.post(
            "/login", data={"username": "clinician.b", "password": PASSWORDS["clinician"]}
        )
        assert locked.status_code == 429
        rows = audit_rows_after(world.factory, last)
    world.clock.advance(seconds=61)
    assert [(r.action, r.outcome) for r in rows] == [("login", "denied")]


def test_audit_rows_keep_no_patient_id(world: World) -> None:
    """Rows name the patient by pseudonym only (G2): no column holds a cohort id."""
    with world.factory() as session:
        rows = session.scalars(select(AuditEvent)).all()
    assert rows
    for row in rows:
        for column in ("subject", "resource_id", "detail"):
            value = str(getattr(row, column) or "")
            assert not any(patient in value for patient in ("W-LEN", "W-BTZ", "W-RISE")), column


# --- D5 -------------------------------------------------------------------------------------

CANARY = "CANARY-LOG-9b1e"
#: A canary wrapped in a forged log line: CR/LF to start a new line, ANSI to recolour it.
INJECTED = f"{CANARY}\r\n2026-01-01 INFO forged line\x1b[31m red \x1b[0m\x1b]0;title\x07"


def test_no_canary_or_injected_control_characters_reach_the_logs(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """D5: inputs with canaries and CR/LF/ANSI sequences, sent through the login, the search,
    entry forms, messages and addresses (including ones that fail), leave no trace in any log
    record at DEBUG level."""
    # The test's own client logs each address it asks for (which hold the canary); that is not
    # the app's output, and the suite-wide check (tests/conftest.py) must not see it either.
    # (Set first: caplog.set_level also sets its handler's level, so DEBUG must come last.)
    caplog.set_level(logging.WARNING, logger="httpx")
    caplog.set_level(logging.DEBUG)
    logging.getLogger("relapsewatch.web").debug("capture check")
    version = param_values(world)["thread_id"]
    with https_client(world.app) as client:
        client.post("/login", data={"username": INJECTED, "password": INJECTED})
        client.get("/login", params={"next": f"/patients/{INJECTED}"})
        use_session(client, open_session(world, "nurse.a"))
        client.get("/patients", params={"q": INJECTED[:60]})
        client.get(f"/patients/{quote(INJECTED, safe='')}")
        client.get(f"/patients/{quote(INJECTED, safe='')}/messages")
        client.post(
            f"/patients/{OWN_PATIENT}/results",
            data={"version": "0", "date": INJECTED[:60], "test": INJECTED[:60], "value": "1"},
        )
        client.post(
            f"/patients/{OWN_PATIENT}/treatments",
            data={"version": "0", "regimen": INJECTED[:60], "start_date": INJECTED[:60]},
        )
        client.post(f"/patients/{OWN_PATIENT}/messages/{version}", data={"body": INJECTED})
        client.post("/import/preview", files={"file": (INJECTED[:40] + ".csv", INJECTED.encode())})
        use_session(client, open_session(world, "patient.w-len"))
        client.post(
            f"/patients/{OWN_PATIENT}/messages", data={"subject": INJECTED[:60], "body": INJECTED}
        )
        use_session(client, open_session(world, "admin"))
        client.post("/admin/users", data={"username": INJECTED, "display_name": INJECTED})
    seen = [r.getMessage() for r in caplog.records if r.name == "relapsewatch.web"]
    assert "capture check" in seen, "the capture does not see the app's DEBUG records"
    leaks = []
    for record in caplog.records:
        text = record.getMessage() + repr(record.args)
        if CANARY in text or "forged line" in text:
            leaks.append((record.name, "canary"))
        if any(c in record.getMessage() for c in ("\r", "\x1b", "\x07")):
            leaks.append((record.name, "control character"))
        if "\n" in record.getMessage() and "forged" in record.getMessage():
            leaks.append((record.name, "line break"))
    assert leaks == []


def test_a_server_error_on_a_patient_page_logs_no_patient_id(
    world: World, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """D5: the unhandled-error log line names the route, not the address (which holds the
    patient's id) nor anything typed into it."""
    from relapsewatch.web.routers import patients

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(patients, "load_course", broken)
    monkeypatch.setattr(patients, "load_patient_tables", broken)
    world.app.state.page_cache.clear()
    caplog.set_level(logging.DEBUG)
    with https_client(world.app) as client:
        use_session(client, open_session(world, "nurse.a"))
        response = client.get(f"/patients/{OWN_PATIENT}", params={"scale": "log"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] in response.text
    errors = [
        r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and r.name != "httpx"
    ]
    assert errors, "the error was not logged"
    assert not [m for m in errors if OWN_PATIENT in m or "scale" in m]
    assert [m for m in errors if response.headers["x-request-id"] in m]
