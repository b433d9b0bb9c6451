"""The canonical tables of a virtual cohort follow the data contract and read back unchanged."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest

from relapsewatch import schema
from relapsewatch.io import read_tables, write_tables
from relapsewatch.simulate import CANONICAL_TABLES, TRUTH_TABLES, VirtualCohort
from relapsewatch.vocab.analytes import ANALYTES


def test_every_canonical_table_has_exactly_the_file_columns(cohort: VirtualCohort) -> None:
    for name, frame in cohort.tables().items():
        table = schema.FILE_TABLES[name]
        assert set(table.required_columns) <= set(frame.columns)
        assert set(frame.columns) <= set(table.column_names), name


def test_vocabularies_are_the_contract_ones(cohort: VirtualCohort) -> None:
    tables = cohort.tables()
    for name, frame in tables.items():
        for column in schema.FILE_TABLES[name].columns:
            if column.allowed is not None and column.name in frame.columns:
                found = set(frame[column.name].drop_nulls().unique().to_list())
                assert found <= set(column.allowed), (name, column.name, found)
    assert set(tables["measurements"]["test"].unique().to_list()) <= set(ANALYTES)


def test_quantitative_results_always_carry_a_unit(cohort: VirtualCohort) -> None:
    measurements = cohort.tables()["measurements"]
    qualitative = [a.name for a in ANALYTES.values() if a.kind == "qualitative"]
    numbers = measurements.filter(~pl.col("test").is_in(qualitative))
    assert numbers["unit"].null_count() == 0
    assert measurements.filter(pl.col("test").is_in(qualitative))["unit"].null_count() == (
        measurements.filter(pl.col("test").is_in(qualitative)).height
    )


def test_values_are_numbers_words_or_below_floor_text(cohort: VirtualCohort) -> None:
    values = cohort.tables()["measurements"]["value"]
    number = values.str.contains(r"^\d+(\.\d+)?$")
    word = values.is_in(["positive", "negative", "clonal", "not_clonal"])
    below = values.str.contains(r"^<\d+(\.\d+)?$")
    assert (number | word | below).all()


def test_below_quantitation_spep_is_written_as_less_than_with_a_unit(
    cohort: VirtualCohort,
) -> None:
    spep = cohort.tables()["measurements"].filter(pl.col("test") == "serum_m_protein")
    below = spep.filter(pl.col("value").str.starts_with("<"))
    assert below.height > 0
    assert set(below["value"].unique().to_list()) <= {"<0.1", "<0.2", "<1", "<2"}
    assert set(below.filter(pl.col("value").is_in(["<0.1", "<0.2"]))["unit"].unique()) == {"g/dL"}


def test_a_mix_of_units_is_reported(cohort: VirtualCohort) -> None:
    units = cohort.tables()["measurements"].group_by("test").agg(pl.col("unit").unique())
    by_test = {t: set(u) for t, u in units.iter_rows()}
    assert {"g/dL", "g/L"} <= by_test["serum_m_protein"]
    assert {"mg/L", "mg/dL"} <= by_test["flc_kappa"]
    assert {"mg/dL", "mmol/L"} <= by_test["calcium"]


def test_mrd_results_carry_method_and_sensitivity(cohort: VirtualCohort) -> None:
    mrd = cohort.tables()["measurements"].filter(pl.col("test") == "mrd")
    assert mrd.height > 0
    assert set(mrd["method"].unique().to_list()) <= {"NGF", "NGS"}
    assert set(mrd["sensitivity"].unique().to_list()) <= {1e-5, 1e-6}
    assert set(mrd["value"].unique().to_list()) == {"positive", "negative"}


def test_treatment_rows_end_on_or_after_they_start(cohort: VirtualCohort) -> None:
    treatments = cohort.tables()["treatments"]
    assert treatments.filter(pl.col("end_date") < pl.col("start_date")).height == 0
    assert {"maintenance", "mobilisation", "conditioning", "step_up"} <= set(
        treatments["intent"].drop_nulls().unique().to_list()
    )
    assert {"autologous_transplant", "apheresis"} <= set(treatments["therapy"].to_list())


def test_records_stay_within_each_patients_follow_up(cohort: VirtualCohort) -> None:
    truth = cohort.truth()["truth_patients"].select("patient_id", "follow_up_end_date")
    patients = cohort.tables()["patients"].select("patient_id", "diagnosis_date")
    for name, column in (
        ("measurements", "date"),
        ("treatments", "start_date"),
        ("findings", "date"),
    ):
        joined = cohort.tables()[name].join(truth, on="patient_id").join(patients, on="patient_id")
        assert joined.filter(pl.col(column) > pl.col("follow_up_end_date")).height == 0, name
        assert joined.filter(pl.col(column) < pl.col("diagnosis_date")).height == 0, name


def test_isotype_proportions_are_realistic(cohort: VirtualCohort) -> None:
    patients = cohort.tables()["patients"]
    share = {k: v / patients.height for k, v in patients["heavy_chain"].value_counts().iter_rows()}
    assert 0.45 <= share["IgG"] <= 0.62
    assert 0.15 <= share["IgA"] <= 0.30
    assert 0.12 <= share["none"] <= 0.26
    kappa = (patients["light_chain"] == "kappa").mean()
    assert kappa is not None and 0.58 <= float(kappa) <= 0.75  # type: ignore[arg-type]


def test_some_relapses_are_clinical_and_some_patients_die(cohort: VirtualCohort) -> None:
    findings = set(cohort.tables()["findings"]["finding"].to_list())
    assert {"clinical_relapse", "new_bone_lesion", "death"} <= findings
    reasons = set(cohort.truth()["truth_patients"]["follow_up_end_reason"].to_list())
    assert reasons == {"death", "lost_to_follow_up", "data_cutoff"}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_the_reader_loads_a_written_cohort_without_problems(
    cohort: VirtualCohort, tmp_path: Path, fmt: str
) -> None:
    small = next(iter(cohort.blocks()))
    first = small.patients["patient_id"].head(60).to_list()
    tables = {n: f.filter(pl.col("patient_id").is_in(first)) for n, f in small.tables().items()}
    write_tables(tables, tmp_path, format=fmt)  # type: ignore[arg-type]
    canonical = read_tables(tmp_path)
    assert canonical.patients.height == 60
    assert canonical.measurements.height == tables["measurements"].height
    below = canonical.measurements.filter(pl.col("result") == schema.DETECTED_NONQUANTIFIABLE)
    assert below.height > 0 and below["value"].null_count() == below.height
    # mg/dL FLC and g/L SPEP were converted to the canonical units
    spep = canonical.measurements.filter(pl.col("test") == "serum_m_protein")
    assert set(spep["unit"].unique().to_list()) == {"g/dL"}
    assert float(spep["value"].max()) < 15  # type: ignore[arg-type]
    assert not math.isnan(float(canonical.treatments["drug_classes"].list.len().sum()))


def test_truth_tables_are_separate_from_the_canonical_ones(cohort: VirtualCohort) -> None:
    assert set(cohort.truth()) == set(TRUTH_TABLES)
    assert set(cohort.tables()) == set(CANONICAL_TABLES)
    assert all("_index" not in f.columns for f in cohort.all_tables().values())
