"""RELIABILITY E1/E2: 100 imports per backend killed at phases the import itself reports.

Each import runs in a child process that reports BEGIN, every chunk of rows, just before COMMIT
and just after the commit is acknowledged, and waits at each report; the parent kills it there
(on PostgreSQL sometimes its server backend, or the whole server with ``pg_ctl -m immediate``).
Afterwards the database must be exactly as before or hold the whole import (see
``bench/crash_harness.py`` for the checks).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.crash_harness import HarnessReport, run_harness

from relapsewatch.store.db import create_engine_for
from relapsewatch.store.migrate import upgrade_database
from relapsewatch.store.testing import PostgresServer, PostgresUnavailableError

RUNS = 100


def _migrated(url: str) -> str:
    engine = create_engine_for(url)
    try:
        upgrade_database(engine)
    finally:
        engine.dispose()
    return url


def _assert_whole_or_nothing(report: HarnessReport) -> None:
    assert report.failures == []
    assert report.integrity == []
    assert report.runs == RUNS
    # E2 self-check: the kill points come from the reported phases, so they land where planned.
    assert report.killed_in_transaction >= RUNS // 2, report.summary()
    assert report.killed_after_commit >= RUNS // 10, report.summary()
    # Every run either committed whole or left nothing; both kinds must have happened.
    assert 0 < report.committed < RUNS, report.summary()


@pytest.fixture
def crash_server() -> Iterator[PostgresServer]:
    """A server of its own: these runs crash and restart it."""
    try:
        server = PostgresServer.start()
    except PostgresUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_sqlite_imports_killed_anywhere_are_whole_or_absent(tmp_path: Path) -> None:
    url = _migrated(f"sqlite:///{tmp_path / 'crash.sqlite3'}")
    report = run_harness(url, runs=RUNS, seed=1)
    print(report.summary())
    _assert_whole_or_nothing(report)


@pytest.mark.slow
def test_postgresql_imports_killed_anywhere_are_whole_or_absent(
    crash_server: PostgresServer,
) -> None:
    url = _migrated(crash_server.create_database("crash"))
    report = run_harness(url, runs=RUNS, seed=2, server=crash_server)
    print(report.summary())
    _assert_whole_or_nothing(report)
    targets = {o.plan.target for o in report.outcomes}
    assert targets == {"client", "backend", "server"}
