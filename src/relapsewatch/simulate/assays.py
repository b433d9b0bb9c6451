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
    """Which tests each visit had and what the lab reported.

    SPEP is computed for every visit; everything else only for the visits that can have it
    (panels, and every visit of light-chain disease for FLC), which is where the time goes.
    """
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
    tests = len(TESTS)
    number = np.full((tests, n), np.nan)
    result = np.full((tests, n), -1, dtype=np.int8)
    unit = np.zeros((tests, n), dtype=np.int8)
    done = np.zeros((tests, n), dtype=bool)

    def at_visit(grid: NDArray[Any], where: IntArray | None = None) -> NDArray[Any]:
        taken: NDArray[Any] = np.take(grid.reshape(-1), flat if where is None else flat[where])
        return taken

    def of_patient(values: NDArray[Any], where: IntArray | None = None) -> NDArray[Any]:
        taken: NDArray[Any] = np.take(values, i if where is None else i[where])
        return taken

    line = at_visit(paths.visit_line).astype(np.int64)
    in_line = at_visit(paths.visit_in_line)
    extended = in_line % settings.extended_panel_every == 0
    diagnosis = j == 0
    marker = at_visit(paths.marker)
    light = of_patient(patients.light_chain_only)
    si = of_patient(patients.si_units)

    # --- SPEP: every visit for heavy-chain disease ("0", no band, on panels for light chain) ---
    floor = of_patient(patients.spep_floor)
    spep, code = measured_spep(
        marker,
        at_visit(paths.marker_noise["spep"]),
        at_visit(paths.marker_noise["detect"]),
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

    # --- free light chains: every visit for light-chain disease, on panels otherwise ------------
    f = np.flatnonzero(light | extended | diagnosis)
    kappa_f = of_patient(patients.kappa, f)
    light_f = light[f]
    excess = np.where(light_f, marker[f], of_patient(patients.flc_per_marker, f) * marker[f])
    normal_kappa = of_patient(patients.normal_kappa, f)
    normal_lambda = of_patient(patients.normal_lambda, f)
    flc_k = measured_flc(
        normal_kappa + np.where(kappa_f, excess, 0.0),
        at_visit(paths.marker_noise["kappa"], f),
        cv=settings.flc_cv,
    )
    flc_l = measured_flc(
        normal_lambda + np.where(kappa_f, 0.0, excess),
        at_visit(paths.marker_noise["lambda"], f),
        cv=settings.flc_cv,
    )
    involved_excess = np.where(kappa_f, flc_k - normal_kappa, flc_l - normal_lambda)

    # --- the panel visits: IFE, urine, CRAB, marrow, MRD ------------------------------------
    p = np.flatnonzero(extended | diagnosis)
    in_f = np.searchsorted(f, p)  # panel visits are a subset of the FLC visits
    light_p, marker_p, line_p, in_line_p = light[p], marker[p], line[p], in_line[p]
    kappa_p = kappa_f[in_f]
    line_key = i[p] * (settings.max_lines + 1) + np.maximum(line_p, 0)
    tumour = {name: np.take(values.reshape(-1), line_key) for name, values in paths.tumour.items()}
    cells = TwoPopulation(
        tumour["level"],
        tumour["fraction"],
        tumour["growth"],
        tumour["rate"],
        tumour["regrowth"],
        tumour["days"],
    ).at(at_visit(paths.visit_day, p) - tumour["start"])
    clonal_fraction = of_patient(patients.marrow_fraction, p) * cells

    # immunofixation at baselines and once SPEP (or FLC) no longer shows a quantity
    u_visit = at_visit(u_ife, p)
    detect = np.exp(settings.detection_noise_sd * at_visit(paths.marker_noise["detect"], p))
    low_marker = np.where(light_p, involved_excess[in_f] < 100.0, code[p] != NUMBER)
    ife = (in_line_p == 0) | diagnosis[p] | (low_marker & (u_visit < settings.ife_done_probability))
    antibody = np.take(paths.antibody_lines.reshape(-1), line_key)
    interference = (
        (of_patient(patients.heavy_chain, p) == IGG)
        & kappa_p
        & antibody
        & (u_visit < settings.antibody_ife_interference_probability)
    )
    serum_positive = (
        np.where(
            light_p,
            marker_p * detect >= settings.ife_limit_flc_mg_l,
            marker_p * detect >= settings.ife_limit_g_dl,
        )
        | interference
    )
    urine_at_diagnosis = of_patient(patients.urine_at_diagnosis, p)
    urine_true = urine_at_diagnosis * marker_p / of_patient(patients.marker_at_diagnosis, p)
    z_u = at_visit(z_urine, p)
    urine_detect = np.exp(settings.detection_noise_sd * z_u)
    urine_positive = np.where(
        light_p,
        marker_p * urine_detect >= settings.urine_ife_limit_flc_mg_l,
        urine_true * urine_detect >= settings.urine_ife_limit_mg_24h,
    )
    done[SIFE, p] = ife
    result[SIFE, p] = np.where(serum_positive, POSITIVE, NEGATIVE)
    done[UIFE, p] = ife
    result[UIFE, p] = np.where(urine_positive, POSITIVE, NEGATIVE)

    # urine M-protein (24 h): at diagnosis for all, then on panels if urine is involved
    urine = np.floor(urine_true * np.exp(0.15 * z_u) + 0.5)
    done[UPEP, p] = diagnosis[p] | (urine_at_diagnosis > 0)
    number[UPEP, p] = np.where(urine >= 20.0, urine, 0.0)
    unit[UPEP, p] = 3

    mg_dl = of_patient(patients.flc_mg_dl, f)
    flc_done = light_f.copy()
    flc_done[in_f] |= True  # every panel visit (FLC is part of every panel)
    for test, value in ((KAPPA, flc_k), (LAMBDA, flc_l)):
        done[test, f] = flc_done
        number[test, f] = np.where(mg_dl, _round(value * 0.1, 2), value)
        unit[test, f] = np.where(mg_dl, 5, 4)
    ratio = flc_k / np.maximum(flc_l, 0.1)
    done[RATIO, f] = flc_done
    number[RATIO, f] = np.where(
        ratio >= 0.1, _round(ratio, 2), np.where(ratio >= 0.01, _round(ratio, 3), _round(ratio, 4))
    )
    unit[RATIO, f] = 6

    # CRAB laboratory values
    burden = np.minimum(cells, 1.5)
    z = np.take(z_lab.reshape(-1, 3), flat[p], axis=0)
    hb = (
        of_patient(patients.haemoglobin_base, p)
        - 3.5 * np.minimum(clonal_fraction / 0.5, 1.0)
        + 0.4 * z[:, 0]
    )
    ca = (
        of_patient(patients.calcium_base, p)
        + of_patient(patients.bone_disease, p) * 1.8 * burden
        + 0.25 * z[:, 1]
    )
    cr = (
        of_patient(patients.creatinine_base, p)
        * (1.0 + of_patient(patients.renal_disease, p) * 1.5 * burden)
        * np.exp(0.08 * z[:, 2])
    )
    si_p = si[p]
    for test, si_value, si_dec, si_unit, value, dec, conventional_unit in (
        (HB, hb * 10.0, 0, 2, hb, 1, 1),
        (CA, ca / 4.008, 2, 8, ca, 1, 5),
        (CR, cr * 88.4, 0, 9, cr, 2, 5),
    ):
        done[test, p] = True
        number[test, p] = np.where(si_p, _round(si_value, si_dec), _round(value, dec))
        unit[test, p] = np.where(si_p, si_unit, conventional_unit)

    # marrow at diagnosis and at a line's first negative IFE (to confirm CR); MRD on a marrow
    # once IFE is negative after 6 months of the line, repeated about a year later
    negative = ife & ~serum_positive & ~urine_positive & (line_p >= 1)
    events_u = u_event.reshape(-1, 4)
    events_z = z_event.reshape(-1, 2)
    first = _first_per_line(negative, line_key)
    cr_marrow = np.zeros(p.size, dtype=bool)
    cr_marrow[first[events_u[line_key[first], 1] < settings.marrow_at_cr_probability]] = True
    first = _first_per_line(negative & (in_line_p >= settings.mrd_after_visits), line_key)
    mrd = np.zeros(p.size, dtype=bool)
    mrd[first[events_u[line_key[first], 2] < settings.mrd_probability]] = True
    first_mrd_visit = np.full(events_u.shape[0], np.iinfo(np.int64).max // 2)
    first_mrd_visit[line_key[mrd]] = in_line_p[mrd]
    repeat = negative & (
        in_line_p >= np.take(first_mrd_visit, line_key) + settings.mrd_repeat_visits
    )
    first = _first_per_line(repeat, line_key)
    mrd[first[events_u[line_key[first], 0] < settings.mrd_repeat_probability]] = True
    marrow = diagnosis[p] | cr_marrow | mrd
    z_m = np.take(events_z[:, 0], line_key)
    z_c = np.take(events_z[:, 1], line_key)
    plasma = 100.0 * clonal_fraction + _NORMAL_MARROW_PLASMA_CELLS_PCT
    done[BMPC, p] = marrow
    number[BMPC, p] = np.minimum(np.floor(plasma * np.exp(0.25 * z_m) + 0.5), 98.0)
    unit[BMPC, p] = 7
    done[CLONALITY, p] = marrow
    result[CLONALITY, p] = np.where(
        clonal_fraction >= 0.002 * np.exp(0.5 * z_c), CLONAL, NOT_CLONAL
    )
    u_method = np.full(n, np.nan)
    u_method[p] = np.take(events_u[:, 3], line_key)
    sensitivity = np.where(u_method >= 0.7, 1e-6, 1e-5)
    done[MRD, p] = mrd
    result[MRD, p] = np.where(
        clonal_fraction >= sensitivity[p] * np.exp(0.5 * z_c), POSITIVE, NEGATIVE
    )

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
