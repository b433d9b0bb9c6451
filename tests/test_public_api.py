"""The public API is deliberate: adding or removing a name is a decision, made here."""

import relapsewatch
from relapsewatch import errors

EXPECTED = {
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
}


def test_top_level_names_are_exactly_the_public_api() -> None:
    assert set(relapsewatch.__all__) == EXPECTED
    for name in relapsewatch.__all__:
        assert hasattr(relapsewatch, name), name


def test_every_error_derives_from_the_root() -> None:
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, errors.RelapsewatchError), name


EDGES = (
    "relapsewatch.store",
    "relapsewatch.web",
    "relapsewatch.cli",
    "typer",
    "fastapi",
    "sqlalchemy",
    "starlette",
    "uvicorn",
)
# DESIGN.md "Layers": what each part may not import.
LAYERS = {
    "course": ("relapsewatch.io", *EDGES),
    "simulate": ("relapsewatch.io", *EDGES),
    "vocab": ("relapsewatch.io", "relapsewatch.course", *EDGES),
    "schema.py": ("relapsewatch.io", "relapsewatch.course", *EDGES),
    "errors.py": ("relapsewatch.", *EDGES),
    "knowledge": EDGES,
    "explain": EDGES,
    "plotting": EDGES,
    "io": EDGES,
}


def test_each_layer_imports_only_what_design_allows() -> None:
    import ast
    from pathlib import Path

    root = Path(relapsewatch.__file__).parent
    offenders = []
    for part, banned in LAYERS.items():
        files = [root / part] if part.endswith(".py") else list((root / part).rglob("*.py"))
        for path in files:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                offenders += [
                    f"{path.relative_to(root)} imports {n}" for n in names if n.startswith(banned)
                ]
    assert offenders == []
