"""Preloaded into the crash harness's fork server, so each killed child starts fast.

The fork server imports the third-party libraries every child needs. It must not import
relapsewatch itself: relapsewatch's vocabulary runs Polars queries at import time, which starts
Polars' thread pool, and a process forked after that deadlocks in its first parallel query.
Children therefore import relapsewatch themselves; two of its slowest import steps are made cheap
here, in the fork server only (never in the test process):

* the pint unit registry (parsing pint's definition files, ~1.5 s) is built once and handed to
  every ``UnitRegistry(non_int_type=Decimal)`` call of the children;
* ``yaml.safe_load`` uses libyaml's C loader when PyYAML has it (same results, ~20x faster).
"""

from __future__ import annotations

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


pint.UnitRegistry = _shared_registry  # type: ignore[misc, assignment]
if getattr(yaml, "__with_libyaml__", False):
    yaml.safe_load = _c_safe_load

READY = True
