"""Patient traits drawn once at diagnosis: demographics, isotype, lab units, disease burden.

All arrays have one entry per patient of the batch. Distributions are modelling assumptions with
realistic centres (age at diagnosis about 68-69 years; IgG about 55 %, IgA about 23 %,
light-chain only about 20 %, kappa:lambda about 2:1; diagnostic M-spike median about 3 g/dL);
``docs/simulation.md`` lists them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from relapsewatch.simulate.randomness import CohortRandom
from relapsewatch.simulate.settings import SimulationSettings

__all__ = ["HEAVY_CHAIN_NAMES", "Patients", "draw_patients"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Heavy-chain codes used in the arrays (index = code); "none" = light-chain only.
HEAVY_CHAIN_NAMES = ("IgG", "IgA", "IgD", "IgM", "none")
IGG, IGA, IGD, IGM, LIGHT_CHAIN_ONLY = range(5)

_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class Patients:
    """Traits of the patients of one batch (arrays of length ``count``)."""

    index: IntArray  # position in the cohort (0-based); the patient id is built from it
    diagnosis_day: IntArray  # days since 1970-01-01
    follow_up_days: IntArray  # diagnosis to data cut-off
    lost_day: FloatArray  # days from diagnosis to loss to follow-up (inf = never)
    age: FloatArray
    birth_year: IntArray
    male: BoolArray
    heavy_chain: IntArray  # index into HEAVY_CHAIN_NAMES
    kappa: BoolArray
    si_units: BoolArray  # g/L, mmol/L, umol/L instead of g/dL, mg/dL
    flc_mg_dl: BoolArray
    spep_floor: FloatArray  # g/dL
    transplant_eligible: BoolArray
    car_t_eligible: BoolArray
    frailty: FloatArray  # standard normal: shared across lines (aggressive disease)
    marker_at_diagnosis: FloatArray  # serum M-protein g/dL, or involved-FLC excess mg/L
    marrow_fraction: FloatArray  # clonal plasma cells / nucleated marrow cells at diagnosis
    flc_per_marker: FloatArray  # involved-FLC excess (mg/L) per g/dL of M-protein
    normal_kappa: FloatArray  # mg/L
    normal_lambda: FloatArray  # mg/L
    urine_at_diagnosis: FloatArray  # mg/24h (0 = urine not involved)
    haemoglobin_base: FloatArray  # g/dL in remission
    calcium_base: FloatArray  # mg/dL
    creatinine_base: FloatArray  # mg/dL
    bone_disease: BoolArray  # hypercalcaemia when the burden is high
    renal_disease: BoolArray  # creatinine rises when the burden is high
    half_life_days: FloatArray  # paraprotein clearance half-life
    first_line_delay: FloatArray  # diagnosis to start of line 1, days

    @property
    def count(self) -> int:
        return int(self.index.shape[0])

    @property
    def light_chain_only(self) -> BoolArray:
        result: BoolArray = self.heavy_chain == LIGHT_CHAIN_ONLY
        return result


def _lognormal(median: float | FloatArray, sd: float, z: FloatArray) -> FloatArray:
    result: FloatArray = median * np.exp(sd * z)
    return result


def draw_patients(rnd: CohortRandom, start: int, settings: SimulationSettings) -> Patients:
    """Draw the traits of the batch's patients (``start`` = cohort index of the first one)."""
    u = rnd.uniform("patient", 16)
    z = rnd.normal("patient", 12)
    count = u.shape[0]
    accrual_days = settings.accrual_years * 365.25
    first = (settings.accrual_start - _EPOCH).days
    diagnosis_day = first + np.floor(u[:, 0] * accrual_days).astype(np.int64)
    cutoff = (settings.cutoff_date - _EPOCH).days
    age = np.clip(68.5 + 10.0 * z[:, 0], 35.0, 92.0)
    diagnosis_year = (np.datetime64("1970-01-01") + diagnosis_day.astype("timedelta64[D]")).astype(
        "datetime64[Y]"
    ).astype(np.int64) + 1970
    birth_year = diagnosis_year - np.floor(age).astype(np.int64)

    shares = np.cumsum(
        [settings.share_igg, settings.share_iga, settings.share_igd, settings.share_igm]
    )
    heavy = np.searchsorted(shares, u[:, 1], side="right").astype(np.int64)
    light_only = heavy == LIGHT_CHAIN_ONLY

    median_marker = np.choose(heavy, [3.2, 2.5, 1.2, 2.0, 900.0])
    spread = np.where(light_only, 1.0, 0.5)
    marker = _lognormal(median_marker, 1.0, spread * z[:, 2])
    marker = np.where(light_only, np.clip(marker, 150.0, 20000.0), np.clip(marker, 0.6, 9.0))
    marrow = 1.0 / (1.0 + np.exp(-(np.log(0.35 / 0.65) + 0.8 * z[:, 3])))

    urine_involved = u[:, 10] < np.where(light_only, 0.75, 0.2)
    urine = np.where(
        urine_involved, _lognormal(np.where(light_only, 300.0, 150.0), 0.9, z[:, 7]), 0.0
    )
    young = age < settings.transplant_eligible_below_age
    eligible = u[:, 7] < np.where(young, settings.transplant_eligible_share_young, 0.05)
    male = u[:, 3] < 0.55
    half_life = np.choose(
        heavy,
        [
            settings.igg_half_life_days,
            settings.iga_half_life_days,
            settings.iga_half_life_days,
            settings.iga_half_life_days,
            0.2,
        ],
    )
    lost = -np.log1p(-u[:, 9]) / settings.lost_to_follow_up_per_year * 365.25
    return Patients(
        index=np.arange(start, start + count, dtype=np.int64),
        diagnosis_day=diagnosis_day,
        follow_up_days=cutoff - diagnosis_day,
        lost_day=lost,
        age=age,
        birth_year=birth_year,
        male=male,
        heavy_chain=heavy,
        kappa=u[:, 2] < settings.share_kappa,
        si_units=u[:, 4] < settings.share_si_units,
        flc_mg_dl=u[:, 5] < settings.share_flc_mg_dl,
        spep_floor=np.where(
            u[:, 6] < settings.spep_floor_high_share,
            2.0 * settings.spep_floor_g_dl,
            settings.spep_floor_g_dl,
        ),
        transplant_eligible=eligible,
        car_t_eligible=(age < settings.car_t_eligible_below_age)
        & (u[:, 8] < settings.car_t_eligible_share),
        frailty=z[:, 1],
        marker_at_diagnosis=marker,
        marrow_fraction=np.clip(marrow, 0.1, 0.95),
        flc_per_marker=_lognormal(np.where(heavy == IGD, 120.0, 25.0), 1.0, z[:, 4]),
        normal_kappa=_lognormal(12.0, 0.3, z[:, 5]),
        normal_lambda=_lognormal(15.0, 0.3, z[:, 6]),
        urine_at_diagnosis=urine,
        haemoglobin_base=np.where(male, 14.0, 12.8) + 0.7 * z[:, 8],
        calcium_base=9.4 + 0.3 * z[:, 9],
        creatinine_base=_lognormal(0.9, 0.2, z[:, 10]),
        bone_disease=u[:, 11] < 0.25,
        renal_disease=u[:, 12] < np.where(light_only, 0.35, 0.12),
        half_life_days=half_life,
        first_line_delay=np.floor(5.0 + 23.0 * u[:, 13]),
    )
