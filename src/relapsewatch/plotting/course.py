"""The patient-course chart: one person's own results over time, with their lines and relapses.

A pure function from the patient's canonical measurements and the derived ``lines``,
``relapses`` and ``responses`` tables (DESIGN.md, "Derived tables") to a Plotly figure. It
computes no clinical fact: it draws the ones the course engine derived.

What the chart shows:

* the marker the person is followed by (serum M-protein, else the involved free light chain,
  else urine M-protein; see :func:`choose_marker`), as a line with points; a result that was
  detected but too small to measure is drawn at its limit with an open circle, never at 0;
* each line of therapy as a shaded band labelled "Line N" with its regimen;
* each confirmed relapse as a dashed vertical line labelled "Relapse N", with the criterion that
  confirmed it on hover;
* each change of confirmed response (e.g. to "very good partial response");
* rises that are not yet confirmed (a single PD assessment awaiting its second test) as open
  diamonds named so in the legend;
* hover: date and value with its unit on every point.

:func:`course_figure_spec` returns the figure as a plain dict (what Plotly.js takes; cheap to
build and to serialise); :func:`course_figure` wraps it in a validated ``go.Figure``.

>>> import datetime as dt
>>> import polars as pl
>>> m = pl.DataFrame(
...     {"patient_id": ["p1"] * 2, "date": [dt.date(2020, 1, 1), dt.date(2020, 2, 1)],
...      "test": ["serum_m_protein"] * 2, "value": [3.1, 1.2], "unit": ["g/dL"] * 2},
... )
>>> spec = course_figure_spec(m, None, None, None)
>>> spec["data"][0]["name"], spec["data"][0]["y"]
('Serum M-protein', [3.1, 1.2])
>>> course_figure_spec(m, None, None, None, log_scale=True)["layout"]["yaxis"]["type"]
'log'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
import polars as pl

__all__ = [
    "MARKER_TESTS",
    "RESPONSE_WORDS",
    "choose_marker",
    "course_figure",
    "course_figure_spec",
]

#: Tests the chart can follow, in order of preference, with their label and unit.
MARKER_TESTS: Mapping[str, tuple[str, str]] = {
    "serum_m_protein": ("Serum M-protein", "g/dL"),
    "flc_kappa": ("Kappa free light chain", "mg/L"),
    "flc_lambda": ("Lambda free light chain", "mg/L"),
    "urine_m_protein": ("Urine M-protein", "mg/24h"),
}

#: IMWG response categories in plain words (hover and legend text).
RESPONSE_WORDS: Mapping[str, str] = {
    "sCR": "stringent complete response",
    "CR": "complete response",
    "VGPR": "very good partial response",
    "PR": "partial response",
    "MR": "minimal response",
    "SD": "stable disease",
    "PD": "progressive disease",
    "NE": "not able to assess",
}

# IMWG M1: serum M-protein >= 0.5 g/dL is measurable; below it, follow FLC if it is measurable.
_MEASURABLE_SERUM_G_DL = 0.5
# IMWG M1: involved FLC >= 10 mg/dL (100 mg/L) is measurable.
_MEASURABLE_FLC_MG_L = 100.0

_BAND_COLOURS = ("rgba(31, 119, 180, 0.10)", "rgba(44, 160, 44, 0.10)")
_CURVE = "#1f4e8c"
_RELAPSE = "#b2182b"
_UNCONFIRMED = "#b35806"
_RESPONSE = "#1a7a3a"
_DETECTED = "detected_nonquantifiable"
_ONGOING_MIN = dt.timedelta(days=30)


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def _long_date(day: dt.date) -> str:
    return f"{day.day} {day:%b %Y}"


def _number(value: float) -> str:
    return f"{value:.6g}"


def choose_marker(measurements: pl.DataFrame, *, light_chain: str | None = None) -> str | None:
    """The test the chart follows for this person (``None`` when they have none of them).

    Serum M-protein when it was ever measurable (>= 0.5 g/dL, IMWG M1); else the involved
    free light chain (``light_chain``, or the larger one when it is unknown) when it was ever
    measurable (>= 100 mg/L); else whichever of these tests has the most numeric results.

    >>> import datetime as dt
    >>> m = pl.DataFrame({"test": ["serum_m_protein", "flc_kappa"], "value": [0.2, 450.0]})
    >>> choose_marker(m)
    'flc_kappa'
    """
    numeric = measurements.filter(
        pl.col("test").is_in(list(MARKER_TESTS)) & pl.col("value").is_not_null()
    )
    if numeric.height == 0:
        return None
    peaks = dict(numeric.group_by("test").agg(pl.col("value").max()).iter_rows())
    counts = dict(numeric.group_by("test").len().iter_rows())
    if peaks.get("serum_m_protein", 0.0) >= _MEASURABLE_SERUM_G_DL:
        return "serum_m_protein"
    flc = [f"flc_{light_chain}"] if light_chain in ("kappa", "lambda") else []
    flc = flc or sorted(
        (t for t in ("flc_kappa", "flc_lambda") if t in peaks), key=lambda t: -peaks[t]
    )
    if flc and peaks.get(flc[0], 0.0) >= _MEASURABLE_FLC_MG_L:
        return flc[0]
    return max(MARKER_TESTS, key=lambda t: (counts.get(t, 0), -list(MARKER_TESTS).index(t)))


def _marker_points(measurements: pl.DataFrame, marker: str, unit: str) -> pl.DataFrame:
    """Date, y, hover text and kind (measured / below limit) of every marker result."""
    has_result = "result" in measurements.columns
    has_limit = "limit" in measurements.columns
    rows = measurements.filter(pl.col("test") == marker)
    result = pl.col("result") if has_result else pl.lit(None, pl.String)
    limit = pl.col("limit") if has_limit else pl.lit(None, pl.Float64)
    below = result == _DETECTED
    return (
        rows.select(
            pl.col("date"),
            pl.when(below).then(limit).otherwise(pl.col("value")).alias("y"),
            below.fill_null(False).alias("below"),
        )
        .filter(pl.col("y").is_not_null())
        .sort("date")
        .with_columns(
            pl.when(pl.col("below"))
            .then(
                pl.lit("detected, too small to measure (below ")
                + pl.col("y").map_elements(_number, return_dtype=pl.String)
                + pl.lit(f" {unit})")
            )
            .otherwise(
                pl.col("y").map_elements(_number, return_dtype=pl.String) + pl.lit(f" {unit}")
            )
            .alias("text")
        )
    )


def _at_dates(points: pl.DataFrame, events: pl.DataFrame, date_column: str) -> pl.DataFrame:
    """``events`` with ``y``: the marker value on that date, or the last one before it."""
    measured = points.select(pl.col("date").alias("__on"), pl.col("y")).sort("__on")
    keyed = events.with_columns(pl.col(date_column).alias("__on")).sort("__on")
    return keyed.join_asof(measured, on="__on", strategy="backward").drop("__on")


def _last_day(*frames: tuple[pl.DataFrame | None, str]) -> dt.date | None:
    days: list[dt.date] = []
    for frame, column in frames:
        if frame is not None and frame.height and column in frame.columns:
            latest = frame.get_column(column).max()
            if isinstance(latest, dt.date):
                days.append(latest)
    return max(days) if days else None


def _line_shapes(
    lines: pl.DataFrame, until: dt.date | None, labels: Mapping[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for i, (number, start, end, regimen) in enumerate(
        lines.sort("line").select("line", "start_date", "end_date", "regimen").iter_rows()
    ):
        stop = end if end is not None else until
        if end is None and (stop is None or stop < start + _ONGOING_MIN):
            stop = start + _ONGOING_MIN  # an ongoing line that just started stays visible
        if stop is None or stop < start:
            stop = start
        name = labels.get(regimen, str(regimen).replace("+", " + ")) if regimen else ""
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": _iso(start),
                "x1": _iso(stop),
                "y0": 0,
                "y1": 1,
                "fillcolor": _BAND_COLOURS[i % 2],
                "line": {"width": 0},
                "layer": "below",
            }
        )
        notes.append(
            {
                "x": _iso(start),
                "xref": "x",
                "xanchor": "left",
                "y": 1.0 if i % 2 == 0 else 1.07,
                "yref": "paper",
                "yanchor": "bottom",
                "showarrow": False,
                "align": "left",
                "font": {"size": 11},
                "text": f"Line {number}: {name}" if name else f"Line {number}",
                "hovertext": (
                    f"Line {number}: {name}, from {_long_date(start)}"
                    + (f" to {_long_date(end)}" if end is not None else " (ongoing)")
                ),
            }
        )
    return shapes, notes


def _relapse_marks(
    relapses: pl.DataFrame, points: pl.DataFrame
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None]:
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    if relapses.height == 0:
        return shapes, notes, None
    ordered = relapses.sort("relapse_number")
    for number, day in ordered.select("relapse_number", "date").iter_rows():
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": _iso(day),
                "x1": _iso(day),
                "y0": 0,
                "y1": 1,
                "line": {"color": _RELAPSE, "width": 2, "dash": "dash"},
            }
        )
        notes.append(
            {
                "x": _iso(day),
                "xref": "x",
                "xanchor": "right",
                "y": 0.98,
                "yref": "paper",
                "yanchor": "top",
                "showarrow": False,
                "font": {"size": 11, "color": _RELAPSE},
                "text": f"Relapse {number}",
            }
        )
    placed = _at_dates(points, ordered, "date").filter(pl.col("y").is_not_null())
    if placed.height == 0:
        return shapes, notes, None
    criterion = (
        pl.col("criterion").fill_null("")
        if "criterion" in placed.columns
        else pl.lit("", pl.String)
    )
    hover = placed.select(
        pl.format("Relapse {}", pl.col("relapse_number")).alias("title"), criterion.alias("why")
    )
    trace = {
        "type": "scatter",
        "mode": "markers",
        "name": "Relapse (confirmed)",
        "x": [_iso(d) for d in placed.get_column("date").to_list()],
        "y": placed.get_column("y").to_list(),
        "customdata": [[t, w] for t, w in hover.iter_rows()],
        "marker": {"symbol": "x", "size": 12, "color": _RELAPSE},
        "hovertemplate": "%{x|%-d %b %Y}<br>%{customdata[0]}<br>%{customdata[1]}<extra></extra>",
    }
    return shapes, notes, trace


def _response_traces(responses: pl.DataFrame, points: pl.DataFrame) -> list[dict[str, Any]]:
    traces: list[dict[str, Any]] = []
    if responses.height == 0 or points.height == 0:
        return traces
    ordered = responses.sort("date")
    confirmed = ordered.filter(pl.col("confirmed").fill_null(False))
    # Only where the confirmed response changes, so ten years of monthly results stay readable.
    changes = confirmed.filter(
        pl.col("response") != pl.col("response").shift(1).fill_null("")
    ).filter(pl.col("response") != "PD")
    placed = _at_dates(points, changes, "date").filter(pl.col("y").is_not_null())
    if placed.height:
        words = [RESPONSE_WORDS.get(r, r) for r in placed.get_column("response").to_list()]
        traces.append(
            {
                "type": "scatter",
                "mode": "markers+text",
                "name": "Response (confirmed)",
                "x": [_iso(d) for d in placed.get_column("date").to_list()],
                "y": placed.get_column("y").to_list(),
                "text": placed.get_column("response").to_list(),
                "textposition": "top center",
                "textfont": {"size": 10, "color": _RESPONSE},
                "customdata": words,
                "marker": {"symbol": "triangle-down", "size": 9, "color": _RESPONSE},
                "hovertemplate": "%{x|%-d %b %Y}<br>Response: %{customdata}<extra></extra>",
            }
        )
    rises = ordered.filter((pl.col("response") == "PD") & ~pl.col("confirmed").fill_null(False))
    placed_rises = _at_dates(points, rises, "date").filter(pl.col("y").is_not_null())
    if placed_rises.height:
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "Rise not yet confirmed",
                "x": [_iso(d) for d in placed_rises.get_column("date").to_list()],
                "y": placed_rises.get_column("y").to_list(),
                "marker": {
                    "symbol": "diamond-open",
                    "size": 13,
                    "color": _UNCONFIRMED,
                    "line": {"width": 2},
                },
                "hovertemplate": (
                    "%{x|%-d %b %Y}<br>A rise that is not yet confirmed."
                    "<br>It needs a second test to confirm it.<extra></extra>"
                ),
            }
        )
    return traces


def course_figure_spec(
    measurements: pl.DataFrame,
    lines: pl.DataFrame | None,
    relapses: pl.DataFrame | None,
    responses: pl.DataFrame | None,
    *,
    marker: str | None = None,
    light_chain: str | None = None,
    log_scale: bool = False,
    regimen_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The course chart as a Plotly figure dict (``{"data": [...], "layout": {...}}``).

    Parameters
    ----------
    measurements:
        The person's canonical measurements (columns ``date``, ``test``, ``value``; ``result``
        and ``limit`` when present mark results too small to measure).
    lines, relapses, responses:
        The person's rows of the derived tables (``None`` or empty when there are none).
    marker:
        The test to draw; :func:`choose_marker` picks one by default.
    light_chain:
        The person's light chain (``kappa``/``lambda``), to pick the involved free light chain.
    log_scale:
        Draw the values on a log axis (useful when they span several powers of ten).
    regimen_labels:
        Optional shorter names for regimens (``"bortezomib+dexamethasone+lenalidomide"`` ->
        ``"VRd"``); the regimen's drug names are used otherwise.
    """
    chosen = marker or choose_marker(measurements, light_chain=light_chain)
    label, unit = MARKER_TESTS.get(chosen or "", ("Result", ""))
    points = (
        _marker_points(measurements, chosen, unit)
        if chosen
        else pl.DataFrame(
            schema={"date": pl.Date, "y": pl.Float64, "below": pl.Boolean, "text": pl.String}
        )
    )
    until = _last_day((measurements, "date"), (lines, "end_date"), (lines, "start_date"))
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    traces: list[dict[str, Any]] = []
    if lines is not None and lines.height:
        band_shapes, band_notes = _line_shapes(lines, until, regimen_labels or {})
        shapes += band_shapes
        notes += band_notes
    measured = points.filter(~pl.col("below"))
    below = points.filter(pl.col("below"))
    traces.append(
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": label,
            "x": [_iso(d) for d in points.get_column("date").to_list()],
            "y": points.get_column("y").to_list(),
            "customdata": points.get_column("text").to_list(),
            "line": {"color": _CURVE, "width": 2},
            "marker": {"size": 6, "color": _CURVE},
            "hovertemplate": "%{x|%-d %b %Y}<br>%{customdata}<extra></extra>",
        }
    )
    if below.height and measured.height != points.height:
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "Too small to measure",
                "x": [_iso(d) for d in below.get_column("date").to_list()],
                "y": below.get_column("y").to_list(),
                "customdata": below.get_column("text").to_list(),
                "marker": {"symbol": "circle-open", "size": 10, "color": _CURVE},
                "hovertemplate": "%{x|%-d %b %Y}<br>%{customdata}<extra></extra>",
            }
        )
    if responses is not None:
        traces += _response_traces(responses, points)
    if relapses is not None:
        relapse_shapes, relapse_notes, relapse_trace = _relapse_marks(relapses, points)
        shapes += relapse_shapes
        notes += relapse_notes
        if relapse_trace is not None:
            traces.append(relapse_trace)
    layout: dict[str, Any] = {
        "autosize": True,
        "height": 420,
        "margin": {"l": 56, "r": 16, "t": 56, "b": 40},
        "font": {"family": "system-ui, sans-serif", "size": 13, "color": "#1b1b1b"},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "hovermode": "closest",
        "showlegend": True,
        "legend": {"orientation": "h", "x": 0, "y": -0.15, "yanchor": "top"},
        "xaxis": {"type": "date", "gridcolor": "#e5e5e5"},
        "yaxis": {
            "type": "log" if log_scale else "linear",
            "title": {"text": f"{label} ({unit})" if unit else label},
            "gridcolor": "#e5e5e5",
            "rangemode": "tozero",
        },
        "shapes": shapes,
        "annotations": notes,
    }
    return {"data": traces, "layout": layout}


def course_figure(
    measurements: pl.DataFrame,
    lines: pl.DataFrame | None,
    relapses: pl.DataFrame | None,
    responses: pl.DataFrame | None,
    **options: Any,
) -> go.Figure:
    """The course chart as a validated ``go.Figure`` (see :func:`course_figure_spec`)."""
    return go.Figure(course_figure_spec(measurements, lines, relapses, responses, **options))
