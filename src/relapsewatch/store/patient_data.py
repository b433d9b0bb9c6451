"""A patient's data rights: find every row about a patient, give it to them, erase it.

Which tables hold a patient's rows (the schema walker)
    :func:`patient_paths` reads the models' metadata, never a hand-written list: a table holds
    patient rows when it *is* ``patients``, has a foreign key to it, or has a foreign key to a
    table that does, at any depth (``messages.thread_id -> message_threads.patient_id``). Every
    simple chain of keys is kept, so a row that reaches the patient by any chain is theirs (a
    message is the patient's through its thread and through its author's account). A table
    added later with such a key is found without any change here (RELIABILITY G1, G2).

Export (GDPR Art. 15 and 20; RELIABILITY G1)
    :func:`export_patient` gives every row of every walker table for the patient as JSON-ready
    values, grouped by table, plus the "who has looked at my record" list. Secrets are left
    out and the export says so: the password hash column, and sign-in sessions (token hashes
    and CSRF tokens). :func:`export_patient_csv` gives the canonical CSV tables in a zip that
    ``relapsewatch validate`` and the importer accept (values in canonical units).

CSV cells that a spreadsheet would run as a formula (RELIABILITY C6; ASVS 1.2.10)
    A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
    apostrophe, unless the whole cell is a plain decimal number (``-1.5``, ``+2``), which a
    spreadsheet reads as that number and never as a formula; numbers therefore read back
    unchanged. The apostrophe stays in the data: a patient id such as ``=A1`` reads back as
    ``'=A1`` (in every table alike, so the tables still fit together). No stored value of the
    canonical tables is a negative number, so in practice only text cells are ever changed.

Erasure (GDPR Art. 17; RELIABILITY G2)
    :func:`erase_patient` deletes, in one transaction, every row the walker finds for the
    patient, children before parents (so it does not rely on ``ON DELETE CASCADE``): the
    clinical rows, the derived course, care-team links, message threads and messages, the
    patient's own accounts and their sessions, and the audit pseudonym. Audit rows are
    append-only and stay; without the pseudonym's link they no longer point at anyone. Import
    batches are shared by many patients and hold no patient rows; they stay, but a batch that
    held the patient's rows has the patient id cut out of its ``source`` (a file name can hold
    it). Afterwards the freed space is scrubbed: SQLite deletes with ``secure_delete`` on, then
    checkpoints the write-ahead log, runs ``VACUUM`` and truncates the log, so the erased
    values are gone from the database files; PostgreSQL runs ``VACUUM`` on the touched tables.
    Refusing an erasure (a retention law) is not built; see ``docs/data-rights.md``.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from sqlalchemy import (
    ColumnElement,
    Engine,
    MetaData,
    Select,
    Table,
    delete,
    false,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from relapsewatch import schema
from relapsewatch.io import CanonicalTables
from relapsewatch.store.audit import access_log, pseudonym_of
from relapsewatch.store.audit_export import FORMULA_STARTS
from relapsewatch.store.audit_export import neutralise_cell as neutralise_any_cell
from relapsewatch.store.canonical import load_tables
from relapsewatch.store.db import as_utc, is_sqlite, write_session
from relapsewatch.store.errors import UnknownPatientError
from relapsewatch.store.models import AuditEvent, Base, ImportBatch

__all__ = [
    "EXPORT_LEFT_OUT",
    "EXPORT_SKIPPED_COLUMNS",
    "EXPORT_SKIPPED_TABLES",
    "PATIENT_KEY",
    "PATIENT_TABLE",
    "ErasureReport",
    "Hop",
    "PatientPath",
    "count_patient_rows",
    "erase_patient",
    "export_patient",
    "export_patient_csv",
    "file_view",
    "json_value",
    "neutralise_cell",
    "patient_paths",
    "patient_rows",
    "patient_rows_condition",
]

logger = logging.getLogger("relapsewatch.store.patient_data")

#: The table every chain ends at, and its key.
PATIENT_TABLE = "patients"
PATIENT_KEY = "patient_id"

#: Tables whose rows are secrets, not the patient's data: sign-in sessions (token hashes, CSRF
#: tokens) and failed logins (no key to a patient; listed in case one is ever added).
EXPORT_SKIPPED_TABLES: frozenset[str] = frozenset({"user_sessions", "login_failures"})
#: Columns left out of the rows that are exported.
EXPORT_SKIPPED_COLUMNS: Mapping[str, frozenset[str]] = {"users": frozenset({"password_hash"})}
#: What the export tells the reader it left out, and why (in plain words).
EXPORT_LEFT_OUT: Mapping[str, str] = {
    "users.password_hash": "The scrambled form of your password. It is a secret, so it is kept.",
    "user_sessions": "Sign-in codes for your browser. They are secrets, so they are kept.",
}

#: The canonical CSV tables in the zip, in this order.
CSV_TABLES = ("patients", "measurements", "treatments", "findings")
#: A plain decimal number: a spreadsheet reads it as that number, never as a formula.
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
#: Zip entries get a fixed time, so the same record always gives the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_ZIP_README = """\
This is a copy of the health records stored for you, as four tables.
You can open each .csv file in a spreadsheet.

patients.csv      who the record is about
measurements.csv  test results, in the units the app works in
treatments.csv    medicines and procedures
findings.csv      other things found, such as a new bone lesion

A cell that starts with = + - or @ has a ' added in front.
This stops a spreadsheet from running it as a formula.
Your care team can explain what the records mean.
"""


# ---------------------------------------------------------------------------------------------
# The schema walker
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hop:
    """One foreign key: rows of ``table`` whose ``columns`` hold ``referred_table``'s
    ``referred_columns``."""

    table: str
    columns: tuple[str, ...]
    referred_table: str
    referred_columns: tuple[str, ...]

    def __str__(self) -> str:
        return (
            f"{self.table}.{'+'.join(self.columns)} -> "
            f"{self.referred_table}.{'+'.join(self.referred_columns)}"
        )


@dataclass(frozen=True, slots=True)
class PatientPath:
    """A chain of foreign keys from ``table`` to ``patients`` (no hops for ``patients``)."""

    table: str
    hops: tuple[Hop, ...]

    def __str__(self) -> str:
        return ", ".join(str(h) for h in self.hops) or f"{PATIENT_TABLE}.{PATIENT_KEY}"


def _hops_to_patients(table: Table, visited: frozenset[str]) -> list[tuple[Hop, ...]]:
    if table.name == PATIENT_TABLE:
        return [()]
    chains: list[tuple[Hop, ...]] = []
    for constraint in sorted(table.foreign_key_constraints, key=lambda c: tuple(c.column_keys)):
        referred = constraint.referred_table
        if referred.name in visited:
            continue
        hop = Hop(
            table=table.name,
            columns=tuple(e.parent.name for e in constraint.elements),
            referred_table=referred.name,
            referred_columns=tuple(e.column.name for e in constraint.elements),
        )
        for rest in _hops_to_patients(referred, visited | {referred.name}):
            chains.append((hop, *rest))
    return chains


def patient_paths(metadata: MetaData = Base.metadata) -> dict[str, tuple[PatientPath, ...]]:
    """Every table that holds patient rows, with every chain of keys to ``patients``.

    Tables come parents first (the metadata's dependency order); a table with no chain is
    left out. Chains never visit a table twice, so cycles end.

    >>> paths = patient_paths()
    >>> [str(p) for p in paths["messages"]]  # doctest: +NORMALIZE_WHITESPACE
    ['messages.author_user_id -> users.id, users.patient_id -> patients.patient_id',
     'messages.thread_id -> message_threads.id, message_threads.patient_id -> patients.patient_id']
    """
    found: dict[str, tuple[PatientPath, ...]] = {}
    for table in metadata.sorted_tables:
        chains = _hops_to_patients(table, frozenset({table.name}))
        if chains:
            found[table.name] = tuple(PatientPath(table.name, hops) for hops in chains)
    return found


def _chain_condition(
    metadata: MetaData, hops: tuple[Hop, ...], patient_id: str
) -> ColumnElement[bool]:
    """Rows of the first hop's table that reach the patient along ``hops``."""
    if not hops:
        return metadata.tables[PATIENT_TABLE].c[PATIENT_KEY] == patient_id
    hop, rest = hops[0], hops[1:]
    table, referred = metadata.tables[hop.table], metadata.tables[hop.referred_table]
    columns = [table.c[name] for name in hop.columns]
    if not rest and hop.referred_columns == (PATIENT_KEY,):
        return columns[0] == patient_id
    inner = select(*(referred.c[name] for name in hop.referred_columns)).where(
        _chain_condition(metadata, rest, patient_id)
    )
    if len(columns) == 1:
        return columns[0].in_(inner)
    return tuple_(*columns).in_(inner)


def patient_rows_condition(
    table_name: str,
    patient_id: str,
    *,
    paths: Mapping[str, tuple[PatientPath, ...]] | None = None,
    metadata: MetaData = Base.metadata,
) -> ColumnElement[bool]:
    """The WHERE clause that selects the patient's rows of a walker table (any chain)."""
    found = paths if paths is not None else patient_paths(metadata)
    chains = found.get(table_name, ())
    if not chains:
        return false()
    return or_(*(_chain_condition(metadata, path.hops, patient_id) for path in chains))


def patient_rows(
    table_name: str, patient_id: str, *, metadata: MetaData = Base.metadata
) -> Select[Any]:
    """SELECT of the patient's rows of one table, in primary-key order."""
    table = metadata.tables[table_name]
    return (
        select(table)
        .where(patient_rows_condition(table_name, patient_id, metadata=metadata))
        .order_by(*table.primary_key.columns)
    )


def count_patient_rows(session: Session, patient_id: str) -> dict[str, int]:
    """How many rows each walker table holds for the patient (only tables with rows)."""
    paths = patient_paths()
    counts: dict[str, int] = {}
    for name in paths:
        table = Base.metadata.tables[name]
        condition = patient_rows_condition(name, patient_id, paths=paths)
        count = int(session.scalar(select(func.count()).select_from(table).where(condition)) or 0)
        if count:
            counts[name] = count
    return counts


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------


def json_value(value: Any) -> Any:
    """A stored value as JSON: dates and times as ISO text (times in UTC), numbers as numbers.

    >>> json_value(dt.datetime(2026, 1, 2, 3, 4, 5)), json_value(dt.date(2024, 5, 6))
    ('2026-01-02T03:04:05+00:00', '2024-05-06')
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime):
        return as_utc(value).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    raise TypeError(f"a stored value must be JSON-ready, got {type(value).__name__}")


def _table_rows(
    session: Session, name: str, condition: ColumnElement[bool]
) -> list[dict[str, Any]]:
    table = Base.metadata.tables[name]
    skipped = EXPORT_SKIPPED_COLUMNS.get(name, frozenset())
    columns = [c for c in table.columns if c.name not in skipped]
    query = select(*columns).where(condition).order_by(*table.primary_key.columns)
    return [
        {column.name: json_value(value) for column, value in zip(columns, row, strict=True)}
        for row in session.execute(query)
    ]


def _access_entries(session: Session, patient_id: str) -> list[dict[str, Any]]:
    subject = pseudonym_of(session, patient_id)
    if subject is None:
        return []
    total = int(session.scalar(select(func.count()).where(AuditEvent.subject == subject)) or 0)
    return [
        {
            "audit_id": entry.audit_id,
            "at": json_value(entry.at),
            "who": entry.who,
            "role": entry.role,
            "action": entry.action,
            "resource_type": entry.resource_type,
            "outcome": entry.outcome,
        }
        for entry in access_log(session, patient_id, limit=max(total, 1))
    ]


def export_patient(session: Session, patient_id: str) -> dict[str, Any]:
    """Everything stored about the patient, JSON-ready (RELIABILITY G1; GDPR Art. 15, 20).

    Returns ``{"format", "version", "patient_id", "tables", "access_log", "left_out"}``:
    ``tables`` maps every walker table (except :data:`EXPORT_SKIPPED_TABLES`) to the patient's
    rows in primary-key order, each row a dict of column to value (minus
    :data:`EXPORT_SKIPPED_COLUMNS`); ``access_log`` lists every audited request on the record,
    newest first; ``left_out`` says what was left out and why.

    Raises
    ------
    UnknownPatientError
        No patient with that id is stored.
    """
    paths = patient_paths()
    patients = Base.metadata.tables[PATIENT_TABLE]
    if session.scalar(select(func.count()).where(patients.c[PATIENT_KEY] == patient_id)) == 0:
        raise UnknownPatientError(patient_id)
    tables = {
        name: _table_rows(session, name, patient_rows_condition(name, patient_id, paths=paths))
        for name in paths
        if name not in EXPORT_SKIPPED_TABLES
    }
    return {
        "format": "relapsewatch patient record",
        "version": 1,
        "patient_id": patient_id,
        "tables": tables,
        "access_log": _access_entries(session, patient_id),
        "left_out": dict(EXPORT_LEFT_OUT),
    }


def neutralise_cell(cell: str) -> str:
    """The cell with a leading apostrophe if a spreadsheet would run it as a formula (C6).

    >>> neutralise_cell("=HYPERLINK(1)"), neutralise_cell("-1.5"), neutralise_cell("@x")
    ("'=HYPERLINK(1)", '-1.5', "'@x")
    """
    return cell if _PLAIN_NUMBER.fullmatch(cell) else neutralise_any_cell(cell)


def _neutralised(column: str) -> pl.Expr:
    """:func:`neutralise_cell` as one expression over a whole column."""
    text = pl.col(column)
    starts = "^[" + re.escape("".join(FORMULA_STARTS)) + "]"
    risky = text.str.contains(starts) & ~text.str.contains("^(?:" + _PLAIN_NUMBER.pattern + ")$")
    return pl.when(risky).then(pl.lit("'") + text).otherwise(text).alias(column)


def _text(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.String)


def file_view(tables: CanonicalTables) -> dict[str, pl.DataFrame]:
    """Canonical frames as the canonical *file* tables, every cell text, formulas neutralised.

    Measurements: ``value`` is the number in the canonical unit, the qualitative result word,
    ``<limit`` for a result below a stated limit, or ``detected_nonquantifiable``; ``unit`` is
    the canonical unit. Provenance columns (``reported_test``, ``reported_unit``,
    ``reported_therapy``) and derived ones (``drug_classes``, ``flags``) are not file columns;
    the reader derives them again.
    """
    m = tables.measurements
    nonquantifiable = pl.col("result") == schema.DETECTED_NONQUANTIFIABLE
    value = (
        pl.when(pl.col("result").is_null())
        .then(_text("value"))
        .when(nonquantifiable & pl.col("limit").is_not_null())
        .then(pl.lit("<") + _text("limit"))
        .otherwise(pl.col("result"))
    )
    frames = {
        "patients": tables.patients.select(
            _text(c) for c in schema.FILE_TABLES["patients"].column_names
        ),
        "measurements": m.with_columns(value.alias("value")).select(
            _text(c) for c in schema.FILE_TABLES["measurements"].column_names
        ),
        "treatments": tables.treatments.select(
            _text(c) for c in schema.FILE_TABLES["treatments"].column_names
        ),
        "findings": tables.findings.select(
            _text(c) for c in schema.FILE_TABLES["findings"].column_names
        ),
    }
    return {
        name: frame.with_columns(_neutralised(c) for c in frame.columns)
        for name, frame in frames.items()
    }


def export_patient_csv(session: Session, patient_id: str) -> bytes:
    """A zip of the patient's canonical CSV tables (``patients.csv``, ``measurements.csv``,
    ``treatments.csv``, ``findings.csv``) and a short ``README.txt``.

    The folder it unpacks to passes ``relapsewatch validate`` and imports back to the same
    canonical rows (RELIABILITY G1, C6). The same stored record always gives the same bytes.

    Raises
    ------
    UnknownPatientError
        No patient with that id is stored.
    """
    tables = load_tables(session, [patient_id])
    if tables.patients.height == 0:
        raise UnknownPatientError(patient_id)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, frame in file_view(tables).items():
            entry = zipfile.ZipInfo(f"{name}.csv", date_time=_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, frame.write_csv())
        readme = zipfile.ZipInfo("README.txt", date_time=_ZIP_TIME)
        readme.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(readme, _ZIP_README)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# Erasure
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErasureReport:
    """What :func:`erase_patient` did.

    ``rows_deleted`` maps each walker table to the rows deleted from it; ``pseudonym`` is the
    audit pseudonym whose link was deleted (``None`` when the patient had never been audited):
    the kept audit rows carry it as their subject and now point at nobody.
    ``audit_rows_kept`` counts them. ``batches_redacted`` counts import batches whose
    ``source`` named the patient and was cut. ``audit_rows_naming_patient`` counts kept audit
    rows whose resource id or detail holds the patient id as text (append-only, so they cannot
    be changed; the app never writes one). ``scrubbed`` is true when the freed space was
    overwritten (SQLite checkpoint and VACUUM both completed, or PostgreSQL VACUUM ran).
    """

    erased_at: dt.datetime
    rows_deleted: Mapping[str, int]
    pseudonym: str | None
    audit_rows_kept: int
    batches_redacted: int
    audit_rows_naming_patient: int
    scrubbed: bool
    touched_tables: tuple[str, ...] = field(default=())

    @property
    def total_rows(self) -> int:
        return sum(self.rows_deleted.values())


def _batch_ids(
    session: Session, paths: Mapping[str, tuple[PatientPath, ...]], patient_id: str
) -> set[int]:
    """The import batches that added any of the patient's rows."""
    batches = Base.metadata.tables[ImportBatch.__tablename__]
    ids: set[int] = set()
    for name in paths:
        table = Base.metadata.tables[name]
        for fk in table.foreign_keys:
            if fk.column.table is batches:
                condition = patient_rows_condition(name, patient_id, paths=paths)
                ids.update(
                    int(v)
                    for v in session.scalars(select(fk.parent).where(condition).distinct())
                    if v is not None
                )
    return ids


def _standalone(patient_id: str) -> re.Pattern[str]:
    """The id where it stands alone (not inside a longer word or number)."""
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(patient_id)}(?![A-Za-z0-9])")


def _redact_batch_sources(session: Session, batch_ids: set[int], patient_id: str) -> int:
    pattern = _standalone(patient_id)
    redacted = 0
    for batch_id in sorted(batch_ids):
        source = session.scalar(select(ImportBatch.source).where(ImportBatch.id == batch_id))
        if source is not None and pattern.search(source):
            session.execute(
                update(ImportBatch)
                .where(ImportBatch.id == batch_id)
                .values(source=pattern.sub("(erased patient)", source))
            )
            redacted += 1
    return redacted


def _audit_mentions(session: Session, patient_id: str) -> int:
    query = select(func.count()).where(
        or_(
            AuditEvent.resource_id.contains(patient_id, autoescape=True),
            AuditEvent.detail.contains(patient_id, autoescape=True),
        )
    )
    return int(session.scalar(query) or 0)


def _delete_rows(
    session: Session, paths: Mapping[str, tuple[PatientPath, ...]], patient_id: str
) -> dict[str, int]:
    """Delete children before parents, so each table's chains still reach the patient."""
    deleted: dict[str, int] = {}
    for name in reversed(list(paths)):
        table = Base.metadata.tables[name]
        result = session.execute(
            delete(table).where(patient_rows_condition(name, patient_id, paths=paths)),
            execution_options={"synchronize_session": False},
        )
        count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            deleted[name] = count
    return deleted


def erase_patient(
    session_factory: sessionmaker[Session], patient_id: str, *, now: dt.datetime
) -> ErasureReport:
    """Erase the patient and every row about them, then scrub the freed space (G2; GDPR 17).

    See the module's notes for what is deleted, what is kept and how the space is scrubbed.
    The deletion is one transaction: all of it happens or none. The scrub runs after the
    commit; if another connection keeps it from finishing, ``scrubbed`` is false (the rows are
    gone either way) and running :func:`erase_patient` again is not needed, only the scrub:
    the next erasure's scrub covers it.

    Raises
    ------
    UnknownPatientError
        No patient with that id is stored (nothing is changed).
    """
    paths = patient_paths()
    with write_session(session_factory) as session:
        connection = session.connection()
        sqlite = is_sqlite(connection)
        if sqlite:
            connection.exec_driver_sql("PRAGMA secure_delete = ON")
        try:
            patients = Base.metadata.tables[PATIENT_TABLE]
            exists = session.scalar(
                select(func.count()).where(patients.c[PATIENT_KEY] == patient_id)
            )
            if not exists:
                raise UnknownPatientError(patient_id)
            pseudonym = pseudonym_of(session, patient_id)
            kept = (
                int(
                    session.scalar(select(func.count()).where(AuditEvent.subject == pseudonym)) or 0
                )
                if pseudonym is not None
                else 0
            )
            batch_ids = _batch_ids(session, paths, patient_id)
            deleted = _delete_rows(session, paths, patient_id)
            redacted = _redact_batch_sources(session, batch_ids, patient_id)
            mentions = _audit_mentions(session, patient_id)
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA secure_delete = OFF")
        engine = session.get_bind()
    touched = tuple(deleted) + ((ImportBatch.__tablename__,) if redacted else ())
    scrubbed = _scrub(engine, touched) if isinstance(engine, Engine) else False
    logger.info(
        "patient record erased: %d rows in %d tables; scrubbed=%s",
        sum(deleted.values()),
        len(deleted),
        scrubbed,
    )
    return ErasureReport(
        erased_at=now,
        rows_deleted=deleted,
        pseudonym=pseudonym,
        audit_rows_kept=kept,
        batches_redacted=redacted,
        audit_rows_naming_patient=mentions,
        scrubbed=scrubbed,
        touched_tables=touched,
    )


def _scrub(engine: Engine, tables: Sequence[str]) -> bool:
    """Overwrite the freed space (see the module's notes); false when it could not finish."""
    try:
        if engine.dialect.name == "sqlite":
            return _scrub_sqlite(engine)
        _vacuum_postgresql(engine, tables)
        return True
    except DBAPIError as exc:
        logger.warning("scrub after erasure did not finish (%s)", type(exc).__name__)
        return False


def _checkpoint(cursor: Any) -> bool:
    busy, _log, _done = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return int(busy) == 0


def _scrub_sqlite(engine: Engine) -> bool:
    # VACUUM cannot run inside a transaction. On the driver's own connection no BEGIN is sent
    # (its transaction handling is off; relapsewatch.store.db), so each statement stands alone.
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            first = _checkpoint(cursor)
            cursor.execute("VACUUM")
            second = _checkpoint(cursor)
        finally:
            cursor.close()
    finally:
        connection.close()
    return first and second


def _vacuum_postgresql(engine: Engine, tables: Sequence[str]) -> None:
    if not tables:
        return
    quote = engine.dialect.identifier_preparer.quote
    # Table names come from the models' metadata, never from input.
    names = ", ".join(quote(Base.metadata.tables[name].name) for name in tables)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(f"VACUUM (ANALYZE) {names}")
