"""Synthetic myeloma cohorts as canonical Parquet folders, generated vectorised with NumPy.

Sized for benchmarks (a million patients in a few chunks), not for realism: each patient has a
diagnosis, one to five lines of therapy (a fifth of first lines with the transplant workflow),
about 60 monthly assessments (serum M-protein every time, free light chains every sixth, urine at
baseline) and an M-protein that falls on each line and regrows after a while, so progression,
relapse numbering and line changes all happen. Values are written as text with units, as a lab
export would, so they go through the reader's full validation and unit conversion.
Synthetic data only; a seed always gives the same cohort.

Usage: ``python -m bench.cohort OUT --patients 100000 [--seed 0]``.

>>> tables = generate_chunk(3, start=0, seed=1)
>>> sorted(tables)
['findings', 'measurements', 'patients', 'treatments']
>>> tables["patients"]["patient_id"].to_list()
['P0000000', 'P0000001', 'P0000002']
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

__all__ = ["generate_chunk", "write_cohort"]

EPOCH = dt.date(2010, 1, 1)
FIRST_LINES = (
    ("bortezomib", "lenalidomide", "dexamethasone"),
    ("daratumumab", "lenalidomide", "dexamethasone"),
    ("carfilzomib", "lenalidomide", "dexamethasone"),
    ("daratumumab", "bortezomib", "lenalidomide", "dexamethasone"),
)
LATER_LINES = (
    ("daratumumab", "pomalidomide", "dexamethasone"),
    ("carfilzomib", "dexamethasone"),
    ("daratumumab", "carfilzomib", "dexamethasone"),
    ("pomalidomide", "dexamethasone"),
    ("isatuximab", "pomalidomide", "dexamethasone"),
    ("teclistamab",),
    ("selinexor", "bortezomib", "dexamethasone"),
    ("elotuzumab", "pomalidomide", "dexamethasone"),
)
MAX_LINES = 5


def _days(values: np.ndarray) -> pl.Series:
    return pl.Series(values.astype("int32")).cast(pl.Date)


def _ids(start: int, n: int) -> np.ndarray:
    return np.char.add("P", np.char.zfill(np.arange(start, start + n).astype(str), 7))


def generate_chunk(
    n: int, *, start: int = 0, seed: int = 0, assessments: int = 60
) -> dict[str, pl.DataFrame]:
    """File tables for patients ``start .. start + n - 1`` (independent of chunking)."""
    rng = np.random.default_rng([seed, start])
    ids = _ids(start, n)
    epoch = (EPOCH - dt.date(1970, 1, 1)).days
    diagnosis = epoch + rng.integers(0, 3650, n)

    # Lines: starts one after another; the number of lines varies by patient.
    n_lines = rng.choice(np.arange(1, MAX_LINES + 1), size=n, p=[0.3, 0.3, 0.2, 0.12, 0.08])
    durations = rng.integers(150, 600, (n, MAX_LINES))
    starts = (
        diagnosis[:, None]
        + rng.integers(5, 25, n)[:, None]
        + np.concatenate([np.zeros((n, 1), int), np.cumsum(durations[:, :-1], axis=1)], axis=1)
    )
    horizon = diagnosis + 30 * assessments
    present = (np.arange(MAX_LINES)[None, :] < n_lines[:, None]) & (starts < horizon[:, None])
    next_start = np.concatenate([starts[:, 1:], np.full((n, 1), 10**9)], axis=1)
    has_next = np.concatenate([present[:, 1:], np.zeros((n, 1), bool)], axis=1)
    stop = np.where(
        has_next,
        next_start - rng.integers(3, 20, (n, MAX_LINES)),
        np.where(
            rng.random((n, MAX_LINES)) < 0.5, -1, np.minimum(starts + durations, horizon[:, None])
        ),
    )

    # M-protein: falls on each line to a nadir fraction, regrows after a while.
    m0 = rng.uniform(1.2, 6.0, n)
    nadir = rng.uniform(0.02, 0.7, (n, MAX_LINES))
    regrow_after = rng.integers(90, 500, (n, MAX_LINES))
    growth = rng.uniform(0.002, 0.012, (n, MAX_LINES))

    def level(line: int, t: np.ndarray, base: np.ndarray) -> np.ndarray:
        on = t - starts[:, line][:, None] if t.ndim == 2 else t - starts[:, line]
        pick = (lambda a: a[:, line][:, None]) if t.ndim == 2 else (lambda a: a[:, line])
        fall = pick(nadir) + (1 - pick(nadir)) * np.exp(-np.clip(on, 0, None) / 45.0)
        rise = np.exp(pick(growth) * np.clip(on - pick(regrow_after), 0, 1500))
        return base * fall * rise

    line_base = np.empty((n, MAX_LINES))
    line_base[:, 0] = m0
    for k in range(1, MAX_LINES):
        line_base[:, k] = np.minimum(level(k - 1, starts[:, k], line_base[:, k - 1]), 9.0)

    days = (
        diagnosis[:, None]
        - 5
        + 30 * np.arange(assessments)[None, :]
        + rng.integers(-3, 4, (n, assessments))
    )
    line_of = (days[:, :, None] >= np.where(present, starts, 10**9)[:, None, :]).sum(axis=2) - 1
    values = np.where(line_of < 0, m0[:, None], 0.0)
    for k in range(MAX_LINES):
        here = line_of == k
        values = np.where(here, level(k, days, line_base[:, k][:, None]), values)
    values = np.minimum(values * rng.uniform(0.97, 1.03, values.shape), 9.5)
    spep = np.round(values, 1)
    spep_text = np.where(spep < 0.1, "<0.1", np.char.mod("%.1f", spep))

    # Long measurement table: SPEP at every assessment, FLC pair every sixth, urine at baseline.
    pid = np.repeat(ids, assessments)
    flat_days = days.ravel()
    kappa_patient = rng.random(n) < 0.6
    involved = np.round(8 + 180 * values / m0[:, None], 1)
    flc_mask = (np.arange(assessments) % 6 == 0)[None, :].repeat(n, axis=0).ravel()
    kappa = np.where(np.repeat(kappa_patient, assessments), involved.ravel(), 12.0)[flc_mask]
    lam = np.where(np.repeat(kappa_patient, assessments), 9.0, involved.ravel())[flc_mask]
    measurements = pl.DataFrame(
        {
            "patient_id": np.concatenate([pid, pid[flc_mask], pid[flc_mask], ids]),
            "date": pl.concat(
                [
                    _days(flat_days),
                    _days(flat_days[flc_mask]),
                    _days(flat_days[flc_mask]),
                    _days(days[:, 0]),
                ]
            ),
            "test": np.concatenate(
                [
                    np.full(pid.size, "serum_m_protein"),
                    np.full(kappa.size, "flc_kappa"),
                    np.full(lam.size, "flc_lambda"),
                    np.full(n, "urine_m_protein"),
                ]
            ),
            "value": np.concatenate(
                [
                    spep_text.ravel(),
                    np.char.mod("%.1f", kappa),
                    np.char.mod("%.1f", lam),
                    np.full(n, "0"),
                ]
            ),
            "unit": np.concatenate(
                [
                    np.full(pid.size, "g/dL"),
                    np.full(kappa.size + lam.size, "mg/L"),
                    np.full(n, "mg/24h"),
                ]
            ),
        }
    )

    # Treatments: one row per drug per line (a course), plus the transplant workflow for some.
    regimen_index = np.where(
        np.arange(MAX_LINES)[None, :] == 0,
        rng.integers(0, len(FIRST_LINES), (n, MAX_LINES)),
        rng.integers(0, len(LATER_LINES), (n, MAX_LINES)),
    )
    rows_pid, rows_drug, rows_start, rows_end, rows_intent = [], [], [], [], []
    for k in range(MAX_LINES):
        options = FIRST_LINES if k == 0 else LATER_LINES
        for r, drugs in enumerate(options):
            take = present[:, k] & (regimen_index[:, k] == r)
            for drug in drugs:
                rows_pid.append(ids[take])
                rows_drug.append(np.full(take.sum(), drug))
                rows_start.append(starts[take, k])
                rows_end.append(stop[take, k])
                rows_intent.append(np.full(take.sum(), ""))
    asct = present[:, 1] & (rng.random(n) < 0.2) & (durations[:, 0] > 300)
    induction_end = starts[asct, 0] + 100
    for drug, offset, intent in (
        ("cyclophosphamide", 14, "mobilisation"),
        ("apheresis", 25, ""),
        ("melphalan", 60, "conditioning"),
        ("autologous_transplant", 61, ""),
    ):
        rows_pid.append(ids[asct])
        rows_drug.append(np.full(asct.sum(), drug))
        rows_start.append(induction_end + offset)
        rows_end.append(induction_end + offset)
        rows_intent.append(np.full(asct.sum(), intent))
    ends = np.concatenate(rows_end)
    treatments = pl.DataFrame(
        {
            "patient_id": np.concatenate(rows_pid),
            "therapy": np.concatenate(rows_drug),
            "start_date": _days(np.concatenate(rows_start)),
            "end_date": pl.Series(np.where(ends < 0, 0, ends).astype("int32")).cast(pl.Date),
            "intent": np.concatenate(rows_intent),
        }
    ).with_columns(
        end_date=pl.when(pl.Series(ends < 0)).then(None).otherwise(pl.col("end_date")),
        intent=pl.when(pl.col("intent") == "").then(None).otherwise(pl.col("intent")),
    )

    patients = pl.DataFrame(
        {
            "patient_id": ids,
            "disease": np.full(n, "myeloma"),
            "diagnosis_date": _days(diagnosis),
            "heavy_chain": np.where(rng.random(n) < 0.65, "IgG", "IgA"),
            "light_chain": np.where(kappa_patient, "kappa", "lambda"),
        }
    )
    died = rng.random(n) < 0.03
    findings = pl.DataFrame(
        {
            "patient_id": ids[died],
            "date": _days(days[died, -1] + 20),
            "finding": np.full(died.sum(), "death"),
            "detail": np.full(died.sum(), None),
        },
        schema_overrides={"detail": pl.String},
    )
    return {
        "patients": patients,
        "measurements": measurements,
        "treatments": treatments,
        "findings": findings,
    }


def write_cohort(
    folder: str | Path,
    n_patients: int,
    *,
    seed: int = 0,
    assessments: int = 60,
    chunk: int = 200_000,
) -> dict[str, int]:
    """Write ``NAME.parquet`` for the four tables, generating ``chunk`` patients at a time."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    writers: dict[str, pq.ParquetWriter] = {}
    rows: dict[str, int] = {}
    try:
        for start in range(0, n_patients, chunk):
            tables = generate_chunk(
                min(chunk, n_patients - start), start=start, seed=seed, assessments=assessments
            )
            for name, frame in tables.items():
                arrow = frame.to_arrow()
                if name not in writers:
                    writers[name] = pq.ParquetWriter(
                        out / f"{name}.parquet", arrow.schema, compression="zstd"
                    )
                writers[name].write_table(arrow)
                rows[name] = rows.get(name, 0) + frame.height
    finally:
        for writer in writers.values():
            writer.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--assessments", type=int, default=60)
    args = parser.parse_args()
    rows = write_cohort(args.out, args.patients, seed=args.seed, assessments=args.assessments)
    print(", ".join(f"{count} {name}" for name, count in rows.items()))


if __name__ == "__main__":
    main()
