"""Residents as keyed pseudonyms: HMAC-SHA256 of the identifier, scoped to the municipality.

The same 宛名番号 always gives the same pseudonym in one municipality (so events, cases and the
resident master join), a different one in another municipality of a consortium, and nothing can be
learnt from it without the key (which lives outside the database).
"""

from __future__ import annotations

import hmac
from hashlib import sha256

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
    """Turns resident identifiers into pseudonyms; caches them, as residents repeat in logs."""

    def __init__(self, key: bytes, municipality_code: str, *, cache_limit: int = 2_000_000) -> None:
        self._key = key
        self._prefix = f"{municipality_code}:".encode()
        self._cache: dict[str, str] = {}
        self._cache_limit = cache_limit

    def one(self, identifier: str) -> str:
        cached = self._cache.get(identifier)
        if cached is not None:
            return cached
        digest = hmac.digest(self._key, self._prefix + normalize_identifier(identifier).encode(), sha256)
        value = digest.hex()[:PSEUDONYM_HEX_CHARS]
        if len(self._cache) >= self._cache_limit:
            self._cache.clear()
        self._cache[identifier] = value
        return value

    def series(self, identifiers: pd.Series) -> pd.Series:
        """Pseudonyms for a column of identifiers; NA and blank stay NA. One HMAC per distinct value."""
        present = identifiers.notna() & (identifiers.astype("str").str.strip() != "")
        out = pd.Series(pd.NA, index=identifiers.index, dtype="str")
        if not present.any():
            return out
        values = identifiers[present].astype("str")
        uniques = pd.unique(values)
        mapping = {u: self.one(u) for u in uniques}
        out[present] = values.map(mapping)
        return out


def household_pseudonym(key: bytes, municipality_code: str, household: str) -> str:
    """Pseudonym of a household (世帯番号), in its own namespace so it never equals a resident's."""
    message = f"{municipality_code}:household:{normalize_identifier(household)}".encode()
    return hmac.digest(key, message, sha256).hex()[:PSEUDONYM_HEX_CHARS]
