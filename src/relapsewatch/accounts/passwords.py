"""Password rules and the password hash (RELIABILITY B1; OWASP ASVS 5.0 6.2; NIST SP 800-63B 3.1.1).

Rules, and nothing more (no composition rules, no forced changes):

* at least 8 characters for a patient, 15 for staff and admins (ASVS 6.2.1 and its
  recommendation for privileged accounts), counted in Unicode characters after NFKC
  normalisation, so any script and emoji count as typed;
* at most 256 characters (ASVS 6.2.9 asks that at least 64 are accepted);
* not one of the 30,000 most common passwords (zxcvbn's ranked list; ASVS 6.2.4), compared
  case-insensitively, nor the username itself.

Hashing is argon2id (RFC 9106) at the OWASP Password Storage Cheat Sheet's first
configuration: 19 MiB of memory, 2 iterations, 1 lane, a 16-byte random salt and a 32-byte tag.
argon2 reads the whole password (no 72-byte truncation as with bcrypt), so passwords that
differ anywhere never verify as equal.

>>> stored = hash_password("correct horse battery staple")
>>> stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
True
>>> verify_password(stored, "correct horse battery staple"), verify_password(stored, "wrong")
(True, False)
"""

from __future__ import annotations

import functools
import unicodedata

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from relapsewatch.accounts.roles import STAFF_ROLES
from relapsewatch.errors import RelapsewatchError

__all__ = [
    "HASH_PARAMETERS",
    "MAX_LENGTH",
    "PasswordRejectedError",
    "check_password_rules",
    "common_passwords",
    "hash_password",
    "minimum_length",
    "needs_rehash",
    "verify_nothing",
    "verify_password",
]

#: argon2id parameters (OWASP Password Storage Cheat Sheet, argon2id first option).
HASH_PARAMETERS = {
    "type": "argon2id",
    "memory_kib": 19_456,
    "iterations": 2,
    "parallelism": 1,
    "salt_bytes": 16,
    "hash_bytes": 32,
}

MAX_LENGTH = 256

_HASHER = PasswordHasher(
    time_cost=HASH_PARAMETERS["iterations"],  # type: ignore[arg-type]
    memory_cost=HASH_PARAMETERS["memory_kib"],  # type: ignore[arg-type]
    parallelism=HASH_PARAMETERS["parallelism"],  # type: ignore[arg-type]
    hash_len=HASH_PARAMETERS["hash_bytes"],  # type: ignore[arg-type]
    salt_len=HASH_PARAMETERS["salt_bytes"],  # type: ignore[arg-type]
    type=Type.ID,
)


class PasswordRejectedError(RelapsewatchError, ValueError):
    """A new password breaks a rule; the message says which and what to do instead."""


def _normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of zxcvbn's ranked list (lower case)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-untyped]

    return frozenset(FREQUENCY_LISTS["passwords"])


def minimum_length(role: str) -> int:
    """8 characters for patients, 15 for staff and admins.

    >>> minimum_length("patient"), minimum_length("nurse"), minimum_length("admin")
    (8, 15, 15)
    """
    return 15 if role in STAFF_ROLES or role == "admin" else 8


def check_password_rules(password: str, *, role: str, username: str = "") -> None:
    """Raise :class:`PasswordRejectedError` when ``password`` breaks a rule.

    >>> check_password_rules("letmein1", role="patient")
    Traceback (most recent call last):
    ...
    relapsewatch.accounts.passwords.PasswordRejectedError: This password is one of the most ...
    >>> check_password_rules("tulip river lantern", role="patient")
    """
    text = _normalise(password)
    shortest = minimum_length(role)
    if len(text) < shortest:
        raise PasswordRejectedError(
            f"The password must be at least {shortest} characters long; it has {len(text)}. "
            "A few unrelated words make a long password that is easy to remember."
        )
    if len(text) > MAX_LENGTH:
        raise PasswordRejectedError(
            f"The password must be at most {MAX_LENGTH} characters long; it has {len(text)}."
        )
    folded = text.casefold()
    if folded in common_passwords():
        raise PasswordRejectedError(
            "This password is one of the most common ones, so it is easy to guess. "
            "Choose another: a few unrelated words make a strong one."
        )
    if username and folded == username.casefold():
        raise PasswordRejectedError("The password must not be the username. Choose another.")


def hash_password(password: str) -> str:
    """The argon2id hash of the (NFKC-normalised) password, in PHC string format."""
    return _HASHER.hash(_normalise(password))


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (constant-time inside argon2)."""
    try:
        return _HASHER.verify(stored_hash, _normalise(password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    import secrets

    return hash_password(secrets.token_urlsafe(24))


def verify_nothing(password: str) -> bool:
    """Spend the time of one verification and fail: used for unknown usernames, so that they
    take as long as a wrong password (B2)."""
    verify_password(_dummy_hash(), password)
    return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether a stored hash was made with other parameters (rehash at the next login)."""
    return _HASHER.check_needs_rehash(stored_hash)
