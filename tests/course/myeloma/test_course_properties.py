"""Invariants of the whole course on random small cohorts (hypothesis)."""

from __future__ import annotations

import datetime as dt
import random
import sys
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from course_frames import findings, measurements, patients, treatments

from relapsewatch.course.myeloma import Course, derive_course, derive_lines
from relapsewatch.course.myeloma.course import data_cutoff

REGIMENS = (
    "Rd",
    "VRd",
    "KRd",
    "Kd",
    "DRd",
    "DPd",
    "DKd",
    "teclistamab",
    "selinexor",
    "lenalidomide",
    "dexamethasone",
    "daratumumab",
)
START = dt.date(2020, 1, 1)
Tables = dict[str, pl.DataFrame]


@st.composite
def patient_records(draw: st.DrawFn, pid: str) -> Tables:
    """One patient: a few treatment episodes and a serum M-protein series that wanders."""
    diagnosis = START + dt.timedelta(days=draw(st.integers(0, 60)))
    rows: list[tuple[object, ...]] = []
    day = diagnosis + dt.timedelta(days=draw(st.integers(0, 20)))
    episodes = draw(st.integers(1, 4))
    for i in range(episodes):
        length = draw(st.integers(1, 300))
        ongoing = i == episodes - 1 and draw(st.booleans())
        end = None if ongoing else (day + dt.timedelta(days=length)).isoformat()
        rows.append((draw(st.sampled_from(REGIMENS)), day.isoformat(), end))
        day += dt.timedelta(days=length + draw(st.integers(1, 200)))
    results: list[tuple[str, str, float | None, str | None]] = []
    when = diagnosis - dt.timedelta(days=5)
    value = draw(st.sampled_from((1.5, 2.4, 3.0, 4.2, 6.0)))
    for step in draw(
        st.lists(st.sampled_from((0.4, 0.7, 0.9, 1.0, 1.2, 1.6)), min_size=2, max_size=30)
    ):
        results.append((when.isoformat(), "serum_m_protein", value, None))
        if len(results) == 1:
            results.append((when.isoformat(), "urine_m_protein", 0.0, None))
        when += dt.timedelta(days=draw(st.integers(21, 45)))
        value = round(min(max(value * step, 0.0), 9.0), 1)
    found: list[tuple[str, str, str | None]] = []
    if draw(st.booleans()):
        found.append(
            (
                (diagnosis + dt.timedelta(days=draw(st.integers(30, 900)))).isoformat(),
                "clinical_relapse",
                None,
            )
        )
    return {
        "patients": patients(pid, diagnosis=diagnosis.isoformat()),
        "treatments": treatments(rows, patient=pid),
        "measurements": measurements(results, patient=pid),
        "findings": findings(found, patient=pid),
    }


@st.composite
def cohorts(draw: st.DrawFn) -> Tables:
    ids = [f"P{i}" for i in range(draw(st.integers(1, 3)))]
    parts = [draw(patient_records(pid)) for pid in ids]
    return {name: pl.concat([p[name] for p in parts]) for name in parts[0]}


def ordered(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True)


def same(a: Course, b: Course) -> None:
    for name, frame in a.tables().items():
        other = b.tables()[name]
        assert ordered(frame).equals(ordered(other.select(frame.columns))), name


FAST = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FAST
@given(cohorts(), st.randoms(use_true_random=False))
def test_lines_never_go_back_relapses_sit_in_their_line_and_row_order_does_not_matter(
    tables: Tables,
    rng: random.Random,
) -> None:
    course = derive_course(tables)
    lines = course.line_detail.sort("patient_id", "line")
    # Line numbers run 1, 2, ... per patient and never decrease as dates advance.
    check = lines.with_columns(
        expected=pl.int_range(1, pl.len() + 1).over("patient_id"),
        previous_start=pl.col("start_date").shift(1).over("patient_id"),
    )
    assert (check["line"] == check["expected"]).all()
    assert check.filter(pl.col("start_date") <= pl.col("previous_start")).is_empty()
    by_date = course.responses.sort("patient_id", "date", "line").with_columns(
        previous=pl.col("line").shift(1).over("patient_id")
    )
    assert by_date.filter(pl.col("line") < pl.col("previous")).is_empty()
    # A relapse is dated inside the line interval it is counted in, at most one per line.
    placed = course.relapses.join(lines, on=["patient_id", "line"], how="left")
    assert placed.filter(
        pl.col("start_date").is_null()
        | (pl.col("date") < pl.col("start_date"))
        | (pl.col("date") >= pl.col("next_start_date")).fill_null(False)
    ).is_empty()
    assert course.relapses.select("patient_id", "line").is_duplicated().sum() == 0
    numbers = course.relapses.with_columns(
        expected=pl.int_range(1, pl.len() + 1).over("patient_id")
    )
    assert (numbers["relapse_number"] == numbers["expected"]).all()
    at_start = lines.with_columns(
        previous=pl.col("relapse_number_at_line_start").shift(1).over("patient_id")
    )
    assert at_start.filter(pl.col("relapse_number_at_line_start") < pl.col("previous")).is_empty()
    # Shuffling every input table gives the same course.
    shuffled = {}
    for name, frame in tables.items():
        order = list(range(frame.height))
        rng.shuffle(order)
        shuffled[name] = frame[order]
    same(course, derive_course(shuffled))


@FAST
@given(cohorts(), st.lists(st.booleans(), min_size=3, max_size=3))
def test_results_do_not_depend_on_how_patients_are_split_into_batches(
    tables: Tables,
    mask: list[bool],
) -> None:
    ids = tables["patients"]["patient_id"].to_list()
    first = [pid for pid, take in zip(ids, mask, strict=False) if take]
    cutoff = data_cutoff(
        tables["patients"], tables["measurements"], tables["treatments"], tables["findings"]
    )
    whole = derive_course(tables)
    parts = []
    for group in (first, [pid for pid in ids if pid not in first]):
        if group:
            subset = {
                name: frame.filter(pl.col("patient_id").is_in(group))
                for name, frame in tables.items()
            }
            parts.append(derive_course(subset, as_of=cutoff))
    for name, frame in whole.tables().items():
        joined = pl.concat([p.tables()[name] for p in parts], how="vertical_relaxed")
        assert ordered(frame).equals(ordered(joined.cast(frame.schema))), name


@settings(max_examples=30, deadline=None, derandomize=True)
@given(cohorts(), st.randoms(use_true_random=False))
def test_line_starts_strictly_increase_whatever_the_row_order(
    tables: Tables,
    rng: random.Random,
) -> None:
    t = tables["treatments"]
    order = list(range(t.height))
    rng.shuffle(order)
    a = derive_lines(t, tables["patients"]).lines
    b = derive_lines(t[order], tables["patients"]).lines
    assert a.equals(b)
    steps = a.with_columns(previous=pl.col("start_date").shift(1).over("patient_id"))
    assert steps.filter(pl.col("start_date") <= pl.col("previous")).is_empty()
