"""Every route is guarded and listed in the policy, and the policy is what the app enforces.

* A1: every API route depends on :func:`relapsewatch.web.auth.authorize`; every (route, method)
  has a POLICY entry and every entry names a served route; the public routes are exactly the
  reviewed list below; ``/static`` is the only mount. A route added on the app itself (outside
  the routers) is caught.
* A2: a matrix generated from ``app.routes`` × {anonymous, patient, nurse, clinician, admin}
  with real, allowed ids: what POLICY allows gets through, what it does not is refused (401 or
  the login redirect for nobody, 403 for a signed-in role). Every menu entry is allowed.
* H2, H3: the security headers on error and redirect responses too; no /docs, /openapi.json
  by default; TRACE refused; ``serve`` turns off uvicorn's ``server`` header.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi import APIRouter, Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from security_support import (
    ACTOR_OF_ROLE,
    OWN_PATIENT,
    ROLES_AND_ANONYMOUS,
    World,
    api_routes,
    https_client,
    open_session,
    param_values,
    path_for,
    send,
    served_routes,
    use_session,
)
from starlette.routing import Mount
from typer.testing import CliRunner

from relapsewatch.web import WebSettings, create_app
from relapsewatch.web.auth import authorize
from relapsewatch.web.navigation import ACCOUNT_MENU, MAIN_MENU
from relapsewatch.web.policy import POLICY, rule_for

#: The reviewed list of routes anyone may call without signing in (A1). Adding one is a
#: decision: it must hold no patient data.
REVIEWED_PUBLIC = frozenset(
    {
        ("home", "GET"),
        ("health", "GET"),
        ("assets.plotly", "GET"),
        ("auth.login_form", "GET"),
        ("auth.login", "POST"),
    }
)


def _depends_on(dependant: Dependant, target: Callable[..., Any]) -> bool:
    return any(dep.call is target or _depends_on(dep, target) for dep in dependant.dependencies)


def unguarded(app: FastAPI) -> list[str]:
    """The API routes that do not depend on ``authorize`` (A1: must be none)."""
    return sorted(
        str(route.name)
        for route in served_routes(app)
        if isinstance(route.original_route, APIRoute)
        and not _depends_on(route.dependant, authorize)
    )


def unlisted(app: FastAPI) -> list[tuple[str, str]]:
    """The (route, method) pairs the app serves that POLICY has no entry for."""
    return [(r.name, m) for r, m in api_routes(app) if rule_for(r.name, m) is None]


def _settings(tmp_path: Path, **extra: Any) -> WebSettings:
    from accounts_support import TEST_SECRET

    return WebSettings(
        secret_key=TEST_SECRET,
        database_url=f"sqlite:///{tmp_path / 'x.sqlite3'}",
        staging_dir=tmp_path / "staging",
        **extra,
    )


@pytest.fixture(scope="module")
def bare_app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """An app to introspect (its database is never touched)."""
    return create_app(_settings(tmp_path_factory.mktemp("bare")))


# --- A1 -------------------------------------------------------------------------------------


def test_every_route_depends_on_authorize(bare_app: FastAPI) -> None:
    routes = [r for r in served_routes(bare_app) if isinstance(r.original_route, APIRoute)]
    assert len(routes) >= 20
    assert unguarded(bare_app) == []


def test_every_route_and_method_is_in_the_policy_and_no_entry_is_stale(bare_app: FastAPI) -> None:
    served = {(route.name, method) for route, method in api_routes(bare_app)}
    assert unlisted(bare_app) == []
    assert sorted(set(POLICY) - served) == [], "POLICY entries naming no served route"
    names = [r.name for r in served_routes(bare_app) if isinstance(r.original_route, APIRoute)]
    assert len(names) == len(set(names)), "two routes share a name (POLICY keys by name)"


def test_the_public_routes_are_exactly_the_reviewed_list() -> None:
    public = {key for key, rule in POLICY.items() if rule.public}
    assert public == REVIEWED_PUBLIC
    for key in public:
        assert not POLICY[key].patient_scoped


def test_static_is_the_only_mount_and_every_other_route_is_an_api_route(bare_app: FastAPI) -> None:
    routes = [route.original_route for route in served_routes(bare_app)]
    assert [m.path for m in routes if isinstance(m, Mount)] == ["/static"]
    others = [r for r in routes if not isinstance(r, APIRoute | Mount)]
    assert others == [], "routes outside the routers (e.g. the OpenAPI page) are not allowed"


def test_a_route_added_on_the_app_itself_is_caught(tmp_path: Path) -> None:
    """The checks above are not vacuous: a route added with ``app.get`` (outside the routers,
    so without ``authorize``) is flagged by both, and the app refuses it (deny by default)."""
    app = create_app(_settings(tmp_path))
    assert unguarded(app) == [] and unlisted(app) == []

    @app.get("/sneaky", name="sneaky")
    def sneaky() -> dict[str, str]:
        return {"secret": "yes"}

    assert unguarded(app) == ["sneaky"]
    assert unlisted(app) == [("sneaky", "GET")]

    # Deny by default: a guarded route that POLICY does not list is refused to everyone.
    extra = APIRouter()
    extra.add_api_route("/also-sneaky", sneaky, name="also.sneaky")
    guarded = create_app(_settings(tmp_path))
    guarded.include_router(extra, dependencies=[Depends(authorize)])
    assert unguarded(guarded) == [] and unlisted(guarded) == [("also.sneaky", "GET")]
    with https_client(guarded) as client:
        assert client.get("/also-sneaky").status_code == 403


# --- A2 -------------------------------------------------------------------------------------


def _refused_as_anonymous(response: Any) -> bool:
    if response.status_code == 401:
        return True
    return response.status_code == 303 and response.headers["location"].startswith("/login")


def test_generated_role_matrix_matches_the_policy(world: World) -> None:
    """A2: each (route, method) × role, with real ids the role may use; 0 mismatches.

    Each request gets a fresh session, so a logout or a password change in one cell does not
    change the next. Validation errors (400, 422) count as "let through": they come after the
    authorisation. A 404 counts as refused: with real ids, only the policy answers 404.
    """
    values = param_values(world, patient_id=OWN_PATIENT)
    mismatches = []
    cells = 0
    with https_client(world.app) as client:
        for route, method in api_routes(world.app):
            rule = rule_for(route.name, method)
            assert rule is not None, route.name
            path = path_for(route, values)
            for role in ROLES_AND_ANONYMOUS:
                session = None if role == "anonymous" else open_session(world, ACTOR_OF_ROLE[role])
                use_session(client, session)
                response = send(client, method, path, headers={"Accept": "*/*"})
                cells += 1
                allowed = rule.allows(None if role == "anonymous" else role)
                status = response.status_code
                if allowed:
                    ok = status not in (401, 403, 404) and status < 500
                elif role == "anonymous":
                    ok = _refused_as_anonymous(response)
                else:
                    ok = status == 403
                if not ok:
                    mismatches.append((route.name, method, role, allowed, status))
    print(f"A2 matrix: {cells} cells")
    assert mismatches == []
    assert cells >= 5 * 20


def test_anonymous_browsers_are_sent_to_the_login_page(world: World) -> None:
    values = param_values(world)
    with https_client(world.app) as client:
        for route, method in api_routes(world.app):
            rule = rule_for(route.name, method)
            if method != "GET" or rule is None or rule.public:
                continue
            path = path_for(route, values)
            response = client.get(path, headers={"Accept": "text/html"})
            assert response.status_code == 303, route.name
            assert response.headers["location"].startswith("/login?next="), route.name


def test_every_menu_entry_is_allowed_for_its_role(world: World) -> None:
    with https_client(world.app) as client:
        for menus in (MAIN_MENU, ACCOUNT_MENU):
            for role, items in menus.items():
                for item in items:
                    rule = rule_for(item.route, "GET")
                    assert rule is not None and rule.allows(role), (role, item.route)
                    params = {"patient_id": OWN_PATIENT} if item.own_record else {}
                    path = world.app.url_path_for(item.route, **params)
                    use_session(client, open_session(world, ACTOR_OF_ROLE[role]))
                    assert client.get(path).status_code == 200, (role, item.route)


# --- H2, H3 ---------------------------------------------------------------------------------


def _assert_security_headers(response: Any) -> None:
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert "server" not in headers


def test_error_and_redirect_responses_carry_the_security_headers(world: World) -> None:
    """H2 on the responses a page test does not see: 401, 403, 404, 303, the login page."""
    with https_client(world.app) as client:
        use_session(client, None)
        seen = {200: client.get("/login")}
        seen[401] = client.get("/patients", headers={"Accept": "*/*"})
        seen[303] = client.get("/patients", headers={"Accept": "text/html"})
        use_session(client, open_session(world, "patient.w-len"))
        seen[403] = client.get("/patients")
        use_session(client, open_session(world, "nurse.a"))
        seen[404] = client.get("/patients/NOPE-404")
        seen[405] = client.request("TRACE", "/")
    assert sorted(seen) == [200, 303, 401, 403, 404, 405]
    for response in seen.values():
        _assert_security_headers(response)


def test_no_docs_or_schema_by_default_and_trace_is_refused(bare_app: FastAPI) -> None:
    """H3: with default settings the API description is not served; TRACE gets 405."""
    with https_client(bare_app) as client:
        assert client.get("/openapi.json").status_code == 404
        assert client.get("/docs").status_code == 404
        assert client.get("/redoc").status_code == 404
        assert client.request("TRACE", "/").status_code == 405
        assert client.request("TRACE", "/login").status_code == 405


def test_serve_turns_off_the_server_header(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """H3: uvicorn's ``server: uvicorn`` header is off (``server_header=False``)."""
    from accounts_support import TEST_SECRET

    from relapsewatch.cli import serve as serve_module

    captured: dict[str, Any] = {}
    monkeypatch.setattr(serve_module.uvicorn, "run", lambda *a, **kw: captured.update(kw))
    monkeypatch.setenv("RELAPSEWATCH_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("RELAPSEWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'serve.sqlite3'}")
    cli = typer.Typer()
    cli.command()(serve_module.serve)
    result = CliRunner().invoke(cli, ["--host", "127.0.0.1", "--port", "8765"])
    assert result.exit_code == 0, result.output
    assert captured["server_header"] is False


def test_the_test_client_sends_no_server_header(world: World) -> None:
    with https_client(world.app) as client:
        assert "server" not in client.get("/health").headers
