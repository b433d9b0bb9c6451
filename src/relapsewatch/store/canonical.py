"""Canonical rows: the bridge between canonical frames and database rows, and their digests.

A row's canonical JSON lists the table name and the row's values in the column order of
:data:`relapsewatch.schema.CANONICAL_FRAMES` (dates as ``YYYY-MM-DD``, numbers as Python's
shortest round-trip form, lists as arrays). Its digest (SHA-256) plus the occurrence number among
identical rows of the same patient is the row's identity in the database, so importing the same
rows again adds nothing and a new export of a patient adds only the new rows.

The encoding is ours (not a library's hash), so digests stay stable across library upgrades.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from relapsewatch import schema
from relapsewatch.io import CanonicalTables
from relapsewatch.store.models import Finding, Measurement, Patient, Treatment

__all__ = [
    "CLINICAL_MODELS",
    "PreparedRows",
    "canonical_json",
    "load_tables",
    "load_tables_with_digests",
    "prepare_rows",
]

#: The clinical tables with one row per fact, and their models.
CLINICAL_MODELS: dict[str, type[Measurement] | type[Treatment] | type[Finding]] = {
    "measurements": Measurement,
    "treatments": Treatment,
    "findings": Finding,
}
#: Sort order of loaded rows: fixed by content, so the engine always sees the same frame.
_ORDER = {
    "measurements": ("patient_id", "date", "test", "row_digest"),
    "treatments": ("patient_id", "start_date", "therapy", "row_digest"),
    "findings": ("patient_id", "date", "finding", "row_digest"),
}
#: Largest IN (...) list sent at once (SQLite allows 32,766 parameters per statement).
IN_CHUNK = 500


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def canonical_json(values: Sequence[Any]) -> str:
    """Canonical JSON of a row's values (compact, UTF-8, dates as ISO text).

    >>> canonical_json(["measurements", "P1", dt.date(2024, 1, 2), 0.1, None, ["pi", "imid"]])
    '["measurements","P1","2024-01-02",0.1,null,["pi","imid"]]'
    """
    return json.dumps(
        [_plain(v) for v in values], ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PreparedRows:
    """Canonical tables as database rows, each clinical row with its ``row_digest``.

    ``content_hash`` is the SHA-256 of every row's digest, sorted: the same rows in any order
    give the same hash.
    """

    patients: list[dict[str, Any]]
    clinical: dict[str, list[dict[str, Any]]]
    content_hash: str

    @property
    def patient_ids(self) -> list[str]:
        return [p["patient_id"] for p in self.patients]

    @property
    def row_count(self) -> int:
        return sum(len(rows) for rows in self.clinical.values())


def _texts(name: str, frame: pl.DataFrame) -> list[str]:
    """:func:`canonical_json` of every row, with the date formatting done by polars (fast)."""
    spec = schema.CANONICAL_FRAMES[name]
    ready = frame.select(
        pl.col(c).dt.to_string("%Y-%m-%d") if isinstance(t, pl.Date) else pl.col(c)
        for c, t in spec.items()
    )
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
    return [dumps([name, *values]) for values in ready.iter_rows()]


def _records(name: str, frame: pl.DataFrame) -> Iterator[tuple[str, dict[str, Any]]]:
    columns = list(schema.CANONICAL_FRAMES[name])
    rows = frame.select(columns).to_dicts()
    return zip(_texts(name, frame), rows, strict=True)


def prepare_rows(tables: CanonicalTables) -> PreparedRows:
    """Database rows and digests for canonical tables (no database access)."""
    digests: list[str] = []
    patients = []
    for text, row in _records("patients", tables.patients):
        digests.append(_sha256(text))
        patients.append(row)
    clinical: dict[str, list[dict[str, Any]]] = {}
    for name in CLINICAL_MODELS:
        seen: Counter[str] = Counter()
        rows = []
        for text, row in _records(name, getattr(tables, name)):
            occurrence = seen[text]
            seen[text] += 1
            row["row_digest"] = _sha256(f"{text}#{occurrence}")
            digests.append(row["row_digest"])
            rows.append(row)
        clinical[name] = rows
    content_hash = _sha256("\n".join(sorted(digests)))
    return PreparedRows(patients=patients, clinical=clinical, content_hash=content_hash)


def entry_digest(name: str, row: dict[str, Any], occurrence: int = 0) -> str:
    """The ``row_digest`` of one canonical row (as :func:`prepare_rows` computes it)."""
    columns = list(schema.CANONICAL_FRAMES[name])
    text = canonical_json([name, *(row[c] for c in columns)])
    return _sha256(f"{text}#{occurrence}")


def chunks(items: Sequence[str], size: int = IN_CHUNK) -> Iterator[Sequence[str]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _rows(session: Session, query: Select[Any], ids: Sequence[str], key: Any) -> list[Any]:
    out: list[Any] = []
    for part in chunks(sorted(ids)):
        out.extend(session.execute(query.where(key.in_(part))).all())
    return out


def load_tables(session: Session, patient_ids: Iterable[str]) -> CanonicalTables:
    """The stored canonical frames of these patients, in a content-determined row order."""
    return load_tables_with_digests(session, patient_ids)[0]


def load_tables_with_digests(
    session: Session, patient_ids: Iterable[str]
) -> tuple[CanonicalTables, dict[str, str]]:
    """:func:`load_tables` plus an input digest per patient.

    The digest is the SHA-256 of the patient row's canonical JSON and the sorted digests of all
    their clinical rows: equal stored records give equal digests.
    """
    ids = sorted(set(patient_ids))
    frames: dict[str, pl.DataFrame] = {}
    columns = list(schema.PATIENTS)
    rows = _rows(
        session,
        select(*(getattr(Patient, c) for c in columns)),
        ids,
        Patient.patient_id,
    )
    frames["patients"] = pl.DataFrame(
        sorted(rows, key=lambda r: r[0]), schema=schema.PATIENTS, orient="row"
    )
    row_digests: dict[str, list[str]] = {pid: [] for pid in frames["patients"]["patient_id"]}
    for name, model in CLINICAL_MODELS.items():
        wanted = list(schema.CANONICAL_FRAMES[name])
        order = _ORDER[name]
        query = select(*(getattr(model, c) for c in wanted), model.row_digest)
        fetched = _rows(session, query, ids, model.patient_id)
        position = {c: i for i, c in enumerate([*wanted, "row_digest"])}
        fetched.sort(key=lambda r: tuple(_sort_key(r[position[c]]) for c in order))
        frames[name] = pl.DataFrame(
            [tuple(r[: len(wanted)]) for r in fetched],
            schema=schema.CANONICAL_FRAMES[name],
            orient="row",
        )
        for r in fetched:
            row_digests[r[0]].append(r[-1])
    tables = CanonicalTables(
        patients=frames["patients"],
        measurements=frames["measurements"],
        treatments=frames["treatments"],
        findings=frames["findings"],
    )
    digests = {}
    for pid, text in zip(
        frames["patients"]["patient_id"], _texts("patients", tables.patients), strict=True
    ):
        digests[pid] = _sha256("\n".join([text, *sorted(row_digests[pid])]))
    return tables, digests


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, "") if value is None else (1, value)
