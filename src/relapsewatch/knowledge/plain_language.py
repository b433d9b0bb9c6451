"""Rules for patient-facing text: the care-team sentence, no advice, and readability scoring.

These are shared by the knowledge, the explanations and the web app's templates, so one set of
rules checks all patient-facing text (see ``docs/knowledge.md``, "Plain-language rules").

* :data:`CARE_TEAM_DECIDES` is shown with every list of treatment options.
* :data:`ADVICE_PHRASES` is the reviewed list of words that give advice; :func:`find_advice`
  finds them. Offering a choice ("you can ask your care team about ...") is not advice.
* :func:`prepare_for_readability` makes a text ready for a Flesch-Kincaid score: medicine names
  become the one-syllable word "drug", because a medicine's name cannot be made simpler while the
  words around it can. :func:`paragraphs` splits long text into the paragraphs that are scored.

>>> find_advice("You should ask for this.")
('you should',)
>>> find_advice("You can ask your care team about this.")
()
>>> prepare_for_readability("Daratumumab, lenalidomide and dexamethasone")
'drug, drug and drug'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from relapsewatch.knowledge.regimens import load_regimens

__all__ = [
    "ADVICE_PHRASES",
    "CARE_TEAM_DECIDES",
    "EXTRA_MEDICINE_NAMES",
    "find_advice",
    "medicine_names",
    "paragraphs",
    "prepare_for_readability",
]

#: Shown with every list of treatment options, and wherever options are discussed.
CARE_TEAM_DECIDES = (
    "Your own care team decides with you which treatment is right for you. "
    "This list only shows what guidelines and medicine regulators describe."
)

#: Reviewed list of phrases that tell a person what to do (matched case-insensitively, as words).
#: Offering an option ("you can ask ...") and describing what happens ("a second test is needed")
#: are not advice and are not listed.
ADVICE_PHRASES: tuple[str, ...] = (
    "you should",
    "you shouldn't",
    "you must",
    "you need to",
    "you have to",
    "you ought to",
    "you'd better",
    "we recommend",
    "we advise",
    "we suggest",
    "we urge",
    "i recommend",
    "make sure you",
    "be sure to",
    "it is best to",
    "it's best to",
    "the best option for you",
    "the best treatment for you",
    "do not take",
    "don't take",
    "stop taking",
    "start taking",
    "insist on",
)

#: Medicine and procedure names used in our texts that are not in the regimen catalogue.
EXTRA_MEDICINE_NAMES: tuple[str, ...] = (
    "thalidomide",
    "melphalan",
    "cyclophosphamide",
    "bendamustine",
    "prednisolone",
    "prednisone",
    "methylprednisolone",
    "doxorubicin",
    "cisplatin",
    "etoposide",
    "carmustine",
    "iberdomide",
    "mezigdomide",
    "vorinostat",
    "zoledronic acid",
    "denosumab",
    "aciclovir",
    "belantamab",
)

_ADVICE = re.compile(
    r"\b(" + "|".join(re.escape(p) for p in ADVICE_PHRASES) + r")\b", flags=re.IGNORECASE
)


def find_advice(text: str) -> tuple[str, ...]:
    """The advice phrases in ``text`` (lower case), in order of appearance."""
    return tuple(m.group(1).lower() for m in _ADVICE.finditer(text))


@cache
def medicine_names() -> frozenset[str]:
    """Every medicine name scored as "drug": the catalogue's drugs and the extra names."""
    return load_regimens().medicine_names() | frozenset(EXTRA_MEDICINE_NAMES)


@cache
def _medicine_pattern() -> re.Pattern[str]:
    names = sorted(medicine_names(), key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b", re.IGNORECASE)


def prepare_for_readability(text: str, extra_names: Iterable[str] = ()) -> str:
    """``text`` with every medicine name replaced by "drug", ready for a readability score."""
    out = _medicine_pattern().sub("drug", text)
    for name in sorted(extra_names, key=len, reverse=True):
        out = re.sub(r"\b" + re.escape(name) + r"\b", "drug", out, flags=re.IGNORECASE)
    return out


def paragraphs(text: str) -> list[str]:
    """Split text at blank lines into the paragraphs that are scored one by one.

    >>> paragraphs("One.\\n\\nTwo,\\nstill two.")
    ['One.', 'Two, still two.']
    """
    parts = re.split(r"\n\s*\n", text.strip())
    return [" ".join(p.split()) for p in parts if p.strip()]
