"""NUL characters in any input never cause a server error (C1 on PostgreSQL, whose text type
cannot hold NUL, where SQLite stores it; the fuzz tests run on SQLite only)."""

from __future__ import annotations

from security_support import (
    OWN_PATIENT,
    World,
    api_routes,
    https_client,
    open_session,
    param_values,
    path_for,
    use_session,
)

from relapsewatch.web.policy import rule_for

NUL = "a\x00b"
#: Every form field and query parameter name the app's routes read, filled with a NUL.
FIELDS = (
    "username",
    "password",
    "display_name",
    "role",
    "patient_id",
    "team_ids",
    "name",
    "notify_email",
    "patient_ids",
    "new_password",
    "current_password",
    "subject",
    "body",
    "date",
    "test",
    "value",
    "unit",
    "method",
    "sensitivity",
    "regimen",
    "start_date",
    "end_date",
    "version",
    "q",
    "next",
    "confirm",
    "reason",
    "token",
    "upload_id",
)


def test_nul_in_any_field_or_parameter_is_never_a_server_error(world: World) -> None:
    values = param_values(world, patient_id=OWN_PATIENT)
    roles = {"patient": "patient.w-len", "nurse": "nurse.a", "admin": "admin"}
    errors = []
    with https_client(world.app) as client:
        for route, method in api_routes(world.app):
            rule = rule_for(str(route.name), method)
            assert rule is not None
            users = [None] if rule.public else [u for r, u in roles.items() if r in rule.roles]
            for user in users or [None]:
                use_session(client, open_session(world, user) if user else None)
                data = dict.fromkeys(FIELDS, NUL)
                path = path_for(route, values)
                if method == "GET":
                    response = client.get(path, params=data, headers={"Accept": "*/*"})
                else:
                    response = client.request(method, path, data=data)
                if response.status_code >= 500:
                    errors.append((route.name, method, user, response.status_code))
    assert errors == [], errors
