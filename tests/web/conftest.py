"""Fixtures of the web tests: a database with a small hand-written cohort, the app, a client.

The cohort (``tests/web/data/cohort``) has four patients written for these tests:

* ``W-LEN``: lenalidomide and dexamethasone, confirmed progression on it (lenalidomide-refractory,
  first relapse), now on daratumumab, carfilzomib and dexamethasone;
* ``W-BTZ``: the same course with bortezomib instead of lenalidomide (not lenalidomide-exposed);
* ``W-RISE``: on lenalidomide and dexamethasone with one rise not yet confirmed;
* ``W-NEW``: newly diagnosed, light-chain myeloma, no treatment yet.

Accounts (``accounts_support.seed_accounts``): care team A looks after all four; ``nurse.a``,
``clinician.a`` are in it; ``nurse.b``, ``clinician.b`` are in team B, which has none of them;
``admin``; and a patient account for ``W-LEN`` (``patient.w-len``). ``client`` and ``reader``
are signed in as ``nurse.a``.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from relapsewatch.io import CanonicalTables, read_tables
from relapsewatch.store.db import create_engine_for, make_session_factory
from relapsewatch.store.migrate import upgrade_database
from relapsewatch.store.repository import import_tables
from relapsewatch.web import WebSettings, create_app

sys.path.insert(0, str(Path(__file__).parent))
from accounts_support import TEST_SECRET, FakeClock, SeededAccounts, seed_accounts, sign_in
from security_support import World, build_world

COHORT = Path(__file__).parent / "data" / "cohort"
COHORT_IDS = ("W-LEN", "W-BTZ", "W-RISE", "W-NEW")
_shared_numbers = itertools.count()


@pytest.fixture(scope="session")
def cohort() -> CanonicalTables:
    return read_tables(COHORT)


@pytest.fixture
def engine(database_url: str, cohort: CanonicalTables) -> Iterator[Engine]:
    """The app database at the current schema, holding the test cohort with derived courses."""
    bound = create_engine_for(database_url)
    upgrade_database(bound)
    import_tables(make_session_factory(bound), cohort, source="tests/web/data/cohort")
    yield bound
    bound.dispose()


@pytest.fixture
def accounts(engine: Engine) -> SeededAccounts:
    return seed_accounts(engine, team_patients=COHORT_IDS, patient_accounts=("W-LEN",))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> WebSettings:
    return WebSettings(
        secret_key=TEST_SECRET,
        database_url=database_url,
        staging_dir=tmp_path / "staging",
        max_upload_bytes=2_000_000,
        max_zip_members=6,
        max_unzipped_bytes=1_000_000,
    )


@pytest.fixture
def app(
    settings: WebSettings, engine: Engine, accounts: SeededAccounts, clock: FakeClock
) -> FastAPI:
    return create_app(settings, engine=engine, clock=clock)


def https_client(app: FastAPI) -> TestClient:
    """A client on ``https://testserver`` (the session cookie is ``Secure``)."""
    return TestClient(
        app, base_url="https://testserver", raise_server_exceptions=True, follow_redirects=False
    )


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    """A client nobody has signed in with."""
    with https_client(app) as test_client:
        yield test_client


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client signed in as ``nurse.a`` (care team A: the whole test cohort)."""
    with https_client(app) as test_client:
        sign_in(test_client, "nurse.a")
        yield test_client


@pytest.fixture(scope="module", params=("sqlite", "postgresql"))
def shared_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Like the root ``database_url`` (same templates and server), but one per test module.

    For modules whose tests only read: the cohort is imported and its courses derived once per
    module and backend instead of once per test.
    """
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path_factory.mktemp("web-shared") / "relapsewatch.sqlite3"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    server = request.getfixturevalue("postgres_server")
    template_name: str = request.getfixturevalue("postgres_template")
    name = f"rw_web_{os.getpid()}_{next(_shared_numbers)}"
    url: str = server.create_database(name, template=template_name)
    try:
        yield url
    finally:
        server.drop_database(name)


@pytest.fixture(scope="module")
def reader(
    shared_database_url: str, cohort: CanonicalTables, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """A client on an app holding the test cohort, shared by the tests of a read-only module."""
    bound = create_engine_for(shared_database_url)
    upgrade_database(bound)
    import_tables(make_session_factory(bound), cohort, source="tests/web/data/cohort")
    seed_accounts(bound, team_patients=COHORT_IDS, patient_accounts=("W-LEN",))
    settings = WebSettings(
        secret_key=TEST_SECRET,
        database_url=shared_database_url,
        staging_dir=tmp_path_factory.mktemp("staging"),
    )
    with https_client(create_app(settings, engine=bound)) as test_client:
        sign_in(test_client, "nurse.a")
        yield test_client
    bound.dispose()


@pytest.fixture(scope="module")
def world(
    shared_database_url: str,
    cohort: CanonicalTables,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    """The security tests' app and accounts (``security_support.build_world``), one per module
    and backend."""
    made = build_world(shared_database_url, cohort, tmp_path_factory.mktemp("staging"))
    yield made
    made.engine.dispose()
