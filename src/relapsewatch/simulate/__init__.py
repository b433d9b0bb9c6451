"""Virtual patients: a residual-disease model of relapsing-remitting myeloma with known truth.

Treatment kills most myeloma cells; some survive below what any test can see, and they regrow.
The simulator follows that picture line by line (two cell populations per line, Myklebust et al.;
Tang et al.), with realistic care pathways, lab visits and assay limits, and writes the canonical
input tables plus truth tables. See ``docs/simulation.md``.
"""

from relapsewatch.simulate.cohort import (
    CANONICAL_TABLES,
    TRUTH_TABLES,
    VirtualCohort,
    simulate_batches,
    simulate_cohort,
)
from relapsewatch.simulate.profiles import PROFILES, CalibrationProfile, profile
from relapsewatch.simulate.settings import SimulationSettings

__all__ = [
    "CANONICAL_TABLES",
    "PROFILES",
    "TRUTH_TABLES",
    "CalibrationProfile",
    "SimulationSettings",
    "VirtualCohort",
    "profile",
    "simulate_batches",
    "simulate_cohort",
]
