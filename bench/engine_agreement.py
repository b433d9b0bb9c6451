"""Engine agreement: the course engine on noisy simulated records vs the noiseless truth.

Simulates a cohort, writes and reads it back through ``relapsewatch.io`` (so the readers' unit
conversions are part of the test), runs ``derive_course`` and compares the engine's numbered
relapses with the truth table's progression events (IMWG P1/P3 on the noiseless marker with the
confirmed nadir, or the clinical relapse finding):

* **detected**: share of truth events with an engine relapse within ``--window`` days;
* **false relapses**: engine relapses with no truth event within the window;
* **date error**: engine date minus truth date for matched pairs (median absolute, median signed).

    .venv/bin/python bench/engine_agreement.py --patients 2000 --seed 2026

Prints Markdown tables for ``docs/simulation.md``. Exits with a message if the course engine is
not available yet.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from relapsewatch.io import read_tables, write_tables
from relapsewatch.simulate import SimulationSettings, simulate_cohort

#: A truth event this close to the end of follow-up cannot be confirmed by a later visit.
UNOBSERVABLE_DAYS = 60


def _truth_events(truth: dict[str, pl.DataFrame]) -> pl.DataFrame:
    lines = truth["truth_lines"].filter(pl.col("progression_date").is_not_null())
    kind = (
        pl.when(pl.col("progression_date") == pl.col("imwg_progression_date"))
        .then(pl.lit("imwg"))
        .otherwise(pl.lit("clinical"))
    )
    return (
        lines.select(
            "patient_id",
            "line",
            pl.col("progression_date").alias("truth_date"),
            kind.alias("truth_kind"),
            "marker",
            # IMWG M2: serum is measurable from 1.0 g/dL at the line's (noiseless) baseline
            ((pl.col("marker") == "serum_m_protein") & (pl.col("marker_at_start") >= 1.0)).alias(
                "serum_measurable"
            ),
        )
        .join(truth["truth_patients"].select("patient_id", "follow_up_end_date"), on="patient_id")
        .with_columns(
            (
                (pl.col("follow_up_end_date") - pl.col("truth_date")).dt.total_days()
                >= UNOBSERVABLE_DAYS
            ).alias("observable")
        )
        .sort("patient_id", "truth_date")
    )


def _match(truth: pl.DataFrame, engine: pl.DataFrame, window: int) -> pl.DataFrame:
    """Nearest engine relapse per truth event, one-to-one (closest pair wins)."""
    pairs = (
        truth.with_row_index("truth_id")
        .join(engine.with_row_index("engine_id"), on="patient_id", how="inner")
        .with_columns(
            (pl.col("engine_date") - pl.col("truth_date")).dt.total_days().alias("error_days")
        )
        .filter(pl.col("error_days").abs() <= window)
        .sort(pl.col("error_days").abs(), "truth_id", "engine_id")
    )
    chosen: list[dict[str, object]] = []
    used_truth: set[int] = set()
    used_engine: set[int] = set()
    for row in pairs.iter_rows(named=True):  # greedy one-to-one; small (events, not rows)
        if row["truth_id"] in used_truth or row["engine_id"] in used_engine:
            continue
        used_truth.add(row["truth_id"])
        used_engine.add(row["engine_id"])
        chosen.append(row)
    return pl.DataFrame(chosen, schema=pairs.schema) if chosen else pairs.clear()


def agreement(patients: int, seed: int, window: int, fmt: str) -> str:
    try:
        course_module = importlib.import_module("relapsewatch.course.myeloma")
    except ImportError:
        return "The course engine (relapsewatch.course.myeloma.derive_course) is not available."
    derive_course = course_module.derive_course
    started = time.perf_counter()
    cohort = simulate_cohort(patients, seed=seed, settings=SimulationSettings())
    with tempfile.TemporaryDirectory() as folder:
        write_tables(cohort.tables(), Path(folder), format=fmt)  # type: ignore[arg-type]
        canonical = read_tables(folder)
    simulated = time.perf_counter()
    course = derive_course(canonical)
    derived = time.perf_counter()

    truth = _truth_events(cohort.truth())
    engine = course.relapses.select(
        "patient_id",
        pl.col("date").alias("engine_date"),
        pl.col("kind").alias("engine_kind"),
        pl.col("relapse_number"),
    )
    matched = _match(truth, engine, window)
    detected_keys = matched.select(pl.struct("patient_id", "truth_date")).to_series()
    found = truth.with_columns(
        pl.struct("patient_id", "truth_date").is_in(detected_keys.implode()).alias("detected")
    )
    false = engine.height - matched.height
    years = (
        cohort.truth()["truth_patients"]["follow_up_end_date"]
        - cohort.tables()["patients"]["diagnosis_date"]
    ).dt.total_days().sum() / 365.25

    def share(frame: pl.DataFrame) -> str:
        if frame.height == 0:
            return "–"
        return f"{frame['detected'].mean():.1%} ({frame['detected'].sum()}/{frame.height})"

    errors = matched["error_days"]
    observed_imwg = pl.col("observable") & (pl.col("truth_kind") == "imwg")
    serum = pl.col("marker") == "serum_m_protein"
    rows = [
        "| measure | value |",
        "|---|---|",
        f"| patients (seed {seed}) | {patients:,} ({years:,.0f} patient-years) |",
        f"| truth progression events | {truth.height:,} ({truth['observable'].sum():,} "
        f"observable: at least {UNOBSERVABLE_DAYS} days of follow-up after them) |",
        f"| engine relapses | {engine.height:,} |",
        f"| detected (observable events, ±{window} days) | "
        f"{share(found.filter(pl.col('observable')))} |",
        f"| detected, noiseless IMWG events | "
        f"{share(found.filter(pl.col('observable') & (pl.col('truth_kind') == 'imwg')))} |",
        f"| detected, clinical relapses | "
        f"{share(found.filter(pl.col('observable') & (pl.col('truth_kind') == 'clinical')))} |",
        f"| detected, serum M-protein measurable at line start (≥ 1 g/dL) | "
        f"{share(found.filter(observed_imwg & pl.col('serum_measurable')))} |",
        f"| detected, serum M-protein below 1 g/dL at line start (not measurable, M2) | "
        f"{share(found.filter(observed_imwg & ~pl.col('serum_measurable') & serum))} |",
        f"| detected, light-chain (FLC) disease | {share(found.filter(observed_imwg & ~serum))} |",
        f"| false relapses (no truth event within ±{window} days) | {false:,} "
        f"({false / max(engine.height, 1):.1%} of engine relapses; "
        f"{100 * false / years:.2f} per 100 patient-years) |",
        f"| median absolute date error (matched) | {errors.abs().median():.0f} days |",
        f"| median signed error, engine − truth (IQR) | {errors.median():.0f} days "
        f"({errors.quantile(0.25):.0f} to {errors.quantile(0.75):.0f}) |",
        f"| time: simulate + write + read / derive_course | {simulated - started:.1f} s / "
        f"{derived - simulated:.1f} s |",
    ]
    visit_level = matched.join(
        cohort.truth()["truth_lines"].select("patient_id", "line", "imwg_progression_visit_date"),
        on=["patient_id", "line"],
    ).filter(pl.col("imwg_progression_visit_date").is_not_null() & (pl.col("truth_kind") == "imwg"))
    visit_errors = (
        visit_level["engine_date"] - visit_level["imwg_progression_visit_date"]
    ).dt.total_days()
    rows.append(
        f"| median signed error vs the noiseless rule at the same visits (IMWG events) | "
        f"{visit_errors.median():.0f} days ({visit_errors.quantile(0.25):.0f} to "
        f"{visit_errors.quantile(0.75):.0f}); exact in {(visit_errors == 0).mean():.0%} |"
    )
    lines_truth = cohort.truth()["truth_lines"].group_by("patient_id").len("truth_lines")
    lines_engine = course.lines.group_by("patient_id").len("engine_lines")
    compared = lines_truth.join(lines_engine, on="patient_id", how="left").fill_null(0)
    same = (compared["truth_lines"] == compared["engine_lines"]).mean()
    rows.append(f"| patients whose engine line count equals the true count | {same:.1%} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--window", type=int, default=90, help="matching window in days")
    parser.add_argument("--format", default="parquet", choices=["csv", "parquet"])
    args = parser.parse_args()
    print(agreement(args.patients, args.seed, args.window, args.format))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
