"""Data rights: the schema walker, a patient's export and erasure (RELIABILITY G1, G2, C6).

Who owns a row is worked out here a second way, independently of the walker's SQL: every row
of every table is read into Python and owners are followed along the foreign keys of the
metadata (:func:`owners_of_rows`). The export must equal, table by table, the rows this finds
for the patient; erasure must leave none.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import itertools
import json
import re
import secrets
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Engine, ForeignKey, Integer, MetaData, Table, Text, select
from sqlalchemy.orm import Session, sessionmaker

from relapsewatch import schema
from relapsewatch.io import CanonicalTables, normalise_tables, read_tables, validate_folder
from relapsewatch.store.audit import AuditRecord, append_audit, pseudonym_of, verify_audit
from relapsewatch.store.canonical import load_tables
from relapsewatch.store.db import create_engine_for, make_session_factory
from relapsewatch.store.errors import UnknownPatientError
from relapsewatch.store.models import (
    AuditEvent,
    Base,
    CareTeam,
    CareTeamMember,
    CareTeamPatient,
    ImportBatch,
    Message,
    MessageThread,
    Patient,
    PatientPseudonym,
    User,
    UserSession,
)
from relapsewatch.store.patient_data import (
    EXPORT_SKIPPED_COLUMNS,
    EXPORT_SKIPPED_TABLES,
    count_patient_rows,
    erase_patient,
    export_patient,
    export_patient_csv,
    file_view,
    json_value,
    neutralise_cell,
    patient_paths,
    patient_rows,
)
from relapsewatch.store.repository import import_tables

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
CANARY_ID = "CANARY-ERASE-7Q"
CANARY_MESSAGE = "canary-message-7Q"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: What a spreadsheet reads as a plain number (C6 lets these start with + or -).
PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
MakeTables = Callable[..., CanonicalTables]
_populations = itertools.count()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    bound = create_engine_for(database_url)
    yield bound
    bound.dispose()


# ---------------------------------------------------------------------------------------------
# An independent owner oracle
# ---------------------------------------------------------------------------------------------

Row = dict[str, Any]


def all_rows(session: Session) -> dict[str, list[Row]]:
    """Every row of every table of the metadata."""
    return {
        table.name: [dict(r._mapping) for r in session.execute(select(table))]
        for table in Base.metadata.sorted_tables
    }


def owners_of_rows(rows: dict[str, list[Row]]) -> dict[str, list[frozenset[str]]]:
    """The patients each row belongs to, by following every foreign key's values in Python."""
    owners: dict[str, list[frozenset[str]]] = {}
    for table in Base.metadata.sorted_tables:  # parents before children
        lookups = []
        for constraint in table.foreign_key_constraints:
            parent = constraint.referred_table.name
            if parent == table.name:
                continue
            pairs = [(e.parent.name, e.column.name) for e in constraint.elements]
            index: dict[tuple[Any, ...], set[str]] = {}
            for parent_row, parent_owners in zip(rows[parent], owners[parent], strict=True):
                index.setdefault(tuple(parent_row[p] for _, p in pairs), set()).update(
                    parent_owners
                )
            lookups.append(([c for c, _ in pairs], index))
        table_owners: list[frozenset[str]] = []
        for row in rows[table.name]:
            found: set[str] = {row["patient_id"]} if table.name == "patients" else set()
            for columns, index in lookups:
                found |= index.get(tuple(row[c] for c in columns), set())
            table_owners.append(frozenset(found))
        owners[table.name] = table_owners
    return owners


def expected_exports(
    rows: dict[str, list[Row]], owners: dict[str, list[frozenset[str]]]
) -> dict[str, dict[str, list[Row]]]:
    """Per patient, per walker table (minus the skipped ones), the rows the export must hold."""
    out: dict[str, dict[str, list[Row]]] = {}
    walker = set(patient_paths()) - EXPORT_SKIPPED_TABLES
    for name, table_rows in rows.items():
        if name in EXPORT_SKIPPED_TABLES:
            continue
        skipped = EXPORT_SKIPPED_COLUMNS.get(name, frozenset())
        for row, who in zip(table_rows, owners[name], strict=True):
            for pid in who:
                mine = out.setdefault(pid, {t: [] for t in walker})
                mine.setdefault(name, []).append(
                    {k: json_value(v) for k, v in row.items() if k not in skipped}
                )
    return out


def _key(row: Row) -> str:
    return json.dumps(row, sort_keys=True, default=str)


def same_rows(a: list[Row], b: list[Row]) -> bool:
    return sorted(map(_key, a)) == sorted(map(_key, b))


def walker_tables_by_fixed_point(metadata: MetaData) -> set[str]:
    """Tables with a chain of keys to ``patients``, found by iterating to a fixed point."""
    found = {"patients"}
    changed = True
    while changed:
        changed = False
        for table in metadata.tables.values():
            if table.name not in found and any(
                fk.column.table.name in found for fk in table.foreign_keys
            ):
                found.add(table.name)
                changed = True
    return found


# ---------------------------------------------------------------------------------------------
# A synthetic population
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientSpec:
    """What one synthetic patient has beyond their clinical rows."""

    account: bool
    sessions: int
    threads: tuple[int, ...]  # messages per thread
    audit_rows: int


def populate(
    make_tables: MakeTables,
    factory: sessionmaker[Session],
    specs: list[PatientSpec],
    *,
    seed: int,
    prefix: str,
    rename: dict[str, str] | None = None,
    messages: dict[str, str] | None = None,
    source: str | None = None,
    months: tuple[int, int] = (4, 10),
) -> list[str]:
    """Import len(specs) synthetic patients, then add accounts, sessions, messages and audit."""
    tables = make_tables(len(specs), seed=seed, prefix=prefix, months=months)
    if rename:
        tables = CanonicalTables(
            **{
                n: f.with_columns(pl.col("patient_id").replace(rename))
                for n, f in tables.as_dict().items()
            }
        )
    import_tables(factory, tables, source=source or f"population {prefix}")
    ids = tables.patients["patient_id"].to_list()
    with factory() as session:
        team = CareTeam(name=f"team {prefix}")
        session.add(team)
        session.flush()
        staff = _user(session, f"nurse-{prefix}", "nurse", None)
        session.add(CareTeamMember(team_id=team.id, user_id=staff.id))
        for pid, spec in zip(ids, specs, strict=True):
            session.add(CareTeamPatient(team_id=team.id, patient_id=pid))
            account = _user(session, f"p-{pid}", "patient", pid) if spec.account else None
            for _ in range(spec.sessions if account else 0):
                session.add(
                    UserSession(
                        token_hash=secrets.token_hex(32),
                        user_id=account.id,  # type: ignore[union-attr]
                        csrf_token=secrets.token_hex(16),
                        created_at=NOW,
                        last_seen_at=NOW,
                    )
                )
            for n_messages in spec.threads:
                thread = MessageThread(
                    patient_id=pid,
                    subject="A question",
                    status="new",
                    created_at=NOW,
                    updated_at=NOW,
                )
                session.add(thread)
                session.flush()
                for i in range(n_messages):
                    author = account if i % 2 == 0 and account is not None else staff
                    session.add(
                        Message(
                            thread_id=thread.id,
                            author_user_id=author.id,
                            author_role=author.role,
                            body=f"{(messages or {}).get(pid, 'How are my results?')} ({i})",
                            created_at=NOW,
                        )
                    )
        session.commit()
    records = [
        AuditRecord(
            at=NOW,
            user_id=None,
            role="nurse",
            action="read",
            resource_type="course",
            outcome="success",
            request_id=secrets.token_hex(8),
            patient_id=pid,
        )
        for pid, spec in zip(ids, specs, strict=True)
        for i in range(spec.audit_rows)
    ]
    if records:
        append_audit(factory, records)
    return ids


def _user(session: Session, username: str, role: str, patient_id: str | None) -> User:
    user = User(
        username=username.lower(),
        display_name=username,
        role=role,
        password_hash="$argon2id$not-a-real-hash",
        patient_id=patient_id,
        disabled=False,
        demo=False,
        created_at=NOW,
        password_changed_at=NOW,
    )
    session.add(user)
    session.flush()
    return user


specs_strategy = st.builds(
    PatientSpec,
    account=st.booleans(),
    sessions=st.integers(0, 2),
    threads=st.lists(st.integers(1, 3), max_size=2).map(tuple),
    audit_rows=st.integers(0, 2),
)

FULL = PatientSpec(account=True, sessions=1, threads=(2,), audit_rows=1)


# ---------------------------------------------------------------------------------------------
# The walker
# ---------------------------------------------------------------------------------------------


def test_the_walker_finds_every_table_with_a_chain_of_keys_to_patients() -> None:
    found = set(patient_paths())
    assert found == walker_tables_by_fixed_point(Base.metadata)
    # the tables this release has, at the least (a new table joins by itself)
    assert {
        "patients",
        "measurements",
        "treatments",
        "findings",
        "patient_courses",
        "course_lines",
        "care_team_patients",
        "users",
        "user_sessions",
        "message_threads",
        "messages",
        "patient_pseudonyms",
        "care_team_members",
    } <= found
    assert (
        not {"import_batches", "audit_events", "audit_head", "login_failures", "care_teams"} & found
    )


def test_the_walker_follows_chains_of_any_depth_and_stops_at_cycles() -> None:
    metadata = MetaData()
    Table("patients", metadata, Column("patient_id", Text, primary_key=True))
    Table(
        "a",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("patient_id", ForeignKey("patients.patient_id")),
    )
    Table(
        "b", metadata, Column("id", Integer, primary_key=True), Column("a_id", ForeignKey("a.id"))
    )
    Table(
        "c", metadata, Column("id", Integer, primary_key=True), Column("b_id", ForeignKey("b.id"))
    )
    Table("lonely", metadata, Column("id", Integer, primary_key=True))
    Table(
        "d",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("lonely_id", ForeignKey("lonely.id")),
    )
    Table(
        "g",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("h_id", ForeignKey("h.id", use_alter=True)),
    )
    Table(
        "h",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("g_id", ForeignKey("g.id")),
        Column("patient_id", ForeignKey("patients.patient_id")),
    )
    paths = patient_paths(metadata)
    assert set(paths) == {"patients", "a", "b", "c", "g", "h"}
    assert set(paths) == walker_tables_by_fixed_point(metadata)
    assert [str(p) for p in paths["c"]] == [
        "c.b_id -> b.id, b.a_id -> a.id, a.patient_id -> patients.patient_id"
    ]
    assert [str(p) for p in paths["g"]] == ["g.h_id -> h.id, h.patient_id -> patients.patient_id"]


# ---------------------------------------------------------------------------------------------
# Export (G1)
# ---------------------------------------------------------------------------------------------


def test_the_population_fills_every_table_the_walker_finds(
    synthetic_tables: MakeTables, engine: Engine
) -> None:
    """So the export checks below cover every table (a new table must be added to populate)."""
    factory = make_session_factory(engine)
    populate(synthetic_tables, factory, [FULL] * 4, seed=1, prefix="FILL-", months=(36, 60))
    with factory() as session:
        rows = all_rows(session)
    assert [name for name in patient_paths() if not rows[name]] == []


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=st.lists(specs_strategy, min_size=2, max_size=20),
    seed=st.integers(0, 10_000),
    picks=st.lists(st.integers(0, 19), min_size=1, max_size=5, unique=True),
)
def test_an_export_holds_every_row_of_the_patient_and_none_of_anyone_else(
    synthetic_tables: MakeTables,
    engine: Engine,
    specs: list[PatientSpec],
    seed: int,
    picks: list[int],
) -> None:
    """G1. Populations pile up in one database, so the other patients of every earlier example
    are there too; up to five patients of each population are checked (to keep it fast)."""
    factory = make_session_factory(engine)
    made = populate(synthetic_tables, factory, specs, seed=seed, prefix=f"G{next(_populations)}-")
    ids = sorted({made[i % len(made)] for i in picks})
    with factory() as session:
        rows = all_rows(session)
        owners = owners_of_rows(rows)
        assert all(len(who) <= 1 for table in owners.values() for who in table)
        expected = expected_exports(rows, owners)
        for pid in ids:
            exported = export_patient(session, pid)
            assert set(exported["tables"]) == set(expected[pid])
            for name, exported_rows in exported["tables"].items():
                assert same_rows(exported_rows, expected[pid][name]), (pid, name)
            assert [r["patient_id"] for r in exported["tables"]["patients"]] == [pid]
            json.dumps(exported, allow_nan=False)  # JSON-ready as it is


def test_an_export_leaves_out_secrets_and_lists_what_it_left_out(
    synthetic_tables: MakeTables, engine: Engine
) -> None:
    factory = make_session_factory(engine)
    first, _ = populate(synthetic_tables, factory, [FULL, FULL], seed=2, prefix="SEC-")
    with factory() as session:
        exported = export_patient(session, first)
        hashes = set(session.scalars(select(UserSession.token_hash)))
        csrf = set(session.scalars(select(UserSession.csrf_token)))
    text = json.dumps(exported)
    assert "user_sessions" not in exported["tables"]
    assert "password_hash" not in exported["tables"]["users"][0]
    assert "$argon2id$" not in text
    assert not any(h in text for h in hashes | csrf)
    assert set(exported["left_out"]) == {"users.password_hash", "user_sessions"}


def test_an_export_holds_the_patients_access_log(
    synthetic_tables: MakeTables, engine: Engine
) -> None:
    factory = make_session_factory(engine)
    first, _ = populate(
        synthetic_tables,
        factory,
        [PatientSpec(False, 0, (), 3), PatientSpec(False, 0, (), 2)],
        seed=3,
        prefix="LOG-",
    )
    with factory() as session:
        exported = export_patient(session, first)
        subject = pseudonym_of(session, first)
        mine = list(
            session.scalars(
                select(AuditEvent.id)
                .where(AuditEvent.subject == subject)
                .order_by(AuditEvent.id.desc())
            )
        )
    assert [e["audit_id"] for e in exported["access_log"]] == mine
    assert len(mine) == 3


def test_exporting_an_unknown_patient_is_an_error(engine: Engine) -> None:
    with make_session_factory(engine)() as session:
        with pytest.raises(UnknownPatientError):
            export_patient(session, "NOBODY")
        with pytest.raises(UnknownPatientError):
            export_patient_csv(session, "NOBODY")


# ---------------------------------------------------------------------------------------------
# CSV export (G1, C6)
# ---------------------------------------------------------------------------------------------

#: Hand-written rows with every kind of value the CSV must carry: a number, a qualitative
#: result, a result below a stated limit, one without a limit, MRD with method and
#: sensitivity, an ongoing treatment with an intent, a finding with a detail; and a patient
#: whose id and detail look like spreadsheet formulas.
EDGE_ROWS = {
    "patients": pl.DataFrame(
        {
            "patient_id": ["CSV-1", "=SUM(1)"],
            "disease": ["myeloma", "myeloma"],
            "diagnosis_date": ["2023-01-10", "2022-05-01"],
            "heavy_chain": ["IgG", None],
            "light_chain": ["kappa", "lambda"],
            "sex": [None, "female"],
            "birth_year": ["1950", None],
        }
    ),
    "measurements": pl.DataFrame(
        {
            "patient_id": ["CSV-1"] * 6 + ["=SUM(1)"],
            "date": [
                "2023-02-01",
                "2023-03-01",
                "2023-04-01",
                "2023-05-01",
                "2023-06-01",
                "2023-06-01",
                "2022-06-01",
            ],
            "test": [
                "serum_m_protein",
                "serum_m_protein",
                "serum_m_protein",
                "serum_ife",
                "mrd",
                "flc_ratio",
                "flc_kappa",
            ],
            "value": ["3.25", "<0.1", "trace", "negative", "negative", "1.7", "45"],
            "unit": ["g/L", "g/dL", None, None, None, None, "mg/dL"],
            "method": [None, None, None, None, "ngs", None, None],
            "sensitivity": [None, None, None, None, "1e-5", None, None],
        }
    ),
    "treatments": pl.DataFrame(
        {
            "patient_id": ["CSV-1", "CSV-1", "=SUM(1)"],
            "therapy": ["VRd", "autologous_transplant", "lenalidomide"],
            "start_date": ["2023-01-20", "2023-07-01", "2022-05-10"],
            "end_date": ["2023-06-20", "2023-07-01", None],
            "intent": [None, None, "maintenance"],
        }
    ),
    "findings": pl.DataFrame(
        {
            "patient_id": ["CSV-1", "=SUM(1)"],
            "date": ["2023-08-01", "2022-09-01"],
            "finding": ["new_bone_lesion", "new_plasmacytoma"],
            "detail": ["left femur, 2 cm", "@cmd|' /C calc'!A0"],
        }
    ),
}
ROUND_TRIP = {
    "patients": list(schema.PATIENTS),
    "measurements": [
        "patient_id",
        "date",
        "test",
        "value",
        "result",
        "limit",
        "unit",
        "method",
        "sensitivity",
        "flags",
    ],
    "treatments": ["patient_id", "therapy", "drug_classes", "start_date", "end_date", "intent"],
    "findings": list(schema.FINDINGS),
}


def _edge_tables() -> CanonicalTables:
    raw = {
        n: f.with_row_index("__row", offset=2).with_columns(pl.col("__row").cast(pl.Int64))
        for n, f in EDGE_ROWS.items()
    }
    tables, log = normalise_tables(raw)
    assert tables is not None, [str(p) for p in log.problems]
    return tables


def _unzip(data: bytes, folder: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == [
            "README.txt",
            "findings.csv",
            "measurements.csv",
            "patients.csv",
            "treatments.csv",
        ]
        archive.extractall(folder)


def _neutralised(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.col(c).map_elements(neutralise_cell, return_dtype=pl.String)
        for c in ("patient_id", "detail")
        if c in frame.columns
    )


def test_the_csv_zip_revalidates_and_gives_back_the_same_rows(
    synthetic_tables: MakeTables, engine: Engine, tmp_path: Path
) -> None:
    factory = make_session_factory(engine)
    import_tables(factory, _edge_tables(), source="edge rows")
    populate(synthetic_tables, factory, [FULL, FULL, FULL], seed=4, prefix="CSV-SYN-")
    for pid in ("CSV-1", "=SUM(1)", "CSV-SYN-0001"):
        with factory() as session:
            data = export_patient_csv(session, pid)
            assert export_patient_csv(session, pid) == data  # same record, same bytes
            stored = load_tables(session, [pid])
        folder = tmp_path / hashlib.sha256(pid.encode()).hexdigest()[:8]
        _unzip(data, folder)
        report = validate_folder(folder)
        assert report.ok, [str(p) for p in report.problems]
        assert report.warnings == ()
        back = read_tables(folder)
        for name, columns in ROUND_TRIP.items():
            expected = stored.as_dict()[name].select(columns)
            if pid.startswith("="):
                expected = _neutralised(expected)
            got = getattr(back, name).select(columns)
            assert sorted(got.rows(), key=str) == sorted(expected.rows(), key=str), (pid, name)
        assert back.measurements.height == stored.measurements.height > 0


def test_csv_cells_that_look_like_formulas_are_neutralised(engine: Engine) -> None:
    factory = make_session_factory(engine)
    import_tables(factory, _edge_tables(), source="edge rows")
    with factory() as session:
        data = export_patient_csv(session, "=SUM(1)")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        findings = archive.read("findings.csv").decode()
        patients = archive.read("patients.csv").decode()
    assert "'@cmd|' /C calc'!A0" in findings
    assert "'=SUM(1)" in patients and "\n=SUM(1)" not in patients


cells = st.one_of(
    st.text(max_size=12),
    st.sampled_from(FORMULA_STARTS).flatmap(lambda c: st.text(max_size=8).map(lambda t: c + t)),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers().map(str),
)


@settings(max_examples=300, deadline=None)
@given(cell=cells)
def test_a_cell_that_starts_a_formula_gets_an_apostrophe_and_numbers_are_kept(cell: str) -> None:
    out = neutralise_cell(cell)
    if cell.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(cell):
        assert out == "'" + cell
    else:
        assert out == cell


def _frame(spec: dict[str, pl.DataType], rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame([{c: r.get(c) for c in spec} for r in rows], schema=spec, orient="row")


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.one_of(st.none(), cells), min_size=1, max_size=5),
    value=st.floats(min_value=0, max_value=1e6, allow_nan=False),
)
def test_no_cell_of_the_written_csv_starts_a_formula(texts: list[str | None], value: float) -> None:
    pid = "-P1"
    day = dt.date(2024, 1, 1)
    tables = CanonicalTables(
        patients=_frame(schema.PATIENTS, [{"patient_id": pid, "disease": "myeloma"}]),
        measurements=_frame(
            schema.MEASUREMENTS,
            [
                {
                    "patient_id": pid,
                    "date": day,
                    "test": "flc_kappa",
                    "value": value,
                    "unit": "mg/L",
                    "method": t,
                }
                for t in texts
            ],
        ),
        treatments=_frame(
            schema.TREATMENTS,
            [{"patient_id": pid, "therapy": t, "start_date": day} for t in texts],
        ),
        findings=_frame(
            schema.FINDINGS,
            [{"patient_id": pid, "date": day, "finding": "death", "detail": t} for t in texts],
        ),
    )
    for name, frame in file_view(tables).items():
        for row in list(csv.reader(io.StringIO(frame.write_csv(), newline="")))[1:]:
            for cell in row:
                assert not cell.startswith(FORMULA_STARTS) or PLAIN_NUMBER.fullmatch(cell), (
                    name,
                    cell,
                )


# ---------------------------------------------------------------------------------------------
# Erasure (G2)
# ---------------------------------------------------------------------------------------------


def _checksums(
    rows: dict[str, list[Row]], owners: dict[str, list[frozenset[str]]], leave_out: str
) -> dict[str, str]:
    """SHA-256 per table of the rows that do not belong to ``leave_out``."""
    out = {}
    for name, table_rows in rows.items():
        kept = [
            _key({k: json_value(v) for k, v in row.items()})
            for row, who in zip(table_rows, owners[name], strict=True)
            if leave_out not in who
        ]
        out[name] = hashlib.sha256("\n".join(sorted(kept)).encode()).hexdigest()
    return out


def _file_bytes(url: str) -> bytes:
    path = Path(url.removeprefix("sqlite:///"))
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_erasure_leaves_no_row_of_the_patient_and_changes_nobody_else(
    synthetic_tables: MakeTables, engine: Engine, database_url: str
) -> None:
    factory = make_session_factory(engine)
    populate(synthetic_tables, factory, [FULL] * 3, seed=5, prefix="KEEP-")
    rename = {"ERA-0000": CANARY_ID}
    populate(
        synthetic_tables,
        factory,
        [PatientSpec(True, 2, (3, 1), 3), FULL],
        seed=6,
        prefix="ERA-",
        rename=rename,
        messages={CANARY_ID: CANARY_MESSAGE},
        source=f"labs of {CANARY_ID} and ERA-0001.csv",
    )
    sqlite = engine.dialect.name == "sqlite"
    with factory() as session:
        before_rows = all_rows(session)
        before_owners = owners_of_rows(before_rows)
        subject = pseudonym_of(session, CANARY_ID)
        counts = count_patient_rows(session, CANARY_ID)
    assert subject is not None
    if sqlite:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        raw = _file_bytes(database_url)
        assert CANARY_ID.encode() in raw and CANARY_MESSAGE.encode() in raw

    report = erase_patient(factory, CANARY_ID, now=NOW)

    assert report.pseudonym == subject
    assert dict(report.rows_deleted) == counts
    assert report.rows_deleted["messages"] == 3 + 1  # two threads: 3 and 1 messages
    assert report.audit_rows_kept == 3
    assert report.batches_redacted == 1
    assert report.audit_rows_naming_patient == 0
    assert report.scrubbed
    with factory() as session:
        after_rows = all_rows(session)
        after_owners = owners_of_rows(after_rows)
        for name in patient_paths():
            assert session.execute(patient_rows(name, CANARY_ID)).first() is None, name
        assert (
            session.scalar(select(PatientPseudonym).where(PatientPseudonym.pseudonym == subject))
            is None
        )
        kept = session.scalars(select(AuditEvent).where(AuditEvent.subject == subject)).all()
        assert len(kept) == 3
        assert verify_audit(session).ok
        source = session.scalar(
            select(ImportBatch.source).where(ImportBatch.source.contains("ERA-0001"))
        )
    assert source == "labs of (erased patient) and ERA-0001.csv"
    assert all(CANARY_ID not in who for table in after_owners.values() for who in table)
    for name, table_rows in after_rows.items():
        for row in table_rows:
            assert not any(CANARY_ID in str(v) or CANARY_MESSAGE in str(v) for v in row.values()), (
                name
            )
    before = _checksums(before_rows, before_owners, CANARY_ID)
    after = _checksums(after_rows, after_owners, CANARY_ID)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"import_batches"}  # only the redacted source
    if sqlite:
        raw = _file_bytes(database_url)
        assert CANARY_ID.encode() not in raw
        assert CANARY_MESSAGE.encode() not in raw
        assert CANARY_MESSAGE.encode("utf-16-le") not in raw


def test_the_messages_of_the_other_patient_in_the_batch_are_kept(
    synthetic_tables: MakeTables, engine: Engine
) -> None:
    factory = make_session_factory(engine)
    first, second = populate(synthetic_tables, factory, [FULL, FULL], seed=7, prefix="TWO-")
    with factory() as session:
        before = export_patient(session, second)
    erase_patient(factory, first, now=NOW)
    with factory() as session:
        after = export_patient(session, second)
        assert session.get(Patient, first) is None
    assert after["tables"] == before["tables"]


def test_erasing_an_unknown_patient_changes_nothing(
    synthetic_tables: MakeTables, engine: Engine
) -> None:
    factory = make_session_factory(engine)
    populate(synthetic_tables, factory, [FULL, FULL], seed=8, prefix="UNK-")
    with factory() as session:
        before = all_rows(session)
    with pytest.raises(UnknownPatientError):
        erase_patient(factory, "NOBODY", now=NOW)
    with factory() as session:
        assert all_rows(session) == before
