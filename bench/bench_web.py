"""Benchmark of the patient page: 10 years of monthly results, 20 concurrent clients, SQLite.

Builds (in a temporary folder) a SQLite database holding one patient with ten years of monthly
results (serum M-protein, free light chains and ratio, calcium, creatinine, haemoglobin: 840
results) over four lines of therapy with three relapses, plus ``--others`` filler patients, all
imported through the repository so the course is derived and stored as in the app. Then it
starts ``uvicorn`` in a separate process on loopback (``--workers`` processes) and runs
``--clients`` concurrent clients (asyncio + httpx, keep-alive) that each request the patient
page back to back until ``--requests`` have been made, after a warm-up. It prints the latency
percentiles and throughput as a Markdown row, with the machine load before the run.

Usage::

    python -m bench.bench_web [--clients 20] [--requests 2000] [--workers 1] [--others 50]

Benchmarks are not tests: nothing here asserts a time. Record the figures in
``docs/benchmarks.md`` (web section) with the machine and the date.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import polars as pl

from relapsewatch.io import normalise_tables
from relapsewatch.store.db import create_engine_for, make_session_factory
from relapsewatch.store.migrate import upgrade_database
from relapsewatch.store.repository import import_tables

PATIENT = "BENCH-0001"
SERVER = """
import sys, uvicorn
from relapsewatch.web import WebSettings, create_app
settings = WebSettings(database_url=sys.argv[1])
uvicorn.run(create_app(settings), host="127.0.0.1", port=int(sys.argv[2]),
            log_level="warning", access_log=False, server_header=False)
"""
SERVER_FACTORY = """
import sys, uvicorn
uvicorn.run("bench.bench_web:_app_from_env", factory=True, host="127.0.0.1",
            port=int(sys.argv[2]), workers=int(sys.argv[3]), log_level="warning",
            access_log=False, server_header=False)
"""


def _app_from_env() -> object:
    from relapsewatch.web import WebSettings, create_app

    return create_app(WebSettings())


def _months(start: dt.date, count: int) -> list[dt.date]:
    return [
        dt.date(start.year + (start.month - 1 + i) // 12, (start.month - 1 + i) % 12 + 1, 5)
        for i in range(count)
    ]


def _m_protein(month: int) -> float:
    """Four lines: a fall on each, a regrowth before each new line (g/dL)."""
    starts = (0, 30, 62, 92)
    line = max(i for i, s in enumerate(starts) if month >= s)
    since = month - starts[line]
    level = 4.0 * math.exp(-0.35 * since) + 0.3 + 0.09 * max(0, since - 12) ** 1.3
    return round(level, 2)


def raw_tables(others: int) -> dict[str, pl.DataFrame]:
    """File-view tables (as a user would upload them), with the ``__row`` numbers io expects."""
    start = dt.date(2015, 1, 5)
    dates = _months(start, 120)
    rows: list[tuple[str, str, str, str, str]] = []
    for month, day in enumerate(dates):
        m = _m_protein(month)
        kappa = round(20 + 90 * m, 1)
        rows += [
            (PATIENT, day.isoformat(), "serum_m_protein", f"{m}", "g/dL"),
            (PATIENT, day.isoformat(), "flc_kappa", f"{kappa}", "mg/L"),
            (PATIENT, day.isoformat(), "flc_lambda", "12.0", "mg/L"),
            (PATIENT, day.isoformat(), "flc_ratio", f"{round(kappa / 12, 2)}", ""),
            (PATIENT, day.isoformat(), "calcium", "9.4", "mg/dL"),
            (PATIENT, day.isoformat(), "creatinine", "1.0", "mg/dL"),
            (PATIENT, day.isoformat(), "hemoglobin", "12.1", "g/dL"),
        ]
    treatments = [
        (PATIENT, "VRd", dates[0].isoformat(), dates[10].isoformat()),
        (PATIENT, "lenalidomide", dates[11].isoformat(), dates[29].isoformat()),
        (PATIENT, "DKd", dates[30].isoformat(), dates[61].isoformat()),
        (PATIENT, "Pd", dates[62].isoformat(), dates[91].isoformat()),
        (PATIENT, "teclistamab", dates[92].isoformat(), ""),
    ]
    patients = [(PATIENT, "myeloma", "2014-12-20", "IgG", "kappa")]
    for n in range(others):
        pid = f"BENCH-{n + 2:04d}"
        patients.append((pid, "myeloma", "2022-01-03", "IgA", "lambda"))
        for month, day in enumerate(_months(dt.date(2022, 1, 5), 24)):
            rows.append((pid, day.isoformat(), "serum_m_protein", f"{_m_protein(month)}", "g/dL"))
        treatments.append((pid, "DRd", "2022-01-10", ""))

    def frame(columns: list[str], data: list[tuple[str, ...]]) -> pl.DataFrame:
        out = pl.DataFrame(data, schema=dict.fromkeys(columns, pl.String), orient="row")
        return out.with_row_index("__row", offset=2).with_columns(pl.col("__row").cast(pl.Int64))

    return {
        "patients": frame(
            ["patient_id", "disease", "diagnosis_date", "heavy_chain", "light_chain"], patients
        ),
        "measurements": frame(["patient_id", "date", "test", "value", "unit"], rows),
        "treatments": frame(["patient_id", "therapy", "start_date", "end_date"], treatments),
    }


def build_database(folder: Path, others: int) -> str:
    url = f"sqlite:///{folder / 'bench.sqlite3'}"
    engine = create_engine_for(url)
    upgrade_database(engine)
    tables, log = normalise_tables(raw_tables(others))
    if tables is None:
        raise SystemExit("bench data did not validate:\n" + "\n".join(map(str, log.errors)))
    started = time.perf_counter()
    import_tables(make_session_factory(engine), tables, source="bench_web")
    print(
        f"imported {tables.measurements.height} results of {tables.patients.height} patients "
        f"in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    engine.dispose()
    return url


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _client(
    http: httpx.AsyncClient, url: str, budget: list[int], latencies: list[float]
) -> None:
    while budget[0] > 0:
        budget[0] -= 1
        started = time.perf_counter()
        answer = await http.get(url)
        latencies.append(time.perf_counter() - started)
        if answer.status_code != 200:
            raise SystemExit(f"GET {url} answered {answer.status_code}")


async def load(url: str, *, clients: int, requests: int, warmup: int) -> tuple[list[float], float]:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
        await asyncio.gather(*(_client(http, url, [warmup // clients], []) for _ in range(clients)))
        latencies: list[float] = []
        budget = [requests]
        started = time.perf_counter()
        await asyncio.gather(*(_client(http, url, budget, latencies) for _ in range(clients)))
        return latencies, time.perf_counter() - started


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--others", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-web-") as scratch:
        url = build_database(Path(scratch), args.others)
        port = _free_port()
        env = {**os.environ, "RELAPSEWATCH_DATABASE_URL": url}
        code = SERVER if args.workers == 1 else SERVER_FACTORY
        server = subprocess.Popen(
            [sys.executable, "-c", code, url, str(port), str(args.workers)], env=env
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            page = f"{base}/patients/{PATIENT}"
            size = len(httpx.get(page, timeout=30).content)
            load_before = os.getloadavg()[0]
            latencies, seconds = asyncio.run(
                load(page, clients=args.clients, requests=args.requests, warmup=args.warmup)
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
    ms = [x * 1000 for x in latencies]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load before {load_before:.2f}; page {size / 1000:.0f} kB"
    )
    print("| clients | workers | requests | req/s | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {args.clients} | {args.workers} | {len(ms)} | {len(ms) / seconds:.0f} | "
        f"{statistics.median(ms):.0f} | {_percentile(ms, 0.95):.0f} | "
        f"{_percentile(ms, 0.99):.0f} | {max(ms):.0f} |"
    )


if __name__ == "__main__":
    main()
