"""relapsewatch: follows a cancer through treatment, remission and relapse.

The deliberate public API; everything else is reachable through the subpackages
(``relapsewatch.course.myeloma``, ``relapsewatch.simulate``, ``relapsewatch.knowledge``, ...).

>>> import relapsewatch
>>> tables = relapsewatch.read_tables("examples/valid")          # doctest: +SKIP
>>> course = relapsewatch.derive_course(tables)                  # doctest: +SKIP
>>> course.relapses.select("patient_id", "relapse_number", "date")  # doctest: +SKIP
"""

from relapsewatch._version import __version__
from relapsewatch.course.myeloma import Course, MyelomaCourseConfig, derive_course, preset
from relapsewatch.errors import (
    ConfigError,
    DataError,
    Problem,
    RelapsewatchError,
    SchemaError,
    UnitError,
    VocabularyError,
)
from relapsewatch.io import CanonicalTables, read_tables, validate_folder, write_tables

__all__ = [
    "CanonicalTables",
    "ConfigError",
    "Course",
    "DataError",
    "MyelomaCourseConfig",
    "Problem",
    "RelapsewatchError",
    "SchemaError",
    "UnitError",
    "VocabularyError",
    "__version__",
    "derive_course",
    "preset",
    "read_tables",
    "validate_folder",
    "write_tables",
]
