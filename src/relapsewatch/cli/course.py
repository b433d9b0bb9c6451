"""``relapsewatch course INPUT -o OUT``: derive the myeloma course of a folder of records.

Reads the folder in patient batches (memory bounded by ``--batch-size``), validates and derives
responses, lines, relapses and status for each batch in ``--jobs`` worker processes
(:func:`relapsewatch.io.course_folder.derive_folder`), and writes the four derived tables of
DESIGN.md.
Output is written to a temporary folder next to ``OUT`` and moved into place only when every
batch has succeeded; on bad input nothing is created and the exit code is 1.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from relapsewatch.cli.output import console, error_console, print_problems
from relapsewatch.course.myeloma.config import PRESETS, preset
from relapsewatch.errors import ConfigError, DataError
from relapsewatch.io import TableWriter, staged_folder
from relapsewatch.io.batches import DEFAULT_BATCH_SIZE
from relapsewatch.io.course_folder import default_jobs, derive_folder

__all__ = ["course"]


class OutputFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


class _Reporter:
    """A Rich progress bar on a terminal; plain lines on stderr when piped (large runs only)."""

    def __init__(self) -> None:
        self.terminal = error_console.is_terminal
        self._bar: Progress | None = None
        self._tasks: dict[str, object] = {}
        self._last: dict[str, int] = {}

    def __enter__(self) -> _Reporter:
        if self.terminal:
            self._bar = Progress(
                TextColumn("{task.description:<12}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=error_console,
                transient=True,
            )
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

    def __call__(self, step: str, done: int, total: int) -> None:
        if self._bar is not None:
            task = self._tasks.get(step)
            if task is None:
                task = self._tasks[step] = self._bar.add_task(step, total=total)
            self._bar.update(task, completed=done, total=total)  # type: ignore[arg-type]
        elif total > 1 and done > self._last.get(step, -1):
            self._last[step] = done
            error_console.print(f"{step}: {done}/{total}", markup=False)


def course(
    input: Annotated[Path, typer.Argument(help="Folder of canonical tables (CSV or Parquet).")],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Folder to write lines, relapses, responses and status into."
        ),
    ],
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(
            "--as-of",
            formats=["%Y-%m-%d"],
            help="Evaluate the course as it stood on this date (YYYY-MM-DD); later records are "
            "ignored. Default: the latest date in the records.",
        ),
    ] = None,
    format: Annotated[
        OutputFormat, typer.Option("--format", help="Output file format.")
    ] = OutputFormat.csv,
    config: Annotated[
        str, typer.Option("--config", help=f"Engine settings by name: {', '.join(PRESETS)}.")
    ] = "imwg2016",
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", min=1, help="Patients per batch; peak memory grows with it."),
    ] = DEFAULT_BATCH_SIZE,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Batches derived at once, each in its own process (default: one per core); "
            "peak memory grows with it.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Derive responses, lines of therapy, relapses and status for every patient.

    Exits 0 on success; 1 when the input has problems (each named by file, row and column; no
    output is written); 2 on a usage error.
    """
    try:
        settings = preset(config)
    except ConfigError as err:
        raise typer.BadParameter(str(err), param_hint="--config") from None
    day = as_of.date() if as_of is not None else None
    try:
        with (
            _Reporter() as report,
            staged_folder(output) as staging,
            TableWriter(staging, format=format.value) as writer,
        ):
            done = derive_folder(
                input,
                writer,
                config=settings,
                as_of=day,
                batch_size=batch_size,
                jobs=jobs or default_jobs(),
                progress=report,
            )
    except DataError as err:
        if err.problems:
            print_problems(err.problems, title=f"Problems in {input}", out=error_console)
        if err.truncated:
            error_console.print(
                f"... and {err.truncated} more problem(s) not listed.", markup=False
            )
        summary = str(err).splitlines()[0].rstrip(":")
        error_console.print(
            f"{summary}. Nothing was written; fix the input and run again.", markup=False
        )
        raise typer.Exit(1) from None
    warn = f" ({len(done.warnings)} warning(s) in the input)" if done.warnings else ""
    console.print(
        f"Wrote lines, relapses, responses and status for {done.patients} patient(s) to "
        f"{output} ({format.value}, as of {done.as_of}){warn}.",
        markup=False,
    )
