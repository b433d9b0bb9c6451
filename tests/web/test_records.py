"""Data rights pages: who has looked at a record (D7), downloads (G1) and erasure (G2).

Runs on SQLite and PostgreSQL (the ``engine`` fixture takes ``database_url``).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from accounts_support import FakeClock, SeededAccounts, sign_in
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from conftest import https_client
from relapsewatch.io import read_tables, validate_folder
from relapsewatch.store.audit import AuditRecord, append_audit, pseudonym_of, verify_audit
from relapsewatch.store.db import make_session_factory
from relapsewatch.store.models import AuditEvent, Patient, PatientPseudonym, User
from relapsewatch.store.patient_data import count_patient_rows, patient_paths, patient_rows
from relapsewatch.store.repository import load_patient_tables
from relapsewatch.web.routers.records import ACCESS_LOG_PAGE_SIZE

_ROW_ID = re.compile(r'<tr data-audit-id="(\d+)">')


@pytest.fixture
def patient(app: FastAPI) -> Iterator[TestClient]:
    """A client signed in as ``patient.w-len`` (the W-LEN record)."""
    with https_client(app) as test_client:
        sign_in(test_client, "patient.w-len")
        yield test_client


@pytest.fixture
def admin(app: FastAPI) -> Iterator[TestClient]:
    with https_client(app) as test_client:
        sign_in(test_client, "admin")
        yield test_client


def _signed_in(app: FastAPI, username: str) -> TestClient:
    test_client = https_client(app)
    sign_in(test_client, username)
    return test_client


def _subject_rows(engine: Engine, patient_id: str) -> list[AuditEvent]:
    with make_session_factory(engine)() as session:
        subject = pseudonym_of(session, patient_id)
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.subject == subject).order_by(AuditEvent.id)
            )
        )


def _last_audit(engine: Engine) -> AuditEvent:
    with make_session_factory(engine)() as session:
        row = session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
    assert row is not None
    return row


# ---------------------------------------------------------------------------------------------
# Who has looked at my record (D7)
# ---------------------------------------------------------------------------------------------


def test_the_access_log_lists_exactly_the_audit_rows_of_the_record(
    app: FastAPI, client: TestClient, patient: TestClient, engine: Engine
) -> None:
    assert client.get("/patients/W-LEN").status_code == 200
    assert client.get("/patients/W-LEN/results/new").status_code == 200
    assert client.get("/patients/W-BTZ").status_code == 200  # another record: not listed
    with _signed_in(app, "nurse.b") as outsider:
        assert outsider.get("/patients/W-LEN").status_code == 404  # a denied row

    before = [row.id for row in _subject_rows(engine, "W-LEN")]
    page = patient.get("/patients/W-LEN/access-log")
    assert page.status_code == 200
    listed = [int(n) for n in _ROW_ID.findall(page.text)]
    assert listed == sorted(before, reverse=True)  # exactly those rows, newest first
    rows = _subject_rows(engine, "W-LEN")
    assert [r.id for r in rows[:-1]] == before
    assert (rows[-1].action, rows[-1].resource_type) == ("read", "access_log")  # this request
    assert "Nurse A (nurse) looked at your record" in page.text
    assert "Nurse B (nurse) looked at your record" in page.text
    assert "Not allowed" in page.text


def test_admins_see_the_access_log_of_any_record_and_others_do_not(
    app: FastAPI, client: TestClient, patient: TestClient, admin: TestClient
) -> None:
    page = admin.get("/patients/W-BTZ/access-log")
    assert page.status_code == 200
    assert "this record" in page.text or "Nobody has used this record yet" in page.text
    assert client.get("/patients/W-LEN/access-log").status_code == 403  # a nurse
    with _signed_in(app, "clinician.a") as clinician:
        assert clinician.get("/patients/W-LEN/access-log").status_code == 403
    assert patient.get("/patients/W-BTZ/access-log").status_code == 404  # another record
    assert patient.get("/patients/NO-SUCH/access-log").status_code == 404


def test_the_access_log_is_paged_by_100(
    patient: TestClient, engine: Engine, clock: FakeClock
) -> None:
    records = [
        AuditRecord(
            at=clock.now + dt.timedelta(seconds=i),
            user_id=None,
            role="nurse",
            action="read",
            resource_type="course",
            outcome="success",
            request_id=f"page{i}",
            patient_id="W-LEN",
        )
        for i in range(ACCESS_LOG_PAGE_SIZE + 20)
    ]
    append_audit(make_session_factory(engine), records)

    def newest_first() -> list[int]:
        return sorted((r.id for r in _subject_rows(engine, "W-LEN")), reverse=True)

    assert ACCESS_LOG_PAGE_SIZE == 100
    expected = newest_first()
    first = patient.get("/patients/W-LEN/access-log")
    assert [int(n) for n in _ROW_ID.findall(first.text)] == expected[:100]
    expected = newest_first()  # the first page's own view is now the newest row
    second = patient.get("/patients/W-LEN/access-log?page=2")
    assert [int(n) for n in _ROW_ID.findall(second.text)] == expected[100:]
    assert len(expected[100:]) == 21
    assert 'rel="next"' in first.text and 'rel="next"' not in second.text
    assert patient.get("/patients/W-LEN/access-log?page=0").status_code == 422


# ---------------------------------------------------------------------------------------------
# Downloads (G1)
# ---------------------------------------------------------------------------------------------


def _is_download(response: object, kind: str) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert headers["content-type"].startswith(kind)
    assert headers["content-disposition"].startswith("attachment;")
    assert "no-store" in headers["cache-control"]


def test_a_patient_downloads_their_own_record(
    patient: TestClient, engine: Engine, tmp_path: Path
) -> None:
    page = patient.get("/patients/W-LEN/export")
    assert page.status_code == 200
    assert 'href="/patients/W-LEN/export.json"' in page.text
    assert 'href="/patients/W-LEN/export.zip"' in page.text

    response = patient.get("/patients/W-LEN/export.json")
    _is_download(response, "application/json")
    record = json.loads(response.content)
    assert record["patient_id"] == "W-LEN"
    assert [p["patient_id"] for p in record["tables"]["patients"]] == ["W-LEN"]
    assert [u["username"] for u in record["tables"]["users"]] == ["patient.w-len"]
    assert "W-BTZ" not in response.text
    with make_session_factory(engine)() as session:
        counts = count_patient_rows(session, "W-LEN")
    for name, rows in record["tables"].items():
        assert len(rows) == counts.get(name, 0), name

    archive = patient.get("/patients/W-LEN/export.zip")
    _is_download(archive, "application/zip")
    with zipfile.ZipFile(io.BytesIO(archive.content)) as opened:
        opened.extractall(tmp_path)
    report = validate_folder(tmp_path)
    assert report.ok, [str(p) for p in report.problems]
    back = read_tables(tmp_path)
    with make_session_factory(engine)() as session:
        stored = load_patient_tables(session, "W-LEN")
    assert stored is not None
    for name in ("patients", "measurements", "treatments", "findings"):
        assert getattr(back, name).height == getattr(stored, name).height, name
    assert back.measurements.select("date", "test", "value").sort("date", "test").rows() == (
        stored.measurements.select("date", "test", "value").sort("date", "test").rows()
    )


def test_the_care_team_downloads_a_record_and_nobody_else_does(
    app: FastAPI, client: TestClient, patient: TestClient
) -> None:
    _is_download(client.get("/patients/W-BTZ/export.json"), "application/json")
    _is_download(client.get("/patients/W-BTZ/export.zip"), "application/zip")
    for path in ("/export", "/export.json", "/export.zip"):
        assert patient.get(f"/patients/W-BTZ{path}").status_code == 404
        assert patient.get(f"/patients/NO-SUCH{path}").status_code == 404
        with _signed_in(app, "nurse.b") as outsider:
            assert outsider.get(f"/patients/W-LEN{path}").status_code == 404


def test_downloads_are_audited_as_exports(client: TestClient, engine: Engine) -> None:
    client.get("/patients/W-LEN/export.json")
    row = _last_audit(engine)
    assert (row.action, row.resource_type, row.outcome) == ("export", "record_json", "success")
    client.get("/patients/W-LEN/export.zip")
    row = _last_audit(engine)
    assert (row.action, row.resource_type, row.outcome) == ("export", "record_csv", "success")


def test_the_patient_menu_links_to_the_data_rights_pages(patient: TestClient) -> None:
    page = patient.get("/patients/W-LEN").text
    assert 'href="/patients/W-LEN/access-log"' in page
    assert 'href="/patients/W-LEN/export"' in page


# ---------------------------------------------------------------------------------------------
# Erasure (G2)
# ---------------------------------------------------------------------------------------------


def test_the_erase_form_shows_counts_and_no_clinical_values(
    admin: TestClient, engine: Engine
) -> None:
    with make_session_factory(engine)() as session:
        counts = count_patient_rows(session, "W-LEN")
    page = admin.get("/admin/patients/W-LEN/erase")
    assert page.status_code == 200
    for name, count in counts.items():
        assert f"<td>{name}</td><td>{count}</td>" in page.text
    for clinical in ("serum_m_protein", "lenalidomide", "2024-01-02", "IgG", "kappa"):
        assert clinical not in page.text
    assert 'name="csrf_token"' in page.text


def test_a_wrong_confirmation_erases_nothing(admin: TestClient, engine: Engine) -> None:
    response = admin.post("/admin/patients/W-LEN/erase", data={"confirm": "w-len"})
    assert response.status_code == 400
    assert 'name="confirm"' in response.text
    with make_session_factory(engine)() as session:
        assert session.get(Patient, "W-LEN") is not None
    row = _last_audit(engine)
    assert (row.action, row.outcome) == ("delete", "failure")


def test_only_an_admin_may_erase(
    app: FastAPI, client: TestClient, patient: TestClient, engine: Engine
) -> None:
    for user in (client, patient):
        assert user.get("/admin/patients/W-LEN/erase").status_code == 403
        response = user.post("/admin/patients/W-LEN/erase", data={"confirm": "W-LEN"})
        assert response.status_code == 403
    with make_session_factory(engine)() as session:
        assert session.get(Patient, "W-LEN") is not None


def test_an_admin_erases_a_patient_and_the_erasure_is_audited(
    admin: TestClient,
    client: TestClient,
    patient: TestClient,
    engine: Engine,
    accounts: SeededAccounts,
) -> None:
    assert client.get("/patients/W-LEN").status_code == 200
    kept_before = _subject_rows(engine, "W-LEN")
    with make_session_factory(engine)() as session:
        subject = pseudonym_of(session, "W-LEN")
        btz_before = load_patient_tables(session, "W-BTZ")
    assert subject is not None and kept_before

    response = admin.post("/admin/patients/W-LEN/erase", data={"confirm": "W-LEN"})
    assert response.status_code == 200
    assert "Record W-LEN was erased" in response.text
    assert "could not be overwritten" not in response.text  # the scrub finished

    with make_session_factory(engine)() as session:
        for name in patient_paths():
            assert session.execute(patient_rows(name, "W-LEN")).first() is None, name
        assert session.scalar(select(User).where(User.username == "patient.w-len")) is None
        assert (
            session.scalar(select(PatientPseudonym).where(PatientPseudonym.pseudonym == subject))
            is None
        )
        kept = list(session.scalars(select(AuditEvent).where(AuditEvent.subject == subject)))
        assert [r.id for r in kept] == [r.id for r in kept_before]  # kept, now nobody's
        assert verify_audit(session).ok
        btz_after = load_patient_tables(session, "W-BTZ")
    assert btz_before is not None and btz_after is not None
    assert btz_after.measurements.equals(btz_before.measurements)

    row = _last_audit(engine)
    assert (row.action, row.resource_type, row.outcome) == ("delete", "patient", "success")
    assert row.user_id == accounts.users["admin"].id
    assert row.subject is None
    assert row.resource_id == subject  # links the erasure to the kept rows, names nobody
    assert row.detail is not None and "W-LEN" not in row.detail

    # the patient's sessions ended with the account; the record is gone for everyone
    assert patient.get("/patients/W-LEN/export.json").status_code == 401
    assert client.get("/patients/W-LEN").status_code == 404
    assert admin.get("/admin/patients/W-LEN/erase").status_code == 404
