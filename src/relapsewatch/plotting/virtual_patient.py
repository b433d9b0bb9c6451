"""The "why does it come back" figure of one (virtual) patient.

True tumour burden on a log scale, with the detection floors of SPEP, immunofixation and MRD as
shaded bands: treatment pushes the burden below what SPEP and then IFE can see, cells survive
below the floors, and they regrow until the tests see them again. Lab results, lines of therapy
(bands) and relapses (markers) are drawn on top. The function draws what it is given and
computes nothing clinical.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import plotly.graph_objects as go
import polars as pl

from relapsewatch.schema import require_columns

__all__ = ["virtual_patient_figure"]

_LINE_COLOURS = ("rgba(31,119,180,0.07)", "rgba(255,127,14,0.08)")
_BAND_COLOURS = {
    "spep": "rgba(44,160,44,0.10)",
    "ife": "rgba(148,103,189,0.10)",
    "mrd": "rgba(140,86,75,0.10)",
    "below": "rgba(127,127,127,0.10)",
}


def _bands(floors: pl.DataFrame, bottom: float, top: float) -> list[tuple[float, float, str, str]]:
    """Horizontal bands between consecutive floors, highest first."""
    ordered = floors.sort("value", descending=True).rows(named=True)
    bands = []
    upper = top
    for floor in ordered:
        kind = str(floor["floor"]).split("_")[0]
        bands.append(
            (
                float(floor["value"]),
                upper,
                _BAND_COLOURS.get(kind, "rgba(0,0,0,0.05)"),
                str(floor["label"]),
            )
        )
        upper = float(floor["value"])
    bands.append((bottom, upper, _BAND_COLOURS["below"], "No test can see the cells here"))
    return bands


def virtual_patient_figure(
    trajectory: pl.DataFrame,
    measurements: pl.DataFrame,
    lines: pl.DataFrame,
    floors: pl.DataFrame,
    relapses: pl.DataFrame | None = None,
    *,
    title: str | None = None,
    marker_label: str = "M-protein (g/dL)",
    marker_test: str = "serum_m_protein",
) -> go.Figure:
    """A Plotly figure of one patient's course.

    Parameters
    ----------
    trajectory:
        ``date``, ``tumour_burden`` and ``paraprotein`` (see
        :func:`relapsewatch.simulate.trajectory.latent_trajectory`).
    measurements:
        Canonical measurements of the patient (``date``, ``test``, ``value``, ``result``,
        ``sensitivity``); serum M-protein or involved FLC numbers are drawn as points, results
        below the quantitation limit at the limit, immunofixation and MRD results at their floors.
    lines:
        ``line``, ``start_date``, ``end_date``, ``regimen``: drawn as bands.
    floors:
        ``floor``, ``value``, ``label`` (see
        :func:`relapsewatch.simulate.trajectory.detection_floors`).
    relapses:
        Optional ``date`` and ``relapse_number``: drawn as markers on the burden curve.
    marker_label:
        Axis title of the marker scale.
    marker_test:
        The measured test drawn as points on the marker scale (``flc_kappa`` or ``flc_lambda``
        for light-chain disease).
    """
    require_columns(trajectory, ("date", "tumour_burden", "paraprotein"), table="trajectory")
    require_columns(measurements, ("date", "test", "value", "result"), table="measurements")
    require_columns(lines, ("line", "start_date", "end_date", "regimen"), table="lines")
    require_columns(floors, ("floor", "value", "label"), table="floors")
    figure = go.Figure()
    values = pl.concat([trajectory["tumour_burden"], trajectory["paraprotein"]])
    low = min(
        _number(floors["value"].min()) / 10.0, _number(trajectory["tumour_burden"].min()) / 2.0
    )
    high = _number(values.max()) * 3.0
    for bottom, top, colour, label in _bands(floors, low, high):
        figure.add_hrect(y0=bottom, y1=top, fillcolor=colour, line_width=0, layer="below")
        # on a log axis Plotly places annotations in log10 units
        figure.add_annotation(
            x=1.0,
            xref="paper",
            xanchor="right",
            y=math.log10(top),
            yref="y",
            yanchor="top",
            text=label,
            showarrow=False,
            font={"size": 10, "color": "#555"},
        )
    for index, line in enumerate(lines.sort("line").iter_rows(named=True)):
        figure.add_vrect(
            x0=line["start_date"],
            x1=line["end_date"],
            fillcolor=_LINE_COLOURS[index % 2],
            line_width=0,
            layer="below",
            annotation_text=f"Line {line['line']}: {line['regimen']}",
            annotation_position="top left",
            annotation_font_size=9,
            annotation_textangle=-90,
        )
    figure.add_trace(
        go.Scatter(
            x=trajectory["date"],
            y=trajectory["tumour_burden"],
            mode="lines",
            name="Myeloma cells (true burden)",
            line={"color": "#d62728", "width": 2.5},
        )
    )
    figure.add_trace(
        go.Scatter(
            x=trajectory["date"],
            y=trajectory["paraprotein"],
            mode="lines",
            name="M-protein in the blood (true level)",
            line={"color": "#1f77b4", "width": 1.5, "dash": "dot"},
        )
    )
    _add_results(figure, measurements, floors, marker_test)
    if relapses is not None and relapses.height:
        require_columns(relapses, ("date", "relapse_number"), table="relapses")
        points = relapses.sort("date").join_asof(
            trajectory.sort("date"), on="date", strategy="nearest"
        )
        figure.add_trace(
            go.Scatter(
                x=points["date"],
                y=points["tumour_burden"],
                mode="markers+text",
                text=[f"Relapse {n}" for n in points["relapse_number"]],
                textposition="top center",
                name="Relapse",
                marker={"symbol": "x", "size": 12, "color": "black"},
            )
        )
    figure.update_yaxes(
        type="log", title=marker_label, range=_log_range(low, high), exponentformat="power"
    )
    figure.update_xaxes(title="Date")
    figure.update_layout(
        title=title,
        template="plotly_white",
        legend={"orientation": "h", "y": -0.2},
        margin={"t": 60, "r": 20, "l": 70, "b": 80},
    )
    return figure


def _number(value: object) -> float:
    return float(cast(float, value))


def _log_range(low: float, high: float) -> Sequence[float]:
    return [math.log10(low), math.log10(high)]


def _add_results(
    figure: go.Figure, measurements: pl.DataFrame, floors: pl.DataFrame, marker_test: str
) -> None:
    floor_of = dict(zip(floors["floor"].to_list(), floors["value"].to_list(), strict=True))
    spep = measurements.filter(pl.col("test") == marker_test)
    numbers = spep.filter(pl.col("value").is_not_null() & (pl.col("value") > 0))
    if numbers.height:
        name = "SPEP result" if marker_test == "serum_m_protein" else "Free light chain result"
        figure.add_trace(
            go.Scatter(
                x=numbers["date"],
                y=numbers["value"],
                mode="markers",
                name=name,
                marker={"color": "#1f77b4", "size": 6},
            )
        )
    unseen = spep.filter(pl.col("value") == 0)
    if unseen.height and "ife" in floor_of:
        figure.add_trace(
            go.Scatter(
                x=unseen["date"],
                y=[floor_of["ife"]] * unseen.height,
                mode="markers",
                name="SPEP: no M-protein band seen",
                marker={"color": "#1f77b4", "size": 5, "symbol": "circle-open"},
            )
        )
    below = spep.filter(pl.col("result") == "detected_nonquantifiable")
    if below.height and "spep" in floor_of:
        figure.add_trace(
            go.Scatter(
                x=below["date"],
                y=[floor_of["spep"]] * below.height,
                mode="markers",
                name="SPEP: seen, too small to measure",
                marker={"color": "#1f77b4", "size": 7, "symbol": "triangle-down-open"},
            )
        )
    if "ife" in floor_of:
        ife = measurements.filter(pl.col("test") == "serum_ife")
        for result, symbol, name in (
            ("positive", "diamond", "IFE positive"),
            ("negative", "diamond-open", "IFE negative"),
        ):
            part = ife.filter(pl.col("result") == result)
            if part.height:
                figure.add_trace(
                    go.Scatter(
                        x=part["date"],
                        y=[floor_of["ife"]] * part.height,
                        mode="markers",
                        name=name,
                        marker={"color": "#9467bd", "size": 7, "symbol": symbol},
                    )
                )
    if "sensitivity" in measurements.columns:
        mrd = measurements.filter(pl.col("test") == "mrd")
        for result, symbol, name in (
            ("positive", "square", "MRD positive"),
            ("negative", "square-open", "MRD negative"),
        ):
            part = mrd.filter(pl.col("result") == result)
            if part.height:
                level = [
                    floor_of.get("mrd_1e-6" if s is not None and s < 5e-6 else "mrd_1e-5")
                    for s in part["sensitivity"].to_list()
                ]
                figure.add_trace(
                    go.Scatter(
                        x=part["date"],
                        y=level,
                        mode="markers",
                        name=name,
                        marker={"color": "#8c564b", "size": 8, "symbol": symbol},
                    )
                )
