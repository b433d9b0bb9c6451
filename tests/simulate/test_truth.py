"""The truth tables: consistent dates; progression where the noiseless series meets IMWG."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from relapsewatch.simulate import VirtualCohort, simulate_cohort
from relapsewatch.simulate.dynamics import P1_SERUM, P3_FLC
from relapsewatch.simulate.trajectory import latent_trajectory


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_lines_are_numbered_from_one_without_gaps_and_follow_each_other(seed: int) -> None:
    lines = simulate_cohort(40, seed=seed).truth()["truth_lines"].sort("patient_id", "line")
    numbered = lines.group_by("patient_id").agg(pl.col("line"))
    for found in numbered["line"].to_list():
        assert found == list(range(1, len(found) + 1))
    following = lines.with_columns(
        pl.col("start_date").shift(-1).over("patient_id").alias("following_start")
    ).filter(pl.col("following_start").is_not_null())
    assert (following["next_line_start_date"] == following["following_start"]).all()
    assert (lines["end_date"] >= lines["start_date"]).all()


def test_event_dates_fall_inside_their_line(cohort: VirtualCohort) -> None:
    lines = cohort.truth()["truth_lines"]
    for column in (
        "nadir_date",
        "regrowth_start_date",
        "imwg_progression_date",
        "clinical_relapse_date",
        "progression_date",
        "measured_progression_date",
    ):
        dated = lines.filter(pl.col(column).is_not_null())
        assert dated.filter(pl.col(column) < pl.col("start_date")).height == 0, column
        assert dated.filter(pl.col(column) > pl.col("end_date")).height == 0, column
    progressed = lines.filter(pl.col("imwg_progression_date").is_not_null())
    assert (progressed["imwg_progression_date"] >= progressed["nadir_date"]).all()
    both = lines.filter(
        pl.col("imwg_progression_date").is_not_null()
        & pl.col("imwg_progression_visit_date").is_not_null()
    )
    # at visit resolution the confirmed nadir can only be higher, so progression is never earlier
    assert both.height > 0
    assert (both["imwg_progression_visit_date"] >= both["imwg_progression_date"]).all()


def test_imwg_date_is_the_first_day_the_noiseless_marker_meets_p1_or_p3(
    cohort: VirtualCohort,
) -> None:
    truth = cohort.truth()
    patients = truth["truth_patients"]
    lines = truth["truth_lines"].filter(pl.col("imwg_progression_date").is_not_null())
    checked = 0
    for row in lines.head(60).iter_rows(named=True):
        patient = patients.filter(pl.col("patient_id") == row["patient_id"]).row(0, named=True)
        series = latent_trajectory(
            truth["truth_lines"], patients, row["patient_id"], step_days=1
        ).filter(pl.col("line") == row["line"])
        level = dict(zip(series["date"].to_list(), series["paraprotein"].to_list(), strict=True))
        day: dt.date = row["imwg_progression_date"]
        before = day - dt.timedelta(days=1)
        if patient["heavy_chain"] == "none":
            kappa = patient["light_chain"] == "kappa"
            offset = (patient["normal_kappa_mg_l"] - patient["normal_lambda_mg_l"]) * (
                1 if kappa else -1
            )
            nadir = max(offset + row["nadir_value"], 0.0)
            threshold = float(P3_FLC.threshold(np.array([nadir]))[0]) - offset
        else:
            threshold = float(P1_SERUM.threshold(np.array([row["nadir_value"]]))[0])
        assert level[day] >= threshold - 1e-9, row
        if before in level and before > row["nadir_date"]:
            assert level[before] < threshold, row
        checked += 1
    assert checked >= 30
