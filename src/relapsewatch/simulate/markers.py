"""What the lab reports for the disease marker: serum M-protein by SPEP, or free light chains.

Shared by the care team's decisions during the simulation and by the measurement table, so the
values a simulated clinician acted on are exactly the values written to the file.

* SPEP: Gaussian noise with an additive and a proportional part (mm-predict: sigma about 1 g/L),
  rounded to 0.01 g/dL. A band must be visible to be quantified; a visible band below the lab's
  quantitation floor is reported as ``<0.1`` (detected, not quantifiable; spec §5.1 U7, A-13);
  no visible band is reported as ``0`` (not detected).
* FLC: log-normal assay noise, rounded to 0.1 mg/L.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "NOT_DETECTED",
    "NUMBER",
    "SPEP_BELOW_FLOOR",
    "measured_flc",
    "measured_spep",
    "round_to",
]

FloatArray = NDArray[np.float64]
CodeArray = NDArray[np.int8]

#: Result codes of a quantitative test.
NUMBER, SPEP_BELOW_FLOOR, NOT_DETECTED = 0, 1, 2


def round_to(values: FloatArray, decimals: int) -> FloatArray:
    """Round half away from zero to ``decimals`` places (what a lab report does).

    >>> round_to(np.array([0.125, 2.5, -0.375]), 2).tolist()
    [0.13, 2.5, -0.38]
    """
    scale = 10.0**decimals
    result: FloatArray = np.sign(values) * np.floor(np.abs(values) * scale + 0.5) / scale
    return result


def measured_spep(
    true_g_dl: FloatArray,
    noise: FloatArray,
    detect_noise: FloatArray,
    floor_g_dl: FloatArray,
    *,
    sd_g_dl: float,
    cv: float,
    visible_g_dl: float,
    detect_sd: float,
) -> tuple[FloatArray, CodeArray]:
    """SPEP result in g/dL and its code; below the floor or not detected the value is 0.

    ``floor_g_dl`` broadcasts against the values (one floor per patient: shape ``(n, 1)``).

    >>> v, c = measured_spep(np.array([2.0, 0.07, 0.01]), np.zeros(3), np.zeros(3),
    ...                      np.array([0.1]), sd_g_dl=0.05, cv=0.05, visible_g_dl=0.05,
    ...                      detect_sd=0.25)
    >>> v.tolist(), c.tolist()
    ([2.0, 0.0, 0.0], [0, 1, 2])
    """
    sd = np.sqrt(sd_g_dl**2 + (cv * true_g_dl) ** 2)
    value = round_to(np.maximum(true_g_dl + sd * noise, 0.0), 2)
    visible = true_g_dl * np.exp(detect_sd * detect_noise) >= visible_g_dl
    quantified = visible & (value >= floor_g_dl)
    code = np.where(quantified, NUMBER, np.where(visible, SPEP_BELOW_FLOOR, NOT_DETECTED))
    return np.where(quantified, value, 0.0), code.astype(np.int8)


def measured_flc(true_mg_l: FloatArray, noise: FloatArray, *, cv: float) -> FloatArray:
    """A free light chain result in mg/L (log-normal noise, 0.1 mg/L resolution).

    >>> measured_flc(np.array([12.34]), np.zeros(1), cv=0.1).tolist()
    [12.3]
    """
    return round_to(true_mg_l * np.exp(cv * noise), 1)
