"""Key-information pages: present, dated, sourced, end with the care team; chosen by status."""

from __future__ import annotations

import pytest

from relapsewatch.errors import DataError, VocabularyError
from relapsewatch.knowledge.info import INFO_PAGE_IDS, info_for, info_page, load_info_pages


def test_every_page_loads_with_a_review_date_sources_and_text() -> None:
    pages = load_info_pages()
    assert list(pages) == list(INFO_PAGE_IDS)
    for page in pages.values():
        assert page.review_date.year >= 2026
        assert page.sources
        assert page.sections
        assert all(p.strip() for s in page.sections for p in s.paragraphs)


@pytest.mark.parametrize("page_id", INFO_PAGE_IDS)
def test_every_page_ends_by_pointing_to_the_care_team(page_id: str) -> None:
    last = info_page(page_id).sections[-1].paragraphs[-1]
    assert "care team" in last


def test_why_it_can_come_back_tells_the_three_steps() -> None:
    text = " ".join(info_page("why_it_comes_back").patient_texts())
    assert "Treatment kills most of the myeloma cells" in text
    assert "no test can find them" in text
    assert "can slowly grow again" in text


def test_glossary_defines_the_words_used_on_the_pages() -> None:
    terms = [t.term for t in info_page("glossary").terms]
    assert terms == [
        "M-protein",
        "Free light chains",
        "Remission",
        "Relapse",
        "Refractory",
        "Line of therapy",
        "MRD",
    ]


def test_markdown_has_title_sections_and_review_date() -> None:
    md = info_page("relapse_1").to_markdown()
    assert md.startswith("# Your first relapse\n")
    assert "## A word you may hear" in md
    assert md.rstrip().endswith("*This page was last checked on 23 November 2026.*")


@pytest.mark.parametrize(
    ("status", "page_id"),
    [
        ({"relapses": 0, "state": "untreated"}, "newly_diagnosed"),
        ({"relapses": 0, "state": "on_treatment"}, "newly_diagnosed"),
        ({"relapses": 0, "state": "progressing"}, "newly_diagnosed"),
        ({"relapses": 0, "state": "remission"}, "remission"),
        ({"relapses": 0, "state": "off_treatment", "latest_response": "VGPR"}, "remission"),
        ({"relapses": 0, "state": "off_treatment", "latest_response": "SD"}, "newly_diagnosed"),
        ({"relapses": 1, "state": "remission"}, "relapse_1"),
        ({"relapses": 1, "state": "on_treatment"}, "relapse_1"),
        ({"relapses": 2, "state": "progressing"}, "relapse_2"),
        ({"relapses": 3, "state": "on_treatment"}, "relapse_3_plus"),
        ({"relapses": 6, "state": "remission"}, "relapse_3_plus"),
        ({"relapse_label": "2nd relapse"}, "relapse_2"),
        ({"relapse_label": "NDMM", "state": "remission"}, "remission"),
    ],
)
def test_the_page_follows_the_relapse_label_then_the_state(
    status: dict[str, object], page_id: str
) -> None:
    assert info_for(status).id == page_id


def test_a_status_without_relapse_count_or_label_is_an_error() -> None:
    with pytest.raises(DataError, match="relapses"):
        info_for({"state": "remission"})
    with pytest.raises(DataError, match="relapses"):
        info_for({"relapses": -1})


def test_an_unknown_state_is_an_error() -> None:
    with pytest.raises(VocabularyError, match="state"):
        info_for({"relapses": 0, "state": "cured"})


def test_an_unknown_page_is_an_error() -> None:
    with pytest.raises(VocabularyError, match="page_id"):
        info_page("relapse_4")
