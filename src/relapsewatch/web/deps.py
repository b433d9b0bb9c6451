"""Dependencies of the routes, as typed aliases (``SettingsDep``, ``SessionFactoryDep`` ...).

Everything a route needs comes in through one of these, from what :func:`create_app` put on
``app.state``; nothing is built at import time. The ones that only read ``app.state`` are
``async`` so FastAPI calls them directly instead of in its thread pool (measurably cheaper per
request); the database session is a plain generator and runs in the pool. Who is signed in
comes from :mod:`relapsewatch.web.auth` (``CurrentUser``), whose ``authorize`` runs first on
every route.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from relapsewatch.knowledge import SupportDirectory
from relapsewatch.web.navigation import menu_for
from relapsewatch.web.page_cache import PageCache
from relapsewatch.web.routers.assets import plotly_version
from relapsewatch.web.settings import Region, WebSettings

__all__ = [
    "PATIENT_ID_PATTERN",
    "PageCacheDep",
    "PatientId",
    "RegionDep",
    "SessionDep",
    "SessionFactoryDep",
    "SettingsDep",
    "SupportDep",
    "TemplatesDep",
    "page_context",
    "render",
]

#: What a patient id in an address may look like: the data contract allows free text, so any
#: printable text up to 128 characters without a slash (it is percent-encoded in addresses).
PATIENT_ID_PATTERN = r"^[^/\\\x00-\x1f\x7f]{1,128}$"


async def get_settings(request: Request) -> WebSettings:
    settings: WebSettings = request.app.state.settings
    return settings


async def get_templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


async def get_session_factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


async def get_support(request: Request) -> SupportDirectory:
    support: SupportDirectory = request.app.state.support
    return support


async def get_page_cache(request: Request) -> PageCache:
    cache: PageCache = request.app.state.page_cache
    return cache


SettingsDep = Annotated[WebSettings, Depends(get_settings)]
PageCacheDep = Annotated[PageCache, Depends(get_page_cache)]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]
SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_session_factory)]
SupportDep = Annotated[SupportDirectory, Depends(get_support)]

PatientId = Annotated[
    str, Path(pattern=PATIENT_ID_PATTERN, description="The patient's identifier.")
]


async def get_region(
    settings: SettingsDep,
    region: Annotated[Region | None, Query(description="england, eu or us")] = None,
) -> Region:
    """The region a page shows approvals for: the ``region`` query, else the site's setting."""
    return region or settings.region


RegionDep = Annotated[Region, Depends(get_region)]


def render(
    request: Request,
    templates: Jinja2Templates,
    name: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page with the context every page has (settings, the current section)."""
    full = {**page_context(request), "plotly_version": plotly_version(), **context}
    return templates.TemplateResponse(request, name, full, status_code=status_code)


def page_context(request: Request) -> dict[str, Any]:
    """What every page's frame shows: the settings, who is signed in and their menus."""
    signed_in = getattr(request.state, "signed_in", None)
    main_menu, account_menu = menu_for(request, signed_in)
    return {
        "settings": request.app.state.settings,
        "section": "",
        "signed_in": signed_in,
        "main_menu": main_menu,
        "account_menu": account_menu,
    }


def get_session(factory: SessionFactoryDep) -> Iterator[Session]:
    """A read session for one request, closed when the response is sent."""
    with factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
