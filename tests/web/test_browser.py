"""In a real browser (Debian's chromium via Playwright): the demo start and its accounts, the
list, a patient's page with the chart drawn, options that change with lenalidomide
refractoriness, imports with and without errors, axe-core at desktop and phone width (the login
and account pages too), and the screenshots of docs/web.md and the README.

Every page needs a login (RELIABILITY A1), so each test first signs in through the login form
with the role its flow belongs to: staff flows as a nurse. The sign-in and session flows
themselves (B8) are in ``test_browser_accounts.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright
from pydantic import SecretStr

from relapsewatch.io import read_tables
from relapsewatch.store.db import create_engine_for, make_session_factory
from relapsewatch.store.migrate import upgrade_database
from relapsewatch.store.repository import import_tables
from relapsewatch.web import WebSettings, create_app

sys.path.insert(0, str(Path(__file__).parent))
from accounts_support import PASSWORDS, TEST_SECRET, seed_accounts
from web_browser import (
    DESKTOP,
    PHONE,
    DemoSite,
    axe_violations,
    launch,
    screenshot,
    section_screenshot,
    serve_demo,
    serve_in_thread,
    sign_in,
    wait_for_charts,
    watch_console,
)

COHORT = Path(__file__).parent / "data" / "cohort"
#: A demo patient with several lines and relapses (the demo cohort is seeded, so it is stable).
DEMO_PATIENT = "VP0000001"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(
    playwright: Playwright, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrowserContext]:
    context = launch(playwright, tmp_path_factory.mktemp("chromium-profile"))
    yield context
    context.close()


@pytest.fixture(scope="module")
def axe_browser(
    playwright: Playwright, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrowserContext]:
    context = launch(playwright, tmp_path_factory.mktemp("axe-profile"), bypass_csp=True)
    yield context
    context.close()


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    """A new tab, signed out (both sites set their cookie on 127.0.0.1, whatever the port)."""
    browser.clear_cookies()
    tab = browser.new_page()
    tab.set_viewport_size(DESKTOP)
    yield tab
    tab.close()


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoSite]:
    with serve_demo() as started:
        yield started


@pytest.fixture
def demo_nurse(demo: DemoSite, page: Page) -> Page:
    """A tab signed in to the demo as demo.nurse."""
    sign_in(page, demo.address, "demo.nurse", demo.accounts["demo.nurse"])
    return page


@pytest.fixture
def cohort_nurse(cohort_site: str, page: Page) -> Page:
    """A tab signed in to the test cohort site as nurse.a (care team A: all four patients)."""
    sign_in(page, cohort_site, "nurse.a", PASSWORDS["nurse"])
    return page


@pytest.fixture(scope="module")
def cohort_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The hand-written test cohort in a fresh SQLite file, served on loopback."""
    folder = tmp_path_factory.mktemp("browser-db")
    url = f"sqlite:///{folder / 'app.sqlite3'}"
    engine = create_engine_for(url)
    upgrade_database(engine)
    tables = read_tables(COHORT)
    import_tables(make_session_factory(engine), tables, source="browser tests")
    seed_accounts(
        engine,
        team_patients=tables.patients["patient_id"].to_list(),
        patient_accounts=["W-LEN"],
    )
    settings = WebSettings(
        database_url=url, staging_dir=folder / "staging", secret_key=SecretStr(TEST_SECRET)
    )
    app = create_app(settings, engine=engine)
    with serve_in_thread(app) as base:
        yield base
    engine.dispose()


def test_demo_start_prints_its_address_and_accounts_and_lists_the_simulated_patients(
    demo: DemoSite, page: Page
) -> None:
    address, output, accounts = demo
    assert address.startswith("http://127.0.0.1:")
    assert "simulated patients" in output
    assert len(set(accounts.values())) == 4  # a different password for every account
    errors = watch_console(page)
    page.goto(address)
    assert page.url.split("?")[0].endswith("/login")
    assert page.get_by_role("heading", name="Sign in", level=1).is_visible()
    sign_in(page, address, "demo.nurse", accounts["demo.nurse"])
    assert page.url.endswith("/patients")
    assert "Demo nurse (demo)" in page.locator(".account-name").inner_text()
    assert page.get_by_role("heading", name="Patients", level=1).is_visible()
    assert page.locator("table tbody tr").count() >= 20
    assert page.get_by_role("note").inner_text().startswith("Demo")
    page.get_by_label("Search by patient ID").fill(DEMO_PATIENT)
    page.get_by_role("button", name="Search").click()
    assert page.locator("table tbody tr").count() == 1
    assert errors == []


def test_a_patients_page_draws_the_chart_and_switches_to_log_scale(
    demo: DemoSite, demo_nurse: Page
) -> None:
    address, page = demo.address, demo_nurse
    errors = watch_console(page)
    page.goto(f"{address}patients/{DEMO_PATIENT}")
    wait_for_charts(page, 3)
    chart = page.locator("#course-chart .chart")
    assert chart.locator("svg.main-svg").count() >= 1
    assert chart.locator(".scatterlayer .trace").count() >= 2
    assert chart.locator("text", has_text="Relapse 1").count() >= 1
    axis_type = "document.querySelector('#course-chart .chart')._fullLayout.yaxis.type"
    assert page.evaluate(axis_type) == "linear"
    page.get_by_role("link", name="Log (shows small values better)").click()
    page.wait_for_function(f"{axis_type} === 'log'")
    assert page.url.endswith("scale=log")
    assert page.locator("#residual-chart svg.main-svg").count() >= 1
    assert errors == [], errors  # no CSP violation, no script error


def test_options_change_when_the_patient_is_lenalidomide_refractory(
    cohort_site: str, cohort_nurse: Page
) -> None:
    page = cohort_nurse
    page.goto(f"{cohort_site}/patients/W-BTZ#options")
    naive = page.locator('[data-option="drd"]')
    assert naive.get_attribute("data-outcome") in ("listed", "depends")
    page.goto(f"{cohort_site}/patients/W-LEN#options")
    refractory = page.locator('[data-option="drd"]')
    assert refractory.get_attribute("data-outcome") == "not_listed"
    assert "lenalidomide" in refractory.inner_text().lower()
    assert page.locator("[data-care-team-decides]").is_visible()
    refractory.scroll_into_view_if_needed()
    screenshot(page, "patient-options", full_page=False)


def test_an_import_with_errors_shows_every_problem_and_saves_nothing(
    cohort_site: str, cohort_nurse: Page, tmp_path: Path
) -> None:
    page = cohort_nurse
    (tmp_path / "patients.csv").write_text(
        "patient_id,disease,diagnosis_date\nW-BAD,myeloma,2024-02-01\n"
    )
    (tmp_path / "measurements.csv").write_text(
        "patient_id,date,test,value,unit\nW-BAD,2024-02-31,serum_m_protein,3.2,g/dL\n"
        "W-BAD,2024-03-02,serum_m_protein,1.1,parsecs\n"
    )
    (tmp_path / "treatments.csv").write_text(
        "patient_id,therapy,start_date,end_date\nW-BAD,VRd,2024-02-05,\n"
    )
    page.goto(f"{cohort_site}/import")
    page.get_by_label("Table files or a zip").set_input_files(
        [tmp_path / n for n in ("patients.csv", "measurements.csv", "treatments.csv")]
    )
    page.get_by_role("button", name="Check the files").click()
    assert page.get_by_role("alert").inner_text().startswith("2 problems found")
    cells = [
        (
            row.locator("[data-file]").inner_text(),
            row.locator("[data-row]").inner_text(),
            row.locator("[data-column]").inner_text(),
        )
        for row in page.locator("tr[data-problem]").all()
    ]
    assert ("measurements.csv", "2", "date") in cells
    assert ("measurements.csv", "3", "unit") in cells
    screenshot(page, "import-preview-errors")
    page.goto(f"{cohort_site}/patients?q=W-BAD")
    assert page.locator("table tbody tr").count() == 0


def test_a_clean_import_previews_then_applies(
    cohort_site: str, cohort_nurse: Page, tmp_path: Path
) -> None:
    page = cohort_nurse
    (tmp_path / "patients.csv").write_text(
        "patient_id,disease,diagnosis_date\nW-GOOD,myeloma,2024-02-01\n"
    )
    (tmp_path / "measurements.csv").write_text(
        "patient_id,date,test,value,unit\nW-GOOD,2024-02-02,serum_m_protein,3.2,g/dL\n"
    )
    (tmp_path / "treatments.csv").write_text(
        "patient_id,therapy,start_date,end_date\nW-GOOD,VRd,2024-02-05,\n"
    )
    page.goto(f"{cohort_site}/import")
    page.get_by_label("Table files or a zip").set_input_files(
        [tmp_path / n for n in ("patients.csv", "measurements.csv", "treatments.csv")]
    )
    page.get_by_role("button", name="Check the files").click()
    assert "No problems found" in page.get_by_role("status").inner_text()
    listing = page.request.get(f"{cohort_site}/patients?q=W-GOOD").text()
    assert 'href="/patients/W-GOOD"' not in listing  # the preview saved nothing
    page.get_by_role("button", name="Import these records").click()
    assert "The records were saved" in page.get_by_role("status").inner_text()
    page.goto(f"{cohort_site}/patients?q=W-GOOD")
    assert page.locator("table tbody tr").count() == 1


MAIN_PAGES = (
    ("patients", "patients"),
    ("patient-course", f"patients/{DEMO_PATIENT}"),
    ("import", "import"),
    ("add-result", f"patients/{DEMO_PATIENT}/results/new"),
    ("help-and-support", "support"),
    ("ask-a-question", "support/ask"),
    ("community", "community"),
    ("key-information", "info/relapse_2"),
)


#: Pages a nurse sees, checked with axe-core: (screenshot-style name, address under the site).
MAIN_PAGES = (
    ("patients", "patients"),
    ("patient-course", f"patients/{DEMO_PATIENT}"),
    ("import", "import"),
    ("add-result", f"patients/{DEMO_PATIENT}/results/new"),
    ("help-and-support", "support"),
    ("ask-a-question", "support/ask"),
    ("community", "community"),
    ("key-information", "info/relapse_2"),
    ("change-password", "account/password"),
    ("inbox", "inbox"),
)
#: Pages the demo patient sees (their own record, with the patient's menus).
PATIENT_PAGES = (
    ("my-record", f"patients/{DEMO_PATIENT}"),
    ("my-messages", f"patients/{DEMO_PATIENT}/messages"),
    ("my-change-password", "account/password"),
)


@pytest.mark.parametrize(("width", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_main_pages_have_no_serious_accessibility_violations(
    demo: DemoSite, axe_browser: BrowserContext, width: str, viewport: dict[str, int]
) -> None:
    address, _, accounts = demo
    axe_browser.clear_cookies()
    page = axe_browser.new_page()
    page.set_viewport_size(viewport)
    found = {}

    def check(name: str) -> None:
        if name in ("patient-course", "my-record"):
            wait_for_charts(page, 3)
        violations = axe_violations(page)
        if violations:
            found[name] = violations
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, f"{name} scrolls sideways at {viewport['width']} px"

    page.goto(f"{address}login")
    check("login")
    screenshot(page, f"login-{width}", full_page=False)
    page.get_by_label("Username").fill("demo.nurse")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").is_visible()
    check("login-refused")

    sign_in(page, address, "demo.nurse", accounts["demo.nurse"])
    for name, path in MAIN_PAGES:
        page.goto(f"{address}{path}")
        check(name)
        if name in ("patients", "help-and-support"):
            screenshot(page, f"{name}-{width}", full_page=False)
        if name == "patient-course":
            screenshot(page, f"{name}-{width}", full_page=False)
            section_screenshot(page, "#results", f"patient-chart-{width}")
            section_screenshot(page, "#why", f"why-it-can-come-back-{width}")

    axe_browser.clear_cookies()
    sign_in(page, address, "demo.patient", accounts["demo.patient"])
    for name, path in PATIENT_PAGES:
        page.goto(f"{address}{path}")
        check(name)
    page.close()
    assert found == {}, found
