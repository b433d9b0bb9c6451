"""Every patient-facing string we produce reads at grade 8 or below and gives no advice.

The rules (docs/knowledge.md, "Plain-language rules"):

* each paragraph is scored on its own with textstat's Flesch-Kincaid grade and must be <= 8;
* a heading, option name or glossary term is scored with the paragraph it introduces;
* medicine names are scored as the one-syllable word "drug" (a name cannot be made simpler);
* no text contains a phrase of the reviewed advice list (ADVICE_PHRASES).

Texts come from: the key-information pages, the support directory, the care-team sentence, every
option view for a spread of status rows in every region (plus every approval and condition
wording on its own), and every "Where you are now" statement rendered from realistic courses.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

import polars as pl
import pytest
import textstat

from relapsewatch.explain import where_you_are
from relapsewatch.explain.words import RESPONSE_CATEGORIES
from relapsewatch.knowledge import (
    CARE_TEAM_DECIDES,
    CONDITIONS,
    NO_DETAILS_TEXT,
    REGIONS,
    find_advice,
    info_page,
    load_info_pages,
    load_regimens,
    load_support,
    options_for,
    paragraphs,
    prepare_for_readability,
)
from relapsewatch.knowledge.regimens import APPROVAL_STATUSES
from relapsewatch.knowledge.wording import (
    UNAVAILABLE_STATUSES,
    approval_sentence,
    unavailable_reason,
)

MAX_GRADE = 8.0
D = dt.date


def grade(text: str) -> float:
    return float(textstat.flesch_kincaid_grade(prepare_for_readability(text)))


# ---------------------------------------------------------------------------------------------
# Knowledge texts
# ---------------------------------------------------------------------------------------------


def _status_profiles() -> Iterator[tuple[dict[str, object], dict[str, bool] | None]]:
    names = [n for n, info in CONDITIONS.items() if info.known_from == "records"]
    team = [n for n, info in CONDITIONS.items() if info.known_from == "care_team"]
    for prior_lines in range(1, 6):
        for fill in (True, False, None):
            yield {"prior_lines": prior_lines, **dict.fromkeys(names, fill)}, None
            yield (
                {"prior_lines": prior_lines, **dict.fromkeys(names, fill)},
                dict.fromkeys(team, True),
            )
            yield (
                {"prior_lines": prior_lines, **dict.fromkeys(names, fill)},
                dict.fromkeys(team, False),
            )
        # A typical lenalidomide-refractory course, and a triple-class-refractory one.
        typical = dict.fromkeys(names, False)
        typical.update(
            lenalidomide_exposed=True,
            lenalidomide_refractory=True,
            pi_exposed=True,
            bortezomib_exposed=True,
            imid_exposed=True,
            progressed_on_last_therapy=True,
        )
        yield {"prior_lines": prior_lines, **typical}, None
        late = {
            **typical,
            **dict.fromkeys(
                [
                    "anti_cd38_exposed",
                    "anti_cd38_refractory",
                    "daratumumab_refractory",
                    "triple_class_exposed",
                    "triple_class_refractory",
                    "pomalidomide_exposed",
                    "pomalidomide_refractory",
                ],
                True,
            ),
        }
        yield {"prior_lines": prior_lines, **late}, None  # fmt: skip


def option_texts() -> set[str]:
    texts: set[str] = set()
    for (status, team), region in itertools.product(_status_profiles(), REGIONS):
        for view in options_for(status, region=region, team_facts=team):
            name, *rest = view.patient_texts()
            texts.add(f"{name}. {rest[0]}")  # the name heads its first text
            texts.update(rest)
    return texts


def wording_texts() -> set[str]:
    texts = {approval_sentence(r, s) for r in REGIONS for s in APPROVAL_STATUSES}
    for region in REGIONS:
        for status in UNAVAILABLE_STATUSES:
            texts.add(f"Not listed because {unavailable_reason(region, status)}.")
    for info in CONDITIONS.values():
        texts.add(f"Not listed because the records show {info.holds}.")
        texts.add(f"Not listed because the records do not show that {info.holds}.")
        if info.known_from == "care_team":
            texts.add(f"Not listed because your care team has not confirmed that {info.holds}.")
        texts.add(f"This depends on whether {info.holds}. Your care team will check this.")
    return texts


def knowledge_texts() -> set[str]:
    texts = {CARE_TEAM_DECIDES, NO_DETAILS_TEXT}
    for page in load_info_pages().values():
        for text in page.patient_texts():
            texts.update(paragraphs(text))
    texts.update(load_support().patient_texts())
    return texts | option_texts() | wording_texts()


# ---------------------------------------------------------------------------------------------
# "Where you are now" texts, rendered from realistic courses
# ---------------------------------------------------------------------------------------------

LINES_SCHEMA = {"patient_id": pl.String, "line": pl.Int32, "start_date": pl.Date,
                "end_date": pl.Date, "regimen": pl.String, "refractory_to": pl.String,
                "end_reason": pl.String}  # fmt: skip
RELAPSES_SCHEMA = {"patient_id": pl.String, "relapse_number": pl.Int32, "date": pl.Date,
                   "confirmed_date": pl.Date, "line": pl.Int32, "kind": pl.String,
                   "criterion": pl.String, "primary_refractory": pl.Boolean}  # fmt: skip
RESPONSES_SCHEMA = {"patient_id": pl.String, "date": pl.Date, "line": pl.Int32,
                    "response": pl.String, "confirmed": pl.String, "pathway": pl.String,
                    "flags": pl.String}  # fmt: skip


def _regimens() -> list[str]:
    """Every regimen of the knowledge, written as the lines table writes it."""
    out = []
    for regimen in load_regimens().regimens:
        drugs = [d.split(" (")[0] for d in regimen.drugs if regimen.type != "option"]
        if regimen.type == "procedure":
            drugs = ["melphalan", "autologous_transplant"]
        if regimen.type == "cell_therapy":
            drugs = ["apheresis", "car_t_infusion", *drugs]
        if drugs:
            out.append("+".join(sorted(drugs)))
    return out


def statement_texts() -> set[str]:
    texts: set[str] = set()
    regimens = _regimens()
    refractory = ["lenalidomide", "lenalidomide+bortezomib", "daratumumab+pomalidomide+carfilzomib"]
    for i, regimen in enumerate(regimens):
        for relapse_count, state, kind, primary in itertools.product(
            (0, 1, 2, 3, 5),
            ("untreated", "on_treatment", "remission", "progressing", "off_treatment"),
            ("progression", "clinical"),
            (False, True),
        ):
            line_count = max(1, relapse_count + 1) if state != "untreated" else 0
            lines = pl.DataFrame(
                [("p", n, D(2020 + n, 1, 6), None if n == line_count and state in
                  ("on_treatment", "progressing") else D(2020 + n, 11, 30),
                  regimen if n == line_count else "bortezomib+dexamethasone+lenalidomide",
                  refractory[(i + n) % 3] if n < line_count else None, "progression")
                 for n in range(1, line_count + 1)],
                schema=LINES_SCHEMA, orient="row",
            )  # fmt: skip
            relapses = pl.DataFrame(
                [("p", n, D(2020 + n, 10, 5), D(2020 + n, 11, 2), n, kind,
                  "serum M-protein 0.4 -> 0.9 g/dL", primary and n == 1)
                 for n in range(1, relapse_count + 1)],
                schema=RELAPSES_SCHEMA, orient="row",
            )  # fmt: skip
            category = RESPONSE_CATEGORIES[i % len(RESPONSE_CATEGORIES)]
            pathway = ("serum_urine", "flc_only", "marrow_only")[i % 3]
            newest = (
                ("p", D(2026, 6, 1), line_count, "PD", "NE", pathway, "pd_unconfirmed")
                if i % 2
                else ("p", D(2026, 6, 1), line_count, RESPONSE_CATEGORIES[(i + 3) % 7], None,
                      pathway, "awaiting_confirmation")
            )  # fmt: skip
            responses = pl.DataFrame(
                [("p", D(2026, 5, 4), line_count, category, category, pathway, None), newest],
                schema=RESPONSES_SCHEMA, orient="row",
            )  # fmt: skip
            status = {"patient_id": "p", "relapses": relapse_count, "state": state,
                      "current_line": line_count if state == "on_treatment" else None,
                      "primary_refractory": primary and relapse_count == 0}  # fmt: skip
            for statement in where_you_are(status, lines, relapses, responses):
                texts.add(statement.text)
    return texts


@pytest.fixture(scope="module")
def all_texts() -> list[str]:
    texts = knowledge_texts() | statement_texts()
    return sorted(t for t in texts if t.strip())


def test_the_collection_covers_every_kind_of_patient_facing_text(all_texts: list[str]) -> None:
    joined = "\n".join(all_texts)
    for expected in (
        CARE_TEAM_DECIDES,
        info_page("why_it_comes_back").sections[0].paragraphs[0],
        "Not listed because the records show the myeloma stopped responding to lenalidomide.",
        "Your care team will check this.",
        "Doctors call this a very good partial response.",
        "A second test is needed to know if this is a relapse.",
        "but a second test is needed to confirm it.",
        "Doctors group this as the third relapse and beyond.",
        "This rule is not confirmed.",
    ):
        assert expected in joined
    assert len(all_texts) > 500


def test_every_patient_facing_paragraph_is_grade_8_or_below(all_texts: list[str]) -> None:
    too_hard = [(round(grade(t), 1), t) for t in all_texts if grade(t) > MAX_GRADE]
    assert not too_hard, "\n".join(f"grade {g}: {t}" for g, t in too_hard[:20])


def test_no_patient_facing_text_gives_advice(all_texts: list[str]) -> None:
    advice = [(find_advice(t), t) for t in all_texts if find_advice(t)]
    assert not advice, "\n".join(f"{a}: {t}" for a, t in advice[:20])


def test_the_readability_rule_can_fail() -> None:
    dense = (
        "Administration of immunomodulatory therapeutics necessitates comprehensive "
        "haematological surveillance, particularly considering thromboembolic complications."
    )
    assert grade(dense) > MAX_GRADE


def test_the_advice_rule_finds_advice_but_not_options() -> None:
    assert find_advice("We recommend that you start taking it.") == ("we recommend", "start taking")
    assert find_advice("You must ask your doctor.") == ("you must",)
    assert find_advice("You can ask your care team about this option.") == ()
    assert find_advice("EU experts have said it should be approved.") == ()


def test_medicine_names_are_scored_as_one_word() -> None:
    assert prepare_for_readability("Teclistamab plus daratumumab") == "drug plus drug"
    assert prepare_for_readability("lenalidomide-refractory") == "drug-refractory"
