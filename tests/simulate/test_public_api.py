"""The simulator's deliberate public API (``relapsewatch.simulate.__all__``)."""

from __future__ import annotations

import relapsewatch.simulate as simulate

EXPECTED = {
    "CANONICAL_TABLES",
    "PROFILES",
    "TRUTH_TABLES",
    "CalibrationProfile",
    "SimulationSettings",
    "VirtualCohort",
    "profile",
    "simulate_batches",
    "simulate_cohort",
}


def test_public_names_are_exactly_the_documented_ones() -> None:
    assert set(simulate.__all__) == EXPECTED
    for name in simulate.__all__:
        assert getattr(simulate, name) is not None
