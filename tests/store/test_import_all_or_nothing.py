"""RELIABILITY C5: a file with one bad row at a random position imports nothing and names that
row and field (100 files, on both backends)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from sqlalchemy import func, select

from relapsewatch.errors import DataError
from relapsewatch.io import read_tables
from relapsewatch.store.db import create_engine_for, make_session_factory
from relapsewatch.store.migrate import upgrade_database
from relapsewatch.store.models import Finding, Measurement, Patient, Treatment
from relapsewatch.store.repository import import_tables

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "valid"

#: How each field is broken, and the value that breaks it.
BREAKS = {
    "date": "2024-13-45",
    "value": "about one",
    "unit": "furlongs",
    "test": "serum_m_proteen",
    "patient_id": "",
}


def _stored_rows(factory) -> int:  # type: ignore[no-untyped-def]
    with factory() as session:
        return sum(
            int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Patient, Measurement, Treatment, Finding)
        )


def test_one_bad_row_anywhere_imports_nothing_and_is_named(
    database_url: str, tmp_path: Path
) -> None:
    engine = create_engine_for(database_url)
    upgrade_database(engine)
    factory = make_session_factory(engine)
    lines = (EXAMPLE / "measurements.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:]
    columns = header.split(",")
    draw = random.Random(20261123)
    try:
        for attempt in range(100):
            folder = tmp_path / f"files-{attempt}"
            shutil.copytree(EXAMPLE, folder)
            position = draw.randrange(len(rows))
            field = draw.choice(sorted(BREAKS))
            cells = rows[position].split(",")
            cells[columns.index(field)] = BREAKS[field]
            broken = [*rows[:position], ",".join(cells), *rows[position + 1 :]]
            (folder / "measurements.csv").write_text("\n".join([header, *broken]) + "\n")
            problems = None
            try:
                import_tables(factory, read_tables(folder), source=f"C5 attempt {attempt}")
            except DataError as err:
                problems = err.problems
            assert problems is not None, (attempt, field, position)
            spreadsheet_row = position + 2  # the header is row 1
            named = {(p.file, p.row, p.column) for p in problems if p.severity == "error"}
            assert ("measurements.csv", spreadsheet_row, field) in named, (field, named)
            assert _stored_rows(factory) == 0
    finally:
        engine.dispose()
