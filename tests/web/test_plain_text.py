"""Every patient-facing text the web app shows reads at grade 8 or below and gives no advice.

Pages are rendered for the hand-written cohort and a dozen demo patients (different lines,
relapses and states) in two regions, plus the help, community and key-information pages. The
visible text of every element marked ``data-audience="patient"`` (minus nested nurse parts,
tables of dates and values, and scripts) is cut into paragraphs at block elements. As in
``tests/knowledge/test_plain_language.py``: a heading or a short label (under five words) is
scored with the paragraph it introduces; medicine names are scored as the word "drug"; each
paragraph's Flesch-Kincaid grade (textstat) must be 8 or below; no text contains advice.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest
import textstat
from fastapi.testclient import TestClient

from relapsewatch.io import read_tables
from relapsewatch.knowledge import (
    INFO_PAGE_IDS,
    find_advice,
    load_regimens,
    prepare_for_readability,
)
from relapsewatch.simulate.demo import demo_folder
from relapsewatch.store.db import create_engine_for, make_session_factory
from relapsewatch.store.migrate import upgrade_database
from relapsewatch.store.repository import import_tables
from relapsewatch.web import WebSettings, create_app

sys.path.insert(0, str(Path(__file__).parent))
from accounts_support import TEST_SECRET, seed_accounts, sign_in

MAX_GRADE = 8.0
COHORT = Path(__file__).parent / "data" / "cohort"
DEMO_PATIENTS = [f"VP{n:07d}" for n in range(1, 13)]
BLOCKS = frozenset(
    {"p", "li", "h1", "h2", "h3", "h4", "h5", "dt", "dd", "figcaption", "summary", "label"}
)
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "dt", "summary", "label"})
SKIPPED = frozenset({"script", "style", "table", "select", "nav"})
VOID = frozenset({"br", "img", "input", "link", "meta", "hr", "source"})
LABEL_WORDS = 5
#: Regimen abbreviations (``DRd``) are medicine names too, scored as "drug".
ABBREVIATIONS = tuple(r.abbreviation for r in load_regimens().regimens if r.abbreviation)


class PatientText(HTMLParser):
    """Paragraphs of visible text inside ``data-audience="patient"``, headings marked."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool, bool]] = []  # tag, patient, skipped
        self.units: list[tuple[str, bool]] = []
        self.buffer: list[str] = []
        self.block: list[str] = []

    def _flush(self) -> None:
        text = " ".join("".join(self.buffer).split())
        if text:
            self.units.append((text, bool(self.block) and self.block[-1] in HEADINGS))
        self.buffer = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        found = dict(attrs)
        patient, skipped = (self.stack[-1][1], self.stack[-1][2]) if self.stack else (False, False)
        audience = found.get("data-audience")
        if audience == "patient":
            patient = True
        elif audience == "nurse":
            patient = False
        if tag in SKIPPED:
            skipped = True
        if tag in BLOCKS:
            self._flush()
            self.block.append(tag)
        self.stack.append((tag, patient, skipped))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        while self.stack:
            top = self.stack.pop()[0]
            if top in BLOCKS:
                self._flush()
                self.block.pop()
            if top == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1][1] and not self.stack[-1][2]:
            self.buffer.append(data)


def paragraphs(html: str) -> list[str]:
    """Paragraphs to score: headings and short labels are read with what follows them."""
    parser = PatientText()
    parser.feed(html)
    parser.close()
    out: list[str] = []
    lead: list[str] = []
    for text, heading in parser.units:
        if heading or len(text.split()) < LABEL_WORDS:
            lead.append(text.rstrip("."))
            continue
        out.append(". ".join([*lead, text]))
        lead = []
    if lead:
        out.append(". ".join(lead) + ".")
    return out


def grade(text: str) -> float:
    return float(textstat.flesch_kincaid_grade(prepare_for_readability(text, ABBREVIATIONS)))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("plain-text-db")
    url = f"sqlite:///{folder / 'app.sqlite3'}"
    engine = create_engine_for(url)
    upgrade_database(engine)
    sessions = make_session_factory(engine)
    import_tables(sessions, read_tables(COHORT), source="tests")
    demo = read_tables(demo_folder(), patient_ids=pl.Series(DEMO_PATIENTS))
    import_tables(sessions, demo, source="demo subset")
    seed_accounts(engine, team_patients=["W-LEN", "W-BTZ", "W-RISE", "W-NEW", *DEMO_PATIENTS])
    settings = WebSettings(secret_key=TEST_SECRET, database_url=url, staging_dir=folder / "staging")
    app = create_app(settings, engine=engine)
    with TestClient(app, base_url="https://testserver") as test_client:
        sign_in(test_client, "nurse.a")
        yield test_client
    engine.dispose()


def _pages(client: TestClient) -> Iterator[tuple[str, str]]:
    patients = ["W-LEN", "W-BTZ", "W-RISE", "W-NEW", *DEMO_PATIENTS]
    for patient_id in patients:
        for region in ("england", "us"):
            path = f"/patients/{patient_id}?region={region}"
            yield path, client.get(path).text
    for path in ("/support", "/support/ask", "/community"):
        yield path, client.get(path).text
    for page_id in INFO_PAGE_IDS:
        yield f"/info/{page_id}", client.get(f"/info/{page_id}").text
    # Messages as a patient sees them: an account for W-LEN and one answered question.
    import datetime as dt

    from accounts_support import PASSWORDS

    from relapsewatch.store.accounts import create_user

    create_user(
        client.app.state.session_factory,
        username="patient.w-len",
        password=PASSWORDS["patient"],
        role="patient",
        display_name="Patient W-LEN",
        now=dt.datetime.now(dt.UTC),
        patient_id="W-LEN",
    )
    with TestClient(client.app, base_url="https://testserver") as patient:
        sign_in(patient, "patient.w-len")
        question = {"subject": "My tablets", "body": "When do I take the new tablets?"}
        sent = patient.post("/patients/W-LEN/messages", data=question, follow_redirects=False)
        thread = sent.headers["location"]
        client.post(thread, data={"body": "We can talk about it at your next visit."})
        for path in ("/patients/W-LEN/messages", thread, "/support/ask"):
            yield f"{path} (patient)", patient.get(path).text
        # Data rights as the patient sees them: who has seen the record, and downloads.
        for path in ("/patients/W-LEN/access-log", "/patients/W-LEN/export"):
            yield f"{path} (patient)", patient.get(path).text


def test_patient_facing_text_reads_at_grade_8_or_below_and_gives_no_advice(
    client: TestClient,
) -> None:
    too_hard: dict[str, tuple[float, str]] = {}
    advice: dict[str, tuple[str, ...]] = {}
    seen = 0
    for path, html in _pages(client):
        for text in paragraphs(html):
            seen += 1
            score = grade(text)
            if score > MAX_GRADE:
                too_hard.setdefault(text, (score, path))
            if found := find_advice(text):
                advice.setdefault(text, found)
    assert seen > 500, "the extraction found too little text to mean anything"
    assert advice == {}
    assert too_hard == {}, "\n".join(
        f"{score:.1f} {path}: {text}" for text, (score, path) in sorted(too_hard.items())
    )


def test_the_extraction_keeps_patient_text_and_drops_nurse_text() -> None:
    html = (
        '<section data-audience="patient"><h2>Where you are now</h2><p>One two three four five '
        'six.</p><details data-audience="nurse"><summary>Evidence</summary><p>criterion PD '
        "serum</p></details><table><tr><td>2024-01-01</td></tr></table><ul><li>Short</li>"
        "<li>A longer item with enough words.</li></ul></section><p>Outside the section.</p>"
    )
    assert paragraphs(html) == [
        "Where you are now. One two three four five six.",
        "Short. A longer item with enough words.",
    ]
