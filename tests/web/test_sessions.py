"""Passwords, login lockout, session tokens, logoff and cookies (RELIABILITY B1-B5).

* B1: argon2id at the documented parameters (parsed from the stored hash); the 3,000 most
  common passwords refused; long and Unicode passwords accepted; no truncation.
* B2: 10 failures per account (60 per address) a minute, then 429 with ``Retry-After`` even
  for the right password; an unknown user and a wrong password look the same.
* B3: 256-bit tokens from the CSPRNG, no collisions, new at every login; logout, a password
  change and disabling end sessions (every protected page then answers 401).
* B4: idle (15 min staff, 30 min patients) and absolute (12 h) limits, to the second.
* B5: the cookie's attributes; every unsafe route refuses a missing or wrong CSRF token and a
  foreign Origin (403, nothing changed); logout clears the site's data.
"""

from __future__ import annotations

import base64
import datetime as dt
from http.cookies import SimpleCookie

import argon2
import pytest
from accounts_support import PASSWORDS, FakeClock
from fastapi.testclient import TestClient
from httpx import Response
from security_support import (
    ACTOR_OF_ROLE,
    OWN_PATIENT,
    World,
    api_routes,
    audit_rows_after,
    https_client,
    last_audit_id,
    open_session,
    param_values,
    path_for,
    snapshot,
    strip_request_id,
    use_session,
)
from sqlalchemy import select
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from relapsewatch.accounts.passwords import (
    HASH_PARAMETERS,
    PasswordRejectedError,
    check_password_rules,
    hash_password,
    verify_password,
)
from relapsewatch.store import accounts as store_accounts
from relapsewatch.store.accounts import create_user, new_token, set_user_disabled
from relapsewatch.store.models import User, UserSession
from relapsewatch.web.auth import SESSION_COOKIE
from relapsewatch.web.policy import rule_for


def _login(client: TestClient, username: str, password: str) -> Response:
    return client.post("/login", data={"username": username, "password": password})


# --- B1 -------------------------------------------------------------------------------------


def test_the_stored_hash_is_argon2id_at_the_documented_parameters(world: World) -> None:
    with world.factory() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "nurse.a"))
    assert stored is not None and stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    parameters = argon2.extract_parameters(stored)
    assert parameters.type is argon2.Type.ID
    assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (
        19_456,
        2,
        1,
    )
    assert parameters.salt_len == HASH_PARAMETERS["salt_bytes"] == 16
    assert parameters.hash_len == 32
    assert verify_password(stored, PASSWORDS["nurse"])


def test_the_3000_most_common_passwords_are_all_refused() -> None:
    top = FREQUENCY_LISTS["passwords"][:3000]
    assert len(top) == 3000
    accepted = []
    for password in top:
        try:
            check_password_rules(password, role="patient")
        except PasswordRejectedError:
            continue
        accepted.append(password)
    assert accepted == []


@pytest.mark.parametrize(
    "password",
    [
        ("marble kettle " * 5)[:64],
        ("quiet orchard lantern " * 10)[:200],
        "ünïcødé pässwörd 🦋",
        "パスワードは長いほうがいい",
    ],
    ids=["64-chars", "200-chars", "unicode", "japanese"],
)
def test_long_and_unicode_passwords_are_accepted_and_verify(password: str) -> None:
    check_password_rules(password, role="patient")
    stored = hash_password(password)
    assert verify_password(stored, password)
    assert not verify_password(stored, password[:-1])


def test_passwords_differing_after_byte_72_do_not_verify_as_equal() -> None:
    first = "s" * 72 + "-ending-one"
    second = "s" * 72 + "-ending-two"
    assert len(first.encode()) > 72
    stored = hash_password(first)
    assert verify_password(stored, first)
    assert not verify_password(stored, second)


def test_a_200_character_password_set_through_the_site_signs_in(world: World) -> None:
    new = ("willow harbour copper " * 10)[:200]
    with https_client(world.app) as client:
        use_session(client, open_session(world, "spare.nurse"))
        changed = client.post(
            "/account/password",
            data={"current_password": PASSWORDS["nurse"], "new_password": new},
        )
        assert changed.status_code == 200
        use_session(client, None)
        assert _login(client, "spare.nurse", new).status_code == 303
        use_session(client, open_session(world, "spare.nurse"))
        back = client.post(
            "/account/password", data={"current_password": new, "new_password": PASSWORDS["nurse"]}
        )
        assert back.status_code == 200


# --- B2 (a fresh app per test: the lockout counts the test client's address) ----------------


def _strip(response: Response, username: str) -> tuple[int, str]:
    """Status and body without the request id and the echoed username."""
    text = strip_request_id(response.text, response.headers["x-request-id"])
    return response.status_code, text.replace(username, "U")


def test_ten_failures_lock_the_account_for_a_minute_even_for_the_right_password(
    anonymous: TestClient, clock: FakeClock
) -> None:
    for _ in range(10):
        assert _login(anonymous, "nurse.a", "wrong password, sorry").status_code == 401
    locked = _login(anonymous, "nurse.a", PASSWORDS["nurse"])
    assert locked.status_code == 429
    retry = int(locked.headers["retry-after"])
    assert 1 <= retry <= 61
    assert SESSION_COOKIE not in locked.headers.get("set-cookie", "")
    # Another account is not locked by nurse.a's failures.
    assert _login(anonymous, "clinician.a", PASSWORDS["clinician"]).status_code == 303
    clock.advance(seconds=61)
    assert _login(anonymous, "nurse.a", PASSWORDS["nurse"]).status_code == 303


def test_an_unknown_user_and_a_wrong_password_get_the_same_answer(anonymous: TestClient) -> None:
    unknown = _strip(_login(anonymous, "nobody.here", "some password 123"), "nobody.here")
    wrong = _strip(_login(anonymous, "nurse.a", "some password 123"), "nurse.a")
    assert unknown[0] == wrong[0] == 401
    assert unknown == wrong
    for _ in range(10):
        _login(anonymous, "nobody.here", "x")
        _login(anonymous, "nurse.a", "x")
    locked_unknown = _login(anonymous, "nobody.here", "x")
    locked_known = _login(anonymous, "nurse.a", "x")
    assert _strip(locked_unknown, "nobody.here") == _strip(locked_known, "nurse.a")
    assert locked_unknown.headers["retry-after"] == locked_known.headers["retry-after"]


def test_sixty_failures_from_one_address_lock_it_whatever_the_usernames(
    anonymous: TestClient,
) -> None:
    for number in range(60):
        assert _login(anonymous, f"guess.{number}", "wrong").status_code == 401
    assert _login(anonymous, "guess.new", "wrong").status_code == 429
    blocked = _login(anonymous, "nurse.a", PASSWORDS["nurse"])
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) >= 1


# --- B3 -------------------------------------------------------------------------------------


def test_ten_thousand_tokens_are_256_bit_and_all_different() -> None:
    tokens = [new_token() for _ in range(10_000)]
    assert len(set(tokens)) == 10_000
    for token in tokens:
        assert len(base64.urlsafe_b64decode(token + "=")) == 32


def test_a_login_uses_new_token_for_the_cookie_and_the_csrf_token(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = iter(["cookie-token-" + "a" * 30, "csrf-token-" + "b" * 32])
    monkeypatch.setattr(store_accounts, "new_token", lambda: next(made))
    with https_client(world.app) as client:
        response = _login(client, "nurse.b", PASSWORDS["nurse"])
        assert response.status_code == 303
        assert client.cookies[SESSION_COOKIE] == "cookie-token-" + "a" * 30
        page = client.get("/account/password")
        assert 'content="csrf-token-' + "b" * 32 + '"' in page.text


def test_every_login_gets_a_new_token(world: World) -> None:
    tokens = set()
    with https_client(world.app) as client:
        for _ in range(3):
            use_session(client, None)
            assert _login(client, "clinician.b", PASSWORDS["clinician"]).status_code == 303
            tokens.add(client.cookies[SESSION_COOKIE])
    assert len(tokens) == 3


def _protected_gets(world: World) -> list[str]:
    values = param_values(world, patient_id=OWN_PATIENT)
    paths = []
    for route, method in api_routes(world.app):
        rule = rule_for(str(route.name), method)
        if method == "GET" and rule is not None and not rule.public:
            paths.append(path_for(route, values))
    return paths


def test_after_logout_the_old_cookie_gets_401_on_every_protected_page(world: World) -> None:
    paths = _protected_gets(world)
    assert len(paths) >= 10
    with https_client(world.app) as client:
        assert _login(client, "nurse.a", PASSWORDS["nurse"]).status_code == 303
        token = client.cookies[SESSION_COOKIE]
        csrf = client.get("/account/password").text.split('name="csrf-token" content="')[1][:43]
        out = client.post("/logout", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 303
        assert out.headers["clear-site-data"] == '"cache", "cookies", "storage"'
        assert (
            SESSION_COOKIE in out.headers["set-cookie"] and "Max-Age=0" in out.headers["set-cookie"]
        )
        use_session(client, (token, csrf))
        refused = [p for p in paths if client.get(p, headers={"Accept": "*/*"}).status_code != 401]
    assert refused == []


def test_a_password_change_ends_the_other_sessions(world: World) -> None:
    changer, other = open_session(world, "spare.nurse"), open_session(world, "spare.nurse")
    new = "lichen sparrow teapot harvest"
    with https_client(world.app) as client:
        use_session(client, changer)
        response = client.post(
            "/account/password", data={"current_password": PASSWORDS["nurse"], "new_password": new}
        )
        assert response.status_code == 200
        assert client.get("/account/password").status_code == 200
        use_session(client, other)
        assert client.get("/account/password", headers={"Accept": "*/*"}).status_code == 401
        use_session(client, changer)
        back = client.post(
            "/account/password", data={"current_password": new, "new_password": PASSWORDS["nurse"]}
        )
        assert back.status_code == 200


def test_a_disabled_users_sessions_get_401(world: World) -> None:
    user = create_user(
        world.factory,
        username="soon.gone",
        password=PASSWORDS["nurse"],
        role="nurse",
        display_name="Soon Gone",
        now=world.clock.now,
        team_ids=[world.accounts.team_id],
    )
    world.accounts.users["soon.gone"] = user
    sessions = [open_session(world, "soon.gone") for _ in range(3)]
    paths = _protected_gets(world)
    with https_client(world.app) as client:
        use_session(client, sessions[0])
        assert client.get("/patients").status_code == 200
        set_user_disabled(world.factory, user.id, True)
        for session in sessions:
            use_session(client, session)
            assert [
                p for p in paths if client.get(p, headers={"Accept": "*/*"}).status_code != 401
            ] == []
        use_session(client, None)
        assert _login(client, "soon.gone", PASSWORDS["nurse"]).status_code == 401
    with world.factory() as session:
        assert (
            session.scalars(select(UserSession).where(UserSession.user_id == user.id)).all() == []
        )


# --- B4 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "minutes"),
    [("nurse.a", 15), ("clinician.a", 15), ("admin", 15), ("patient.w-len", 30)],
)
def test_idle_timeout_to_the_second(world: World, username: str, minutes: int) -> None:
    idle = dt.timedelta(minutes=minutes)
    assert world.app.state.session_policy.idle_for(world.user(username).role) == idle
    early, late = open_session(world, username), open_session(world, username)
    with https_client(world.app) as client:
        world.clock.advance(seconds=idle.total_seconds() - 1)
        use_session(client, early)
        assert client.get("/account/password").status_code == 200
        world.clock.advance(seconds=2)
        use_session(client, late)
        assert client.get("/account/password", headers={"Accept": "*/*"}).status_code == 401
        # The early one was active a second ago, so it lives on.
        use_session(client, early)
        assert client.get("/account/password").status_code == 200


def test_absolute_limit_of_twelve_hours_whatever_the_activity(world: World) -> None:
    session = open_session(world, "nurse.a")
    started = world.clock.now
    limit = started + dt.timedelta(hours=12)
    with https_client(world.app) as client:
        use_session(client, session)
        while world.clock.now + dt.timedelta(minutes=10) < limit:
            world.clock.advance(minutes=10)
            assert client.get("/account/password").status_code == 200
        world.clock.now = limit - dt.timedelta(seconds=1)
        assert client.get("/account/password").status_code == 200
        world.clock.now = limit + dt.timedelta(seconds=1)
        assert client.get("/account/password", headers={"Accept": "*/*"}).status_code == 401


# --- B5 -------------------------------------------------------------------------------------


def test_the_session_cookie_attributes(world: World) -> None:
    with https_client(world.app) as client:
        response = _login(client, "nurse.a", PASSWORDS["nurse"])
    header = response.headers["set-cookie"]
    cookie = SimpleCookie()
    cookie.load(header)
    assert list(cookie) == [SESSION_COOKIE] and SESSION_COOKIE.startswith("__Host-")
    morsel = cookie[SESSION_COOKIE]
    assert morsel["secure"] is True and morsel["httponly"] is True
    assert morsel["samesite"].lower() == "lax"
    assert morsel["path"] == "/"
    assert morsel["domain"] == ""
    assert "domain=" not in header.lower()


def _csrf_cases(world: World) -> list[tuple[str, str, str]]:
    """(route name, method, username of a role the route allows) of every unsafe route."""
    cases = []
    for route, method in api_routes(world.app):
        rule = rule_for(str(route.name), method)
        if method in ("POST", "PUT", "PATCH", "DELETE") and rule is not None and not rule.public:
            role = next(r for r in ("nurse", "clinician", "patient", "admin") if r in rule.roles)
            cases.append((str(route.name), method, ACTOR_OF_ROLE[role]))
    return cases


def test_every_unsafe_route_refuses_a_missing_or_wrong_csrf_token_or_a_foreign_origin(
    world: World,
) -> None:
    """B5: 403 for each of the four forgeries on every unsafe route, nothing changed, and
    (for audited routes) a denied audit row; with the right token the same request passes the
    check (so the 403 above was the CSRF check)."""
    routes = {str(route.name): route for route, _ in api_routes(world.app)}
    target = create_user(
        world.factory,
        username="csrf.target",
        password=PASSWORDS["nurse"],
        role="nurse",
        display_name="Csrf Target",
        now=world.clock.now,
        team_ids=[world.accounts.team_id],
    )
    # Admin routes act on this account, not on one the other tests sign in as.
    values = {**param_values(world, patient_id=OWN_PATIENT), "user_id": str(target.id)}
    cases = _csrf_cases(world)
    assert len(cases) >= 8
    forgeries = {
        "no token": {},
        "wrong token": {"X-CSRF-Token": "not-the-token"},
        "foreign origin": {"Origin": "https://evil.example"},
        "cross-site fetch": {"Sec-Fetch-Site": "cross-site"},
        "null origin": {"Origin": "null"},
    }
    before = snapshot(world.engine)
    refused = 0
    problems = []
    with https_client(world.app) as client:
        for name, method, username in cases:
            path = path_for(routes[name], values)
            for forgery, headers in forgeries.items():
                token, csrf = open_session(world, username)
                use_session(client, (token, csrf))
                sent = {"Accept": "*/*", **headers}
                if forgery in ("no token", "wrong token"):
                    client.headers.pop("X-CSRF-Token")
                last = last_audit_id(world.factory)
                form = {"csrf_token": "x"} if forgery == "wrong token" else {}
                response = client.request(method, path, data=form, headers=sent)
                refused += 1
                if response.status_code != 403:
                    problems.append((name, forgery, response.status_code))
                outcomes = [row.outcome for row in audit_rows_after(world.factory, last)]
                rule = rule_for(name, method)
                expected = ["denied"] if rule is not None and rule.action else []
                if outcomes != expected:
                    problems.append((name, forgery, outcomes))
    assert snapshot(world.engine) == before
    assert problems == []
    print(f"B5 CSRF: {refused} forged requests on {len(cases)} unsafe routes")
    with https_client(world.app) as client:
        for name, method, username in cases:
            use_session(client, open_session(world, username))
            response = client.request(method, path_for(routes[name], values), data={})
            assert response.status_code != 403, name


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "null"},
    ],
    ids=["foreign-origin", "cross-site", "null-cross-site", "null-origin"],
)
def test_another_site_cannot_post_the_login_form(world: World, headers: dict[str, str]) -> None:
    """Login CSRF: a login posted from another site starts no session (403, audited denied);
    the site's own form (same origin, or ``Origin: null`` with ``Sec-Fetch-Site:
    same-origin``, as browsers send it under ``no-referrer``) signs in."""
    with https_client(world.app) as client:
        last = last_audit_id(world.factory)
        forged = client.post(
            "/login", data={"username": "nurse.b", "password": PASSWORDS["nurse"]}, headers=headers
        )
        assert forged.status_code == 403
        assert SESSION_COOKIE not in forged.headers.get("set-cookie", "")
        rows = audit_rows_after(world.factory, last)
        assert [(r.action, r.outcome) for r in rows] == [("login", "denied")]
        own = client.post(
            "/login",
            data={"username": "nurse.b", "password": PASSWORDS["nurse"]},
            headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"},
        )
        assert own.status_code == 303
