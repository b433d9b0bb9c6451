"""Same seed, same files: byte-identical output across runs and batch sizes; seeds passed in."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from relapsewatch.cli.simulate import write_cohort
from relapsewatch.simulate import simulate_batches, simulate_cohort
from relapsewatch.simulate.randomness import BLOCK_PATIENTS


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_seed_gives_byte_identical_files_across_runs_and_batch_sizes(
    tmp_path: Path, fmt: str
) -> None:
    patients = BLOCK_PATIENTS + 250  # two random-number blocks, the second one partial
    write_cohort(tmp_path / "a", patients=patients, seed=42, format=fmt, batch_size=patients)
    write_cohort(tmp_path / "b", patients=patients, seed=42, format=fmt, batch_size=patients)
    write_cohort(tmp_path / "c", patients=patients, seed=42, format=fmt, batch_size=333)
    first = _digests(tmp_path / "a")
    assert len(first) == 6
    assert first == _digests(tmp_path / "b")
    assert first == _digests(tmp_path / "c")


def test_a_different_seed_gives_a_different_cohort() -> None:
    a = simulate_cohort(50, seed=1).tables()["measurements"]
    b = simulate_cohort(50, seed=2).tables()["measurements"]
    assert not a.equals(b)


def test_a_patient_does_not_depend_on_the_cohort_size() -> None:
    small = simulate_cohort(40, seed=9)
    large = simulate_cohort(120, seed=9)
    for name, frame in small.all_tables().items():
        ids = frame["patient_id"].unique()
        assert_frame_equal(
            frame, large.all_tables()[name].filter(pl.col("patient_id").is_in(ids.implode()))
        )


def test_batches_cover_the_cohort_in_patient_order() -> None:
    batches = list(simulate_batches(25, seed=3, batch_size=10))
    assert [b.patients.height for b in batches] == [10, 10, 5]
    ids = pl.concat([b.patients["patient_id"] for b in batches])
    assert ids.to_list() == [f"VP{i:07d}" for i in range(1, 26)]
