"""Benchmark of the patient page: 10 years of monthly results, 20 concurrent clients, SQLite.

Builds (in a temporary folder) a SQLite database holding one patient with ten years of monthly
results (serum M-protein, free light chains and ratio, calcium, creatinine, haemoglobin: 840
results) over five lines of therapy, plus ``--others`` filler patients, all imported through the
repository so the course is derived and stored as in the app. Then it starts ``uvicorn`` in a
separate process on loopback (``--workers`` processes) and puts ``--clients`` concurrent
clients (keep-alive, ``Accept-Encoding: gzip`` as browsers send) on the patient page:

* ``--tool wrk`` (default when ``wrk`` is installed; Debian package ``wrk``): ``wrk -t2
  -c CLIENTS -d SECONDS``, whose C client leaves the CPU to the server;
* ``--tool python``: asyncio + httpx clients requesting back to back until ``--requests``.

Every request is signed in as a nurse of the patient's care team (one session shared by the
clients), so each one also pays for what a real request pays: the session check (its last
activity is written) and the audit row, appended to the hash chain before the response starts.

Two runs: the page as served (rendered page bodies reused while the record is unchanged), and
with the page cache off (every request loads the record and renders the page). It also times one
uncached render in-process. Figures are printed as Markdown rows with the machine load.

Usage::

    python -m bench.bench_web [--clients 20] [--seconds 20] [--workers 1] [--tool wrk|python]

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
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import polars as pl

from relapsewatch.io import normalise_tables
from relapsewatch.store.accounts import add_patients_to_team, create_team, create_user
from relapsewatch.store.db import create_engine_for, make_session_factory
from relapsewatch.store.migrate import upgrade_database
from relapsewatch.store.repository import import_tables

PATIENT = "BENCH-0001"
NURSE, NURSE_PASSWORD = "bench.nurse", "bench nurse harbour pebble violin"
SECRET_KEY = "bench-only-secret-key-0123456789abcdefghijklmnop"
SERVER = """
import sys, uvicorn
uvicorn.run("bench.bench_web:_app_from_env", factory=True, host="127.0.0.1",
            port=int(sys.argv[1]), workers=int(sys.argv[2]), log_level="warning",
            access_log=False, server_header=False)
"""
WRK_P95 = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout))
end
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
    factory = make_session_factory(engine)
    import_tables(factory, tables, source="bench_web")
    team = create_team(factory, "Bench team")
    add_patients_to_team(factory, team, tables.patients.get_column("patient_id").to_list())
    create_user(
        factory,
        username=NURSE,
        password=NURSE_PASSWORD,
        role="nurse",
        display_name="Bench nurse",
        now=dt.datetime.now(dt.UTC),
        team_ids=[team],
    )
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


@dataclass
class Result:
    label: str
    clients: int
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: int


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


async def _python_load(
    url: str, clients: int, requests: int, cookie: str
) -> tuple[list[float], float]:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Accept-Encoding": "gzip", "Cookie": cookie}
    async with httpx.AsyncClient(limits=limits, timeout=30, headers=headers) as http:
        await asyncio.gather(*(_client(http, url, [10], []) for _ in range(clients)))
        latencies: list[float] = []
        budget = [requests]
        started = time.perf_counter()
        await asyncio.gather(*(_client(http, url, budget, latencies) for _ in range(clients)))
        return latencies, time.perf_counter() - started


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def run_load(label: str, url: str, args: argparse.Namespace, cookie: str) -> Result:
    if args.tool == "wrk":
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(WRK_P95)
        try:
            common = ["wrk", "-t2", f"-c{args.clients}", "--timeout", "30s"]
            common += ["-H", "Accept-Encoding: gzip", "-H", f"Cookie: {cookie}"]
            # Warm-up: every worker process renders and caches the page once.
            subprocess.run([*common, "-d3s", url], capture_output=True, check=True)
            out = subprocess.run(
                [*common, f"-d{args.seconds}s", "-s", script.name, url],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        finally:
            os.unlink(script.name)
        line = next(x for x in out.splitlines() if x.startswith("RESULT"))
        n, duration_us, p50, p95, p99, top, errors = (int(v) for v in line.split()[1:])
        return Result(
            label,
            args.clients,
            n,
            duration_us / 1e6,
            p50 / 1e3,
            p95 / 1e3,
            p99 / 1e3,
            top / 1e3,
            errors,
        )
    latencies, seconds = asyncio.run(_python_load(url, args.clients, args.requests, cookie))
    ms = [x * 1000 for x in latencies]
    return Result(
        label,
        args.clients,
        len(ms),
        seconds,
        statistics.median(ms),
        _percentile(ms, 0.95),
        _percentile(ms, 0.99),
        max(ms),
        0,
    )


def _serve(url: str, workers: int, cache_entries: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "RELAPSEWATCH_DATABASE_URL": url,
        "RELAPSEWATCH_PAGE_CACHE_ENTRIES": str(cache_entries),
        "RELAPSEWATCH_SECRET_KEY": SECRET_KEY,
    }
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(workers)], env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return server, base
        except httpx.HTTPError:
            time.sleep(0.1)
    server.terminate()
    raise SystemExit("the server did not start")


def sign_in(base: str) -> str:
    """Sign the bench nurse in; returns the ``Cookie`` header value of the session."""
    answer = httpx.post(
        f"{base}/login", data={"username": NURSE, "password": NURSE_PASSWORD}, timeout=30
    )
    if answer.status_code != 303:
        raise SystemExit(f"login answered {answer.status_code}")
    token = answer.cookies.get("__Host-relapsewatch")
    return f"__Host-relapsewatch={token}"


def single_render_ms(page: str, cookie: str, times: int = 30) -> list[float]:
    """One client, one request at a time (cache off): the cost of loading and rendering."""
    headers = {"Accept-Encoding": "gzip", "Cookie": cookie}
    with httpx.Client(timeout=30, headers=headers) as http:
        http.get(page)
        out = []
        for _ in range(times):
            started = time.perf_counter()
            http.get(page).raise_for_status()
            out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=20, help="wrk: length of each run")
    parser.add_argument("--requests", type=int, default=2000, help="python: requests per run")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--others", type=int, default=50)
    parser.add_argument(
        "--tool", choices=("wrk", "python"), default="wrk" if shutil.which("wrk") else "python"
    )
    args = parser.parse_args()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-web-") as scratch:
        url = build_database(Path(scratch), args.others)
        for label, entries in (("as served (page cache on)", 256), ("page cache off", 0)):
            server, base = _serve(url, args.workers, entries)
            try:
                page = f"{base}/patients/{PATIENT}"
                cookie = sign_in(base)
                size = len(httpx.get(page, timeout=30, headers={"Cookie": cookie}).content)
                if entries == 0:
                    single = single_render_ms(page, cookie)
                load_before = os.getloadavg()[0]
                results.append(run_load(label, page, args, cookie))
                results[-1].label += f" (load before {load_before:.1f})"
            finally:
                server.terminate()
                server.wait(timeout=30)
    print(
        f"{dt.date.today()}, {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {args.tool}, {args.workers} uvicorn worker(s); "
        f"patient page {size / 1000:.0f} kB uncompressed"
    )
    print(
        f"One request at a time, cache off: median {statistics.median(single):.0f} ms, "
        f"p95 {_percentile(single, 0.95):.0f} ms"
    )
    print("| run | clients | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.label} | {r.clients} | {r.requests} | {r.requests / r.seconds:.0f} | "
            f"{r.p50_ms:.0f} | {r.p95_ms:.0f} | {r.p99_ms:.0f} | {r.max_ms:.0f} | {r.errors} |"
        )


if __name__ == "__main__":
    main()
