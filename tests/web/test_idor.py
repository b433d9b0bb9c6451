"""IDOR matrix: nobody reaches a patient's record they may not see (RELIABILITY A3).

Generated from the app: every patient-scoped (route, method) in POLICY × actor × id variant.

Actors: the patient W-LEN's account at another patient (W-BTZ), a nurse and a clinician of care
team B (which does not look after the cohort), nobody, an expired session of a team A nurse and
a disabled team A nurse. The last three also try W-LEN, whom their account could see if it were
signed in, live and enabled. Id variants: a stored patient they may not see, one that does not
exist, malformed ids (a raw ``%2e%2e`` traversal, 200 characters, SQL punctuation, a
right-to-left override) and look-alikes of the stored one (see :data:`LOOK_ALIKES`).

Each attempt must get 401, 403 or 404 (never the page); a stored patient and a missing one must
get the same status and body (bar the request id), so ids cannot be probed; exactly one
``denied`` audit row per attempt; and no table but the audit trail, sessions and lockout
counters may change (a snapshot of every table before and after).

Indirect paths: the patient list's search, the staff inbox, a patient's thread list and a
thread id of another patient's thread under one's own record.
"""

from __future__ import annotations

from collections import Counter

import pytest
from fastapi.routing import RouteContext
from fastapi.testclient import TestClient
from security_support import (
    FOREIGN_PATIENT,
    MALFORMED_IDS,
    MISSING_PATIENT,
    OWN_PATIENT,
    World,
    api_routes,
    audit_rows_after,
    https_client,
    last_audit_id,
    open_session,
    param_values,
    path_for,
    send,
    snapshot,
    strip_request_id,
    use_session,
)

from relapsewatch.store.accounts import create_user, set_user_disabled
from relapsewatch.web.policy import rule_for

ACTORS = ("patient A->B", "nurse.b", "clinician.b", "anonymous", "expired", "disabled")
#: Actors whose account could see the own patient, were it not for being signed out.
SIGNED_OUT = frozenset({"anonymous", "expired", "disabled"})
#: Look-alikes of the foreign id: another case, spaces, a NUL, a percent-encoded hyphen (the
#: server decodes it to the foreign id itself), a Unicode hyphen and full-width letters (which
#: NFKC would fold to the foreign id), and a second stored patient the attackers may not see.
LOOK_ALIKES = (
    FOREIGN_PATIENT.lower(),
    f" {FOREIGN_PATIENT} ",
    f"{FOREIGN_PATIENT}%00",
    FOREIGN_PATIENT.replace("-", "%2D"),
    FOREIGN_PATIENT.replace("-", "\u2010"),
    "\uff37-\uff22\uff34\uff3a",
    "W-RISE",
)
VARIANTS = (FOREIGN_PATIENT, MISSING_PATIENT, *MALFORMED_IDS, *LOOK_ALIKES)
#: Sent as written, not percent-encoded (the server decodes them).
RAW = ("%2e%2e", f"{FOREIGN_PATIENT}%00", FOREIGN_PATIENT.replace("-", "%2D"))


class Sessions:
    """The session each actor sends; the expired one is made anew for every attempt (a
    presented expired session is deleted, and the next attempt must meet an expired one too)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.live = {
            "patient A->B": open_session(world, "patient.w-len"),
            "nurse.b": open_session(world, "nurse.b"),
            "clinician.b": open_session(world, "clinician.b"),
        }
        gone = create_user(
            world.factory,
            username="gone.nurse",
            password="harbour pebble violin orchard",
            role="nurse",
            display_name="Gone Nurse",
            now=world.clock.now,
            team_ids=[world.accounts.team_id],
        )
        world.accounts.users["gone.nurse"] = gone
        self.live["disabled"] = open_session(world, "gone.nurse")
        set_user_disabled(world.factory, gone.id, True)

    def of(self, actor: str) -> tuple[str, str] | None:
        if actor == "anonymous":
            return None
        if actor == "expired":
            idle = self.world.app.state.session_policy.idle_staff
            return open_session(self.world, "nurse.a", at=self.world.clock.now - idle * 1.01)
        return self.live[actor]


@pytest.fixture(scope="module")
def sessions(world: World) -> Sessions:
    return Sessions(world)


def _patient_scoped(world: World) -> list[tuple[RouteContext, str]]:
    routes = []
    for route, method in api_routes(world.app):
        rule = rule_for(str(route.name), method)
        if rule is not None and rule.patient_scoped:
            assert rule.action is not None, f"{route.name} is patient-scoped but not audited"
            assert "patient_id" in route.param_convertors, route.name
            routes.append((route, method))
    return routes


def test_idor_matrix(world: World, sessions: Sessions) -> None:
    """A3: every attempt refused, ids unprobeable, one denied audit row each, no change."""
    routes = _patient_scoped(world)
    assert len(routes) >= 9
    before = snapshot(world.engine)
    attempts = 0
    statuses: Counter[int] = Counter()
    problems = []
    with https_client(world.app) as client:
        for route, method in routes:
            for actor in ACTORS:
                variants = VARIANTS + ((OWN_PATIENT,) if actor in SIGNED_OUT else ())
                answers = {}
                for patient_id in variants:
                    # Object ids (a thread) are the foreign patient's, so only the patient id
                    # differs between the stored and the missing variant.
                    values = {
                        **param_values(world, patient_id=FOREIGN_PATIENT),
                        "patient_id": patient_id,
                    }
                    path = path_for(route, values, raw=RAW)
                    use_session(client, sessions.of(actor))
                    last = last_audit_id(world.factory)
                    response = send(client, method, path, headers={"Accept": "*/*"})
                    attempts += 1
                    statuses[response.status_code] += 1
                    where = (route.name, method, actor, patient_id[:20])
                    if response.status_code not in (401, 403, 404):
                        problems.append((*where, "status", response.status_code))
                    rows = audit_rows_after(world.factory, last)
                    if [row.outcome for row in rows] != ["denied"]:
                        problems.append((*where, "audit", [row.outcome for row in rows]))
                    request_id = response.headers["x-request-id"]
                    answers[patient_id] = (
                        response.status_code,
                        strip_request_id(response.text, request_id),
                    )
                if answers[FOREIGN_PATIENT] != answers[MISSING_PATIENT]:
                    problems.append((route.name, method, actor, "stored and missing differ"))
    after = snapshot(world.engine)
    print(
        f"A3 IDOR matrix: {attempts} attempts over {len(routes)} routes, statuses {dict(statuses)}"
    )
    assert problems == []
    assert after == before
    assert attempts >= len(routes) * len(ACTORS) * len(VARIANTS)


def test_the_traversal_id_reaches_the_route_as_dot_dot(world: World, sessions: Sessions) -> None:
    """The raw ``%2e%2e`` variant is not normalised away by the client: the route gets ``..``
    as the patient id (so the matrix tests the id check, not the router's 404)."""
    with https_client(world.app) as client:
        use_session(client, sessions.of("nurse.b"))
        last = last_audit_id(world.factory)
        response = client.get("/patients/%2e%2e", headers={"Accept": "*/*"})
        assert response.status_code == 404
        rows = audit_rows_after(world.factory, last)
        assert [(r.action, r.resource_type, r.outcome) for r in rows] == [
            ("read", "course", "denied")
        ]


def _search(client: TestClient, query: str) -> str:
    response = client.get("/patients", params={"q": query})
    assert response.status_code == 200
    page = strip_request_id(response.text, response.headers["x-request-id"])
    # The session's CSRF token is random text that may happen to hold the query.
    page = page.replace(client.headers.get("X-CSRF-Token", "<none>"), "")
    return page.replace(query, "Q")


def test_search_shows_nothing_of_a_patient_outside_the_care_team(
    world: World, sessions: Sessions
) -> None:
    """Indirect path: nurse.b searching for W-BTZ sees the same page as for a missing id."""
    with https_client(world.app) as client:
        use_session(client, sessions.of("nurse.b"))
        foreign = _search(client, FOREIGN_PATIENT)
        assert _search(client, MISSING_PATIENT) == foreign
        assert _search(client, "W-") == _search(client, "ZZZ-")
        assert f"/patients/{FOREIGN_PATIENT}" not in foreign


def test_the_inbox_lists_only_the_care_teams_threads(world: World, sessions: Sessions) -> None:
    with https_client(world.app) as client:
        use_session(client, sessions.of("nurse.b"))
        page = client.get("/inbox")
        assert page.status_code == 200
        for patient in (OWN_PATIENT, FOREIGN_PATIENT):
            assert patient not in page.text
            assert f"question of {patient}" not in page.text
        use_session(client, open_session(world, "nurse.a"))
        assert FOREIGN_PATIENT in client.get("/inbox").text  # the check above can fail


def test_a_patient_sees_only_their_own_threads(world: World, sessions: Sessions) -> None:
    """The own thread list holds no other patient's thread, and another patient's thread id
    under one's own record is not found (and shows nothing of it)."""
    foreign_thread = world.threads[FOREIGN_PATIENT]
    before = snapshot(world.engine)
    with https_client(world.app) as client:
        use_session(client, sessions.of("patient A->B"))
        own_list = client.get(f"/patients/{OWN_PATIENT}/messages")
        assert own_list.status_code == 200
        assert f"/messages/{world.threads[OWN_PATIENT]}" in own_list.text
        assert f"/messages/{foreign_thread}" not in own_list.text
        for method in ("GET", "POST"):
            response = send(
                client,
                method,
                f"/patients/{OWN_PATIENT}/messages/{foreign_thread}",
                data={"body": "Hello there"} if method == "POST" else None,
            )
            assert response.status_code == 404, method
            assert f"question of {FOREIGN_PATIENT}" not in response.text
            assert FOREIGN_PATIENT not in response.text
    assert snapshot(world.engine) == before
