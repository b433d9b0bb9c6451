"""The patient-course chart draws exactly what the derived tables say (hand-written frames)."""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go
import polars as pl

from relapsewatch.plotting.course import choose_marker, course_figure, course_figure_spec

D = dt.date


def _measurements(rows: list[tuple[str, dt.date, str, float | None, str | None, float | None]]):
    return pl.DataFrame(
        rows,
        schema={
            "patient_id": pl.String,
            "date": pl.Date,
            "test": pl.String,
            "value": pl.Float64,
            "result": pl.String,
            "limit": pl.Float64,
        },
        orient="row",
    )


MEASUREMENTS = _measurements(
    [
        ("p", D(2024, 1, 2), "serum_m_protein", 4.0, None, None),
        ("p", D(2024, 2, 1), "serum_m_protein", 1.0, None, None),
        ("p", D(2024, 3, 1), "serum_m_protein", None, "detected_nonquantifiable", 0.1),
        ("p", D(2024, 4, 1), "serum_m_protein", 0.9, None, None),
        ("p", D(2024, 5, 1), "serum_m_protein", 1.6, None, None),
        ("p", D(2024, 6, 1), "serum_m_protein", 2.0, None, None),
        ("p", D(2024, 7, 1), "serum_m_protein", 1.2, None, None),
        ("p", D(2024, 8, 1), "serum_m_protein", 1.9, None, None),
        ("p", D(2024, 1, 2), "calcium", 9.5, None, None),
    ]
)
LINES = pl.DataFrame(
    {
        "patient_id": ["p", "p"],
        "line": [1, 2],
        "start_date": [D(2024, 1, 5), D(2024, 6, 10)],
        "end_date": [D(2024, 6, 3), None],
        "regimen": ["dexamethasone+lenalidomide", "carfilzomib+daratumumab+dexamethasone"],
    }
)
RELAPSES = pl.DataFrame(
    {
        "patient_id": ["p"],
        "relapse_number": [1],
        "date": [D(2024, 5, 1)],
        "confirmed_date": [D(2024, 6, 1)],
        "criterion": ["serum M-protein 0.9 -> 1.6 g/dL (+78% from nadir)"],
    }
)
RESPONSES = pl.DataFrame(
    {
        "patient_id": ["p"] * 6,
        "date": [
            D(2024, 2, 1),
            D(2024, 3, 1),
            D(2024, 4, 1),
            D(2024, 5, 1),
            D(2024, 6, 1),
            D(2024, 8, 1),
        ],
        "response": ["PR", "VGPR", "VGPR", "PD", "PD", "PD"],
        "confirmed": [True, True, True, True, True, False],
    }
)


def _spec(**options: object) -> dict:
    return course_figure_spec(MEASUREMENTS, LINES, RELAPSES, RESPONSES, **options)


def _trace(spec: dict, name: str) -> dict:
    return next(t for t in spec["data"] if t["name"] == name)


def test_the_spec_is_a_valid_plotly_figure() -> None:
    figure = course_figure(MEASUREMENTS, LINES, RELAPSES, RESPONSES)
    assert isinstance(figure, go.Figure)
    assert figure.layout.yaxis.type == "linear"


def test_each_line_is_a_band_labelled_with_its_regimen() -> None:
    spec = _spec(regimen_labels={"dexamethasone+lenalidomide": "Rd"})
    bands = [s for s in spec["layout"]["shapes"] if s["type"] == "rect"]
    assert (bands[0]["x0"], bands[0]["x1"]) == ("2024-01-05", "2024-06-03")
    labels = [a["text"] for a in spec["layout"]["annotations"]]
    assert "Line 1: Rd" in labels
    assert "Line 2: carfilzomib + daratumumab + dexamethasone" in labels


def test_an_ongoing_line_reaches_the_last_result() -> None:
    bands = [s for s in _spec()["layout"]["shapes"] if s["type"] == "rect"]
    assert bands[1]["x0"] == "2024-06-10"
    assert bands[1]["x1"] == "2024-08-01"


def test_each_relapse_is_marked_and_numbered_with_its_criterion_on_hover() -> None:
    spec = _spec()
    dashes = [s for s in spec["layout"]["shapes"] if s["type"] == "line"]
    assert [d["x0"] for d in dashes] == ["2024-05-01"]
    assert "Relapse 1" in [a["text"] for a in spec["layout"]["annotations"]]
    marks = _trace(spec, "Relapse (confirmed)")
    assert marks["y"] == [1.6]
    assert marks["customdata"][0][1].startswith("serum M-protein 0.9 -> 1.6")


def test_a_rise_not_yet_confirmed_is_drawn_as_such() -> None:
    rises = _trace(_spec(), "Rise not yet confirmed")
    assert rises["x"] == ["2024-08-01"]
    assert "not yet confirmed" in rises["hovertemplate"]


def test_response_changes_are_shown_once_each() -> None:
    responses = _trace(_spec(), "Response (confirmed)")
    assert responses["text"] == ["PR", "VGPR"]
    assert responses["customdata"] == ["partial response", "very good partial response"]


def test_a_result_too_small_to_measure_is_drawn_at_its_limit_never_at_zero() -> None:
    spec = _spec()
    curve = spec["data"][0]
    assert 0 not in curve["y"] and 0.0 not in curve["y"]
    below = _trace(spec, "Too small to measure")
    assert below["y"] == [0.1]
    assert below["customdata"] == ["detected, too small to measure (below 0.1 g/dL)"]


def test_hover_shows_value_with_unit_and_the_date() -> None:
    curve = _spec()["data"][0]
    assert curve["customdata"][0] == "4 g/dL"
    assert "%{x|" in curve["hovertemplate"]


def test_log_scale_toggle() -> None:
    assert _spec(log_scale=True)["layout"]["yaxis"]["type"] == "log"


def test_no_derived_course_still_draws_the_results() -> None:
    spec = course_figure_spec(MEASUREMENTS, None, None, None)
    assert [t["name"] for t in spec["data"]] == ["Serum M-protein", "Too small to measure"]
    assert spec["layout"]["shapes"] == []


def test_marker_is_serum_m_protein_when_measurable_else_involved_flc() -> None:
    assert choose_marker(MEASUREMENTS) == "serum_m_protein"
    light_chain = _measurements(
        [
            ("q", D(2024, 1, 2), "serum_m_protein", 0.2, None, None),
            ("q", D(2024, 1, 2), "flc_kappa", 30.0, None, None),
            ("q", D(2024, 1, 2), "flc_lambda", 420.0, None, None),
        ]
    )
    assert choose_marker(light_chain) == "flc_lambda"
    assert choose_marker(light_chain, light_chain="kappa") == "serum_m_protein"
    assert choose_marker(MEASUREMENTS.filter(pl.col("test") == "calcium")) is None
