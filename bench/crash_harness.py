"""Crash-consistency harness: SIGKILL imports at chosen points, then check nothing is half-done.

RELIABILITY E1/E2: each run imports a few synthetic patients in a child process that reports
every phase of :func:`relapsewatch.store.repository.import_tables` through a pipe and waits for
the go-ahead. The parent picks the kill point from the reported phase (BEGIN, the k-th chunk of
rows, just before COMMIT, just after the commit is acknowledged), never from a sleep, and kills:

* the child (``SIGKILL``), on both backends;
* on PostgreSQL also, in some runs, the child's server backend (``SIGKILL``: the postmaster
  restarts every session and recovers from the WAL) or the whole server
  (``pg_ctl stop -m immediate`` then start: crash recovery).

A few runs kill "running": the go-ahead is sent and the kill follows a few milliseconds later,
so it lands inside whatever statement runs next (e.g. inside COMMIT).

After each run the database must be exactly as before the run, or hold the whole import: every
row of the input, a course for every patient equal to a fresh derivation, the batch row; tables
compared per patient by row checksums; SQLite ``PRAGMA integrity_check`` = ok. At the end,
PostgreSQL ``pg_amcheck --heapallindexed`` must be clean.

Run as a script (``python -m bench.crash_harness --backend sqlite --runs 100``) or through
``tests/store/test_crash_safety.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.synthetic_records import synthetic_file_tables  # noqa: E402

PHASES_IN_TRANSACTION = ("begin", "rows", "before_commit")


@dataclass(frozen=True)
class KillPlan:
    """Where to kill one run: at the ``occurrence``-th report of ``phase`` (``none``: never)."""

    phase: str
    occurrence: int = 1
    target: str = "client"  # client | backend | server
    running: bool = False  # kill a few ms after letting the child go on, not while it waits


@dataclass
class RunOutcome:
    plan: KillPlan
    killed_at: str | None  # the phase reported when the kill was sent
    committed: bool
    seconds: float


@dataclass
class HarnessReport:
    backend: str
    outcomes: list[RunOutcome] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    integrity: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def runs(self) -> int:
        return len(self.outcomes)

    @property
    def killed_in_transaction(self) -> int:
        return sum(o.killed_at in PHASES_IN_TRANSACTION for o in self.outcomes)

    @property
    def killed_after_commit(self) -> int:
        return sum(o.killed_at == "committed" for o in self.outcomes)

    @property
    def committed(self) -> int:
        return sum(o.committed for o in self.outcomes)

    def summary(self) -> str:
        targets = Counter(o.plan.target for o in self.outcomes)
        phases = Counter(o.killed_at or "not killed" for o in self.outcomes)
        return (
            f"{self.backend}: {self.runs} imports in {self.seconds:.1f} s; killed inside the "
            f"transaction {self.killed_in_transaction}, right after commit "
            f"{self.killed_after_commit}; committed {self.committed}; kill points "
            f"{dict(sorted(phases.items()))}; targets {dict(sorted(targets.items()))}; "
            f"failures {len(self.failures)}; integrity {self.integrity or ['ok']}"
        )


def plan_kills(runs: int, *, seed: int, backend: str) -> list[KillPlan]:
    """Kill points for ``runs`` runs: >= 50 % inside the transaction, >= 10 % after commit."""
    rng = random.Random(seed)
    plans = []
    for i in range(runs):
        u = rng.random()
        if u < 0.15:
            plan = KillPlan("begin")
        elif u < 0.50:
            plan = KillPlan("rows", occurrence=rng.randint(1, 4))
        elif u < 0.70:
            plan = KillPlan("before_commit")
        elif u < 0.92:
            plan = KillPlan("committed")
        elif u < 0.96:
            plan = KillPlan(rng.choice(["begin", "rows", "before_commit"]), running=True)
        else:
            plan = KillPlan("none")
        # Backend kills and server crashes each cost a crash recovery (seconds): a few per 100.
        if backend == "postgresql" and plan.phase != "none":
            if i % 40 == 7:
                plan = KillPlan(plan.phase, plan.occurrence, "server", plan.running)
            elif i % 16 == 3:
                plan = KillPlan(plan.phase, plan.occurrence, "backend", plan.running)
        plans.append(plan)
    return plans


# ---------------------------------------------------------------------------------------------
# The child: one import, reporting each phase and waiting for the go-ahead
# ---------------------------------------------------------------------------------------------


def child_main(conn: Connection) -> None:
    """A child process: import relapsewatch, say ready, then run the one import it is sent.

    The parent starts the next run's child while the current run goes on, so the (slow)
    relapsewatch import of the next child overlaps the current run.
    """
    import relapsewatch.io
    import relapsewatch.store.repository  # noqa: F401

    conn.send(("ready", 0, 0))
    url, folder, chunk_rows = conn.recv()
    child_import(url, folder, chunk_rows, conn)


def child_import(url: str, folder: str, chunk_rows: int, conn: Connection) -> None:
    """Import ``folder`` into ``url`` in this (child) process, reporting through ``conn``."""
    from sqlalchemy import text

    from relapsewatch.io import read_tables
    from relapsewatch.store.db import create_engine_for, make_session_factory
    from relapsewatch.store.repository import import_tables

    tables = read_tables(folder)
    engine = create_engine_for(url)
    backend_pid = 0
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:  # the pool hands this connection to the import
            backend_pid = int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())

    def report(phase: str, rows: int) -> None:
        conn.send((phase, rows, backend_pid))
        conn.recv()  # the parent answers, or kills us here

    try:
        import_tables(
            make_session_factory(engine),
            tables,
            source=folder,
            progress=report,
            chunk_rows=chunk_rows,
        )
    except Exception as exc:  # e.g. the backend was killed: the import failed, as it should
        conn.send(("error", 0, f"{type(exc).__name__}: {str(exc)[:200]}"))
        return
    conn.send(("done", 0, backend_pid))


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def _row_text(row: Any) -> str:
    return json.dumps([str(v) if v is not None else None for v in row], separators=(",", ":"))


def snapshot(engine: Any) -> dict[str, dict[str, tuple[int, str]]]:
    """Per table, per patient (or batch id): row count and a checksum of the sorted rows."""
    from sqlalchemy import select

    from relapsewatch.store.models import Base

    out: dict[str, dict[str, tuple[int, str]]] = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            key = "patient_id" if "patient_id" in table.c else "id"
            groups: dict[str, list[str]] = {}
            for row in connection.execute(select(table)):
                groups.setdefault(str(row._mapping[key]), []).append(_row_text(row))
            out[table.name] = {
                k: (len(v), hashlib.sha256("\n".join(sorted(v)).encode()).hexdigest())
                for k, v in groups.items()
            }
    return out


def _without(
    state: dict[str, dict[str, tuple[int, str]]], patients: set[str], batch: str | None
) -> dict[str, Any]:
    """The snapshot without these patients' rows and this batch's row (its id is a key only in
    ``import_batches``: other tables keyed by ``id``, such as ``audit_head``, keep theirs)."""
    return {
        t: {
            k: v
            for k, v in rows.items()
            if k not in patients and not (t == "import_batches" and k == batch)
        }
        for t, rows in state.items()
    }


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    keys = [
        pl.col(c).list.join("+") if isinstance(t, pl.List) else pl.col(c)
        for c, t in frame.schema.items()
    ]
    return frame.sort(keys, nulls_last=True)


def check_run(
    engine: Any,
    before: dict[str, dict[str, tuple[int, str]]],
    tables: Any,
    content_hash: str,
    *,
    must_commit: bool | None,
) -> tuple[dict[str, dict[str, tuple[int, str]]], bool, list[str]]:
    """Check the database after one run; returns (new snapshot, committed?, problems)."""
    from sqlalchemy import select

    from relapsewatch.store.canonical import load_tables_with_digests
    from relapsewatch.store.courses import course_input_digest
    from relapsewatch.store.db import make_session_factory
    from relapsewatch.store.models import ImportBatch, Patient, PatientCourse
    from relapsewatch.store.repository import load_patient_tables

    problems: list[str] = []
    after = snapshot(engine)
    new_ids = set(tables.patients["patient_id"].to_list())
    old_batches = set(before["import_batches"])
    sessions = make_session_factory(engine)
    with sessions() as session:
        batch = session.execute(
            select(ImportBatch.id).where(ImportBatch.content_hash == content_hash)
        ).scalar_one_or_none()
    committed = batch is not None
    if _without(after, new_ids, str(batch) if committed else None) != before:
        problems.append("rows of earlier imports or other patients changed")
    present = {pid for table in after.values() for pid in table if pid in new_ids}
    if not committed:
        if present:
            problems.append(f"partial import: rows for {sorted(present)} without a batch")
        if set(after["import_batches"]) != old_batches:
            problems.append("a batch row appeared without the import")
    else:
        with sessions() as session:
            for pid in sorted(new_ids):
                stored = load_patient_tables(session, pid)
                if stored is None:
                    problems.append(f"partial import: patient {pid} missing")
                    continue
                keep_pid = pl.col("patient_id") == pid
                for name, frame in tables.as_dict().items():
                    if not _sorted(getattr(stored, name)).equals(_sorted(frame.filter(keep_pid))):
                        problems.append(f"partial import: {name} of {pid} differ from the input")
            missing_courses = new_ids - set(after["patient_courses"])
            if missing_courses:
                problems.append(f"partial import: no course for {sorted(missing_courses)}")
            # Each stored course was derived from exactly the stored inputs (same digest the
            # importer computed inside the transaction); E7 tests show derivation is repeatable.
            _, digests = load_tables_with_digests(session, sorted(new_ids))
            for pid in sorted(new_ids - missing_courses):
                as_of = session.get_one(Patient, pid).records_as_of
                expected = course_input_digest(digests[pid], as_of)
                if session.get_one(PatientCourse, pid).input_digest != expected:
                    problems.append(f"the course of {pid} was not derived from its stored rows")
    if must_commit is True and not committed:
        problems.append("lost import: the commit was acknowledged but the batch is gone")
    if must_commit is False and committed:
        problems.append("an import killed before COMMIT was committed")
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            result = connection.exec_driver_sql("PRAGMA integrity_check").scalar()
        if result != "ok":
            problems.append(f"integrity_check: {result}")
    return after, committed, problems


# ---------------------------------------------------------------------------------------------
# The parent
# ---------------------------------------------------------------------------------------------


def _context() -> Any:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["bench.crash_zygote"])
    return context


def _wait_for_backend_exit(engine: Any, backend_pid: int, timeout: float = 30.0) -> None:
    from sqlalchemy import text

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            alive = connection.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": backend_pid},
            ).scalar_one()
        if not alive:
            return
        time.sleep(0.01)
    raise RuntimeError(f"backend {backend_pid} still alive {timeout} s after its client died")


def _wait_for_server(engine: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _kill(plan: KillPlan, process: Any, backend_pid: int, server: Any) -> None:
    if plan.target == "backend" and backend_pid:
        os.kill(backend_pid, signal.SIGKILL)
    elif plan.target == "server" and server is not None:
        server.crash()
    os.kill(process.pid, signal.SIGKILL)


def run_harness(
    url: str,
    *,
    runs: int = 100,
    seed: int = 0,
    patients_per_run: int = 2,
    chunk_rows: int = 20,
    server: Any = None,
    log: Callable[[str], None] | None = None,
) -> HarnessReport:
    """Run ``runs`` killed imports against the (migrated) database at ``url``.

    ``server`` (a :class:`relapsewatch.store.testing.PostgresServer`) enables the backend and
    server kills on PostgreSQL; without it those runs kill the client only.
    """
    from relapsewatch.io import normalise_tables, write_tables
    from relapsewatch.store.canonical import prepare_rows
    from relapsewatch.store.db import create_engine_for

    engine = create_engine_for(url)
    backend = engine.dialect.name
    report = HarnessReport(backend)
    plans = plan_kills(runs, seed=seed, backend=backend)
    context = _context()
    started = time.monotonic()
    state = snapshot(engine)
    spare = _start_child(context)
    with tempfile.TemporaryDirectory(prefix="rw-crash-") as scratch:
        for run, plan in enumerate(plans):
            if plan.target == "server" and server is None:
                plan = KillPlan(plan.phase, plan.occurrence, "client", plan.running)
            file_tables = synthetic_file_tables(
                patients_per_run, seed=seed * 100_003 + run, prefix=f"R{run:03d}-", months=(8, 20)
            )
            folder = Path(scratch) / f"run{run:03d}"
            write_tables(file_tables, folder)
            raw = {
                n: f.with_row_index("__row", offset=2).with_columns(pl.col("__row").cast(pl.Int64))
                for n, f in file_tables.items()
            }
            tables, _ = normalise_tables(raw)
            assert tables is not None
            content_hash = prepare_rows(tables).content_hash
            child, spare = spare, _start_child(context)  # the next run's child starts now
            outcome, error = _one_run(child, url, str(folder), chunk_rows, plan, server)
            if backend == "postgresql":
                if plan.target == "server":
                    server.launch()
                if plan.target != "client" and outcome["killed_at"] is not None:
                    engine.dispose()  # every session was ended by the crash
                    _wait_for_server(engine)
                elif outcome.get("backend_pid"):
                    # A COMMIT in flight when the client died must finish before we look.
                    _wait_for_backend_exit(engine, outcome["backend_pid"])
            killed_at = outcome["killed_at"]
            must_commit: bool | None
            if killed_at is None:
                must_commit = error is None
            elif killed_at == "committed":
                must_commit = True
            elif plan.running and killed_at == "before_commit":
                must_commit = None  # the kill may land inside COMMIT: either outcome is whole
            else:
                must_commit = False
            state_after, committed, problems = check_run(
                engine, state, tables, content_hash, must_commit=must_commit
            )
            if error and killed_at is None:
                problems.append(f"import failed without a kill: {error}")
            state = state_after
            report.outcomes.append(RunOutcome(plan, killed_at, committed, outcome["seconds"]))
            report.failures += [f"run {run} ({plan}): {p}" for p in problems]
            if log is not None:
                log(
                    f"run {run:3d} {plan} -> killed at {killed_at}, committed {committed}"
                    + (f" PROBLEMS {problems}" if problems else "")
                )
    _stop_child(spare)
    if backend == "postgresql" and server is not None:
        database = engine.url.database
        try:
            server.amcheck(database)
        except Exception as exc:  # pg_amcheck exits non-zero on corruption
            report.integrity.append(f"pg_amcheck: {exc}")
    engine.dispose()
    report.seconds = time.monotonic() - started
    return report


@dataclass
class _Child:
    process: Any
    pipe: Connection


def _start_child(context: Any) -> _Child:
    parent, child = context.Pipe()
    process = context.Process(target=child_main, args=(child,))
    process.start()
    child.close()
    return _Child(process, parent)


def _stop_child(child: _Child) -> None:
    if child.process.is_alive():
        child.process.kill()
    child.process.join()
    child.pipe.close()


def _one_run(
    child: _Child, url: str, folder: str, chunk_rows: int, plan: KillPlan, server: Any
) -> tuple[dict[str, Any], str | None]:
    parent, process = child.pipe, child.process
    if not parent.poll(300) or parent.recv()[0] != "ready":
        _stop_child(child)
        raise RuntimeError("a crash-harness child did not start")
    started = time.monotonic()
    parent.send((url, folder, chunk_rows))
    counts: Counter[str] = Counter()
    killed_at: str | None = None
    backend_pid = 0
    error: str | None = None
    rng = random.Random(folder)
    while True:
        if not parent.poll(120):
            process.kill()
            raise RuntimeError(f"child silent for 120 s during {folder}")
        try:
            phase, _rows, extra = parent.recv()
        except EOFError:
            error = "the child exited without reporting"
            break
        if phase == "done":
            break
        if phase == "error":
            error = str(extra)
            break
        backend_pid = int(extra)
        counts[phase] += 1
        due = plan.phase == phase and counts[phase] >= plan.occurrence
        # A rows kill planned for a chunk the run never reaches lands just before COMMIT.
        due = due or (plan.phase == "rows" and phase == "before_commit")
        if due:
            killed_at = phase
            if plan.running:
                parent.send(True)
                time.sleep(rng.uniform(0.0, 0.004))
            _kill(plan, process, backend_pid, server)
            break
        parent.send(True)
    process.join(30)
    _stop_child(child)
    seconds = time.monotonic() - started
    return {"killed_at": killed_at, "backend_pid": backend_pid, "seconds": seconds}, error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)

    from relapsewatch.store.db import create_engine_for
    from relapsewatch.store.migrate import upgrade_database
    from relapsewatch.store.testing import PostgresServer

    server = None
    with tempfile.TemporaryDirectory(prefix="rw-crash-db-") as folder:
        if args.backend == "sqlite":
            url = f"sqlite:///{folder}/crash.sqlite3"
        else:
            server = PostgresServer.start()
            url = server.create_database("crash")
        try:
            engine = create_engine_for(url)
            upgrade_database(engine)
            engine.dispose()
            report = run_harness(
                url, runs=args.runs, seed=args.seed, server=server,
                log=print if args.verbose else None,
            )  # fmt: skip
        finally:
            if server is not None:
                server.stop()
    print(report.summary())
    for failure in report.failures:
        print("FAIL", failure)
    return 1 if report.failures or report.integrity else 0


if __name__ == "__main__":
    sys.exit(main())
