"""Calibration tables of docs/simulation.md: a large cohort per profile against its references.

    .venv/bin/python bench/simulation_report.py --patients 20000 --seed 2026

Prints Markdown: per-line medians and shares with the reference figures, and cohort features
(isotypes, deaths, clinical relapses, depth of response, MRD results, doubling times).
"""

from __future__ import annotations

import argparse

import numpy as np
import polars as pl

from relapsewatch.simulate import PROFILES, SimulationSettings, VirtualCohort, simulate_cohort
from relapsewatch.simulate.calibration import DAYS_PER_MONTH, kaplan_meier_median, line_summary


def _per_line(cohort: VirtualCohort, name: str, patients: int) -> str:
    reference = PROFILES[name]
    table = line_summary(cohort.truth()["truth_lines"], patients=patients)
    rows = [
        "| line | median PFS (months) | reference | within ±15 % | median TTNT (months) | "
        "share reaching line | reference | median doubling at relapse (months) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in table.filter(pl.col("line") <= 6).iter_rows(named=True):
        line = row["line"]
        target = (
            reference.target_median_pfs_months[line - 1]
            if line <= len(reference.target_median_pfs_months)
            else None
        )
        share = (
            reference.target_share_reaching_line[line - 1]
            if reference.target_share_reaching_line is not None
            and line <= len(reference.target_share_reaching_line)
            else None
        )
        ok = (
            "–"
            if target is None
            else ("yes" if abs(row["median_pfs_months"] - target) <= 0.15 * target else "no")
        )
        rows.append(
            f"| {line} | {row['median_pfs_months']:.1f} | {target if target else '–'} | {ok} | "
            f"{row['median_ttnt_months']:.1f} | {row['share_reaching']:.1%} | "
            f"{'–' if share is None else f'{share:.0%}'} | "
            f"{row['median_doubling_months']:.1f} |"
        )
    return "\n".join(rows)


def _features(cohort: VirtualCohort, patients: int) -> str:
    tables, truth = cohort.tables(), cohort.truth()
    people = tables["patients"]
    share = {k: v / patients for k, v in people["heavy_chain"].value_counts().iter_rows()}
    kappa = float((people["light_chain"] == "kappa").mean())  # type: ignore[arg-type]
    ends = truth["truth_patients"]
    follow = (ends["follow_up_end_date"] - people["diagnosis_date"]).dt.total_days().to_numpy()
    died = (ends["follow_up_end_reason"] == "death").to_numpy()
    lines = truth["truth_lines"]
    progressed = lines.filter(pl.col("progression_date").is_not_null())
    clinical = (
        (progressed["progression_date"] != progressed["imwg_progression_date"])
        .fill_null(True)
        .mean()
    )
    first = lines.filter(pl.col("line") == 1)
    reduction = 1 - (first["nadir_value"] / first["marker_at_start"]).to_numpy()
    mrd = tables["measurements"].filter(pl.col("test") == "mrd")
    mrd_negative = float((mrd["value"] == "negative").mean()) if mrd.height else float("nan")  # type: ignore[arg-type]
    transplant = first["transplant"].mean()
    triggers = (
        lines["next_line_trigger"]
        .drop_nulls()
        .value_counts(normalize=True)
        .sort("proportion", descending=True)
    )
    trigger_text = ", ".join(f"{t} {p:.0%}" for t, p in triggers.iter_rows())
    rows = [
        "| feature | simulated |",
        "|---|---|",
        f"| IgG / IgA / light chain only / IgD / IgM | {share.get('IgG', 0):.1%} / "
        f"{share.get('IgA', 0):.1%} / {share.get('none', 0):.1%} / {share.get('IgD', 0):.1%} / "
        f"{share.get('IgM', 0):.1%} |",
        f"| kappa : lambda | {kappa / (1 - kappa):.2f} : 1 |",
        f"| median follow-up | {np.median(follow) / DAYS_PER_MONTH:.0f} months |",
        f"| deaths / lost to follow-up | {died.mean():.1%} / "
        f"{(ends['follow_up_end_reason'] == 'lost_to_follow_up').mean():.1%} |",
        f"| median overall survival (Kaplan-Meier) | "
        f"{kaplan_meier_median(follow.astype(float), died) / DAYS_PER_MONTH:.0f} months |",
        f"| first line with autologous transplant | {transplant:.1%} |",
        f"| line-1 M-protein reduction ≥ 50 % / ≥ 90 % (noiseless nadir) | "
        f"{(reduction >= 0.5).mean():.1%} / {(reduction >= 0.9).mean():.1%} |",
        f"| progressions that were clinical (before the noiseless IMWG date) | {clinical:.1%} |",
        f"| why the next line started | {trigger_text} |",
        f"| MRD tests / negative | {mrd.height:,} / {mrd_negative:.1%} |",
        f"| measurement rows per patient | {tables['measurements'].height / patients:.0f} |",
    ]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    for name in PROFILES:
        cohort = simulate_cohort(
            args.patients, seed=args.seed, settings=SimulationSettings(profile=name)
        )
        print(f"### Profile `{name}` ({args.patients:,} patients, seed {args.seed})\n")
        print(_per_line(cohort, name, args.patients))
        print()
        print(_features(cohort, args.patients))
        print()


if __name__ == "__main__":
    main()
