"""One virtual patient's latent course, recomputed from the truth tables (for figures and checks).

The truth tables hold every line's two-population parameters, so the noiseless tumour burden and
paraprotein can be evaluated on any grid of days. Burden is expressed in *marker equivalents*
(M-protein g/dL for heavy-chain disease, involved-FLC excess mg/L for light-chain disease): the
marker level the tumour would produce if the marker followed the cells without delay. On that
scale the detection floors of SPEP, immunofixation and MRD are horizontal lines.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from relapsewatch.errors import SchemaError
from relapsewatch.schema import require_columns
from relapsewatch.simulate.dynamics import TwoPopulation

__all__ = ["detection_floors", "latent_trajectory"]

_LINE_COLUMNS = (
    "patient_id",
    "line",
    "start_date",
    "end_date",
    "marker_at_start",
    "tumour_burden_at_start",
    "resistant_fraction",
    "resistant_growth_per_day",
    "sensitive_kill_per_day",
    "paraprotein_fall_per_day",
    "sensitive_regrowth_per_day",
    "therapy_acting_days",
)
_PATIENT_COLUMNS = ("patient_id", "marker_at_diagnosis", "marrow_clonal_fraction", "heavy_chain")


def _one(frame: pl.DataFrame, patient_id: str, table: str) -> pl.DataFrame:
    rows = frame.filter(pl.col("patient_id") == patient_id)
    if rows.height == 0:
        raise SchemaError(
            f"`{table}` has no rows for patient {patient_id!r}; "
            "pass a patient_id of the simulated cohort"
        )
    return rows


def latent_trajectory(
    truth_lines: pl.DataFrame, truth_patients: pl.DataFrame, patient_id: str, *, step_days: int = 7
) -> pl.DataFrame:
    """Noiseless tumour burden and paraprotein of one patient, every ``step_days`` days.

    Returns columns ``date``, ``line``, ``tumour_burden`` (marker equivalents) and
    ``paraprotein`` (the marker itself, which cannot fall faster than its clearance allows).
    """
    require_columns(truth_lines, _LINE_COLUMNS, table="truth_lines")
    require_columns(truth_patients, _PATIENT_COLUMNS, table="truth_patients")
    lines = _one(truth_lines, patient_id, "truth_lines").sort("line")
    patient = _one(truth_patients, patient_id, "truth_patients").row(0, named=True)
    scale = float(patient["marker_at_diagnosis"])
    parts = []
    for line in lines.iter_rows(named=True):
        start: dt.date = line["start_date"]
        end: dt.date = line["end_date"]
        days = np.arange(0, (end - start).days + 1, step_days, dtype=np.float64)
        days = np.unique(np.append(days, float((end - start).days)))
        acting = line["therapy_acting_days"]
        shared = {
            "resistant_fraction": np.full(1, line["resistant_fraction"]),
            "resistant_growth": np.full(1, line["resistant_growth_per_day"]),
            "regrowth": np.full(1, line["sensitive_regrowth_per_day"]),
            "therapy_days": np.full(1, np.inf if acting is None else float(acting)),
        }
        cells = TwoPopulation(
            start=np.full(1, line["tumour_burden_at_start"]),
            sensitive_rate=np.full(1, line["sensitive_kill_per_day"]),
            **shared,
        )
        marker = TwoPopulation(
            start=np.full(1, line["marker_at_start"]),
            sensitive_rate=np.full(1, line["paraprotein_fall_per_day"]),
            **shared,
        )
        grid = days[None, :]
        parts.append(
            pl.DataFrame(
                {
                    "date": [start + dt.timedelta(days=int(d)) for d in days],
                    "line": [int(line["line"])] * days.size,
                    "tumour_burden": scale * cells.at(grid)[0],
                    "paraprotein": marker.at(grid)[0],
                }
            )
        )
    return pl.concat(parts)


def detection_floors(truth_patients: pl.DataFrame, patient_id: str) -> pl.DataFrame:
    """The detection floors of one patient on the burden scale of :func:`latent_trajectory`.

    Columns ``floor``, ``value`` and ``label``; the label describes what can be seen *above*
    the floor (down to the next floor).

    SPEP quantitation and immunofixation floors are fixed marker levels (spec §6; calibration
    doc); an MRD test at sensitivity ``s`` sees a clonal plasma-cell fraction of ``s``, which on
    this scale is ``marker at diagnosis × s / (clonal fraction at diagnosis)``.
    """
    require_columns(truth_patients, (*_PATIENT_COLUMNS, "spep_floor_g_dl"), table="truth_patients")
    patient = _one(truth_patients, patient_id, "truth_patients").row(0, named=True)
    scale = float(patient["marker_at_diagnosis"]) / float(patient["marrow_clonal_fraction"])
    light_chain = patient["heavy_chain"] == "none"
    rows = [
        ("ife", 150.0 if light_chain else 0.015, "Only immunofixation (IFE) can see the M-protein"),
        ("mrd_1e-5", scale * 1e-5, "Only MRD tests can see the cells (1 in 100,000)"),
        ("mrd_1e-6", scale * 1e-6, "Only the most sensitive MRD tests (1 in 1,000,000)"),
    ]
    if not light_chain:
        rows.insert(
            0, ("spep", float(patient["spep_floor_g_dl"]), "SPEP can measure the M-protein")
        )
    return pl.DataFrame(
        rows, schema={"floor": pl.String, "value": pl.Float64, "label": pl.String}, orient="row"
    )
