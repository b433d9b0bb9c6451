"""The demo cohort shipped with the package (docs, tests and the web app's demo mode).

300 virtual patients, seed 20261123, profile ``modern_2025``, as Parquet under
``relapsewatch/simulate/data/demo/`` (the canonical tables plus ``truth_patients`` and
``truth_lines``). It is exactly what this command writes, byte for byte::

    relapsewatch simulate --patients 300 --seed 20261123 -o src/relapsewatch/simulate/data/demo

Read it with ``relapsewatch.io.read_tables(demo_folder())``.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Final

__all__ = ["DEMO_PATIENTS", "DEMO_SEED", "demo_folder"]

DEMO_SEED: Final = 20261123
DEMO_PATIENTS: Final = 300


def demo_folder() -> Path:
    """Where the packaged demo cohort is (a folder of Parquet files)."""
    return Path(str(files("relapsewatch.simulate") / "data" / "demo"))
