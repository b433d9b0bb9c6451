"""Benchmark of ``relapsewatch course`` against a bare Polars pass over the same data.

For each cohort size it generates (once, cached) a canonical Parquet cohort with
:mod:`bench.cohort`, then runs two fresh processes and records wall time, CPU time (``os.wait4``:
the process and the worker processes it waited for) and peak resident memory, summed over the
process and all its worker processes (sampled every 50 ms from ``/proc``; the course runs
batches in parallel worker processes, and the memory goal is for the whole run):

* **course**: ``relapsewatch course COHORT -o OUT --format parquet`` end to end (read and
  validate, derive responses, lines, relapses and status, write);
* **bare Polars**: read ``measurements.parquet``, sort by patient and date, one cumulative minimum
  of the value over each patient, write Parquet.

Usage::

    python -m bench.bench_course --sizes 1000 10000 100000 [--million] [--batch-size N]
                                 [--repeat N]

Prints a Markdown table (and the machine load before each run, since the machine may be shared)
and writes the raw figures to ``WORKDIR/results.json``. Benchmarks are not tests: nothing here
asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.cohort import write_cohort

BASELINE = """
import sys, polars as pl
src, out = sys.argv[1], sys.argv[2]
(pl.scan_parquet(src)
   .with_columns(pl.col("value").cast(pl.Float64, strict=False))
   .sort("patient_id", "date")
   .with_columns(running_min=pl.col("value").cum_min().over("patient_id"))
   .sink_parquet(out))
"""

COURSE_RUNNER = """
import sys, typer
from relapsewatch.cli.course import course
typer.run(course)
"""


@dataclass
class Run:
    what: str
    patients: int
    rows: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    load_before: float
    exit_code: int


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def _tree_rss_kb(root: int) -> int:
    """Resident memory of ``root`` and every process descended from it, in kB."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        parents[int(entry.name)] = int(fields.get("PPid", "0").strip())
        rss[int(entry.name)] = int(fields.get("VmRSS", "0 kB").split()[0])
    tree, grown = {root}, True
    while grown:
        grown = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grown = True
    return sum(rss.get(pid, 0) for pid in tree)


def _measure(argv: list[str], what: str, patients: int, rows: int) -> Run:
    load = _load()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0]
    finished = threading.Event()

    def sample() -> None:
        while not finished.wait(0.05):
            peak[0] = max(peak[0], _tree_rss_kb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    finished.set()
    sampler.join()
    code = os.waitstatus_to_exitcode(status)
    if code != 0 and proc.stderr is not None:
        sys.stderr.write(proc.stderr.read().decode(errors="replace")[-2000:])
    return Run(
        what,
        patients,
        rows,
        round(seconds, 2),
        round(usage.ru_utime + usage.ru_stime, 2),
        round(max(peak[0], usage.ru_maxrss) / 1024, 1),
        load,
        code,
    )


def _course_argv(cohort: Path, out: Path, batch_size: int | None, jobs: int | None) -> list[str]:
    cli = Path(sys.executable).with_name("relapsewatch")
    registered = (
        cli.exists()
        and "course" in subprocess.run([str(cli), "--help"], capture_output=True, text=True).stdout
    )
    head = [str(cli), "course"] if registered else [sys.executable, "-c", COURSE_RUNNER]
    tail = [
        *(["--batch-size", str(batch_size)] if batch_size else []),
        *(["--jobs", str(jobs)] if jobs else []),
    ]
    return [*head, str(cohort), "-o", str(out), "--format", "parquet", *tail]


def machine() -> dict[str, str]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(x.split()[1])
        for x in Path("/proc/meminfo").read_text().splitlines()
        if x.startswith("MemTotal")
    )
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "ram_gb": f"{mem_kb / 1024**2:.1f}",
        "python": platform.python_version(),
    }


def median_run(runs: list[Run]) -> Run:
    """One figure for repeated runs: median wall and CPU time, the highest peak memory, the
    load before the first run and the worst exit code."""
    return Run(
        what=runs[0].what,
        patients=runs[0].patients,
        rows=runs[0].rows,
        seconds=statistics.median(r.seconds for r in runs),
        cpu_seconds=statistics.median(r.cpu_seconds for r in runs),
        peak_rss_mb=max(r.peak_rss_mb for r in runs),
        load_before=runs[0].load_before,
        exit_code=max((r.exit_code for r in runs), key=abs),
    )


def run_size(
    n: int, workdir: Path, batch_size: int | None, jobs: int | None, repeat: int = 1
) -> tuple[list[Run], list[float]]:
    """The bare pass and the course on a cohort of ``n``, ``repeat`` times in alternation;
    returns their median runs and the wall ratio of each pair (so noise is visible)."""
    cohort = workdir / f"cohort-{n}"
    if not (cohort / "measurements.parquet").exists():
        start = time.perf_counter()
        counts = write_cohort(cohort, n)
        print(
            f"generated {n} patients in {time.perf_counter() - start:.1f} s: {counts}",
            file=sys.stderr,
        )
    import polars as pl

    rows = pl.scan_parquet(cohort / "measurements.parquet").select(pl.len()).collect().item()
    out = workdir / f"out-{n}"
    bases: list[Run] = []
    courses: list[Run] = []
    for _ in range(repeat):
        shutil.rmtree(out, ignore_errors=True)
        bases.append(
            _measure(
                [
                    sys.executable,
                    "-c",
                    BASELINE,
                    str(cohort / "measurements.parquet"),
                    str(workdir / f"baseline-{n}.parquet"),
                ],
                "bare polars",
                n,
                rows,
            )
        )
        courses.append(_measure(_course_argv(cohort, out, batch_size, jobs), "course", n, rows))
    ratios = [c.seconds / b.seconds for b, c in zip(bases, courses, strict=True) if b.seconds]
    return [median_run(bases), median_run(courses)], ratios


def table(runs: list[Run], ratios: dict[int, list[float]] | None = None) -> str:
    """The Markdown table of the benchmark; with repeated runs, times are medians and the last
    column lists the wall ratio of each pair."""
    ratios = ratios or {}
    repeated = any(len(r) > 1 for r in ratios.values())
    lines = [
        "| patients | measurement rows | course wall (s) | course CPU (s) "
        "| course peak RSS, all processes (MB) "
        "| bare Polars wall (s) | bare Polars CPU (s) | wall ratio | CPU ratio | load before |"
        + (" wall ratio of each pair |" if repeated else ""),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---|" if repeated else ""),
    ]
    by_size: dict[int, dict[str, Run]] = {}
    for run in runs:
        by_size.setdefault(run.patients, {})[run.what] = run
    for n, pair in sorted(by_size.items()):
        course, base = pair["course"], pair["bare polars"]
        ratio = course.seconds / base.seconds if base.seconds else float("nan")
        cpu_ratio = course.cpu_seconds / base.cpu_seconds if base.cpu_seconds else float("nan")
        lines.append(
            f"| {n:,} | {course.rows:,} | {course.seconds:.1f} | {course.cpu_seconds:.1f} | "
            f"{course.peak_rss_mb:,.0f} | {base.seconds:.1f} | {base.cpu_seconds:.1f} | "
            f"{ratio:.1f}x | {cpu_ratio:.1f}x | {course.load_before:.1f} |"
            + (f" {', '.join(f'{r:.1f}x' for r in ratios.get(n, []))} |" if repeated else "")
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark relapsewatch course.")
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    parser.add_argument("--million", action="store_true", help="also run 1,000,000 patients")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: cores)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/relapsewatch-bench"))
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run the bare pass and the course this many times in alternation and report "
        "medians (the 1,000,000 size runs once)",
    )
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    args.workdir.mkdir(parents=True, exist_ok=True)
    sizes = [*args.sizes, *([1_000_000] if args.million else [])]
    runs: list[Run] = []
    ratios: dict[int, list[float]] = {}
    for n in sizes:
        repeat = 1 if n >= 1_000_000 else args.repeat
        pair, ratios[n] = run_size(n, args.workdir, args.batch_size, args.jobs, repeat)
        runs.extend(pair)
        print(table(runs, ratios), file=sys.stderr)
    results = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": machine(),
        "batch_size": args.batch_size,
        "jobs": args.jobs,
        "repeat": args.repeat,
        "runs": [asdict(r) for r in runs],
        "wall_ratios": {str(n): r for n, r in ratios.items()},
    }
    (args.workdir / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results["machine"]))
    print(table(runs, ratios))


if __name__ == "__main__":
    main()
