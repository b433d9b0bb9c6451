"""Calibration profiles: the reference figures a virtual cohort is tuned to, and the tuned centres.

A profile pairs published per-line figures (the *targets*) with the population centres of the
residual-disease model that reproduce them (the *tuned* parameters). Sources are the figures table
of ``shared/domain/simulation-calibration.md``:

* ``modern_2025`` (default): time to next treatment by line in the modern era, Blood Cancer J 2025
  (1,297 patients; line 1 diagnosed 2010-2020): 24.1 / 20 / 11 / 8 months for lines 1-4, and the
  share of patients reaching lines 2-4 of 65 / 42 / 25 %.
* ``us_community_2016``: median PFS by line in US community practice, Jagannath et al., Expert Rev
  Hematol 2016: 11.1 / 10.5 / 7.9 / 7.2 / 5.4 months for lines 1-5 (no line-share figures given).

Both profiles share the M-protein doubling time at first relapse (median about 6 months, Eur J
Haematol 1996;57:247) and the two-population model form (Myklebust et al.; Tang et al., Clin
Cancer Res 2016;22:4206). The tuned centres were fitted by ``bench/calibrate_profiles.py`` on
20,000 patients (seed 7); ``docs/simulation.md`` shows the figures achieved.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from relapsewatch.errors import ConfigError

__all__ = ["PROFILES", "CalibrationProfile", "profile"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CalibrationProfile:
    """Reference figures and the tuned per-line centres of the residual-disease model.

    Per-line tuples are indexed by line number - 1; lines beyond the tuple use the last entry
    moved on by the ``*_step`` fields (disease grows more resistant with each line).

    Attributes
    ----------
    name, source:
        Profile name and the publication its targets come from.
    target_median_pfs_months:
        Median progression-free time per line (the calibration target, ±15 %).
    target_share_reaching_line:
        Share of patients reaching lines 1, 2, 3, 4 (``None`` when the source gives none).
    log10_resistant_fraction:
        Centre of log10 π_r (share of cells the line's regimen cannot kill) per line.
    resistant_growth_per_day:
        Centre of ρ_r (net growth rate of resistant cells, 1/day) per line.
    sensitive_kill_per_day:
        Centre of |ρ_s| (net kill rate of sensitive cells, 1/day) per line.
    log10_resistant_fraction_sd, resistant_growth_sd, sensitive_kill_sd:
        Spread between patients around the centres (log10, ln, ln).
    frailty_on_fraction, frailty_on_growth:
        How much a patient's shared frailty (one standard-normal draw for all lines) moves
        log10 π_r and ln ρ_r, so a short first remission predicts short later ones.
    deep_response_share, deep_log10_resistant_fraction, deep_log10_resistant_fraction_sd:
        Per line, the share of patients (scaled by the regimen's depth, ``1 − shift``) whose
        resistant fraction comes from a deep component instead: MRD-negative remissions that
        last for years, the plateau of modern PFS curves.
    """

    name: str
    source: str
    target_median_pfs_months: tuple[float, ...]
    target_share_reaching_line: tuple[float, ...] | None
    log10_resistant_fraction: tuple[float, ...]
    resistant_growth_per_day: tuple[float, ...]
    sensitive_kill_per_day: tuple[float, ...]
    log10_resistant_fraction_step: float = 0.15
    resistant_growth_step: float = 1.08
    # spread between patients (log scale) and the weight of the patient's shared frailty
    log10_resistant_fraction_sd: float = 1.1
    resistant_growth_sd: float = 0.35
    sensitive_kill_sd: float = 0.3
    frailty_on_fraction: float = 0.35  # log10 units per SD of frailty
    frailty_on_growth: float = 0.15  # log units per SD of frailty
    # deep responders: no resistant clone the regimen cannot reach (MRD-negative remissions)
    deep_response_share: tuple[float, ...] = (0.12, 0.06, 0.04, 0.03)
    deep_log10_resistant_fraction: float = -5.5
    deep_log10_resistant_fraction_sd: float = 0.6

    def log10_resistant_fraction_at(self, line: int) -> float:
        """Centre of log10 π_r at ``line`` (1-based)."""
        values = self.log10_resistant_fraction
        if line <= len(values):
            return values[line - 1]
        return values[-1] + self.log10_resistant_fraction_step * (line - len(values))

    def resistant_growth_at(self, line: int) -> float:
        """Centre of ρ_r at ``line`` (1-based)."""
        values = self.resistant_growth_per_day
        if line <= len(values):
            return values[line - 1]
        return values[-1] * self.resistant_growth_step ** (line - len(values))

    def deep_response_share_at(self, line: int) -> float:
        """Share of deep responders at ``line`` (1-based), before the regimen's scaling."""
        values = self.deep_response_share
        return values[min(line, len(values)) - 1]

    def sensitive_kill_at(self, line: int) -> float:
        """Centre of |ρ_s| at ``line`` (1-based)."""
        values = self.sensitive_kill_per_day
        return values[min(line, len(values)) - 1]


MODERN_2025: Final = CalibrationProfile(
    name="modern_2025",
    source="Blood Cancer J 2025 (1,297 patients): time to next treatment by line, modern era",
    target_median_pfs_months=(24.1, 20.0, 11.0, 8.0),
    target_share_reaching_line=(1.0, 0.65, 0.42, 0.25),
    log10_resistant_fraction=(-1.535, -1.095, -0.911, -0.603),
    resistant_growth_per_day=(0.00354, 0.0034, 0.0046, 0.0054),
    sensitive_kill_per_day=(0.040, 0.035, 0.030, 0.027),
)

US_COMMUNITY_2016: Final = CalibrationProfile(
    name="us_community_2016",
    source="Jagannath et al., Expert Rev Hematol 2016: median PFS by line, US community practice",
    target_median_pfs_months=(11.1, 10.5, 7.9, 7.2, 5.4),
    target_share_reaching_line=None,
    log10_resistant_fraction=(-0.603, -0.788, -0.717, -0.445, -0.269),
    resistant_growth_per_day=(0.00364, 0.0045, 0.0052, 0.0056, 0.0062),
    sensitive_kill_per_day=(0.035, 0.032, 0.029, 0.027, 0.025),
)

#: Selectable profiles by name.
PROFILES: Final = MappingProxyType({p.name: p for p in (MODERN_2025, US_COMMUNITY_2016)})


def profile(name: str) -> CalibrationProfile:
    """The calibration profile called ``name``.

    >>> profile("modern_2025").target_median_pfs_months[0]
    24.1
    """
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"`profile` must be one of {sorted(PROFILES)}, got {name!r}") from None
