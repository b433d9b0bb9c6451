"""Import through the browser's form: preview lists every problem, apply is all or nothing."""

from __future__ import annotations

import io
import re
import sys
import zipfile
from pathlib import Path

import polars as pl
from fastapi import FastAPI
from fastapi.testclient import TestClient

from relapsewatch.io import read_tables

sys.path.insert(0, str(Path(__file__).parent))
from accounts_support import SeededAccounts, sign_in

from conftest import https_client

COHORT = Path(__file__).parent / "data" / "cohort"

NEW_PATIENTS = "patient_id,disease,diagnosis_date\nW-IMP,myeloma,2024-02-01\n"
NEW_MEASUREMENTS = (
    "patient_id,date,test,value,unit\n"
    "W-IMP,2024-02-02,serum_m_protein,3.2,g/dL\n"
    "W-IMP,2024-03-02,serum_m_protein,1.1,g/dL\n"
)
NEW_TREATMENTS = "patient_id,therapy,start_date,end_date\nW-IMP,VRd,2024-02-05,\n"


def _files(**tables: str) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (f"{name}.csv", text.encode(), "text/csv")) for name, text in tables.items()]


def _patient_count(client: TestClient) -> int:
    found = re.search(r"(\d+) patients?\.", client.get("/patients").text)
    assert found
    return int(found.group(1))


def _token(html: str) -> str:
    found = re.search(r'name="token" value="([^"]+)"', html)
    assert found, "no token on a clean preview"
    return found.group(1)


def test_import_with_errors_lists_file_row_and_column_and_saves_nothing(
    client: TestClient,
) -> None:
    before = _patient_count(client)
    bad_measurements = (
        "patient_id,date,test,value,unit\n"
        "W-IMP,2024-02-02,serum_m_protein,3.2,g/dL\n"
        "W-IMP,2024-13-40,serum_m_protein,1.1,g/dL\n"
        "W-IMP,2024-03-02,serum_m_protein,1.1,furlongs\n"
    )
    preview = client.post(
        "/import/preview",
        files=_files(
            patients=NEW_PATIENTS, measurements=bad_measurements, treatments=NEW_TREATMENTS
        ),
    )
    assert preview.status_code == 422
    html = preview.text
    assert "Nothing was saved" in html
    rows = re.findall(
        r"<td data-file>([^<]*)</td>\s*<td data-row>([^<]*)</td>\s*<td data-column>([^<]*)</td>",
        html,
    )
    assert ("measurements.csv", "3", "date") in rows
    assert ("measurements.csv", "4", "unit") in rows
    assert 'name="token"' not in html
    assert _patient_count(client) == before


def test_clean_import_previews_then_applies_whole(client: TestClient) -> None:
    before = _patient_count(client)
    preview = client.post(
        "/import/preview",
        files=_files(
            patients=NEW_PATIENTS, measurements=NEW_MEASUREMENTS, treatments=NEW_TREATMENTS
        ),
    )
    assert preview.status_code == 200
    assert "No problems found" in preview.text
    assert _patient_count(client) == before  # the preview saves nothing
    applied = client.post("/import/apply", data={"token": _token(preview.text)})
    assert applied.status_code == 200
    assert "The records were saved" in applied.text
    assert _patient_count(client) == before + 1
    page = client.get("/patients/W-IMP")
    assert page.status_code == 200
    assert "Line 1" in page.text
    again = client.post("/import/apply", data={"token": _token(preview.text)})
    assert again.status_code == 410
    assert _patient_count(client) == before + 1


def test_conflict_with_a_stored_patient_is_a_problem_in_the_preview(client: TestClient) -> None:
    changed = "patient_id,disease,diagnosis_date\nW-LEN,myeloma,2020-01-01\n"
    preview = client.post(
        "/import/preview",
        files=_files(
            patients=changed,
            measurements=NEW_MEASUREMENTS.replace("W-IMP", "W-LEN"),
            treatments=NEW_TREATMENTS.replace("W-IMP", "W-LEN"),
        ),
    )
    assert preview.status_code == 422
    assert "W-LEN" in preview.text
    assert 'name="token"' not in preview.text


def _zip(members: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_of_tables_imports_like_the_files(client: TestClient) -> None:
    archive = _zip(
        {
            "export/patients.csv": NEW_PATIENTS.encode(),
            "export/measurements.csv": NEW_MEASUREMENTS.encode(),
            "export/treatments.csv": NEW_TREATMENTS.encode(),
        }
    )
    preview = client.post(
        "/import/preview", files=[("files", ("export.zip", archive, "application/zip"))]
    )
    assert preview.status_code == 200, preview.text
    applied = client.post("/import/apply", data={"token": _token(preview.text)})
    assert "The records were saved" in applied.text


def test_zip_bombs_and_stray_members_are_refused_before_reading(client: TestClient) -> None:
    before = _patient_count(client)
    bomb = _zip({"patients.csv": b"patient_id\n" + b"0" * 900_000})
    refused = client.post(
        "/import/preview", files=[("files", ("bomb.zip", bomb, "application/zip"))]
    )
    assert refused.status_code == 422
    assert "times smaller" in refused.text
    many = _zip({f"part{i}.csv": b"x" for i in range(10)})
    refused = client.post(
        "/import/preview", files=[("files", ("many.zip", many, "application/zip"))]
    )
    assert refused.status_code == 422
    assert "at most 6 files" in refused.text
    sneaky = _zip({"../../etc/passwd": b"root", "patients.csv": NEW_PATIENTS.encode()})
    refused = client.post(
        "/import/preview", files=[("files", ("sneaky.zip", sneaky, "application/zip"))]
    )
    assert refused.status_code == 422
    assert "sneaky.zip: ../../etc/passwd" in refused.text
    assert _patient_count(client) == before


def test_an_upload_over_the_size_limit_gets_413(client: TestClient) -> None:
    big = b"patient_id,disease,diagnosis_date\n" + b"P,myeloma,2024-01-01\n" * 120_000
    response = client.post("/import/preview", files=[("files", ("patients.csv", big, "text/csv"))])
    assert response.status_code == 413
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"


def test_parquet_tables_import_like_csv(client: TestClient) -> None:
    def parquet(text: str) -> bytes:
        buffer = io.BytesIO()
        pl.read_csv(io.StringIO(text), infer_schema=False).write_parquet(buffer)
        return buffer.getvalue()

    files = [
        ("files", ("patients.parquet", parquet(NEW_PATIENTS), "application/octet-stream")),
        ("files", ("measurements.parquet", parquet(NEW_MEASUREMENTS), "application/octet-stream")),
        ("files", ("treatments.csv", NEW_TREATMENTS.encode(), "text/csv")),
    ]
    preview = client.post("/import/preview", files=files)
    assert preview.status_code == 200, preview.text
    applied = client.post("/import/apply", data={"token": _token(preview.text)})
    assert "The records were saved" in applied.text
    assert client.get("/patients/W-IMP").status_code == 200


# --- care teams (RELIABILITY A3, A4): an import reaches only the importer's own patients ------

W_LEN_MORE = "patient_id,date,test,value,unit\nW-LEN,2024-10-01,serum_m_protein,0.9,g/dL\n"
W_LEN_PATIENT = "patient_id,disease,diagnosis_date,heavy_chain,light_chain\n"


def test_new_patients_join_the_importing_nurses_care_team(
    client: TestClient, app: FastAPI, accounts: SeededAccounts
) -> None:
    preview = client.post(
        "/import/preview",
        files=_files(
            patients=NEW_PATIENTS, measurements=NEW_MEASUREMENTS, treatments=NEW_TREATMENTS
        ),
    )
    assert preview.status_code == 200, preview.text[-2000:]
    done = client.post("/import/apply", data={"token": _token(preview.text)})
    assert done.status_code == 200
    assert client.get("/patients/W-IMP").status_code == 200
    with https_client(app) as other:
        sign_in(other, "nurse.b")
        assert other.get("/patients/W-IMP").status_code == 404
        assert "W-IMP" not in other.get("/patients").text


def test_a_nurse_cannot_add_rows_to_another_teams_patient(
    client: TestClient, app: FastAPI, accounts: SeededAccounts
) -> None:
    stored = client.get("/patients/W-LEN").text
    with https_client(app) as other:
        sign_in(other, "nurse.b")
        own_row = _stored_patient_row(app, "W-LEN")
        preview = other.post(
            "/import/preview",
            files=_files(
                patients=W_LEN_PATIENT + own_row,
                measurements=W_LEN_MORE,
                treatments="patient_id,therapy,start_date,end_date\n",
            ),
        )
        assert preview.status_code == 422
        assert "W-LEN" in preview.text and "care team" in preview.text
        assert 'name="token"' not in preview.text
    assert client.get("/patients/W-LEN").text == stored


def _stored_patient_row(app: FastAPI, patient_id: str) -> str:
    """The patient's stored row as CSV (so the import matches it and only adds a result)."""
    frame = read_tables(COHORT).patients.filter(pl.col("patient_id") == patient_id)
    columns = ["patient_id", "disease", "diagnosis_date", "heavy_chain", "light_chain"]
    values = frame.select(columns).row(0)
    return ",".join("" if v is None else str(v) for v in values) + "\n"
