"""Accounts without storage: roles, the password rules and the password hash.

The database side (users, sessions, care teams, lockouts) is :mod:`relapsewatch.store.accounts`;
the web side (cookies, CSRF, the policy table) is :mod:`relapsewatch.web.auth`.
"""

from relapsewatch.accounts.passwords import (
    HASH_PARAMETERS,
    PasswordRejectedError,
    check_password_rules,
    hash_password,
    minimum_length,
    needs_rehash,
    verify_password,
)
from relapsewatch.accounts.roles import ROLES, STAFF_ROLES, Role

__all__ = [
    "HASH_PARAMETERS",
    "ROLES",
    "STAFF_ROLES",
    "PasswordRejectedError",
    "Role",
    "check_password_rules",
    "hash_password",
    "minimum_length",
    "needs_rehash",
    "verify_password",
]
