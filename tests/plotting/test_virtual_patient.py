"""The "why does it come back" figure draws what it is given, on a log scale with floors, with
short labels that fit a phone, the regimens in words on hover and no HTML markup in any text."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import numpy as np
import plotly.graph_objects as go
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from relapsewatch.errors import SchemaError
from relapsewatch.plotting import virtual_patient as module
from relapsewatch.plotting import virtual_patient_figure
from relapsewatch.plotting.virtual_patient import regimen_in_words
from relapsewatch.simulate import simulate_cohort
from relapsewatch.simulate.trajectory import detection_floors, latent_trajectory
from relapsewatch.vocab.drugs import DRUGS

D = dt.date
SUPPORTIVE = sorted(name for name, drug in DRUGS.items() if "supportive" in drug.classes)
MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z][^<>]*>")


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


def _course() -> dict[str, pl.DataFrame]:
    """A hand-written course: a deep first remission, two relapses three weeks apart, a
    three-week second line and an ongoing third line."""
    dates = [D(2020, 1, 1) + dt.timedelta(days=7 * week) for week in range(157)]
    knots = {  # the burden falls, regrows to two relapses, falls again and regrows
        D(2020, 1, 1): 3.0,
        D(2020, 7, 1): 1e-4,
        D(2021, 5, 10): 0.5,
        D(2021, 5, 31): 0.8,
        D(2021, 6, 22): 1.0,
        D(2021, 12, 1): 1e-5,
        D(2023, 1, 1): 1e-4,
    }
    days = np.array([(d - dates[0]).days for d in dates], dtype=np.float64)
    at = np.array([(d - dates[0]).days for d in knots], dtype=np.float64)
    burden = 10.0 ** np.interp(days, at, np.log10(list(knots.values())))
    return {
        "trajectory": pl.DataFrame(
            {"date": dates, "tumour_burden": burden, "paraprotein": np.maximum(1.2 * burden, 2e-3)}
        ),
        "measurements": pl.DataFrame(
            schema={"date": pl.Date, "test": pl.String, "value": pl.Float64, "result": pl.String}
        ),
        "lines": pl.DataFrame(
            {
                "line": [1, 2, 3],
                "start_date": [D(2020, 1, 1), D(2021, 6, 1), D(2021, 6, 22)],
                "end_date": [D(2021, 6, 1), D(2021, 6, 22), None],
                "regimen": [
                    "daratumumab+dexamethasone+filgrastim+lenalidomide+melphalan+plerixafor"
                    "+zoledronic acid+autologous_transplant",
                    "carfilzomib+dexamethasone+pegfilgrastim",
                    "teclistamab",
                ],
            },
            schema_overrides={"end_date": pl.Date},
        ),
        "floors": pl.DataFrame(
            {
                "floor": ["spep", "ife", "mrd_1e-5"],
                "value": [0.1, 0.015, 1e-4],
                "label": [
                    "SPEP can measure the M-protein",
                    "Only immunofixation (IFE) can see the M-protein",
                    "Only MRD tests can see the cells (1 in 100,000)",
                ],
            }
        ),
        "relapses": pl.DataFrame(
            {"date": [D(2021, 5, 10), D(2021, 5, 31)], "relapse_number": [1, 2]}
        ),
    }


@pytest.fixture(scope="module")
def course() -> dict[str, pl.DataFrame]:
    return _course()


@pytest.fixture(scope="module")
def figure(course: dict[str, pl.DataFrame]) -> go.Figure:
    return virtual_patient_figure(**course, marker_label="Amount of myeloma (log scale)")


def _texts(node: object) -> Iterator[str]:
    """Every string anywhere in a figure's JSON."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _texts(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _texts(value)


def test_figure_has_a_log_axis_floor_bands_and_line_bands(patient: dict[str, pl.DataFrame]) -> None:
    figure = virtual_patient_figure(**patient)
    assert figure.layout.yaxis.type == "log"
    shapes = figure.layout.shapes
    bands = [s for s in shapes if s.type == "rect" and s.xref == "x domain"]
    floor_lines = [s for s in shapes if s.type == "line"]
    line_bands = [s for s in shapes if s.type == "rect" and s.xref == "x"]
    assert len(bands) == patient["floors"].height + 1  # one band above each floor + below
    assert sorted(s.y0 for s in floor_lines) == sorted(patient["floors"]["value"].to_list())
    assert len(line_bands) == patient["lines"].height
    names = {t.name for t in figure.data}
    assert {"Myeloma cells (true burden)", "SPEP result", "IFE positive"} <= names
    assert "SPEP: seen, too small to measure" in names
    assert any(name.startswith("Relapse") for name in names)


def test_below_floor_results_are_drawn_at_the_floor_never_at_zero(
    patient: dict[str, pl.DataFrame],
) -> None:
    figure = virtual_patient_figure(**patient)
    below = next(t for t in figure.data if t.name == "SPEP: seen, too small to measure")
    floor = patient["floors"].filter(pl.col("floor") == "spep")["value"][0]
    assert list(below.y) == [floor]


def test_results_before_the_modelled_course_stay_in_view(
    patient: dict[str, pl.DataFrame],
) -> None:
    figure = virtual_patient_figure(**patient)
    first, last = (D.fromisoformat(str(x)[:10]) for x in figure.layout.xaxis.range)
    assert first < patient["measurements"]["date"].to_list()[0]
    assert last >= patient["trajectory"]["date"].to_list()[-1]


def test_missing_column_names_the_column(patient: dict[str, pl.DataFrame]) -> None:
    broken = {**patient, "trajectory": patient["trajectory"].drop("tumour_burden")}
    with pytest.raises(SchemaError, match="tumour_burden"):
        virtual_patient_figure(**broken)


def test_line_labels_are_short_horizontal_and_only_on_bands_wide_enough(
    figure: go.Figure,
) -> None:
    labels = [a for a in figure.layout.annotations if a.text.startswith("Line")]
    # line 2 lasts three weeks of three years: too narrow for a label on a phone
    assert [a.text for a in labels] == ["Line 1", "Line 3"]
    assert all(a.textangle in (None, 0) for a in labels)
    assert all(a.yref == "paper" and a.y == 1.0 and a.yanchor == "top" for a in labels)
    assert [str(a.x)[:10] for a in labels] == ["2020-01-01", "2021-06-22"]


def test_regimens_are_in_words_on_hover_without_supportive_drugs(figure: go.Figure) -> None:
    hover = next(t for t in figure.data if t.name == "Lines of therapy")
    assert hover.showlegend is False
    assert set(hover.hovertext) == {
        "Line 1: daratumumab, dexamethasone, lenalidomide, melphalan and a stem cell transplant",
        "Line 2: carfilzomib and dexamethasone",
        "Line 3: teclistamab",
    }
    text = " ".join(_texts(figure.to_plotly_json()))
    assert not [drug for drug in SUPPORTIVE if drug in text]


@pytest.mark.parametrize(
    ("regimen", "words"),
    [
        ("lenalidomide", "lenalidomide"),
        ("dexamethasone+lenalidomide", "dexamethasone and lenalidomide"),
        ("bortezomib+dexamethasone+filgrastim+lenalidomide",
         "bortezomib, dexamethasone and lenalidomide"),
        ("cyclophosphamide+dexamethasone+fludarabine+car_t_infusion",
         "cyclophosphamide, dexamethasone, fludarabine and a CAR-T cell infusion"),
        ("plerixafor+pegfilgrastim", ""),
        ("D-VRd, ASCT, D-R maintenance", "D-VRd, ASCT, D-R maintenance"),
        (None, ""),
    ],
)  # fmt: skip
def test_regimen_in_words(regimen: str | None, words: str) -> None:
    assert regimen_in_words(regimen) == words


DRUG_NAMES = sorted(name for name, drug in DRUGS.items() if drug.kind == "drug")


@given(st.lists(st.sampled_from(DRUG_NAMES), min_size=1, max_size=8))
def test_regimen_in_words_names_each_drug_once_but_no_supportive_one(drugs: list[str]) -> None:
    words = regimen_in_words("+".join(drugs))
    named = [name for name in re.split(r", | and ", words) if name]
    expected = [d for d in dict.fromkeys(drugs) if "supportive" not in DRUGS[d].classes]
    assert named == expected


def test_the_legend_is_horizontal_below_the_plot(figure: go.Figure) -> None:
    legend = figure.layout.legend
    assert legend.orientation == "h"
    assert legend.y < 0 and legend.yanchor == "top"
    assert legend.x == 0 and legend.xanchor == "left"


def test_no_text_in_the_figure_has_html_markup(
    figure: go.Figure, patient: dict[str, pl.DataFrame]
) -> None:
    for drawn in (figure, virtual_patient_figure(**patient, title="Virtual patient")):
        texts = list(_texts(drawn.to_plotly_json()))
        assert [t for t in texts if MARKUP.search(t)] == []
    # powers of ten are written out, so Plotly writes no <sup> for them either
    axis = figure.layout.yaxis
    assert axis.tickmode == "array"
    assert len(axis.ticktext) == len(axis.tickvals)
    assert "10⁻³" in axis.ticktext
    assert all(re.fullmatch(r"1|10|100|10⁻?[⁰¹²³⁴⁵⁶⁷⁸⁹]+", text) for text in axis.ticktext)


def test_relapses_are_x_markers_numbered_r1_r2_apart_from_each_other(figure: go.Figure) -> None:
    markers = next(t for t in figure.data if t.name and t.name.startswith("Relapse"))
    assert markers.marker.symbol == "x"
    assert list(markers.hovertext) == ["Relapse 1, May 2021", "Relapse 2, May 2021"]
    numbers = [a for a in figure.layout.annotations if re.fullmatch(r"R\d+", a.text)]
    assert [a.text for a in numbers] == ["R1", "R2"]
    # three weeks apart: the second label goes to another side of its marker
    placements = {(a.xanchor, a.yanchor, a.xshift, a.yshift) for a in numbers}
    assert len(placements) == 2


def test_floor_labels_sit_at_the_right_edge_inside_their_bands(
    figure: go.Figure, course: dict[str, pl.DataFrame]
) -> None:
    notes = [a for a in figure.layout.annotations if a.xref == "paper"]
    assert all(a.x == 1.0 and a.xanchor == "right" for a in notes)
    assert all(a.font.size <= 10 for a in notes)
    labels = [*course["floors"]["label"], "No test can see the cells here"]
    assert " ".join(a.text for a in notes) == " ".join(labels)
    low, high = figure.layout.yaxis.range
    edges = [high, *np.log10(course["floors"]["value"]), low]
    for label, top, bottom in zip(labels, edges[:-1], edges[1:], strict=True):
        lines_of_label = []
        while " ".join(n.text for n in lines_of_label) != label:
            lines_of_label.append(notes.pop(0))
        assert all(bottom - 1e-9 <= note.y <= top + 1e-9 for note in lines_of_label)


def test_on_a_phone_no_label_overlaps_another_or_the_edge(
    course: dict[str, pl.DataFrame], patient: dict[str, pl.DataFrame]
) -> None:
    for drawn in (course, patient):
        trajectory = drawn["trajectory"].sort("date")
        low = min(
            float(drawn["floors"]["value"].min()) / 10,
            float(trajectory["tumour_burden"].min()) / 2,
        )
        highest = float(pl.concat([trajectory["tumour_burden"], trajectory["paraprotein"]]).max())
        relapses = module._relapse_points(drawn["relapses"], trajectory)
        layouts = [
            module._place_labels(
                trajectory,
                drawn["lines"].sort("line"),
                drawn["floors"],
                relapses,
                [],
                low,
                highest,
                rows,
            )
            for rows in range(module._MAX_EXTRA_ROWS + 1)
        ]
        assert min(layout.cost.clashes for layout in layouts) == 0
