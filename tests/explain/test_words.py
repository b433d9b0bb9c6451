"""Plain words for regimens, ordinals, dates and response categories."""

from __future__ import annotations

import pytest

from relapsewatch.errors import VocabularyError
from relapsewatch.explain.words import (
    RESPONSE_CATEGORIES,
    ordinal,
    regimen_in_words,
    response_in_words,
)


@pytest.mark.parametrize(
    ("regimen", "words"),
    [
        ("dexamethasone+lenalidomide", "lenalidomide and dexamethasone"),
        ("daratumumab+dexamethasone+lenalidomide", "daratumumab, lenalidomide and dexamethasone"),
        ("teclistamab", "teclistamab"),
        ("belantamab mafodotin+bortezomib+dexamethasone",
         "belantamab mafodotin, bortezomib and dexamethasone"),
        ("apheresis+car_t_infusion+ciltacabtagene_autoleucel",
         "ciltacabtagene autoleucel, with CAR-T cell therapy"),
        ("autologous_transplant", "a stem cell transplant using your own cells"),
    ],
)  # fmt: skip
def test_regimens_are_said_with_steroids_last_and_procedures_in_words(
    regimen: str, words: str
) -> None:
    assert regimen_in_words(regimen) == words


@pytest.mark.parametrize(
    ("n", "word"), [(1, "first"), (3, "third"), (10, "tenth"), (11, "11th"), (21, "21st"),
                    (22, "22nd"), (113, "113th")]
)  # fmt: skip
def test_ordinals(n: int, word: str) -> None:
    assert ordinal(n) == word


def test_every_category_but_not_evaluable_has_words_on_every_pathway() -> None:
    for pathway in ("serum_urine", "flc_only", "marrow_only", None):
        for category in RESPONSE_CATEGORIES:
            words = response_in_words(category, pathway)
            assert (words is None) == (category == "NE")


def test_partial_response_is_a_fall_by_at_least_half() -> None:
    assert response_in_words("PR", "serum_urine") == (
        "The myeloma protein has fallen by at least half since this treatment began."
    )


def test_an_unknown_category_is_an_error() -> None:
    with pytest.raises(VocabularyError, match="response"):
        response_in_words("nCR", "serum_urine")
