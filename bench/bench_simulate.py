"""Benchmark: simulate a virtual cohort and stream it to disk (figures for docs/benchmarks.md).

Targets (issue 4): 100,000 patients with about 5 years of follow-up written as Parquet in 15 s
or less; 1,000,000 patients streamed to disk within 3 minutes and 4 GB peak memory.

    .venv/bin/python bench/bench_simulate.py --patients 100000
    .venv/bin/python bench/bench_simulate.py --patients 1000000

The cohort uses the default settings except the calendar: diagnoses over 4 years and at least 3
years of follow-up (mean follow-up 5 years), as the targets state. Prints one Markdown row.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from relapsewatch.cli.simulate import write_cohort
from relapsewatch.simulate import SimulationSettings

FIVE_YEARS = SimulationSettings(
    accrual_start=dt.date(2018, 1, 1), accrual_years=4.0, minimum_follow_up_years=3.0
)


def _rows(folder: Path, fmt: str) -> dict[str, int]:
    counts = {}
    for path in sorted(folder.iterdir()):
        if fmt == "parquet":
            counts[path.stem] = pq.ParquetFile(path).metadata.num_rows
        else:
            with path.open("rb") as handle:
                counts[path.stem] = sum(1 for _ in handle) - 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=20_000)
    parser.add_argument("--format", default="parquet", choices=["csv", "parquet"])
    parser.add_argument("--out", type=Path, default=None, help="keep the output here")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench_simulate."))
    out = args.out or scratch / "cohort"
    try:
        wall = time.perf_counter()
        cpu = time.process_time()
        write_cohort(
            out,
            patients=args.patients,
            seed=args.seed,
            format=args.format,
            batch_size=args.batch_size,
            settings=FIVE_YEARS,
        )
        elapsed = time.perf_counter() - wall
        cpu_used = time.process_time() - cpu
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows = _rows(out, args.format)
        size_mb = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    load = os.getloadavg()[0]
    print(
        f"| {dt.date.today()} | {platform.machine()}, {os.cpu_count()} cores (load "
        f"{load:.1f}) | {args.patients:,} | {args.format} | {args.batch_size:,} | "
        f"{elapsed:.1f} s | {cpu_used:.1f} s | {peak_mb:,.0f} MB | "
        f"{rows.get('measurements', 0):,} | {size_mb:,.0f} MB |"
    )


if __name__ == "__main__":
    main()
