"""Generated requests against every operation of the app's own API description (C1, C2).

schemathesis reads the OpenAPI document the app serves when ``openapi`` is on (off in
production, H3) and generates requests for every operation, valid and invalid, with a fixed
seed: at least 200 per operation, signed in as a nurse (team A) and separately as the patient
W-LEN, with the session cookie and the CSRF header (a fresh session for every request, so a
generated logout or password change does not end the run). Every response must be below 500
and hold no stack trace, SQL, driver name or file path, and nothing of the canary patient, a
patient of care team B that neither account may see (C2).

SQLite only: this checks what the routes answer to any input, which does not depend on the
database; the access rules are checked on both backends by the matrices of test_idor.py and
test_access_policy.py.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from security_support import (
    CANARY_MESSAGE,
    CANARY_PATIENT,
    World,
    api_routes,
    build_world,
    open_session,
)

from relapsewatch.io import CanonicalTables
from relapsewatch.web.auth import SESSION_COOKIE
from relapsewatch.web.policy import rule_for

#: Text that must never reach a response: the canary patient, code and database internals.
FORBIDDEN = (
    CANARY_PATIENT,
    CANARY_MESSAGE,
    "Traceback",
    'File "/',
    "sqlalchemy",
    "psycopg",
    "SELECT ",
    "sqlite3.",
)
EXAMPLES = 200
#: Cases for an operation the account's role may not call: ``authorize`` refuses it before the
#: route reads any input, so these only check that the refusal never fails or leaks.
REFUSED_EXAMPLES = 25
FUZZ_SEED = 20261123


@pytest.fixture(scope="module")
def world(cohort: CanonicalTables, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The app on a SQLite file in memory-backed storage when there is some (``/dev/shm``):
    every request writes (session activity, audit rows), and a disk's syncs would make the
    run three times slower without testing anything more."""
    shm = Path("/dev/shm")
    folder = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{folder / 'fuzz.sqlite3'}"
    try:
        made = build_world(url, cohort, folder / "staging", openapi=True, canary=True)
        yield made
        made.engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _problems(response: Any) -> list[str]:
    found = []
    if response.status_code >= 500:
        found.append(f"status {response.status_code}")
    body = response.content.decode("utf-8", "replace")
    found.extend(f"contains {text!r}" for text in FORBIDDEN if text in body)
    return found


def _run_operation(world: World, username: str, operation: Any, examples: int) -> int:
    """Run ``examples`` generated cases (valid and invalid) of one operation; the count run."""
    label = f"{operation.method.upper()} {operation.path}"
    ran = 0
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @seed(FUZZ_SEED)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        nonlocal ran
        token, csrf = open_session(world, username)
        headers = {"Cookie": f"{SESSION_COOKIE}={token}", "X-CSRF-Token": csrf}
        response = case.call(headers=headers)
        ran += 1
        problems = _problems(response)
        assert not problems, (label, case.path_parameters, case.query, problems)

    run()
    return ran


def _fuzz(world: World, username: str) -> dict[str, tuple[int, int]]:
    """Every operation of the schema: ``{operation: (cases asked for, cases run)}``."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    role = world.user(username).role
    names = _operation_names(world)
    counts = {}
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"
        rule = rule_for(names[label], operation.method.upper())
        examples = EXAMPLES if rule is not None and rule.allows(role) else REFUSED_EXAMPLES
        counts[label] = (examples, _run_operation(world, username, operation, examples))
    return counts


def _operation_names(world: World) -> dict[str, str]:
    return {
        f"{method} {route.path_format}": str(route.name) for route, method in api_routes(world.app)
    }


@pytest.mark.slow
@pytest.mark.parametrize("username", ["nurse.a", "patient.w-len"])
def test_generated_requests_get_no_server_error_and_leak_nothing(
    world: World, username: str
) -> None:
    started = time.perf_counter()
    counts = _fuzz(world, username)
    total = sum(ran for _, ran in counts.values())
    full = [label for label, (asked, _) in counts.items() if asked == EXAMPLES]
    print(
        f"C1/C2 fuzz as {username}: {total} requests over {len(counts)} operations "
        f"({len(full)} at {EXAMPLES} cases) in {time.perf_counter() - started:.1f} s"
    )
    assert len(full) >= 8
    # An operation with few possible inputs (no parameters) runs fewer; the others run all.
    assert sum(ran == asked for asked, ran in counts.values()) >= len(counts) // 2
