"""Settings of the myeloma course engine, with the defaults of the specification.

Every default of ``shared/domain/myeloma-course.md`` §0 and every decision of §7 (A-1 … A-30) that
the engine makes is a field here, documented with the item it implements. Presets are selectable
by name (``relapsewatch course --config parity-28-180``):

* ``imwg2016`` (default): the recommended defaults of §0.
* ``parity-28-180``: the 28-day regimen window and 180-day gap of the Merck temporal-phenotyping
  algorithm (Meng et al. 2019/2021; spec §3), with no transplant workflow, for parity runs.
* ``parity-28-120``: the 28-day window and 120-day discontinuation of OHDSI ARTEMIS (spec §3).
* ``parity-28-90``: Hess et al. 2021 with the 28-day window and the 90-day gap option.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from relapsewatch.errors import ConfigError

__all__ = ["PRESETS", "MyelomaCourseConfig", "preset"]

NadirMode = Literal["confirmed_pair", "raw_min"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MyelomaCourseConfig:
    """Every tunable of the myeloma course engine. Defaults follow the spec's §0."""

    name: str = "imwg2016"

    # --- criteria (§1, A-1, A-2) ---------------------------------------------------------------
    criteria_version: str = "IMWG2016"
    include_mr: bool = True  # MR in every setting; False collapses MR -> SD
    include_scr: bool = True  # §1.11: False collapses sCR -> CR

    # --- assessments and baseline (M1, A-5, A-28, A-29) ----------------------------------------
    baseline_window_days: int = 30  # M1: latest value in [start - 30 d, start]
    baseline_lookahead_days: int = 7  # M1: else earliest value in (start, start + 7 d]
    assessment_tolerance_days: int = 7  # results within ±7 d form one assessment

    # --- measurability (M2–M4, A-14) -----------------------------------------------------------
    measurable_serum_g_dl: float = 1.0  # M2
    measurable_urine_mg_24h: float = 200.0  # M3
    measurable_flc_mg_l: float = 100.0  # M4 (10 mg/dL)
    flc_ratio_low: float = 0.26  # M4 / U4 (Freelite), A-27
    flc_ratio_high: float = 1.65
    measurable_marrow_pct: float = 30.0  # M5 marrow-only pathway

    # --- response confirmation (C1–C6, A-6, A-9, A-10) -------------------------------------------
    confirmation_warn_days: int = 84  # warn if the confirming visit is > 84 days later
    require_marrow_for_cr: bool = True  # cap at VGPR and flag cr_unconfirmed_marrow
    marrow_cr_after_confirm_days: int = 30  # R-CR: latest BMPC in [start, confirm + 30 d]
    nadir_mode: NadirMode = "confirmed_pair"  # N1; "raw_min" is N2
    accept_treatment_change_as_confirmation: bool = False

    # --- progression (P1–P4) -------------------------------------------------------------------
    pd_serum_abs_g_dl: float = 0.5  # P1
    pd_serum_rel_pct: float = 25.0  # P1
    pd_serum_high_nadir_g_dl: float = 5.0  # P1: nadir >= 5 g/dL needs +1 g/dL
    pd_serum_high_abs_g_dl: float = 1.0  # P1
    pd_urine_abs_mg_24h: float = 200.0  # P2
    pd_urine_rel_pct: float = 25.0  # P2
    pd_flc_abs_mg_l: float = 100.0  # P3 (strictly greater)
    pd_flc_rel_pct: float = 25.0  # P3
    pd_marrow_abs_pct: float = 10.0  # P4
    pd_marrow_rel_pct: float = 25.0  # P4

    # --- time-point response thresholds (R rules; Kumar 2016 table, Rajkumar 2011 FLC-only) ------
    mr_serum_reduction_pct: float = 25.0  # R-MR: red(S) >= 25 %
    pr_serum_reduction_pct: float = 50.0  # R-PR: red(S) >= 50 %
    vgpr_serum_reduction_pct: float = 90.0  # R-VGPR (b): red(S) >= 90 %
    vgpr_urine_mg_24h: float = 100.0  # R-VGPR (b): U < 100 mg/24h
    pr_urine_reduction_pct: float = 90.0  # R-PR: red(U) >= 90 % ...
    pr_urine_mg_24h: float = 200.0  # R-PR: ... or U < 200 mg/24h
    mr_urine_reduction_pct: float = 50.0  # R-MR: red(U) >= 50 %
    flc_pr_reduction_pct: float = 50.0  # R-PR-FLC: red(dFLC) >= 50 %
    flc_vgpr_reduction_pct: float = 90.0  # R-VGPR-FLC: red(dFLC) > 90 % (strictly)
    marrow_pr_reduction_pct: float = 50.0  # R-PR-BM: red(BMPC) >= 50 %
    cr_marrow_pct: float = 5.0  # R-CR: latest BMPC < 5 %
    relapse_marrow_pct: float = 5.0  # X1/X2: BMPC >= 5 %
    # C3: a death with no recorded cause confirms a pending PD (a cause naming another disease
    # does not); False requires the cause to name myeloma or progression.
    death_of_unknown_cause_confirms_pd: bool = True

    # --- clinical relapse candidate signals (X3, A-30) -----------------------------------------
    hypercalcaemia_mg_dl: float = 11.0  # > 11.0 mg/dL (older tables: >= 11.5)
    haemoglobin_drop_g_dl: float = 2.0  # X3
    creatinine_rise_mg_dl: float = 2.0  # X3

    # --- MRD (D1–D5) ---------------------------------------------------------------------------
    mrd_min_sensitivity: float = 1e-5  # D1/D2
    mrd_sustained_days: int = 365  # D4

    # --- antibody interference (U6, A-16) ------------------------------------------------------
    antibody_interference_days: int = 180  # U6

    # --- lines of therapy (L1–L13, A-17 … A-22) ------------------------------------------------
    regimen_window_days: int = 60  # L4, A-17 (28 for parity with Hess, Merck, ARTEMIS)
    line_gap_days: int = 90  # L7, A-18
    steroid_window_before_days: int = 14  # L2
    transplant_workflow: bool = True  # L5b–L5d, L7 exemptions, L10
    mobilisation_window_days: int = 30  # L5b, A-20
    conditioning_window_days: int = 14  # L5c, A-20
    maintenance_window_days: int = 180  # L5d, A-20
    tandem_window_days: int = 180  # L10, A-20
    lymphodepletion_window_days: int = 14  # L5e
    bridging_in_car_t_line: bool = True  # L12, A-21
    new_line_after_pd: bool = True  # L8
    # L8: a treatment-free interval for "PD in a gap" must be longer than this (local default:
    # one 28-day cycle plus a week, so PD between two doses of an ongoing regimen stays L9).
    treatment_free_interval_days: int = 35
    car_t_apheresis_window_days: int = 180  # L12: apheresis up to 180 d before the infusion
    # K1/L8: an adjudicated clinical relapse (X3) counts as a progression event for lines too.
    clinical_relapse_is_progression: bool = True
    max_course_iterations: int = 6  # lines <-> progression fixpoint bound (course.py)

    # --- refractoriness (F1–F4, A-23, A-24) ----------------------------------------------------
    refractory_window_days: int = 60  # F1, IMWG 2011
    refractory_include_nonresponse: bool = True  # F2, A-23
    nonresponse_min_days: int = 56  # F2, A-23 (local default)
    nonresponse_min_assessments: int = 2  # F2
    refractory_episode_gap_days: int = 90  # F1 episode definition

    def replace(self, **changes: Any) -> MyelomaCourseConfig:
        """A copy with some settings changed; unknown names are an error.

        >>> MyelomaCourseConfig().replace(regimen_window_days=28).regimen_window_days
        28
        """
        known = {f.name for f in dataclasses.fields(self)}
        for key in changes:
            if key not in known:
                raise ConfigError(
                    f"unknown setting `{key}`; known settings: {', '.join(sorted(known))}"
                )
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PRESETS: dict[str, MyelomaCourseConfig] = {
    "imwg2016": MyelomaCourseConfig(),
    "parity-28-180": MyelomaCourseConfig(
        name="parity-28-180", regimen_window_days=28, line_gap_days=180, transplant_workflow=False
    ),
    "parity-28-120": MyelomaCourseConfig(
        name="parity-28-120", regimen_window_days=28, line_gap_days=120, transplant_workflow=False
    ),
    "parity-28-90": MyelomaCourseConfig(
        name="parity-28-90", regimen_window_days=28, line_gap_days=90, transplant_workflow=False
    ),
}


def preset(name: str) -> MyelomaCourseConfig:
    """The named preset.

    >>> preset("parity-28-180").line_gap_days
    180
    """
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"`config` must be one of {', '.join(PRESETS)}, got {name!r}") from None
