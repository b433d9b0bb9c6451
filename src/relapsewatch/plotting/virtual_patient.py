"""The "why does it come back" figure of one (virtual) patient.

True tumour burden on a log scale, with the detection floors of SPEP, immunofixation and MRD as
shaded bands: treatment pushes the burden below what SPEP and then IFE can see, cells survive
below the floors, and they regrow until the tests see them again. Lab results, lines of therapy
(bands) and relapses (markers) are drawn on top. The function draws what it is given and
computes nothing clinical.

The web app shows the figure about 530 px wide on a desktop and 325 px wide on a phone, and its
Content-Security-Policy blocks the inline styles Plotly writes for HTML markup in text. So all
text is plain (powers of ten in Unicode superscripts), labels are short ("Line 2", "R1") with the
details on hover, and the legend sits below the plot. Labels are placed where they cover no curve,
marker or other label on the smallest plot area the app shows (:data:`_PLOT`); what is clear there
is clear on a wider screen too, as the data only move further apart.
"""

from __future__ import annotations

import datetime as dt
import math
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import numpy as np
import plotly.graph_objects as go
import polars as pl

from relapsewatch.schema import require_columns
from relapsewatch.vocab.drugs import DRUGS

__all__ = ["regimen_in_words", "virtual_patient_figure"]

_LINE_FILLS = ("rgba(0,0,0,0.05)", "rgba(0,0,0,0)")
_BAND_COLOURS = {
    "spep": "rgba(44,160,44,0.12)",
    "ife": "rgba(148,103,189,0.12)",
    "mrd": "rgba(140,86,75,0.12)",
    "below": "rgba(127,127,127,0.12)",
}
_BURDEN_LINE = {"color": "#d62728", "width": 2.5}
_PARAPROTEIN_LINE = {"color": "#1f77b4", "width": 1.5, "dash": "dot"}
_TEXT = "#1b1b1b"
_LABEL = "#333333"
_PROCEDURE_WORDS = {
    "autologous_transplant": "a stem cell transplant",
    "allogeneic_transplant": "a donor stem cell transplant",
    "car_t_infusion": "a CAR-T cell infusion",
}
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
#: Rows of headroom above the data tried in turn until every label has a clear place.
_MAX_EXTRA_ROWS = 4


@dataclass(frozen=True, slots=True)
class _PlotArea:
    """The plot area labels are placed on, in px, and the size of label text there."""

    width: float
    height: float
    font: float
    char: float  # a generous mean character width at `font`
    line: float  # the height of one line of text
    pad: float


#: The figure's plot area on a 375 px phone, the smallest the web app shows.
_PLOT = _PlotArea(width=250.0, height=300.0, font=10.0, char=5.6, line=12.0, pad=2.0)

#: A label's box on :data:`_PLOT`, in px from its bottom-left corner: left, right, bottom, top.
_Box = tuple[float, float, float, float]
_Key = TypeVar("_Key")


def regimen_in_words(regimen: str | None) -> str:
    """A line's regimen as "a, b and c", without supportive drugs (filgrastim, plerixafor, ...).

    Takes the ``+``-joined canonical therapies of a line; any other text (a regimen's short name
    such as ``D-VRd, ASCT``) is returned as written.

    >>> regimen_in_words("daratumumab+dexamethasone+filgrastim+lenalidomide")
    'daratumumab, dexamethasone and lenalidomide'
    >>> regimen_in_words("carfilzomib+plerixafor"), regimen_in_words("D-VRd, ASCT")
    ('carfilzomib', 'D-VRd, ASCT')
    """
    if not regimen:
        return ""
    parts = [part.strip() for part in regimen.split("+")]
    if not all(part in DRUGS for part in parts):
        return regimen.strip()
    kept = [p for p in dict.fromkeys(parts) if "supportive" not in DRUGS[p].classes]
    words = [_PROCEDURE_WORDS.get(p, p.replace("_", " ")) for p in kept]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def _power_of_ten(power: int) -> str:
    """``-3`` -> ``10⁻³``, with ``1``, ``10`` and ``100`` written out.

    >>> _power_of_ten(-5), _power_of_ten(0), _power_of_ten(4)
    ('10⁻⁵', '1', '10⁴')
    """
    if 0 <= power <= 2:
        return str(10**power)
    return "10" + str(power).translate(_SUPERSCRIPT)


def _wrap_in_two(label: str, *, longest: int = 22) -> tuple[str, ...]:
    """A label on one line when short, else on two lines of about equal length.

    >>> _wrap_in_two("No test can see the cells here")
    ('No test can see', 'the cells here')
    >>> _wrap_in_two("IFE can see it")
    ('IFE can see it',)
    """
    if len(label) <= longest:
        return (label,)
    width = math.ceil(len(label) / 2)
    while len(lines := textwrap.wrap(label, width)) > 2:
        width += 1
    return tuple(lines)


@dataclass(frozen=True, slots=True)
class _Scale:
    """Where dates and values land on :data:`_PLOT`, in px from its bottom-left corner."""

    start: dt.date
    end: dt.date
    log_low: float
    log_high: float

    def x(self, dates: Iterable[dt.date]) -> np.ndarray:
        days = max((self.end - self.start).days, 1)
        offsets = np.array([(d - self.start).days for d in dates], dtype=np.float64)
        return offsets / days * _PLOT.width

    def y(self, values: Iterable[float]) -> np.ndarray:
        logs = np.log10(np.asarray(list(values), dtype=np.float64))
        return (logs - self.log_low) / (self.log_high - self.log_low) * _PLOT.height

    def value_at(self, px_from_top: float) -> float:
        """The value drawn ``px_from_top`` below the top of the plot area."""
        span = self.log_high - self.log_low
        return float(10.0 ** (self.log_high - px_from_top / _PLOT.height * span))


def _path_points(x: np.ndarray, y: np.ndarray, *, step: float = 2.0) -> np.ndarray:
    """Points every ``step`` px along a drawn curve, so that steep falls leave no gaps."""
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 2:
        return np.column_stack([x, y])
    along = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    at = np.arange(0.0, along[-1] + step, step)
    return np.column_stack([np.interp(at, along, x), np.interp(at, along, y)])


@dataclass(frozen=True, order=True, slots=True)
class _Cost:
    """What labels cover, worst first: other labels or the plot's edge, then curve points."""

    clashes: int = 0
    covered: int = 0

    def __add__(self, other: _Cost) -> _Cost:
        return _Cost(self.clashes + other.clashes, self.covered + other.covered)


@dataclass
class _Obstacles:
    """What a label must not cover: drawn points (px) and the boxes of labels placed so far."""

    points: np.ndarray
    boxes: list[_Box] = field(default_factory=list)

    def cost(self, box: _Box) -> _Cost:
        left, right, bottom, top = box
        x, y = self.points[:, 0], self.points[:, 1]
        covered = int(((x >= left) & (x <= right) & (y >= bottom) & (y <= top)).sum())
        overlapped = sum(
            left < other_right and other_left < right and bottom < other_top and other_bottom < top
            for other_left, other_right, other_bottom, other_top in self.boxes
        )
        inside = left >= 0 and right <= _PLOT.width and bottom >= 0 and top <= _PLOT.height
        return _Cost(overlapped + (0 if inside else 1), covered)

    def best(self, candidates: Mapping[_Key, _Box]) -> tuple[_Key, _Cost]:
        """The first candidate that costs nothing, else the cheapest; it takes its box."""
        scored = [
            (self.cost(box), order, key) for order, (key, box) in enumerate(candidates.items())
        ]
        cost, _, key = min(scored, key=lambda s: (s[0], s[1]))
        self.boxes.append(candidates[key])
        return key, cost


@dataclass(frozen=True)
class _Layout:
    """The value axis and every label's annotation, with what the labels still cover."""

    scale: _Scale
    annotations: list[dict[str, Any]]
    cost: _Cost


def _bands(floors: pl.DataFrame, bottom: float, top: float) -> list[tuple[float, float, str, str]]:
    """Horizontal bands between consecutive floors, highest first."""
    ordered = floors.sort("value", descending=True).rows(named=True)
    bands = []
    upper = top
    for floor in ordered:
        kind = str(floor["floor"]).split("_")[0]
        colour = _BAND_COLOURS.get(kind, "rgba(0,0,0,0.05)")
        bands.append((float(floor["value"]), upper, colour, str(floor["label"])))
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
        ``line``, ``start_date``, ``end_date`` (null: to the end of the trajectory) and
        ``regimen``: drawn as bands, labelled "Line N" inside the top where the band is wide
        enough, with the regimen in words (:func:`regimen_in_words`) on hover along its top.
    floors:
        ``floor``, ``value``, ``label`` (see
        :func:`relapsewatch.simulate.trajectory.detection_floors`): each band between floors
        is labelled at the right edge.
    relapses:
        Optional ``date`` and ``relapse_number``: drawn as "x" markers on the burden curve,
        labelled "R1", "R2", ..., with the month on hover.
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
    trajectory = trajectory.sort("date")
    lines = lines.sort("line")
    results = _results(measurements, floors, marker_test)
    points = _relapse_points(relapses, trajectory)
    low = min(
        _number(floors["value"].min()) / 10.0, _number(trajectory["tumour_burden"].min()) / 2.0
    )
    highest = _number(pl.concat([trajectory["tumour_burden"], trajectory["paraprotein"]]).max())
    # more room above the data until every label has a clear place (or the tries run out)
    layout = _place_labels(trajectory, lines, floors, points, results, low, highest, 0)
    for rows in range(1, _MAX_EXTRA_ROWS + 1):
        if layout.cost == _Cost():
            break
        roomier = _place_labels(trajectory, lines, floors, points, results, low, highest, rows)
        layout = roomier if roomier.cost < layout.cost else layout
    scale = layout.scale
    figure = go.Figure()
    for index, (first, last, _) in enumerate(_line_spans(lines, scale)):
        fill = _LINE_FILLS[index % 2]
        figure.add_vrect(x0=first, x1=last, fillcolor=fill, line_width=0, layer="below")
    for bottom, top, colour, _ in _bands(floors, 10.0**scale.log_low, 10.0**scale.log_high):
        figure.add_hrect(y0=bottom, y1=top, fillcolor=colour, line_width=0, layer="below")
    for value in floors["value"]:
        floor_line = {"color": "#767676", "width": 1, "dash": "dot"}
        figure.add_hline(y=value, line=floor_line, layer="below")
    # the true level under the burden, so it shows where it lags behind (listed second)
    for column, name, line, rank in (
        ("paraprotein", "M-protein in the blood (true level)", _PARAPROTEIN_LINE, 2),
        ("tumour_burden", "Myeloma cells (true burden)", _BURDEN_LINE, 1),
    ):
        curve = go.Scatter(x=trajectory["date"], y=trajectory[column], mode="lines", name=name)
        figure.add_trace(curve.update(line=line, legendrank=rank))
    for x, y, name, marker in results:
        figure.add_trace(go.Scatter(x=x, y=y, mode="markers", name=name, marker=marker))
    if points.height:
        figure.add_trace(
            go.Scatter(
                x=points["date"],
                y=points["tumour_burden"],
                mode="markers",
                name="Relapse (R1, R2, ...)",
                marker={
                    "symbol": "x",
                    "size": 11,
                    "color": "black",
                    "line": {"color": "white", "width": 1},
                },
                hovertext=[
                    f"Relapse {n}, {d:%B %Y}"
                    for n, d in points.select("relapse_number", "date").iter_rows()
                ],
                hoverinfo="text",
            )
        )
    _add_line_hover(figure, lines, scale)
    for annotation in layout.annotations:
        figure.add_annotation(annotation)
    powers = range(math.ceil(scale.log_low), math.floor(scale.log_high) + 1)
    figure.update_yaxes(
        type="log",
        title={"text": marker_label, "standoff": 4},
        range=[scale.log_low, scale.log_high],
        tickmode="array",
        tickvals=[10.0**p for p in powers],
        ticktext=[_power_of_ten(p) for p in powers],
        showgrid=False,
    )
    figure.update_xaxes(range=[scale.start, scale.end], showgrid=False, ticks="outside")
    figure.update_layout(
        title=title,
        template="plotly_white",
        hovermode="closest",
        hoverlabel={"font": {"size": 11}},
        legend={
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "y": -0.1,
            "yanchor": "top",
            "font": {"size": 11},
        },
        margin={"t": 60 if title else 12, "r": 12, "l": 64, "b": 12},
    )
    return figure


def _number(value: object) -> float:
    return float(cast(float, value))


def _headroom(low: float, highest: float, rows: int) -> float:
    """The top of the value axis: room above the highest value for "Line N" and ``rows`` more.

    >>> round(_headroom(1e-6, 1.0, 0), 2)
    3.0
    """
    span = math.log10(highest) - math.log10(low)
    needed = ((1 + rows) * _PLOT.line + 3 * _PLOT.pad) / _PLOT.height
    return float(highest * 10.0 ** max(math.log10(3.0), needed * span / (1.0 - needed)))


def _line_spans(lines: pl.DataFrame, scale: _Scale) -> list[tuple[dt.date, dt.date, str]]:
    """First and last day of each line within the plotted dates, and its name "Line N"."""
    spans = []
    for line in lines.iter_rows(named=True):
        first = max(cast(dt.date, line["start_date"]), scale.start)
        last = min(cast(dt.date | None, line["end_date"]) or scale.end, scale.end)
        if last > first:
            spans.append((first, last, f"Line {line['line']}"))
    return spans


def _relapse_points(relapses: pl.DataFrame | None, trajectory: pl.DataFrame) -> pl.DataFrame:
    """Each relapse on the burden curve (its nearest point in time)."""
    if relapses is None:
        relapses = pl.DataFrame(schema={"date": pl.Date, "relapse_number": pl.Int64})
    require_columns(relapses, ("date", "relapse_number"), table="relapses")
    return (
        relapses.select("date", "relapse_number")
        .sort("date")
        .join_asof(trajectory.select("date", "tumour_burden"), on="date", strategy="nearest")
        .filter(pl.col("tumour_burden") > 0)
    )


_Results = list[tuple[list[dt.date], list[float], str, dict[str, Any]]]


def _place_labels(
    trajectory: pl.DataFrame,
    lines: pl.DataFrame,
    floors: pl.DataFrame,
    relapses: pl.DataFrame,
    results: _Results,
    low: float,
    highest: float,
    rows: int,
) -> _Layout:
    """Every label's place with ``rows`` rows of headroom: lines, then relapses, then floors."""
    start, end = cast(dt.date, trajectory["date"].min()), cast(dt.date, trajectory["date"].max())
    measured = [d for x, _, _, _ in results for d in x]
    if measured:
        # results outside the modelled course, with room for their markers
        room = dt.timedelta(days=max(1, (max(end, *measured) - min(start, *measured)).days // 80))
        start, end = min(start, min(measured) - room), max(end, max(measured) + room)
    scale = _Scale(start, end, math.log10(low), math.log10(_headroom(low, highest, rows)))
    drawn = [
        _path_points(scale.x(trajectory["date"]), scale.y(trajectory[column]))
        for column in ("tumour_burden", "paraprotein")
    ]
    drawn += [np.column_stack([scale.x(x), scale.y(y)]) for x, y, _, _ in results]
    obstacles = _Obstacles(np.concatenate(drawn))
    annotations: list[dict[str, Any]] = []
    cost = _Cost()
    font = {"size": _PLOT.font, "color": _LABEL}
    for first, last, name in _line_spans(lines, scale):
        left, right = (float(v) for v in scale.x([first, last]))
        width = len(name) * _PLOT.char + _PLOT.pad
        if right - left >= width + 2 * _PLOT.pad:
            top = _PLOT.height - _PLOT.pad
            obstacles.boxes.append((left + _PLOT.pad, left + width, top - _PLOT.line, top))
            annotations.append(
                {"x": first, "xref": "x", "xanchor": "left", "xshift": _PLOT.pad, "y": 1.0,
                 "yref": "paper", "yanchor": "top", "yshift": -_PLOT.pad, "text": name,
                 "showarrow": False, "font": font}
            )  # fmt: skip
    xs, ys = scale.x(relapses["date"]), scale.y(relapses["tumour_burden"])
    for x, y in zip(xs, ys, strict=True):
        obstacles.boxes.append((x - 6, x + 6, y - 6, y + 6))
    for (number, date, value), x, y in zip(
        relapses.select("relapse_number", "date", "tumour_burden").iter_rows(), xs, ys, strict=True
    ):
        text, line = f"R{number}", _PLOT.line
        width = len(text) * _PLOT.char * 1.1
        # (x anchor, y anchor, x shift, y shift) -> the label's box, in order of preference
        candidates: dict[tuple[str, str, int, int], _Box] = {
            ("center", "bottom", 0, 7): (x - width / 2, x + width / 2, y + 7, y + 7 + line),
            ("left", "bottom", 6, 4): (x + 6, x + 6 + width, y + 4, y + 4 + line),
            ("right", "bottom", -6, 4): (x - 6 - width, x - 6, y + 4, y + 4 + line),
            ("left", "top", 6, -4): (x + 6, x + 6 + width, y - 4 - line, y - 4),
            ("right", "top", -6, -4): (x - 6 - width, x - 6, y - 4 - line, y - 4),
        }
        (xanchor, yanchor, xshift, yshift), covers = obstacles.best(candidates)
        cost += covers
        annotations.append(
            {"x": date, "y": math.log10(value), "xanchor": xanchor, "yanchor": yanchor,
             "xshift": xshift, "yshift": yshift, "text": text, "showarrow": False,
             "font": {"size": _PLOT.font + 1, "color": _TEXT}}
        )  # fmt: skip
    for bottom, top, _, label in _bands(floors, low, 10.0**scale.log_high):
        placed, covers = _label_band(label, bottom, top, scale, obstacles)
        annotations += placed
        cost += covers
    return _Layout(scale, annotations, cost)


def _label_band(
    label: str, bottom: float, top: float, scale: _Scale, obstacles: _Obstacles
) -> tuple[list[dict[str, Any]], _Cost]:
    """A band's label at the right edge, inside the band, where it covers least.

    Two short lines (or one, if that is not too wide) at the top of the band, in the top band
    also under the row of "Line N" labels, at its bottom, else anywhere between; a line of text
    per annotation, as Plotly breaks lines only with markup. A label at the top or bottom keeps
    to that edge on any screen; one in between keeps to the value its top is at.
    """
    band_bottom, band_top = (float(v) for v in scale.y([bottom, top]))
    band_bottom, band_top = max(band_bottom, 0.0), min(band_top, _PLOT.height)
    right = _PLOT.width - _PLOT.pad
    variants = [_wrap_in_two(label)]
    if len(label) * _PLOT.char <= 0.6 * _PLOT.width or len(variants[0]) == 1:
        variants.append((label,))
    # (lines of text, edge the label keeps to, px from the band's top) -> the label's box
    candidates: dict[tuple[tuple[str, ...], str, float], _Box] = {}
    for wrapped in variants:
        height = len(wrapped) * _PLOT.line + 2 * _PLOT.pad
        left = right - max(map(len, wrapped)) * _PLOT.char - 2 * _PLOT.pad
        room = band_top - band_bottom - height
        if room < 0:
            continue
        under_line_labels = _PLOT.line + _PLOT.pad
        places = [("top", 0.0), ("bottom", room)]
        if band_top >= _PLOT.height and room >= under_line_labels:
            places.insert(1, ("top", under_line_labels))
        places += [("value", drop) for drop in np.arange(3.0, room, 3.0)]
        for edge, drop in places:
            candidates[(wrapped, edge, drop)] = (
                left,
                right,
                band_top - drop - height,
                band_top - drop,
            )
    if not candidates:
        return [], _Cost()
    (wrapped, edge, drop), cost = obstacles.best(candidates)
    # on a log axis Plotly places annotations in log10 units
    y, anchor = math.log10(top), "top"
    if edge == "bottom":
        y, anchor = math.log10(bottom), "bottom"
    elif edge == "value":
        y, drop = math.log10(scale.value_at(_PLOT.height - band_top + drop)), 0.0
    placed = []
    for index, text in enumerate(wrapped):
        shift = -(_PLOT.pad + drop + index * _PLOT.line)
        if anchor == "bottom":
            shift = _PLOT.pad + (len(wrapped) - 1 - index) * _PLOT.line
        placed.append(
            {"x": 1.0, "xref": "paper", "xanchor": "right", "xshift": -_PLOT.pad, "y": y,
             "yref": "y", "yanchor": anchor, "yshift": shift, "text": text, "showarrow": False,
             "bgcolor": "rgba(255,255,255,0.75)", "borderpad": 0,
             "font": {"size": _PLOT.font, "color": _LABEL}}
        )  # fmt: skip
    return placed, cost


def _add_line_hover(figure: go.Figure, lines: pl.DataFrame, scale: _Scale) -> None:
    """Invisible points along the top of each line's band whose hover gives the regimen."""
    hover_x: list[dt.date] = []
    hover_text: list[str] = []
    regimens = dict(zip(lines["line"].to_list(), lines["regimen"].to_list(), strict=True))
    for first, last, name in _line_spans(lines, scale):
        regimen = regimen_in_words(regimens[int(name.removeprefix("Line "))])
        left, right = (float(v) for v in scale.x([first, last]))
        steps = max(2, math.ceil((right - left) / 6.0))
        days = (last - first).days
        for step in range(steps):
            hover_x.append(first + dt.timedelta(days=round(step * days / (steps - 1))))
            hover_text.append(f"{name}: {regimen}" if regimen else name)
    if hover_x:
        figure.add_trace(
            go.Scatter(
                x=hover_x,
                y=[scale.value_at(_PLOT.pad + _PLOT.line / 2)] * len(hover_x),
                mode="markers",
                marker={"size": 12, "color": "rgba(0,0,0,0)"},
                hovertext=hover_text,
                hoverinfo="text",
                showlegend=False,
                name="Lines of therapy",
            )
        )


def _results(measurements: pl.DataFrame, floors: pl.DataFrame, marker_test: str) -> _Results:
    """The measured results to draw: dates, values (below-floor ones at the floor), name, marker."""
    floor_of = dict(zip(floors["floor"].to_list(), floors["value"].to_list(), strict=True))
    tests = measurements.with_columns(
        # an MRD result sits at the floor its sensitivity reaches (1e-6 when 5e-6 or better)
        mrd_level=pl.when(pl.col("sensitivity") < 5e-6)
        .then(pl.lit(floor_of.get("mrd_1e-6"), dtype=pl.Float64))
        .otherwise(pl.lit(floor_of.get("mrd_1e-5"), dtype=pl.Float64))
        if "sensitivity" in measurements.columns
        else pl.lit(None, dtype=pl.Float64)
    )
    marker = pl.col("test") == marker_test
    named = "SPEP result" if marker_test == "serum_m_protein" else "Free light chain result"
    kinds: list[tuple[pl.Expr, pl.Expr, str, dict[str, Any]]] = [
        (marker & (pl.col("value") > 0), pl.col("value"), named, {"color": "#1f77b4", "size": 6}),
        (marker & (pl.col("value") == 0), pl.lit(floor_of.get("ife"), dtype=pl.Float64),
         "SPEP: no M-protein band seen", {"color": "#1f77b4", "size": 5, "symbol": "circle-open"}),
        (marker & (pl.col("result") == "detected_nonquantifiable"),
         pl.lit(floor_of.get("spep"), dtype=pl.Float64), "SPEP: seen, too small to measure",
         {"color": "#1f77b4", "size": 7, "symbol": "triangle-down-open"}),
    ]  # fmt: skip
    for test, level, colour, symbol in (
        ("serum_ife", pl.lit(floor_of.get("ife"), dtype=pl.Float64), "#9467bd", "diamond"),
        ("mrd", pl.col("mrd_level"), "#8c564b", "square"),
    ):
        for result, shape in (("positive", ""), ("negative", "-open")):
            rows = (pl.col("test") == test) & (pl.col("result") == result)
            name = f"{'IFE' if test == 'serum_ife' else 'MRD'} {result}"
            style = {"color": colour, "size": 7, "symbol": f"{symbol}{shape}"}
            kinds.append((rows, level, name, style))
    drawn: _Results = []
    for rows, level, name, style in kinds:
        part = tests.filter(rows).select("date", level.alias("level")).drop_nulls()
        if part.height:
            drawn.append((part["date"].to_list(), part["level"].to_list(), name, style))
    return drawn
