"""The TOTP second factor (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits).

A code is accepted for the current step and one step either side (clock drift between the server
and a phone), and only for a step later than the last one accepted for that user: a code seen over
someone's shoulder, or replayed from a proxy log, is refused even inside its window (RFC 6238 §5.2).

Secrets are stored sealed by the :class:`~auditd.privacy.vault.Vault` (AES-256-GCM), bound to the
municipality and the user's id, so a sealed secret copied onto another user's row does not open.
"""

from __future__ import annotations

import hmac
import re
import time

import pyotp

from auditd.errors import ConfigError
from auditd.privacy.vault import Vault

STEP_SECONDS = 30
DIGITS = 6
#: Steps accepted either side of the current one.
DRIFT_STEPS = 1
_CODE = re.compile(r"\d{6}")


def new_secret() -> str:
    """A random secret: 160 bits (RFC 4226's recommended length), base32 as authenticator apps take it."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app imports (typed in or pasted; auditd draws no QR code)."""
    uri: str = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )
    return uri


def grouped(secret: str) -> str:
    """The secret in groups of four, easier to type into a phone."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def normalise_code(code: str) -> str | None:
    """The six digits of what a person typed (spaces and full-width digits allowed), or None."""
    cleaned = "".join(ch for ch in code if not ch.isspace())
    cleaned = cleaned.translate({ord("０") + d: str(d) for d in range(10)})
    return cleaned if _CODE.fullmatch(cleaned) else None


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def matching_step(secret: str, code: str, *, now: float | None = None, after: int | None = None) -> int | None:
    """The time step ``code`` belongs to, within the drift allowance and later than ``after``, or None.

    Every candidate step is compared (in constant time), so the time taken does not say which step
    matched or whether any did.
    """
    digits = normalise_code(code)
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    step = current_step(now)
    found: int | None = None
    for candidate in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
        expected = totp.generate_otp(candidate)
        same = hmac.compare_digest(expected, digits or "------")
        if same and digits is not None and (after is None or candidate > after) and found is None:
            found = candidate
    return found


def _binding(user_id: int) -> str:
    return f"platform_user:{user_id}:totp"


def seal(vault: Vault, municipality_code: str, user_id: int, secret: str) -> bytes:
    return vault.seal(municipality_code, _binding(user_id), secret)


def open_sealed(vault: Vault, municipality_code: str, user_id: int, sealed: bytes) -> str:
    try:
        return vault.open(municipality_code, _binding(user_id), sealed)
    except ConfigError as exc:
        raise ConfigError(
            f"the TOTP secret of platform user #{user_id} does not decrypt with this key",
            hint="the encryption key changed since enrolment, or the row was altered: "
            "enrol again with `auditd user totp USERNAME --reset`",
        ) from exc


def pending_binding(user_id: int) -> str:
    """Binding of a secret offered at enrolment and carried, sealed, in the login session until confirmed."""
    return f"platform_user:{user_id}:totp-enrolment"
