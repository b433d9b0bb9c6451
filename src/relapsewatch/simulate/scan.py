"""What the care team sees: the first confirmed rise on a series of lab visits, for many patients.

The simulated care team applies the same IMWG rule the course engine applies (spec §1.6 N1 and
§1.7): the nadir in force at a visit is the lowest *confirmed* value, i.e. the minimum of the
line baseline and of ``max(x_i, x_{i+1})`` over consecutive measured visits both before it; a
rise counts once the next measured visit also meets the rule against the same nadir (C3).

Arrays are ``(patients, visits)``; a visit that was not measured (missed, outside the line) is
``NaN``. Everything is vectorised across patients and visits.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from relapsewatch.simulate.dynamics import ProgressionRule

__all__ = ["confirmed_nadir", "first_confirmed_rise", "first_confirmed_rises", "next_measured"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def next_measured(measured: NDArray[np.bool_]) -> IntArray:
    """Index of the next measured visit after each visit (``visits`` when there is none).

    >>> next_measured(np.array([[True, False, True, False]])).tolist()
    [[2, 2, 4, 4]]
    """
    count = measured.shape[1]
    candidate = np.where(measured, np.arange(count), count)
    following = np.minimum.accumulate(candidate[:, ::-1], axis=1)[:, ::-1]
    result: IntArray = np.concatenate(
        [following[:, 1:], np.full((measured.shape[0], 1), count)], axis=1
    ).astype(np.int64)
    return result


def _previous_measured(measured: NDArray[np.bool_]) -> IntArray:
    count = measured.shape[1]
    candidate = np.where(measured, np.arange(count), -1)
    upto = np.maximum.accumulate(candidate, axis=1)
    result: IntArray = np.concatenate(
        [np.full((measured.shape[0], 1), -1), upto[:, :-1]], axis=1
    ).astype(np.int64)
    return result


def confirmed_nadir(values: FloatArray, baseline: FloatArray) -> FloatArray:
    """The nadir in force at each visit (N1): pairs of measured visits *before* it, and baseline.

    >>> v = np.array([[3.0, 1.4, 1.2, 0.8, 0.8, 1.4, 0.9]])
    >>> confirmed_nadir(v, np.array([3.0])).tolist()
    [[3.0, 3.0, 3.0, 1.4, 1.2, 0.8, 0.8]]
    """
    measured = ~np.isnan(values)
    previous = _previous_measured(measured)
    earlier = np.take_along_axis(values, np.maximum(previous, 0), axis=1)
    pair_max = np.where(measured & (previous >= 0), np.fmax(earlier, values), np.inf)
    running = np.minimum.accumulate(pair_max, axis=1)
    before = np.concatenate([np.full((values.shape[0], 1), np.inf), running[:, :-1]], axis=1)
    result: FloatArray = np.minimum(before, baseline[:, None])
    return result


def first_confirmed_rise(
    values: FloatArray, baseline: FloatArray, rule: ProgressionRule
) -> tuple[IntArray, IntArray]:
    """First visit meeting ``rule`` against the nadir in force, confirmed by the next visit.

    Returns ``(event, confirmation)`` visit indices, ``-1`` where there is no confirmed rise.

    >>> from relapsewatch.simulate.dynamics import P1_SERUM
    >>> v = np.array([[3.0, 1.4, 1.2, 0.8, 0.8, 1.4, 0.9, 0.8, 1.3, np.nan, 1.5]])
    >>> first_confirmed_rise(v, np.array([3.0]), P1_SERUM)
    (array([8]), array([10]))
    """
    return first_confirmed_rises(values, baseline, (rule,))[0]


def first_confirmed_rises(
    values: FloatArray, baseline: FloatArray, rules: tuple[ProgressionRule, ...]
) -> list[tuple[IntArray, IntArray]]:
    """:func:`first_confirmed_rise` for several rules sharing one nadir computation."""
    measured = ~np.isnan(values)
    nadir = confirmed_nadir(values, baseline)
    following = next_measured(measured)
    has_next = following < values.shape[1]
    next_value = np.take_along_axis(values, np.minimum(following, values.shape[1] - 1), axis=1)
    current = np.nan_to_num(values, nan=-np.inf)
    upcoming = np.nan_to_num(next_value, nan=-np.inf)
    rows = np.arange(values.shape[0])
    found = []
    for rule in rules:
        confirmed = measured & has_next & rule.met(current, nadir) & rule.met(upcoming, nadir)
        any_event = confirmed.any(axis=1)
        event = np.where(any_event, confirmed.argmax(axis=1), -1).astype(np.int64)
        confirmation = np.where(any_event, following[rows, np.maximum(event, 0)], -1)
        found.append((event, confirmation.astype(np.int64)))
    return found
