"""Plain-language sentences from a derived course, each with the evidence behind it.

:func:`where_you_are` gives the "Where you are now" sentences for one patient; every
:class:`Statement` has patient-facing ``text`` and nurse-facing ``evidence``. See
``docs/knowledge.md`` for the wording rules (plain English, no advice, no certain predictions).
"""

from relapsewatch.explain.where import Evidence, Statement, where_you_are
from relapsewatch.explain.words import (
    RESPONSE_NAMES,
    date_in_words,
    ordinal,
    regimen_in_words,
    response_in_words,
)

__all__ = [
    "RESPONSE_NAMES",
    "Evidence",
    "Statement",
    "date_in_words",
    "ordinal",
    "regimen_in_words",
    "response_in_words",
    "where_you_are",
]
