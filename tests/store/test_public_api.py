"""The repository's public API is deliberate: ``__all__`` lists exactly what the web app uses."""

from __future__ import annotations

import inspect

from relapsewatch.store import db, repository

EXPECTED = {
    "DERIVED_FRAMES",
    "EntryResult",
    "ImportPreview",
    "ImportResult",
    "PatientSummary",
    "Progress",
    "RecomputeResult",
    "StoredCourse",
    "add_finding",
    "add_measurement",
    "add_treatment",
    "count_patients",
    "get_patient",
    "import_tables",
    "list_patients",
    "load_course",
    "load_patient_tables",
    "preview_import",
    "recompute_courses",
    "stale_courses",
}


def test_repository_exports_exactly_its_public_api() -> None:
    assert set(repository.__all__) == EXPECTED
    for name in repository.__all__:
        assert getattr(repository, name) is not None


def test_writes_take_the_session_factory_and_reads_take_a_session() -> None:
    writes = ("import_tables", "add_measurement", "add_treatment", "add_finding")
    reads = ("list_patients", "count_patients", "get_patient", "load_patient_tables")
    for name in writes:
        assert next(iter(inspect.signature(getattr(repository, name)).parameters)) == (
            "session_factory"
        )
    for name in (*reads, "load_course", "preview_import", "recompute_courses", "stale_courses"):
        assert next(iter(inspect.signature(getattr(repository, name)).parameters)) == "session"


def test_every_public_function_is_documented() -> None:
    for module in (repository, db):
        for name in module.__all__:
            item = getattr(module, name)
            if inspect.isfunction(item) or inspect.isclass(item):
                assert inspect.getdoc(item), f"{module.__name__}.{name} has no docstring"
