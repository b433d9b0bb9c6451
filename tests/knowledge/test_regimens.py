"""The packaged regimen knowledge loads, uses only the documented vocabulary, and cites sources."""

from __future__ import annotations

import datetime as dt
import re
from importlib import resources
from pathlib import Path

import pytest
import yaml

from relapsewatch.errors import DataError
from relapsewatch.knowledge.conditions import CARE_TEAM_CONDITIONS, CONDITIONS
from relapsewatch.knowledge.regimens import REGIONS, load_regimens, parse_regimens

DATA = resources.files("relapsewatch.knowledge").joinpath("data", "treatment-options.yaml")
SHARED = Path(__file__).resolve().parents[3] / "shared" / "domain" / "treatment-options.yaml"


def _text() -> str:
    return DATA.read_text(encoding="utf-8")


def _header_vocabulary(text: str) -> set[str]:
    """Condition names in the yaml header block 'CONDITION VOCABULARY'."""
    header = text.split("CONDITION VOCABULARY", 1)[1].split("\n# ----", 1)[0]
    names: set[str] = set()
    for line in header.splitlines():
        names |= set(re.findall(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b", line))
    return names - {"prior_lines", "any_of"}  # the count-expression note


def _names_in(requirements: list[object]) -> set[str]:
    names: set[str] = set()
    for item in requirements:
        if isinstance(item, dict):
            names |= _names_in(item["any_of"])
        elif isinstance(item, str) and not item.startswith("prior_lines"):
            names.add(item)
    return names


def test_every_regimen_in_the_file_parses() -> None:
    raw = yaml.safe_load(_text())
    catalogue = load_regimens()
    assert [r.id for r in catalogue.regimens] == [item["id"] for item in raw]


def test_module_vocabulary_is_the_documented_header_vocabulary() -> None:
    assert set(CONDITIONS) == _header_vocabulary(_text())


def test_every_condition_used_in_requires_or_excludes_is_in_the_vocabulary() -> None:
    used: set[str] = set()
    for item in yaml.safe_load(_text()):
        used |= _names_in(item["requires"]) | _names_in(item["excludes"])
        for approval in item["approvals"].values():
            used |= _names_in(approval.get("requires", [])) | _names_in(
                approval.get("excludes", [])
            )
    assert used, "the file uses conditions"
    assert used <= set(CONDITIONS), sorted(used - set(CONDITIONS))


def test_every_regimen_has_sources_a_review_date_and_all_three_regions() -> None:
    catalogue = load_regimens()
    assert catalogue.review_date == dt.date(2026, 11, 23)
    for regimen in catalogue.regimens:
        assert regimen.sources, regimen.id
        assert all(s.startswith(("http://", "https://")) for s in regimen.sources), regimen.id
        assert regimen.review_date == catalogue.review_date
        assert [a.region for a in regimen.approvals] == list(REGIONS)


def test_the_engine_cannot_know_genetics_fitness_or_eye_health() -> None:
    assert {"t_11_14", "transplant_eligible", "car_t_eligible", "corneal_disease"} <= (
        CARE_TEAM_CONDITIONS
    )


def test_historical_belantamab_monotherapy_is_kept_but_not_displayed() -> None:
    assert load_regimens().get("belamaf_mono").displayed is False
    assert all(r.displayed for r in load_regimens().regimens if r.id != "belamaf_mono")


def test_unconfirmed_claims_are_tied_to_what_they_put_in_doubt() -> None:
    catalogue = load_regimens()
    # "exclusions are clinical logic/trial-based, not verified" doubts every exclusion of DRd.
    assert catalogue.get("drd").unconfirmed_conditions == {
        "lenalidomide_refractory",
        "anti_cd38_refractory",
    }
    assert catalogue.get("rd").unconfirmed_conditions == frozenset()
    assert catalogue.get("pvd").approval("us").status_unconfirmed
    assert not catalogue.get("pvd").approval("eu").status_unconfirmed
    assert catalogue.get("rd").approval("eu").year_unconfirmed  # regimen-level "EU year"
    assert not catalogue.get("rd").approval("us").year_unconfirmed
    assert catalogue.get("bvd").approval("england").reference_unconfirmed
    assert catalogue.get("venetoclax_t11_14").lines_unconfirmed


@pytest.mark.skipif(not SHARED.exists(), reason="shared/ is not beside the repository")
def test_packaged_copy_matches_the_teams_compiled_document() -> None:
    assert _text() == SHARED.read_text(encoding="utf-8"), (
        "copy shared/domain/treatment-options.yaml to src/relapsewatch/knowledge/data/"
    )


GOOD = """# Compiled 2026-01-02 for a test
- id: x
  name: X and dexamethasone
  abbreviation: Xd
  type: drug_regimen
  drugs: [x, dexamethasone]
  classes: [other]
  min_prior_lines: 1
  max_prior_lines: null
  requires: [REQUIRES]
  excludes: []
  eligibility_basis: label
  approvals:
    uk_nice: {status: STATUS, reference: TA1, year: 2020}
    eu_ema: {status: approved, reference: EU, year: 2020}
    us_fda: {status: approved, reference: US, year: 2020}
  trial: T
  unconfirmed: []
  source_urls: SOURCES
"""


def _doc(
    requires: str = "lenalidomide_exposed",
    status: str = "recommended",
    sources: str = "[https://example.org/x]",
) -> str:
    return GOOD.replace("REQUIRES", requires).replace("STATUS", status).replace("SOURCES", sources)


def test_a_well_formed_document_parses_with_its_compiled_date() -> None:
    catalogue = parse_regimens(_doc(), file="x.yaml")
    assert catalogue.review_date == dt.date(2026, 1, 2)
    assert catalogue.get("x").approval("england").reference == "TA1"


def test_an_unknown_condition_name_is_an_error_naming_the_entry_and_a_fix() -> None:
    with pytest.raises(DataError) as caught:
        parse_regimens(_doc(requires="lenalidomide_exposd"), file="x.yaml")
    problem = caught.value.problems[0]
    assert problem.file == "x.yaml"
    assert problem.column == "x.requires[0]"
    assert "lenalidomide_exposed" in problem.fix


def test_an_unknown_name_inside_any_of_is_an_error() -> None:
    with pytest.raises(DataError, match=r"x\.requires"):
        parse_regimens(_doc(requires="{any_of: [pi_exposed, transplant_ok]}"), file="x.yaml")


def test_a_regimen_without_sources_is_an_error() -> None:
    with pytest.raises(DataError, match="source"):
        parse_regimens(_doc(sources="[]"), file="x.yaml")


def test_an_undocumented_approval_status_is_an_error() -> None:
    with pytest.raises(DataError, match=r"uk_nice\.status"):
        parse_regimens(_doc(status="maybe"), file="x.yaml")


def test_a_document_without_a_compiled_date_is_an_error() -> None:
    with pytest.raises(DataError, match="header"):
        parse_regimens(_doc().replace("# Compiled 2026-01-02 for a test\n", ""), file="x.yaml")


def test_broken_yaml_is_an_error_with_its_line() -> None:
    with pytest.raises(DataError) as caught:
        parse_regimens("- id: [unclosed\n", file="x.yaml")
    assert caught.value.problems[0].row is not None
