"""``relapsewatch serve``: run the web app (``--demo``: simulated patients in a throwaway database).

The lead registers :func:`serve` on the Typer app (``app.command()(serve)``). It upgrades the
database schema to the current migration, builds the app with :func:`relapsewatch.web.create_app`
and serves it with uvicorn. With ``--demo`` the packaged demo cohort (virtual patients from
:mod:`relapsewatch.simulate`) is imported into a new embedded SQLite database in a temporary
folder, their courses are derived, and the app binds to loopback only.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from sqlalchemy import Engine

from relapsewatch.cli.output import console, error_console
from relapsewatch.errors import RelapsewatchError
from relapsewatch.io import read_tables
from relapsewatch.simulate.demo import demo_folder
from relapsewatch.store.db import create_engine_for, make_session_factory
from relapsewatch.store.migrate import upgrade_database
from relapsewatch.store.repository import import_tables
from relapsewatch.web import WebSettings, create_app

__all__ = ["load_demo", "serve"]


def load_demo(engine: Engine) -> int:
    """Create the schema and import the demo cohort (courses derived); returns the patient count."""
    upgrade_database(engine)
    tables = read_tables(demo_folder())
    import_tables(make_session_factory(engine), tables, source="relapsewatch demo cohort")
    return tables.patients.height


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _address(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve(
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Serve simulated patients from a throwaway SQLite database (loopback only).",
        ),
    ] = False,
    host: Annotated[
        str, typer.Option(help="Address to listen on; keep 127.0.0.1 unless behind a proxy.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="SQLAlchemy URL of the database (default: $RELAPSEWATCH_DATABASE_URL, else a "
            "SQLite file relapsewatch.db here). Not used with --demo.",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=16,
            help="Worker processes (2 on a two-core machine serves many readers faster; each "
            "builds the app from the same settings).",
        ),
    ] = 1,
) -> None:
    """Run the relapse companion web app and print its address."""
    if demo and not _is_loopback(host):
        error_console.print(
            f"--demo serves on loopback only, got --host {host}; use --host 127.0.0.1.",
            markup=False,
        )
        raise typer.Exit(2)
    if demo and database_url:
        error_console.print(
            "--demo makes its own database; leave out --database-url.", markup=False
        )
        raise typer.Exit(2)
    scratch: Path | None = None
    try:
        if demo:
            scratch = Path(tempfile.mkdtemp(prefix="relapsewatch-demo-"))
            settings = WebSettings(database_url=f"sqlite:///{scratch / 'demo.sqlite3'}", demo=True)
            engine = create_engine_for(settings.database_url)
            started = time.perf_counter()
            console.print("Loading the demo cohort (simulated patients)...", markup=False)
            count = load_demo(engine)
            console.print(
                f"Loaded {count} simulated patients and derived their courses in "
                f"{time.perf_counter() - started:.1f} s.",
                markup=False,
            )
        else:
            base = WebSettings()
            settings = base.model_copy(update={"database_url": database_url or base.database_url})
            engine = create_engine_for(settings.database_url)
            upgrade_database(engine)
        console.print(
            f"relapsewatch is running at {_address(host, port)} (press Ctrl+C to stop).",
            markup=False,
        )
        if workers > 1:
            # Each worker process builds its own app from the environment (the settings are
            # read there by WebSettings()), so the chosen database and demo label go with them.
            engine.dispose()
            os.environ["RELAPSEWATCH_DATABASE_URL"] = settings.database_url
            os.environ["RELAPSEWATCH_DEMO"] = "true" if settings.demo else "false"
        uvicorn.run(
            create_app(settings, engine=engine)
            if workers == 1
            else "relapsewatch.web.app:create_app",
            factory=workers > 1,
            workers=workers,
            host=host,
            port=port,
            server_header=False,
            access_log=False,
            log_level="warning",
        )
        engine.dispose()
    except RelapsewatchError as err:
        error_console.print(str(err), markup=False)
        raise typer.Exit(1) from None
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
