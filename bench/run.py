"""Run every benchmark once, in one process tree, and print their figures (``make bench``).

Benchmarks are not tests: they print figures for ``docs/benchmarks.md`` and assert nothing.
Each benchmark is a separate script with its own options; this runs the issue-level targets:

* the course engine at 1k, 10k and 100k patients against a bare Polars pass, three runs each
  (``--million`` adds the 1,000,000-patient memory run, once);
* the simulator at 100,000 patients (``--million`` adds 1,000,000 streamed);
* the web patient page with 20 concurrent clients, one and two workers.
"""

from __future__ import annotations

import argparse
import subprocess
import sys


def _run(*args: str) -> None:
    print(f"\n$ {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--million", action="store_true", help="include the 1M-patient runs")
    options = parser.parse_args()
    # the course and its bare pass three times each, in alternation: medians, and every ratio
    course = ["bench.bench_course", "--sizes", "1000", "10000", "100000", "--repeat", "3"]
    _run(*course, *(["--million"] if options.million else []))
    _run("bench.bench_simulate", "--patients", "100000")
    if options.million:
        _run("bench.bench_simulate", "--patients", "1000000")
    _run("bench.bench_web", "--workers", "1")
    _run("bench.bench_web", "--workers", "2")


if __name__ == "__main__":
    main()
