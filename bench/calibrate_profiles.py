"""Tune the per-line centres of a calibration profile to its published targets.

For each line in turn (earlier lines fixed), bisect the centre of log10 π_r (the share of cells
the line's regimen cannot kill) until the cohort's Kaplan-Meier median PFS of that line meets the
target. For line 1 the resistant growth rate is also scaled so that the median M-protein
doubling time at first relapse is about 6 months (Eur J Haematol 1996;57:247).

Prints the tuned tuples to paste into ``src/relapsewatch/simulate/profiles.py``.

    .venv/bin/python bench/calibrate_profiles.py --profile modern_2025 --patients 20000
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from relapsewatch.simulate import PROFILES, SimulationSettings, simulate_cohort
from relapsewatch.simulate.calibration import DAYS_PER_MONTH, line_summary

TARGET_DOUBLING_MONTHS = 6.0


def _summary(profile: object, line: int, patients: int, seed: int) -> dict[str, float]:
    settings = SimulationSettings(profile=profile, max_lines=line + 1)  # type: ignore[arg-type]
    cohort = simulate_cohort(patients, seed=seed, settings=settings)
    table = line_summary(cohort.truth_lines, patients=patients)
    row = table.filter(table["line"] == line).row(0, named=True)
    return {"pfs": row["median_pfs_months"], "doubling": row["median_doubling_months"]}


def _with(profile: object, field: str, line: int, value: float) -> object:
    values = list(getattr(profile, field))
    values[line - 1] = value
    return dataclasses.replace(profile, **{field: tuple(values)})  # type: ignore[type-var]


def tune(name: str, patients: int, seed: int) -> object:
    profile: object = PROFILES[name]
    targets = PROFILES[name].target_median_pfs_months
    for line, target in enumerate(targets, start=1):
        rounds = 3 if line == 1 else 1
        for _ in range(rounds):
            low, high = -4.0, 0.5
            for _ in range(9):
                middle = (low + high) / 2
                trial = _with(profile, "log10_resistant_fraction", line, middle)
                pfs = _summary(trial, line, patients, seed)["pfs"]
                # more resistant cells -> shorter remission
                low, high = (middle, high) if pfs > target else (low, middle)
            profile = _with(profile, "log10_resistant_fraction", line, round((low + high) / 2, 3))
            result = _summary(profile, line, patients, seed)
            print(
                f"line {line}: log10 pi_r {(low + high) / 2:.3f} -> median PFS "
                f"{result['pfs']:.1f} months (target {target}), doubling "
                f"{result['doubling']:.2f} months",
                flush=True,
            )
            if line == 1:
                growth = profile.resistant_growth_per_day[0]  # type: ignore[attr-defined]
                scaled = round(growth * result["doubling"] / TARGET_DOUBLING_MONTHS, 5)
                profile = _with(profile, "resistant_growth_per_day", 1, scaled)
    return profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="modern_2025", choices=sorted(PROFILES))
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started = time.perf_counter()
    tuned = tune(args.profile, args.patients, args.seed)
    print(f"# tuned in {time.perf_counter() - started:.0f} s ({DAYS_PER_MONTH:.2f} days/month)")
    print("log10_resistant_fraction=", tuned.log10_resistant_fraction)  # type: ignore[attr-defined]
    print("resistant_growth_per_day=", tuned.resistant_growth_per_day)  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
