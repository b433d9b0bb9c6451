"""Treatment-options knowledge, key-information pages and the help-and-support directory.

Everything a person sees here is in our own words and plain English, never advice, and always
paired with :data:`CARE_TEAM_DECIDES`. See ``docs/knowledge.md``.

* :func:`options_for` -- options often considered now for one ``status`` row and a region, each
  with why it is (or is not) listed, its approval status, reference, sources and review date;
  :func:`options_frame` -- the same outcomes for a whole ``status`` frame.
* :func:`info_for` / :func:`info_page` -- key-information pages (newly diagnosed, remission,
  1st / 2nd / 3rd-and-beyond relapse, why it can come back, glossary).
* :func:`load_support` -- contacts, community groups and events, with a site's settings merged in.
* :func:`find_advice`, :func:`prepare_for_readability` -- the checks every patient-facing text
  passes (no advice; Flesch-Kincaid grade 8 or below).
"""

from relapsewatch.knowledge.conditions import CARE_TEAM_CONDITIONS, CONDITIONS
from relapsewatch.knowledge.info import (
    INFO_PAGE_IDS,
    GlossaryTerm,
    InfoPage,
    InfoSection,
    info_for,
    info_page,
    load_info_pages,
)
from relapsewatch.knowledge.plain_language import (
    ADVICE_PHRASES,
    CARE_TEAM_DECIDES,
    find_advice,
    paragraphs,
    prepare_for_readability,
)
from relapsewatch.knowledge.regimens import (
    REGIONS,
    Approval,
    Regimen,
    RegimenCatalogue,
    Region,
    load_regimens,
)
from relapsewatch.knowledge.selection import OptionView, Outcome, RuleTrace, options_for
from relapsewatch.knowledge.selection_frame import OPTIONS_FRAME, options_frame
from relapsewatch.knowledge.support import (
    NO_DETAILS_TEXT,
    Community,
    CommunityEvent,
    CommunityGroup,
    SupportContact,
    SupportDirectory,
    load_support,
    merge_support,
)

__all__ = [
    "ADVICE_PHRASES",
    "CARE_TEAM_CONDITIONS",
    "CARE_TEAM_DECIDES",
    "CONDITIONS",
    "INFO_PAGE_IDS",
    "NO_DETAILS_TEXT",
    "OPTIONS_FRAME",
    "REGIONS",
    "Approval",
    "Community",
    "CommunityEvent",
    "CommunityGroup",
    "GlossaryTerm",
    "InfoPage",
    "InfoSection",
    "OptionView",
    "Outcome",
    "Regimen",
    "RegimenCatalogue",
    "Region",
    "RuleTrace",
    "SupportContact",
    "SupportDirectory",
    "find_advice",
    "info_for",
    "info_page",
    "load_info_pages",
    "load_regimens",
    "load_support",
    "merge_support",
    "options_for",
    "options_frame",
    "paragraphs",
    "prepare_for_readability",
]
