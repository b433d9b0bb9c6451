"""``relapsewatch serve`` refuses what would be unsafe before it starts anything."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from relapsewatch.cli.serve import serve

app = typer.Typer()
app.command()(serve)


def test_demo_serves_on_loopback_only() -> None:
    result = CliRunner().invoke(app, ["--demo", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "loopback only" in result.output


def test_demo_makes_its_own_database() -> None:
    result = CliRunner().invoke(app, ["--demo", "--database-url", "sqlite:///x.db"])
    assert result.exit_code == 2
    assert "makes its own database" in result.output
