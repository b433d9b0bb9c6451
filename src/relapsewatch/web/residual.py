"""\"Why it can come back\": the residual-disease picture and the floors of a person's tests.

Each test can only see myeloma above some level (``shared/domain/myeloma-course.md`` §6). The
page lists the tests this person has had, each with what it can see in plain words, and draws
the simulator's residual-disease picture of a virtual patient from the packaged demo cohort
(:func:`relapsewatch.plotting.virtual_patient_figure`) with those floors, next to the person's
own curve. The picture is built once per kind of disease and set of floors, then reused.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import polars as pl
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from relapsewatch.errors import DataError
from relapsewatch.io.checks import ROW
from relapsewatch.io.files import TableFile, read_raw
from relapsewatch.plotting.virtual_patient import virtual_patient_figure
from relapsewatch.simulate.demo import demo_folder
from relapsewatch.simulate.trajectory import detection_floors, latent_trajectory

__all__ = [
    "DETECTION_FLOORS",
    "DetectionFloor",
    "ResidualPicture",
    "residual_picture",
    "tests_had",
]

logger = logging.getLogger("relapsewatch.web")

_SOURCE = "shared/domain/myeloma-course.md §6 (detection limits)"
# An MRD result this sensitive or more reaches the 1-in-a-million floor.
_MRD_1E6 = 5e-6


@dataclass(frozen=True, slots=True)
class DetectionFloor:
    """What one kind of test can see, in plain words, with its source for the nurse."""

    kind: str
    name: str
    sees: str
    source: str
    unconfirmed: bool = False


#: The kinds of test, in order from least to most sensitive, keyed by the canonical tests.
DETECTION_FLOORS: Mapping[str, DetectionFloor] = {
    "marrow": DetectionFloor(
        "marrow",
        "Bone marrow sample under the microscope",
        "It can see myeloma when at least a few in every 100 marrow cells are myeloma cells.",
        f"{_SOURCE}: marrow morphology, the under 5% plasma cell criterion",
    ),
    "spep": DetectionFloor(
        "spep",
        "Blood test for M-protein (electrophoresis)",
        "It can measure M-protein down to about 0.1 to 0.2 g/dL. Below that it cannot tell.",
        f"{_SOURCE}: typical SPEP reporting floor, order of magnitude only",
        unconfirmed=True,
    ),
    "ife": DetectionFloor(
        "ife",
        "Immunofixation test of blood or urine",
        "It can find about ten times less M-protein than the electrophoresis test can.",
        f"{_SOURCE}: IFE about an order of magnitude more sensitive than SPEP",
        unconfirmed=True,
    ),
    "flc": DetectionFloor(
        "flc",
        "Free light chain blood test",
        "It is the most sensitive routine blood test for myeloma that makes light chains.",
        f"{_SOURCE}: sFLC",
    ),
    "mrd": DetectionFloor(
        "mrd",
        "MRD test of the bone marrow",
        "It can find 1 myeloma cell among 100,000 cells. Some can find 1 in a million.",
        f"{_SOURCE}: IMWG 2016 MRD negativity at 1e-5 by NGF or NGS; 1e-6 reachable",
    ),
}

_KIND_OF_TEST: Mapping[str, str] = {
    "bm_plasma_cells": "marrow",
    "bm_clonality": "marrow",
    "serum_m_protein": "spep",
    "urine_m_protein": "spep",
    "serum_ife": "ife",
    "urine_ife": "ife",
    "flc_kappa": "flc",
    "flc_lambda": "flc",
    "flc_ratio": "flc",
    "mrd": "mrd",
}


def tests_had(measurements: pl.DataFrame) -> tuple[DetectionFloor, ...]:
    """The kinds of test in a person's results, least sensitive first.

    >>> m = pl.DataFrame({"test": ["mrd", "serum_m_protein", "serum_m_protein"]})
    >>> [f.kind for f in tests_had(m)]
    ['spep', 'mrd']
    """
    present = (
        set(measurements.get_column("test").unique().to_list()) if measurements.height else set()
    )
    kinds = {_KIND_OF_TEST[t] for t in present if t in _KIND_OF_TEST}
    return tuple(floor for kind, floor in DETECTION_FLOORS.items() if kind in kinds)


@dataclass(frozen=True)
class ResidualPicture:
    """The residual-disease figure and the floors of the tests the person has had.

    ``figure_json`` is the simulator's figure as HTML-safe JSON, ready for a
    ``<script type="application/json">`` block (built once per kind of picture and reused).
    """

    floors: tuple[DetectionFloor, ...]
    figure_json: Markup | None
    example_patient: str | None


# The simulator's floor ids (relapsewatch.simulate.trajectory.detection_floors) by kind of test.
_SIMULATOR_FLOORS: Mapping[str, tuple[str, ...]] = {
    "spep": ("spep",),
    "ife": ("ife",),
    "mrd": ("mrd_1e-5", "mrd_1e-6"),
}


@dataclass(frozen=True)
class _Example:
    patient_id: str
    trajectory: pl.DataFrame
    lines: pl.DataFrame
    relapses: pl.DataFrame
    floors: pl.DataFrame


def _demo_table(name: str) -> pl.DataFrame:
    path = demo_folder() / f"{name}.parquet"
    return read_raw(TableFile(name, path, "parquet")).drop(ROW)


@cache
def _example(light_chain_disease: bool) -> _Example:
    """A virtual patient of the packaged demo cohort whose myeloma came back twice.

    The same kind of disease as the person (light-chain only, or with a heavy chain), three
    lines with two progressions, followed to the data cut-off, a deep response first; the
    first such patient by id, so the picture is the same on every visit.
    """
    patients = _demo_table("truth_patients")
    lines = _demo_table("truth_lines")
    kind = pl.col("heavy_chain") == "none"
    per_patient = lines.group_by("patient_id").agg(
        progressions=pl.col("imwg_progression_date").is_not_null().sum(),
        deep=pl.col("deep_response").cast(pl.Int32).sum(),
    )
    candidates = patients.filter(kind if light_chain_disease else ~kind).join(
        per_patient, on="patient_id"
    )
    chosen = (
        candidates.filter(
            (pl.col("lines_started") == 3)
            & (pl.col("progressions") >= 2)
            & (pl.col("follow_up_end_reason") == "data_cutoff")
        )
        .sort(["deep", "patient_id"], descending=[True, False])
        .get_column("patient_id")
    )
    if chosen.len() == 0:
        chosen = candidates.sort(["progressions", "patient_id"], descending=[True, False])[
            "patient_id"
        ]
    patient_id = str(chosen[0])
    own = lines.filter(pl.col("patient_id") == patient_id).sort("line")
    relapses = (
        own.filter(pl.col("imwg_progression_date").is_not_null())
        .select(pl.col("imwg_progression_date").alias("date"))
        .with_row_index("relapse_number", offset=1)
    )
    return _Example(
        patient_id=patient_id,
        trajectory=latent_trajectory(lines, patients, patient_id),
        lines=own.select(
            "line",
            "start_date",
            pl.coalesce("end_date", "next_line_start_date").alias("end_date"),
            "regimen",
        ),
        relapses=relapses,
        floors=detection_floors(patients, patient_id),
    )


@cache
def _figure_json(light_chain_disease: bool, floor_ids: tuple[str, ...]) -> Markup:
    example = _example(light_chain_disease)
    floors = example.floors.filter(pl.col("floor").is_in(list(floor_ids)))
    if floors.height == 0:
        floors = example.floors
    figure = virtual_patient_figure(
        example.trajectory,
        pl.DataFrame(
            schema={"date": pl.Date, "test": pl.String, "value": pl.Float64, "result": pl.String}
        ),
        example.lines,
        floors,
        example.relapses,
        marker_label="Amount of myeloma (log scale)",
        marker_test="flc_kappa" if light_chain_disease else "serum_m_protein",
    )
    figure.update_layout(height=420, autosize=True)
    low, high = figure.layout.yaxis.range
    powers = list(range(math.ceil(low), math.floor(high) + 1))
    # Plotly draws "power" exponents with <sup>, i.e. inline style attributes that the CSP
    # blocks; Unicode superscripts need no markup.
    figure.update_yaxes(
        tickmode="array",
        tickvals=[10.0**p for p in powers],
        ticktext=[_power_of_ten(p) for p in powers],
    )
    spec = json.loads(figure.to_json())
    # The "plotly_white" template spells out every trace type's defaults (most of the JSON);
    # the few settings it gives this figure are set directly instead.
    spec["layout"].pop("template", None)
    spec["layout"].update(
        paper_bgcolor="#ffffff",
        plot_bgcolor="#ffffff",
        font={"family": "system-ui, sans-serif", "size": 12, "color": "#1b1b1b"},
    )
    for axis in ("xaxis", "yaxis"):
        spec["layout"].setdefault(axis, {}).update(gridcolor="#e5e5e5", zeroline=False)
    return Markup(htmlsafe_json_dumps(spec))


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _power_of_ten(power: int) -> str:
    """``-3`` -> ``10⁻³`` (``1`` and ``10`` for 0 and 1).

    >>> _power_of_ten(-5), _power_of_ten(0), _power_of_ten(2)
    ('10⁻⁵', '1', '100')
    """
    if 0 <= power <= 2:
        return str(10**power)
    return "10" + str(power).translate(_SUPERSCRIPT)


def residual_picture(
    measurements: pl.DataFrame,
    *,
    light_chain_disease: bool,
) -> ResidualPicture:
    """The "Why it can come back" section for one person.

    The simulator's picture of a virtual patient (true amount of myeloma, falling below what
    tests can see and growing back), with the detection floors of the kinds of test this person
    has had (all of them when the records show none of SPEP, immunofixation or MRD).
    """
    floors = tests_had(measurements)
    sensitive = "sensitivity" in measurements.columns and bool(
        measurements.filter((pl.col("test") == "mrd") & (pl.col("sensitivity") <= _MRD_1E6)).height
    )
    floor_ids = tuple(
        fid
        for floor in floors
        for fid in _SIMULATOR_FLOORS.get(floor.kind, ())
        if fid != "mrd_1e-6" or sensitive
    )
    try:
        example = _example(light_chain_disease)
        figure_json = _figure_json(light_chain_disease, floor_ids)
    except DataError:
        # The packaged demo cohort is missing (a broken install): the page still shows the
        # person's own curve and what their tests can see.
        logger.warning("the demo cohort's truth tables could not be read; no residual picture")
        return ResidualPicture(floors, None, None)
    return ResidualPicture(
        floors=floors,
        figure_json=figure_json,
        example_patient=example.patient_id,
    )
