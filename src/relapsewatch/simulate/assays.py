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

import numpy as np
from numpy.typing import NDArray

from relapsewatch.simulate.markers import NUMBER, SPEP_BELOW_FLOOR, measured_flc, measured_spep
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


def _round(values: FloatArray, decimals: IntArray | int) -> FloatArray:
    scale = np.power(10.0, decimals)
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

    i, j = np.nonzero(paths.visit_measured)  # visits that happened, by patient then date
    n = i.size
    line = paths.visit_line[i, j].astype(np.int64)
    in_line = paths.visit_in_line[i, j]
    baseline = in_line == 0
    extended = in_line % settings.extended_panel_every == 0
    diagnosis = j == 0
    marker = paths.marker[i, j]
    cells = paths.cells[i, j]
    noise = {name: values[i, j] for name, values in paths.marker_noise.items()}
    light = patients.light_chain_only[i]
    si = patients.si_units[i]
    kappa = patients.kappa[i]
    clonal_fraction = patients.marrow_fraction[i] * cells

    number = np.full((n, len(TESTS)), np.nan)
    result = np.full((n, len(TESTS)), -1, dtype=np.int8)
    unit = np.zeros((n, len(TESTS)), dtype=np.int8)
    done = np.zeros((n, len(TESTS)), dtype=bool)

    # --- SPEP: every visit for heavy-chain disease ("0", no band, on panels for light chain) ---
    spep, code = measured_spep(
        marker,
        noise["spep"],
        noise["detect"],
        patients.spep_floor[i],
        sd_g_dl=settings.spep_sd_g_dl,
        cv=settings.spep_cv,
        visible_g_dl=settings.spep_band_visible_g_dl,
        detect_sd=settings.detection_noise_sd,
    )
    code = np.where(light, 2, code)
    spep = np.where(light, 0.0, spep)
    high_floor = patients.spep_floor[i] > settings.spep_floor_g_dl
    done[:, SPEP] = ~light | extended
    number[:, SPEP] = np.where(si, _round(spep * 10.0, 1), spep)
    result[:, SPEP] = np.where(
        code == SPEP_BELOW_FLOOR,
        np.where(si, np.where(high_floor, 7, 6), np.where(high_floor, 5, 4)),
        -1,
    )
    unit[:, SPEP] = np.where(si, 2, 1)

    # --- free light chains ----------------------------------------------------------------------
    excess = np.where(light, marker, patients.flc_per_marker[i] * marker)
    normal_kappa, normal_lambda = patients.normal_kappa[i], patients.normal_lambda[i]
    flc_k = measured_flc(
        normal_kappa + np.where(kappa, excess, 0.0), noise["kappa"], cv=settings.flc_cv
    )
    flc_l = measured_flc(
        normal_lambda + np.where(kappa, 0.0, excess), noise["lambda"], cv=settings.flc_cv
    )
    involved_excess = np.maximum(np.where(kappa, flc_k - normal_kappa, flc_l - normal_lambda), 0.0)

    # --- immunofixation, at baselines and on panels once the M-protein is not quantifiable -----
    detect = np.exp(settings.detection_noise_sd * noise["detect"])
    low_marker = np.where(light, involved_excess < 100.0, code != NUMBER)
    ife = (
        baseline
        | diagnosis
        | (extended & low_marker & (u_ife[i, j] < settings.ife_done_probability))
    )
    antibody = paths.antibody_lines[i, np.maximum(line, 0)]
    interference = (
        (patients.heavy_chain[i] == IGG)
        & kappa
        & antibody
        & (u_ife[i, j] < settings.antibody_ife_interference_probability)
    )
    serum_positive = (
        np.where(
            light,
            marker * detect >= settings.ife_limit_flc_mg_l,
            marker * detect >= settings.ife_limit_g_dl,
        )
        | interference
    )
    urine_true = patients.urine_at_diagnosis[i] * marker / patients.marker_at_diagnosis[i]
    urine_detect = np.exp(settings.detection_noise_sd * z_urine[i, j])
    urine_positive = np.where(
        light,
        marker * urine_detect >= settings.urine_ife_limit_flc_mg_l,
        urine_true * urine_detect >= settings.urine_ife_limit_mg_24h,
    )
    for test, positive in ((SIFE, serum_positive), (UIFE, urine_positive)):
        done[:, test] = ife
        result[:, test] = np.where(positive, POSITIVE, NEGATIVE)

    # --- urine M-protein (24 h): at diagnosis for all, then on panels if urine is involved -----
    urine = np.floor(urine_true * np.exp(0.15 * z_urine[i, j]) + 0.5)
    done[:, UPEP] = diagnosis | (extended & (patients.urine_at_diagnosis[i] > 0))
    number[:, UPEP] = np.where(urine >= 20.0, urine, 0.0)
    unit[:, UPEP] = 3

    mg_dl = patients.flc_mg_dl[i]
    flc_decimals = np.where(mg_dl, 2, 1)
    flc_done = light | extended | ife
    for test, value in ((KAPPA, flc_k), (LAMBDA, flc_l)):
        done[:, test] = flc_done
        number[:, test] = _round(np.where(mg_dl, value * 0.1, value), flc_decimals)
        unit[:, test] = np.where(mg_dl, 5, 4)
    ratio = flc_k / np.maximum(flc_l, 0.1)
    done[:, RATIO] = flc_done
    number[:, RATIO] = _round(ratio, 2 + (ratio < 0.1) + (ratio < 0.01))
    unit[:, RATIO] = 6

    # --- CRAB laboratory values on panels -------------------------------------------------------
    burden = np.minimum(cells, 1.5)
    z = z_lab[i, j]
    hb = patients.haemoglobin_base[i] - 3.5 * np.minimum(clonal_fraction / 0.5, 1.0) + 0.4 * z[:, 0]
    ca = patients.calcium_base[i] + patients.bone_disease[i] * 1.8 * burden + 0.25 * z[:, 1]
    cr = (
        patients.creatinine_base[i]
        * (1.0 + patients.renal_disease[i] * 1.5 * burden)
        * np.exp(0.08 * z[:, 2])
    )
    for test, si_value, si_dec, si_unit, value, dec, conventional_unit in (
        (HB, hb * 10.0, 0, 2, hb, 1, 1),
        (CA, ca / 4.008, 2, 8, ca, 1, 5),
        (CR, cr * 88.4, 0, 9, cr, 2, 5),
    ):
        done[:, test] = extended | diagnosis
        number[:, test] = np.where(si, _round(si_value, si_dec), _round(value, dec))
        unit[:, test] = np.where(si, si_unit, conventional_unit)

    # --- marrow and MRD: at diagnosis, and at a line's first visit with negative IFE ----------
    key = i * (settings.max_lines + 1) + line
    negative = ife & ~serum_positive & ~urine_positive & (line >= 1)
    first = _first_per_line(negative, key)
    chosen = first[u_event[i[first], line[first], 1] < settings.marrow_at_cr_probability]
    marrow = diagnosis.copy()
    marrow[chosen] = True
    cr_marrow = np.zeros(n, dtype=bool)
    cr_marrow[chosen] = True
    z_m = z_event[i, line, 0]
    z_c = z_event[i, line, 1]
    plasma = np.minimum(100.0 * clonal_fraction + _NORMAL_MARROW_PLASMA_CELLS_PCT, 95.0)
    done[:, BMPC] = marrow
    number[:, BMPC] = np.floor(plasma * np.exp(0.25 * z_m) + 0.5)
    unit[:, BMPC] = 7
    done[:, CLONALITY] = marrow
    result[:, CLONALITY] = np.where(
        clonal_fraction >= 0.002 * np.exp(0.5 * z_c), CLONAL, NOT_CLONAL
    )
    u_method = u_event[i, line, 3]
    sensitivity = np.where(u_method >= 0.7, 1e-6, 1e-5)
    done[:, MRD] = cr_marrow & (u_event[i, line, 2] < settings.mrd_at_marrow_probability)
    result[:, MRD] = np.where(
        clonal_fraction >= sensitivity * np.exp(0.5 * z_c), POSITIVE, NEGATIVE
    )

    entry, column = np.nonzero(done)  # row-major: patient, visit, then test order
    is_mrd = column == MRD
    return LabRows(
        row=i[entry].astype(np.int64),
        day=paths.visit_day[i[entry], j[entry]],
        test=column.astype(np.int8),
        number=number[entry, column],
        result=result[entry, column],
        unit=unit[entry, column],
        method=np.where(is_mrd, (u_method[entry] >= 0.5).astype(np.int8), -1).astype(np.int8),
        sensitivity=np.where(is_mrd, sensitivity[entry], np.nan),
    )
