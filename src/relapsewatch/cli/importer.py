"""``relapsewatch import INPUT`` and ``relapsewatch db upgrade``: load tables into the app database.

The import validates like ``relapsewatch validate`` (exit 1 with every problem by file, row and
column, and nothing written), then imports the whole folder in one transaction or nothing at all,
and prints what was added. A progress bar is shown on a terminal.

Registered by the lead in :mod:`relapsewatch.cli` as ``import`` (``import_``) and, under a ``db``
group, ``upgrade`` (``db_upgrade``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy import Engine

from relapsewatch.cli.output import console, error_console, print_problems
from relapsewatch.errors import DataError
from relapsewatch.io import CanonicalTables, read_tables
from relapsewatch.store.db import create_engine_for, make_session_factory
from relapsewatch.store.errors import StoreError
from relapsewatch.store.migrate import current_revision, upgrade_database
from relapsewatch.store.repository import ImportResult, import_tables

__all__ = ["db_app", "db_upgrade", "import_", "open_database"]

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL of the app database (sqlite:///FILE or postgresql+psycopg://...). "
        "Default: $RELAPSEWATCH_DATABASE_URL, else a SQLite file in the user's data folder.",
        show_default=False,
    ),
]

_PHASE_TEXT = {
    "begin": "Starting",
    "rows": "Adding rows",
    "before_commit": "Saving",
    "committed": "Saved",
}


class _ImportProgress:
    """A Rich bar over the rows to add, on a terminal only (nothing when piped)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def __enter__(self) -> _ImportProgress:
        if console.is_terminal:
            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("Starting", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, phase: str, rows: int) -> None:
        if self.bar is None or self.task is None:
            return
        completed = self.total if phase in ("before_commit", "committed") else rows
        self.bar.update(self.task, completed=completed, description=_PHASE_TEXT.get(phase, phase))


@contextmanager
def open_database(database_url: str | None) -> Iterator[Engine]:
    """The app database at the newest schema (upgraded first), disposed of afterwards.

    The URL resolves as ``--database-url``, else ``$RELAPSEWATCH_DATABASE_URL``, else the
    default SQLite file. A database that cannot be used is a usage error (exit 2)."""
    try:
        engine = create_engine_for(database_url)
        upgrade_database(engine)
    except StoreError as exc:
        error_console.print(f"Cannot use the database: {exc}", markup=False)
        raise typer.Exit(2) from None
    try:
        yield engine
    finally:
        engine.dispose()


def _summary(result: ImportResult, source: Path) -> str:
    if result.already_imported:
        return (
            f"Already imported: these tables were imported before (batch {result.batch_id}); "
            "nothing was changed."
        )
    added = ", ".join(f"{n} {name}" for name, n in result.rows_added.items())
    parts = [
        f"Imported {source}: {result.patients_new} new patient(s), "
        f"{result.patients_updated} updated; added {added}",
    ]
    if result.rows_already_stored:
        parts.append(f"{result.rows_already_stored} row(s) were already stored and skipped")
    parts.append(f"{result.courses_recomputed} course(s) derived; batch {result.batch_id}.")
    return "; ".join(parts)


def import_(
    input: Annotated[Path, typer.Argument(help="Folder of canonical tables (CSV or Parquet).")],
    database_url: DatabaseUrlOption = None,
) -> None:
    """Import a folder of canonical tables into the app database, whole or not at all.

    Rows already stored are skipped, so importing a newer export of the same patients adds only
    what is new; importing the same tables twice changes nothing. Exits 0 when imported, 1 when
    the tables have problems (nothing is written), 2 when the database cannot be used.
    """
    try:
        tables: CanonicalTables = read_tables(input)
    except DataError as err:
        print_problems(err.problems, title=f"Problems in {input}", out=console)
        if err.truncated:
            console.print(f"... and {err.truncated} more problem(s) not listed.", markup=False)
        console.print(
            f"{len(err.errors) + err.truncated} problem(s) found in {input}; nothing was "
            "imported. Fix them and run the import again.",
            markup=False,
        )
        raise typer.Exit(1) from None
    if tables.warnings:
        print_problems(tables.warnings, title=f"Warnings for {input}", out=console)
    with open_database(database_url) as engine:
        try:
            total = tables.measurements.height + tables.treatments.height + tables.findings.height
            with _ImportProgress(total) as progress:
                result = import_tables(
                    make_session_factory(engine), tables, source=str(input), progress=progress
                )
        except DataError as err:
            print_problems(err.problems, title=f"Problems importing {input}", out=console)
            console.print(
                f"{len(err.errors)} problem(s) with the stored data; nothing was imported.",
                markup=False,
            )
            raise typer.Exit(1) from None
    console.print(_summary(result, input), markup=False)


def db_upgrade(database_url: DatabaseUrlOption = None) -> None:
    """Create the app database or upgrade it to the newest schema (safe to run again)."""
    with open_database(database_url) as engine:
        console.print(f"Database schema at revision {current_revision(engine)}.", markup=False)


db_app = typer.Typer(help="The app database.", no_args_is_help=True)
db_app.command(name="upgrade")(db_upgrade)
