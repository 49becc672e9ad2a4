"""Authenticated encryption (AES-256-GCM) of resident identifiers, for display to authorised officers.

The ciphertext is bound to its municipality and pseudonym as associated data, so a ciphertext
copied onto another resident's row fails to decrypt instead of showing the wrong person.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from auditd.errors import ConfigError

NONCE_BYTES = 12


class Vault:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ConfigError("the encryption key must be 32 bytes")
        self._aead = AESGCM(key)

    @staticmethod
    def _aad(municipality_code: str, pseudonym: str) -> bytes:
        return f"{municipality_code}:{pseudonym}".encode()

    def seal(self, municipality_code: str, pseudonym: str, identifier: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, identifier.encode(), self._aad(municipality_code, pseudonym))

    def open(self, municipality_code: str, pseudonym: str, sealed: bytes) -> str:
        try:
            plain = self._aead.decrypt(
                sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], self._aad(municipality_code, pseudonym)
            )
        except InvalidTag as exc:
            raise ConfigError(
                "a stored resident identifier does not decrypt with this key",
                hint="the encryption key differs from the one used at ingest, or the row was altered",
            ) from exc
        return plain.decode()
