"""Settings of the virtual-patient simulator: every assumption as a documented, named field.

Numbers with a published source cite it; the others are modelling assumptions chosen to give
realistic-looking records, and ``docs/simulation.md`` lists them as such.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from relapsewatch.errors import ConfigError
from relapsewatch.simulate.profiles import CalibrationProfile, profile

__all__ = ["SimulationSettings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationSettings:
    """Every tunable of the simulator. Defaults give the calibrated ``modern_2025`` cohort."""

    profile: str | CalibrationProfile = "modern_2025"  # a name in PROFILES, or a profile

    # --- calendar and follow-up ------------------------------------------------------------------
    # The default cohort mirrors the reference study's follow-up (diagnoses 2010-2020, analysed
    # years later): diagnoses 2013-2018, cut-off 2023-01-01, mean follow-up about 7 years.
    accrual_start: dt.date = dt.date(2013, 1, 1)  # first possible diagnosis date
    accrual_years: float = 6.0  # diagnoses uniform over this many years
    minimum_follow_up_years: float = 4.0  # cut-off = accrual end + this
    lost_to_follow_up_per_year: float = 0.02  # exponential drop-out rate
    max_lines: int = 10  # no patient receives more lines than this

    # --- isotypes (Kyle et al., Mayo Clin Proc 2003, 1,027 patients: IgG 52 %, IgA 21 %, light
    # chain only 16 %, IgD 2 %; renormalised without the non-secretory 7 %) ----------------------
    share_igg: float = 0.55
    share_iga: float = 0.23
    share_igd: float = 0.02
    share_igm: float = 0.005
    # the rest (19.5 %) is light-chain only; kappa:lambda about 2:1
    share_kappa: float = 2.0 / 3.0

    # --- laboratory units: share of patients whose lab reports SI units (g/L, mmol/L, umol/L) ---
    share_si_units: float = 0.3
    share_flc_mg_dl: float = 0.15  # FLC reported in mg/dL (the x10 trap, spec §5.1 U2)

    # --- visits -----------------------------------------------------------------------------------
    visit_interval_days: int = 28  # a lab visit every 4 weeks (every cycle)
    visit_jitter_sd_days: float = 3.0  # normal jitter around the planned day ...
    visit_jitter_max_days: int = 7  # ... clipped to ± this
    missed_visit_probability: float = 0.08
    extended_panel_every: int = 3  # FLC (heavy-chain disease), urine and CRAB labs every 3rd visit

    # --- assays (spec §6; calibration doc "detection limits") ------------------------------------
    spep_floor_g_dl: float = 0.1  # SPEP quantitation floor: below it the lab writes "<0.1"
    spep_floor_high_share: float = 0.15  # share of labs whose floor is 0.2 g/dL
    spep_band_visible_g_dl: float = 0.05  # a band this small is still seen ("<0.1"), below: "0"
    ife_limit_g_dl: float = 0.015  # serum IFE detects about an order of magnitude below SPEP
    ife_limit_flc_mg_l: float = 150.0  # serum IFE detects a free light chain above this excess
    urine_ife_limit_mg_24h: float = 10.0  # urine IFE of a heavy-chain patient
    urine_ife_limit_flc_mg_l: float = 30.0  # Bence Jones protein seen in urine above this excess
    spep_sd_g_dl: float = 0.05  # additive SPEP noise (mm-predict: sigma about 1 g/L)
    spep_cv: float = 0.05  # proportional SPEP noise
    flc_cv: float = 0.08  # FLC assay noise (log-normal; Freelite total CV about 5-10 %)
    detection_noise_sd: float = 0.25  # log-normal noise on detectability (sample to sample)
    ife_done_probability: float = 0.85  # IFE ordered when SPEP shows no quantifiable band
    marrow_at_cr_probability: float = 0.7  # marrow biopsy at the first negative IFE of a line
    mrd_after_visits: int = 6  # MRD on a marrow at the first negative IFE after 6 months ...
    mrd_probability: float = 0.6  # ... for this share of lines
    mrd_repeat_visits: int = 13  # a second MRD about a year later (sustained MRD, IMWG D4) ...
    mrd_repeat_probability: float = 0.5  # ... for this share of them
    igg_half_life_days: float = 21.0  # fastest possible fall of an IgG paraprotein
    iga_half_life_days: float = 6.0  # IgA (and IgD/IgM) are cleared faster than IgG
    # Daratumumab/isatuximab/elotuzumab (IgG-kappa) seen on IFE of IgG-kappa patients (spec U6)
    antibody_ife_interference_probability: float = 0.6

    # --- care pathway ---------------------------------------------------------------------------
    transplant_eligible_below_age: float = 70.0
    transplant_eligible_share_young: float = 0.8
    car_t_eligible_below_age: float = 76.0
    car_t_eligible_share: float = 0.55
    treat_at_confirmed_pd_share: float = (
        0.6  # else wait for a treat criterion (IMWG: rise/doubling)
    )
    treat_rise_g_dl: float = 1.0  # IMWG: treat a biochemical relapse at a rise of >= 10 g/L
    treat_rise_flc_mg_l: float = 200.0  # ... or >= 200 mg/L involved FLC
    treat_doubling_days: float = 91.0  # ... or a doubling time of <= 3 months
    clinical_relapse_share: float = 0.4  # Goldman-Mazur (Mayo): 39.6 % of relapses clinical
    toxicity_switch_probability: float = 0.05  # a line ends for toxicity, without progression
    maintenance_stop_probability: float = 0.15  # maintenance stopped in remission (then regrowth)

    # --- deaths -----------------------------------------------------------------------------------
    # by line, at age 68; with the rates below they give the reference share of patients
    # reaching lines 2-4 (65 / 42 / 25 %, Blood Cancer J 2025) at the default follow-up
    death_hazard_per_year: tuple[float, ...] = (0.045, 0.035, 0.05, 0.09, 0.12)
    death_hazard_age_slope: float = 0.06  # log hazard per year of age (about x1.8 per decade)
    death_at_progression: tuple[float, ...] = (0.10, 0.05, 0.08, 0.15, 0.25, 0.3)  # by line
    lethal_burden: float = 3.0  # death follows within a month once cells pass 3x diagnosis
    lethal_m_protein_g_dl: float = 12.0  # ... or the M-protein passes 12 g/dL
    lethal_flc_mg_l: float = 30_000.0  # ... or the involved FLC excess passes 30,000 mg/L

    def __post_init__(self) -> None:
        if isinstance(self.profile, str):
            profile(self.profile)  # raises ConfigError for an unknown name
        shares = self.share_igg + self.share_iga + self.share_igd + self.share_igm
        if not 0.0 < shares < 1.0:
            raise ConfigError(
                f"heavy-chain shares must sum to less than 1 (the rest is light-chain only), "
                f"got {shares}"
            )
        if self.max_lines < 1:
            raise ConfigError(f"`max_lines` must be at least 1, got {self.max_lines}")
        if self.visit_interval_days < 7:
            raise ConfigError(
                f"`visit_interval_days` must be at least 7, got {self.visit_interval_days}"
            )
        if self.accrual_years <= 0 or self.minimum_follow_up_years <= 0:
            raise ConfigError("`accrual_years` and `minimum_follow_up_years` must be positive")

    @property
    def calibration(self) -> CalibrationProfile:
        """The calibration profile these settings use."""
        if isinstance(self.profile, CalibrationProfile):
            return self.profile
        return profile(self.profile)

    @property
    def cutoff_date(self) -> dt.date:
        """The data cut-off: accrual end plus the minimum follow-up."""
        days = round((self.accrual_years + self.minimum_follow_up_years) * 365.25)
        return self.accrual_start + dt.timedelta(days=days)

    @property
    def max_follow_up_days(self) -> int:
        """Longest possible follow-up (a patient diagnosed on the first accrual day)."""
        return (self.cutoff_date - self.accrual_start).days
