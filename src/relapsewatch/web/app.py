"""The app factory: :func:`create_app` builds the FastAPI app from :class:`WebSettings`.

Everything the routes use is made here and put on ``app.state``: the settings, the database
engine and session factory, the templates and the help-and-support directory. Nothing is built
at import time, so tests and ``relapsewatch serve`` each make the app they need.

Routers, one per resource, are listed in :data:`ROUTERS` and included in one place, each with
the authorisation dependency (:func:`relapsewatch.web.auth.authorize`), which looks every route
up in the policy table (:mod:`relapsewatch.web.policy`) and refuses routes it does not list.

The app refuses to start without a proper secret key (RELIABILITY B7).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relapsewatch._version import __version__
from relapsewatch.errors import ConfigError
from relapsewatch.knowledge import load_support
from relapsewatch.store.accounts import SessionPolicy
from relapsewatch.store.db import create_engine_for, make_session_factory
from relapsewatch.web.audit import AuditMiddleware, AuditWriter
from relapsewatch.web.auth import Clock, NotSignedInError, authorize, login_redirect_target
from relapsewatch.web.deps import page_context
from relapsewatch.web.page_cache import PageCache
from relapsewatch.web.routers import (
    admin,
    assets,
    auth,
    health,
    home,
    imports,
    info,
    messages,
    patients,
    records,
    results,
    support,
    treatments,
)
from relapsewatch.web.security import BodySizeLimitMiddleware, SecurityHeadersMiddleware
from relapsewatch.web.settings import KNOWN_DEFAULT_SECRETS, WebSettings
from relapsewatch.web.templating import build_templates

__all__ = ["ROUTERS", "STATIC_PREFIXES", "create_app"]

logger = logging.getLogger("relapsewatch.web")

#: Every router of the app, one per resource.
ROUTERS = (
    home.router,
    admin.router,
    auth.router,
    patients.router,
    records.router,
    results.router,
    treatments.router,
    imports.router,
    info.router,
    messages.router,
    support.router,
    assets.router,
    health.router,
)

#: Paths whose responses may be cached by the browser (no patient data).
STATIC_PREFIXES = ("/static/", "/assets/")

_ERROR_TITLES = {
    400: "The request could not be read",
    401: "Please sign in",
    403: "You cannot do this",
    404: "Page not found",
    405: "Not allowed",
    413: "The upload is too large",
    422: "Some details were not valid",
}


class RequestIdMiddleware:
    """Give every request an id (``X-Request-ID``), shown on error pages to quote to support."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        await self.app(scope, receive, send_with_id)


class ServerErrorMiddleware:
    """Turn an unhandled exception into the plain 500 page, inside the header middlewares.

    Starlette's own handler for ``Exception`` runs outside every user middleware, so its
    response would miss the security headers and the request id. This one sits inside them.
    The error is logged without the request's data (it may hold patient details); the page
    shows only the request id, never a stack trace.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            request = Request(scope)
            # The route's name, never the address: it may hold a patient's id or anything
            # typed into it, control characters included (RELIABILITY D5).
            logger.error(
                "unhandled %s on %s %s (request %s)",
                type(exc).__name__,
                request.method,
                getattr(scope.get("route"), "name", None) or "(no route)",
                getattr(request.state, "request_id", ""),
            )
            if started:
                raise
            await _error_page(request, 500, None)(scope, receive, send)


def _error_page(request: Request, status_code: int, detail: str | None) -> Response:
    templates = request.app.state.templates
    title = _ERROR_TITLES.get(status_code, "Something went wrong")
    context = {
        **page_context(request),
        "title": title,
        "detail": detail,
        "status_code": status_code,
        "request_id": getattr(request.state, "request_id", ""),
    }
    response: Response = templates.TemplateResponse(
        request, "errors/error.html", context, status_code=status_code
    )
    return response


def _install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc, NotSignedInError) and _wants_page(request):
            return RedirectResponse(login_redirect_target(request), status_code=303)
        detail = exc.detail if isinstance(exc.detail, str) and exc.status_code < 500 else None
        if detail in _ERROR_TITLES.values() or detail == "Not Found":
            detail = None
        response = _error_page(request, exc.status_code, detail)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        fields = sorted({".".join(str(p) for p in e.get("loc", ())[1:]) for e in exc.errors()})
        detail = "Check " + ", ".join(f for f in fields if f) + "." if any(fields) else None
        return _error_page(request, 422, detail)


def _wants_page(request: Request) -> bool:
    """A browser asking for a page (sent to the login page) rather than a script (401)."""
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check_secret_key(settings: WebSettings) -> None:
    key = settings.secret_key.get_secret_value() if settings.secret_key is not None else ""
    if key.strip().lower() in KNOWN_DEFAULT_SECRETS or len(key) < 32:
        raise ConfigError(
            "RELAPSEWATCH_SECRET_KEY must be set to at least 32 random characters (not an "
            "example value); make one with `relapsewatch secret-key` and keep it secret"
        )


def _staging_root(settings: WebSettings) -> Path:
    """The folder uploads wait in: the configured one, else a private temporary folder."""
    if settings.staging_dir is not None:
        settings.staging_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return settings.staging_dir
    return Path(tempfile.mkdtemp(prefix="relapsewatch-staging-"))


def create_app(
    settings: WebSettings | None = None,
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """Build the web app.

    Parameters
    ----------
    settings:
        The site's settings; read from ``RELAPSEWATCH_*`` environment variables when omitted.
    engine:
        An existing SQLAlchemy engine (e.g. the one ``serve --demo`` filled); one is created
        from ``settings.database_url`` otherwise and disposed of when the app shuts down.
    clock:
        What "now" is (UTC); tests pass a clock they can move.
    """
    settings = settings or WebSettings()
    _check_secret_key(settings)
    owns_engine = engine is None
    bound = engine or create_engine_for(settings.database_url)
    session_factory: sessionmaker[Session] = make_session_factory(bound)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.audit_writer.close()
        if owns_engine:
            bound.dispose()
        if settings.staging_dir is None:
            shutil.rmtree(app.state.staging_root, ignore_errors=True)

    app = FastAPI(
        title=settings.site_name,
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.openapi else None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = bound
    app.state.session_factory = session_factory
    app.state.templates = build_templates()
    app.state.url_paths = {}  # relapsewatch.web.templating.url_path
    app.state.support = load_support(settings.support_file)
    app.state.staging_root = _staging_root(settings)
    app.state.clock = clock or _utc_now
    app.state.audit_writer = AuditWriter(session_factory)
    app.state.session_policy = SessionPolicy(
        idle_staff=dt.timedelta(minutes=settings.session_idle_minutes_staff),
        idle_patient=dt.timedelta(minutes=settings.session_idle_minutes_patient),
        absolute=dt.timedelta(hours=settings.session_absolute_hours),
    )
    app.state.page_cache = PageCache(
        max_entries=settings.page_cache_entries, ttl_seconds=settings.page_cache_seconds
    )

    for router in ROUTERS:
        app.include_router(router, dependencies=[Depends(authorize)])
    static = resources.files("relapsewatch.web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    _install_error_pages(app)
    # The last one added runs first: every response, a refused upload's 413 included, passes
    # through the security headers, and every one carries a request id.
    app.add_middleware(ServerErrorMiddleware)
    app.add_middleware(AuditMiddleware, writer=app.state.audit_writer, clock=app.state.clock)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(
        SecurityHeadersMiddleware, https=settings.https, cacheable_prefixes=STATIC_PREFIXES
    )
    app.add_middleware(RequestIdMiddleware)
    return app
