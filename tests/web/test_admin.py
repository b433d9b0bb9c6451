"""The admin pages: accounts, care teams and the audit trail (RELIABILITY B3, B7, C6, D1, D3).

An admin creates a nurse (the server's password is shown once and signs in), disables and
enables accounts (a disabled account's session gets 401 on its next request), resets a
password (the new one shown once, every session of the account ended), creates care teams and
adds patients to them. Nurses, clinicians and patients get 403 on every admin route. The audit
page pages and filters the rows, shows pseudonyms and never a patient id, and checks the chain;
the CSV export has every row with its hash and no cell a spreadsheet would run as a formula.
Every change to an account or a care team leaves an audit row naming it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from relapsewatch.accounts.passwords import check_password_rules
from relapsewatch.store.accounts import list_users
from relapsewatch.store.audit import AuditRecord, append_audit, count_audit, pseudonym_of
from relapsewatch.store.audit_export import (
    EXPORT_COLUMNS,
    FORMULA_STARTS,
    audit_csv_chunks,
    neutralise_cell,
)
from relapsewatch.store.db import make_session_factory
from relapsewatch.store.models import AuditEvent, CareTeamPatient
from relapsewatch.web.routers.admin import router as admin_router

sys.path.insert(0, str(Path(__file__).parent))
from accounts_support import PASSWORDS, SeededAccounts, sign_in

COHORT_IDS = ("W-LEN", "W-BTZ", "W-RISE", "W-NEW")

_PASSWORD = re.compile(r'<code id="new-password">([^<]+)</code>')


def https_client(app: FastAPI) -> TestClient:
    """A client on ``https://testserver`` (the session cookie is ``Secure``)."""
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


@pytest.fixture
def admin(app: FastAPI) -> Iterator[TestClient]:
    """A client signed in as the seeded admin."""
    with https_client(app) as test_client:
        sign_in(test_client, "admin")
        yield test_client


def _shown_password(html: str) -> str:
    found = _PASSWORD.findall(html)
    assert len(found) == 1, "the new password must be on the page exactly once"
    return found[0]


def _audit(engine: Engine) -> list[AuditEvent]:
    with make_session_factory(engine)() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def _last_audit(engine: Engine) -> AuditEvent:
    return _audit(engine)[-1]


def _create(admin: TestClient, **form: str) -> tuple[int, str]:
    response = admin.post("/admin/users", data={"display_name": "", "patient_id": "", **form})
    return response.status_code, response.text


# --- accounts -----------------------------------------------------------------------------------


def test_admin_creates_a_nurse_whose_password_is_shown_once_and_signs_in(
    admin: TestClient, app: FastAPI, accounts: SeededAccounts, engine: Engine
) -> None:
    status, page = _create(
        admin,
        username="nurse.new",
        display_name="New Nurse",
        role="nurse",
        team_id=str(accounts.team_id),
    )
    assert status == 200, page[-800:]
    password = _shown_password(page)
    assert "shown only this once" in page and "Care team A" in page
    check_password_rules(password, role="nurse", username="nurse.new")

    row = _last_audit(engine)
    created_id = int(str(row.resource_id))
    assert (row.action, row.resource_type, row.outcome, row.role) == (
        "create",
        "account",
        "success",
        "admin",
    )
    assert row.user_id == accounts.users["admin"].id and password not in str(row.detail)

    listing = admin.get("/admin/users")
    assert listing.status_code == 200
    assert "nurse.new" in listing.text and password not in listing.text
    assert f"/admin/users/{created_id}/disable" in listing.text

    with https_client(app) as nurse:
        sign_in(nurse, "nurse.new", password)
        patients = nurse.get("/patients")
        assert patients.status_code == 200
        assert all(patient_id in patients.text for patient_id in COHORT_IDS)


def test_patient_accounts_name_their_record_and_admins_no_team(
    admin: TestClient, app: FastAPI, engine: Engine
) -> None:
    status, page = _create(admin, username="patient.rise", role="patient", patient_id="W-RISE")
    assert status == 200, page[-800:]
    password = _shown_password(page)
    with https_client(app) as patient:
        sign_in(patient, "patient.rise", password)
        assert patient.get("/patients/W-RISE").status_code == 200
        assert patient.get("/patients/W-LEN").status_code == 404
    status, page = _create(admin, username="second.admin", role="admin", team_id="")
    assert status == 200
    check_password_rules(_shown_password(page), role="admin", username="second.admin")


ACCOUNT_ERRORS = (
    ({"username": "nurse.a", "role": "nurse", "team_id": "TEAM"}, "is taken"),
    ({"username": "lonely.nurse", "role": "nurse", "team_id": ""}, "care team"),
    ({"username": "x", "role": "admin", "team_id": ""}, "3 to 64 characters"),
    ({"username": "ghost", "role": "patient", "patient_id": "NOPE"}, "no stored patient"),
    ({"username": "two", "role": "patient", "patient_id": "W-LEN"}, "already has an account"),
    ({"username": "boss", "role": "superuser", "team_id": ""}, "role must be one of"),
    ({"username": "wrong.team", "role": "nurse", "team_id": "x1"}, "choose a care team"),
    ({"username": "big.team", "role": "nurse", "team_id": "9" * 20}, "choose a care team"),
    ({"username": "nul.name", "role": "admin", "display_name": "A\x00B"}, "letters, digits"),
    ({"username": "nul.patient", "role": "patient", "patient_id": "W\x00"}, "letters, digits"),
)


def test_account_errors_show_the_form_again_with_400_and_the_reason(
    admin: TestClient, accounts: SeededAccounts, engine: Engine
) -> None:
    for form, message in ACCOUNT_ERRORS:
        before = len(_audit(engine))
        form = {k: (str(accounts.team_id) if v == "TEAM" else v) for k, v in form.items()}
        status, page = _create(admin, **form)
        assert status == 400, form
        assert message in page.lower(), form
        assert 'name="username"' in page and f'value="{form["username"]}"' in page
        assert 'name="csrf_token"' in page
        assert _PASSWORD.search(page) is None
        rows = _audit(engine)
        assert len(rows) == before + 1 and rows[-1].outcome == "failure"


def test_disabling_ends_the_session_at_once_and_enabling_lets_them_back(
    admin: TestClient, client: TestClient, accounts: SeededAccounts, engine: Engine
) -> None:
    nurse_id = accounts.users["nurse.a"].id
    assert client.get("/patients").status_code == 200
    response = admin.post(f"/admin/users/{nurse_id}/disable")
    assert response.status_code == 303
    assert admin.get(response.headers["location"]).text.count("Disabled") == 1
    assert client.get("/patients").status_code == 401
    refused = client.post("/login", data={"username": "nurse.a", "password": PASSWORDS["nurse"]})
    assert refused.status_code == 401

    assert admin.post(f"/admin/users/{nurse_id}/enable").status_code == 303
    sign_in(client, "nurse.a")
    assert client.get("/patients").status_code == 200

    changes = [r for r in _audit(engine) if r.resource_type == "account"]
    assert [(r.action, r.resource_id, r.detail, r.outcome) for r in changes] == [
        ("update", str(nurse_id), "disabled", "success"),
        ("update", str(nurse_id), "enabled", "success"),
    ]


def test_an_admin_cannot_disable_their_own_account(
    admin: TestClient, accounts: SeededAccounts
) -> None:
    response = admin.post(f"/admin/users/{accounts.users['admin'].id}/disable")
    assert response.status_code == 400
    assert "cannot disable your own account" in response.text
    assert admin.get("/admin/users").status_code == 200


def test_unknown_accounts_and_teams_are_refused_with_400(admin: TestClient) -> None:
    for path in ("/admin/users/9999/disable", "/admin/users/9999/password"):
        response = admin.post(path)
        assert response.status_code == 400 and "no user has id 9999" in response.text.lower()
    response = admin.post("/admin/teams/9999/patients", data={"patient_ids": "W-LEN"})
    assert response.status_code == 400 and "no care team has id 9999" in response.text.lower()
    assert admin.post("/admin/users/0/disable").status_code == 422


def test_a_reset_password_is_shown_once_and_ends_every_session(
    admin: TestClient, app: FastAPI, client: TestClient, accounts: SeededAccounts, engine: Engine
) -> None:
    nurse_id = accounts.users["nurse.a"].id
    with https_client(app) as second_device:
        sign_in(second_device, "nurse.a")
        response = admin.post(f"/admin/users/{nurse_id}/password")
        assert response.status_code == 200
        password = _shown_password(response.text)
        assert password != PASSWORDS["nurse"]
        assert client.get("/patients").status_code == 401
        assert second_device.get("/patients").status_code == 401
    old = client.post("/login", data={"username": "nurse.a", "password": PASSWORDS["nurse"]})
    assert old.status_code == 401
    sign_in(client, "nurse.a", password)
    assert client.get("/patients").status_code == 200
    # The admin's own session goes on.
    assert admin.get("/admin/users").status_code == 200
    row = [r for r in _audit(engine) if r.resource_type == "account"][-1]
    assert (row.action, row.resource_id, row.detail) == ("update", str(nurse_id), "password reset")


# --- care teams ---------------------------------------------------------------------------------


def test_admin_creates_a_team_and_adds_patients_by_id(
    admin: TestClient, engine: Engine, accounts: SeededAccounts
) -> None:
    response = admin.post(
        "/admin/teams", data={"name": "Night team", "notify_email": "night@example.test"}
    )
    assert response.status_code == 303
    page = admin.get(response.headers["location"])
    assert "The care team was created." in page.text and "night@example.test" in page.text
    team_row = _last_audit(engine)
    assert (team_row.action, team_row.resource_type) == ("create", "care_team")
    team_id = int(str(team_row.resource_id))

    response = admin.post(
        f"/admin/teams/{team_id}/patients", data={"patient_ids": "W-LEN, W-BTZ\nW-LEN  W-NEW"}
    )
    assert response.status_code == 303
    assert "3 patients added" in admin.get(response.headers["location"]).text
    with make_session_factory(engine)() as session:
        stored = set(
            session.scalars(
                select(CareTeamPatient.patient_id).where(CareTeamPatient.team_id == team_id)
            )
        )
    assert stored == {"W-LEN", "W-BTZ", "W-NEW"}
    row = _last_audit(engine)
    assert (row.action, row.resource_type, row.resource_id, row.detail) == (
        "update",
        "care_team",
        str(team_id),
        "added 3 patient(s)",
    )

    unknown = admin.post(f"/admin/teams/{team_id}/patients", data={"patient_ids": "W-RISE X-1"})
    assert unknown.status_code == 400 and "X-1" in unknown.text
    control = admin.post(f"/admin/teams/{team_id}/patients", data={"patient_ids": "W-LEN W\x00"})
    assert control.status_code == 400 and "letters, digits" in control.text
    assert admin.post("/admin/teams", data={"name": "Nul\x00team"}).status_code == 400
    duplicate = admin.post("/admin/teams", data={"name": "Night team"})
    assert duplicate.status_code == 400 and "already exists" in duplicate.text
    assert _last_audit(engine).outcome == "failure"


# --- who may use these pages --------------------------------------------------------------------


def _admin_requests(accounts: SeededAccounts) -> list[tuple[str, str]]:
    """Every (method, path) of the admin router, with real ids."""
    found = []
    for route in admin_router.routes:
        assert isinstance(route, APIRoute)
        path = route.path.replace("{user_id}", str(accounts.users["nurse.b"].id))
        path = path.replace("{team_id}", str(accounts.team_id))
        found.extend((method, path) for method in sorted(route.methods - {"HEAD"}))
    return found


def test_nobody_but_an_admin_reaches_any_admin_route(
    app: FastAPI, accounts: SeededAccounts, engine: Engine, anonymous: TestClient
) -> None:
    requests = _admin_requests(accounts)
    assert len(requests) == 10
    for username in ("nurse.a", "clinician.a", "patient.w-len"):
        with https_client(app) as other:
            sign_in(other, username)
            for method, path in requests:
                form = {"username": "sneaky", "role": "admin", "patient_ids": "W-LEN"}
                response = other.request(method, path, data=form if method == "POST" else None)
                assert response.status_code == 403, (username, method, path)
    for method, path in requests:
        assert anonymous.request(method, path).status_code == 401, (method, path)
    with make_session_factory(engine)() as session:
        assert "sneaky" not in {a.username for a in list_users(session)}


def test_an_admin_sees_no_clinical_pages(admin: TestClient) -> None:
    assert admin.get("/patients").status_code == 403
    page = admin.get("/admin/users").text
    for label in ("Accounts", "Care teams", "Audit trail"):
        assert f">{label}</a>" in page
    assert ">Patients</a>" not in page and ">Import</a>" not in page


# --- the audit trail ----------------------------------------------------------------------------


def test_the_audit_page_shows_pseudonyms_and_never_a_patient_id(
    admin: TestClient, client: TestClient, engine: Engine
) -> None:
    for patient_id in COHORT_IDS:
        assert client.get(f"/patients/{patient_id}").status_code == 200
    page = admin.get("/admin/audit")
    assert page.status_code == 200
    with make_session_factory(engine)() as session:
        pseudonyms = [pseudonym_of(session, p) for p in COHORT_IDS]
    for pseudonym in pseudonyms:
        assert pseudonym is not None and pseudonym in page.text
    for patient_id in COHORT_IDS:
        assert patient_id not in page.text
    assert "nurse.a" in page.text and "course" in page.text
    assert 'id="chain-report"' not in page.text

    checked = admin.get("/admin/audit", params={"check": "true"})
    assert "The chain is intact" in checked.text
    # Viewing the trail is itself recorded.
    assert [(r.action, r.resource_type) for r in _audit(engine)[-2:]] == [
        ("query", "audit_trail"),
        ("query", "audit_trail"),
    ]


def test_the_audit_page_filters_and_pages_100_rows_at_a_time(
    admin: TestClient, accounts: SeededAccounts, engine: Engine
) -> None:
    factory = make_session_factory(engine)
    at = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
    nurse_b = accounts.users["nurse.b"].id
    append_audit(
        factory,
        [
            AuditRecord(
                at=at,
                user_id=nurse_b,
                role="nurse",
                action="read",
                resource_type="course",
                outcome="denied" if n % 2 else "success",
                request_id=f"page{n:04d}",
            )
            for n in range(150)
        ],
    )
    first = admin.get("/admin/audit", params={"user_id": str(nurse_b)})
    ids = [int(i) for i in re.findall(r'<td data-label="Row">(\d+)</td>', first.text)]
    assert len(ids) == 100 and ids == sorted(ids, reverse=True)
    older = re.search(r'before_id=(\d+)" rel="next"', first.text)
    assert older is not None and int(older.group(1)) == ids[-1]
    second = admin.get(
        "/admin/audit", params={"user_id": str(nurse_b), "before_id": older.group(1)}
    )
    more = [int(i) for i in re.findall(r'<td data-label="Row">(\d+)</td>', second.text)]
    assert len(more) == 50 and max(more) < min(ids)
    assert 'rel="next"' not in second.text

    denied = admin.get("/admin/audit", params={"user_id": str(nurse_b), "outcome": "denied"})
    assert denied.text.count('<span class="tag warn">denied</span>') == 75
    assert '<span class="tag ok">success</span>' not in denied.text
    assert admin.get("/admin/audit", params={"outcome": "maybe"}).status_code == 422
    assert admin.get("/admin/audit", params={"user_id": "1 OR 1=1"}).status_code == 422


def test_the_export_has_every_row_with_its_hash_and_no_formula_cells(
    admin: TestClient, engine: Engine
) -> None:
    factory = make_session_factory(engine)
    append_audit(
        factory,
        [
            AuditRecord(
                at=dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC),
                user_id=None,
                role="anonymous",
                action="login",
                resource_type="session",
                outcome="failure",
                request_id="=cmd|' /C calc'!A0",
                resource_id="+1+1",
                client_ip="@SUM(1)",
                detail="-2+3",
            )
        ],
    )
    response = admin.get("/admin/audit/export.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(response.text)))
    assert tuple(table[0]) == EXPORT_COLUMNS
    with factory() as session:
        assert len(table) - 1 == count_audit(session)
    forged = next(r for r in table[1:] if r[EXPORT_COLUMNS.index("detail")] == "'-2+3")
    assert forged[EXPORT_COLUMNS.index("request_id")] == "'=cmd|' /C calc'!A0"
    assert forged[EXPORT_COLUMNS.index("resource_id")] == "'+1+1"
    assert forged[EXPORT_COLUMNS.index("client_ip")] == "'@SUM(1)"
    assert all(not cell.startswith(FORMULA_STARTS) for row in table for cell in row)
    assert all(re.fullmatch(r"[0-9a-f]{64}", row[-1]) for row in table[1:])
    exported = _audit(engine)[-1]
    assert exported.action == "export" and exported.resource_type == "audit_trail"


@given(st.lists(st.text(max_size=12), min_size=1, max_size=6))
def test_no_exported_cell_starts_like_a_formula(cells: list[str]) -> None:
    """C6 over arbitrary text: every cell of the CSV reads back neutralised, and nothing else
    about it changes."""
    record = dict.fromkeys(EXPORT_COLUMNS, None) | dict(zip(EXPORT_COLUMNS, cells, strict=False))
    text = "".join(audit_csv_chunks([record]))
    header, row = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(header) == EXPORT_COLUMNS
    for written, original in zip(row, (record[c] for c in EXPORT_COLUMNS), strict=True):
        expected = "" if original is None else original
        assert not written.startswith(FORMULA_STARTS)
        assert written == neutralise_cell(expected)
        assert written in (expected, "'" + expected)
