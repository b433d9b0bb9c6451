"""Key-information pages in our own words: newly diagnosed, in remission, 1st, 2nd and 3rd+
relapse, why myeloma can come back, and the glossary (from :mod:`relapsewatch.knowledge`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from starlette.responses import HTMLResponse

from relapsewatch.knowledge import INFO_PAGE_IDS, info_page, load_info_pages
from relapsewatch.web.deps import TemplatesDep, render

__all__ = ["InfoPageId", "router"]

router = APIRouter(prefix="/info", tags=["info"])

InfoPageId = Literal[
    "newly_diagnosed",
    "remission",
    "relapse_1",
    "relapse_2",
    "relapse_3_plus",
    "why_it_comes_back",
    "glossary",
]


@router.get("/{page_id}", name="info.page", response_class=HTMLResponse)
def page(
    request: Request,
    templates: TemplatesDep,
    page_id: Annotated[InfoPageId, Path(description="Which key-information page.")],
) -> HTMLResponse:
    pages = load_info_pages()
    return render(
        request,
        templates,
        "info/page.html",
        {"page": info_page(page_id), "pages": [pages[p] for p in INFO_PAGE_IDS]},
    )
