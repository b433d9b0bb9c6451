"""Small synthetic myeloma records as canonical file tables, for storage tests and crash runs.

Each patient gets a diagnosis, a first line (bortezomib, lenalidomide, dexamethasone), monthly
serum M-protein that falls to a nadir and, for most patients, rises again; a rise opens a second
line (daratumumab, pomalidomide, dexamethasone) and sometimes a third (carfilzomib,
dexamethasone). Free light chains and haemoglobin are measured every few months. Values are
written as a lab would report them (text, with units), so they go through the same validation
and normalisation as a user's files. Synthetic data only; seeded, so a seed always gives the same
records.

>>> tables = synthetic_file_tables(2, seed=1, prefix="S")
>>> sorted(tables)
['findings', 'measurements', 'patients', 'treatments']
>>> tables["patients"]["patient_id"].to_list()
['S0000', 'S0001']
"""

from __future__ import annotations

import datetime as dt
import random

import polars as pl

__all__ = ["synthetic_file_tables", "synthetic_raw_tables"]

_LINES = (
    ("bortezomib", "lenalidomide", "dexamethasone"),
    ("daratumumab", "pomalidomide", "dexamethasone"),
    ("carfilzomib", "dexamethasone"),
)


def _patient_records(
    rng: random.Random, patient_id: str, months: int
) -> tuple[dict[str, str], list[list[str]], list[list[str]], list[list[str]]]:
    diagnosis = dt.date(2015, 1, 1) + dt.timedelta(days=rng.randrange(0, 6 * 365))
    patient = {
        "patient_id": patient_id,
        "disease": "myeloma",
        "diagnosis_date": diagnosis.isoformat(),
        "heavy_chain": rng.choice(["IgG", "IgA"]),
        "light_chain": rng.choice(["kappa", "lambda"]),
        "sex": rng.choice(["female", "male"]),
        "birth_year": str(rng.randrange(1935, 1975)),
    }
    measurements: list[list[str]] = []
    treatments: list[list[str]] = []
    findings: list[list[str]] = []
    m_protein = rng.uniform(1.5, 5.0)
    line_index = 0
    line_start = diagnosis + dt.timedelta(days=rng.randrange(5, 25))
    nadir_fraction = rng.uniform(0.02, 0.35)
    baseline = m_protein
    relapse_after = rng.randrange(8, 30)  # months on a line before the disease regrows
    months_on_line = 0
    rising = False
    for month in range(months):
        day = diagnosis + dt.timedelta(days=30 * month + rng.randrange(-3, 4))
        if day > line_start and months_on_line == 0 and line_index < len(_LINES):
            for drug in _LINES[line_index]:
                treatments.append([patient_id, drug, line_start.isoformat(), "", ""])
        if day > line_start:
            months_on_line += 1
        if not rising and months_on_line >= relapse_after:
            rising = rng.random() < 0.8
        if rising:  # regrowth, capped so long follow-up stays within plausible lab values
            m_protein = min(m_protein * rng.uniform(1.15, 1.4), 7.0)
        elif months_on_line > 0:
            target = baseline * nadir_fraction
            m_protein = max(target, m_protein * rng.uniform(0.45, 0.8))
        value = round(m_protein * rng.uniform(0.97, 1.03), 2)
        text = "<0.1" if value < 0.1 else f"{value:.2f}"
        measurements.append([patient_id, day.isoformat(), "serum_m_protein", text, "g/dL", "", ""])
        if month % 3 == 0:
            involved = round(10 + 150 * m_protein / max(baseline, 0.1), 1)
            kappa, lam = (involved, 12.0) if patient["light_chain"] == "kappa" else (9.0, involved)
            measurements.append(
                [patient_id, day.isoformat(), "flc_kappa", f"{kappa}", "mg/L", "", ""]
            )
            measurements.append(
                [patient_id, day.isoformat(), "flc_lambda", f"{lam}", "mg/L", "", ""]
            )
            hb = round(rng.uniform(9.5, 14.0), 1)
            measurements.append(
                [patient_id, day.isoformat(), "hemoglobin", f"{hb}", "g/dL", "", ""]
            )
        # Two rising results in a row beyond 25 % of the nadir: the team starts the next line.
        if rising and m_protein > 1.6 * baseline * nadir_fraction + 0.5 and line_index < 2:
            end = day + dt.timedelta(days=rng.randrange(7, 20))
            for row in treatments:
                if row[4] == "" and row[3] == "":
                    row[3] = end.isoformat()
            if rng.random() < 0.2:
                findings.append([patient_id, day.isoformat(), "new_bone_lesion", "spine MRI"])
            line_index += 1
            line_start = end + dt.timedelta(days=rng.randrange(3, 15))
            baseline, months_on_line, rising = m_protein, 0, False
            nadir_fraction = rng.uniform(0.05, 0.5)
            relapse_after = rng.randrange(6, 24)
    return patient, measurements, treatments, findings


def synthetic_file_tables(
    n_patients: int, *, seed: int, prefix: str = "SYN", months: tuple[int, int] = (12, 60)
) -> dict[str, pl.DataFrame]:
    """Canonical file tables (all text, as a CSV holds them) for ``n_patients`` patients.

    Patient ids are ``f"{prefix}{i:04d}"``; each patient has between ``months[0]`` and
    ``months[1]`` monthly visits.
    """
    rng = random.Random(seed)
    patients, measurements, treatments, findings = [], [], [], []
    for i in range(n_patients):
        p, m, t, f = _patient_records(rng, f"{prefix}{i:04d}", rng.randrange(*months))
        patients.append(p)
        measurements += m
        treatments += t
        findings += f
    text = pl.String

    def frame(rows: list[list[str]], columns: list[str]) -> pl.DataFrame:
        data = [[None if cell == "" else cell for cell in row] for row in rows]
        return pl.DataFrame(data, schema=dict.fromkeys(columns, text), orient="row")

    return {
        "patients": pl.DataFrame(patients, schema=dict.fromkeys(patients[0], text)),
        "measurements": frame(
            measurements, ["patient_id", "date", "test", "value", "unit", "method", "sensitivity"]
        ),
        "treatments": frame(
            treatments, ["patient_id", "therapy", "start_date", "end_date", "intent"]
        ),
        "findings": frame(findings, ["patient_id", "date", "finding", "detail"]),
    }


def synthetic_raw_tables(
    n_patients: int, *, seed: int, prefix: str = "SYN", months: tuple[int, int] = (12, 60)
) -> dict[str, pl.DataFrame]:
    """The same tables as raw frames (with ``__row``), for ``normalise_tables``."""
    tables = synthetic_file_tables(n_patients, seed=seed, prefix=prefix, months=months)
    return {
        name: frame.with_row_index("__row", offset=2).with_columns(pl.col("__row").cast(pl.Int64))
        for name, frame in tables.items()
    }
