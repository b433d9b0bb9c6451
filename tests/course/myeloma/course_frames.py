"""Small hand-written canonical frames for the course tests (no file reading)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import polars as pl

from relapsewatch.schema import FINDINGS, MEASUREMENTS, PATIENTS, TREATMENTS

#: Drug classes of spec §2.3, as the reader's vocabulary assigns them.
CLASSES: dict[str, list[str]] = {
    "thalidomide": ["imid"],
    "lenalidomide": ["imid"],
    "pomalidomide": ["imid"],
    "iberdomide": ["celmod"],
    "bortezomib": ["pi"],
    "carfilzomib": ["pi"],
    "ixazomib": ["pi"],
    "daratumumab": ["anti_cd38"],
    "isatuximab": ["anti_cd38"],
    "elotuzumab": ["anti_slamf7"],
    "belantamab mafodotin": ["bcma"],
    "teclistamab": ["bcma", "bispecific"],
    "elranatamab": ["bcma", "bispecific"],
    "talquetamab": ["gprc5d", "bispecific"],
    "idecabtagene vicleucel": ["bcma", "car_t"],
    "ciltacabtagene autoleucel": ["bcma", "car_t"],
    "selinexor": ["xpo1"],
    "venetoclax": ["bcl2"],
    "panobinostat": ["hdac"],
    "melphalan": ["alkylator"],
    "cyclophosphamide": ["alkylator"],
    "bendamustine": ["alkylator"],
    "fludarabine": ["chemotherapy"],
    "carmustine": ["chemotherapy"],
    "etoposide": ["chemotherapy"],
    "cisplatin": ["chemotherapy"],
    "doxorubicin": ["chemotherapy"],
    "dexamethasone": ["steroid"],
    "prednisone": ["steroid"],
    "filgrastim": ["supportive"],
    "plerixafor": ["supportive"],
    "zoledronic acid": ["supportive"],
    "autologous_transplant": ["procedure"],
    "allogeneic_transplant": ["procedure"],
    "apheresis": ["procedure"],
    "car_t_infusion": ["procedure"],
    "radiotherapy": ["procedure"],
}

#: Common regimen abbreviations of the worked examples.
REGIMENS: dict[str, tuple[str, ...]] = {
    "Rd": ("lenalidomide", "dexamethasone"),
    "VRd": ("bortezomib", "lenalidomide", "dexamethasone"),
    "KRd": ("carfilzomib", "lenalidomide", "dexamethasone"),
    "Kd": ("carfilzomib", "dexamethasone"),
    "DRd": ("daratumumab", "lenalidomide", "dexamethasone"),
    "DPd": ("daratumumab", "pomalidomide", "dexamethasone"),
    "DKd": ("daratumumab", "carfilzomib", "dexamethasone"),
    "DVRd": ("daratumumab", "bortezomib", "lenalidomide", "dexamethasone"),
}


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _opt(text: str | None) -> dt.date | None:
    return None if text is None else d(text)


def patients(*ids: str, diagnosis: str = "2000-01-01") -> pl.DataFrame:
    return (
        pl.DataFrame(
            {
                "patient_id": list(ids),
                "disease": ["myeloma"] * len(ids),
                "diagnosis_date": [d(diagnosis)] * len(ids),
            },
        )
        .with_columns(
            *(
                pl.lit(None, dtype).alias(name)
                for name, dtype in PATIENTS.items()
                if name not in ("patient_id", "disease", "diagnosis_date")
            )
        )
        .select(list(PATIENTS))
        .cast(PATIENTS)
    )  # type: ignore[arg-type]


def treatments(rows: Iterable[tuple[object, ...]], patient: str = "p1") -> pl.DataFrame:
    """Rows ``(therapy_or_regimen, start, end[, intent])``; regimens are exploded."""
    out: list[dict[str, object]] = []
    for row in rows:
        therapy, start, end = row[0], row[1], row[2]
        intent = row[3] if len(row) > 3 else None
        assert isinstance(therapy, str)
        for drug in REGIMENS.get(therapy, (therapy,)):
            out.append(
                {
                    "patient_id": patient,
                    "therapy": drug,
                    "drug_classes": CLASSES[drug],
                    "start_date": d(str(start)),
                    "end_date": _opt(end if end is None else str(end)),
                    "intent": intent,
                    "reported_therapy": therapy,
                }
            )
    if not out:
        return pl.DataFrame(schema=TREATMENTS)
    return pl.DataFrame(out, schema=TREATMENTS)


def findings(rows: Iterable[tuple[str, str, str | None]], patient: str = "p1") -> pl.DataFrame:
    """Rows ``(date, finding, detail)``."""
    data = [{"patient_id": patient, "date": d(r[0]), "finding": r[1], "detail": r[2]} for r in rows]
    return pl.DataFrame(data, schema=FINDINGS)


def measurements(
    rows: Iterable[tuple[str, str, float | None, str | None]], patient: str = "p1"
) -> pl.DataFrame:
    """Rows ``(date, test, value, result)`` in canonical units."""
    units = {
        "serum_m_protein": "g/dL",
        "urine_m_protein": "mg/24h",
        "flc_kappa": "mg/L",
        "flc_lambda": "mg/L",
        "flc_ratio": "ratio",
        "bm_plasma_cells": "%",
    }
    data = [
        {
            "patient_id": patient,
            "date": d(r[0]),
            "test": r[1],
            "value": r[2],
            "result": r[3],
            "limit": None,
            "unit": units.get(r[1]),
            "method": None,
            "sensitivity": None,
            "reported_test": r[1],
            "reported_unit": units.get(r[1]),
            "flags": None,
        }
        for r in rows
    ]
    return pl.DataFrame(data, schema=MEASUREMENTS)


def progression(rows: Iterable[tuple[str, str]]) -> pl.DataFrame:
    """Rows ``(patient_id, date)``."""
    return pl.DataFrame(
        [{"patient_id": p, "date": d(x)} for p, x in rows],
        schema={"patient_id": pl.String, "date": pl.Date},
    )


def concat(frames: Iterable[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat(list(frames), how="vertical")
