"""Errors of the storage layer, all under :class:`~relapsewatch.errors.RelapsewatchError`.

Bad input data is reported as :class:`~relapsewatch.errors.DataError` (file, row, column, fix),
exactly as the file readers do; the classes here are for the database itself.
"""

from __future__ import annotations

from relapsewatch.errors import ConfigError, RelapsewatchError

__all__ = [
    "AccountError",
    "DatabaseConfigError",
    "DurabilityError",
    "StaleVersionError",
    "StoreError",
    "UnknownPatientError",
]


class StoreError(RelapsewatchError):
    """Root of the storage errors."""


class DatabaseConfigError(StoreError, ConfigError):
    """The database URL or its server is not usable (wrong scheme, in-memory SQLite, ...)."""


class DurabilityError(StoreError):
    """A connection lacks a durability setting the app relies on (RELIABILITY E4).

    Raised when a connection is opened, so nothing is ever written to a database that could
    lose acknowledged writes in a crash.
    """


class UnknownPatientError(StoreError, LookupError):
    """No patient with that id is stored."""

    def __init__(self, patient_id: str) -> None:
        self.patient_id = patient_id
        super().__init__(
            f"no patient with id {patient_id!r} is stored; "
            "import the patient first, or check the id"
        )


class StaleVersionError(StoreError):
    """The patient changed since the caller read it (optimistic concurrency; HTTP 409)."""

    def __init__(self, patient_id: str, expected: int, found: int) -> None:
        self.patient_id = patient_id
        self.expected = expected
        self.found = found
        super().__init__(
            f"patient {patient_id!r} changed since it was read (version {expected}, now {found}); "
            "reload the patient and enter the change again"
        )


class AccountError(StoreError, ValueError):
    """An account cannot be created or changed as asked (name taken, unknown patient, ...)."""
