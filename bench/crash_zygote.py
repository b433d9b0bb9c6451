"""Preloaded into the crash harness's fork server, so each killed child starts fast.

The fork server imports the third-party libraries every child needs. It imports relapsewatch
itself only when that is safe to fork: a module that runs Polars queries at import time starts
Polars' thread pool, and a process forked after that deadlocks in its first parallel query (today
``relapsewatch.vocab.drugs`` and ``relapsewatch.course.myeloma.assessments`` do). A throwaway
interpreter checks whether importing relapsewatch starts threads; if it does, children import
relapsewatch themselves, and two of its slowest import steps are made cheap here, in the fork
server only (never in the test process):

* the pint unit registry (parsing pint's definition files, ~1.5 s) is built once and handed to
  every ``UnitRegistry(non_int_type=Decimal)`` call of the children;
* ``yaml.safe_load`` uses libyaml's C loader when PyYAML has it (same results, ~20x faster).
"""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from typing import Any

import alembic.command  # noqa: F401
import numpy  # noqa: F401
import pint
import polars  # noqa: F401
import psycopg  # noqa: F401
import pyarrow
import pyarrow.parquet  # noqa: F401
import rich  # noqa: F401
import sqlalchemy.orm  # noqa: F401
import typer  # noqa: F401
import yaml

_REGISTRY = pint.UnitRegistry(non_int_type=Decimal)
_UnitRegistry = pint.UnitRegistry


def _shared_registry(*args: Any, **kwargs: Any) -> Any:
    if not args and kwargs == {"non_int_type": Decimal}:
        return _REGISTRY
    return _UnitRegistry(*args, **kwargs)


def _c_safe_load(stream: Any) -> Any:
    return yaml.load(stream, Loader=yaml.CSafeLoader)


_PROBE = """
import os, polars, numpy, pyarrow, sqlalchemy, psycopg
before = len(os.listdir("/proc/self/task"))
import relapsewatch.store.repository, relapsewatch.io, relapsewatch.course.myeloma.course
print(len(os.listdir("/proc/self/task")) == before)
"""


def relapsewatch_is_fork_safe() -> bool:
    """True when importing relapsewatch starts no threads (checked in a throwaway interpreter)."""
    if not os.path.isdir("/proc/self/task"):
        return False
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=False, timeout=300
    )
    return done.returncode == 0 and done.stdout.strip().endswith("True")


FORK_SAFE = relapsewatch_is_fork_safe()
if FORK_SAFE:
    import relapsewatch.course.myeloma.course
    import relapsewatch.io
    import relapsewatch.store.repository  # noqa: F401
else:
    pint.UnitRegistry = _shared_registry  # type: ignore[misc, assignment]
    if getattr(yaml, "__with_libyaml__", False):
        yaml.safe_load = _c_safe_load
