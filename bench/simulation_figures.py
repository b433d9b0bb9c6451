"""Figures of docs/simulation.md: one virtual patient, and calibration curves of a cohort.

Renders PNGs with Plotly + kaleido (which drives Debian's chromium, offline):

    .venv/bin/python bench/simulation_figures.py --out docs/figures

* ``simulation-virtual-patient.png``: the "why does it come back" picture of a demo-cohort
  patient with at least two relapses (true burden, detection floors, results, lines, relapses);
* ``simulation-pfs-by-line.png``: Kaplan-Meier progression-free curves by line of a
  20,000-patient cohort, with the reference medians.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import polars as pl

from relapsewatch.io import read_tables, write_tables
from relapsewatch.plotting import virtual_patient_figure
from relapsewatch.simulate import SimulationSettings, simulate_cohort
from relapsewatch.simulate.calibration import DAYS_PER_MONTH
from relapsewatch.simulate.demo import DEMO_PATIENTS, DEMO_SEED
from relapsewatch.simulate.trajectory import detection_floors, latent_trajectory


def patient_figure(out: Path) -> Path:
    cohort = simulate_cohort(DEMO_PATIENTS, seed=DEMO_SEED)
    lines = cohort.truth()["truth_lines"]
    patients = cohort.truth()["truth_patients"]
    # an IgG patient whose first remission went below what immunofixation can see, and who
    # relapsed at least twice: the clearest "why does it come back" picture
    deep_first = lines.filter((pl.col("line") == 1) & (pl.col("nadir_value") < 0.015))
    relapsing = (
        lines.filter(pl.col("progression_date").is_not_null())
        .join(patients.select("patient_id", "heavy_chain"), on="patient_id")
        .filter(pl.col("heavy_chain") == "IgG")
        .filter(pl.col("patient_id").is_in(deep_first["patient_id"].implode()))
        .group_by("patient_id")
        .len()
        .filter(pl.col("len") >= 2)
        .sort("patient_id")
    )
    chosen = str(relapsing["patient_id"][0])
    with tempfile.TemporaryDirectory() as folder:
        write_tables(cohort.tables(), folder, format="parquet")
        canonical = read_tables(folder)
    measurements = canonical.measurements.filter(pl.col("patient_id") == chosen)
    # label the line bands with the plan's short name (e.g. "D-VRd, ASCT, D-R maintenance")
    mine = lines.filter(pl.col("patient_id") == chosen).with_columns(
        pl.col("regimen_label").alias("regimen")
    )
    relapses = (
        mine.filter(pl.col("progression_date").is_not_null())
        .select(pl.col("progression_date").alias("date"))
        .with_row_index("relapse_number", offset=1)
    )
    figure = virtual_patient_figure(
        latent_trajectory(lines, patients, chosen),
        measurements,
        mine,
        detection_floors(patients, chosen),
        relapses,
        title=f"Virtual patient {chosen}: cells survive below what tests can see, then regrow",
    )
    path = out / "simulation-virtual-patient.png"
    figure.write_image(path, width=1100, height=620, scale=1)
    return path


def _km(durations: np.ndarray, events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((~events, durations))
    times, happened = durations[order], events[order]
    at_risk = durations.size - np.arange(durations.size)
    survival = np.cumprod(np.where(happened, 1.0 - 1.0 / at_risk, 1.0))
    return np.concatenate([[0.0], times]), np.concatenate([[1.0], survival])


def pfs_figure(out: Path, patients: int, seed: int) -> Path:
    settings = SimulationSettings()
    cohort = simulate_cohort(patients, seed=seed, settings=settings)
    lines = cohort.truth()["truth_lines"]
    figure = go.Figure()
    targets = settings.calibration.target_median_pfs_months
    for line in range(1, 5):
        part = lines.filter(pl.col("line") == line)
        start = part["start_date"].to_physical().to_numpy().astype(float)
        progression = part["progression_date"].to_physical().to_numpy().astype(float)
        end = part["end_date"].to_physical().to_numpy().astype(float)
        died = (part["end_reason"] == "death").to_numpy()
        event = ~np.isnan(progression) | died
        stop = np.where(np.isnan(progression), end, progression)
        times, survival = _km((stop - start) / DAYS_PER_MONTH, event)
        figure.add_trace(
            go.Scatter(
                x=times,
                y=survival,
                mode="lines",
                line_shape="hv",
                name=f"line {line} (reference median {targets[line - 1]})",
            )
        )
    figure.add_hline(y=0.5, line_dash="dot", line_color="grey")
    figure.update_layout(
        title=f"Progression-free survival by line ({patients:,} virtual "
        "patients, profile modern_2025)",
        template="plotly_white",
        xaxis_title="Months from line start",
        yaxis_title="Progression-free",
        xaxis_range=[0, 72],
    )
    path = out / "simulation-pfs-by-line.png"
    figure.write_image(path, width=900, height=520, scale=1)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/figures"))
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(patient_figure(args.out))
    print(pfs_figure(args.out, args.patients, args.seed))


if __name__ == "__main__":
    main()
