"""Tamper detection of the audit hash chain (RELIABILITY D3).

A clean chain of 200 rows is written once with ``append_audit`` (SQLite, with patient
pseudonyms), read back into plain in-memory copies, and then tampered with 1,000 times by a
seeded random generator, one tampering per trial:

* a field edit of any chained column or the hash;
* a deleted row;
* an inserted forged row, either careless (made-up hash) or careful (a correct hash over its own
  content, following the row before it, with the next id);
* two rows swapped;
* the tail dropped.

Every tampering must be detected by :func:`verify_chain`, and the report must name where: the
number of rows that checked out (``checked``) is the tampered position, and ``first_bad_id``
is the id of the row found there (the row right after a deletion or a careful forgery, or the
id the head names when the tail is gone). Clean chains (the stored one, its prefixes with their
own heads, empty ones, and random in-memory chains) must never be flagged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from relapsewatch.io import read_tables
from relapsewatch.store.audit import (
    CHAINED_COLUMNS,
    GENESIS_HASH,
    OUTCOMES,
    AuditRecord,
    ChainReport,
    append_audit,
    row_hash,
    verify_audit,
    verify_chain,
)
from relapsewatch.store.db import create_engine_for, make_session_factory
from relapsewatch.store.models import AuditEvent
from relapsewatch.store.repository import import_tables

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHAIN_LENGTH = 200
TAMPERINGS = 1000
KINDS = ("edit", "delete", "insert", "swap", "tail")


@dataclasses.dataclass(frozen=True)
class Row:
    """An in-memory copy of one stored audit row."""

    id: int
    at: dt.datetime
    user_id: int | None
    role: str
    action: str
    resource_type: str
    resource_id: str | None
    subject: str | None
    client_ip: str | None
    outcome: str
    request_id: str
    detail: str | None
    prev_hash: str
    hash: str


Chain = tuple[list[Row], tuple[int, str]]


def _random_record(rng: random.Random, at: dt.datetime, patient_ids: list[str]) -> AuditRecord:
    return AuditRecord(
        at=at,
        user_id=rng.choice([None, *range(1, 9)]),
        role=rng.choice(["anonymous", "patient", "nurse", "clinician", "admin"]),
        action=rng.choice(["read", "query", "create", "update", "login", "export"]),
        resource_type=rng.choice(["course", "message", "account", "session", "measurement"]),
        outcome=rng.choice(OUTCOMES),
        request_id=f"{rng.getrandbits(64):016x}",
        resource_id=rng.choice([None, str(rng.randint(1, 999)), "thread-7"]),
        patient_id=rng.choice([None, *patient_ids]),
        client_ip=rng.choice([None, "127.0.0.1", "10.1.2.3", "2001:db8::1"]),
        detail=rng.choice([None, "", "added 3 patient(s)", "Müller's note ✓", '"quoted", comma']),
    )


def _copy(event: AuditEvent) -> Row:
    values = {field.name: getattr(event, field.name) for field in dataclasses.fields(Row)}
    at = values["at"]
    values["at"] = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
    return Row(**values)


@pytest.fixture(scope="module")
def stored_chain(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Chain:
    """200 rows appended in batches of various sizes to a SQLite database, read back."""
    target = tmp_path_factory.mktemp("audit-chain") / "chain.sqlite3"
    shutil.copyfile(sqlite_template, target)
    engine = create_engine_for(f"sqlite:///{target}")
    try:
        factory = make_session_factory(engine)
        tables = read_tables(EXAMPLES / "valid")
        import_tables(factory, tables, source="examples/valid")
        patient_ids = tables.patients["patient_id"].to_list()
        rng = random.Random(6_2026)
        at = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
        written = 0
        while written < CHAIN_LENGTH:
            size = min(rng.randint(1, 40), CHAIN_LENGTH - written)
            records = []
            for _ in range(size):
                at += dt.timedelta(milliseconds=rng.randint(1, 90_000))
                records.append(_random_record(rng, at, patient_ids))
            append_audit(factory, records)
            written += size
        with factory() as session:
            assert verify_audit(session) == ChainReport(True, CHAIN_LENGTH)
            rows = [_copy(e) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    finally:
        engine.dispose()
    assert any(r.subject for r in rows) and any(r.subject is None for r in rows)
    return rows, (rows[-1].id, rows[-1].hash)


# --- tamperings ---------------------------------------------------------------------------------


def _other_text(rng: random.Random, text: str) -> str:
    if not text:
        return "x"
    position = rng.randrange(len(text))
    alphabet = "0123456789abcdef" if all(c in "0123456789abcdef" for c in text) else "xyzXYZ._-"
    replacement = rng.choice([c for c in alphabet if c != text[position]])
    return text[:position] + replacement + text[position + 1 :]


def _edited_value(rng: random.Random, column: str, value: object) -> object:
    """A different value of the same kind for one column."""
    if column == "id":
        assert isinstance(value, int)
        return rng.choice([v for v in (value - 1, value + 1, value + 7, 10_000) if v != value])
    if column == "at":
        assert isinstance(value, dt.datetime)
        shift = rng.choice([-1, 1]) * rng.randint(1, 86_400_000)
        return value + dt.timedelta(milliseconds=shift)
    if column == "user_id":
        return rng.randint(1, 9) if value is None else rng.choice([None, int(str(value)) + 1])
    if value is None:
        return rng.choice(["", "x", "0" * 32])
    assert isinstance(value, str)
    nullable = column in {"resource_id", "subject", "client_ip", "detail"}
    return rng.choice([None, _other_text(rng, value)]) if nullable else _other_text(rng, value)


@dataclasses.dataclass(frozen=True)
class Tampered:
    """A tampered copy and where the check must find it."""

    kind: str
    rows: list[Row]
    position: int  # rows that must check out before the bad one
    bad_id: int


def _edit(rng: random.Random, rows: list[Row]) -> Tampered:
    i = rng.randrange(len(rows))
    column = rng.choice([*CHAINED_COLUMNS, "hash"])
    changed = dataclasses.replace(
        rows[i], **{column: _edited_value(rng, column, getattr(rows[i], column))}
    )
    assert changed != rows[i]
    return Tampered(f"edit {column}", [*rows[:i], changed, *rows[i + 1 :]], i, changed.id)


def _delete(rng: random.Random, rows: list[Row]) -> Tampered:
    i = rng.randrange(len(rows))
    # Found instead: the row after the gap, or (for the last row) the id the head names.
    return Tampered(
        "delete",
        [*rows[:i], *rows[i + 1 :]],
        i,
        rows[i].id + 1 if i + 1 < len(rows) else rows[i].id,
    )


def _insert(rng: random.Random, rows: list[Row]) -> Tampered:
    i = rng.randint(0, len(rows))
    template = rows[rng.randrange(len(rows))]
    previous = rows[i - 1].hash if i else GENESIS_HASH
    forged = dataclasses.replace(
        template,
        id=i + 1,
        prev_hash=previous,
        detail="forged",
        request_id=f"{rng.getrandbits(64):016x}",
    )
    values = {column: getattr(forged, column) for column in CHAINED_COLUMNS}
    if rng.random() < 0.5:
        # A careful forger: a correct hash over the row's own content. The forged row passes;
        # the row that used to be at this place no longer fits (or the head no longer does).
        forged = dataclasses.replace(forged, hash=row_hash(values))
        after = rows[i].id if i < len(rows) else len(rows) + 2
        return Tampered("insert careful", [*rows[:i], forged, *rows[i:]], i + 1, after)
    forged = dataclasses.replace(forged, hash=f"{rng.getrandbits(256):064x}")
    return Tampered("insert careless", [*rows[:i], forged, *rows[i:]], i, forged.id)


def _swap(rng: random.Random, rows: list[Row]) -> Tampered:
    i, j = sorted(rng.sample(range(len(rows)), 2))
    swapped = list(rows)
    swapped[i], swapped[j] = rows[j], rows[i]
    return Tampered("swap", swapped, i, rows[j].id)


def _tail(rng: random.Random, rows: list[Row]) -> Tampered:
    keep = rng.randrange(len(rows))
    return Tampered("tail", rows[:keep], keep, keep + 1)


TAMPER: dict[str, Callable[[random.Random, list[Row]], Tampered]] = {
    "edit": _edit,
    "delete": _delete,
    "insert": _insert,
    "swap": _swap,
    "tail": _tail,
}


def test_every_one_of_1000_random_tamperings_is_found_where_it_was_made(
    stored_chain: Chain,
) -> None:
    rows, head = stored_chain
    rng = random.Random(20261123)
    kinds: Counter[str] = Counter()
    missed = []
    misplaced = []
    for trial in range(TAMPERINGS):
        tampered = TAMPER[rng.choice(KINDS)](rng, rows)
        kinds[tampered.kind.split()[0]] += 1
        report = verify_chain(tampered.rows, head=head)
        if report.ok:
            missed.append((trial, tampered.kind))
        elif (report.checked, report.first_bad_id) != (tampered.position, tampered.bad_id):
            misplaced.append((trial, tampered.kind, report, (tampered.position, tampered.bad_id)))
    assert sum(kinds.values()) == TAMPERINGS
    assert set(kinds) == set(KINDS) and min(kinds.values()) > 100, kinds
    assert missed == [], f"{len(missed)} tamperings not detected, e.g. {missed[:5]}"
    assert misplaced == [], f"{len(misplaced)} reported at the wrong row, e.g. {misplaced[:3]}"
    # The tampering worked on copies: the stored chain itself is still clean.
    assert verify_chain(rows, head=head).ok


def test_every_column_and_the_hash_is_covered(stored_chain: Chain) -> None:
    rows, head = stored_chain
    rng = random.Random(7)
    for column in (*CHAINED_COLUMNS, "hash"):
        for i in (0, len(rows) // 2, len(rows) - 1):
            changed = dataclasses.replace(
                rows[i], **{column: _edited_value(rng, column, getattr(rows[i], column))}
            )
            report = verify_chain([*rows[:i], changed, *rows[i + 1 :]], head=head)
            assert not report.ok, (column, i)
            assert report.checked == i, (column, i, report)


def test_the_head_is_checked_too(stored_chain: Chain) -> None:
    rows, (last_id, last_hash) = stored_chain
    assert not verify_chain(rows, head=(last_id + 1, last_hash)).ok
    assert not verify_chain(rows, head=(last_id, rows[-2].hash)).ok
    assert not verify_chain(rows, head=None).ok


# --- no false positives -------------------------------------------------------------------------


def _memory_chain(rng: random.Random, length: int) -> Chain:
    """A clean chain built in memory the way append_audit builds it."""
    rows: list[Row] = []
    previous = GENESIS_HASH
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for number in range(1, length + 1):
        at += dt.timedelta(milliseconds=rng.randint(0, 5000))
        record = _random_record(rng, at, [])
        values = {
            "id": number,
            "at": at,
            "user_id": record.user_id,
            "role": record.role,
            "action": record.action,
            "resource_type": record.resource_type,
            "resource_id": record.resource_id,
            "subject": rng.choice([None, f"{rng.getrandbits(128):032x}"]),
            "client_ip": record.client_ip,
            "outcome": record.outcome,
            "request_id": record.request_id,
            "detail": record.detail,
            "prev_hash": previous,
        }
        previous = row_hash(values)
        rows.append(Row(**values, hash=previous))
    return rows, (length, previous)


def test_clean_chains_are_never_flagged(stored_chain: Chain) -> None:
    rows, head = stored_chain
    assert verify_chain(rows, head=head) == ChainReport(True, CHAIN_LENGTH)
    for keep in (1, 2, 57, CHAIN_LENGTH - 1):
        prefix = rows[:keep]
        assert verify_chain(prefix, head=(prefix[-1].id, prefix[-1].hash)).ok
    assert verify_chain([], head=None) == ChainReport(True, 0)
    assert verify_chain([], head=(0, GENESIS_HASH)) == ChainReport(True, 0)
    rng = random.Random(99)
    for length in (0, 1, 2, 10, 150, 400):
        chain, chain_head = _memory_chain(rng, length)
        assert verify_chain(chain, head=chain_head) == ChainReport(True, length)
