"""Find and mask 個人番号 (My Number) in any text, vectorised over pandas columns.

A 個人番号 is 12 digits whose last digit is a check digit over the first eleven (番号法施行令 第8条):
with P(n) the n-th digit counted from the right of the first eleven and Q(n) = n + 1 for n ≤ 6,
n − 5 for n ≥ 7, the check digit is 11 − (Σ P(n)·Q(n) mod 11), or 0 when that remainder is 0 or 1.

Candidates are written with ASCII or full-width digits, optionally as 4-4-4 groups separated by a
hyphen or dash of any kind, a dot, a slash or one or two spaces (ASCII or full-width), and must not
touch other digits (so a 13-digit 法人番号 or a phone number is
left alone). Only candidates that pass the check digit are masked: about one random 12-digit number
in ten passes, which is the price of never storing a real one.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

MASK = "[個人番号]"

_DIGIT = "[0-9０-９]"
_SEP = "(?:[-－‐‑‒–—―−.．/／・]|[ 　]{1,2})?"
# Without look-arounds so that Arrow's RE2 can run it as a fast pre-filter over whole columns.
_PREFILTER = f"(?:^|[^0-9０-９]){_DIGIT}{{4}}{_SEP}{_DIGIT}{{4}}{_SEP}{_DIGIT}{{4}}(?:[^0-9０-９]|$)"
_CANDIDATE = re.compile(f"(?<![0-9０-９])({_DIGIT}{{4}}{_SEP}{_DIGIT}{{4}}{_SEP}{_DIGIT}{{4}})(?![0-9０-９])")
_TO_ASCII = str.maketrans("０１２３４５６７８９", "0123456789", "-－‐‑‒–—―−.．/／・ 　")

# Weights Q(n) applied to the first eleven digits read left to right (P(11) … P(1)).
_WEIGHTS = np.array([6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2], dtype=np.int64)


def check_digit(first_eleven: str) -> int:
    """The check digit of the first eleven digits of a 個人番号."""
    if len(first_eleven) != 11 or not first_eleven.isdigit():
        raise ValueError(f"expected eleven digits, got {first_eleven!r}")
    digits = np.frombuffer(first_eleven.encode("ascii"), dtype=np.uint8).astype(np.int64) - 48
    remainder = int(digits @ _WEIGHTS) % 11
    return 0 if remainder <= 1 else 11 - remainder


def is_mynumber(value: str) -> bool:
    """True if ``value`` (ASCII or full-width digits, separators allowed) is a valid 個人番号."""
    digits = value.translate(_TO_ASCII)
    return len(digits) == 12 and digits.isdigit() and check_digit(digits[:11]) == int(digits[11])


def valid_mask(twelve_digit: pd.Series) -> np.ndarray:
    """Vectorised check-digit test over a Series of 12-character ASCII digit strings."""
    if twelve_digit.empty:
        return np.zeros(0, dtype=bool)
    raw = "".join(twelve_digit.tolist()).encode("ascii")
    digits = (np.frombuffer(raw, dtype=np.uint8).astype(np.int64) - 48).reshape(-1, 12)
    remainder = (digits[:, :11] @ _WEIGHTS) % 11
    expected = np.where(remainder <= 1, 0, 11 - remainder)
    return np.asarray(expected == digits[:, 11])


def _mask_text(text: str) -> tuple[str, bool]:
    parts: list[str] = []
    done = start = 0
    while (match := _CANDIDATE.search(text, start)) is not None:
        if is_mynumber(match.group(1)):
            parts += [text[done : match.start()], MASK]
            done = start = match.end()
        else:
            start = match.start() + 1
    if not parts:
        return text, False
    parts.append(text[done:])
    return "".join(parts), True


def mask_text(text: str) -> tuple[str, bool]:
    """Mask every 個人番号 in one string; returns the text and whether anything was masked."""
    return _mask_text(text)


_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def unescape_if_hiding(text: str) -> str:
    """``text`` with its JSON ``\\uXXXX`` escapes decoded when they hide a 個人番号 (``json.dumps`` writes
    full-width digits that way), so that masking finds it; otherwise ``text`` unchanged. For records kept
    as received (quarantine), whose fields were never decoded."""
    if "\\u" not in text:
        return text
    decoded = _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return decoded if _mask_text(decoded)[1] else text


def mask_series(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Mask every 個人番号 in a column. Returns the masked column and a boolean array of rows changed.

    The column is filtered with one RE2 pass first; only the few rows that hold a 12-digit run are
    looked at in Python, so the cost on ordinary log columns is that single pass.
    """
    flags = np.zeros(len(values), dtype=bool)
    if values.empty:
        return values, flags
    strings = values.astype("str") if values.dtype != "str" else values
    candidates = strings.str.contains(_PREFILTER, regex=True, na=False).to_numpy(dtype=bool)
    if not candidates.any():
        return values, flags
    positions = np.flatnonzero(candidates)
    replaced: list[str] = []
    changed: list[bool] = []
    for text in strings.iloc[positions].tolist():
        masked, found = _mask_text(text)
        replaced.append(masked)
        changed.append(found)
    values_out = strings.to_numpy(dtype=object, copy=True)
    values_out[positions] = replaced
    flags[positions] = changed
    return pd.Series(values_out, index=values.index, dtype="str"), flags


def mask_frame(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Mask the given text columns of ``frame`` in place; returns the per-row 'something masked' flags."""
    flags = np.zeros(len(frame), dtype=bool)
    for column in columns:
        if column not in frame.columns:
            continue
        masked, changed = mask_series(frame[column])
        if changed.any():
            frame[column] = masked
            flags |= changed
    return flags
