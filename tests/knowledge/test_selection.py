"""Treatment options often considered now: hand-written status rows and their expected lists."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from relapsewatch.errors import DataError, VocabularyError
from relapsewatch.knowledge.regimens import Region
from relapsewatch.knowledge.selection import OptionView, options_for

# A person at first relapse after VRd induction, ASCT and lenalidomide maintenance, whose myeloma
# progressed on lenalidomide: lenalidomide-refractory, bortezomib-exposed, no anti-CD38 yet.
LEN_REFRACTORY_FIRST_RELAPSE: dict[str, object] = {
    "prior_lines": 1,
    "relapses": 1,
    "lenalidomide_exposed": True,
    "lenalidomide_refractory": True,
    "pomalidomide_exposed": False,
    "pomalidomide_refractory": False,
    "imid_exposed": True,
    "bortezomib_exposed": True,
    "bortezomib_refractory": False,
    "carfilzomib_refractory": False,
    "pi_exposed": True,
    "pi_refractory": False,
    "anti_cd38_exposed": False,
    "anti_cd38_refractory": False,
    "daratumumab_refractory": False,
    "triple_class_exposed": False,
    "triple_class_refractory": False,
    "penta_refractory": False,
    "prior_bcma": False,
    "prior_bcma_car_t": False,
    "prior_gprc5d": False,
    "progressed_on_last_therapy": True,
    "prior_asct": True,
    "no_prior_asct": False,
    "remission_after_prior_asct_ge_18m": True,
    "remission_after_prior_asct_ge_36m": False,
    "lenalidomide_maintenance_after_asct": True,
}

# Third relapse and beyond: refractory to lenalidomide, pomalidomide, bortezomib and daratumumab.
TRIPLE_CLASS_REFRACTORY: dict[str, object] = {
    **LEN_REFRACTORY_FIRST_RELAPSE,
    "prior_lines": 3,
    "relapses": 3,
    "pomalidomide_exposed": True,
    "pomalidomide_refractory": True,
    "bortezomib_refractory": True,
    "pi_refractory": True,
    "anti_cd38_exposed": True,
    "anti_cd38_refractory": True,
    "daratumumab_refractory": True,
    "triple_class_exposed": True,
    "triple_class_refractory": True,
}


def _by_id(status: Mapping[str, object], region: Region, **kw: object) -> dict[str, OptionView]:
    return {v.regimen_id: v for v in options_for(status, region=region, **kw)}  # type: ignore[arg-type]


def _shown(views: dict[str, OptionView]) -> set[str]:
    return {rid for rid, v in views.items() if v.shown}


@pytest.mark.parametrize("region", ["eu", "us"])
def test_lenalidomide_refractory_first_relapse_shows_carfilzomib_and_pomalidomide_options(
    region: Region,
) -> None:
    views = _by_id(LEN_REFRACTORY_FIRST_RELAPSE, region)
    assert {"dkd", "kd", "isakd", "dpd", "dvd"} <= _shown(views)
    for rid in ("drd", "rd", "krd"):
        assert views[rid].outcome == "not_listed"
        assert views[rid].why.startswith(
            "Not listed because the records show the myeloma stopped responding to lenalidomide."
        )


def test_lenalidomide_refractory_first_relapse_in_england_follows_nice() -> None:
    views = _by_id(LEN_REFRACTORY_FIRST_RELAPSE, "england")
    assert views["dvd"].outcome == "listed"  # TA897: one prior line that included lenalidomide
    assert views["dvd"].approval_status == "recommended"
    # Kd: NICE only without prior bortezomib.
    assert views["kd"].outcome == "not_listed"
    assert views["kd"].why == (
        "Not listed because of the rules in England. There it is not recommended when bortezomib "
        "was used before."
    )
    # SVd: NICE only when also daratumumab-refractory at one prior line.
    assert views["svd"].outcome == "not_listed"
    # CAR-T: NICE appraisal terminated.
    assert views["cilta_cel"].outcome == "not_listed"
    assert views["cilta_cel"].why.startswith("Not listed because NICE did not finish its review")
    assert views["rd"].outcome == "not_listed"


def test_options_not_yet_reviewed_by_nice_are_listed_with_that_status_said_plainly() -> None:
    dkd = _by_id(LEN_REFRACTORY_FIRST_RELAPSE, "england")["dkd"]
    assert dkd.outcome == "listed"
    assert dkd.approval_status == "not_appraised"
    assert dkd.approval_text.startswith("NICE has not reviewed it for this use")
    assert "(not confirmed)" in dkd.approval_text  # the compilers could not confirm "none found"


def test_region_differences_are_visible_at_first_relapse() -> None:
    england = _by_id(LEN_REFRACTORY_FIRST_RELAPSE, "england")
    us = _by_id(LEN_REFRACTORY_FIRST_RELAPSE, "us")
    eu = _by_id(LEN_REFRACTORY_FIRST_RELAPSE, "eu")
    # BPd: NICE recommends it at one prior line; the FDA has not approved it.
    assert england["bpd"].shown and eu["bpd"].shown
    assert us["bpd"].outcome == "not_listed"
    assert us["bpd"].why == "Not listed because it is not approved for myeloma in the US."
    # BVd: FDA label needs at least 2 prior lines.
    assert us["bvd"].why == (
        "Not listed because of the rules in the US. There it is only approved from the third line "
        "of treatment on."
    )
    # PVd: EU licence; not FDA-approved (itself unconfirmed).
    assert eu["pvd"].outcome == "listed" and us["pvd"].outcome == "not_listed"
    assert "(not confirmed)" in us["pvd"].approval_text


def test_triple_class_refractory_third_relapse_shows_bispecifics_per_region() -> None:
    bispecifics = {"teclistamab", "elranatamab", "talquetamab", "linvoseltamab"}
    england = _by_id(TRIPLE_CLASS_REFRACTORY, "england")
    eu = _by_id(TRIPLE_CLASS_REFRACTORY, "eu")
    us = _by_id(TRIPLE_CLASS_REFRACTORY, "us")
    assert bispecifics <= _shown(england)
    assert bispecifics <= _shown(eu)
    assert england["elranatamab"].approval_text.startswith(
        "In England it is paid for by the Cancer Drugs Fund"
    )
    # FDA labels need at least 4 prior lines: at 3 they are not listed, with the reason.
    for rid in bispecifics:
        assert us[rid].outcome == "not_listed"
        assert "There it is only approved from the fifth line of treatment on." in us[rid].why
    four = _by_id({**TRIPLE_CLASS_REFRACTORY, "prior_lines": 4}, "us")
    assert bispecifics <= _shown(four)


def test_car_t_is_shown_as_depending_on_the_care_teams_assessment_outside_england() -> None:
    for region in ("eu", "us"):
        ide_cel = _by_id(TRIPLE_CLASS_REFRACTORY, region)["ide_cel"]  # type: ignore[arg-type]
        assert ide_cel.outcome == "depends"
        assert ide_cel.depends_on == ("car_t_eligible",)
        assert ide_cel.depends_text is not None
        assert ide_cel.depends_text == (
            "This depends on whether CAR-T cell therapy is possible for you. Your care team will "
            "check this."
        )
    assert _by_id(TRIPLE_CLASS_REFRACTORY, "england")["ide_cel"].outcome == "not_listed"


def test_prior_bcma_therapy_keeps_bcma_car_t_off_the_list_but_not_talquetamab() -> None:
    views = _by_id({**TRIPLE_CLASS_REFRACTORY, "prior_bcma": True}, "eu")
    assert views["ide_cel"].outcome == "not_listed"
    assert "a treatment aimed at BCMA" in views["ide_cel"].why
    assert views["talquetamab"].outcome == "listed"


def test_a_condition_only_the_care_team_can_know_is_never_assumed() -> None:
    # Values in the status row for t(11;14) are ignored: records cannot show genetics.
    status = {**LEN_REFRACTORY_FIRST_RELAPSE, "t_11_14": True}
    ven = _by_id(status, "england")["venetoclax_t11_14"]
    assert ven.outcome == "depends"
    assert ven.depends_on == ("t_11_14",)
    assert ven.depends_text == (
        "This depends on whether the myeloma cells have a gene change called t(11;14). Your care "
        "team will check this."
    )


def test_what_the_care_team_has_recorded_settles_a_care_team_condition() -> None:
    yes = _by_id(LEN_REFRACTORY_FIRST_RELAPSE, "england", team_facts={"t_11_14": True})
    no = _by_id(LEN_REFRACTORY_FIRST_RELAPSE, "england", team_facts={"t_11_14": False})
    assert yes["venetoclax_t11_14"].outcome == "listed"
    assert "Your care team has noted that the myeloma cells have a gene change" in (
        yes["venetoclax_t11_14"].why
    )
    assert no["venetoclax_t11_14"].outcome == "not_listed"
    assert "your care team has not confirmed that" in no["venetoclax_t11_14"].why


def test_a_condition_missing_from_the_status_is_unknown_not_false() -> None:
    status = {k: v for k, v in LEN_REFRACTORY_FIRST_RELAPSE.items() if k != "anti_cd38_refractory"}
    dkd = _by_id(status, "eu")["dkd"]
    assert dkd.outcome == "depends"
    assert dkd.depends_on == ("anti_cd38_refractory",)
    trace = {t.rule_id: t for t in dkd.trace}
    assert trace["regimen.excludes:anti_cd38_refractory"].facts == (
        ("anti_cd38_refractory", None, "missing_from_status"),
    )


def test_any_of_is_unknown_only_while_no_item_holds() -> None:
    # Salvage transplant: transplant_eligible (care team) and any_of[no_prior_asct, remission>=18m]
    status = {**LEN_REFRACTORY_FIRST_RELAPSE, "remission_after_prior_asct_ge_18m": None}
    asct = _by_id(status, "eu")["salvage_asct"]
    assert asct.depends_on == ("transplant_eligible", "remission_after_prior_asct_ge_18m")
    assert asct.depends_text == (
        "This depends on a few facts. Your care team will check whether a stem cell transplant "
        "would be safe for you. They will also check whether the last transplant kept the myeloma "
        "away for 18 months or more."
    )
    short = {**LEN_REFRACTORY_FIRST_RELAPSE, "remission_after_prior_asct_ge_18m": False}
    assert _by_id(short, "eu")["salvage_asct"].outcome == "not_listed"


def test_unconfirmed_rules_and_statuses_are_labelled_not_confirmed() -> None:
    views = _by_id(LEN_REFRACTORY_FIRST_RELAPSE, "eu")
    # DRd's lenalidomide exclusion is marked unconfirmed; Rd's is not.
    assert views["drd"].why.endswith("This rule is not confirmed.")
    assert "not confirmed" not in views["rd"].why
    assert views["rd"].approval_text.endswith("The decision dates from 2007 (year not confirmed).")
    assert views["drd"].unconfirmed_note == (
        "Some facts in this entry are not confirmed. Your care team can check them."
    )
    assert "EU year" in views["drd"].unconfirmed
    tecdara_england = _by_id(LEN_REFRACTORY_FIRST_RELAPSE, "england")["teclistamab_daratumumab"]
    assert tecdara_england.approval_text == "We could not find a NICE decision on it."


def test_entry_without_unconfirmed_claims_has_no_doubt_note() -> None:
    trial = _by_id(LEN_REFRACTORY_FIRST_RELAPSE, "us")["clinical_trial"]
    assert trial.unconfirmed == ()
    assert trial.unconfirmed_note is None
    assert trial.outcome == "listed"


def test_every_view_carries_sources_review_date_and_reference() -> None:
    for region in ("england", "eu", "us"):
        for view in options_for(TRIPLE_CLASS_REFRACTORY, region=region):  # type: ignore[arg-type]
            assert view.sources
            assert view.review_text == "This entry was last checked on 23 November 2026."
            assert view.region == region


def test_listed_options_come_before_those_that_depend_then_those_not_listed() -> None:
    order = [v.outcome for v in options_for(LEN_REFRACTORY_FIRST_RELAPSE, region="eu")]
    ranks = [{"listed": 0, "depends": 1, "not_listed": 2}[o] for o in order]
    assert ranks == sorted(ranks)
    assert set(order) == {"listed", "depends", "not_listed"}


def test_historical_and_out_of_range_options_are_left_out() -> None:
    views = _by_id(LEN_REFRACTORY_FIRST_RELAPSE, "eu")
    assert "belamaf_mono" not in views
    assert "xd" not in views  # needs at least 4 prior lines
    assert "xd" in _by_id({**TRIPLE_CLASS_REFRACTORY, "prior_lines": 4}, "eu")


def test_no_prior_lines_means_no_relapse_options() -> None:
    assert options_for({"prior_lines": 0}, region="england") == []


@pytest.mark.parametrize("bad", [None, -1, 1.5, "2", True])
def test_prior_lines_must_be_a_whole_number(bad: object) -> None:
    with pytest.raises(DataError, match="prior_lines"):
        options_for({"prior_lines": bad}, region="eu")


def test_a_condition_value_that_is_not_yes_or_no_is_an_error_naming_it() -> None:
    with pytest.raises(DataError, match="lenalidomide_refractory"):
        options_for({"prior_lines": 1, "lenalidomide_refractory": "yes"}, region="eu")


def test_unknown_region_and_unknown_team_facts_are_errors() -> None:
    with pytest.raises(VocabularyError, match="region"):
        options_for({"prior_lines": 1}, region="uk")  # type: ignore[arg-type]
    with pytest.raises(VocabularyError, match="unknown condition"):
        options_for({"prior_lines": 1}, region="eu", team_facts={"t11_14": True})
    with pytest.raises(VocabularyError, match="comes from the records"):
        options_for({"prior_lines": 1}, region="eu", team_facts={"lenalidomide_refractory": True})
