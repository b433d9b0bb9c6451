"""One line of therapy's disease dynamics: its two-population parameters and its noiseless truth.

Draws the parameters of the residual-disease model (:mod:`relapsewatch.simulate.dynamics`) for the
patients starting line ``k`` from the calibration profile, the chosen plan's depth and the
patient's frailty, and computes the truth the simulator reports: the nadir, the day regrowth
begins and the first day the noiseless marker meets IMWG progression (P1 serum, P3 FLC).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from relapsewatch.simulate.dynamics import (
    P1_SERUM,
    P3_FLC,
    TwoPopulation,
    clearance_limited_rate,
    first_time_at_or_above,
)
from relapsewatch.simulate.profiles import CalibrationProfile
from relapsewatch.simulate.regimens import PLANS

__all__ = ["MAX_GROWTH_PER_DAY", "LineModel", "LineTruth", "draw_line_model", "line_truth"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

#: Fastest net growth of resistant cells (doubling in about 46 days; terminal disease).
MAX_GROWTH_PER_DAY = 0.015

_PLAN_SHIFT = np.array([p.log10_fraction_shift for p in PLANS])
_PLAN_KILL = np.array([p.kill_factor for p in PLANS])


@dataclass(frozen=True, slots=True)
class LineModel:
    """The two-population parameters of one line (one entry per patient starting it)."""

    fraction: FloatArray
    deep: BoolArray
    growth: FloatArray
    kill: FloatArray
    regrowth: FloatArray
    therapy_days: FloatArray
    paraprotein: TwoPopulation  # the marker: its fall is limited by clearance
    tumour: TwoPopulation  # the cells, relative to diagnosis


def draw_line_model(
    prof: CalibrationProfile,
    line: int,
    plan: IntArray,
    *,
    frailty: FloatArray,
    half_life: FloatArray,
    level: FloatArray,
    burden: FloatArray,
    therapy_days: FloatArray,
    deep_u: FloatArray,
    z: FloatArray,
) -> LineModel:
    """Draw the line's parameters (``z``: four standard normals per patient plus one)."""
    shift = _PLAN_SHIFT[plan]
    log10_fraction = (
        prof.log10_resistant_fraction_at(line)
        + shift
        + prof.frailty_on_fraction * frailty
        + prof.log10_resistant_fraction_sd * z[:, 0]
    )
    deep_share = np.clip(prof.deep_response_share_at(line) * (1.0 - shift), 0.0, 0.9)
    deep = deep_u < deep_share
    log10_fraction = np.where(
        deep,
        prof.deep_log10_resistant_fraction + prof.deep_log10_resistant_fraction_sd * z[:, 4],
        log10_fraction,
    )
    fraction = np.minimum(10.0**log10_fraction, 1.0)
    growth = np.minimum(
        prof.resistant_growth_at(line)
        * np.exp(prof.frailty_on_growth * frailty + prof.resistant_growth_sd * z[:, 1]),
        MAX_GROWTH_PER_DAY,
    )
    kill = (
        -prof.sensitive_kill_at(line) * _PLAN_KILL[plan] * np.exp(prof.sensitive_kill_sd * z[:, 2])
    )
    regrowth = growth * np.exp(0.2 * z[:, 3])
    return LineModel(
        fraction=fraction,
        deep=deep,
        growth=growth,
        kill=kill,
        regrowth=regrowth,
        therapy_days=therapy_days,
        paraprotein=TwoPopulation(
            level, fraction, growth, clearance_limited_rate(kill, half_life), regrowth, therapy_days
        ),
        tumour=TwoPopulation(burden, fraction, growth, kill, regrowth, therapy_days),
    )


@dataclass(frozen=True, slots=True)
class LineTruth:
    """Days from the line start: nadir, regrowth start, IMWG progression (``inf``: none)."""

    nadir_tau: FloatArray
    nadir: FloatArray
    regrowth_tau: FloatArray
    imwg_tau: FloatArray


def line_truth(
    model: LineModel, *, light_chain: BoolArray, flc_offset: FloatArray, horizon: FloatArray
) -> LineTruth:
    """The noiseless truth of a line.

    Serum (P1) progression is judged on the M-protein; light-chain (P3) progression on
    ``dFLC = max(offset + excess, 0)`` where ``offset`` is the involved minus the uninvolved
    normal FLC level. On a noiseless continuous series the confirmed nadir (N1) is the minimum.
    """
    paraprotein = model.paraprotein
    nadir_tau = paraprotein.minimum_time()
    nadir = paraprotein.at(nadir_tau)
    flc_nadir = np.maximum(flc_offset + nadir, 0.0)
    threshold = np.where(
        light_chain, P3_FLC.threshold(flc_nadir) - flc_offset, P1_SERUM.threshold(nadir)
    )
    return LineTruth(
        nadir_tau=nadir_tau,
        nadir=nadir,
        regrowth_tau=model.tumour.minimum_time(),
        imwg_tau=first_time_at_or_above(
            paraprotein, threshold, after=nadir_tau, horizon_days=horizon
        ),
    )
