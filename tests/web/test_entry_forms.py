"""The nurse's forms: validated like the importer, and the course updates at once."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient


def _results(client: TestClient, patient_id: str) -> str:
    """The "Your results over time" part of a patient's page (chart data, lines, relapses)."""
    html = client.get(f"/patients/{patient_id}").text
    return html[html.index('id="results"') : html.index('id="where"')]


def _version(html: str) -> str:
    found = re.search(r'name="version" value="(\d+)"', html)
    assert found
    return found.group(1)


def test_a_confirming_result_turns_the_suspected_rise_into_a_relapse(client: TestClient) -> None:
    assert "Relapse 1" not in _results(client, "W-RISE")
    form = client.get("/patients/W-RISE/results/new")
    assert form.status_code == 200
    saved = client.post(
        "/patients/W-RISE/results",
        data={
            "version": _version(form.text),
            "date": "2024-07-15",
            "test": "serum_m_protein",
            "value": "19",
            "unit": "g/L",
        },
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/patients/W-RISE#results"
    after = _results(client, "W-RISE")
    assert "Relapse 1" in after
    assert "1.9 g/dL" in after  # converted from g/L on the way in
    listing = client.get("/patients").text
    row = listing[listing.index('href="/patients/W-RISE"') :].split("</tr>")[0]
    assert "1st relapse" in row
    assert "Rise not yet confirmed" not in row


def test_a_result_with_a_wrong_unit_is_refused_with_the_field_named(client: TestClient) -> None:
    form = client.get("/patients/W-NEW/results/new")
    refused = client.post(
        "/patients/W-NEW/results",
        data={
            "version": _version(form.text),
            "date": "2024-10-01",
            "test": "serum_m_protein",
            "value": "1.2",
            "unit": "mmol/L",
        },
    )
    assert refused.status_code == 422
    html = refused.text
    assert "Nothing was saved" in html
    assert 'id="unit-error"' in html
    assert 'aria-invalid="true"' in html
    assert 'value="1.2"' in html  # what was typed is kept
    assert "2024-10-01" not in _results(client, "W-NEW")


def test_a_treatment_entry_opens_a_line_at_once(client: TestClient) -> None:
    form = client.get("/patients/W-NEW/treatments/new")
    assert form.status_code == 200
    saved = client.post(
        "/patients/W-NEW/treatments",
        data={"version": _version(form.text), "therapy": "Revlimid", "start_date": "2024-09-10"},
    )
    assert saved.status_code == 303
    page = _results(client, "W-NEW")
    assert "lenalidomide" in page
    assert "Line 1" in page


def test_an_unknown_therapy_is_refused_and_nothing_is_saved(client: TestClient) -> None:
    form = client.get("/patients/W-NEW/treatments/new")
    refused = client.post(
        "/patients/W-NEW/treatments",
        data={
            "version": _version(form.text),
            "therapy": "unicorn dust",
            "start_date": "2024-09-10",
        },
    )
    assert refused.status_code == 422
    assert 'id="therapy-error"' in refused.text
    assert "Line 1" not in _results(client, "W-NEW")


def test_a_form_built_before_another_change_is_refused_as_stale(client: TestClient) -> None:
    form = client.get("/patients/W-NEW/treatments/new")
    old_version = _version(form.text)
    first = client.post(
        "/patients/W-NEW/treatments",
        data={"version": old_version, "therapy": "dexamethasone", "start_date": "2024-09-10"},
    )
    assert first.status_code == 303
    stale = client.post(
        "/patients/W-NEW/treatments",
        data={"version": old_version, "therapy": "bortezomib", "start_date": "2024-09-10"},
    )
    assert stale.status_code == 409
    assert "Someone else changed" in stale.text
    assert "bortezomib" not in _results(client, "W-NEW")


def test_forms_for_an_unknown_patient_are_404(client: TestClient) -> None:
    assert client.get("/patients/NOBODY/results/new").status_code == 404
    posted = client.post(
        "/patients/NOBODY/results",
        data={
            "version": "1",
            "date": "2024-01-01",
            "test": "calcium",
            "value": "9",
            "unit": "mg/dL",
        },
    )
    assert posted.status_code == 404
