"""RELIABILITY A5 (a): every write takes only the fields its form declares.

For every unsafe (route, method) of the app, generated from its routes, a role the policy
allows sends the form with one extra field: an unknown one, or a server-owned one (an id, the
patient, the author, the role, a time). Each is refused with 422 and nothing in the database
changes. The same request without the extra field is not refused for its fields.
"""

from __future__ import annotations

from security_support import (
    ACTOR_OF_ROLE,
    FOREIGN_PATIENT,
    OWN_PATIENT,
    UNSAFE_METHODS,
    World,
    api_routes,
    https_client,
    open_session,
    param_values,
    path_for,
    snapshot,
    use_session,
)

from relapsewatch.accounts.roles import ROLES
from relapsewatch.web.policy import rule_for

#: Fields no form of this site takes: the server sets them.
SERVER_OWNED = {
    "id": "1",
    "patient_id": FOREIGN_PATIENT,
    "author_user_id": "1",
    "role": "admin",
    "created_at": "2020-01-01T00:00:00Z",
    "unexpected": "x",
}


def test_every_write_refuses_unknown_and_server_owned_fields(world: World) -> None:
    values = param_values(world, patient_id=OWN_PATIENT)
    refused = 0
    with https_client(world.app) as client:
        for route, method in api_routes(world.app):
            if method not in UNSAFE_METHODS:
                continue
            rule = rule_for(route.name, method)
            assert rule is not None
            role = next((r for r in ROLES if rule.allows(r)), None)
            path = path_for(route, values)
            declared = {param.alias for param in route.dependant.body_params}
            for field, value in SERVER_OWNED.items():
                if field in declared:  # e.g. the patient a new patient account is linked to
                    continue
                if route.name == "auth.login":
                    use_session(client, None)
                else:
                    assert role is not None, route.name
                    use_session(client, open_session(world, ACTOR_OF_ROLE[role]))
                before = snapshot(world.engine)
                response = client.request(method, path, data={field: value})
                assert response.status_code == 422, (route.name, field, response.status_code)
                assert field in response.text
                assert snapshot(world.engine) == before, (route.name, field)
                refused += 1
    print(f"A5: {refused} writes with an undeclared field refused")
    assert refused >= 6 * 10


def test_the_declared_fields_alone_are_not_refused_for_their_names(world: World) -> None:
    with https_client(world.app) as client:
        use_session(client, open_session(world, "patient.w-len"))
        response = client.post(
            f"/patients/{OWN_PATIENT}/messages", data={"subject": "A question", "body": "Hello"}
        )
        assert response.status_code == 303
