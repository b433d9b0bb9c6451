"""Key-information pages in our own words, chosen by where a person is in their course.

The pages live in ``data/info/*.yaml``: newly diagnosed, in remission, first relapse, second
relapse, third relapse and beyond, why myeloma can come back, and a short glossary. Each has a
title, sections of plain paragraphs, a review date and the sources of its facts; each ends by
pointing to the person's care team. :func:`info_for` picks the page for a ``status`` row.

>>> info_for({"relapses": 1, "state": "remission"}).title
'Your first relapse'
>>> info_for({"relapses": 0, "state": "remission"}).id
'remission'
>>> info_page("glossary").terms[0].term
'M-protein'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from relapsewatch.errors import DataError, Problem, VocabularyError, echo

__all__ = [
    "INFO_PAGE_IDS",
    "RELAPSE_LABELS",
    "STATES",
    "GlossaryTerm",
    "InfoPage",
    "InfoSection",
    "info_for",
    "info_page",
    "info_page_id",
    "load_info_pages",
]

#: Every page, in the order a site would list them.
INFO_PAGE_IDS: tuple[str, ...] = (
    "newly_diagnosed",
    "remission",
    "relapse_1",
    "relapse_2",
    "relapse_3_plus",
    "why_it_comes_back",
    "glossary",
)

#: ``status.state`` values (DESIGN.md, derived table ``status``).
STATES: tuple[str, ...] = ("untreated", "on_treatment", "remission", "progressing", "off_treatment")

#: The relapse labels of the course spec (§2.7, rule K3) -> number of counted relapses.
RELAPSE_LABELS: Mapping[str, int] = {
    "NDMM": 0,
    "1st relapse": 1,
    "2nd relapse": 2,
    "3rd+ relapse": 3,
}

# Latest responses that mean the first treatment brought the myeloma under control.
_RESPONDING = frozenset({"sCR", "CR", "VGPR", "PR"})


@dataclass(frozen=True, slots=True)
class InfoSection:
    """A heading and its paragraphs (each paragraph is plain text, one idea)."""

    heading: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GlossaryTerm:
    """One glossary entry."""

    term: str
    meaning: str


@dataclass(frozen=True, slots=True)
class InfoPage:
    """One key-information page."""

    id: str
    title: str
    review_date: dt.date
    sections: tuple[InfoSection, ...]
    terms: tuple[GlossaryTerm, ...]
    sources: tuple[str, ...]

    @property
    def review_text(self) -> str:
        """Patient-facing line saying when the page was last checked."""
        return f"This page was last checked on {self.review_date.day} {self.review_date:%B %Y}."

    def patient_texts(self) -> tuple[str, ...]:
        """Every patient-facing string, each heading joined to the paragraph it introduces.

        A heading or glossary term alone is a label, not prose, so it is read (and scored for
        readability) together with the text under it.
        """
        texts: list[str] = []
        for term in self.terms:
            texts.append(f"{term.term}: {term.meaning}")
        for i, section in enumerate(self.sections):
            for j, paragraph in enumerate(section.paragraphs):
                lead = [section.heading] if j == 0 else []
                if i == 0 and j == 0 and not self.terms:
                    lead.insert(0, self.title)
                texts.append(". ".join([*lead, paragraph]))
        texts.append(self.review_text)
        return tuple(texts)

    def to_markdown(self) -> str:
        """The page as Markdown (title, sections, glossary terms, review date)."""
        lines = [f"# {self.title}", ""]
        for term in self.terms:
            lines += [f"**{term.term}**: {term.meaning}", ""]
        for section in self.sections:
            lines += [f"## {section.heading}", ""]
            for paragraph in section.paragraphs:
                lines += [paragraph, ""]
        lines.append(f"*{self.review_text}*")
        return "\n".join(lines) + "\n"


def _problem(file: str, key: str, found: object, expected: str, fix: str) -> Problem:
    return Problem(file, None, key, echo(found), expected, fix)


def _text(raw: Mapping[str, object], key: str, file: str, problems: list[Problem]) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.append(_problem(file, key, value, "non-empty text", f"Add {key}."))
        return ""
    return " ".join(value.split())


def _parse_page(text: str, file: str) -> InfoPage:
    raw = yaml.safe_load(text)
    problems: list[Problem] = []
    if not isinstance(raw, Mapping):
        raise DataError([_problem(file, "top level", raw, "a mapping", "Write id, title, ...")])
    review = raw.get("review_date")
    if not isinstance(review, dt.date):
        problems.append(
            _problem(
                file,
                "review_date",
                review,
                "a date YYYY-MM-DD",
                "Add the date the page was last checked.",
            )
        )
    sections: list[InfoSection] = []
    for i, sec in enumerate(raw.get("sections") or []):
        where = f"sections[{i}]"
        paragraphs = sec.get("paragraphs") if isinstance(sec, Mapping) else None
        if not isinstance(sec, Mapping) or not isinstance(paragraphs, list) or not paragraphs:
            problems.append(
                _problem(
                    file,
                    where,
                    sec,
                    "heading and paragraphs",
                    "Give each section a heading and a list of paragraphs.",
                )
            )
            continue
        heading = _text(sec, "heading", file, problems)
        sections.append(InfoSection(heading, tuple(" ".join(str(p).split()) for p in paragraphs)))
    terms = tuple(
        GlossaryTerm(_text(t, "term", file, problems), _text(t, "meaning", file, problems))
        for t in (raw.get("terms") or [])
        if isinstance(t, Mapping)
    )
    sources = tuple(str(s) for s in (raw.get("sources") or []))
    if not sources:
        problems.append(
            _problem(
                file,
                "sources",
                None,
                "at least one source",
                "Say where the page's facts come from.",
            )
        )
    if not sections:
        problems.append(
            _problem(file, "sections", None, "at least one section", "Add the page's text.")
        )
    if problems:
        raise DataError(problems, summary=f"{len(problems)} problem(s) in {file}")
    assert isinstance(review, dt.date)
    return InfoPage(
        id=_text(raw, "id", file, problems),
        title=_text(raw, "title", file, problems),
        review_date=review,
        sections=tuple(sections),
        terms=terms,
        sources=sources,
    )


@cache
def load_info_pages() -> Mapping[str, InfoPage]:
    """Every packaged page, by id (parsed once per process)."""
    folder = resources.files("relapsewatch.knowledge").joinpath("data", "info")
    pages = {}
    for page_id in INFO_PAGE_IDS:
        file = f"{page_id}.yaml"
        page = _parse_page(folder.joinpath(file).read_text(encoding="utf-8"), file)
        if page.id != page_id:
            raise DataError(
                [_problem(file, "id", page.id, repr(page_id), "Make the id match the file name.")]
            )
        pages[page_id] = page
    return pages


def info_page(page_id: str) -> InfoPage:
    """The page with this id (see :data:`INFO_PAGE_IDS`)."""
    pages = load_info_pages()
    if page_id not in pages:
        raise VocabularyError(f"`page_id` must be one of {list(INFO_PAGE_IDS)}, got {page_id!r}")
    return pages[page_id]


def _relapse_count(status: Mapping[str, object]) -> int:
    if "relapses" in status:
        value = status["relapses"]
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise DataError(
            [
                Problem(
                    "status",
                    None,
                    "relapses",
                    echo(value),
                    "a whole number >= 0",
                    "Pass a row of the status table.",
                )
            ]
        )
    label = status.get("relapse_label")
    if isinstance(label, str) and label in RELAPSE_LABELS:
        return RELAPSE_LABELS[label]
    raise DataError(
        [
            Problem(
                "status",
                None,
                "relapses",
                echo(label),
                f"relapses (a count) or relapse_label (one of {list(RELAPSE_LABELS)})",
                "Pass a row of the course engine's status table.",
            )
        ]
    )


def info_page_id(status: Mapping[str, object]) -> str:
    """Which page fits a ``status`` row.

    The relapse count decides first (spec §2.7, K3: the label holds from one relapse to the
    next, including any remission in between). With no relapse: ``remission`` when the state
    is remission, or when first-line treatment has stopped after at least a partial response;
    otherwise ``newly_diagnosed`` (untreated, on first-line treatment, or a rise not yet
    confirmed as a relapse).
    """
    relapses = _relapse_count(status)
    if relapses >= 3:
        return "relapse_3_plus"
    if relapses == 2:
        return "relapse_2"
    if relapses == 1:
        return "relapse_1"
    state = status.get("state")
    if state is not None and state not in STATES:
        raise VocabularyError(f"status `state` must be one of {list(STATES)}, got {state!r}")
    if state == "remission":
        return "remission"
    if state == "off_treatment" and status.get("latest_response") in _RESPONDING:
        return "remission"
    return "newly_diagnosed"


def info_for(status: Mapping[str, object]) -> InfoPage:
    """The key-information page for where the person is now (see :func:`info_page_id`)."""
    return info_page(info_page_id(status))
