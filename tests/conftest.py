"""Shared fixtures: a fresh database, migrated to head, on SQLite and on PostgreSQL.

``database_url`` is parametrised over both backends, so every test that takes it runs twice
(ids ``[sqlite]`` and ``[postgresql]``). PostgreSQL is a throwaway server started once per test
process from Debian's binaries (:class:`relapsewatch.store.testing.PostgresServer`); each test
gets a new database copied from a migrated template. Without the binaries the PostgreSQL tests
fail and say how to install them: CI must run both backends, so they are never skipped.

Select one backend with ``-k sqlite`` or ``-k postgresql``.

Log hygiene over the whole suite (RELIABILITY D5): tests put canary strings (starting with
``CANARY-`` or ``canary-``) into patient data: ids, names, values and message text. Every log
record of the app's loggers is captured at DEBUG level, and after each test its captured
stdout, stderr and log are searched for canaries; any found fails the whole run, naming the
test and the stream.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from relapsewatch.store.db import create_engine_for, make_session_factory
from relapsewatch.store.migrate import upgrade_database
from relapsewatch.store.testing import PostgresServer, PostgresUnavailableError

sys.path.insert(0, str(Path(__file__).parent))
from canaries import canary_sections

BACKENDS = ("sqlite", "postgresql")

#: The app's loggers, captured at every level so a leak at DEBUG is caught too.
APP_LOGGERS = ("relapsewatch", "uvicorn.error")
_canary_leaks: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    for name in APP_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for title in canary_sections(report.sections):
        _canary_leaks.append(f"{report.nodeid}: {title}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _canary_leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "patient-data canaries reached the output (RELIABILITY D5)")
            for leak in sorted(set(_canary_leaks)):
                reporter.write_line(f"  {leak}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


PG_TEMPLATE = "rw_template"
_database_numbers = itertools.count()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL server for this test process (started on first use)."""
    try:
        server = PostgresServer.start()
    except PostgresUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> str:
    """A database migrated to head that each PostgreSQL test database is copied from."""
    engine = create_engine_for(postgres_server.create_database(PG_TEMPLATE))
    try:
        upgrade_database(engine)
    finally:
        engine.dispose()
    return PG_TEMPLATE


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head that each SQLite test database is copied from."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    engine = create_engine_for(f"sqlite:///{path}")
    try:
        upgrade_database(engine)
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    return path


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database at the newest migration, on each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "relapsewatch.sqlite3"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    template_name: str = request.getfixturevalue("postgres_template")
    name = f"rw_test_{os.getpid()}_{next(_database_numbers)}"
    url = server.create_database(name, template=template_name)
    try:
        yield url
    finally:
        server.drop_database(name)


@pytest.fixture
def db_engine(database_url: str) -> Iterator[Engine]:
    """An engine on :func:`database_url`, disposed after the test."""
    engine = create_engine_for(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def db_sessions(db_engine: Engine) -> sessionmaker[Session]:
    """The session factory the repository functions take."""
    return make_session_factory(db_engine)
