"""The lab panel at each visit: which tests were done and what the lab reported.

Works on the list of visits that happened (one entry per patient and visit, in patient and date
order) and returns one entry per result, already in the patient's lab unit and rounded as the lab
reports it. Assay behaviour follows spec §6 and the calibration doc: the SPEP floor and ``<0.1``
results, IFE about an order of magnitude more sensitive than SPEP, FLC the most sensitive serum
marker of light-chain disease, marrow morphology at diagnosis and when a complete response is
suspected, and MRD (NGF or NGS, with its sensitivity) on some of those marrows.

Panels (modelling assumptions): SPEP at every visit (heavy-chain disease); FLC at every visit
for light-chain disease, else every third visit; immunofixation, urine and CRAB labs every third
visit and at every line baseline; immunofixation only when SPEP (or FLC) no longer shows a
quantifiable M-protein, as in practice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from relapsewatch.simulate.dynamics import TwoPopulation
from relapsewatch.simulate.markers import (
    NOT_DETECTED,
    NUMBER,
    SPEP_BELOW_FLOOR,
    measured_flc,
    measured_spep,
)
from relapsewatch.simulate.pathway import Pathways
from relapsewatch.simulate.population import IGG, Patients
from relapsewatch.simulate.randomness import CohortRandom
from relapsewatch.simulate.settings import SimulationSettings

__all__ = ["QUALITATIVE", "TESTS", "UNITS", "LabRows", "lab_rows"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

#: Test names in output order (canonical analyte names of relapsewatch.vocab.analytes).
TESTS = (
    "serum_m_protein",
    "serum_ife",
    "urine_m_protein",
    "urine_ife",
    "flc_kappa",
    "flc_lambda",
    "flc_ratio",
    "hemoglobin",
    "calcium",
    "creatinine",
    "bm_plasma_cells",
    "bm_clonality",
    "mrd",
)
(SPEP, SIFE, UPEP, UIFE, KAPPA, LAMBDA, RATIO, HB, CA, CR, BMPC, CLONALITY, MRD) = range(13)
#: Unit strings (index = unit code); "" means no unit (qualitative result).
UNITS = ("", "g/dL", "g/L", "mg/24h", "mg/L", "mg/dL", "ratio", "%", "mmol/L", "umol/L")
#: Qualitative and below-floor results (index = result code; -1 = a number).
QUALITATIVE = ("positive", "negative", "clonal", "not_clonal", "<0.1", "<0.2", "<1", "<2")
POSITIVE, NEGATIVE, CLONAL, NOT_CLONAL = range(4)
MRD_METHODS = ("NGF", "NGS")
_NORMAL_MARROW_PLASMA_CELLS_PCT = 1.5


@dataclass(frozen=True, slots=True)
class LabRows:
    """One entry per result, ordered by patient, visit and test."""

    row: IntArray  # patient (index into the batch)
    day: FloatArray  # days from diagnosis
    test: NDArray[np.int8]  # index into TESTS
    number: FloatArray  # in the reported unit, rounded; NaN when qualitative
    result: NDArray[np.int8]  # index into QUALITATIVE, -1 for a number
    unit: NDArray[np.int8]  # index into UNITS
    method: NDArray[np.int8]  # index into MRD_METHODS, -1 when not an MRD result
    sensitivity: FloatArray  # NaN when not an MRD result


def _round(values: FloatArray, decimals: int) -> FloatArray:
    scale = 10.0**decimals
    result: FloatArray = np.floor(values * scale + 0.5) / scale
    return result


def _first_per_line(candidate: BoolArray, key: IntArray) -> IntArray:
    """Positions of the first candidate entry of each (patient, line) key (entries sorted)."""
    where = np.nonzero(candidate)[0]
    keys = key[where]
    first = np.concatenate([[True], keys[1:] != keys[:-1]]) if where.size else where
    result: IntArray = where[first.astype(bool)] if where.size else where
    return result


def lab_rows(
    patients: Patients, paths: Pathways, rnd: CohortRandom, settings: SimulationSettings
) -> LabRows:
    """Which tests each visit had and what the lab reported."""
    visits = paths.marker.shape[1]
    z_urine = rnd.normal("assay", visits)
    z_lab = rnd.normal("assay", visits, 3)
    u_ife = rnd.uniform("assay", visits)
    u_event = rnd.uniform("assay", settings.max_lines + 1, 4)
    z_event = rnd.normal("assay", settings.max_lines + 1, 2)

    flat = np.flatnonzero(paths.visit_measured)  # visits that happened, by patient then date
    i = flat // visits
    j = flat - i * visits
    n = flat.size

    def at_visit(grid: NDArray[Any]) -> NDArray[Any]:
        taken: NDArray[Any] = np.take(grid.reshape(-1), flat)
        return taken

    def of_patient(values: NDArray[Any]) -> NDArray[Any]:
        taken: NDArray[Any] = np.take(values, i)
        return taken

    line = at_visit(paths.visit_line).astype(np.int64)
    line_key = i * (settings.max_lines + 1) + np.maximum(line, 0)
    in_line = at_visit(paths.visit_in_line)
    baseline = in_line == 0
    extended = in_line % settings.extended_panel_every == 0
    diagnosis = j == 0
    marker = at_visit(paths.marker)
    tumour = {name: np.take(values.reshape(-1), line_key) for name, values in paths.tumour.items()}
    cells = TwoPopulation(
        tumour["level"],
        tumour["fraction"],
        tumour["growth"],
        tumour["rate"],
        tumour["regrowth"],
        tumour["days"],
    ).at(at_visit(paths.visit_day) - tumour["start"])
    noise = {name: at_visit(values) for name, values in paths.marker_noise.items()}
    light = of_patient(patients.light_chain_only)
    si = of_patient(patients.si_units)
    kappa = of_patient(patients.kappa)
    clonal_fraction = of_patient(patients.marrow_fraction) * cells

    tests = len(TESTS)
    number = np.full((tests, n), np.nan)
    result = np.full((tests, n), -1, dtype=np.int8)
    unit = np.zeros((tests, n), dtype=np.int8)
    done = np.zeros((tests, n), dtype=bool)

    # --- SPEP: every visit for heavy-chain disease ("0", no band, on panels for light chain) ---
    floor = of_patient(patients.spep_floor)
    spep, code = measured_spep(
        marker,
        noise["spep"],
        noise["detect"],
        floor,
        sd_g_dl=settings.spep_sd_g_dl,
        cv=settings.spep_cv,
        visible_g_dl=settings.spep_band_visible_g_dl,
        detect_sd=settings.detection_noise_sd,
    )
    code = np.where(light, NOT_DETECTED, code)
    spep = np.where(light, 0.0, spep)
    high_floor = floor > settings.spep_floor_g_dl
    done[SPEP] = ~light | extended
    number[SPEP] = np.where(si, _round(spep * 10.0, 1), spep)
    below = np.where(si, np.where(high_floor, 7, 6), np.where(high_floor, 5, 4))
    result[SPEP] = np.where(code == SPEP_BELOW_FLOOR, below, -1)
    unit[SPEP] = np.where(si, 2, 1)

    # --- free light chains ----------------------------------------------------------------------
    excess = np.where(light, marker, of_patient(patients.flc_per_marker) * marker)
    normal_kappa = of_patient(patients.normal_kappa)
    normal_lambda = of_patient(patients.normal_lambda)
    flc_k = measured_flc(
        normal_kappa + np.where(kappa, excess, 0.0), noise["kappa"], cv=settings.flc_cv
    )
    flc_l = measured_flc(
        normal_lambda + np.where(kappa, 0.0, excess), noise["lambda"], cv=settings.flc_cv
    )
    involved_excess = np.where(kappa, flc_k - normal_kappa, flc_l - normal_lambda)

    # --- immunofixation, at baselines and on panels once the M-protein is not quantifiable -----
    u_visit = at_visit(u_ife)
    detect = np.exp(settings.detection_noise_sd * noise["detect"])
    low_marker = np.where(light, involved_excess < 100.0, code != NUMBER)
    ife = baseline | diagnosis | (extended & low_marker & (u_visit < settings.ife_done_probability))
    antibody = np.take(paths.antibody_lines.reshape(-1), line_key)
    interference = (
        (of_patient(patients.heavy_chain) == IGG)
        & kappa
        & antibody
        & (u_visit < settings.antibody_ife_interference_probability)
    )
    serum_positive = (
        np.where(
            light,
            marker * detect >= settings.ife_limit_flc_mg_l,
            marker * detect >= settings.ife_limit_g_dl,
        )
        | interference
    )
    urine_at_diagnosis = of_patient(patients.urine_at_diagnosis)
    urine_true = urine_at_diagnosis * marker / of_patient(patients.marker_at_diagnosis)
    z_u = at_visit(z_urine)
    urine_detect = np.exp(settings.detection_noise_sd * z_u)
    urine_positive = np.where(
        light,
        marker * urine_detect >= settings.urine_ife_limit_flc_mg_l,
        urine_true * urine_detect >= settings.urine_ife_limit_mg_24h,
    )
    done[SIFE] = ife
    result[SIFE] = np.where(serum_positive, POSITIVE, NEGATIVE)
    done[UIFE] = ife
    result[UIFE] = np.where(urine_positive, POSITIVE, NEGATIVE)

    # --- urine M-protein (24 h): at diagnosis for all, then on panels if urine is involved -----
    urine = np.floor(urine_true * np.exp(0.15 * z_u) + 0.5)
    done[UPEP] = diagnosis | (extended & (urine_at_diagnosis > 0))
    number[UPEP] = np.where(urine >= 20.0, urine, 0.0)
    unit[UPEP] = 3

    mg_dl = of_patient(patients.flc_mg_dl)
    flc_done = light | extended | ife
    for test, value in ((KAPPA, flc_k), (LAMBDA, flc_l)):
        done[test] = flc_done
        number[test] = np.where(mg_dl, _round(value * 0.1, 2), value)
        unit[test] = np.where(mg_dl, 5, 4)
    ratio = flc_k / np.maximum(flc_l, 0.1)
    done[RATIO] = flc_done
    number[RATIO] = np.where(
        ratio >= 0.1, _round(ratio, 2), np.where(ratio >= 0.01, _round(ratio, 3), _round(ratio, 4))
    )
    unit[RATIO] = 6

    # --- CRAB laboratory values on panels -------------------------------------------------------
    burden = np.minimum(cells, 1.5)
    z = np.take(z_lab.reshape(-1, 3), flat, axis=0)
    hb = (
        of_patient(patients.haemoglobin_base)
        - 3.5 * np.minimum(clonal_fraction / 0.5, 1.0)
        + 0.4 * z[:, 0]
    )
    ca = (
        of_patient(patients.calcium_base)
        + of_patient(patients.bone_disease) * 1.8 * burden
        + 0.25 * z[:, 1]
    )
    cr = (
        of_patient(patients.creatinine_base)
        * (1.0 + of_patient(patients.renal_disease) * 1.5 * burden)
        * np.exp(0.08 * z[:, 2])
    )
    panel = extended | diagnosis
    for test, si_value, si_dec, si_unit, value, dec, conventional_unit in (
        (HB, hb * 10.0, 0, 2, hb, 1, 1),
        (CA, ca / 4.008, 2, 8, ca, 1, 5),
        (CR, cr * 88.4, 0, 9, cr, 2, 5),
    ):
        done[test] = panel
        number[test] = np.where(si, _round(si_value, si_dec), _round(value, dec))
        unit[test] = np.where(si, si_unit, conventional_unit)

    # --- marrow: at diagnosis and at a line's first visit with negative IFE (to confirm CR);
    # MRD on a marrow once IFE is negative after 6 months of the line, repeated a year later
    negative = ife & ~serum_positive & ~urine_positive & (line >= 1)
    events_u = u_event.reshape(-1, 4)
    events_z = z_event.reshape(-1, 2)
    first = _first_per_line(negative, line_key)
    cr_marrow = np.zeros(n, dtype=bool)
    cr_marrow[first[events_u[line_key[first], 1] < settings.marrow_at_cr_probability]] = True
    first = _first_per_line(negative & (in_line >= settings.mrd_after_visits), line_key)
    mrd = np.zeros(n, dtype=bool)
    mrd[first[events_u[line_key[first], 2] < settings.mrd_probability]] = True
    first_mrd_visit = np.full(events_u.shape[0], np.iinfo(np.int64).max // 2)
    first_mrd_visit[line_key[mrd]] = in_line[mrd]
    repeat = negative & (in_line >= np.take(first_mrd_visit, line_key) + settings.mrd_repeat_visits)
    first = _first_per_line(repeat, line_key)
    mrd[first[events_u[line_key[first], 0] < settings.mrd_repeat_probability]] = True
    marrow = diagnosis | cr_marrow | mrd
    z_m = np.take(events_z[:, 0], line_key)
    z_c = np.take(events_z[:, 1], line_key)
    plasma = 100.0 * clonal_fraction + _NORMAL_MARROW_PLASMA_CELLS_PCT
    done[BMPC] = marrow
    number[BMPC] = np.minimum(np.floor(plasma * np.exp(0.25 * z_m) + 0.5), 98.0)
    unit[BMPC] = 7
    done[CLONALITY] = marrow
    result[CLONALITY] = np.where(clonal_fraction >= 0.002 * np.exp(0.5 * z_c), CLONAL, NOT_CLONAL)
    u_method = np.take(events_u[:, 3], line_key)
    sensitivity = np.where(u_method >= 0.7, 1e-6, 1e-5)
    done[MRD] = mrd
    result[MRD] = np.where(clonal_fraction >= sensitivity * np.exp(0.5 * z_c), POSITIVE, NEGATIVE)

    entry, column = np.nonzero(done.T)  # patient, visit, then test order
    cell = column * n + entry
    is_mrd = column == MRD
    return LabRows(
        row=np.take(i, entry),
        day=np.take(paths.visit_day.reshape(-1), np.take(flat, entry)),
        test=column.astype(np.int8),
        number=np.take(number.reshape(-1), cell),
        result=np.take(result.reshape(-1), cell),
        unit=np.take(unit.reshape(-1), cell),
        method=np.where(is_mrd, np.take(u_method, entry) >= 0.5, -1).astype(np.int8),
        sensitivity=np.where(is_mrd, np.take(sensitivity, entry), np.nan),
    )
