"""RFC 6238 as auditd uses it: 30-second steps, 6 digits, one step of drift, each step once; the
secret sealed to its user."""

from __future__ import annotations

import base64

import pyotp
import pytest

from auditd.auth import totp
from auditd.errors import ConfigError
from auditd.privacy.vault import Vault

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = 1_780_000_015.0  # 15 s into a step


def code(step: int) -> str:
    return pyotp.TOTP(SECRET).generate_otp(step)


def test_the_rfc_6238_test_vector():
    # RFC 6238 Appendix B, SHA-1, T = 59 s: 94287082 (8 digits); the 6-digit code is its last six
    key = base64.b32encode(b"12345678901234567890").decode()
    assert totp.matching_step(key, "287082", now=59) == 1


@pytest.mark.parametrize(("offset", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)])
def test_one_step_of_drift_either_way(offset: int, accepted: bool):
    step = totp.current_step(NOW)
    assert (totp.matching_step(SECRET, code(step + offset), now=NOW) is not None) is accepted


def test_a_step_at_or_before_the_last_accepted_is_refused():
    step = totp.current_step(NOW)
    assert totp.matching_step(SECRET, code(step), now=NOW, after=step - 1) == step
    assert totp.matching_step(SECRET, code(step), now=NOW, after=step) is None
    assert totp.matching_step(SECRET, code(step - 1), now=NOW, after=step) is None
    assert totp.matching_step(SECRET, code(step + 1), now=NOW, after=step) == step + 1


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef", "12 34 5", "１２３"])
def test_what_is_not_six_digits_matches_nothing(typed: str):
    assert totp.normalise_code(typed) is None
    assert totp.matching_step(SECRET, typed, now=NOW) is None


def test_secrets_are_160_bits_of_base32_and_sealed_to_their_user():
    secret = totp.new_secret()
    assert len(secret) == 32 and set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    vault = Vault(b"k" * 32)
    sealed = totp.seal(vault, "999997", 7, secret)
    assert secret.encode() not in sealed
    assert totp.open_sealed(vault, "999997", 7, sealed) == secret
    with pytest.raises(ConfigError, match="platform user #8"):
        totp.open_sealed(vault, "999997", 8, sealed)  # copied onto another user's row


def test_the_uri_is_what_authenticator_apps_import():
    uri = totp.provisioning_uri(SECRET, "sato@999997", "auditd")
    assert uri.startswith("otpauth://totp/auditd:sato%40999997?") and f"secret={SECRET}" in uri
    assert totp.grouped(SECRET).split() == [SECRET[i : i + 4] for i in range(0, 32, 4)]
