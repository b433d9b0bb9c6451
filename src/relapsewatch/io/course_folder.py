"""The myeloma course of a whole folder of records, in patient batches, on every core.

:func:`derive_folder` is what ``relapsewatch course`` runs:

1. **Partition** the folder by patient (:class:`relapsewatch.io.batches.PatientBatches`, one
   streaming pass per table), so memory is bounded by the batch, not the cohort.
2. **Cut-off**: the course is evaluated at ``as_of``, by default the latest date in the records.
   That date is read from the partitioned raw dates first (:meth:`RawParts.cutoff`), so each
   batch can be validated and derived in one go.
3. **Validate and derive** each batch in a worker process (``jobs`` at a time, one batch per
   worker; ``jobs=1`` runs them here, one after the other): the reader's own validation, then
   :func:`relapsewatch.course.myeloma.derive_course`. A worker writes its four derived tables
   to the temporary folder and reports its problems and its canonical cut-off.
   Each worker gets its share of the cores for Polars' threads (two workers on two cores, one
   thread each: more only spin against each other). Workers keep the memory Polars' allocator
   (jemalloc) frees for reuse (:data:`WORKER_ALLOCATOR`): the engine allocates and frees many
   large frames per batch, and giving the pages back to the system only to fault them in again
   cost a fifth of a worker's time in system calls (about 13 % more resident memory instead).
4. **Write** the tables in batch order, so the output is the same whatever ``jobs`` is; a
   batch's raw and derived temporary files are removed once it is written, so the disk holds a
   few batches at most.

All or nothing: every batch is validated; once one has problems, the rest are only validated (to
report every problem at once) and :class:`~relapsewatch.errors.DataError` is raised at the end.
The caller's writer must therefore be staged (``relapsewatch course`` writes into a temporary
folder that replaces the output only on success). The canonical cut-off every worker reports is
checked against the date the batches were derived at; they are equal by construction for a folder
that validates, and a difference stops the run rather than give a course at the wrong date.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.course.myeloma.course import derive_course
from relapsewatch.errors import DataError, Problem
from relapsewatch.io import TableWriter, normalise_tables
from relapsewatch.io.batches import DEFAULT_BATCH_SIZE, PatientBatches, RawParts, cutoff_of

__all__ = [
    "WORKER_ALLOCATOR",
    "FolderCourse",
    "default_jobs",
    "derive_folder",
    "worker_environment",
]

#: ``progress(step, done, total)``, as :class:`relapsewatch.io.batches.PatientBatches` calls it.
Progress = Callable[[str, int, int], None]

#: Environment of the worker processes: jemalloc's decay of unused pages turned off (Polars
#: passes it to its allocator when it is imported; see docs/benchmarks.md for the effect).
WORKER_ALLOCATOR: Mapping[str, str] = {"_RJEM_MALLOC_CONF": "dirty_decay_ms:-1,muzzy_decay_ms:-1"}


@dataclass(frozen=True)
class FolderCourse:
    """What :func:`derive_folder` did: how many patients and batches, at which cut-off."""

    patients: int
    batches: int
    as_of: dt.date
    warnings: tuple[Problem, ...]
    jobs: int


@dataclass(frozen=True)
class _Job:
    """One batch for a worker: validate it and, when ``as_of`` is set, derive its course."""

    parts: RawParts
    index: int
    config: MyelomaCourseConfig
    as_of: dt.date | None
    out: Path


@dataclass(frozen=True)
class _Outcome:
    index: int
    patients: int
    problems: tuple[Problem, ...]  # errors and warnings, as the reader found them
    failed: bool  # errors, or more problems than listed
    truncated: int
    cutoff: dt.date | None  # the latest date of the validated batch
    tables: dict[str, Path]


def worker_environment(jobs: int) -> dict[str, str]:
    """What the worker processes of a run with ``jobs`` workers find in their environment:
    :data:`WORKER_ALLOCATOR`, and Polars' thread pool sized so the workers together use each
    core once (``POLARS_MAX_THREADS``, unless it is set already)."""
    threads = max(1, default_jobs() // jobs)
    return {
        **WORKER_ALLOCATOR,
        "POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", str(threads)),
    }


def default_jobs() -> int:
    """Worker processes by default: the cores this process may use."""
    if hasattr(os, "sched_getaffinity"):  # Linux: the cores this process is allowed on
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _run(job: _Job) -> _Outcome:
    """Validate one batch and derive its course (runs in a worker process)."""
    tables, log = normalise_tables(job.parts.read(job.index), files=job.parts.files)
    problems = tuple(log.problems)
    if tables is None:
        return _Outcome(job.index, 0, problems, True, log.truncated, None, {})
    written: dict[str, Path] = {}
    if job.as_of is not None:
        course = derive_course(tables, config=job.config, as_of=job.as_of)
        job.out.mkdir(parents=True, exist_ok=True)
        for name, frame in course.tables().items():
            # read back once by the writer, right away: Arrow IPC, no compression
            written[name] = job.out / f"{name}.arrow"
            frame.write_ipc(written[name], compression="uncompressed")
    return _Outcome(
        job.index,
        tables.patients.height,
        problems,
        log.has_errors,
        log.truncated,
        cutoff_of(tables),
        written,
    )


@contextlib.contextmanager
def _environment(settings: Mapping[str, str]) -> Iterator[None]:
    """``settings`` in ``os.environ`` while worker processes start (they inherit it), then the
    environment as it was."""
    before = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _warm_up() -> None:
    """A first task for each new worker: unpickling it imports this module (and the engine)."""


class _Here:
    """Runs jobs in this process, one at a time, with the executor's ``submit`` interface."""

    def submit(self, fn: Callable[[_Job], _Outcome], job: _Job) -> Future[_Outcome]:
        done: Future[_Outcome] = Future()
        try:
            done.set_result(fn(job))
        except BaseException as exc:
            done.set_exception(exc)
        return done

    def shutdown(self, *, wait: bool = True, cancel_futures: bool = False) -> None:
        return None


def _outcomes(
    jobs: list[_Job], pool: ProcessPoolExecutor | _Here, *, ahead: int
) -> Iterator[_Outcome]:
    """Run ``jobs`` with at most ``ahead`` submitted at once; yield outcomes in batch order.

    Once a batch has problems, the jobs submitted after it only validate (``as_of=None``).
    """
    queue = iter(jobs)
    submitted: dict[int, Future[_Outcome]] = {}
    failed = False

    def submit() -> None:
        job = next(queue, None)
        if job is not None:
            if failed:
                job = _Job(job.parts, job.index, job.config, None, job.out)
            submitted[job.index] = pool.submit(_run, job)

    for _ in range(ahead):
        submit()
    for job in jobs:
        outcome = submitted.pop(job.index).result()
        failed = failed or outcome.failed
        submit()
        yield outcome


def derive_folder(
    folder: str | os.PathLike[str],
    writer: TableWriter,
    *,
    config: MyelomaCourseConfig,
    as_of: dt.date | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> FolderCourse:
    """Derive the course of every patient in ``folder`` and write the four tables to ``writer``.

    Parameters
    ----------
    folder:
        A folder of canonical tables (CSV or Parquet).
    writer:
        Receives ``lines``, ``relapses``, ``responses`` and ``status``, batch by batch in
        patient order, while no batch so far has had problems. It must be staged: on an error
        the caller discards what it received.
    config, as_of:
        As for :func:`relapsewatch.course.myeloma.derive_course`; ``as_of`` defaults to the
        latest date in the whole folder.
    batch_size:
        Patients per batch; peak memory grows with it (and with ``jobs``).
    jobs:
        Batches derived at once, each in its own process; default :func:`default_jobs`.
        ``1`` derives in this process.
    progress:
        Called as ``progress(step, done, total)``.

    Raises
    ------
    DataError
        With every problem of every batch, each naming its file, row and column.
    """
    report = progress or (lambda step, done, total: None)
    wanted = max(1, jobs if jobs is not None else default_jobs())
    pools: list[ProcessPoolExecutor] = []

    def start_workers(n_batches: int) -> None:
        # while the folder is partitioned, the workers start and import the engine
        width = min(wanted, n_batches)
        if width > 1:
            with _environment(worker_environment(width)):
                pool = ProcessPoolExecutor(width, mp_context=multiprocessing.get_context("spawn"))
                pools.append(pool)
                for _ in range(width):
                    pool.submit(_warm_up)

    try:
        return _derive(
            folder, writer, config, as_of, batch_size, wanted, pools, start_workers, report
        )
    finally:
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)


def _derive(
    folder: str | os.PathLike[str],
    writer: TableWriter,
    config: MyelomaCourseConfig,
    as_of: dt.date | None,
    batch_size: int,
    wanted: int,
    pools: list[ProcessPoolExecutor],
    start_workers: Callable[[int], None],
    report: Progress,
) -> FolderCourse:
    with PatientBatches(
        folder,
        batch_size=batch_size,
        progress=report,
        validate=False,
        on_batches=start_workers,
        multiple_of=wanted,  # equal batches, as many per worker, so the workers finish together
    ) as batches:
        whole = batches.single
        if whole is not None:
            if whole.patients.height == 0:
                raise DataError(
                    [],
                    summary=f"no patients in {folder}: the patients table is empty; add at "
                    "least one patient",
                )
            day = as_of or batches.cutoff
            assert day is not None  # a patient has a diagnosis date
            report("deriving", 0, 1)
            for name, frame in derive_course(whole, config=config, as_of=day).tables().items():
                writer.write(name, frame)
            report("deriving", 1, 1)
            return FolderCourse(whole.patients.height, 1, day, whole.warnings, 1)
        parts = batches.raw_parts
        width = min(wanted, batches.n_batches)
        # None only when no date can be read at all: then the batches are only validated
        day = as_of or parts.cutoff()
        pool: ProcessPoolExecutor | _Here = pools[0] if pools else _Here()
        work = [
            _Job(parts, i, config, day, batches.workdir / "derived" / str(i))
            for i in range(batches.n_batches)
        ]
        # a file-level problem (a missing or extra column) is found in every batch: list it once
        problems: dict[Problem, None] = {}
        failed = False
        truncated = patients = 0
        cutoffs: list[dt.date] = []
        report("deriving", 0, batches.n_batches)
        ahead = 2 * width if pools else 1
        for done, outcome in enumerate(_outcomes(work, pool, ahead=ahead), start=1):
            parts.remove(outcome.index)
            if done == batches.n_batches:
                # nothing is left to run: the workers exit (and free their memory) while the
                # last batch is written
                pool.shutdown(wait=False)
            problems.update(dict.fromkeys(outcome.problems))
            failed = failed or outcome.failed
            truncated += outcome.truncated
            patients += outcome.patients
            cutoffs.extend([outcome.cutoff] if outcome.cutoff else [])
            if not failed:
                for name, path in outcome.tables.items():
                    writer.write_ipc_file(name, path)
            shutil.rmtree(work[outcome.index].out, ignore_errors=True)
            report("deriving", done, batches.n_batches)
        if failed:
            errors = sum(p.severity == "error" for p in problems)
            raise DataError(
                list(problems),
                truncated=truncated,
                summary=f"{errors + truncated} problem(s) in {batches.folder}",
            )
        latest = max(cutoffs, default=None)
        if day is None or (as_of is None and latest != day):
            raise RuntimeError(
                f"the records' latest date is {latest} once validated but {day} as read; "
                "nothing was written. This is a fault in relapsewatch: please report it with "
                "the folder's layout (not its data)."
            )
        return FolderCourse(patients, batches.n_batches, day, tuple(problems), width)
