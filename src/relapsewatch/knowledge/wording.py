"""Patient-facing words for the treatment-options knowledge (our own words, plain English).

Every string here is checked by the readability test (Flesch-Kincaid grade 8 or below) and the
no-advice test. Wording says what the records show or what a regulator decided; it never tells the
person what to do, and never says an option is right for them.

Lines are counted as people live them: one prior line means the next is the *second* line.

>>> lines_phrase(1, None)
'from the second line of treatment on'
>>> lines_phrase(1, 3)
'as the second to fourth line of treatment'
>>> lines_phrase(3, 3)
'as the fourth line of treatment'
>>> approval_sentence("us", "approved_accelerated")
'The FDA approved it early in the US, while more is learned about it.'
"""

from __future__ import annotations

from collections.abc import Mapping

from relapsewatch.knowledge.conditions import CONDITIONS, AnyOf, Condition, PriorLines
from relapsewatch.knowledge.regimens import ApprovalStatus, Region

__all__ = [
    "AVAILABLE_STATUSES",
    "PLACE",
    "UNAVAILABLE_STATUSES",
    "UNCERTAIN_STATUSES",
    "approval_sentence",
    "holds_phrase",
    "lines_phrase",
    "plain_name",
    "unavailable_reason",
    "when_phrase",
]

#: The option can be given in the region (licensed, NICE-funded, or no licence needed).
AVAILABLE_STATUSES: frozenset[str] = frozenset(
    {
        "approved",
        "approved_conditional",
        "approved_accelerated",
        "recommended",
        "recommended_cdf",
        "not_applicable",
    }
)
#: Listed, with its uncertain status said plainly (no NICE review, decision pending or not found).
UNCERTAIN_STATUSES: frozenset[str] = frozenset({"positive_opinion", "not_appraised", "unconfirmed"})
#: Not listed in the region: refused, withdrawn or not approved there.
UNAVAILABLE_STATUSES: frozenset[str] = frozenset(
    {"not_recommended", "terminated", "withdrawn", "not_approved"}
)

#: How a region is named in a sentence.
PLACE: Mapping[Region, str] = {
    "england": "England",
    "eu": "the EU",
    "us": "the US",
}

# Region-specific sentences where the regulator's name matters; others use _GENERIC.
_SPECIFIC: Mapping[tuple[Region, str], str] = {
    ("england", "recommended"): "NICE recommends it for some people, so the NHS in England can "
    "offer it.",
    ("england", "recommended_cdf"): "In England it is paid for by the Cancer Drugs Fund, while "
    "more is learned about it.",
    ("england", "not_recommended"): "NICE does not recommend it for the NHS in England.",
    ("england", "terminated"): "NICE did not finish its review of it. The NHS in England does "
    "not usually offer it.",
    ("england", "not_appraised"): "NICE has not reviewed it for this use, so the NHS in England "
    "may not offer it.",
    ("england", "unconfirmed"): "We could not find a NICE decision on it.",
    ("eu", "positive_opinion"): "EU experts have said it should be approved, but we have not "
    "seen the final EU decision.",
    ("us", "approved"): "The FDA has approved it in the US.",
    ("us", "approved_accelerated"): "The FDA approved it early in the US, while more is learned "
    "about it.",
}

_GENERIC: Mapping[str, str] = {
    "recommended": "It is recommended for some people in {place}.",
    "recommended_cdf": "It is paid for in {place} while more is learned about it.",
    "not_recommended": "It is not recommended for use in {place}.",
    "terminated": "The review of it in {place} was not finished.",
    "not_appraised": "It has not been reviewed for this use in {place}.",
    "approved": "It is approved for use in {place}.",
    "approved_conditional": "It is approved in {place} for now, while more is learned about it.",
    "approved_accelerated": "It was approved early in {place}, while more is learned about it.",
    "positive_opinion": "Experts have said it should be approved in {place}, but we have not "
    "seen the final decision.",
    "withdrawn": "It is no longer approved in {place}.",
    "not_approved": "It is not approved for myeloma in {place}.",
    "not_applicable": "It is not a medicine that needs a licence, so there is no approval to show.",
    "unconfirmed": "We could not find a decision on it in {place}.",
}

_UNAVAILABLE_REASON: Mapping[tuple[Region, str], str] = {
    ("england", "not_recommended"): "NICE does not recommend it for the NHS in England",
    ("england", "terminated"): "NICE did not finish its review of it",
}
_UNAVAILABLE_GENERIC: Mapping[str, str] = {
    "not_recommended": "it is not recommended for use in {place}",
    "terminated": "the review of it in {place} was not finished",
    "withdrawn": "it is no longer approved in {place}",
    "not_approved": "it is not approved for myeloma in {place}",
}


def approval_sentence(region: Region, status: ApprovalStatus | str) -> str:
    """One plain sentence saying what the status means in the region."""
    specific = _SPECIFIC.get((region, status))
    if specific is not None:
        return specific
    return _GENERIC[status].format(place=PLACE[region])


def unavailable_reason(region: Region, status: str) -> str:
    """Why an option refused or withdrawn in the region is not listed (a clause, no full stop)."""
    specific = _UNAVAILABLE_REASON.get((region, status))
    if specific is not None:
        return specific
    return _UNAVAILABLE_GENERIC[status].format(place=PLACE[region])


def _nth(count: int) -> str:
    words = (
        "first",
        "second",
        "third",
        "fourth",
        "fifth",
        "sixth",
        "seventh",
        "eighth",
        "ninth",
        "tenth",
    )
    return words[count - 1] if 1 <= count <= len(words) else f"{count}th"


def lines_phrase(min_prior: int, max_prior: int | None) -> str:
    """When an option is used, from its range of prior lines (0 prior = the first line)."""
    if max_prior is None:
        return f"from the {_nth(min_prior + 1)} line of treatment on"
    if max_prior == min_prior:
        return f"as the {_nth(min_prior + 1)} line of treatment"
    return f"as the {_nth(min_prior + 1)} to {_nth(max_prior + 1)} line of treatment"


def holds_phrase(item: Condition | PriorLines | AnyOf) -> str:
    """Words for "this is true", e.g. ``lenalidomide was used before``."""
    if isinstance(item, Condition):
        return CONDITIONS[item.name].holds
    if isinstance(item, PriorLines):
        top = item.count if item.op == "==" else None
        return f"it would be used {lines_phrase(item.count, top)}"
    return " or ".join(holds_phrase(x) for x in item.items)


def when_phrase(item: Condition | PriorLines) -> str:
    """A case in which an option is used: ``when lenalidomide was used before`` or a line."""
    if isinstance(item, PriorLines):
        top = item.count if item.op == "==" else None
        return lines_phrase(item.count, top)
    return f"when {CONDITIONS[item.name].holds}"


# Patient-facing names where the knowledge file's name is technical; others use the file's name.
_PLAIN_NAMES: Mapping[str, str] = {
    "vd": "Bortezomib, with or without dexamethasone",
    "dara_mono": "Daratumumab on its own",
    "belamaf_mono": "Belantamab mafodotin on its own",
    "teclistamab_daratumumab": "Teclistamab and daratumumab",
    "cilta_cel": "Ciltacabtagene autoleucel (cilta-cel), a CAR-T cell therapy",
    "ide_cel": "Idecabtagene vicleucel (ide-cel), a CAR-T cell therapy",
    "venetoclax_t11_14": "Venetoclax, for myeloma with the t(11;14) gene change",
    "salvage_asct": "A second stem cell transplant using your own cells",
    "clinical_trial": "A clinical trial",
}


def plain_name(regimen_id: str, formal_name: str) -> str:
    """The option's name as shown to a person."""
    return _PLAIN_NAMES.get(regimen_id, formal_name)
