"""Signing in and out in a real browser (Debian's chromium via Playwright): RELIABILITY B8.

Covers login, logout, Back after logout, session expiry, a patient editing the patient id in
the address bar, and what the browser keeps in its storage after patient pages; plus a message
sent by a patient and answered by a nurse, end to end.

The site is the hand-written test cohort with the seeded accounts of ``accounts_support`` and a
:class:`~accounts_support.FakeClock`, so session expiry is tested by moving the clock, never by
waiting. Every test starts signed out (cookies cleared) and signs in through the login form.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright
from pydantic import SecretStr

from relapsewatch.io import read_tables
from relapsewatch.store.db import create_engine_for, make_session_factory
from relapsewatch.store.migrate import upgrade_database
from relapsewatch.store.repository import import_tables
from relapsewatch.web import WebSettings, create_app

sys.path.insert(0, str(Path(__file__).parent))
from accounts_support import PASSWORDS, TEST_SECRET, FakeClock, seed_accounts
from web_browser import DESKTOP, launch, serve_in_thread, sign_in, sign_out, watch_console

COHORT = Path(__file__).parent / "data" / "cohort"

#: What a page showing W-LEN's record gives away: the id, a treatment only W-LEN had, the unit
#: of every result.
W_LEN_DATA = ("W-LEN", "lenalidomide", "g/dL")
#: The same for W-BTZ, the other patient that patient.w-len must never see.
W_BTZ_DATA = ("W-BTZ", "bortezomib", "g/dL")

pytestmark = pytest.mark.slow


class Site:
    """The served test site: its address and the clock its sessions run on."""

    def __init__(self, base: str, clock: FakeClock) -> None:
        self.base = base
        self.clock = clock

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("accounts-db")
    url = f"sqlite:///{folder / 'app.sqlite3'}"
    engine = create_engine_for(url)
    upgrade_database(engine)
    tables = read_tables(COHORT)
    import_tables(make_session_factory(engine), tables, source="browser account tests")
    seed_accounts(
        engine,
        team_patients=tables.patients["patient_id"].to_list(),
        patient_accounts=["W-LEN"],
    )
    clock = FakeClock()
    settings = WebSettings(
        database_url=url, staging_dir=folder / "staging", secret_key=SecretStr(TEST_SECRET)
    )
    with serve_in_thread(create_app(settings, engine=engine, clock=clock)) as base:
        yield Site(base, clock)
    engine.dispose()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with sync_playwright() as driver:
        context = launch(driver, tmp_path_factory.mktemp("accounts-profile"))
        yield context
        context.close()


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    """A new tab, signed out."""
    browser.clear_cookies()
    tab = browser.new_page()
    tab.set_viewport_size(DESKTOP)
    yield tab
    tab.close()


def as_user(page: Page, site: Site, username: str) -> Page:
    role = "admin" if username == "admin" else username.split(".", 1)[0]
    sign_in(page, site.base, username, PASSWORDS[role])
    return page


def path_of(page: Page) -> str:
    return urlsplit(page.url).path


def on_login_page(page: Page) -> bool:
    return path_of(page) == "/login" and page.get_by_role("heading", name="Sign in").count() == 1


def leaks(page: Page, data: tuple[str, ...]) -> list[str]:
    """Which of ``data`` the page shows: in its visible text, or anywhere in its HTML except the
    login form's ``next`` field (the address the person asked for, sent back to them only)."""
    text = page.locator("body").inner_text().lower()
    html = re.sub(r'<input type="hidden" name="next" value="[^"]*">', "", page.content()).lower()
    return [item for item in data if item.lower() in text or item.lower() in html]


# --- login ------------------------------------------------------------------------------------


def test_login_takes_each_role_to_its_own_start_page(site: Site, page: Page) -> None:
    errors = watch_console(page)
    page.goto(site.base)
    assert on_login_page(page)
    as_user(page, site, "nurse.a")
    assert path_of(page) == "/patients"
    assert page.locator(".account-name").inner_text() == "Nurse A"
    assert page.locator("table tbody tr").count() == 4
    sign_out(page)
    as_user(page, site, "patient.w-len")
    assert path_of(page) == "/patients/W-LEN"
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="My record")
    assert errors == [], errors


def test_a_wrong_password_keeps_the_person_on_the_login_page(site: Site, page: Page) -> None:
    page.goto(site.url("/login"))
    page.get_by_label("Username").fill("nurse.a")
    page.get_by_label("Password").fill("not the right password")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 401
    assert on_login_page(page)
    assert "not right" in page.get_by_role("alert").inner_text()
    assert page.context.cookies() == []


def test_a_page_asked_for_before_login_opens_after_it(site: Site, page: Page) -> None:
    page.goto(site.url("/patients/W-RISE"))
    assert on_login_page(page)
    assert leaks(page, ("W-RISE", "g/dL")) == []
    page.get_by_label("Username").fill("nurse.a")
    page.get_by_label("Password").fill(PASSWORDS["nurse"])
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert path_of(page) == "/patients/W-RISE"


def test_the_session_cookie_is_host_only_secure_http_only_and_lax(site: Site, page: Page) -> None:
    """Chromium treats http://127.0.0.1 as a secure context, so it stores the Secure cookie
    and sends it back; scripts in the page cannot read it."""
    as_user(page, site, "nurse.a")
    (cookie,) = page.context.cookies()
    assert cookie["name"] == "__Host-relapsewatch"
    assert (cookie["domain"], cookie["path"]) == ("127.0.0.1", "/")
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert cookie["expires"] == -1  # a browser-session cookie: gone when the browser closes
    assert page.evaluate("document.cookie") == ""
    with page.expect_request(lambda r: urlsplit(r.url).path == "/patients/W-LEN") as sent:
        page.goto(site.url("/patients/W-LEN"))
    assert sent.value.all_headers()["cookie"] == f"__Host-relapsewatch={cookie['value']}"


# --- logout -----------------------------------------------------------------------------------


def test_logout_ends_the_session(site: Site, page: Page) -> None:
    as_user(page, site, "nurse.a")
    token = page.context.cookies()[0]["value"]
    sign_out(page)
    assert on_login_page(page)
    assert "You have signed out" in page.get_by_role("status").inner_text()
    assert page.context.cookies() == []
    page.goto(site.url("/patients"))
    assert on_login_page(page)
    # The old token is dead on the server too, not only forgotten by this browser.
    page.context.add_cookies(
        [
            {
                "name": "__Host-relapsewatch",
                "value": token,
                "domain": "127.0.0.1",
                "path": "/",
                "secure": True,
                "httpOnly": True,
                "sameSite": "Lax",
            }
        ]
    )
    page.goto(site.url("/patients"))
    assert on_login_page(page)


def test_back_after_logout_shows_no_patient_data(site: Site, page: Page) -> None:
    as_user(page, site, "nurse.a")
    page.goto(site.url("/patients/W-LEN"))
    assert leaks(page, W_LEN_DATA) == list(W_LEN_DATA)  # the page did show them
    sign_out(page)
    for _ in range(3):  # the patient's page, the list, then the login form of the start
        page.go_back()
        page.wait_for_load_state()
        assert on_login_page(page), page.url
        assert leaks(page, W_LEN_DATA) == [], page.url


# --- session expiry ---------------------------------------------------------------------------


@pytest.mark.parametrize(("username", "idle_minutes"), [("nurse.a", 15), ("patient.w-len", 30)])
def test_an_idle_session_ends_and_the_next_page_asks_for_login(
    site: Site, page: Page, username: str, idle_minutes: int
) -> None:
    as_user(page, site, username)
    page.goto(site.url("/patients/W-LEN"))
    site.clock.advance(minutes=idle_minutes - 1)
    page.reload()
    assert path_of(page) == "/patients/W-LEN"  # still within the idle limit
    site.clock.advance(minutes=idle_minutes + 1)
    page.reload()
    assert on_login_page(page)
    assert leaks(page, W_LEN_DATA) == []
    as_user(page, site, username)
    page.goto(site.url("/patients/W-LEN"))
    assert path_of(page) == "/patients/W-LEN"


# --- another patient's id in the address bar --------------------------------------------------


def test_a_patient_typing_another_patients_id_sees_nothing_of_theirs(
    site: Site, page: Page
) -> None:
    as_user(page, site, "patient.w-len")
    assert path_of(page) == "/patients/W-LEN"
    answer = page.goto(site.url("/patients/W-BTZ"))
    assert answer is not None and answer.status == 404
    assert page.get_by_role("heading", level=1).inner_text() == "Page not found"
    assert leaks(page, W_BTZ_DATA) == []
    missing = page.goto(site.url("/patients/W-NOSUCH"))
    assert missing is not None and missing.status == 404
    # A stranger's record and one that does not exist look the same (no way to probe ids).
    seen = page.locator("main").inner_text().split("Reference for support")[0]
    page.goto(site.url("/patients/W-BTZ?scale=log"))
    assert page.locator("main").inner_text().split("Reference for support")[0] == seen
    for sub_page in ("results/new", "treatments/new"):
        refused = page.goto(site.url(f"/patients/W-BTZ/{sub_page}"))
        assert refused is not None and refused.status in (403, 404)
        assert leaks(page, W_BTZ_DATA) == []


# --- browser storage --------------------------------------------------------------------------

_STORAGE = """async () => {
    const dump = (store) => Object.keys(store).map((key) => [key, store.getItem(key)]);
    const databases = indexedDB.databases ? await indexedDB.databases() : [];
    const workers = navigator.serviceWorker
        ? (await navigator.serviceWorker.getRegistrations()).map((r) => r.scope) : [];
    const caches_ = self.caches ? await caches.keys() : [];
    return JSON.stringify({
        localStorage: dump(localStorage),
        sessionStorage: dump(sessionStorage),
        indexedDB: databases.map((d) => d.name),
        serviceWorkers: workers,
        caches: caches_,
    });
}"""


@pytest.mark.parametrize("username", ["patient.w-len", "nurse.a"])
def test_patient_pages_leave_nothing_in_browser_storage(
    site: Site, page: Page, username: str
) -> None:
    as_user(page, site, username)
    for path in (
        "/patients/W-LEN",
        "/patients/W-LEN?scale=log",
        "/patients/W-LEN#options",
        "/support",
    ):
        page.goto(site.url(path))
        page.wait_for_function(
            "document.querySelectorAll('.chart').length === 0 || "
            "document.querySelectorAll('.chart[data-drawn=\"true\"]').length > 0",
            timeout=30_000,
        )
        stored = json.loads(page.evaluate(_STORAGE))
        assert stored == {
            "localStorage": [],
            "sessionStorage": [],
            "indexedDB": [],
            "serviceWorkers": [],
            "caches": [],
        }, (path, stored)


# --- a message, end to end --------------------------------------------------------------------


def test_a_patients_question_reaches_the_team_inbox_and_the_reply_reaches_the_patient(
    site: Site, page: Page
) -> None:
    subject = "Tired on the new tablets"
    question = "I feel more tired since the new tablets started. Is that <b>expected</b>?"
    reply = "Thank you for telling us. A nurse will phone you tomorrow to talk it through."
    errors = watch_console(page)

    as_user(page, site, "patient.w-len")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Messages").click()
    assert path_of(page) == "/patients/W-LEN/messages"
    assert page.get_by_role("heading", level=1).inner_text() == "Messages to your care team"
    page.get_by_label("What is your question about?", exact=True).fill(subject)
    page.get_by_label("Your question", exact=True).fill(question)
    with page.expect_navigation():
        page.get_by_role("button", name="Send to my care team").click()
    assert re.fullmatch(r"/patients/W-LEN/messages/\d+", path_of(page)), page.url
    assert page.get_by_role("heading", level=1).inner_text() == subject
    assert "Waiting for your care team" in page.locator("main").inner_text()
    assert question in page.locator(".message-body").first.inner_text()  # shown as written
    sign_out(page)

    as_user(page, site, "nurse.b")  # care team B does not look after W-LEN
    page.goto(site.url("/inbox"))
    assert subject not in page.locator("main").inner_text()
    sign_out(page)

    as_user(page, site, "nurse.a")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inbox").click()
    team = page.get_by_role("region", name="Care team A")
    assert "1 new, 0 answered" in page.locator("main").inner_text()
    row = team.locator("tbody tr", has_text=subject)
    assert row.locator("td").first.inner_text() == "New"
    assert row.get_by_role("link", name="W-LEN").is_visible()
    row.get_by_role("link", name=subject).click()
    assert question in page.locator(".message-body").first.inner_text()
    page.get_by_label("Your reply", exact=True).fill(reply)
    with page.expect_navigation():
        page.get_by_role("button", name="Send the reply").click()
    assert page.locator("#latest .message-body").inner_text() == reply
    assert "(nurse)" in page.locator("#latest .message-meta").inner_text()
    page.get_by_role("link", name="Back to the inbox").click()
    assert "0 new, 1 answered" in page.locator("main").inner_text()
    sign_out(page)

    as_user(page, site, "patient.w-len")
    page.goto(site.url("/patients/W-LEN/messages"))
    listed = page.locator("tbody tr", has_text=subject)
    assert "Your care team has replied" in listed.inner_text()
    listed.get_by_role("link", name=subject).click()
    assert page.locator("#latest .message-body").inner_text() == reply
    assert errors == [], errors
