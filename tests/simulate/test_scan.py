"""What the simulated care team sees: confirmed nadir (N1) and confirmed rises (P1/P3, C3)."""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from relapsewatch.simulate.dynamics import P1_SERUM, ProgressionRule
from relapsewatch.simulate.scan import confirmed_nadir, first_confirmed_rise

NAN = math.nan


def test_confirmed_nadir_follows_the_spec_example_2_table() -> None:
    # spec §8 Ex-2: S = 3.0 (baseline), 1.4, 1.2, 0.8, 0.8, 1.4, 0.9, 0.8
    values = np.array([[3.0, 1.4, 1.2, 0.8, 0.8, 1.4, 0.9, 0.8]])
    nadir = confirmed_nadir(values, np.array([3.0]))
    assert nadir.tolist() == [[3.0, 3.0, 3.0, 1.4, 1.2, 0.8, 0.8, 0.8]]


def test_unconfirmed_rise_is_not_progression() -> None:
    # Ex-2: 1.4 on 06-03 meets PD against nadir 0.8 but 0.9 on 07-01 does not confirm it
    values = np.array([[3.0, 1.4, 1.2, 0.8, 0.8, 1.4, 0.9, 0.8]])
    event, confirmation = first_confirmed_rise(values, np.array([3.0]), P1_SERUM)
    assert event.tolist() == [-1] and confirmation.tolist() == [-1]


def test_rise_confirmed_across_a_missed_visit() -> None:
    # Ex-5: nadir 0.3 (pair 0.3, 0.3); 0.9 qualifies (>= 0.8), 1.0 at the next measured visit
    values = np.array([[4.2, 1.0, 0.3, 0.3, 0.5, 0.6, 0.9, NAN, 1.0]])
    event, confirmation = first_confirmed_rise(values, np.array([4.2]), P1_SERUM)
    assert event.tolist() == [6] and confirmation.tolist() == [8]


def _reference(values: list[float], baseline: float, rule: ProgressionRule) -> tuple[int, int]:
    """A plain loop over one patient's visits, written from spec N1 and C3."""
    measured = [k for k, v in enumerate(values) if not math.isnan(v)]
    for position, i in enumerate(measured):
        pairs = [max(values[a], values[b]) for a, b in itertools.pairwise(measured) if b < i]
        nadir = min([baseline, *pairs])
        if position + 1 >= len(measured):
            return -1, -1
        j = measured[position + 1]
        meets = rule.met(np.array([values[i], values[j]]), np.array([nadir, nadir]))
        if bool(meets.all()):
            return i, j
    return -1, -1


series = st.lists(
    st.one_of(st.just(NAN), st.floats(0.0, 6.0).map(lambda v: round(v, 2))),
    min_size=2,
    max_size=14,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(series, min_size=1, max_size=5), st.floats(0.0, 6.0))
def test_vectorised_scan_matches_a_plain_loop(rows: list[list[float]], baseline: float) -> None:
    width = max(len(r) for r in rows)
    values = np.full((len(rows), width), NAN)
    for k, r in enumerate(rows):
        values[k, : len(r)] = r
    base = np.full(len(rows), round(baseline, 2))
    event, confirmation = first_confirmed_rise(values, base, P1_SERUM)
    for k in range(len(rows)):
        padded = list(values[k])
        assert (int(event[k]), int(confirmation[k])) == _reference(padded, base[k], P1_SERUM)
