"""Durability settings on every connection from the app's engine factory (RELIABILITY E4)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from relapsewatch.store.db import (
    BUSY_TIMEOUT_MS,
    create_engine_for,
    durability_settings,
    is_sqlite,
    write_session,
)
from relapsewatch.store.errors import DatabaseConfigError, DurabilityError
from relapsewatch.store.testing import PostgresServer

SQLITE_EXPECTED = {
    "journal_mode": "wal",
    "synchronous": "2",  # FULL
    "foreign_keys": "1",
    "busy_timeout": str(BUSY_TIMEOUT_MS),
}
PG_EXPECTED = {"fsync": "on", "full_page_writes": "on", "synchronous_commit": "on"}


def test_every_pooled_connection_has_the_durability_settings(db_engine: Engine) -> None:
    connections = [db_engine.connect() for _ in range(3)]
    try:
        for connection in connections:
            settings = durability_settings(connection)
            expected = SQLITE_EXPECTED if is_sqlite(connection) else PG_EXPECTED
            assert {k: settings[k] for k in expected} == expected
    finally:
        for connection in connections:
            connection.close()


def test_test_postgresql_cluster_has_data_checksums(postgres_server: PostgresServer) -> None:
    engine = create_engine_for(postgres_server.url())
    try:
        with engine.connect() as connection:
            assert durability_settings(connection)["data_checksums"] == "on"
    finally:
        engine.dispose()


def _reload(server: PostgresServer, statement: str, fsync: str) -> None:
    server.execute(statement)
    server.execute("SELECT pg_reload_conf()")
    for _ in range(100):  # the postmaster rereads its configuration asynchronously
        if server.execute("SHOW fsync").strip() == fsync:
            return
        time.sleep(0.05)
    raise AssertionError(f"fsync did not become {fsync}")


def test_connection_refused_when_server_runs_without_fsync(
    postgres_server: PostgresServer,
) -> None:
    _reload(postgres_server, "ALTER SYSTEM SET fsync = off", "off")
    engine = create_engine_for(postgres_server.url())
    try:
        with pytest.raises(DurabilityError, match="fsync"), engine.connect():
            pass
    finally:
        engine.dispose()
        _reload(postgres_server, "ALTER SYSTEM RESET fsync", "on")
    engine = create_engine_for(postgres_server.url())
    try:
        with engine.connect() as connection:
            assert durability_settings(connection)["fsync"] == "on"
    finally:
        engine.dispose()


def test_sqlite_file_and_its_folder_are_created(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "app.sqlite3"
    engine = create_engine_for(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert durability_settings(connection)["journal_mode"] == "wal"
    finally:
        engine.dispose()
    assert path.exists()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_is_refused(url: str) -> None:
    with pytest.raises(DatabaseConfigError, match="SQLite file"):
        create_engine_for(url)


def test_other_database_kinds_are_refused() -> None:
    with pytest.raises(DatabaseConfigError, match="sqlite:/// or postgresql"):
        create_engine_for("mysql://user@localhost/db")


def test_url_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RELAPSEWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'env.sqlite3'}")
    engine = create_engine_for(None)
    try:
        assert engine.url.database == str(tmp_path / "env.sqlite3")
    finally:
        engine.dispose()


def test_write_session_takes_the_sqlite_write_lock_at_begin(tmp_path: Path) -> None:
    from relapsewatch.store.db import make_session_factory

    url = f"sqlite:///{tmp_path / 'lock.sqlite3'}"
    first, second = create_engine_for(url), create_engine_for(url)
    try:
        with first.connect() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            connection.commit()
        # A second writer cannot even begin while the first holds the lock.
        with write_session(make_session_factory(first)), second.connect() as other:
            other.exec_driver_sql("PRAGMA busy_timeout = 50")
            with pytest.raises(Exception, match="locked"):
                other.exec_driver_sql("BEGIN IMMEDIATE")
    finally:
        first.dispose()
        second.dispose()
