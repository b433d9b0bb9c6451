"""Shared helpers of the security tests (RELIABILITY A1-A3, B1-B5, D1, D5, H2, H3, C1, C2).

The tests are generated from the app itself: :func:`api_routes` lists every (route, method)
that ``app.routes`` serves, so a router added later is covered without touching the tests.
What a test needs to call a route with real, allowed ids is here too:

* :func:`build_world` makes one database (cohort, accounts, message threads, a spare user) and
  an app on it with a clock the tests move;
* :func:`open_session` starts a session straight in the database (no password hashing, so a
  matrix can give each request a fresh session) and :func:`use_session` puts it on a client;
* :func:`path_for` fills a route's path parameters (:func:`param_values` says which ids);
* :func:`snapshot` (row count and checksum per table) and :func:`audit_count` /
  :func:`audit_rows_after` tell what a request changed.

Imported by the web tests (``sys.path`` holds this folder, as for ``accounts_support``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import polars as pl
from accounts_support import PASSWORDS, TEST_SECRET, FakeClock, SeededAccounts, seed_accounts
from fastapi import FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from relapsewatch.io import CanonicalTables
from relapsewatch.store.accounts import Account, create_user, start_session
from relapsewatch.store.db import create_engine_for, make_session_factory, write_session
from relapsewatch.store.migrate import upgrade_database
from relapsewatch.store.models import AuditEvent, Message, MessageThread
from relapsewatch.store.repository import import_tables
from relapsewatch.web import WebSettings, create_app
from relapsewatch.web.auth import SESSION_COOKIE

__all__ = [
    "ACTOR_OF_ROLE",
    "CANARY_MESSAGE",
    "CANARY_PATIENT",
    "COHORT_IDS",
    "FOREIGN_PATIENT",
    "MALFORMED_IDS",
    "MISSING_PATIENT",
    "OWN_PATIENT",
    "ROLES_AND_ANONYMOUS",
    "UNSAFE_METHODS",
    "UNTRACKED_TABLES",
    "World",
    "api_routes",
    "audit_count",
    "audit_rows_after",
    "build_world",
    "https_client",
    "last_audit_id",
    "open_session",
    "param_values",
    "path_for",
    "send",
    "served_routes",
    "snapshot",
    "strip_request_id",
    "use_session",
]

COHORT_IDS = ("W-LEN", "W-BTZ", "W-RISE", "W-NEW")
#: The patient whose account is ``patient.w-len``; in care team A with nurse.a and clinician.a.
OWN_PATIENT = "W-LEN"
#: A stored patient that the attackers of the IDOR matrix may not see.
FOREIGN_PATIENT = "W-BTZ"
MISSING_PATIENT = "NOPE-404"
#: Ids no patient can have: a traversal (sent raw), too long, SQL-ish, a bidi control.
MALFORMED_IDS = ("%2e%2e", "x" * 200, "a'b;--", "\u202e")
#: A patient of care team B (the fuzz tests' canary; nobody the fuzzer signs in as sees it).
CANARY_PATIENT = "CANARY-PT-41"
CANARY_MESSAGE = "canary-message-7f3a9c"

ROLES_AND_ANONYMOUS = ("anonymous", "patient", "nurse", "clinician", "admin")
#: The signed-in account used for each role.
ACTOR_OF_ROLE = {
    "patient": "patient.w-len",
    "nurse": "nurse.a",
    "clinician": "clinician.a",
    "admin": "admin",
}
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: Tables a refused request may change: the audit trail itself (and the pseudonym it gives a
#: stored patient on first mention), sessions (an expired one is deleted when presented) and the
#: login lockout counters. Every other table must be byte-for-byte the same.
UNTRACKED_TABLES = frozenset(
    {"audit_events", "audit_head", "patient_pseudonyms", "user_sessions", "login_failures"}
)


@dataclass
class World:
    """One database and an app on it, with everything the security tests look up."""

    app: FastAPI
    engine: Engine
    factory: sessionmaker[Session]
    clock: FakeClock
    accounts: SeededAccounts
    #: A nurse in team A that admin routes may act on (never used to sign in by the tests).
    spare: Account
    #: Message threads by patient id (one each for the own, foreign and canary patients).
    threads: dict[str, int] = field(default_factory=dict)

    def user(self, username: str) -> Account:
        return self.accounts.users[username]


def _canary_tables(cohort: CanonicalTables) -> CanonicalTables:
    """``W-NEW``'s records under the canary id (a patient only care team B looks after)."""

    def renamed(frame: pl.DataFrame) -> pl.DataFrame:
        if frame.is_empty() or "patient_id" not in frame.columns:
            return frame
        mine = frame.filter(pl.col("patient_id") == "W-NEW")
        return mine.with_columns(pl.lit(CANARY_PATIENT).alias("patient_id"))

    return CanonicalTables(
        patients=renamed(cohort.patients),
        measurements=renamed(cohort.measurements),
        treatments=renamed(cohort.treatments),
        findings=renamed(cohort.findings),
    )


def _add_thread(
    factory: sessionmaker[Session], patient_id: str, body: str, now: dt.datetime
) -> int:
    with write_session(factory) as session:
        thread = MessageThread(
            patient_id=patient_id,
            subject="A question",
            status="new",
            created_at=now,
            updated_at=now,
        )
        session.add(thread)
        session.flush()
        session.add(
            Message(
                thread_id=thread.id,
                author_user_id=None,
                author_role="patient",
                body=body,
                created_at=now,
            )
        )
        return int(thread.id)


def build_world(
    database_url: str,
    cohort: CanonicalTables,
    staging: Path,
    *,
    openapi: bool = False,
    canary: bool = False,
) -> World:
    """Migrate and fill the database behind ``database_url`` and build an app on it.

    Team A looks after the four cohort patients (nurse.a, clinician.a, spare.nurse); team B
    (nurse.b, clinician.b) looks after the canary patient when ``canary`` is set, else nobody.
    """
    engine = create_engine_for(database_url)
    upgrade_database(engine)
    factory = make_session_factory(engine)
    import_tables(factory, cohort, source="tests/web/data/cohort")
    if canary:
        import_tables(factory, _canary_tables(cohort), source="canary")
    accounts = seed_accounts(
        engine,
        team_patients=COHORT_IDS,
        other_team_patients=(CANARY_PATIENT,) if canary else (),
        patient_accounts=(OWN_PATIENT,),
    )
    clock = FakeClock()
    spare = create_user(
        factory,
        username="spare.nurse",
        password=PASSWORDS["nurse"],
        role="nurse",
        display_name="Spare Nurse",
        now=clock.now,
        team_ids=[accounts.team_id],
    )
    accounts.users[spare.username] = spare
    threads = {
        patient: _add_thread(factory, patient, f"question of {patient}", clock.now)
        for patient in (OWN_PATIENT, FOREIGN_PATIENT)
    }
    if canary:
        threads[CANARY_PATIENT] = _add_thread(factory, CANARY_PATIENT, CANARY_MESSAGE, clock.now)
    settings = WebSettings(
        secret_key=TEST_SECRET,
        database_url=database_url,
        staging_dir=staging,
        openapi=openapi,
    )
    app = create_app(settings, engine=engine, clock=clock)
    return World(app, engine, factory, clock, accounts, spare, threads)


def https_client(app: FastAPI) -> TestClient:
    """A client on ``https://testserver`` that does not follow redirects."""
    return TestClient(
        app, base_url="https://testserver", raise_server_exceptions=True, follow_redirects=False
    )


# --- sessions -------------------------------------------------------------------------------


def open_session(world: World, username: str, *, at: dt.datetime | None = None) -> tuple[str, str]:
    """A new session of ``username`` started at ``at`` (default: the clock's now), made in the
    database as a login would make it: ``(cookie token, CSRF token)``."""
    account = world.user(username)
    token, signed_in = start_session(world.factory, account.id, now=at or world.clock.now)
    return token, signed_in.csrf_token


def use_session(client: TestClient, session: tuple[str, str] | None) -> None:
    """Send this session's cookie and CSRF header from now on (``None``: no session)."""
    client.cookies.clear()
    client.headers.pop("X-CSRF-Token", None)
    if session is not None:
        token, csrf = session
        client.cookies.set(SESSION_COOKIE, token)
        client.headers["X-CSRF-Token"] = csrf


# --- routes ---------------------------------------------------------------------------------


def served_routes(app: FastAPI) -> list[RouteContext]:
    """Every route as the app serves it.

    FastAPI keeps an included router's routes inside the router and applies the include's
    prefix and dependencies (``authorize`` among them) when it serves them, so the route objects
    in ``app.routes`` are not the ones to inspect: :func:`fastapi.routing.iter_route_contexts`
    gives each route with its effective path, name and dependencies.
    """
    return list(iter_route_contexts(app.routes))


def api_routes(app: FastAPI) -> list[tuple[RouteContext, str]]:
    """Every (API route, method) the app serves, in a stable order (HEAD is GET's)."""
    found = []
    for route in served_routes(app):
        if isinstance(route.original_route, APIRoute):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                found.append((route, method))
    return sorted(found, key=lambda pair: (str(pair[0].name), pair[1]))


def param_values(world: World, *, patient_id: str = OWN_PATIENT) -> dict[str, str]:
    """Real ids for each path parameter name the app's routes use.

    A route with a parameter not named here makes :func:`path_for` fail with its name, so a new
    kind of id gets a value here before the matrices can pass.
    """
    from relapsewatch.web.routers.assets import plotly_version

    thread = world.threads.get(patient_id, world.threads[OWN_PATIENT])
    return {
        "patient_id": patient_id,
        "page_id": "glossary",
        "version": plotly_version(),
        "thread_id": str(thread),
        "user_id": str(world.spare.id),
        "team_id": str(world.accounts.team_id),
    }


def path_for(route: RouteContext, values: Mapping[str, str], *, raw: Sequence[str] = ()) -> str:
    """The route's path with its parameters filled in (percent-encoded, except the values in
    ``raw``, which are sent as written)."""
    path = str(route.path_format)
    for name in route.param_convertors:
        if name not in values:
            raise KeyError(
                f"route {route.name!r} has the path parameter {name!r}, which "
                "security_support.param_values has no value for"
            )
        value = values[name]
        path = path.replace("{" + name + "}", value if value in raw else quote(value, safe=""))
    return path


def send(client: TestClient, method: str, path: str, **kwargs: Any) -> Any:
    """One request; unsafe methods send an empty form (validation may then refuse it)."""
    if method in UNSAFE_METHODS and "data" not in kwargs and "files" not in kwargs:
        kwargs["data"] = {}
    return client.request(method, path, **kwargs)


def strip_request_id(body: str, request_id: str) -> str:
    """The body without this request's id (the one part that differs between requests)."""
    return body.replace(request_id, "") if request_id else body


# --- database state -------------------------------------------------------------------------


def snapshot(
    engine: Engine, *, skip: frozenset[str] = UNTRACKED_TABLES
) -> dict[str, tuple[int, str]]:
    """Every table's row count and a SHA-256 over its rows (sorted), but ``skip``."""
    tables = sorted(set(inspect(engine).get_table_names()) - skip)
    state = {}
    with engine.connect() as connection:
        for table in tables:
            rows = connection.execute(text(f'SELECT * FROM "{table}"')).all()
            digest = hashlib.sha256()
            for line in sorted(repr(tuple(row)) for row in rows):
                digest.update(line.encode())
                digest.update(b"\n")
            state[table] = (len(rows), digest.hexdigest())
    return state


def audit_count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def last_audit_id(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.max(AuditEvent.id))) or 0)


def audit_rows_after(factory: sessionmaker[Session], last_id: int) -> list[AuditEvent]:
    """The audit rows appended after row ``last_id``, oldest first (detached, read-only)."""
    with factory() as session:
        rows = list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id)
            )
        )
        session.expunge_all()
        return rows
