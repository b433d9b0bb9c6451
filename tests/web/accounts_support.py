"""Accounts for the web tests: a secret key, a clock tests can move, seeded users, signing in.

Imported by the web tests (``sys.path`` holds this folder, as for ``web_browser``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from relapsewatch.store.accounts import (
    Account,
    add_patients_to_team,
    create_team,
    create_user,
)
from relapsewatch.store.db import make_session_factory

__all__ = [
    "PASSWORDS",
    "TEST_SECRET",
    "FakeClock",
    "SeededAccounts",
    "csrf_of",
    "seed_accounts",
    "sign_in",
]

#: A key only the tests use (long enough for the app's check).
TEST_SECRET = "tests-only-secret-key-0123456789abcdefghijklmnop"

#: Password of every seeded account, by role (long enough for staff).
PASSWORDS = {
    "patient": "tulip river lantern",
    "nurse": "harbour pebble violin orchard",
    "clinician": "saffron glacier compass meadow",
    "admin": "cobalt thimble lighthouse fern",
}

_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


class FakeClock:
    """``now()`` returns a time the test sets and moves (UTC)."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now = self.now + dt.timedelta(**delta)


@dataclass(frozen=True)
class SeededAccounts:
    """The team and users of a test database, by their usernames."""

    team_id: int
    other_team_id: int
    users: dict[str, Account]


def seed_accounts(
    engine: Engine,
    *,
    team_patients: Sequence[str],
    other_team_patients: Sequence[str] = (),
    patient_accounts: Sequence[str] = (),
) -> SeededAccounts:
    """Two care teams; in team A a nurse, a clinician; in team B a nurse and a clinician; an
    admin; one patient account per id in ``patient_accounts`` (username ``patient.<id>``)."""
    factory = make_session_factory(engine)
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    team_a = create_team(factory, "Care team A", notify_email="team-a@example.test")
    team_b = create_team(factory, "Care team B")
    if team_patients:
        add_patients_to_team(factory, team_a, team_patients)
    if other_team_patients:
        add_patients_to_team(factory, team_b, other_team_patients)
    users: dict[str, Account] = {}

    def add(username: str, role: str, **extra: object) -> None:
        users[username] = create_user(
            factory,
            username=username,
            password=PASSWORDS[role],
            role=role,
            display_name=username.replace(".", " ").title(),
            now=now,
            **extra,  # type: ignore[arg-type]
        )

    add("nurse.a", "nurse", team_ids=[team_a])
    add("clinician.a", "clinician", team_ids=[team_a])
    add("nurse.b", "nurse", team_ids=[team_b])
    add("clinician.b", "clinician", team_ids=[team_b])
    add("admin", "admin")
    for patient_id in patient_accounts:
        add(f"patient.{patient_id.lower()}", "patient", patient_id=patient_id)
    return SeededAccounts(team_a, team_b, users)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF token on the page (not signed in?)"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str | None = None) -> str:
    """Sign the client in; sets its ``X-CSRF-Token`` header and returns the token."""
    role = "admin" if username == "admin" else username.split(".", 1)[0]
    response = client.post(
        "/login",
        data={"username": username, "password": password or PASSWORDS[role]},
        follow_redirects=False,
    )
    assert response.status_code == 303, (response.status_code, response.text[-1500:])
    page = client.get("/account/password")
    assert page.status_code == 200
    token = csrf_of(page.text)
    client.headers["X-CSRF-Token"] = token
    return token
