"""The main menu of each role: which pages it lists, in order.

Each entry names a route and the section it highlights; entries whose route takes the
patient's id are filled in with the signed-in patient's own id. A role sees only pages its
policy allows (``tests/web/test_access_policy.py`` checks every entry against the table).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from relapsewatch.store.accounts import SignedIn
from relapsewatch.web.templating import url_path

__all__ = ["ACCOUNT_MENU", "MAIN_MENU", "MenuItem", "menu_for"]


@dataclass(frozen=True, slots=True)
class MenuItem:
    route: str
    label: str
    section: str
    #: The route takes ``patient_id`` (the signed-in patient's own).
    own_record: bool = False


#: Nurses and clinicians see the same pages.
_STAFF_MENU = (
    MenuItem("patients.list", "Patients", "patients"),
    MenuItem("messages.inbox", "Inbox", "inbox"),
    MenuItem("imports.form", "Import", "import"),
    MenuItem("support.help", "Help and support", "support"),
    MenuItem("support.community", "Community", "community"),
)

MAIN_MENU: dict[str, tuple[MenuItem, ...]] = {
    "patient": (
        MenuItem("patients.course", "My record", "patients", own_record=True),
        MenuItem("messages.list", "Messages", "messages", own_record=True),
        MenuItem("support.help", "Help and support", "support"),
        MenuItem("support.community", "Community", "community"),
    ),
    "nurse": _STAFF_MENU,
    "clinician": _STAFF_MENU,
    "admin": (
        MenuItem("admin.users", "Accounts", "accounts"),
        MenuItem("admin.teams", "Care teams", "teams"),
        MenuItem("admin.audit", "Audit trail", "audit"),
    ),
}

#: Under the account's name: the same for every role, plus the patient's own data pages.
ACCOUNT_MENU: dict[str, tuple[MenuItem, ...]] = {
    "patient": (
        MenuItem("auth.password_form", "Change password", "account"),
        MenuItem("records.access_log", "Who has seen my record", "account", own_record=True),
        MenuItem("records.export_page", "Download my record", "account", own_record=True),
    ),
    "nurse": (MenuItem("auth.password_form", "Change password", "account"),),
    "clinician": (MenuItem("auth.password_form", "Change password", "account"),),
    "admin": (MenuItem("auth.password_form", "Change password", "account"),),
}


def _links(
    request: Request, items: tuple[MenuItem, ...], signed_in: SignedIn
) -> list[tuple[str, str, str]]:
    links = []
    for item in items:
        params = {}
        if item.own_record:
            if signed_in.account.patient_id is None:
                continue
            params["patient_id"] = signed_in.account.patient_id
        links.append((url_path(request.app, item.route, **params), item.label, item.section))
    return links


def menu_for(
    request: Request, signed_in: SignedIn | None
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """``(main, account)`` menus as (address, label, section), empty when not signed in."""
    if signed_in is None:
        return [], []
    role = signed_in.account.role
    return (
        _links(request, MAIN_MENU.get(role, ()), signed_in),
        _links(request, ACCOUNT_MENU.get(role, ()), signed_in),
    )
