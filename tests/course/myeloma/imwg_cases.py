"""Hand-written canonical frames for the IMWG response tests, and the worked examples of spec §8.

Conventions of spec §8 used in every example unless it says otherwise: urine M-protein is
0 mg/24 h at baseline and at every follow-up (urine not involved); the line baseline is the last
value before the first line start; CR needs negative serum and urine immunofixation and a marrow
with < 5 % plasma cells (A-10), so only examples that state those results can reach CR.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import polars as pl

from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.course.myeloma.responses import (
    EvaluatedAssessments,
    ResponseResult,
    derive_responses,
    evaluate_assessments,
)
from relapsewatch.schema import FINDINGS, MEASUREMENTS, PATIENTS, TREATMENTS

UNITS = {
    "serum_m_protein": "g/dL",
    "urine_m_protein": "mg/24h",
    "flc_kappa": "mg/L",
    "flc_lambda": "mg/L",
    "flc_ratio": None,
    "bm_plasma_cells": "%",
    "calcium": "mg/dL",
    "creatinine": "mg/dL",
    "hemoglobin": "g/dL",
}
CLASSES = {
    "lenalidomide": ["imid"],
    "pomalidomide": ["imid"],
    "bortezomib": ["pi"],
    "carfilzomib": ["pi"],
    "daratumumab": ["anti_cd38"],
    "isatuximab": ["anti_cd38"],
    "elotuzumab": ["anti_slamf7"],
    "teclistamab": ["bcma", "bispecific"],
    "dexamethasone": ["steroid"],
    "melphalan": ["alkylator"],
}


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


Row = tuple[object, ...]


def measurements(rows: Iterable[Row], patient: str = "p1") -> pl.DataFrame:
    """Rows ``(date, test, value_or_result[, method, sensitivity])`` in canonical units.

    A string value is a qualitative result (``positive``, ``negative``, ``not_clonal``,
    ``detected_nonquantifiable`` …); a number is a value.
    """
    data = []
    for row in rows:
        when, test, reading = str(row[0]), str(row[1]), row[2]
        method = row[3] if len(row) > 3 else None
        sensitivity = row[4] if len(row) > 4 else None
        is_number = isinstance(reading, int | float)
        data.append(
            {
                "patient_id": patient,
                "date": d(when),
                "test": test,
                "value": float(reading) if is_number else None,  # type: ignore[arg-type]
                "result": None if is_number else reading,
                "limit": None,
                "unit": UNITS.get(test),
                "method": method,
                "sensitivity": sensitivity,
                "reported_test": test,
                "reported_unit": UNITS.get(test),
                "flags": None,
            }
        )
    return pl.DataFrame(data, schema=MEASUREMENTS)


def spep_visits(values: Iterable[tuple[str, float]], *, urine: float | None = 0.0) -> list[Row]:
    """Serum M-protein at each date, with the §8 default urine value (0 mg/24 h)."""
    rows: list[Row] = []
    for when, value in values:
        rows.append((when, "serum_m_protein", value))
        if urine is not None:
            rows.append((when, "urine_m_protein", urine))
    return rows


def patients(rows: Iterable[tuple[str, str | None, str | None]]) -> pl.DataFrame:
    """Rows ``(patient_id, heavy_chain, light_chain)``."""
    data = [
        {
            "patient_id": p,
            "disease": "myeloma",
            "diagnosis_date": d("2020-01-01"),
            "heavy_chain": h,
            "light_chain": light,
            "sex": None,
            "birth_year": None,
        }
        for p, h, light in rows
    ]
    return pl.DataFrame(data, schema=PATIENTS)


def treatments(rows: Iterable[tuple[str, str, str | None]], patient: str = "p1") -> pl.DataFrame:
    """Rows ``(drug, start, end)``; ``end`` None means ongoing."""
    data = [
        {
            "patient_id": patient,
            "therapy": drug,
            "drug_classes": CLASSES[drug],
            "start_date": d(start),
            "end_date": None if end is None else d(end),
            "intent": None,
            "reported_therapy": drug,
        }
        for drug, start, end in rows
    ]
    return pl.DataFrame(data, schema=TREATMENTS)


def findings(rows: Iterable[tuple[str, str, str | None]], patient: str = "p1") -> pl.DataFrame:
    """Rows ``(date, finding, detail)``."""
    data = [{"patient_id": patient, "date": d(w), "finding": f, "detail": x} for w, f, x in rows]
    return pl.DataFrame(data, schema=FINDINGS)


def lines(starts: Sequence[str], patient: str = "p1") -> pl.DataFrame:
    """The ``lines`` frame from line start dates (line numbers 1, 2, …)."""
    dates = [d(s) for s in starts]
    return pl.DataFrame(
        {
            "patient_id": [patient] * len(dates),
            "line": list(range(1, len(dates) + 1)),
            "start_date": dates,
            "next_start_date": [*dates[1:], None] if dates else [],
        },
        schema={
            "patient_id": pl.String,
            "line": pl.Int64,
            "start_date": pl.Date,
            "next_start_date": pl.Date,
        },
    )


@dataclass
class Case:
    """The canonical inputs of one or more patients."""

    measurements: pl.DataFrame
    lines: pl.DataFrame
    patients: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PATIENTS))
    treatments: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=TREATMENTS))
    findings: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=FINDINGS))

    def run(self, config: MyelomaCourseConfig | None = None, **kw: object) -> ResponseResult:
        return derive_responses(
            self.measurements,
            self.lines,
            self.patients,
            self.treatments,
            self.findings,
            config=config or MyelomaCourseConfig(),
            **kw,  # type: ignore[arg-type]
        )

    def evaluate(self, config: MyelomaCourseConfig | None = None) -> EvaluatedAssessments:
        return evaluate_assessments(
            self.measurements,
            self.lines,
            self.patients,
            self.treatments,
            self.findings,
            config=config or MyelomaCourseConfig(),
        )

    def __add__(self, other: Case) -> Case:
        return Case(
            *(pl.concat([a, b]) for a, b in zip(self.frames(), other.frames(), strict=True))
        )

    def frames(self) -> tuple[pl.DataFrame, ...]:
        return (self.measurements, self.lines, self.patients, self.treatments, self.findings)


def responses_of(result: ResponseResult, patient: str = "p1") -> list[tuple[str, str, bool]]:
    """``(date, response, confirmed)`` of one patient, ISO dates."""
    frame = result.responses.filter(pl.col("patient_id") == patient)
    return [(str(r[0]), r[1], r[2]) for r in frame.select("date", "response", "confirmed").rows()]


def flags_on(result: ResponseResult, when: str, patient: str = "p1") -> set[str]:
    frame = result.responses.filter((pl.col("patient_id") == patient) & (pl.col("date") == d(when)))
    (text,) = frame["flags"].to_list()
    return set(text.split(";")) if text else set()


def micro_values(
    evaluated: EvaluatedAssessments, column: str, patient: str = "p1", line: int = 1
) -> dict[str, int | None]:
    """``date -> column`` over one line's own assessments (micro-units)."""
    frame = evaluated.with_patient_ids()
    own = frame.filter(
        (pl.col("patient_id") == patient) & (pl.col("line") == line) & ~pl.col("is_tail")
    )
    return {str(k): v for k, v in own.select("date", column).rows()}


# ------------------------------------------------------------------------------------------------
# Worked examples of spec §8
# ------------------------------------------------------------------------------------------------


def ex1(patient: str = "ex1") -> Case:
    """Ex-1: nadir ≥ 5 g/dL (IgG-κ)."""
    visits = [
        ("2024-01-02", 8.0),
        ("2024-02-01", 6.8),
        ("2024-03-01", 6.0),
        ("2024-04-01", 6.0),
        ("2024-05-01", 7.0),
        ("2024-06-03", 7.2),
    ]
    return Case(
        measurements(spep_visits(visits), patient),
        lines(["2024-01-05", "2024-06-10"], patient),
        patients([(patient, "IgG", "kappa")]),
        treatments(
            [
                ("lenalidomide", "2024-01-05", None),
                ("dexamethasone", "2024-01-05", None),
                ("daratumumab", "2024-06-10", None),
                ("carfilzomib", "2024-06-10", None),
            ],
            patient,
        ),
    )


EX2_VISITS = [
    ("2024-01-10", 3.0),
    ("2024-02-12", 1.4),
    ("2024-03-11", 1.2),
    ("2024-04-08", 0.8),
    ("2024-05-06", 0.8),
    ("2024-06-03", 1.4),
    ("2024-07-01", 0.9),
    ("2024-07-29", 0.8),
]


def ex2(patient: str = "ex2") -> Case:
    """Ex-2: unconfirmed rise (IgG-λ)."""
    return Case(
        measurements(spep_visits(EX2_VISITS), patient),
        lines(["2024-01-15"], patient),
        patients([(patient, "IgG", "lambda")]),
        treatments(
            [("bortezomib", "2024-01-15", None), ("lenalidomide", "2024-01-15", None)], patient
        ),
    )


EX3_FLC = [
    ("2024-02-26", 1250, 10),
    ("2024-04-01", 400, 8),
    ("2024-05-01", 100, 9),
    ("2024-06-03", 60, 10),
    ("2024-07-01", 15, 12),
    ("2024-08-05", 14, 12),
    ("2024-09-02", 14, 12),
    ("2024-10-07", 15, 12),
    ("2024-11-04", 18, 12),
    ("2024-12-02", 80, 12),
    ("2025-01-06", 130, 11),
    ("2025-02-03", 180, 10),
]


def ex3_rows(flc_unit_divisor: float = 1.0) -> list[Row]:
    """Ex-3 rows; FLC values divided by ``flc_unit_divisor`` (10 gives mg/dL numbers)."""
    rows: list[Row] = []
    for when, kappa, lam in EX3_FLC:
        rows += [
            (when, "serum_m_protein", 0.0),
            (when, "urine_m_protein", 150.0 if when == "2024-02-26" else 0.0),
            (when, "flc_kappa", kappa / flc_unit_divisor),
            (when, "flc_lambda", lam / flc_unit_divisor),
        ]
    rows += [
        ("2024-02-26", "flc_ratio", 125.0),
        ("2024-02-26", "serum_ife", "negative"),
        ("2024-07-01", "serum_ife", "negative"),
        ("2024-07-01", "urine_ife", "negative"),
        ("2024-07-08", "bm_plasma_cells", 2.0),
        ("2024-08-05", "serum_ife", "negative"),
        ("2024-08-05", "urine_ife", "negative"),
    ]
    return rows


def ex3(patient: str = "ex3") -> Case:
    """Ex-3: FLC-only disease (κ light chain; FLC in mg/L)."""
    return Case(
        measurements(ex3_rows(), patient),
        lines(["2024-03-01"], patient),
        patients([(patient, "none", "kappa")]),
        treatments(
            [
                ("daratumumab", "2024-03-01", None),
                ("bortezomib", "2024-03-01", "2024-10-25"),
                ("lenalidomide", "2024-03-01", None),
                ("dexamethasone", "2024-03-01", None),
            ],
            patient,
        ),
    )


def ex4(patient: str = "ex4") -> Case:
    """Ex-4: relapse from CR by reappearing immunofixation (IgA-λ)."""
    rows: list[Row] = [("2023-01-03", "flc_ratio", 0.027)]
    ife = {"+": "positive", "-": "negative"}
    table = [
        ("2023-01-03", 2.5, "+"),
        ("2023-02-06", 1.1, "+"),
        ("2023-03-06", 0.4, "+"),
        ("2023-04-03", 0.2, "+"),
        ("2023-05-08", 0.0, "-"),
        ("2023-06-05", 0.0, "-"),
        ("2023-07-03", 0.0, "-"),
        ("2023-08-07", 0.0, "-"),
        ("2023-09-04", 0.0, "-"),
        ("2023-10-02", 0.0, "-"),
        ("2023-11-06", 0.0, "+"),
        ("2023-12-04", 0.2, "+"),
        ("2024-03-04", 0.6, "+"),
        ("2024-04-01", 0.8, "+"),
    ]
    for when, value, serum_ife in table:
        rows += spep_visits([(when, value)])
        rows += [(when, "serum_ife", ife[serum_ife]), (when, "urine_ife", "negative")]
    rows += [("2023-05-15", "bm_plasma_cells", 1.0), ("2023-05-08", "flc_ratio", 1.1)]
    return Case(
        measurements(rows, patient),
        lines(["2023-01-09"], patient),
        patients([(patient, "IgA", "lambda")]),
        treatments(
            [("carfilzomib", "2023-01-09", "2023-08-20"), ("lenalidomide", "2023-01-09", None)],
            patient,
        ),
    )


EX5_VISITS = [
    ("2023-01-27", 4.2),
    ("2023-03-06", 3.0),
    ("2023-04-03", 2.0),
    ("2023-05-08", 1.2),
    ("2023-06-05", 0.9),
    ("2023-08-07", 0.8),
    ("2023-09-04", 0.6),
    ("2023-10-02", 0.5),
    ("2023-11-06", 0.5),
    ("2023-12-04", 0.45),
    ("2024-01-08", 0.3),
    ("2024-02-05", 0.3),
    ("2024-03-04", 0.45),
    ("2024-04-01", 0.5),
    ("2024-05-06", 0.45),
    ("2024-06-03", 0.5),
    ("2024-07-01", 0.55),
    ("2024-08-05", 0.5),
    ("2024-09-02", 0.55),
    ("2024-10-07", 0.6),
    ("2024-11-04", 0.55),
    ("2024-12-02", 0.6),
    ("2025-01-06", 0.55),
    ("2025-02-03", 0.6),
    ("2025-03-03", 0.6),
    ("2025-04-07", 0.9),
    ("2025-04-14", 1.0),
]


def ex5(patient: str = "ex5") -> Case:
    """Ex-5: one line through ASCT and maintenance; PD 2025-04-07."""
    return Case(
        measurements(spep_visits(EX5_VISITS), patient),
        lines(["2023-02-01", "2025-04-21"], patient),
        patients([(patient, "IgG", "kappa")]),
    )


def ex6(patient: str = "ex6") -> Case:
    """Ex-6: SD on Rd, daratumumab added on day 77 (line 2)."""
    visits = [("2024-01-04", 4.0), ("2024-02-05", 3.2), ("2024-03-04", 3.1)]
    return Case(
        measurements(spep_visits(visits), patient),
        lines(["2024-01-08", "2024-03-25"], patient),
        patients([(patient, "IgG", "kappa")]),
    )


EX7_VISITS = [
    # line 1 (VRd from 2022-11-07), baseline 3.0
    ("2022-11-01", 3.0),
    ("2022-12-05", 1.5),
    ("2023-01-09", 0.8),
    ("2023-02-06", 0.5),
    ("2023-03-06", 0.35),
    ("2023-04-03", 0.32),
    ("2023-05-08", 0.2),
    ("2023-06-05", 0.2),
    ("2023-07-03", 0.3),
    ("2023-08-07", 0.4),
    ("2023-09-04", 0.6),
    ("2023-10-02", 0.8),
    ("2023-11-06", 1.0),
    ("2023-12-04", 1.3),
    ("2023-12-18", 1.6),
    # line 2 (Kd from 2024-01-02), baseline 1.6
    ("2024-02-05", 1.2),
    ("2024-03-04", 0.9),
    ("2024-04-01", 0.7),
    ("2024-05-06", 0.7),
    ("2024-06-03", 0.8),
    ("2024-07-01", 0.9),
    ("2024-08-12", 1.3),
    ("2024-08-23", 1.5),
    # line 3 (DPd from 2024-08-26), baseline 1.5
    ("2024-09-23", 1.3),
    ("2024-10-21", 1.2),
    ("2024-11-04", 1.1),
    ("2024-12-02", 1.1),
    ("2025-01-06", 1.3),
    ("2025-02-03", 1.4),
    ("2025-03-03", 1.7),
    ("2025-03-10", 1.9),
]


def ex7(patient: str = "ex7") -> Case:
    """Ex-7: three PDs over four lines (IgG-κ)."""
    return Case(
        measurements(spep_visits(EX7_VISITS), patient),
        lines(["2022-11-07", "2024-01-02", "2024-08-26", "2025-03-17"], patient),
        patients([(patient, "IgG", "kappa")]),
        treatments(
            [("daratumumab", "2024-08-26", None), ("pomalidomide", "2024-08-26", None)], patient
        ),
    )


EX8_COMMON = [
    ("2022-02-22", 3.5),
    ("2022-04-04", 2.5),
    ("2022-05-02", 1.6),
    ("2022-06-06", 1.0),
    ("2022-07-05", 0.7),
    ("2022-08-01", 0.5),
    ("2022-09-05", 0.45),
    ("2022-10-03", 0.4),
    ("2022-11-07", 0.35),
    ("2022-12-05", 0.3),
    ("2023-01-09", 0.3),
    ("2023-02-06", 0.35),
    ("2023-03-06", 0.4),
]


def ex8a(patient: str = "ex8a") -> Case:
    """Ex-8 case A: long gap, no PD; line 2 from 2023-08-15."""
    later = [
        ("2023-04-10", 0.4),
        ("2023-05-08", 0.5),
        ("2023-06-05", 0.6),
        ("2023-07-10", 0.7),
        ("2023-08-07", 0.75),
    ]
    return Case(
        measurements(spep_visits(EX8_COMMON + later), patient),
        lines(["2022-03-01", "2023-08-15"], patient),
        patients([(patient, "IgG", "kappa")]),
    )


def ex8b(patient: str = "ex8b") -> Case:
    """Ex-8 case B: PD 2023-05-08 in a short gap; line 2 from 2023-05-15."""
    later = [("2023-04-10", 0.6), ("2023-05-08", 0.9), ("2023-05-12", 1.0)]
    return Case(
        measurements(spep_visits(EX8_COMMON + later), patient),
        lines(["2022-03-01", "2023-05-15"], patient),
        patients([(patient, "IgG", "kappa")]),
    )


ALL_EXAMPLES = (ex1, ex2, ex3, ex4, ex5, ex6, ex7, ex8a, ex8b)


def all_examples() -> Case:
    cases = [make() for make in ALL_EXAMPLES]
    total = cases[0]
    for case in cases[1:]:
        total = total + case
    return total
