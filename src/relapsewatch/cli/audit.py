"""``relapsewatch audit verify`` and ``relapsewatch audit export``: check and copy the audit trail.

``verify`` walks the whole hash chain (RELIABILITY D3) and exits 0 with ``OK: N rows, chain
intact``, or 1 naming the first row that does not fit and why (an edited field, a deleted,
inserted or reordered row, a removed tail). Run it from a scheduled job and alert on exit 1.

``export`` writes every row with its chained columns and hash, as CSV (cells neutralised
against formula injection, C6) or NDJSON (values as stored, for re-hashing elsewhere); see
:mod:`relapsewatch.store.audit_export`.

Registered in :mod:`relapsewatch.cli` as the ``audit`` group (:data:`audit_app`).
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from relapsewatch.cli.importer import DatabaseUrlOption, open_database
from relapsewatch.cli.output import console, error_console
from relapsewatch.store.audit import verify_audit
from relapsewatch.store.audit_export import audit_csv_chunks, audit_ndjson_lines, export_records
from relapsewatch.store.db import make_session_factory

__all__ = ["ExportFormat", "audit_app"]

audit_app = typer.Typer(
    help="The audit trail: check its hash chain, export it.", no_args_is_help=True
)


class ExportFormat(StrEnum):
    csv = "csv"
    ndjson = "ndjson"


@audit_app.command("verify")
def verify(database_url: DatabaseUrlOption = None) -> None:
    """Check the audit trail's hash chain: exit 0 if intact, 1 naming the first bad row."""
    with open_database(database_url) as engine, make_session_factory(engine)() as session:
        report = verify_audit(session)
    if report.ok:
        console.print(f"OK: {report.checked} rows, chain intact.", markup=False)
        return
    error_console.print(
        f"FAILED: row {report.first_bad_id}: {report.reason} "
        f"({report.checked} rows before it are intact). Keep a copy of the database as it is.",
        markup=False,
    )
    raise typer.Exit(1)


@audit_app.command("export")
def export(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write (replaced if it exists).")
    ],
    format: Annotated[
        ExportFormat, typer.Option("--format", help="csv (spreadsheets) or ndjson (programs).")
    ] = ExportFormat.csv,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Write every audit row, oldest first, with its hash, to a file."""
    rows = 0
    with open_database(database_url) as engine, make_session_factory(engine)() as session:
        records = export_records(session)

        def counted() -> Iterator[dict[str, Any]]:
            nonlocal rows
            for record in records:
                rows += 1
                yield record

        chunks = (
            audit_csv_chunks(counted())
            if format is ExportFormat.csv
            else audit_ndjson_lines(counted())
        )
        try:
            with output.open("w", encoding="utf-8", newline="") as handle:
                for chunk in chunks:
                    handle.write(chunk)
        except OSError as err:
            error_console.print(f"Cannot write {output}: {err.strerror}.", markup=False)
            raise typer.Exit(2) from None
    console.print(f"Wrote {rows} audit rows to {output} ({format.value}).", markup=False)
