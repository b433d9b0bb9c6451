"""Reading and writing canonical tables. The only part of relapsewatch that touches files.

>>> from relapsewatch.io import read_tables                  # doctest: +SKIP
>>> tables = read_tables("examples/valid")                   # doctest: +SKIP
>>> tables.measurements.columns[:4]                          # doctest: +SKIP
['patient_id', 'date', 'test', 'value']

Either every table loads, or :class:`~relapsewatch.errors.DataError` is raised listing every
problem found (file, spreadsheet row, column, what was found, what was expected, the fix).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from relapsewatch import schema
from relapsewatch.errors import DataError, Problem
from relapsewatch.io.checks import ROW, ProblemLog
from relapsewatch.io.files import (
    Format,
    TableFile,
    TableWriter,
    find_tables,
    read_raw,
    staged_folder,
    write_tables,
)
from relapsewatch.io.normalise import check_patient_references, normalise_table

__all__ = [
    "CanonicalTables",
    "Format",
    "TableFile",
    "TableWriter",
    "ValidationReport",
    "normalise_tables",
    "read_tables",
    "staged_folder",
    "validate_folder",
    "write_tables",
]

TABLE_NAMES = tuple(schema.FILE_TABLES)


@dataclass(frozen=True)
class CanonicalTables:
    """The four canonical frames of one folder (findings may be empty)."""

    patients: pl.DataFrame
    measurements: pl.DataFrame
    treatments: pl.DataFrame
    findings: pl.DataFrame
    warnings: tuple[Problem, ...] = ()

    def as_dict(self) -> dict[str, pl.DataFrame]:
        return {
            "patients": self.patients,
            "measurements": self.measurements,
            "treatments": self.treatments,
            "findings": self.findings,
        }


@dataclass(frozen=True)
class ValidationReport:
    """What :func:`validate_folder` found: every problem, and rows per table."""

    source: str
    problems: tuple[Problem, ...]
    truncated: int = 0
    rows: Mapping[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    @property
    def ok(self) -> bool:
        return not self.errors and self.truncated == 0


def normalise_tables(
    raw: Mapping[str, pl.DataFrame], *, files: Mapping[str, str] | None = None
) -> tuple[CanonicalTables | None, ProblemLog]:
    """Validate raw tables (each with ``__row``) and build the canonical frames.

    Returns ``(tables, log)``; ``tables`` is ``None`` when any error was found. Used by the
    folder reader, the batch reader and the web importer alike.
    """
    names = {n: (files or {}).get(n, f"{n}.csv") for n in TABLE_NAMES}
    log = ProblemLog()
    for name, spec in schema.FILE_TABLES.items():
        if spec.required and name not in raw:
            log.add(
                Problem(
                    "(folder)",
                    None,
                    None,
                    f"no {name} table",
                    f"a file {name}.csv or {name}.parquet",
                    f"add the {name} table; see docs/data-contract.md for its columns",
                )
            )
    frames: dict[str, pl.DataFrame] = {}
    for name, frame in raw.items():
        normalised = normalise_table(name, frame, file=names[name], log=log)
        if normalised is not None:
            frames[name] = normalised
    if "patients" in frames:
        check_patient_references(frames, names, log)
    if log.has_errors:
        return None, log
    canonical = {
        name: frames[name].drop(ROW)
        if name in frames
        else schema.empty_frame(schema.CANONICAL_FRAMES[name])
        for name in TABLE_NAMES
    }
    warnings = tuple(p for p in log.problems if p.severity == "warning")
    return CanonicalTables(**canonical, warnings=warnings), log


def _read_raw_folder(
    folder: Path, patient_ids: pl.Series | None = None
) -> tuple[dict[str, pl.DataFrame], dict[str, str]]:
    located: dict[str, TableFile] = find_tables(folder, TABLE_NAMES)
    raw: dict[str, pl.DataFrame] = {}
    problems: list[Problem] = []
    for name, table in located.items():
        try:
            raw[name] = read_raw(table, patient_ids=patient_ids)
        except DataError as err:
            problems.extend(err.problems)
    if problems:
        raise DataError(problems)
    return raw, {name: t.display for name, t in located.items()}


def read_tables(
    folder: str | os.PathLike[str], *, patient_ids: pl.Series | None = None
) -> CanonicalTables:
    """Read, validate and normalise a folder of canonical tables.

    ``patient_ids`` restricts reading to those patients (used for batch processing).
    Raises :class:`DataError` with every problem found; nothing is half-read.
    """
    raw, files = _read_raw_folder(Path(folder), patient_ids)
    tables, log = normalise_tables(raw, files=files)
    if tables is None:
        raise DataError(
            log.problems,
            truncated=log.truncated,
            summary=f"{len(log.errors) + log.truncated} problem(s) in {folder}",
        )
    return tables


def validate_folder(folder: str | os.PathLike[str]) -> ValidationReport:
    """Check a folder and report every problem, without raising for data problems."""
    try:
        raw, files = _read_raw_folder(Path(folder))
    except DataError as err:
        return ValidationReport(str(folder), err.problems, err.truncated)
    _, log = normalise_tables(raw, files=files)
    rows = {name: frame.height for name, frame in raw.items()}
    order = {files.get(n, n): i for i, n in enumerate(TABLE_NAMES)}
    problems = sorted(log.problems, key=lambda p: (order.get(p.file, -1), p.row or 0))
    return ValidationReport(str(folder), tuple(problems), log.truncated, rows)
