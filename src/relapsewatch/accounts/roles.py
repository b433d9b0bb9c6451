"""The roles of the web app (DESIGN "Web app"; RELIABILITY A2).

* ``patient``: linked to exactly one patient record, sees only that record.
* ``nurse`` and ``clinician``: see the patients of the care teams they belong to.
* ``admin``: manages accounts, care teams and the audit trail; no clinical data by default.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["ROLES", "STAFF_ROLES", "Role"]

Role = Literal["patient", "nurse", "clinician", "admin"]

#: Every role, in the order pages list them.
ROLES: tuple[Role, ...] = get_args(Role)

#: The roles that look after patients.
STAFF_ROLES: frozenset[Role] = frozenset({"nurse", "clinician"})
