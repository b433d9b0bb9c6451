"""``relapsewatch simulate --patients N --seed S -o OUT``: write a virtual cohort with its truth.

Writes the canonical input tables (``patients``, ``measurements``, ``treatments``, ``findings``)
that ``relapsewatch course`` reads, plus ``truth_patients`` and ``truth_lines``. Patients are
simulated in batches and streamed to disk one random-number block at a time, so the files are
byte-identical for a given seed whatever ``--batch-size`` is. The output folder appears only
when every batch has been written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from queue import Queue
from threading import Thread
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from relapsewatch.cli.output import console, error_console
from relapsewatch.errors import ConfigError
from relapsewatch.io import TableWriter, staged_folder
from relapsewatch.simulate import PROFILES, SimulationSettings, VirtualCohort
from relapsewatch.simulate.cohort import SimulatedArrays, simulate_array_batches, to_cohort

__all__ = ["simulate", "whole_blocks", "write_cohort"]


class OutputFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


def write_cohort(
    out: Path,
    *,
    patients: int,
    seed: int,
    format: str = "parquet",
    batch_size: int = 20_000,
    settings: SimulationSettings | None = None,
    progress: Progress | None = None,
) -> None:
    """Simulate and stream a cohort into ``out`` (replaced only if everything succeeds).

    Two stages run at once: this thread simulates batch ``n + 1`` (NumPy) while a writer thread
    turns batch ``n`` into frames and writes it block by block (Polars and Arrow; both release
    the GIL). Blocks are written strictly in order, so the files are the same as with one thread.
    """
    task = progress.add_task("simulate", total=patients) if progress is not None else None
    queue: Queue[SimulatedArrays | None] = Queue(maxsize=1)
    failure: list[BaseException] = []

    with staged_folder(out) as staging, TableWriter(staging, format=format) as writer:  # type: ignore[arg-type]
        ended: list[bool] = []

        def batches() -> Iterator[VirtualCohort]:
            while (arrays := queue.get()) is not None:
                yield to_cohort(arrays)
            ended.append(True)

        def drain() -> None:
            try:
                for block in whole_blocks(batches()):
                    for name, frame in block.all_tables().items():
                        writer.write(name, frame)
            except BaseException as exc:  # handed to the main thread below
                failure.append(exc)
                while not ended and queue.get() is not None:  # unblock the producer
                    pass

        thread = Thread(target=drain, name="relapsewatch-writer", daemon=True)
        thread.start()
        done = 0
        try:
            for arrays in simulate_array_batches(
                patients, seed=seed, batch_size=batch_size, settings=settings
            ):
                if failure:
                    break
                queue.put(arrays)
                done += arrays.patients.count
                if progress is not None and task is not None:
                    progress.update(task, completed=done)
        finally:
            queue.put(None)
            thread.join()
        if failure:
            raise failure[0]


def whole_blocks(batches: Iterable[VirtualCohort]) -> Iterator[VirtualCohort]:
    """Re-cut batches into whole random-number blocks (one Parquet row group each).

    A block split across two batches is joined again, so the files do not depend on the
    batch size.
    """
    pending: VirtualCohort | None = None
    for batch in batches:
        for piece in batch.blocks():
            if pending is not None and piece.block == pending.block:
                pending = VirtualCohort.concat([pending, piece])
                continue
            if pending is not None:
                yield pending
            pending = piece
    if pending is not None:
        yield pending


def simulate(
    patients: Annotated[
        int, typer.Option("--patients", "-n", min=1, help="Number of virtual patients.")
    ],
    seed: Annotated[
        int, typer.Option("--seed", "-s", min=0, help="Seed; the same seed gives identical files.")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder to write the tables into.")
    ],
    format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="File format.")
    ] = OutputFormat.parquet,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size", min=1, help="Patients simulated together (memory, not results)."
        ),
    ] = 20_000,
    profile: Annotated[
        str, typer.Option("--profile", help=f"Calibration profile: {', '.join(PROFILES)}.")
    ] = "modern_2025",
) -> None:
    """Write a virtual cohort: the canonical tables plus truth tables (see docs/simulation.md)."""
    try:
        settings = SimulationSettings(profile=profile)
    except ConfigError as exc:
        error_console.print(f"Error: {exc}", markup=False)
        raise typer.Exit(2) from None
    if error_console.is_terminal:
        with Progress(
            TextColumn("{task.description:<10}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=error_console,
            transient=True,
        ) as bar:
            write_cohort(
                output,
                patients=patients,
                seed=seed,
                format=format.value,
                batch_size=batch_size,
                settings=settings,
                progress=bar,
            )
    else:
        write_cohort(
            output,
            patients=patients,
            seed=seed,
            format=format.value,
            batch_size=batch_size,
            settings=settings,
        )
    console.print(
        f"Wrote {patients} virtual patients (seed {seed}, profile {profile}) to {output}.",
        markup=False,
    )
