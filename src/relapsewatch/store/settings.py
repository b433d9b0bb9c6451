"""Where the app's database lives: one place that reads the environment, called by the app factory.

The default is an embedded SQLite file under the user's data folder, so ``relapsewatch import``
and ``relapsewatch serve`` work with no setup. A PostgreSQL server is used only when the user
points at one::

    RELAPSEWATCH_DATABASE_URL=postgresql+psycopg://user@127.0.0.1:5432/relapsewatch

Nothing here runs at import time; call :func:`database_url` when the settings are built.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["DATABASE_URL_ENV", "DATA_DIR_ENV", "data_dir", "database_url"]

#: Environment variable with a full SQLAlchemy URL (SQLite or ``postgresql+psycopg://``).
DATABASE_URL_ENV = "RELAPSEWATCH_DATABASE_URL"
#: Environment variable with the folder for the default SQLite file.
DATA_DIR_ENV = "RELAPSEWATCH_DATA_DIR"
#: File name of the default SQLite database inside the data folder.
DEFAULT_DATABASE_FILE = "relapsewatch.sqlite3"


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The folder for the default database: ``$RELAPSEWATCH_DATA_DIR``, else the XDG data folder.

    >>> str(data_dir({"RELAPSEWATCH_DATA_DIR": "/srv/rw"}))
    '/srv/rw'
    >>> str(data_dir({"XDG_DATA_HOME": "/home/n/.data"}))
    '/home/n/.data/relapsewatch'
    """
    env = os.environ if environ is None else environ
    if env.get(DATA_DIR_ENV):
        return Path(env[DATA_DIR_ENV]).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "relapsewatch"


def database_url(url: str | None = None, *, environ: Mapping[str, str] | None = None) -> str:
    """The database URL to use: ``url`` if given, else the environment, else a SQLite file.

    >>> database_url("sqlite:////tmp/x.db")
    'sqlite:////tmp/x.db'
    >>> database_url(environ={"RELAPSEWATCH_DATABASE_URL": "postgresql+psycopg://h/db"})
    'postgresql+psycopg://h/db'
    >>> database_url(environ={"RELAPSEWATCH_DATA_DIR": "/srv/rw"})
    'sqlite:////srv/rw/relapsewatch.sqlite3'
    """
    if url:
        return url
    env = os.environ if environ is None else environ
    if env.get(DATABASE_URL_ENV):
        return env[DATABASE_URL_ENV]
    return f"sqlite:///{data_dir(env) / DEFAULT_DATABASE_FILE}"
