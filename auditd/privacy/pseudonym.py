"""Residents as keyed pseudonyms: HMAC-SHA256 of the identifier, scoped to the municipality.

The same 宛名番号 always gives the same pseudonym in one municipality (so events, cases and the
resident master join), a different one in another municipality of a consortium, and nothing can be
learnt from it without the key (which lives outside the database).
"""

from __future__ import annotations

import hmac
from hashlib import sha256

import numpy as np
import pandas as pd

_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
PSEUDONYM_HEX_CHARS = 32  # 128 bits: no collision in any realistic resident population


def normalize_identifier(value: str) -> str:
    """Trim, ASCII digits, and no leading zeros for all-digit identifiers (systems pad differently)."""
    value = value.strip().translate(_FULLWIDTH)
    if value.isdigit():
        value = value.lstrip("0") or "0"
    return value


class Pseudonymiser:
    """Turns resident identifiers into pseudonyms. No cache: :meth:`series` hashes each distinct value of
    a column once, which is where repetition is, and a cache of a city's residents would cost more
    memory than the hashing it saves."""

    def __init__(self, key: bytes, municipality_code: str) -> None:
        self._key = key
        self._prefix = f"{municipality_code}:".encode()

    def one(self, identifier: str) -> str:
        digest = hmac.digest(self._key, self._prefix + normalize_identifier(identifier).encode(), sha256)
        return digest.hex()[:PSEUDONYM_HEX_CHARS]

    def series(self, identifiers: pd.Series) -> pd.Series:
        """Pseudonyms for a column of identifiers; NA and blank stay NA. One HMAC per distinct value."""
        codes, uniques = pd.factorize(identifiers.astype("str").str.strip().replace("", None))
        if not len(uniques):
            return pd.Series(pd.NA, index=identifiers.index, dtype="str")
        hashed = np.array([self.one(str(u)) for u in uniques] + [None], dtype=object)
        return pd.Series(hashed[codes], index=identifiers.index, dtype="str")  # code -1 (missing) → None


def household_pseudonym(key: bytes, municipality_code: str, household: str) -> str:
    """Pseudonym of a household (世帯番号), in its own namespace so it never equals a resident's."""
    message = f"{municipality_code}:household:{normalize_identifier(household)}".encode()
    return hmac.digest(key, message, sha256).hex()[:PSEUDONYM_HEX_CHARS]
