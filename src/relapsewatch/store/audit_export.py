"""The audit trail as a file: every row with its chained columns and hash, as CSV or NDJSON.

Used by the admin page's export (``GET /admin/audit/export.csv``) and by
``relapsewatch audit export``, so both give the same columns in the same order.

Columns
    The chained columns of :data:`relapsewatch.store.audit.CHAINED_COLUMNS` and then ``hash``.
    Times are written as the chain hashes them (UTC, milliseconds, ``Z``). Rows name a patient
    only by their pseudonym (``subject``), never by id (RELIABILITY G2).

CSV (for people and spreadsheets)
    A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
    leading ``'`` so that a spreadsheet shows it as text instead of running it as a formula
    (RELIABILITY C6; OWASP "CSV injection"). Empty cells stand for no value.

NDJSON (for programs)
    One JSON object per line, values exactly as stored (``null`` for no value), so a copy can be
    re-hashed row by row with :func:`relapsewatch.store.audit.row_hash`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from relapsewatch.store.audit import CHAINED_COLUMNS, canonical_row
from relapsewatch.store.models import AuditEvent

__all__ = [
    "EXPORT_COLUMNS",
    "FORMULA_STARTS",
    "audit_csv_chunks",
    "audit_ndjson_lines",
    "export_records",
    "neutralise_cell",
]

#: The columns of an export, in order.
EXPORT_COLUMNS: tuple[str, ...] = (*CHAINED_COLUMNS, "hash")

#: First characters that make a spreadsheet treat a cell as a formula (RELIABILITY C6).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_ROWS_PER_CHUNK = 500


def neutralise_cell(value: str) -> str:
    """A CSV cell a spreadsheet shows as text: a leading ``'`` before a formula character.

    >>> neutralise_cell("=HYPERLINK(1)"), neutralise_cell("-2"), neutralise_cell("nurse")
    ("'=HYPERLINK(1)", "'-2", 'nurse')
    """
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def export_records(session: Session, *, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Every audit row in id order as a dict of :data:`EXPORT_COLUMNS`, read ``batch`` at a time.

    ``at`` is the string the chain hashes (UTC, milliseconds); other values are as stored.
    """
    rows = session.scalars(
        select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=batch)
    )
    for row in rows:
        values = {column: getattr(row, column) for column in CHAINED_COLUMNS}
        # The canonical form already renders the time exactly as hashed; reuse it.
        values["at"] = json.loads(canonical_row(values))[1]
        values["hash"] = row.hash
        yield values


def _cell(value: Any) -> str:
    return "" if value is None else neutralise_cell(str(value))


def audit_csv_chunks(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """CSV text in chunks (header first), every cell neutralised (see the module's notes)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    pending = 0
    for record in records:
        writer.writerow([_cell(record[column]) for column in EXPORT_COLUMNS])
        pending += 1
        if pending >= _ROWS_PER_CHUNK:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()


def audit_ndjson_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """One JSON object per row and line, values as stored (see the module's notes)."""
    for record in records:
        yield (
            json.dumps(
                {column: record[column] for column in EXPORT_COLUMNS},
                ensure_ascii=False,
                separators=(",", ":"),
            )
            + "\n"
        )
