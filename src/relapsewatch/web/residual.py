"""\"Why it can come back\": the detection floors of the tests a person has had.

Each test can only see myeloma above some level (``shared/domain/myeloma-course.md`` §6). The
page lists the tests this person has had, each with what it can see in plain words, and draws
the simulator's residual-disease picture with those floors next to the person's own curve.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

__all__ = ["DETECTION_FLOORS", "DetectionFloor", "ResidualPicture", "residual_picture", "tests_had"]

_SOURCE = "shared/domain/myeloma-course.md §6 (detection limits)"


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
    """The residual-disease figure, the floors it marks, and the person's own chart."""

    floors: tuple[DetectionFloor, ...]
    figure: dict[str, Any] | None
    patient_chart: dict[str, Any] | None


def residual_picture(
    measurements: pl.DataFrame, patient_chart: dict[str, Any] | None
) -> ResidualPicture:
    """The "Why it can come back" section for one person."""
    return ResidualPicture(tests_had(measurements), None, patient_chart)
