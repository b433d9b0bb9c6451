"""Route tests of the pages: list, course page, options by refractoriness and region, info, support.

Every test runs on SQLite and PostgreSQL (the ``database_url`` fixture).
"""

from __future__ import annotations

import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import get_args

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from relapsewatch.knowledge import CARE_TEAM_DECIDES, INFO_PAGE_IDS
from relapsewatch.web.app import ROUTERS
from relapsewatch.web.routers.info import InfoPageId

sys.path.insert(0, str(Path(__file__).parent))
from accounts_support import sign_in

from conftest import https_client


class _Options(HTMLParser):
    """Collects ``data-option`` -> ``data-outcome`` of the option cards on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.outcomes: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if "data-option" in found and found["data-option"] and found.get("data-outcome"):
            self.outcomes[found["data-option"]] = str(found["data-outcome"])


def _option_outcomes(html: str) -> dict[str, str]:
    parser = _Options()
    parser.feed(html)
    return parser.outcomes


def _figure(html: str, block_id: str = "course-figure") -> dict[str, object]:
    found = re.search(
        rf'<script type="application/json" id="{block_id}">(.*?)</script>', html, re.S
    )
    assert found, f"no {block_id} JSON block"
    figure: dict[str, object] = json.loads(found.group(1))
    return figure


def test_patient_list_shows_each_patient_at_a_glance(reader: TestClient) -> None:
    page = reader.get("/patients")
    assert page.status_code == 200
    html = page.text
    for patient_id in ("W-LEN", "W-BTZ", "W-RISE", "W-NEW"):
        assert f'href="/patients/{patient_id}"' in html
    row = html[html.index('href="/patients/W-LEN"') :].split("</tr>")[0]
    assert "Line 2" in row
    assert "1st relapse" in row
    assert "1 August 2024" in row  # the last result date


def test_patient_list_flags_a_rise_not_yet_confirmed(reader: TestClient) -> None:
    html = reader.get("/patients").text
    rise_row = html[html.index('href="/patients/W-RISE"') :].split("</tr>")[0]
    len_row = html[html.index('href="/patients/W-LEN"') :].split("</tr>")[0]
    assert "Rise not yet confirmed" in rise_row
    assert "Rise not yet confirmed" not in len_row


def test_patient_list_search_filters_by_id(reader: TestClient) -> None:
    html = reader.get("/patients", params={"q": "len"}).text
    assert 'href="/patients/W-LEN"' in html
    assert 'href="/patients/W-BTZ"' not in html
    assert "1 patient match" in html


def test_course_page_has_the_chart_with_bands_relapses_and_hover(reader: TestClient) -> None:
    page = reader.get("/patients/W-LEN")
    assert page.status_code == 200
    figure = _figure(page.text)
    layout = figure["layout"]
    assert isinstance(layout, dict)
    notes = [a["text"] for a in layout["annotations"]]
    assert any(n.startswith("Line 1") for n in notes)
    assert any(n.startswith("Line 2") for n in notes)
    assert "Relapse 1" in notes
    traces = figure["data"]
    assert isinstance(traces, list)
    curve = traces[0]
    assert curve["name"] == "Serum M-protein"
    assert "%{customdata}" in curve["hovertemplate"]
    assert curve["customdata"][0] == "4 g/dL"
    assert layout["yaxis"]["type"] == "linear"


def test_course_page_log_scale_on_request(reader: TestClient) -> None:
    figure = _figure(reader.get("/patients/W-LEN", params={"scale": "log"}).text)
    layout = figure["layout"]
    assert isinstance(layout, dict)
    assert layout["yaxis"]["type"] == "log"


def test_course_page_shows_a_rise_not_yet_confirmed_as_such(reader: TestClient) -> None:
    html = reader.get("/patients/W-RISE").text
    names = [t["name"] for t in _figure(html)["data"]]  # type: ignore[union-attr]
    assert "Rise not yet confirmed" in names
    assert "Relapse (confirmed)" not in names
    assert "A second test is needed" in html


def test_where_you_are_links_each_statement_to_its_evidence(reader: TestClient) -> None:
    html = reader.get("/patients/W-LEN").text
    section = html[html.index('id="where"') : html.index('id="why"')]
    statements = re.findall(r'href="#evidence-(\d+)"', section)
    assert statements, "no statement with an evidence link"
    for number in statements:
        assert f'id="evidence-{number}"' in section
    assert "first relapse" in section
    assert "lenalidomide" in section  # refractory evidence


def test_key_information_matches_where_the_patient_is(reader: TestClient) -> None:
    assert "Your first relapse" in reader.get("/patients/W-LEN").text
    new = reader.get("/patients/W-NEW").text
    info = new[new.index('id="key-information"') :]
    assert "Your first relapse" not in info


def test_options_change_when_the_patient_is_lenalidomide_refractory(reader: TestClient) -> None:
    refractory = _option_outcomes(reader.get("/patients/W-LEN").text)
    naive = _option_outcomes(reader.get("/patients/W-BTZ").text)
    assert naive["drd"] in ("listed", "depends")
    assert refractory["drd"] == "not_listed"
    html = reader.get("/patients/W-LEN").text
    card = html[html.index('data-option="drd"') :].split("</li>")[0]
    assert "lenalidomide" in card.lower()
    assert "Not listed because" in card


def test_options_always_carry_the_care_team_sentence_and_review_date(reader: TestClient) -> None:
    for patient_id in ("W-LEN", "W-BTZ", "W-NEW", "W-RISE"):
        html = reader.get(f"/patients/{patient_id}").text
        section = html[html.index('id="options"') : html.index('id="help"')]
        assert CARE_TEAM_DECIDES in section
    html = reader.get("/patients/W-LEN").text
    card = html[html.index('data-option="dkd"') :].split("</li>")[0]
    assert "last checked on" in card
    assert "Reference and sources" in card


def test_region_setting_changes_the_approval_wording(reader: TestClient) -> None:
    england = reader.get("/patients/W-LEN", params={"region": "england"}).text
    us = reader.get("/patients/W-LEN", params={"region": "us"}).text
    assert "NICE" in england
    assert "FDA" in us
    assert reader.get("/patients/W-LEN", params={"region": "mars"}).status_code == 422


def test_unknown_patient_is_a_404_page(reader: TestClient) -> None:
    page = reader.get("/patients/NOBODY")
    assert page.status_code == 404
    assert "Page not found" in page.text


def test_every_key_information_page_renders(reader: TestClient) -> None:
    for page_id in INFO_PAGE_IDS:
        page = reader.get(f"/info/{page_id}")
        assert page.status_code == 200, page_id
        assert "last checked on" in page.text
    assert reader.get("/info/not_a_page").status_code == 422


def test_help_pages_show_contacts_and_the_way_to_ask_a_question(reader: TestClient) -> None:
    help_page = reader.get("/support").text
    assert "Your specialist nurse" in help_page
    assert 'href="/support/ask"' in help_page
    ask = reader.get("/support/ask").text
    assert "Ask your specialist team a question" in ask
    assert "Your specialist nurse" in ask
    community = reader.get("/community").text
    assert "Groups" in community and "Events" in community


def test_the_site_root_leads_to_the_patient_list(reader: TestClient) -> None:
    answer = reader.get("/")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/patients"


def test_every_route_is_a_named_route_of_a_router() -> None:
    """The accounts issue lists every route by name in its policy table."""
    routes = [route for router in ROUTERS for route in router.routes]
    assert all(isinstance(route, APIRoute) for route in routes)
    names = [route.name for route in routes if isinstance(route, APIRoute)]
    unqualified = [n for n in names if "." not in n and n not in ("home", "health")]
    assert unqualified == []
    assert len(names) == len(set(names))


def test_the_info_route_accepts_exactly_the_knowledge_pages() -> None:
    assert set(get_args(InfoPageId)) == set(INFO_PAGE_IDS)


def test_a_patient_sees_their_own_page_without_staff_only_parts(
    app: FastAPI, client: TestClient
) -> None:
    """A5 (b): the patient's view of their record has no staff-only links or pages, and the
    body cached for staff is never served to them (the cache key holds the audience)."""
    staff_page = client.get("/patients/W-LEN").text  # caches the staff body first
    assert "/patients/W-LEN/results/new" in staff_page
    with https_client(app) as patient:
        sign_in(patient, "patient.w-len")
        own = patient.get("/patients/W-LEN")
        assert own.status_code == 200
        for staff_only in ("/results/new", "/treatments/new", 'href="/import"', "/inbox"):
            assert staff_only not in own.text, staff_only
        assert 'href="/patients"' not in own.text  # the patient list is not theirs
        assert "Nurse A" not in own.text  # no staff names on the page
