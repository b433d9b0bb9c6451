"""Help and support, Community, and how to ask the specialist team a question.

Contacts, groups and events come from the support directory: the packaged default with the
site's own YAML file merged over it (``WebSettings.support_file``; loaded once by the app
factory). The message form to the care team belongs to the accounts issue; this page gives the
team's contact details.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from relapsewatch.knowledge import NO_DETAILS_TEXT
from relapsewatch.web.deps import RegionDep, SupportDep, TemplatesDep, render

__all__ = ["router"]

router = APIRouter(tags=["support"])

_GROUP_TITLES = {
    "care_team": "Your care team",
    "local": "Near you",
    "charity": "Charities and helplines",
}


@router.get("/support", name="support.help", response_class=HTMLResponse)
def help_and_support(
    request: Request, templates: TemplatesDep, support: SupportDep, region: RegionDep
) -> HTMLResponse:
    contacts = support.contacts_for(region)
    groups = [
        (title, [c for c in contacts if c.kind == kind]) for kind, title in _GROUP_TITLES.items()
    ]
    return render(
        request,
        templates,
        "support/help.html",
        {
            "section": "support",
            "support": support,
            "groups": groups,
            "no_details_text": NO_DETAILS_TEXT,
        },
    )


@router.get("/support/ask", name="support.ask", response_class=HTMLResponse)
def ask_a_question(
    request: Request, templates: TemplatesDep, support: SupportDep, region: RegionDep
) -> HTMLResponse:
    team = [c for c in support.contacts_for(region) if c.kind == "care_team"]
    return render(
        request,
        templates,
        "support/ask.html",
        {"section": "support", "team": team, "no_details_text": NO_DETAILS_TEXT},
    )


@router.get("/community", name="support.community", response_class=HTMLResponse)
def community(request: Request, templates: TemplatesDep, support: SupportDep) -> HTMLResponse:
    return render(
        request,
        templates,
        "support/community.html",
        {
            "section": "community",
            "community": support.community,
            "events": support.community.upcoming(dt.date.today()),
        },
    )
