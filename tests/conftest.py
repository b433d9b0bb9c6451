"""Shared fixtures: a fresh database, migrated to head, on SQLite and on PostgreSQL.

``database_url`` is parametrised over both backends, so every test that takes it runs twice
(ids ``[sqlite]`` and ``[postgresql]``). PostgreSQL is a throwaway server started once per test
process from Debian's binaries (:class:`relapsewatch.store.testing.PostgresServer`); each test
gets a new database copied from a migrated template. Without the binaries the PostgreSQL tests
fail and say how to install them: CI must run both backends, so they are never skipped.

Select one backend with ``-k sqlite`` or ``-k postgresql``.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from relapsewatch.store.db import create_engine_for, make_session_factory
from relapsewatch.store.migrate import upgrade_database
from relapsewatch.store.testing import PostgresServer, PostgresUnavailableError

BACKENDS = ("sqlite", "postgresql")
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
