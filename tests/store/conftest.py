"""Fixtures for the storage tests: synthetic canonical records (``bench/synthetic_records.py``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from relapsewatch.io import CanonicalTables, normalise_tables

# The synthetic records and the crash harness live in bench/ (they also run as scripts); the
# repository root must be importable for them, here and in the harness's child processes.
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.synthetic_records import synthetic_raw_tables  # noqa: E402

MakeTables = Callable[..., CanonicalTables]


def make_tables(
    n_patients: int, *, seed: int, prefix: str = "SYN", months: tuple[int, int] = (12, 60)
) -> CanonicalTables:
    """Synthetic canonical tables, validated by the readers' own normalisation."""
    raw = synthetic_raw_tables(n_patients, seed=seed, prefix=prefix, months=months)
    tables, log = normalise_tables(raw)
    assert tables is not None, [str(p) for p in log.problems[:5]]
    return tables


@pytest.fixture
def synthetic_tables() -> MakeTables:
    """``synthetic_tables(n, seed=..., prefix=...)`` -> validated :class:`CanonicalTables`."""
    return make_tables
