"""Calibration that can be checked fast (issue 4): 2,000 virtual patients of each profile.

Reference figures: ``shared/domain/simulation-calibration.md`` (Blood Cancer J 2025 modern-era
figures by line; Jagannath et al. 2016 US community figures; doubling time at relapse from Eur J
Haematol 1996). The full tables and figures are in docs/simulation.md.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from relapsewatch.simulate import SimulationSettings, VirtualCohort, profile, simulate_cohort
from relapsewatch.simulate.calibration import line_summary
from relapsewatch.simulate.trajectory import latent_trajectory

PATIENTS = 2000


@pytest.fixture(scope="module")
def modern() -> VirtualCohort:
    return simulate_cohort(PATIENTS, seed=2026)


@pytest.fixture(scope="module")
def modern_lines(modern: VirtualCohort) -> pl.DataFrame:
    return line_summary(modern.truth()["truth_lines"], patients=PATIENTS)


@pytest.mark.parametrize("line", [1, 2, 3, 4])
def test_median_pfs_by_line_is_within_15_percent_of_the_modern_reference(
    modern_lines: pl.DataFrame, line: int
) -> None:
    target = profile("modern_2025").target_median_pfs_months[line - 1]
    found = modern_lines.filter(pl.col("line") == line)["median_pfs_months"][0]
    assert abs(found - target) <= 0.15 * target, (line, found, target)


@pytest.mark.parametrize("line", [2, 3, 4])
def test_share_reaching_each_line_is_near_the_reference(
    modern_lines: pl.DataFrame, line: int
) -> None:
    target = (1.0, 0.65, 0.42, 0.25)[line - 1]
    found = modern_lines.filter(pl.col("line") == line)["share_reaching"][0]
    assert abs(found - target) <= 0.05, (line, found, target)


def test_remissions_get_shorter_with_each_line(modern_lines: pl.DataFrame) -> None:
    medians = modern_lines.filter(pl.col("line") <= 5)["median_pfs_months"].to_list()
    assert medians == sorted(medians, reverse=True)
    assert len(set(medians)) == len(medians)


def test_median_doubling_time_at_first_relapse_is_about_six_months(
    modern_lines: pl.DataFrame,
) -> None:
    found = modern_lines.filter(pl.col("line") == 1)["median_doubling_months"][0]
    assert 5.0 <= found <= 7.0


def test_no_igg_paraprotein_falls_faster_than_its_21_day_half_life(modern: VirtualCohort) -> None:
    truth = modern.truth()
    igg = truth["truth_patients"].filter(pl.col("heavy_chain") == "IgG")["patient_id"]
    lines = truth["truth_lines"].filter(pl.col("patient_id").is_in(igg.implode()))
    fastest = -np.log(2) / 21
    assert lines["paraprotein_fall_per_day"].min() >= fastest - 1e-12  # type: ignore[operator]
    # and day by day on the noiseless series of some patients, across line changes too
    for patient_id in igg.head(25).to_list():
        series = latent_trajectory(lines, truth["truth_patients"], patient_id, step_days=1)
        level = series.unique("date", keep="first").sort("date")["paraprotein"].to_numpy()
        assert np.diff(np.log(level)).min() >= fastest - 1e-9, patient_id


def test_us_community_profile_gives_its_shorter_medians() -> None:
    settings = SimulationSettings(profile="us_community_2016")
    cohort = simulate_cohort(PATIENTS, seed=2026, settings=settings)
    table = line_summary(cohort.truth()["truth_lines"], patients=PATIENTS)
    targets = profile("us_community_2016").target_median_pfs_months
    for line in (1, 2, 3, 4):
        found = table.filter(pl.col("line") == line)["median_pfs_months"][0]
        assert abs(found - targets[line - 1]) <= 0.15 * targets[line - 1], (line, found)
