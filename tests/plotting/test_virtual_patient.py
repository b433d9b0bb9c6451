"""The "why does it come back" figure draws what it is given, on a log scale with floors."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from relapsewatch.errors import SchemaError
from relapsewatch.plotting import virtual_patient_figure
from relapsewatch.simulate import simulate_cohort
from relapsewatch.simulate.trajectory import detection_floors, latent_trajectory


@pytest.fixture(scope="module")
def patient() -> dict[str, pl.DataFrame]:
    cohort = simulate_cohort(40, seed=3)
    truth = cohort.truth()
    relapsed = truth["truth_lines"].filter(pl.col("progression_date").is_not_null())
    chosen = str(
        relapsed.join(
            truth["truth_patients"].filter(pl.col("heavy_chain") != "none"), on="patient_id"
        )["patient_id"][0]
    )
    lines = truth["truth_lines"].filter(pl.col("patient_id") == chosen)
    measurements = pl.DataFrame(
        {
            "date": [dt.date(2014, 1, 1), dt.date(2014, 2, 1), dt.date(2014, 3, 1)],
            "test": ["serum_m_protein", "serum_m_protein", "serum_ife"],
            "value": [2.5, None, None],
            "result": [None, "detected_nonquantifiable", "positive"],
            "sensitivity": [None, None, None],
        },
        schema_overrides={"value": pl.Float64, "sensitivity": pl.Float64},
    )
    relapses = (
        lines.filter(pl.col("progression_date").is_not_null())
        .select(pl.col("progression_date").alias("date"))
        .with_row_index("relapse_number", offset=1)
    )
    return {
        "trajectory": latent_trajectory(truth["truth_lines"], truth["truth_patients"], chosen),
        "measurements": measurements,
        "lines": lines,
        "floors": detection_floors(truth["truth_patients"], chosen),
        "relapses": relapses,
    }


def test_figure_has_a_log_axis_floor_bands_and_line_bands(patient: dict[str, pl.DataFrame]) -> None:
    figure = virtual_patient_figure(**patient)
    assert figure.layout.yaxis.type == "log"
    shapes = figure.layout.shapes
    horizontal = [s for s in shapes if s.xref == "x domain" or s.xref == "paper"]
    assert len(horizontal) == patient["floors"].height + 1  # one band above each floor + below
    assert len(shapes) - len(horizontal) == patient["lines"].height
    names = {t.name for t in figure.data}
    assert {"Myeloma cells (true burden)", "SPEP result", "IFE positive", "Relapse"} <= names
    assert "SPEP: seen, too small to measure" in names


def test_below_floor_results_are_drawn_at_the_floor_never_at_zero(
    patient: dict[str, pl.DataFrame],
) -> None:
    figure = virtual_patient_figure(**patient)
    below = next(t for t in figure.data if t.name == "SPEP: seen, too small to measure")
    floor = patient["floors"].filter(pl.col("floor") == "spep")["value"][0]
    assert list(below.y) == [floor]


def test_missing_column_names_the_column(patient: dict[str, pl.DataFrame]) -> None:
    broken = {**patient, "trajectory": patient["trajectory"].drop("tumour_burden")}
    with pytest.raises(SchemaError, match="tumour_burden"):
        virtual_patient_figure(**broken)
