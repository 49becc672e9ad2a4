"""Argon2id password hashing (argon2-cffi defaults, RFC 9106 low-memory profile)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
# Verified against when the username is unknown, so a login takes as long either way and its
# timing does not tell whether an account exists.
_DUMMY_HASH = _hasher.hash("auditd-dummy-password-for-timing")

MIN_PASSWORD_LENGTH = 12
#: Long enough for any passphrase, short enough that hashing a submitted value costs a bounded time.
MAX_PASSWORD_LENGTH = 256


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches ``password_hash``. With no hash (an unknown user) the dummy hash is
    verified instead and the answer is False: the same work is done either way."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with older parameters: rehash it at the next successful login."""
    return _hasher.check_needs_rehash(password_hash)
