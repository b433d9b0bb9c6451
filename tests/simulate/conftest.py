"""Shared fixtures: one small simulated cohort per test session (simulation is deterministic)."""

from __future__ import annotations

import pytest

from relapsewatch.simulate import VirtualCohort, simulate_cohort


@pytest.fixture(scope="session")
def cohort() -> VirtualCohort:
    """600 virtual patients of the default profile, seed 5."""
    return simulate_cohort(600, seed=5)
