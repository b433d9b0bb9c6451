"""The Jinja2 environment of the web app: packaged templates, autoescape always on.

Filters shared by the templates live here so that every page words dates, responses and
numbers the same way.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import jinja2
import markupsafe
from starlette.templating import Jinja2Templates

from relapsewatch.plotting.course import RESPONSE_WORDS

__all__ = ["build_templates", "long_date", "response_words", "url_path"]


def long_date(day: dt.date | dt.datetime | str | None) -> str:
    """``2024-03-05`` -> ``5 March 2024`` (empty for none).

    >>> long_date(dt.date(2024, 3, 5))
    '5 March 2024'
    """
    if day is None or day == "":
        return ""
    if isinstance(day, str):
        day = dt.date.fromisoformat(day)
    return f"{day.day} {day:%B %Y}"


def response_words(code: str | None) -> str:
    """An IMWG response code in plain words (``VGPR`` -> ``very good partial response``)."""
    if not code:
        return ""
    return RESPONSE_WORDS.get(code, code)


def _ordinal(number: int) -> str:
    """1 -> 1st, 2 -> 2nd, 3 -> 3rd, 11 -> 11th."""
    if 10 <= number % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _drugs(regimen: str | None) -> str:
    """A derived regimen (``a+b+c``) as words: ``a, b and c``."""
    if not regimen:
        return ""
    names = [n.replace("_", " ") for n in regimen.split("+") if n]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _first_lower(text: str) -> str:
    """``Serum M-protein`` -> ``serum M-protein`` (only the first letter)."""
    return text[:1].lower() + text[1:]


def build_templates() -> Jinja2Templates:
    """Templates from the package, with autoescape on for every file (never turned off)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("relapsewatch.web", "templates"),
        autoescape=True,
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    filters: dict[str, Any] = {
        "long_date": long_date,
        "response_words": response_words,
        "ordinal": _ordinal,
        "drugs": _drugs,
        "first_lower": _first_lower,
    }
    env.filters.update(filters)
    templates = Jinja2Templates(env=env)
    # Addresses as paths ("/patients/P1"), not absolute URLs built from the Host header: they
    # stay right behind a proxy and cannot be pointed elsewhere by a forged Host.
    env.globals["url_for"] = _url_path_for
    env.globals["csrf_field"] = _csrf_field
    return templates


@jinja2.pass_context
def _csrf_field(context: dict[str, Any]) -> markupsafe.Markup:
    """The hidden CSRF field every form of a signed-in page carries (RELIABILITY B5)."""
    signed_in = getattr(context["request"].state, "signed_in", None)
    if signed_in is None:
        return markupsafe.Markup("")
    return markupsafe.Markup('<input type="hidden" name="csrf_token" value="{}">').format(
        signed_in.csrf_token
    )


@jinja2.pass_context
def _url_path_for(context: dict[str, Any], name: str, /, **path_params: Any) -> str:
    return url_path(context["request"].app, name, **path_params)


_URL_CACHE_SIZE = 4096


def url_path(app: Any, name: str, /, **path_params: Any) -> str:
    """``app.url_path_for`` remembered: a page builds a dozen addresses and Starlette finds each
    by walking every route, so the answers are kept (they depend only on the routes)."""
    cache: dict[tuple[str, tuple[tuple[str, str], ...]], str] = app.state.url_paths
    key = (name, tuple(sorted((k, str(v)) for k, v in path_params.items())))
    found = cache.get(key)
    if found is None:
        found = str(app.url_path_for(name, **path_params))
        if len(cache) >= _URL_CACHE_SIZE:
            cache.clear()
        cache[key] = found
    return found
