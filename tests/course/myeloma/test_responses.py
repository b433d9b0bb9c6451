"""The public entry point: the frames and columns it promises, and properties that hold for any
input (row order, patient batches, units, prepared inputs, data cut-off)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from imwg_cases import (
    ALL_EXAMPLES,
    EX3_FLC,
    Case,
    all_examples,
    d,
    ex3,
    lines,
    measurements,
    spep_visits,
)

from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.course.myeloma.responses import (
    ResponseResult,
    derive_responses,
    prepare_responses,
)
from relapsewatch.io import read_tables
from relapsewatch.schema import FINDINGS, PATIENTS, TREATMENTS
from relapsewatch.vocab.units import conversion_factor, convert

COLUMNS = {
    "responses": ["patient_id", "date", "line", "response", "confirmed", "pathway", "flags"],
    "progression": ["patient_id", "line", "date", "confirmed_date", "criterion", "rule"],
    "unconfirmed_progression": ["patient_id", "line", "date", "criterion", "rule"],
    "line_summary": ["patient_id", "line", "best_response", "best_response_date", "pathway",
                     "baseline", "evaluable_assessments", "reached_mr", "first_response_date",
                     "nadir"],
    "relapse_from_cr": ["patient_id", "line", "date", "confirmed_date", "cr_date", "criterion"],
    "relapse_from_mrd": ["patient_id", "line", "date", "confirmed_date", "mrd_negative_date",
                         "criterion"],
    "crab_signals": ["patient_id", "line", "date", "signal", "value", "baseline", "criterion"],
    "mrd": ["patient_id", "line", "date", "result", "method", "sensitivity", "category", "rule",
            "in_cr", "sustained_since", "criterion"],
    "clinical_relapses": ["patient_id", "line", "date", "criterion"],
}  # fmt: skip


def _frames(result: ResponseResult) -> dict[str, pl.DataFrame]:
    return {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}


def _assert_same(a: ResponseResult, b: ResponseResult) -> None:
    for name, frame in _frames(a).items():
        other = _frames(b)[name]
        assert frame.equals(other), f"{name} differs:\n{frame}\n{other}"


def test_every_frame_has_the_documented_columns_and_types() -> None:
    result = all_examples().run()
    for name, frame in _frames(result).items():
        assert frame.columns == COLUMNS[name], name
    responses = result.responses
    assert responses.schema["date"] == pl.Date and responses.schema["confirmed"] == pl.Boolean
    assert set(responses["response"]) <= {"sCR", "CR", "VGPR", "PR", "MR", "SD", "PD", "NE"}
    assert set(responses["pathway"]) <= {"serum_urine", "flc_only", "marrow_only", "not_evaluable"}
    assert responses.equals(responses.sort("patient_id", "date", maintain_order=True))
    assert result.line_summary.height == all_examples().lines.height


def test_empty_inputs_give_empty_frames_with_the_same_columns() -> None:
    empty = Case(measurements([]), lines([]))
    result = empty.run()
    for name, frame in _frames(result).items():
        assert frame.height == 0
        assert frame.columns == COLUMNS[name], name


def test_lines_without_results_are_summarised_as_ne() -> None:
    case = Case(measurements([]), lines(["2024-01-05"]))
    summary = case.run().line_summary.row(0, named=True)
    assert summary["best_response"] == "NE"
    assert summary["evaluable_assessments"] == 0
    assert summary["pathway"] == "not_evaluable"


def _shuffled(case: Case, seed: int) -> Case:
    return Case(*(f.sample(fraction=1.0, shuffle=True, seed=seed) for f in case.frames()))


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16))
def test_results_do_not_depend_on_input_row_order(seed: int) -> None:
    case = all_examples()
    _assert_same(case.run(), _shuffled(case, seed).run())


def test_results_do_not_depend_on_how_patients_are_batched() -> None:
    together = all_examples().run()
    alone = [make().run() for make in ALL_EXAMPLES]
    for name, frame in _frames(together).items():
        parts = pl.concat([_frames(r)[name] for r in alone])
        assert frame.sort("patient_id", maintain_order=True).equals(
            parts.sort("patient_id", maintain_order=True)
        ), name


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=st.lists(st.integers(0, 60), min_size=1, max_size=6),
    second=st.lists(st.integers(0, 60), min_size=1, max_size=6),
)
def test_one_patients_results_do_not_change_when_another_is_added(
    first: list[int], second: list[int]
) -> None:
    def patient(name: str, values: list[int]) -> Case:
        start = dt.date(2024, 1, 1)
        visits = [(str(start), 5.0)] + [
            (str(start + dt.timedelta(days=28 * (i + 1))), v / 10) for i, v in enumerate(values)
        ]
        return Case(measurements(spep_visits(visits), name), lines(["2024-01-05"], name))

    a, b = patient("a", first), patient("b", second)
    together = _frames((a + b).run())
    for name, frame in _frames(a.run()).items():
        assert together[name].filter(pl.col("patient_id") == "a").equals(frame), name


def _write_folder(folder: Path, rows: list[tuple[str, str, str, str]]) -> None:
    """A canonical folder for patient ex3 with measurement rows (date, test, value, unit)."""
    folder.mkdir()
    (folder / "patients.csv").write_text(
        "patient_id,disease,diagnosis_date,heavy_chain,light_chain\n"
        "ex3,myeloma,2024-02-20,none,kappa\n", encoding="utf-8")  # fmt: skip
    (folder / "treatments.csv").write_text(
        "patient_id,therapy,start_date,end_date\nex3,daratumumab,2024-03-01,\n", encoding="utf-8"
    )
    text = "patient_id,date,test,value,unit,method,sensitivity\n" + "".join(
        f"ex3,{when},{test},{value},{unit},,\n" for when, test, value, unit in rows
    )
    (folder / "measurements.csv").write_text(text, encoding="utf-8")


def _ex3_file_rows(flc_unit: str) -> list[tuple[str, str, str, str]]:
    divisor = {"mg/L": 1, "mg/dL": 10}[flc_unit]
    rows: list[tuple[str, str, str, str]] = []
    for when, kappa, lam in EX3_FLC:
        urine = "150" if when == "2024-02-26" else "0"
        rows += [
            (when, "serum_m_protein", "0", "g/dL"),
            (when, "urine_m_protein", urine, "mg/24h"),
            (when, "flc_kappa", f"{kappa / divisor:g}", flc_unit),
            (when, "flc_lambda", f"{lam / divisor:g}", flc_unit),
        ]
    rows += [
        ("2024-07-01", "serum_ife", "negative", ""),
        ("2024-07-01", "urine_ife", "negative", ""),
        ("2024-07-08", "bm_plasma_cells", "2", "%"),
        ("2024-08-05", "serum_ife", "negative", ""),
        ("2024-08-05", "urine_ife", "negative", ""),
    ]
    return rows  # fmt: skip


def test_ex3_reported_in_mg_dl_gives_identical_results(tmp_path: Path) -> None:
    results = []
    for unit in ("mg/L", "mg/dL"):
        folder = tmp_path / unit.replace("/", "_per_")
        _write_folder(folder, _ex3_file_rows(unit))
        tables = read_tables(folder)
        results.append(derive_responses(
            tables.measurements, lines(["2024-03-01"], "ex3"), tables.patients, tables.treatments,
            tables.findings, config=MyelomaCourseConfig(),
        ))  # fmt: skip
    in_mg_l, in_mg_dl = results
    _assert_same(in_mg_l, in_mg_dl)
    assert in_mg_dl.progression.select("date", "confirmed_date", "rule").rows() == [
        (d("2025-01-06"), d("2025-02-03"), "P3")
    ]
    assert in_mg_dl.line_summary["best_response"].item() == "CR"
    assert "(+117 mg/L" in in_mg_dl.progression["criterion"].item()


def _in_units(case: Case, units: dict[str, str]) -> Case:
    """``case`` with its values re-expressed in ``units`` and converted back by vocab.units."""
    m = case.measurements
    for test, unit in units.items():
        factor = float(conversion_factor(test, unit))
        reported = (pl.col("value") / factor).round(6)
        m = m.with_columns(
            value=pl.when(pl.col("test") == test)
            .then(convert(reported, pl.lit(factor)))
            .otherwise("value")
        )
    return Case(m, *case.frames()[1:])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    serum=st.lists(st.integers(0, 80), min_size=2, max_size=8),
    kappa=st.lists(st.integers(10, 3000), min_size=2, max_size=8),
    spep_unit=st.sampled_from(["g/L", "mg/dL"]),
    flc_unit=st.sampled_from(["mg/dL"]),
    urine_unit=st.sampled_from(["g/24h"]),
)
def test_converting_inputs_to_other_units_gives_identical_outputs(
    serum: list[int], kappa: list[int], spep_unit: str, flc_unit: str, urine_unit: str
) -> None:
    start = dt.date(2024, 1, 1)
    rows: list[tuple[object, ...]] = []
    for i, (s, k) in enumerate(zip(serum, kappa, strict=False)):
        when = str(start + dt.timedelta(days=30 * i))
        rows += [
            (when, "serum_m_protein", s / 10),
            (when, "urine_m_protein", float(10 * s)),
            (when, "flc_kappa", float(k)),
            (when, "flc_lambda", 10.0),
        ]
    case = Case(measurements(rows), lines(["2024-01-05"]))
    units = {"serum_m_protein": spep_unit, "flc_kappa": flc_unit, "flc_lambda": flc_unit,
             "urine_m_protein": urine_unit}  # fmt: skip
    _assert_same(case.run(), _in_units(case, units).run())


def test_prepared_inputs_give_the_same_results_for_each_version_of_the_lines() -> None:
    case = all_examples()
    config = MyelomaCourseConfig()
    prepared = prepare_responses(case.measurements, case.patients, case.treatments,
                                 case.findings, config=config)  # fmt: skip
    for version in (case.lines, case.lines.filter(pl.col("line") == 1)):
        direct = derive_responses(case.measurements, version, case.patients, case.treatments,
                                  case.findings, config=config)  # fmt: skip
        reused = derive_responses(case.measurements, version, case.patients, case.treatments,
                                  case.findings, config=config, prepared=prepared)  # fmt: skip
        _assert_same(direct, reused)


def test_prepared_inputs_must_match_the_configuration() -> None:
    case = ex3()
    prepared = prepare_responses(case.measurements, case.patients, case.treatments,
                                 case.findings, config=MyelomaCourseConfig())  # fmt: skip
    with pytest.raises(Exception, match="same `config`"):
        derive_responses(case.measurements, case.lines, case.patients, case.treatments,
                         case.findings, config=MyelomaCourseConfig().replace(include_mr=False),
                         prepared=prepared)  # fmt: skip


def test_as_of_ignores_later_results() -> None:
    result = ex3().run(as_of=d("2025-01-10"))
    # the PD of 2025-01-06 has no confirming assessment yet
    assert result.progression.height == 0
    assert result.unconfirmed_progression["date"].to_list() == [d("2025-01-06")]
    assert result.responses["date"].max() == d("2025-01-06")


def test_missing_columns_are_named() -> None:
    case = ex3()
    with pytest.raises(Exception, match="'next_start_date'"):
        derive_responses(case.measurements, case.lines.drop("next_start_date"),
                         pl.DataFrame(schema=PATIENTS), pl.DataFrame(schema=TREATMENTS),
                         pl.DataFrame(schema=FINDINGS), config=MyelomaCourseConfig())  # fmt: skip
