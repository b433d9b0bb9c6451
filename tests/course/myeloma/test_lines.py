"""Lines of therapy (spec §2.5, L1–L13): small hand-written treatment histories."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from course_frames import d, patients, progression, treatments

from relapsewatch.course.myeloma.config import MyelomaCourseConfig, preset
from relapsewatch.course.myeloma.lines import (
    END_REASONS,
    LINE_RULES,
    LINE_TRIGGERS,
    derive_end_reasons,
    derive_lines,
)

DEFAULT = MyelomaCourseConfig()


def lines_of(
    rows: list[tuple[object, ...]],
    *,
    pd: list[str] = (),
    config=DEFAULT,
    diagnosis: str = "2000-01-01",
) -> pl.DataFrame:
    result = derive_lines(
        treatments(rows),
        patients("p1", diagnosis=diagnosis),
        progression([("p1", x) for x in pd]),
        config=config,
    )
    return result.lines


def starts(frame: pl.DataFrame) -> list[tuple[int, str, str]]:
    return [
        (r["line"], r["start_date"].isoformat(), r["regimen"]) for r in frame.iter_rows(named=True)
    ]


def test_every_trigger_names_a_rule_in_the_rule_list():
    codes = {rule.code for rule in LINE_RULES}
    assert set(LINE_TRIGGERS.values()) <= codes
    assert {f"L{i}" for i in range(1, 14)} <= codes


# --- L4/L5: regimen window and new drugs -------------------------------------------------------


def test_drug_added_after_the_60_day_window_opens_a_new_line_and_the_others_carry_over():
    # Ex-6: Rd from 2024-01-08, daratumumab added on day 77.
    out = lines_of([("Rd", "2024-01-08", None), ("daratumumab", "2024-03-25", "2024-03-25")])
    assert starts(out) == [
        (1, "2024-01-08", "dexamethasone+lenalidomide"),
        (2, "2024-03-25", "daratumumab+dexamethasone+lenalidomide"),
    ]
    assert out["end_date"].to_list() == [d("2024-03-24"), None]
    assert out["opened_by"].to_list() == ["first_line", "new_drug"]
    assert out["carried_over"].to_list()[1] == ["lenalidomide"]


def test_drug_added_inside_the_window_is_the_same_line_but_a_28_day_peer_splits_it():
    rows = [("Rd", "2024-01-08", None), ("daratumumab", "2024-02-26", "2024-02-26")]
    assert starts(lines_of(rows)) == [(1, "2024-01-08", "daratumumab+dexamethasone+lenalidomide")]
    parity = lines_of(rows, config=preset("parity-28-180"))
    assert [s[:2] for s in starts(parity)] == [(1, "2024-01-08"), (2, "2024-02-26")]


def test_dropping_drugs_or_continuing_a_subset_is_not_a_new_line():
    # L6: VRd then lenalidomide alone.
    out = lines_of([("VRd", "2024-01-01", "2024-06-30"), ("lenalidomide", "2024-07-01", None)])
    assert out.height == 1


def test_other_formulation_of_a_regimen_drug_is_the_same_drug():
    # L5a: the reader normalises daratumumab SC to daratumumab; repeated doses never add a line.
    rows = [("DRd", "2024-01-01", "2024-01-01")] + [
        ("daratumumab", f"2024-{m:02d}-01", f"2024-{m:02d}-01") for m in range(2, 12)
    ]
    assert lines_of(rows).height == 1


def test_retreatment_with_an_earlier_regimen_after_a_different_line_is_a_new_line():
    # L11: VRd, then Kd (toxicity switch), then VRd again.
    out = lines_of(
        [
            ("VRd", "2022-01-01", "2022-06-30"),
            ("Kd", "2022-07-10", "2022-12-31"),
            ("VRd", "2023-01-10", None),
        ]
    )
    assert [s[:2] for s in starts(out)] == [(1, "2022-01-01"), (2, "2022-07-10"), (3, "2023-01-10")]


# --- L2/L3: steroids, supportive care, diagnosis ---------------------------------------------


def test_steroid_only_episode_never_opens_extends_or_advances_a_line():
    out = lines_of(
        [("Rd", "2024-01-01", "2024-03-31"), ("dexamethasone", "2024-09-01", "2024-09-30")]
    )
    assert out.height == 1
    assert out["end_date"].to_list() == [d("2024-03-31")]


def test_steroid_in_the_14_days_before_a_line_is_listed_in_its_regimen():
    out = lines_of(
        [("dexamethasone", "2024-01-01", "2024-01-04"), ("bortezomib", "2024-01-10", "2024-01-10")]
    )
    assert starts(out) == [(1, "2024-01-10", "bortezomib+dexamethasone")]


def test_supportive_care_never_opens_a_line():
    out = lines_of(
        [("Rd", "2024-01-01", "2024-03-31"), ("zoledronic acid", "2024-09-01", "2024-09-01")]
    )
    assert out.height == 1


def test_drugs_before_diagnosis_do_not_open_line_one():
    out = lines_of(
        [("cyclophosphamide", "2023-12-01", "2023-12-01"), ("VRd", "2024-01-15", None)],
        diagnosis="2024-01-10",
    )
    assert starts(out)[0][:2] == (1, "2024-01-15")


def test_patient_with_only_supportive_care_has_no_lines():
    assert lines_of([("zoledronic acid", "2024-01-01", "2024-01-01")]).is_empty()


# --- L7/L8/L9: gaps and progression ------------------------------------------------------------

EX8_DRD = [("DRd", "2022-03-01", "2022-08-31"), ("DRd", "2022-10-20", "2023-02-28")]


def test_short_hold_without_progression_stays_in_the_line():
    # Ex-8: held 50 days, restarted.
    assert lines_of(EX8_DRD).height == 1


def test_restart_after_more_than_90_days_is_a_new_line_with_the_same_drugs():
    # Ex-8 case A: DRd restarted 168 days after the last dose, no progression.
    out = lines_of([*EX8_DRD, ("DRd", "2023-08-15", None)])
    assert starts(out) == [
        (1, "2022-03-01", "daratumumab+dexamethasone+lenalidomide"),
        (2, "2023-08-15", "daratumumab+dexamethasone+lenalidomide"),
    ]
    assert out["opened_by"].to_list()[1] == "treatment_gap"
    assert out["end_date"].to_list()[0] == d("2023-02-28")


def test_restart_after_progression_in_a_short_gap_is_a_new_line():
    # Ex-8 case B: gap 76 days (<= 90) but a confirmed PD on 2023-05-08 fell inside it.
    rows = [*EX8_DRD, ("DRd", "2023-05-15", None)]
    with_pd = lines_of(rows, pd=["2023-05-08"])
    assert [s[:2] for s in starts(with_pd)] == [(1, "2022-03-01"), (2, "2023-05-15")]
    assert with_pd["opened_by"].to_list()[1] == "progression_in_gap"
    assert lines_of(rows).height == 1  # the same restart without PD stays line 1


def test_progression_with_the_regimen_continued_unchanged_is_not_a_new_line():
    # L9: treatment beyond progression.
    out = lines_of([("Rd", "2024-01-05", None)], pd=["2024-05-01"])
    assert out.height == 1


def test_new_drug_after_progression_is_a_new_line_even_inside_the_window():
    # L8: PD on day 30, bortezomib added on day 40 (inside the 60-day window).
    out = lines_of(
        [("Rd", "2024-01-01", None), ("bortezomib", "2024-02-10", "2024-02-10")], pd=["2024-01-31"]
    )
    assert [s[:2] for s in starts(out)] == [(1, "2024-01-01"), (2, "2024-02-10")]
    assert out["opened_by"].to_list()[1] == "change_after_progression"


def test_progression_rules_can_be_switched_off():
    config = DEFAULT.replace(new_line_after_pd=False)
    out = lines_of(
        [("Rd", "2024-01-01", None), ("bortezomib", "2024-02-10", "2024-02-10")],
        pd=["2024-01-31"],
        config=config,
    )
    assert out.height == 1


def test_a_longer_gap_setting_keeps_a_restart_in_the_same_line():
    rows = [*EX8_DRD, ("DRd", "2023-08-15", None)]
    assert lines_of(rows, config=preset("parity-28-180")).height == 1
    assert lines_of(rows, config=preset("parity-28-90")).height == 2


# --- transplant workflow: L5b–L5d, L7 exemption, L10 -----------------------------------------

EX5 = [
    ("VRd", "2023-02-01", "2023-05-10"),
    ("cyclophosphamide", "2023-05-25", "2023-05-25"),
    ("filgrastim", "2023-05-26", "2023-06-04"),
    ("apheresis", "2023-06-05", "2023-06-05"),
    ("melphalan", "2023-07-10", "2023-07-10"),
    ("autologous_transplant", "2023-07-11", "2023-07-11"),
    ("lenalidomide", "2023-10-16", "2025-04-14"),
    ("DPd", "2025-04-21", None),
]


def test_induction_mobilisation_transplant_and_maintenance_are_one_line():
    # Ex-5: cyclophosphamide 11 d before apheresis (L5b), melphalan 1 d before ASCT (L5c),
    # lenalidomide 97 d after ASCT and 98 d after melphalan (L5d; the gap rule is exempt).
    out = lines_of(EX5, pd=["2025-04-07"])
    assert [s[:2] for s in starts(out)] == [(1, "2023-02-01"), (2, "2025-04-21")]
    first = out.row(0, named=True)
    assert first["induction"] == ["bortezomib", "dexamethasone", "lenalidomide"]
    assert first["procedures"] == ["apheresis", "autologous_transplant"]
    assert set(first["drugs"]) >= {"bortezomib", "lenalidomide", "melphalan"}
    assert "filgrastim" not in first["drugs"]
    assert out["regimen"].to_list()[1] == "daratumumab+dexamethasone+pomalidomide"


def test_peer_without_transplant_logic_splits_the_transplant_line():
    for name in ("parity-28-180", "parity-28-90"):
        out = lines_of(EX5, pd=["2025-04-07"], config=preset(name))
        before_pd = out.filter(pl.col("start_date") < d("2025-04-21"))
        assert before_pd.height == 4, name  # VRd | cyclophosphamide | melphalan | lenalidomide


def test_maintenance_more_than_180_days_after_asct_is_a_new_line():
    rows = [
        ("VRd", "2023-02-01", "2023-05-10"),
        ("melphalan", "2023-07-10", "2023-07-10"),
        ("autologous_transplant", "2023-07-11", "2023-07-11"),
        ("lenalidomide", "2024-02-01", None),
    ]
    out = lines_of(rows)
    assert [s[:2] for s in starts(out)] == [(1, "2023-02-01"), (2, "2024-02-01")]


def test_maintenance_after_progression_is_not_planned_maintenance():
    rows = [
        ("VRd", "2023-02-01", "2023-05-10"),
        ("melphalan", "2023-07-10", "2023-07-10"),
        ("autologous_transplant", "2023-07-11", "2023-07-11"),
        ("ixazomib", "2023-09-01", None),
    ]
    assert lines_of(rows).height == 1
    assert lines_of(rows, pd=["2023-08-20"]).height == 2


def test_tandem_transplant_within_180_days_is_one_line():
    rows = [
        ("VRd", "2023-01-01", "2023-04-30"),
        ("melphalan", "2023-06-01", "2023-06-01"),
        ("autologous_transplant", "2023-06-02", "2023-06-02"),
        ("melphalan", "2023-09-01", "2023-09-01"),
        ("autologous_transplant", "2023-09-02", "2023-09-02"),
    ]
    assert lines_of(rows).height == 1


def test_second_transplant_after_relapse_is_a_new_line_starting_at_conditioning():
    rows = [
        ("VRd", "2021-01-01", "2021-04-30"),
        ("melphalan", "2021-06-01", "2021-06-01"),
        ("autologous_transplant", "2021-06-02", "2021-06-02"),
        ("lenalidomide", "2021-09-01", "2023-12-31"),
        ("melphalan", "2024-03-01", "2024-03-01"),
        ("autologous_transplant", "2024-03-02", "2024-03-02"),
    ]
    out = lines_of(rows)
    assert [s[:2] for s in starts(out)] == [(1, "2021-01-01"), (2, "2024-03-01")]
    assert out["opened_by"].to_list()[1] == "new_transplant"
    assert out["procedures"].to_list()[1] == ["autologous_transplant"]


def test_planned_allo_after_auto_is_the_same_line_and_a_late_allo_is_a_new_line():
    base = [
        ("VRd", "2023-01-01", "2023-04-30"),
        ("melphalan", "2023-06-01", "2023-06-01"),
        ("autologous_transplant", "2023-06-02", "2023-06-02"),
    ]
    planned = lines_of([*base, ("allogeneic_transplant", "2023-10-01", "2023-10-01")])
    late = lines_of([*base, ("allogeneic_transplant", "2024-10-01", "2024-10-01")])
    assert planned.height == 1
    assert late.height == 2 and late["opened_by"].to_list()[1] == "new_transplant"


# --- CAR-T (L12, L5e) and bispecific step-up (L5f) ----------------------------------------------


def test_car_t_line_starts_at_apheresis_and_bridging_belongs_to_it():
    rows = [
        ("DPd", "2024-01-01", "2024-05-15"),
        ("apheresis", "2024-06-01", "2024-06-01"),
        ("Kd", "2024-06-10", "2024-07-10", "bridging"),
        ("fludarabine", "2024-07-20", "2024-07-22"),
        ("cyclophosphamide", "2024-07-20", "2024-07-22"),
        ("ciltacabtagene autoleucel", "2024-07-25", "2024-07-25"),
    ]
    out = lines_of(rows, pd=["2024-05-10"])
    assert [s[:2] for s in starts(out)] == [(1, "2024-01-01"), (2, "2024-06-01")]
    car_t = out.row(1, named=True)
    assert car_t["opened_by"] == "car_t"
    assert "carfilzomib" in car_t["drugs"] and "ciltacabtagene autoleucel" in car_t["drugs"]


def test_car_t_line_without_apheresis_starts_at_the_first_bridging_dose():
    rows = [
        ("DPd", "2024-01-01", "2024-05-15"),
        ("Kd", "2024-06-10", "2024-07-10", "bridging"),
        ("car_t_infusion", "2024-07-25", "2024-07-25"),
    ]
    out = lines_of(rows, pd=["2024-05-10"])
    assert [s[:2] for s in starts(out)] == [(1, "2024-01-01"), (2, "2024-06-10")]
    assert out["procedures"].to_list()[1] == ["car_t_infusion"]


def test_bridging_outside_the_car_t_line_when_configured():
    rows = [
        ("DPd", "2024-01-01", "2024-05-15"),
        ("apheresis", "2024-06-01", "2024-06-01"),
        ("Kd", "2024-06-10", "2024-07-10", "bridging"),
        ("idecabtagene vicleucel", "2024-07-25", "2024-07-25"),
    ]
    out = lines_of(rows, pd=["2024-05-10"], config=DEFAULT.replace(bridging_in_car_t_line=False))
    assert [s[:2] for s in starts(out)] == [(1, "2024-01-01"), (2, "2024-06-10"), (3, "2024-07-25")]


def test_bispecific_step_up_doses_are_one_line():
    # Ex-7 line 4: teclistamab step-up 03-17, 03-19, 03-21, then weekly.
    doses = ["2025-03-17", "2025-03-19", "2025-03-21", "2025-03-28", "2025-04-04", "2025-04-11"]
    rows = [("DPd", "2024-08-26", "2025-03-10")] + [
        ("teclistamab", x, x, "step_up" if i < 3 else None) for i, x in enumerate(doses)
    ]
    out = lines_of(rows, pd=["2025-03-03"])
    assert starts(out) == [
        (1, "2024-08-26", "daratumumab+dexamethasone+pomalidomide"),
        (2, "2025-03-17", "teclistamab"),
    ]


# --- L13 and end reasons -----------------------------------------------------------------------


def test_end_reasons_say_why_each_line_ended():
    lines = lines_of(
        [
            ("Rd", "2024-01-08", None),
            ("daratumumab", "2024-03-25", "2024-03-25"),
            ("Kd", "2024-09-01", "2024-12-31"),
        ],
        pd=["2024-08-01"],
    )
    counted = pl.DataFrame({"patient_id": ["p1"], "line": [2]}, schema_overrides={"line": pl.Int32})
    deaths = pl.DataFrame(schema={"patient_id": pl.String, "date": pl.Date})
    out = derive_end_reasons(lines, counted, deaths)
    assert out["end_reason"].to_list() == ["drug_added", "progression", "ongoing"]
    assert set(out["end_reason"]) <= set(END_REASONS)


def test_finished_last_line_ends_at_its_last_dose_and_says_stopped_or_death():
    lines = lines_of([("Kd", "2024-01-01", "2024-06-30")])
    no_events = pl.DataFrame(schema={"patient_id": pl.String, "line": pl.Int32})
    none = pl.DataFrame(schema={"patient_id": pl.String, "date": pl.Date})
    died = pl.DataFrame({"patient_id": ["p1"], "date": [d("2024-07-15")]})
    assert lines["end_date"].to_list() == [d("2024-06-30")]
    assert derive_end_reasons(lines, no_events, none)["end_reason"].to_list() == ["stopped"]
    assert derive_end_reasons(lines, no_events, died)["end_reason"].to_list() == ["death"]


@pytest.mark.parametrize("order", [0, 1])
def test_lines_do_not_depend_on_row_order(order):
    t = treatments(EX5)
    t = t.reverse() if order else t
    out = derive_lines(t, patients("p1"), progression([("p1", "2025-04-07")])).lines
    assert [s[:2] for s in starts(out)] == [(1, "2023-02-01"), (2, "2025-04-21")]


def test_progression_dated_the_day_a_drug_is_added_stays_in_the_line_it_ends():
    # The new line would start on the progression date itself and take it over; the rule needs
    # the progression strictly before the change, which keeps lines and progression stable.
    rows = [("Rd", "2024-01-01", None), ("bortezomib", "2024-02-10", "2024-02-10")]
    assert lines_of(rows, pd=["2024-02-10"]).height == 1
    assert lines_of(rows, pd=["2024-02-09"]).height == 2
