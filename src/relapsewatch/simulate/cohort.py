"""Virtual cohorts: the public entry points of the simulator (pure: frames in memory, no files).

>>> cohort = simulate_cohort(5, seed=1)
>>> sorted(cohort.tables())
['findings', 'measurements', 'patients', 'treatments']
>>> cohort.patients["patient_id"].to_list()[:2]
['VP0000001', 'VP0000002']

Write a cohort with :func:`relapsewatch.io.write_tables` (or stream batches through
:class:`relapsewatch.io.TableWriter`, one :meth:`VirtualCohort.blocks` piece at a time, which
keeps the files byte-identical whatever the batch size).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields

import numpy as np
import polars as pl

from relapsewatch.errors import ConfigError
from relapsewatch.simulate.assays import LabRows, lab_rows
from relapsewatch.simulate.pathway import Pathways, simulate_pathways
from relapsewatch.simulate.population import Patients, draw_patients
from relapsewatch.simulate.randomness import BLOCK_PATIENTS, CohortRandom
from relapsewatch.simulate.settings import SimulationSettings
from relapsewatch.simulate.tables import (
    findings_frame,
    measurements_frame,
    patient_ids,
    patients_frame,
    treatments_frame,
    truth_lines_frame,
    truth_patients_frame,
)

__all__ = [
    "CANONICAL_TABLES",
    "TRUTH_TABLES",
    "VirtualCohort",
    "simulate_batches",
    "simulate_cohort",
]

#: Names of the canonical input tables a cohort holds (``relapsewatch course`` reads them).
CANONICAL_TABLES = ("patients", "measurements", "treatments", "findings")
#: Names of the truth tables (written beside the canonical ones; readers ignore them).
TRUTH_TABLES = ("truth_patients", "truth_lines")

_INDEX = "_index"


@dataclass(frozen=True, slots=True)
class VirtualCohort:
    """A simulated cohort (or a batch of one): canonical tables plus truth tables.

    Every frame still carries the patient's cohort index in ``_index``; :meth:`tables`,
    :meth:`truth` and :meth:`all_tables` drop it.
    """

    patients: pl.DataFrame
    measurements: pl.DataFrame
    treatments: pl.DataFrame
    findings: pl.DataFrame
    truth_patients: pl.DataFrame
    truth_lines: pl.DataFrame

    def _frames(self) -> dict[str, pl.DataFrame]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def tables(self) -> dict[str, pl.DataFrame]:
        """The canonical input tables (file view), by table name."""
        return {name: self._frames()[name].drop(_INDEX) for name in CANONICAL_TABLES}

    def truth(self) -> dict[str, pl.DataFrame]:
        """The truth tables, by table name."""
        return {name: self._frames()[name].drop(_INDEX) for name in TRUTH_TABLES}

    def all_tables(self) -> dict[str, pl.DataFrame]:
        """Canonical and truth tables together, in a fixed order."""
        return {**self.tables(), **self.truth()}

    @property
    def block(self) -> int:
        """The random-number block of the first patient (``index // BLOCK_PATIENTS``)."""
        return int(self.patients[_INDEX][0]) // BLOCK_PATIENTS

    def blocks(self) -> Iterator[VirtualCohort]:
        """The cohort cut at every random-number block boundary (``BLOCK_PATIENTS`` patients).

        Writing block by block gives the same files whatever batch size produced the cohort.
        """
        first = int(self.patients[_INDEX].min())  # type: ignore[arg-type]
        last = int(self.patients[_INDEX].max())  # type: ignore[arg-type]
        frames = self._frames()
        bounds = {
            name: np.searchsorted(
                frame[_INDEX].to_numpy(),
                np.arange(first // BLOCK_PATIENTS, last // BLOCK_PATIENTS + 2) * BLOCK_PATIENTS,
            )
            for name, frame in frames.items()
        }
        for b in range(last // BLOCK_PATIENTS - first // BLOCK_PATIENTS + 1):
            yield VirtualCohort(
                **{
                    name: frame.slice(
                        int(bounds[name][b]), int(bounds[name][b + 1] - bounds[name][b])
                    )
                    for name, frame in frames.items()
                }
            )

    @staticmethod
    def concat(parts: list[VirtualCohort]) -> VirtualCohort:
        """Join batches (in patient order) into one cohort."""
        if not parts:
            raise ValueError("`parts` must hold at least one cohort")
        return VirtualCohort(
            **{
                f.name: pl.concat([getattr(p, f.name) for p in parts], rechunk=True)
                for f in fields(VirtualCohort)
            }
        )


@dataclass(frozen=True, slots=True)
class SimulatedArrays:
    """A simulated batch before it becomes frames (NumPy arrays; see :func:`to_cohort`).

    Splitting the two steps lets a writer build the frames of one batch on another thread
    while the next batch is simulated.
    """

    patients: Patients
    paths: Pathways
    labs: LabRows
    settings: SimulationSettings


def simulate_arrays(
    seed: int, start: int, stop: int, settings: SimulationSettings
) -> SimulatedArrays:
    """Simulate patients ``start .. stop - 1`` of the cohort seeded with ``seed``."""
    rnd = CohortRandom(seed, start, stop)
    patients = draw_patients(rnd, start, settings)
    paths = simulate_pathways(patients, rnd, settings)
    labs = lab_rows(patients, paths, rnd, settings)
    return SimulatedArrays(patients=patients, paths=paths, labs=labs, settings=settings)


def to_cohort(arrays: SimulatedArrays) -> VirtualCohort:
    """The frames of a simulated batch."""
    patients, paths = arrays.patients, arrays.paths
    ids = patient_ids(patients.index)
    return VirtualCohort(
        patients=patients_frame(patients, ids),
        measurements=measurements_frame(patients, ids, arrays.labs),
        treatments=treatments_frame(patients, ids, paths),
        findings=findings_frame(patients, ids, paths),
        truth_patients=truth_patients_frame(patients, ids, paths),
        truth_lines=truth_lines_frame(patients, ids, paths, arrays.settings),
    )


def _simulate_range(
    seed: int, start: int, stop: int, settings: SimulationSettings
) -> VirtualCohort:
    return to_cohort(simulate_arrays(seed, start, stop, settings))


def simulate_array_batches(
    patients: int,
    *,
    seed: int,
    batch_size: int = 20_000,
    settings: SimulationSettings | None = None,
) -> Iterator[SimulatedArrays]:
    """Like :func:`simulate_batches`, but yields the arrays (turn them into frames with
    :func:`to_cohort`, possibly on another thread)."""
    if patients < 1:
        raise ConfigError(f"`patients` must be at least 1, got {patients}")
    if batch_size < 1:
        raise ConfigError(f"`batch_size` must be at least 1, got {batch_size}")
    if seed < 0:
        raise ConfigError(f"`seed` must be a non-negative integer, got {seed}")
    chosen = settings or SimulationSettings()
    for start in range(0, patients, batch_size):
        yield simulate_arrays(seed, start, min(start + batch_size, patients), chosen)


def simulate_batches(
    patients: int,
    *,
    seed: int,
    batch_size: int = 20_000,
    settings: SimulationSettings | None = None,
) -> Iterator[VirtualCohort]:
    """Simulate ``patients`` virtual patients in batches of ``batch_size``.

    Patient ``i`` (``VP`` + ``i + 1``) depends only on ``seed`` and ``i``: the batch size changes
    memory use and speed, never the data. Nothing global is seeded.

    Parameters
    ----------
    patients:
        Cohort size (at least 1).
    seed:
        Non-negative integer seed of the whole cohort.
    batch_size:
        Patients simulated together (vectorised); peak memory grows with it.
    settings:
        Simulator settings; the default is the calibrated ``modern_2025`` cohort.
    """
    for arrays in simulate_array_batches(
        patients, seed=seed, batch_size=batch_size, settings=settings
    ):
        yield to_cohort(arrays)


def simulate_cohort(
    patients: int,
    *,
    seed: int,
    settings: SimulationSettings | None = None,
    batch_size: int = 20_000,
) -> VirtualCohort:
    """Simulate a whole cohort in memory (see :func:`simulate_batches`)."""
    return VirtualCohort.concat(
        list(simulate_batches(patients, seed=seed, batch_size=batch_size, settings=settings))
    )
