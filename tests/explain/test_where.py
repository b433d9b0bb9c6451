"""\"Where you are now\": hand-written courses and the sentences (and evidence) they give."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from relapsewatch.errors import DataError, SchemaError
from relapsewatch.explain import Statement, where_you_are

D = dt.date

LINES_SCHEMA = {
    "patient_id": pl.String, "line": pl.Int32, "start_date": pl.Date, "end_date": pl.Date,
    "regimen": pl.String, "best_response": pl.String, "progression_date": pl.Date,
    "refractory_to": pl.String, "end_reason": pl.String,
}  # fmt: skip
RELAPSES_SCHEMA = {
    "patient_id": pl.String, "relapse_number": pl.Int32, "date": pl.Date,
    "confirmed_date": pl.Date, "line": pl.Int32, "kind": pl.String, "criterion": pl.String,
    "primary_refractory": pl.Boolean,
}  # fmt: skip
RESPONSES_SCHEMA = {
    "patient_id": pl.String, "date": pl.Date, "line": pl.Int32, "response": pl.String,
    "confirmed": pl.String, "pathway": pl.String, "flags": pl.String,
}  # fmt: skip

VRD = "bortezomib+dexamethasone+lenalidomide"
DKD = "carfilzomib+daratumumab+dexamethasone"


def lines(*rows: tuple[object, ...]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=LINES_SCHEMA, orient="row")


def relapses(*rows: tuple[object, ...]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=RELAPSES_SCHEMA, orient="row")


def responses(*rows: tuple[object, ...]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=RESPONSES_SCHEMA, orient="row")


def by_topic(statements: list[Statement]) -> dict[str, Statement]:
    return {s.topic: s for s in statements}


def evidence(statement: Statement) -> dict[str, str]:
    return {e.label: e.value for e in statement.evidence}


FIRST_LINE = lines(("p", 1, D(2024, 1, 8), None, VRD, "VGPR", None, None, None))
FIRST_LINE_RESPONSES = responses(
    ("p", D(2024, 3, 4), 1, "PR", "PR", "serum_urine", None),
    ("p", D(2024, 4, 1), 1, "VGPR", "VGPR", "serum_urine", None),
    ("p", D(2024, 5, 6), 1, "VGPR", "VGPR", "serum_urine", None),
)

# First relapse on lenalidomide maintenance (2025-03-03, confirmed 2025-04-07), now on DKd.
RELAPSED_LINES = lines(
    ("p", 1, D(2023, 1, 9), D(2025, 3, 20), VRD, "CR", D(2025, 3, 3), "lenalidomide",
     "progression"),
    ("p", 2, D(2025, 4, 14), None, DKD, "PR", None, None, None),
)  # fmt: skip
FIRST_RELAPSE = relapses(
    ("p", 1, D(2025, 3, 3), D(2025, 4, 7), 1, "progression",
     "serum M-protein 0.4 -> 0.9 g/dL (+0.5 g/dL from nadir 0.4)", False),
)  # fmt: skip
NONE_RELAPSED = relapses()


def test_untreated_person_is_told_no_treatment_is_recorded_yet() -> None:
    status = {"patient_id": "p", "relapses": 0, "state": "untreated", "current_line": None}
    statements = where_you_are(status, lines(), NONE_RELAPSED, responses())
    assert [s.text for s in statements] == [
        "Your records do not show any treatment for myeloma yet."
    ]
    assert evidence(statements[0])["lines received"] == "0"


def test_first_line_treatment_names_the_regimen_and_explains_the_latest_response() -> None:
    status = {"patient_id": "p", "relapses": 0, "state": "on_treatment", "current_line": 1}
    topics = by_topic(where_you_are(status, FIRST_LINE, NONE_RELAPSED, FIRST_LINE_RESPONSES))
    assert topics["stage"].text == "You are having your first treatment for myeloma."
    assert topics["treatment"].text == (
        "Your current treatment is bortezomib, lenalidomide and dexamethasone. It started on "
        "8 January 2024. This is your first line of treatment."
    )
    assert topics["latest_results"].text == (
        "Your latest results are from 6 May 2024. The myeloma protein has fallen by at least 90% "
        "since this treatment began. Doctors call this a very good partial response."
    )
    assert evidence(topics["latest_results"])["confirmed response"] == "VGPR"
    assert "relapse" not in topics and "suspected_rise" not in topics


def test_remission_after_first_line_says_so_and_when_treatment_ran() -> None:
    ended = lines(("p", 1, D(2024, 1, 8), D(2024, 9, 30), VRD, "VGPR", None, None, "completed"))
    status = {"patient_id": "p", "relapses": 0, "state": "remission", "current_line": None}
    topics = by_topic(where_you_are(status, ended, NONE_RELAPSED, FIRST_LINE_RESPONSES))
    assert topics["stage"].text == (
        "Your myeloma is in remission after your first line of treatment. This means treatment "
        "has brought it under control."
    )
    assert topics["treatment"].text == (
        "Your most recent treatment was bortezomib, lenalidomide and dexamethasone. It ran from "
        "8 January 2024 to 30 September 2024. It was your first line of treatment."
    )
    assert evidence(topics["treatment"])["end reason"] == "completed"


def test_first_relapse_gives_its_date_the_new_treatment_and_what_stopped_working() -> None:
    status = {"patient_id": "p", "relapses": 1, "state": "on_treatment", "current_line": 2}
    answer = responses(("p", D(2025, 6, 2), 2, "PR", "PR", "serum_urine", None))
    topics = by_topic(where_you_are(status, RELAPSED_LINES, FIRST_RELAPSE, answer))
    assert topics["relapse"].text == (
        "Your myeloma came back for the first time on 3 March 2025. Doctors call this a first "
        "relapse. Your test results showed it growing again. You are now having treatment for it."
    )
    facts = evidence(topics["relapse"])
    assert facts["criterion"] == "serum M-protein 0.4 -> 0.9 g/dL (+0.5 g/dL from nadir 0.4)"
    assert facts["confirmed on"] == "2025-04-07"
    assert facts["rule"] == "K1-K3 relapse numbering"
    assert topics["treatment"].text.startswith(
        "Your current treatment is carfilzomib, daratumumab and dexamethasone. It started on "
        "14 April 2025. This is your second line of treatment."
    )
    assert topics["refractory"].text == (
        "The records show the myeloma stopped responding to lenalidomide. Doctors call this "
        "refractory."
    )
    assert evidence(topics["refractory"])["refractory in line 1"] == "lenalidomide"


def test_second_relapse_and_a_clinical_relapse_found_by_the_care_team() -> None:
    second = relapses(
        ("p", 1, D(2025, 3, 3), D(2025, 4, 7), 1, "progression", "serum M-protein rise", False),
        ("p", 2, D(2026, 2, 9), D(2026, 2, 9), 2, "clinical", "clinical relapse (finding)", False),
    )
    status = {"patient_id": "p", "relapses": 2, "state": "progressing", "current_line": 2}
    text = by_topic(where_you_are(status, RELAPSED_LINES, second, responses()))["relapse"].text
    assert text == (
        "Your myeloma came back for the second time on 9 February 2026. Doctors call this a "
        "second relapse. Your care team found signs that it was active again."
    )


def test_third_and_later_relapses_are_counted_and_grouped() -> None:
    many = relapses(*[
        ("p", n, D(2020 + n, 1, 6), D(2020 + n, 2, 3), n, "progression", "rise", False)
        for n in (1, 2, 3, 4)
    ])  # fmt: skip
    status = {"patient_id": "p", "relapses": 4, "state": "remission", "current_line": None}
    text = by_topic(where_you_are(status, RELAPSED_LINES, many, responses()))["relapse"].text
    assert text == (
        "Your myeloma has come back 4 times. The most recent time was on 6 January 2024. Doctors "
        "group this as the third relapse and beyond. Your test results showed it growing again. "
        "Since then, treatment has brought it under control again."
    )


def test_a_single_rise_is_reported_as_needing_a_second_test_not_as_a_relapse() -> None:
    rising = responses(
        ("p", D(2024, 4, 1), 1, "VGPR", "VGPR", "serum_urine", None),
        ("p", D(2024, 5, 6), 1, "VGPR", "VGPR", "serum_urine", None),
        ("p", D(2024, 6, 3), 1, "PD", "NE", "serum_urine", "pd_unconfirmed"),
    )
    status = {"patient_id": "p", "relapses": 0, "state": "on_treatment", "current_line": 1}
    topics = by_topic(where_you_are(status, FIRST_LINE, NONE_RELAPSED, rising))
    assert topics["suspected_rise"].text == (
        "One result, from 3 June 2024, went up. A second test is needed to know if this is a "
        "relapse."
    )
    assert evidence(topics["suspected_rise"])["flags"] == "pd_unconfirmed"
    # The latest settled result is still described, and no relapse is claimed.
    assert "very good partial response" in topics["latest_results"].text
    assert "relapse" not in topics


def test_a_rise_awaiting_its_next_test_with_true_false_confirmation_is_suspected_too() -> None:
    pending = pl.DataFrame({
        "patient_id": ["p", "p"], "date": [D(2024, 5, 6), D(2024, 6, 3)],
        "response": ["VGPR", "PD"], "confirmed": [True, False],
    })  # fmt: skip
    unconfirmed = pl.DataFrame({
        "patient_id": ["p"], "date": [D(2024, 6, 3)],
        "criterion": ["serum M-protein 0.2 -> 0.8 g/dL"],
    })  # fmt: skip
    status = {"patient_id": "p", "relapses": 0, "state": "on_treatment", "current_line": 1}
    topics = by_topic(
        where_you_are(status, FIRST_LINE, NONE_RELAPSED, pending,
                      unconfirmed_progression=unconfirmed)
    )  # fmt: skip
    assert evidence(topics["suspected_rise"])["criterion"] == "serum M-protein 0.2 -> 0.8 g/dL"
    assert topics["latest_results"].text.startswith("Your latest results are from 6 May 2024.")


def test_a_confirmed_progression_is_not_reported_as_a_suspected_rise() -> None:
    confirmed = responses(("p", D(2025, 3, 3), 1, "PD", "PD", "serum_urine", None))
    status = {"patient_id": "p", "relapses": 1, "state": "progressing", "current_line": 1}
    topics = by_topic(where_you_are(status, RELAPSED_LINES[:1], FIRST_RELAPSE, confirmed))
    assert "suspected_rise" not in topics
    assert topics["latest_results"].text == (
        "Your latest results are from 3 March 2025. The myeloma has grown again."
    )


def test_light_chain_only_myeloma_is_described_by_its_light_chains() -> None:
    flc = responses(("p", D(2024, 5, 6), 1, "VGPR", "VGPR", "flc_only", None))
    status = {"patient_id": "p", "relapses": 0, "state": "on_treatment", "current_line": 1}
    text = by_topic(where_you_are(status, FIRST_LINE, NONE_RELAPSED, flc))["latest_results"].text
    assert "The light chain level made by the myeloma has fallen by more than 90%" in text


def test_primary_refractory_first_relapse_is_said_plainly() -> None:
    primary = relapses(
        ("p", 1, D(2024, 3, 4), D(2024, 4, 1), 1, "progression", "rise on treatment", True)
    )
    status = {"patient_id": "p", "relapses": 1, "state": "progressing", "current_line": 1}
    statement = by_topic(where_you_are(status, FIRST_LINE, primary, responses()))["relapse"]
    assert "The myeloma did not respond well to the first treatment." in statement.text
    assert evidence(statement)["primary refractory"] == "true"


def test_other_patients_rows_are_ignored() -> None:
    cohort_lines = pl.concat([FIRST_LINE, RELAPSED_LINES.with_columns(patient_id=pl.lit("q"))])
    cohort_relapses = FIRST_RELAPSE.with_columns(patient_id=pl.lit("q"))
    status = {"patient_id": "p", "relapses": 0, "state": "on_treatment", "current_line": 1}
    topics = by_topic(where_you_are(status, cohort_lines, cohort_relapses, responses()))
    assert list(topics) == ["stage", "treatment"]
    assert evidence(topics["treatment"])["regimen"] == VRD


def test_a_status_row_without_state_or_with_an_unknown_state_is_an_error() -> None:
    with pytest.raises(DataError, match="state"):
        where_you_are({"patient_id": "p", "relapses": 0}, lines(), NONE_RELAPSED, responses())
    with pytest.raises(DataError, match="state"):
        where_you_are({"patient_id": "p", "relapses": 0, "state": "cured"}, lines(),
                      NONE_RELAPSED, responses())  # fmt: skip


def test_a_frame_missing_a_needed_column_is_a_schema_error_naming_it() -> None:
    status = {"patient_id": "p", "relapses": 0, "state": "untreated"}
    with pytest.raises(SchemaError, match="regimen"):
        where_you_are(status, FIRST_LINE.drop("regimen"), NONE_RELAPSED, responses())


# The engine's own convention: `confirmed` true/false, `confirmed_as=<category>` and
# `awaiting_confirmation` / `pd_unconfirmed` in `flags` (responses.py, RESPONSE_FLAGS).
def _engine_responses(*rows: tuple[object, ...]) -> pl.DataFrame:
    return pl.DataFrame(
        list(rows),
        schema={"patient_id": pl.String, "date": pl.Date, "line": pl.Int64, "response": pl.String,
                "confirmed": pl.Boolean, "pathway": pl.String, "flags": pl.String},
        orient="row",
    )  # fmt: skip


def test_engine_confirmed_as_flag_gives_the_category_that_was_confirmed() -> None:
    rows = _engine_responses(
        ("p", D(2024, 3, 1), 1, "MR", True, "serum_urine", ""),
        ("p", D(2024, 4, 1), 1, "MR", False, "serum_urine", "confirmed_as=SD"),
        ("p", D(2024, 5, 1), 1, "SD", True, "serum_urine", ""),
    )
    status = {"patient_id": "p", "relapses": 0, "state": "on_treatment", "current_line": 1}
    topics = by_topic(where_you_are(status, FIRST_LINE, NONE_RELAPSED, rows[:2]))
    assert "Doctors call this stable disease." in topics["latest_results"].text
    assert topics["latest_results"].text.startswith("Your latest results are from 1 April 2024.")


def test_a_newest_result_awaiting_its_second_test_is_said_to_need_it() -> None:
    rows = _engine_responses(
        ("p", D(2024, 3, 1), 1, "SD", True, "flc_only", ""),
        ("p", D(2024, 4, 1), 1, "PR", False, "flc_only", "confirmed_as=SD;awaiting_confirmation"),
    )
    status = {"patient_id": "p", "relapses": 0, "state": "on_treatment", "current_line": 1}
    topics = by_topic(where_you_are(status, FIRST_LINE, NONE_RELAPSED, rows))
    assert topics["awaiting_confirmation"].text == (
        "Your most recent result is from 1 April 2024. It looks like a partial response, but a "
        "second test is needed to confirm it."
    )
    assert topics["latest_results"].text.startswith("Your latest results are from 1 March 2024.")


def test_engine_pd_unconfirmed_flag_is_a_suspected_rise() -> None:
    rows = _engine_responses(
        ("p", D(2024, 5, 6), 1, "VGPR", True, "serum_urine", ""),
        ("p", D(2024, 6, 3), 1, "PD", False, "serum_urine", "pd_unconfirmed"),
    )
    status = {"patient_id": "p", "relapses": 0, "state": "on_treatment", "current_line": 1}
    topics = by_topic(where_you_are(status, FIRST_LINE, NONE_RELAPSED, rows))
    assert "suspected_rise" in topics and "awaiting_confirmation" not in topics
