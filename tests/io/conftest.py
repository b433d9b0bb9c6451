from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def examples() -> Path:
    return EXAMPLES


@pytest.fixture
def write(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a folder of small CSV tables from {name: text}."""

    def _write(tables: dict[str, str]) -> Path:
        for name, text in tables.items():
            (tmp_path / f"{name}.csv").write_text(text, encoding="utf-8")
        return tmp_path

    return _write
