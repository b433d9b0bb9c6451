"""The packaged demo cohort is small, readable, and exactly what the simulator regenerates."""

from __future__ import annotations

from pathlib import Path

from relapsewatch.cli.simulate import write_cohort
from relapsewatch.io import read_tables
from relapsewatch.simulate import CANONICAL_TABLES, TRUTH_TABLES
from relapsewatch.simulate.demo import DEMO_PATIENTS, DEMO_SEED, demo_folder


def test_demo_cohort_is_small() -> None:
    files = sorted(demo_folder().glob("*.parquet"))
    assert [f.stem for f in files] == sorted(CANONICAL_TABLES + TRUTH_TABLES)
    assert sum(f.stat().st_size for f in files) < 1_000_000


def test_regenerating_the_demo_cohort_gives_byte_identical_files(tmp_path: Path) -> None:
    write_cohort(tmp_path / "demo", patients=DEMO_PATIENTS, seed=DEMO_SEED, format="parquet")
    for packaged in sorted(demo_folder().glob("*.parquet")):
        assert (tmp_path / "demo" / packaged.name).read_bytes() == packaged.read_bytes(), (
            f"{packaged.name} differs: regenerate the demo with "
            "`relapsewatch simulate --patients 300 --seed 20261123 -o "
            "src/relapsewatch/simulate/data/demo`"
        )


def test_the_reader_loads_the_demo_cohort() -> None:
    tables = read_tables(demo_folder())
    assert tables.patients.height == DEMO_PATIENTS
    assert tables.measurements.height > 10_000
