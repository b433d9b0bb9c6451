"""Who may do what: the role × (route, method) policy table (RELIABILITY A1, A2; ASVS 8.1.1).

Deny by default: a route that is not in :data:`POLICY` cannot be reached by anyone (the
authorisation dependency refuses it, and ``tests/web/test_access_policy.py`` fails on any route
the table does not list). Each entry says

* ``roles``: who may call it once signed in (``PUBLIC`` routes need no login; the list of them
  is short and reviewed: the login page, the health check, static assets);
* ``patient_scoped``: the address names a patient (``{patient_id}``) and the caller must be
  allowed to see that patient (a patient: only their own record; nurses and clinicians: the
  patients of their care teams; admins: any stored patient, for erasure and the access report);
* ``action`` and ``resource``: what the audit trail records for each request (none for pages
  without patient data).

Roles: ``patient``, ``nurse``, ``clinician``, ``admin`` (:mod:`relapsewatch.accounts.roles`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from relapsewatch.accounts.roles import ROLES, STAFF_ROLES

__all__ = ["ANYONE_SIGNED_IN", "POLICY", "PUBLIC_ROUTES", "Rule", "rule_for"]

ANYONE_SIGNED_IN: frozenset[str] = frozenset(ROLES)
STAFF: frozenset[str] = STAFF_ROLES
PATIENT_OR_STAFF: frozenset[str] = frozenset({"patient", *STAFF_ROLES})
ADMIN: frozenset[str] = frozenset({"admin"})


@dataclass(frozen=True, slots=True)
class Rule:
    """The policy of one (route, method)."""

    roles: frozenset[str]
    public: bool = False
    patient_scoped: bool = False
    action: str | None = None
    resource: str = ""

    def allows(self, role: str | None) -> bool:
        return self.public or (role is not None and role in self.roles)


def _public(action: str | None = None, resource: str = "") -> Rule:
    return Rule(frozenset(), public=True, action=action, resource=resource)


def _signed_in(roles: frozenset[str], action: str | None = None, resource: str = "") -> Rule:
    return Rule(roles, action=action, resource=resource)


def _patient(roles: frozenset[str], action: str, resource: str) -> Rule:
    return Rule(roles, patient_scoped=True, action=action, resource=resource)


#: (route name, method) -> rule. HEAD follows GET.
POLICY: Mapping[tuple[str, str], Rule] = {
    # Public: reviewed list (A1). No patient data on any of them.
    ("home", "GET"): _public(),
    ("health", "GET"): _public(),
    ("assets.plotly", "GET"): _public(),
    ("auth.login_form", "GET"): _public(),
    ("auth.login", "POST"): _public("login", "session"),
    # Any signed-in account.
    ("auth.logout", "POST"): _signed_in(ANYONE_SIGNED_IN, "logout", "session"),
    ("auth.password_form", "GET"): _signed_in(ANYONE_SIGNED_IN),
    ("auth.password", "POST"): _signed_in(ANYONE_SIGNED_IN, "update", "password"),
    ("info.page", "GET"): _signed_in(ANYONE_SIGNED_IN),
    ("support.help", "GET"): _signed_in(ANYONE_SIGNED_IN),
    ("support.ask", "GET"): _signed_in(ANYONE_SIGNED_IN),
    ("support.community", "GET"): _signed_in(ANYONE_SIGNED_IN),
    # Patients' records.
    ("patients.list", "GET"): _signed_in(STAFF, "query", "patient_list"),
    ("patients.course", "GET"): _patient(PATIENT_OR_STAFF, "read", "course"),
    ("results.form", "GET"): _patient(STAFF, "read", "result_form"),
    ("results.add", "POST"): _patient(STAFF, "create", "measurement"),
    ("treatments.form", "GET"): _patient(STAFF, "read", "treatment_form"),
    ("treatments.add", "POST"): _patient(STAFF, "create", "treatment"),
    ("imports.form", "GET"): _signed_in(STAFF),
    ("imports.preview", "POST"): _signed_in(STAFF, "import", "import_preview"),
    ("imports.apply", "POST"): _signed_in(STAFF, "import", "import"),
    # Admin pages: accounts, care teams and the audit trail; no clinical data. Every change
    # to an account or a care team is a privilege change and is audited (D1).
    ("admin.users", "GET"): _signed_in(ADMIN),
    ("admin.user_create", "POST"): _signed_in(ADMIN, "create", "account"),
    ("admin.user_disable", "POST"): _signed_in(ADMIN, "update", "account"),
    ("admin.user_enable", "POST"): _signed_in(ADMIN, "update", "account"),
    ("admin.user_reset", "POST"): _signed_in(ADMIN, "update", "account"),
    ("admin.teams", "GET"): _signed_in(ADMIN),
    ("admin.team_create", "POST"): _signed_in(ADMIN, "create", "care_team"),
    ("admin.team_patients", "POST"): _signed_in(ADMIN, "update", "care_team"),
    ("admin.audit", "GET"): _signed_in(ADMIN, "query", "audit_trail"),
    ("admin.audit_export", "GET"): _signed_in(ADMIN, "export", "audit_trail"),
    # Messages between a patient and their care team (only the patient starts a thread).
    ("messages.list", "GET"): _patient(PATIENT_OR_STAFF, "query", "message"),
    ("messages.start", "POST"): _patient(frozenset({"patient"}), "create", "message"),
    ("messages.thread", "GET"): _patient(PATIENT_OR_STAFF, "read", "message"),
    ("messages.reply", "POST"): _patient(PATIENT_OR_STAFF, "create", "message"),
    ("messages.inbox", "GET"): _signed_in(STAFF, "query", "message"),
    # Data rights (D7, G1, G2): who has looked at a record, downloading it, erasing it.
    ("records.access_log", "GET"): _patient(frozenset({"patient", "admin"}), "read", "access_log"),
    ("records.export_page", "GET"): _patient(PATIENT_OR_STAFF, "read", "export_page"),
    ("records.export_json", "GET"): _patient(PATIENT_OR_STAFF, "export", "record_json"),
    ("records.export_csv", "GET"): _patient(PATIENT_OR_STAFF, "export", "record_csv"),
    ("records.erase_form", "GET"): _patient(ADMIN, "read", "erasure_form"),
    ("records.erase", "POST"): _patient(ADMIN, "delete", "patient"),
}


def rule_for(route_name: str, method: str) -> Rule | None:
    """The rule of a route and method; ``None`` (deny) when the table has none."""
    method = "GET" if method == "HEAD" else method
    return POLICY.get((route_name, method))


#: The routes anyone may call without signing in (the reviewed list of RELIABILITY A1).
PUBLIC_ROUTES: frozenset[str] = frozenset(name for (name, _), rule in POLICY.items() if rule.public)
