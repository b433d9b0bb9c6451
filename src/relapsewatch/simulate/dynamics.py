"""The residual-disease model: two cell populations per line of therapy, as pure NumPy functions.

Per line, the burden at time ``τ`` days after the line starts is (Myklebust et al., mm-predict;
Tang et al., Clin Cancer Res 2016;22:4206; ``shared/domain/simulation-calibration.md``)::

    M(τ) = M0 · [π_r · e^{ρ_r τ} + (1 − π_r) · S(τ)]
    S(τ) = e^{ρ_s · min(τ, D)} · e^{g · max(τ − D, 0)}

``π_r`` is the share of cells the line's regimen cannot kill, ``ρ_r > 0`` their growth rate,
``ρ_s < 0`` the net kill rate of the sensitive cells while therapy acts (``D`` days; infinite for
continuous therapy) and ``g > 0`` their regrowth rate after it stops. ``M`` is unimodal: it falls
to one minimum and then rises, which makes the nadir and the first progression date exact.

The tumour *cells* follow ``ρ_s`` itself. The *paraprotein* cannot fall faster than the body
clears it, so the measured marker uses ``max(ρ_s, −ln 2 / t½)`` (IgG half-life about 21 days).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "P1_SERUM",
    "P3_FLC",
    "ProgressionRule",
    "TwoPopulation",
    "clearance_limited_rate",
    "first_time_at_or_above",
]

FloatArray = NDArray[np.float64]

_MIN_FRACTION = 1e-12


@dataclass(frozen=True, slots=True)
class TwoPopulation:
    """Per-patient parameters of one line (arrays of equal length, or scalars).

    Attributes
    ----------
    start:
        Burden at the line start ``M0`` (marker units).
    resistant_fraction:
        ``π_r`` in (0, 1].
    resistant_growth:
        ``ρ_r`` (1/day), positive.
    sensitive_rate:
        ``ρ_s`` (1/day) while therapy acts, negative.
    regrowth:
        ``g`` (1/day) of sensitive cells after therapy stops, positive.
    therapy_days:
        ``D``: days the therapy acts; ``inf`` for continuous therapy.
    """

    start: FloatArray
    resistant_fraction: FloatArray
    resistant_growth: FloatArray
    sensitive_rate: FloatArray
    regrowth: FloatArray
    therapy_days: FloatArray

    def _col(self, x: FloatArray, ndim: int) -> FloatArray:
        return x.reshape(x.shape + (1,) * (ndim - x.ndim)) if ndim > x.ndim else x

    def at(self, days: FloatArray) -> FloatArray:
        """``M(τ)`` at ``days`` since the line start (shape ``(n,)`` or ``(n, k)``).

        >>> m = TwoPopulation(*(np.array([v]) for v in (3.0, 0.01, 0.004, -0.03, 0.004, np.inf)))
        >>> [round(float(x), 4) for x in m.at(np.array([[0.0, 100.0]]))[0]]
        [3.0, 0.1926]
        """
        nd = days.ndim
        start = self._col(self.start, nd)
        pi = self._col(self.resistant_fraction, nd)
        grow = self._col(self.resistant_growth, nd)
        rate = self._col(self.sensitive_rate, nd)
        regrow = self._col(self.regrowth, nd)
        on = self._col(self.therapy_days, nd)
        tau = np.maximum(days, 0.0)
        acting = np.minimum(tau, on)
        after = np.maximum(tau - on, 0.0)
        sensitive = np.exp(rate * acting + regrow * after)
        result: FloatArray = start * (pi * np.exp(grow * tau) + (1.0 - pi) * sensitive)
        return result

    def minimum_time(self) -> FloatArray:
        """Days from the line start to the minimum of ``M`` (0 when it never falls).

        On therapy the derivative is zero at ``τ* = ln((1 − π)|ρ_s| / (π ρ_r)) / (ρ_r − ρ_s)``;
        after therapy stops both populations grow, so the minimum is at ``min(τ*, D)``.
        """
        pi = np.clip(self.resistant_fraction, _MIN_FRACTION, 1.0)
        falling = (1.0 - pi) * -self.sensitive_rate
        rising = pi * self.resistant_growth
        with np.errstate(divide="ignore", invalid="ignore"):
            tau = np.log(falling / rising) / (self.resistant_growth - self.sensitive_rate)
        tau = np.where((falling > rising) & np.isfinite(tau), tau, 0.0)
        result: FloatArray = np.minimum(np.maximum(tau, 0.0), self.therapy_days)
        return result


def clearance_limited_rate(rate: FloatArray, half_life_days: FloatArray) -> FloatArray:
    """The fastest fall the paraprotein allows: ``max(ρ_s, −ln 2 / t½)``.

    >>> clearance_limited_rate(np.array([-0.1, -0.01]), np.array([21.0, 21.0])).round(4).tolist()
    [-0.033, -0.01]
    """
    result: FloatArray = np.maximum(rate, -np.log(2.0) / half_life_days)
    return result


def first_time_at_or_above(
    model: TwoPopulation,
    level: FloatArray,
    *,
    after: FloatArray,
    horizon_days: float | FloatArray,
) -> FloatArray:
    """First day ``τ ≥ after`` with ``M(τ) ≥ level``; ``inf`` if not within ``horizon_days``.

    ``horizon_days`` may differ per patient; each patient's answer depends only on its own
    arguments (never on the other patients of the batch).

    ``M`` rises monotonically after its minimum, so bisection on ``[after, horizon]`` finds the
    crossing; the answer is rounded up to a whole day (the first day the rule is met).
    """
    lo = after.astype(np.float64).copy()
    hi = np.maximum(np.broadcast_to(np.asarray(horizon_days, dtype=np.float64), lo.shape), lo)
    reached_at_lo = model.at(lo) >= level
    reachable = model.at(hi) >= level
    for _ in range(24):
        mid = 0.5 * (lo + hi)
        above = model.at(mid) >= level
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    day = np.ceil(hi)
    # the ceiling can step past a crossing that lies exactly on a whole day; step back if so
    back = np.maximum(day - 1.0, after)
    day = np.where(model.at(back) >= level, np.ceil(back), day)
    day = np.where(reached_at_lo, np.ceil(after), day)
    return np.where(reachable, day, np.inf)


@dataclass(frozen=True, slots=True)
class ProgressionRule:
    """An IMWG progression rule on one marker, relative to the nadir in force.

    PD when ``x − nadir ≥ absolute`` (``>`` if ``strict``) and ``x ≥ nadir · (1 + relative)``;
    when ``nadir ≥ high_nadir`` only ``x − nadir ≥ high_absolute`` is needed (P1's 5 g/dL rule).
    """

    name: str
    source: str
    absolute: float
    relative: float
    strict: bool = False
    high_nadir: float = np.inf
    high_absolute: float = np.inf

    def threshold(self, nadir: FloatArray) -> FloatArray:
        """The smallest value that meets the rule (for a strict rule, the bound it must exceed).

        >>> P1_SERUM.threshold(np.array([0.8, 6.0])).tolist()
        [1.3, 7.0]
        """
        usual = np.maximum(nadir + self.absolute, nadir * (1.0 + self.relative))
        return np.where(nadir >= self.high_nadir, nadir + self.high_absolute, usual)

    def met(self, value: FloatArray, nadir: FloatArray) -> NDArray[np.bool_]:
        """Whether ``value`` meets the rule against ``nadir`` (element-wise)."""
        rise = value - nadir
        absolute = rise > self.absolute if self.strict else rise >= self.absolute
        usual = absolute & (value >= nadir * (1.0 + self.relative))
        high = rise >= self.high_absolute
        result: NDArray[np.bool_] = np.where(nadir >= self.high_nadir, high, usual)
        return result


#: IMWG 2016 P1 (serum M-protein, g/dL): +0.5 and +25 % from nadir; +1.0 if nadir >= 5.
P1_SERUM = ProgressionRule(
    name="P1",
    source="IMWG 2016 (Kumar et al., Lancet Oncol 2016), spec §1.7 P1",
    absolute=0.5,
    relative=0.25,
    high_nadir=5.0,
    high_absolute=1.0,
)
#: IMWG 2011/2016 P3 (dFLC, mg/L, FLC-only pathway): > 100 mg/L and +25 % from nadir.
P3_FLC = ProgressionRule(
    name="P3",
    source="IMWG 2011 FLC-only rules (Rajkumar et al., Blood 2011), spec §1.7 P3",
    absolute=100.0,
    relative=0.25,
    strict=True,
)
