"""From simulated arrays to the canonical input tables and the truth tables (Polars frames).

The canonical tables are in the *file* view of :data:`relapsewatch.schema.FILE_TABLES` (the
measurement ``value`` is text: numbers, ``positive``/``negative``, ``<0.1``), so writing them
with :mod:`relapsewatch.io` gives files that ``relapsewatch course`` reads unchanged. Every frame
keeps a leading ``_index`` column (the patient's cohort index) that the cohort drops on output;
it lets a batch be cut into fixed random-number blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from relapsewatch.simulate.assays import MRD_METHODS, QUALITATIVE, TESTS, UNITS, LabRows
from relapsewatch.simulate.pathway import (
    CLINICAL_FINDINGS,
    END_REASONS,
    TREATMENT_TRIGGERS,
    Pathways,
)
from relapsewatch.simulate.population import HEAVY_CHAIN_NAMES, Patients
from relapsewatch.simulate.regimens import PLANS
from relapsewatch.simulate.settings import SimulationSettings

__all__ = [
    "findings_frame",
    "measurements_frame",
    "patient_ids",
    "patients_frame",
    "treatments_frame",
    "truth_lines_frame",
    "truth_patients_frame",
]

ID_PREFIX = "VP"
ID_DIGITS = 7

# every (plan, course) pair gets one global course number, for vectorised look-ups
_COURSE_OFFSET = np.cumsum([0] + [len(p.courses) for p in PLANS])[:-1]
_THERAPY = [c.therapy for p in PLANS for c in p.courses]
_INTENT = [c.intent for p in PLANS for c in p.courses]
# regimen as DESIGN.md's derived `lines` table writes it: the drugs, sorted, joined by "+"
# (procedures and supportive care such as apheresis, transplant and filgrastim left out)
_NOT_DRUGS = {"apheresis", "autologous_transplant", "car_t_infusion", "filgrastim"}
_PLAN_REGIMEN = ["+".join(sorted(set(p.drugs) - _NOT_DRUGS)) for p in PLANS]


def patient_ids(index: NDArray[np.int64]) -> pl.Series:
    """Identifiers ``VP0000001`` … from 0-based cohort indices (sort like the indices).

    >>> patient_ids(np.array([0, 41])).to_list()
    ['VP0000001', 'VP0000042']
    """
    digits = pl.Series("patient_id", index + 1, dtype=pl.Int64).cast(pl.String)
    return (ID_PREFIX + digits.str.zfill(ID_DIGITS)).alias("patient_id")


def _dates(base: NDArray[np.int64], offset: NDArray[np.float64]) -> pl.Series:
    """Calendar dates from epoch days plus day offsets (``inf``/``nan`` offsets give nulls)."""
    finite = np.isfinite(offset)
    days = np.where(finite, base + np.floor(np.where(finite, offset, 0.0)), 0).astype(np.int32)
    return _without(pl.Series(days).cast(pl.Date), ~finite)


def _without(series: pl.Series, missing: NDArray[np.bool_]) -> pl.Series:
    """``series`` with nulls where ``missing``."""
    return series.scatter(np.nonzero(missing)[0], None)


def _lookup(names: Sequence[str | None], codes: NDArray[Any]) -> pl.Series:
    return pl.Series(list(names), dtype=pl.String).gather(pl.Series(codes, dtype=pl.Int64))


def patients_frame(patients: Patients, ids: pl.Series) -> pl.DataFrame:
    """The ``patients`` table."""
    light = np.where(patients.kappa, 0, 1)
    return pl.DataFrame(
        {
            "_index": patients.index,
            "patient_id": ids,
            "disease": pl.Series(["myeloma"]).gather(np.zeros(patients.count, dtype=np.int64)),
            "diagnosis_date": _dates(patients.diagnosis_day, np.zeros(patients.count)),
            "heavy_chain": _lookup(HEAVY_CHAIN_NAMES, patients.heavy_chain),
            "light_chain": _lookup(("kappa", "lambda"), light),
            "sex": _lookup(("female", "male"), patients.male.astype(np.int64)),
            "birth_year": pl.Series(patients.birth_year, dtype=pl.Int32),
        }
    )


def measurements_frame(patients: Patients, ids: pl.Series, labs: LabRows) -> pl.DataFrame:
    """The ``measurements`` table, one row per result, ordered by patient, date and test.

    A number is written as the shortest text that reads back as the rounded value (``2.31``,
    ``0``, ``52``); a qualitative or below-floor result as its word (``negative``, ``<0.1``).
    """
    row = labs.row
    words = pl.Series([*QUALITATIVE, None], dtype=pl.String)
    result = np.where(labs.result >= 0, labs.result, len(QUALITATIVE)).astype(np.int64)
    numbers = pl.Series(labs.number).cast(pl.String).str.strip_suffix(".0")
    methods = np.where(labs.method >= 0, labs.method, len(MRD_METHODS)).astype(np.int64)
    return pl.DataFrame(
        {
            "_index": np.take(patients.index, row),
            "patient_id": ids.gather(row),
            "date": _dates(np.take(patients.diagnosis_day, row), labs.day),
            "test": _lookup(TESTS, labs.test),
            "value": words.gather(result).fill_null(numbers),
            "unit": _lookup([None, *UNITS[1:]], labs.unit),
            "method": _lookup([*MRD_METHODS, None], methods),
            "sensitivity": pl.Series(labs.sensitivity).fill_nan(None),
        }
    )


def treatments_frame(patients: Patients, ids: pl.Series, paths: Pathways) -> pl.DataFrame:
    """The ``treatments`` table, one row per drug course or procedure, by patient and date."""
    t = paths.treatments
    row = t["row"].astype(np.int64)
    course = _COURSE_OFFSET[t["plan"].astype(np.int64)] + t["course"].astype(np.int64)
    start = t["start"].astype(np.float64)
    order = np.lexsort((course, start, row))
    row, course, start = row[order], course[order], start[order]
    end = t["end"].astype(np.float64)[order]
    return pl.DataFrame(
        {
            "_index": patients.index[row],
            "patient_id": ids.gather(pl.Series(row, dtype=pl.Int64)),
            "therapy": _lookup(_THERAPY, course),
            "start_date": _dates(patients.diagnosis_day[row], start),
            "end_date": _dates(patients.diagnosis_day[row], end),
            "intent": _lookup(_INTENT, course),
        }
    )


def findings_frame(patients: Patients, ids: pl.Series, paths: Pathways) -> pl.DataFrame:
    """The ``findings`` table: clinical relapses, new bone lesions or plasmacytomas, deaths."""
    lines = paths.lines
    row = lines["row"].astype(np.int64)
    clinical_day = lines["start"] + lines["clinical_tau"]
    shown = (
        np.isfinite(clinical_day)
        & (clinical_day <= lines["line_stop"])
        & (clinical_day <= paths.exit_day[row])
    )
    detail = {
        "clinical_relapse": "rising disease with symptoms, adjudicated by the care team",
        "new_bone_lesion": "new lytic lesion on imaging",
        "new_plasmacytoma": "new soft-tissue plasmacytoma on imaging",
    }
    kinds = lines["clinical_kind"].astype(np.int64)
    died = np.isfinite(paths.death_day) & (paths.death_day <= paths.exit_day)
    death_rows = np.nonzero(died)[0]
    dies_of_disease = np.zeros(patients.count, dtype=bool)
    dies_of_disease[row[lines["dies_at_progression"].astype(bool)]] = True
    all_rows = np.concatenate([row[shown], death_rows])
    all_days = np.concatenate([clinical_day[shown], paths.death_day[death_rows]])
    finding_code = np.concatenate([kinds[shown], np.full(death_rows.size, 3)])
    detail_code = np.concatenate([kinds[shown], np.where(dies_of_disease[death_rows], 3, 4)])
    order = np.lexsort((finding_code, all_days, all_rows))
    all_rows, all_days = all_rows[order], all_days[order]
    names = (*CLINICAL_FINDINGS, "death")
    details = (*(detail[n] for n in CLINICAL_FINDINGS), "progressive myeloma", "unknown cause")
    return pl.DataFrame(
        {
            "_index": patients.index[all_rows],
            "patient_id": ids.gather(pl.Series(all_rows, dtype=pl.Int64)),
            "date": _dates(patients.diagnosis_day[all_rows], all_days),
            "finding": _lookup(names, finding_code[order]),
            "detail": _lookup(details, detail_code[order]),
        }
    )


def truth_lines_frame(
    patients: Patients, ids: pl.Series, paths: Pathways, settings: SimulationSettings
) -> pl.DataFrame:
    """Per patient and line: the true parameters, nadir, regrowth and progression dates."""
    lines = paths.lines
    row = lines["row"].astype(np.int64)
    order = np.lexsort((lines["line"], row))
    v = {name: values[order] for name, values in lines.items()}
    row = row[order]
    base = patients.diagnosis_day[row]
    start = v["start"].astype(np.float64)
    stop = v["line_stop"].astype(np.float64)

    def within(tau: NDArray[np.float64]) -> NDArray[np.float64]:
        moment = start + tau
        result: NDArray[np.float64] = np.where(moment <= stop, moment, np.inf)
        return result

    imwg = within(v["imwg_tau"])
    clinical = within(v["clinical_tau"])
    measured = np.where(v["pd_day"] <= stop, v["pd_day"], np.inf)
    at_visits = np.where(v["imwg_visit_day"] <= stop, v["imwg_visit_day"], np.inf)
    light = patients.light_chain_only[row]
    plan = v["plan"].astype(np.int64)
    kinds = v["clinical_kind"].astype(np.int64)
    return pl.DataFrame(
        {
            "_index": patients.index[row],
            "patient_id": ids.gather(pl.Series(row, dtype=pl.Int64)),
            "line": pl.Series(v["line"], dtype=pl.Int32),
            "plan_id": _lookup([p.id for p in PLANS], plan),
            "regimen": _lookup(_PLAN_REGIMEN, plan),
            "regimen_label": _lookup([p.label for p in PLANS], plan),
            "transplant": pl.Series([p.transplant for p in PLANS]).gather(plan),
            "start_date": _dates(base, start),
            "marker": _lookup(("serum_m_protein", "involved_flc_excess"), light.astype(np.int64)),
            "marker_unit": _lookup(("g/dL", "mg/L"), light.astype(np.int64)),
            "marker_at_start": v["level"],
            "tumour_burden_at_start": v["burden"],
            "resistant_fraction": v["resistant_fraction"],
            "deep_response": v["deep"].astype(bool),
            "resistant_growth_per_day": v["resistant_growth"],
            "sensitive_kill_per_day": v["sensitive_kill"],
            "paraprotein_fall_per_day": v["paraprotein_rate"],
            "sensitive_regrowth_per_day": v["regrowth"],
            "therapy_acting_days": _without(
                pl.Series(v["therapy_days"]), ~np.isfinite(v["therapy_days"])
            ),
            "doubling_time_days": np.log(2.0) / v["resistant_growth"],
            "nadir_date": _dates(base, within(v["nadir_tau"])),
            "nadir_value": v["nadir"],
            "regrowth_start_date": _dates(base, within(v["regrowth_tau"])),
            "imwg_progression_date": _dates(base, imwg),
            "imwg_progression_visit_date": _dates(base, at_visits),
            "clinical_relapse_date": _dates(base, clinical),
            "clinical_finding": _without(_lookup(CLINICAL_FINDINGS, kinds), ~np.isfinite(clinical)),
            "progression_date": _dates(base, np.minimum(imwg, clinical)),
            "measured_progression_date": _dates(base, measured),
            "next_line_trigger": _without(
                _lookup(TREATMENT_TRIGGERS, v["trigger"].astype(np.int64)), v["trigger"] == 0
            ),
            "next_line_start_date": _dates(base, v["next_start"]),
            "end_date": _dates(base, stop),
            "end_reason": _lookup(END_REASONS, v["end_reason"].astype(np.int64)),
            "profile": pl.Series([settings.calibration.name]).gather(
                np.zeros(row.size, dtype=np.int64)
            ),
        }
    )


def truth_patients_frame(patients: Patients, ids: pl.Series, paths: Pathways) -> pl.DataFrame:
    """Per patient: latent traits and how follow-up ended."""
    died = np.isfinite(paths.death_day) & (paths.death_day <= paths.exit_day)
    lost = ~died & (patients.lost_day < patients.follow_up_days)
    reason = np.where(died, 0, np.where(lost, 1, 2))
    lines = paths.lines
    started = np.bincount(lines["row"].astype(np.int64), minlength=patients.count)
    return pl.DataFrame(
        {
            "_index": patients.index,
            "patient_id": ids,
            "heavy_chain": _lookup(HEAVY_CHAIN_NAMES, patients.heavy_chain),
            "light_chain": _lookup(("kappa", "lambda"), np.where(patients.kappa, 0, 1)),
            "lab_units": _lookup(("conventional", "si"), patients.si_units.astype(np.int64)),
            "flc_unit": _lookup(("mg/L", "mg/dL"), patients.flc_mg_dl.astype(np.int64)),
            "spep_floor_g_dl": patients.spep_floor,
            "transplant_eligible": patients.transplant_eligible,
            "car_t_eligible": patients.car_t_eligible,
            "frailty": patients.frailty,
            "age_at_diagnosis": patients.age,
            "marker_at_diagnosis": patients.marker_at_diagnosis,
            "marrow_clonal_fraction": patients.marrow_fraction,
            "urine_m_protein_at_diagnosis": patients.urine_at_diagnosis,
            "normal_kappa_mg_l": patients.normal_kappa,
            "normal_lambda_mg_l": patients.normal_lambda,
            "paraprotein_half_life_days": patients.half_life_days,
            "follow_up_end_date": _dates(patients.diagnosis_day, paths.exit_day),
            "follow_up_end_reason": _lookup(("death", "lost_to_follow_up", "data_cutoff"), reason),
            "death_date": _dates(patients.diagnosis_day, np.where(died, paths.death_day, np.inf)),
            "lines_started": pl.Series(started, dtype=pl.Int32),
        }
    )
