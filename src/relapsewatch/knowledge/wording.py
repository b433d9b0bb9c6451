"""Patient-facing words for the treatment-options knowledge (our own words, plain English).

Every string here is checked by the readability test (Flesch-Kincaid grade 8 or below) and the
no-advice test. Wording says what the records show or what a regulator decided; it never tells the
person what to do, and never says an option is right for them.

>>> lines_phrase(1, None)
'after at least 1 earlier line of treatment'
>>> lines_phrase(1, 3)
'after 1 to 3 earlier lines of treatment'
>>> approval_sentence("us", "approved_accelerated")
'The FDA approved it early in the United States, while more evidence is gathered.'
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
    "unavailable_reason",
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
    "eu": "the European Union",
    "us": "the United States",
}

# Region-specific sentences where the regulator's name matters; others use _GENERIC.
_SPECIFIC: Mapping[tuple[Region, str], str] = {
    ("england", "recommended"): "NICE recommends it for some people, so the NHS in England can "
    "offer it.",
    ("england", "recommended_cdf"): "In England it is paid for by the Cancer Drugs Fund while "
    "more evidence is gathered.",
    ("england", "not_recommended"): "NICE does not recommend it for the NHS in England.",
    ("england", "terminated"): "NICE could not finish its review, so the NHS in England does "
    "not usually offer it.",
    ("england", "not_appraised"): "NICE has not reviewed it for this use, so the NHS in England "
    "may not offer it.",
    ("england", "unconfirmed"): "We could not find a NICE decision on it.",
    ("eu", "positive_opinion"): "EU experts have said it should be approved, but we have not "
    "seen the final EU decision.",
    ("us", "approved"): "The FDA has approved it in the United States.",
    ("us", "approved_accelerated"): "The FDA approved it early in the United States, while more "
    "evidence is gathered.",
}

_GENERIC: Mapping[str, str] = {
    "recommended": "It is recommended for some people in {place}.",
    "recommended_cdf": "It is paid for in {place} while more evidence is gathered.",
    "not_recommended": "It is not recommended for use in {place}.",
    "terminated": "The review of it in {place} was not finished.",
    "not_appraised": "It has not been reviewed for this use in {place}.",
    "approved": "It is approved for use in {place}.",
    "approved_conditional": "It is approved in {place}, on condition that more evidence is "
    "gathered.",
    "approved_accelerated": "It was approved early in {place}, while more evidence is gathered.",
    "positive_opinion": "Experts have said it should be approved in {place}, but we have not "
    "seen the final decision.",
    "withdrawn": "It is no longer approved in {place}.",
    "not_approved": "It is not approved for myeloma in {place}.",
    "not_applicable": "It is not a medicine that needs a licence, so there is no approval to show.",
    "unconfirmed": "We could not find a decision on it in {place}.",
}

_UNAVAILABLE_REASON: Mapping[tuple[Region, str], str] = {
    ("england", "not_recommended"): "NICE does not recommend it for the NHS in England",
    ("england", "terminated"): "NICE could not finish its review, so the NHS in England does "
    "not usually offer it",
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


def _lines(count: int) -> str:
    return f"{count} earlier line{'s' if count != 1 else ''} of treatment"


def lines_phrase(min_lines: int, max_lines: int | None) -> str:
    """When an option is used, counted in earlier lines of treatment."""
    if max_lines is None:
        return f"after at least {_lines(min_lines)}"
    if max_lines == min_lines:
        return f"after exactly {_lines(min_lines)}"
    return f"after {min_lines} to {max_lines} earlier lines of treatment"


def holds_phrase(item: Condition | PriorLines | AnyOf, *, joiner: str = "or") -> str:
    """Words for "this is true", e.g. ``lenalidomide was used before``."""
    if isinstance(item, Condition):
        return CONDITIONS[item.name].holds
    if isinstance(item, PriorLines):
        amount = "at least" if item.op == ">=" else "exactly"
        verb = "were" if item.count != 1 else "was"
        return f"{amount} {_lines(item.count)} {verb} given"
    return f" {joiner} ".join(holds_phrase(x) for x in item.items)
