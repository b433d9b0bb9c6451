"""Random numbers that depend only on the seed and the patient's index, never on batch size.

Patients are grouped in fixed blocks of :data:`BLOCK_PATIENTS`. Each block has its own
``numpy.random.Generator`` per named stream, seeded by ``SeedSequence(seed, spawn_key=(block,
stream))``. A draw for a batch draws the full block for every block the batch touches and keeps
the batch's rows, so patient ``i`` gets the same numbers whatever the batch size, and the first
300 patients of a 1,000-patient cohort are the 300-patient cohort.

Every draw has a fixed shape per patient and the draws of a stream happen in a fixed order, so a
data-dependent branch never shifts the numbers that later draws see.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

__all__ = ["BLOCK_PATIENTS", "STREAMS", "CohortRandom"]

#: Patients per random-number block (a constant: changing it changes every cohort).
BLOCK_PATIENTS: Final = 1000

#: Independent streams: patient traits, per-line draws, per-visit draws, assay noise.
STREAMS: Final = {"patient": 0, "line": 1, "visit": 2, "assay": 3}

FloatArray = NDArray[np.float64]


class CohortRandom:
    """Draws for patients ``start .. stop - 1`` of the cohort seeded with ``seed``.

    >>> a = CohortRandom(7, 0, 5).uniform("patient", 2)
    >>> b = CohortRandom(7, 3, 5).uniform("patient", 2)
    >>> bool((a[3:] == b).all())
    True
    """

    def __init__(self, seed: int, start: int, stop: int) -> None:
        if seed < 0:
            raise ValueError(f"`seed` must be a non-negative integer, got {seed}")
        if not 0 <= start < stop:
            raise ValueError(f"need 0 <= start < stop, got start={start}, stop={stop}")
        first = start // BLOCK_PATIENTS
        last = (stop - 1) // BLOCK_PATIENTS
        self._offset = start - first * BLOCK_PATIENTS
        self._count = stop - start
        self._generators: dict[str, list[np.random.Generator]] = {
            name: [
                np.random.Generator(
                    np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(block, stream)))
                )
                for block in range(first, last + 1)
            ]
            for name, stream in STREAMS.items()
        }

    def _take(self, parts: list[FloatArray]) -> FloatArray:
        whole = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
        return np.ascontiguousarray(whole[self._offset : self._offset + self._count])

    def uniform(self, stream: str, *shape: int) -> FloatArray:
        """Uniform [0, 1) draws of shape ``(patients, *shape)``."""
        return self._take([g.random((BLOCK_PATIENTS, *shape)) for g in self._generators[stream]])

    def normal(self, stream: str, *shape: int) -> FloatArray:
        """Standard normal draws of shape ``(patients, *shape)``."""
        return self._take(
            [g.standard_normal((BLOCK_PATIENTS, *shape)) for g in self._generators[stream]]
        )
