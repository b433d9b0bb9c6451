"""Engines, sessions and write transactions with the durability settings asserted (RELIABILITY E4).

* SQLite (the default, embedded): every connection gets ``journal_mode=WAL``,
  ``synchronous=FULL``, ``foreign_keys=ON`` and a ``busy_timeout``; each is read back and a
  connection without it is refused (:class:`~relapsewatch.store.errors.DurabilityError`). The
  driver's own transaction handling is switched off and SQLAlchemy emits ``BEGIN`` itself, so
  DDL is transactional and a write transaction takes the write lock up front
  (``BEGIN IMMEDIATE``) instead of failing on a lock upgrade.
* PostgreSQL (``postgresql+psycopg://``): every connection sets ``synchronous_commit=on`` and
  checks that the server runs with ``fsync`` and ``full_page_writes`` on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from relapsewatch.store.errors import DatabaseConfigError, DurabilityError
from relapsewatch.store.settings import database_url

__all__ = [
    "BUSY_TIMEOUT_MS",
    "WRITE",
    "as_utc",
    "create_engine_for",
    "durability_settings",
    "is_sqlite",
    "make_session_factory",
    "small_write_session",
    "write_session",
]

#: How long a SQLite connection waits for another writer before giving up (milliseconds).
BUSY_TIMEOUT_MS = 30_000
#: Execution option that makes a transaction a write transaction (``BEGIN IMMEDIATE`` on SQLite).
WRITE = "relapsewatch_write"
#: Key of the advisory lock that serialises writers of clinical data on PostgreSQL.
PG_WRITE_LOCK_KEY = 0x52575354  # "RWST"

_SQLITE_PRAGMAS = (
    ("journal_mode", "WAL", "wal"),
    ("synchronous", "FULL", "2"),
    ("foreign_keys", "ON", "1"),
    ("busy_timeout", str(BUSY_TIMEOUT_MS), str(BUSY_TIMEOUT_MS)),
)
_PG_REQUIRED_ON = ("fsync", "full_page_writes", "synchronous_commit")


def as_utc(moment: dt.datetime) -> dt.datetime:
    """A stored time as an aware UTC datetime: every stored time is UTC, but SQLite gives
    them back without a time zone (PostgreSQL gives them back aware).

    >>> as_utc(dt.datetime(2026, 1, 2, 3, 4)).isoformat()
    '2026-01-02T03:04:00+00:00'
    """
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC)


def is_sqlite(engine: Engine | Connection) -> bool:
    """True when the engine (or connection) talks to SQLite."""
    return engine.dialect.name == "sqlite"


#: Connections kept per engine: the web app runs routes in a pool of 40 threads, and a request
#: may hold two connections at once (its read session and its audit write).
POOL = {"pool_size": 20, "max_overflow": 20, "pool_timeout": 30}


def create_engine_for(url: str | None = None, *, echo: bool = False) -> Engine:
    """An engine for ``url`` (default: ``$RELAPSEWATCH_DATABASE_URL``, else a SQLite file).

    Parameters
    ----------
    url:
        A SQLAlchemy URL: ``sqlite:///path/to/file.sqlite3`` or
        ``postgresql+psycopg://user:password@host:port/database``. ``None`` reads the settings
        (:func:`relapsewatch.store.settings.database_url`).
    echo:
        Log every statement (debugging only; statements can hold patient data).

    Raises
    ------
    DatabaseConfigError
        For an in-memory SQLite URL (not durable, and every pooled connection would see a
        different empty database) or a database kind other than SQLite and PostgreSQL.
    """
    resolved = make_url(database_url(url))
    backend = resolved.get_backend_name()
    if backend == "sqlite":
        database = resolved.database or ""
        if database in ("", ":memory:") or database.startswith("file::memory:"):
            raise DatabaseConfigError(
                f"`url` must name a SQLite file, got {resolved.render_as_string()!r}; "
                "give a path such as sqlite:///relapsewatch.sqlite3"
            )
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            resolved,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
            **POOL,
        )
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    if backend == "postgresql":
        if resolved.drivername == "postgresql":
            resolved = resolved.set(drivername="postgresql+psycopg")
        engine = create_engine(resolved, echo=echo, pool_pre_ping=True, **POOL)
        event.listen(engine, "connect", _on_postgresql_connect)
        return engine
    raise DatabaseConfigError(
        f"`url` must be a sqlite:/// or postgresql+psycopg:// URL, got a {backend!r} URL; "
        "set RELAPSEWATCH_DATABASE_URL to one of these"
    )


def _on_sqlite_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _on_sqlite_begin); the driver's implicit
    # transactions would commit DDL early and cannot take the write lock up front.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma, value, expected in _SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma} = {value}")
            found = str(cursor.execute(f"PRAGMA {pragma}").fetchone()[0]).lower()
            if found != expected:
                raise DurabilityError(
                    f"SQLite `{pragma}` must be {expected}, got {found}; the database file must "
                    "be on a local file system that supports WAL (not a network share)"
                )
    finally:
        cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    write = bool(connection.get_execution_options().get(WRITE))
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _on_postgresql_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    try:
        with dbapi_connection.cursor() as cursor:
            # A server may default to asynchronous commit; this session never acknowledges a
            # commit before its WAL is flushed.
            cursor.execute("SET synchronous_commit TO on")
            cursor.execute("SET TIME ZONE 'UTC'")
            for setting in _PG_REQUIRED_ON:
                cursor.execute(f"SHOW {setting}")
                found = str(cursor.fetchone()[0]).lower()
                if found != "on":
                    raise DurabilityError(
                        f"PostgreSQL `{setting}` must be on, got {found}; set {setting} = on in "
                        "postgresql.conf (a server without it can lose committed data in a crash)"
                    )
    finally:
        dbapi_connection.autocommit = autocommit


def durability_settings(connection: Connection) -> dict[str, str]:
    """The durability settings of a live connection, as the database reports them.

    SQLite: ``journal_mode``, ``synchronous``, ``foreign_keys``, ``busy_timeout``.
    PostgreSQL: ``fsync``, ``full_page_writes``, ``synchronous_commit``, ``data_checksums``.
    """
    if is_sqlite(connection):
        return {
            pragma: str(connection.exec_driver_sql(f"PRAGMA {pragma}").scalar()).lower()
            for pragma, _, _ in _SQLITE_PRAGMAS
        }
    return {
        setting: str(connection.execute(text(f"SHOW {setting}")).scalar()).lower()
        for setting in (*_PG_REQUIRED_ON, "data_checksums")
    }


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """The session factory the repository functions take (``expire_on_commit=False``)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def small_write_session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A short write transaction that does not wait for clinical writers on PostgreSQL.

    For the per-request writes of the web app (a session's last activity, an audit row): on
    SQLite it takes the write lock like :func:`write_session` (SQLite has one writer); on
    PostgreSQL it takes no advisory lock, only the row locks of what it changes, so a page view
    never waits for an import to finish.
    """
    with _write_transaction(session_factory, serialised=False) as session:
        yield session


@contextmanager
def write_session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session inside one write transaction, committed when the block ends without error.

    On SQLite the transaction starts with ``BEGIN IMMEDIATE`` (the write lock is taken at once,
    waiting up to :data:`BUSY_TIMEOUT_MS` for another writer). On PostgreSQL it takes a
    transaction-scoped advisory lock, so writers of clinical data run one after another and an
    import never interleaves with a form entry for the same patient.
    """
    with _write_transaction(session_factory, serialised=True) as session:
        yield session


@contextmanager
def _write_transaction(
    session_factory: sessionmaker[Session], *, serialised: bool
) -> Iterator[Session]:
    """One write transaction (``BEGIN IMMEDIATE`` on SQLite), committed when the block ends
    without error; ``serialised`` also takes the clinical writers' advisory lock on PostgreSQL."""
    with session_factory() as session:
        connection = session.connection(execution_options={WRITE: True})
        if serialised and not is_sqlite(connection):
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_WRITE_LOCK_KEY}
            )
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()
