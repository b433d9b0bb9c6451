"""Settings of the web app, read from the environment (``RELAPSEWATCH_*``) or passed in.

The app factory takes a :class:`WebSettings`; nothing reads the environment at import time, so a
test builds an app with exactly the settings it needs::

    >>> settings = WebSettings(database_url="sqlite://", region="eu")
    >>> settings.region, settings.max_upload_bytes
    ('eu', 20000000)

Every field can also be set as an environment variable with the ``RELAPSEWATCH_`` prefix, e.g.
``RELAPSEWATCH_DATABASE_URL=postgresql+psycopg://...`` or ``RELAPSEWATCH_REGION=us``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_DATABASE_URL", "KNOWN_DEFAULT_SECRETS", "Region", "WebSettings"]

Region = Literal["england", "eu", "us"]

#: Secret keys from examples and tutorials: the app refuses to start with any of them (B7).
KNOWN_DEFAULT_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "secret-key", "development", "dev", "default"}
)

#: The embedded default: a SQLite file in the working directory.
DEFAULT_DATABASE_URL = "sqlite:///relapsewatch.db"


class WebSettings(BaseSettings):
    """What a site can configure. Defaults are safe for a single machine on loopback."""

    model_config = SettingsConfigDict(
        env_prefix="RELAPSEWATCH_", extra="ignore", frozen=True, validate_default=True
    )

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL of the app database (SQLite file or PostgreSQL).",
    )
    region: Region = Field(
        default="england",
        description="Whose approvals the options show: NICE (england), EMA (eu), FDA (us).",
    )
    site_name: str = Field(
        default="relapsewatch", description="Shown in the page header and titles."
    )
    support_file: Path | None = Field(
        default=None,
        description=(
            "A site's YAML file of help-and-support contacts and community groups, merged over "
            "the packaged default (see relapsewatch.knowledge.load_support)."
        ),
    )
    demo: bool = Field(default=False, description="Label every page as showing simulated patients.")
    max_upload_bytes: int = Field(
        default=20_000_000, gt=0, description="Largest accepted import upload (all files together)."
    )
    max_zip_members: int = Field(
        default=16, gt=0, description="Most files a zip upload may hold (folders excluded)."
    )
    max_unzipped_bytes: int = Field(
        default=200_000_000, gt=0, description="Largest total size of a zip upload once unpacked."
    )
    max_zip_ratio: float = Field(
        default=100.0, gt=1, description="Largest unpacked/packed size ratio of any zip member."
    )
    staging_dir: Path | None = Field(
        default=None,
        description=(
            "Where uploads wait between preview and apply; a private temporary folder when unset."
        ),
    )
    staging_ttl_seconds: int = Field(
        default=3600,
        gt=0,
        description="How long an import preview can be applied before it expires.",
    )
    page_cache_entries: int = Field(
        default=256,
        ge=0,
        description="Rendered patient pages kept in memory (keyed by record version); 0 = off.",
    )
    page_cache_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a rendered patient page may be reused (same record version).",
    )
    page_size: int = Field(default=50, gt=0, le=100, description="Patients per page in the list.")
    https: bool = Field(
        default=False,
        description="Served over TLS (directly or behind a proxy): send HSTS for one year.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description=(
            "At least 32 random characters, kept secret: keys the lockout counters. Required; "
            "make one with `relapsewatch secret-key`. The app refuses to start without it."
        ),
    )
    session_idle_minutes_staff: float = Field(
        default=15, gt=0, description="Staff and admin sessions end after this much inactivity."
    )
    session_idle_minutes_patient: float = Field(
        default=30, gt=0, description="Patient sessions end after this much inactivity."
    )
    session_absolute_hours: float = Field(
        default=12, gt=0, description="Every session ends this long after login."
    )
    openapi: bool = Field(
        default=False,
        description="Serve /openapi.json (off in production; RELIABILITY H3).",
    )
    smtp_host: str | None = Field(
        default=None,
        description="SMTP server for new-question e-mails to care teams; unset = no e-mail.",
    )
    smtp_port: int = Field(default=587, gt=0, lt=65536, description="SMTP server port.")
    smtp_starttls: bool = Field(default=True, description="Use STARTTLS with the SMTP server.")
    smtp_username: str | None = Field(default=None, description="SMTP login, if any.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password, if any.")
    smtp_from: str = Field(
        default="relapsewatch@localhost", description="Sender address of notification e-mails."
    )
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, description="SMTP time limit.")
