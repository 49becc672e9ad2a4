"""Raw records → canonical columns, vectorised. Records that cannot be mapped are rejected with why.

Every step works on whole columns (pandas / Arrow); nothing here loops over records in Python
except code tables, which are applied once per distinct value.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import String

from auditd.events.models import ACTIONS, RESULTS, Event
from auditd.jp.wareki import parse_wareki, to_halfwidth
from auditd.store.base import table_of
from collectors.formats.base import RawChunk
from collectors.profile import FieldSpec, Profile

_OFFSET = r"(?:[zZ]|[+-]\d{2}:?\d{2})$"
#: Length limits of the canonical text fields (the store's column sizes). ``subject`` is hashed.
TEXT_LIMITS = {
    name: int(column.type.length)
    for name, column in table_of(Event).c.items()
    if isinstance(column.type, String)
    and column.type.length
    and name not in ("event_id", "subject_hash", "raw_ref", "municipality_code", "source")
}
TEXT_LIMITS["subject"] = 256
#: Characters of a record at most: a record of megabytes is garbage (CSV fields stop at the same size).
MAX_RECORD_CHARS = 1 << 20
#: The largest value of the canonical number fields (``subject_count`` is a 32-bit column, ``seq`` 64-bit).
NUMBER_LIMITS = {"subject_count": 2**31 - 1, "seq": 2**63 - 1}
_SPLIT_CACHE: dict[str, re.Pattern[str]] = {}


class Rejection:
    """Per-row first reason for rejection, filled field by field (earlier reasons win)."""

    def __init__(self, size: int) -> None:
        self.code = np.full(size, None, dtype=object)
        self.reason = np.full(size, None, dtype=object)

    def add(self, mask: np.ndarray | pd.Series, code: str, reason: str | pd.Series) -> None:
        mask = np.asarray(mask, dtype=bool) & (self.code == None)  # noqa: E711 - numpy elementwise
        if not mask.any():
            return
        self.code[mask] = code
        self.reason[mask] = reason[mask].to_numpy() if isinstance(reason, pd.Series) else reason

    @property
    def rejected(self) -> np.ndarray:
        return np.asarray(self.code != None)  # noqa: E711


def column_of(records: pd.DataFrame, ref: str | int) -> pd.Series:
    """A raw column by name, or by 0-based position when ``ref`` is an int."""
    if isinstance(ref, int):
        if ref >= records.shape[1]:
            return pd.Series(pd.NA, index=records.index, dtype="str")
        return records.iloc[:, ref].astype("str")
    if ref not in records.columns:
        return pd.Series(pd.NA, index=records.index, dtype="str")
    return records[ref].astype("str")


def raw_values(records: pd.DataFrame, spec: FieldSpec) -> pd.Series:
    """The field's raw text: column(s) or constant, stripped, empty → NA, then the default."""
    if spec.value is not None:
        values = pd.Series(spec.value, index=records.index, dtype="str")
    elif spec.columns:
        parts = [column_of(records, ref).fillna("") for ref in spec.columns]
        values = parts[0]
        for part in parts[1:]:
            values = values + " " + part
    elif spec.column is not None:
        values = column_of(records, spec.column)
    else:
        values = pd.Series(pd.NA, index=records.index, dtype="str")
    values = values.str.strip()
    values = values.mask(values == "")
    if spec.default is not None:
        values = values.fillna(spec.default)
    return values


def apply_codes(values: pd.Series, table: dict[str, str], split: str | None) -> tuple[pd.Series, pd.Series]:
    """Map through a code table. Returns (mapped, unknown-mask). Codes match after half-width folding."""
    folded = {to_halfwidth(pd.Series([k], dtype="str")).iloc[0].strip(): v for k, v in table.items()}
    normalised = to_halfwidth(values).str.strip()
    if split:
        pattern = _SPLIT_CACHE.setdefault(split, re.compile("[" + re.escape(split) + "]"))
        uniques = pd.unique(normalised.dropna())
        mapped_unique: dict[str, str | None] = {}
        for value in uniques:
            parts = [p.strip() for p in pattern.split(value) if p.strip()]
            mapped_parts = [folded.get(p) for p in parts]
            mapped_unique[value] = None if any(m is None for m in mapped_parts) else ",".join(sorted(set(mapped_parts)))  # type: ignore[arg-type]
        mapped = normalised.map(mapped_unique).astype("str")
    else:
        mapped = normalised.map(folded).astype("str")
    unknown = normalised.notna() & mapped.isna()
    return mapped, unknown


def whole_numbers(values: pd.Series, *, lowest: int, highest: int) -> pd.Series:
    """Whole numbers from ``lowest`` to ``highest`` (full-width digits and thousands separators
    allowed); NA for anything else, including what the store's integer column could not hold."""
    numbers = pd.to_numeric(to_halfwidth(values).str.replace(",", "", regex=False), errors="coerce")
    fits = (numbers >= lowest) & (numbers < highest + 1) & (numbers == np.floor(numbers))
    return numbers.where(fits.fillna(False)).astype("Int64")


def field_values(
    records: pd.DataFrame, name: str, spec: FieldSpec, profile: Profile, rejection: Rejection
) -> pd.Series:
    """A field's text: from its column(s) or constant, through its code table. A code missing from a
    strict table rejects the record (naming the field and the table); a lenient table keeps it as is."""
    values = raw_values(records, spec)
    if not spec.map:
        return values
    mapped, unknown = apply_codes(values, profile.codes[spec.map], spec.split)
    if not spec.strict:
        return mapped.fillna(values)
    reason = f"{name}: value not in code table {spec.map}: " + values.fillna("")
    rejection.add(unknown.to_numpy(), "unknown_code", reason)
    return mapped


def parse_timestamps(values: pd.Series, formats: list[str], tz: ZoneInfo) -> pd.Series:
    """Parse with each format in turn (first success wins); naive times are in ``tz``. Result in UTC.
    Times outside years 1–9999, in UTC or in ``tz``, are missing: no date type of Python holds them."""
    text = to_halfwidth(values).str.strip()
    result = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
    todo = text.notna()
    for fmt in formats:
        if not todo.any():
            break
        part = text[todo]
        parsed = _parse_one_format(part, fmt, tz)
        ok = parsed.notna()
        result.loc[ok[ok].index] = parsed[ok]
        todo.loc[ok[ok].index] = False
    fits = result.dt.year.between(1, 9999) & result.dt.tz_convert(tz).dt.year.between(1, 9999)
    return result.where(fits)


def _localize(naive: pd.Series, tz: ZoneInfo) -> pd.Series:
    local: pd.Series = naive.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    return local


def _iso_one(value: object, tz: ZoneInfo) -> Any:
    """One ISO 8601 text as a UTC instant (NaT if unreadable): its own offset, else Japan's (``tz``)."""
    if not isinstance(value, str):
        return pd.NaT
    parsed = pd.to_datetime(value, format="ISO8601", errors="coerce")
    if pd.isna(parsed):
        return pd.NaT
    stamp: Any = pd.Timestamp(parsed)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    return pd.NaT if pd.isna(stamp) else stamp.tz_convert("UTC")


def _parse_one_format(text: pd.Series, fmt: str, tz: ZoneInfo) -> pd.Series:
    if fmt == "wareki":
        return _localize(parse_wareki(text).astype("datetime64[us]"), tz)
    if fmt in ("epoch_s", "epoch_ms"):
        numbers = pd.to_numeric(text, errors="coerce")
        epoch: pd.Series = pd.to_datetime(numbers, unit="s" if fmt == "epoch_s" else "ms", utc=True, errors="coerce")
        return epoch.astype("datetime64[us, UTC]")
    if fmt == "iso":
        has_offset = text.str.contains(_OFFSET, regex=True, na=False)
        out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us, UTC]")
        if has_offset.any():
            aware = pd.to_datetime(text[has_offset], format="ISO8601", utc=True, errors="coerce")
            out.loc[has_offset] = aware.astype("datetime64[us, UTC]")
        naive_mask = ~has_offset
        if naive_mask.any():
            try:
                naive = pd.to_datetime(text[naive_mask], format="ISO8601", errors="coerce")
            except ValueError:  # plain times mixed with an offset the pattern does not know: one at a time
                out.loc[naive_mask] = [_iso_one(value, tz) for value in text[naive_mask]]
                return out
            if isinstance(naive.dtype, pd.DatetimeTZDtype):  # only offsets the pattern does not know
                out.loc[naive_mask] = naive.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
            else:
                out.loc[naive_mask] = _localize(naive.astype("datetime64[us]"), tz)
        return out
    parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return parsed.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    return _localize(parsed.astype("datetime64[us]"), tz)


def map_event_chunk(chunk: RawChunk, profile: Profile) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical event columns for the chunk's records, and the rejected ones.

    Returns ``(events, rejected)``: ``events`` has the canonical fields plus ``_text`` and ``_line``;
    ``rejected`` has ``_text``, ``_line``, ``reason_code``, ``reason``.
    """
    records = chunk.records
    size = len(records)
    out = pd.DataFrame(index=records.index)
    rejection = Rejection(size)
    tz = ZoneInfo(profile.timezone)
    enormous = np.fromiter((len(t) > MAX_RECORD_CHARS for t in chunk.texts), dtype=bool, count=len(chunk.texts))
    rejection.add(enormous, "too_long", f"the record is longer than {MAX_RECORD_CHARS:,} characters")

    for name, spec in profile.fields.items():
        values = field_values(records, name, spec, profile, rejection)
        if name == "ts":
            formats = spec.formats or ["iso"]
            ts = parse_timestamps(values, formats, tz)
            bad = values.notna() & ts.isna()
            rejection.add(
                bad.to_numpy(),
                "bad_timestamp",
                "ts: not a valid time in " + "/".join(formats) + ": " + values.fillna(""),
            )
            out["ts"] = ts
        elif name in ("subject_count", "seq"):
            highest = NUMBER_LIMITS[name]
            numbers = whole_numbers(values, lowest=0, highest=highest)
            bad = values.notna() & numbers.isna()
            reason = f"{name}: not a whole number from 0 to {highest}: " + values.fillna("")
            rejection.add(bad.to_numpy(), f"bad_{name}", reason)
            out[name] = numbers
        else:
            out[name] = values

    if "subject_count" not in out:
        out["subject_count"] = pd.array(np.ones(size, dtype=np.int64), dtype="Int64")
    out["subject_count"] = out["subject_count"].fillna(1)
    if "result" not in out:
        out["result"] = pd.Series("success", index=out.index, dtype="str")
    out["result"] = out["result"].fillna("success")
    for name in (
        "terminal_id",
        "session_id",
        "jimu",
        "screen",
        "function",
        "subject",
        "auth_factors",
        "detail",
    ):
        if name not in out:
            out[name] = pd.Series(pd.NA, index=out.index, dtype="str")
    if "seq" not in out:
        out["seq"] = pd.array([pd.NA] * size, dtype="Int64")

    for name in ("ts", "user_id", "action", "system"):
        missing = out[name].isna().to_numpy()
        rejection.add(missing, f"missing_{name}", f"{name}: empty or missing")
    for name, limit in TEXT_LIMITS.items():
        too_long = (out[name].str.len() > limit).fillna(False).to_numpy(dtype=bool)
        rejection.add(too_long, "too_long", f"{name}: longer than {limit} characters")
    rejection.add(
        ~out["action"].isin(ACTIONS).to_numpy(),
        "unknown_action",
        "action: not a canonical action: " + out["action"].fillna(""),
    )
    rejection.add(
        ~out["result"].isin(RESULTS).to_numpy(),
        "unknown_result",
        "result: not success/failure: " + out["result"].fillna(""),
    )

    out["_text"] = chunk.texts
    out["_line"] = chunk.lines
    rejected_rows = rejection.rejected
    rejected = pd.DataFrame(
        {
            "_text": out["_text"][rejected_rows],
            "_line": out["_line"][rejected_rows],
            "reason_code": rejection.code[rejected_rows],
            "reason": rejection.reason[rejected_rows],
        }
    )
    return out[~rejected_rows].reset_index(drop=True), rejected.reset_index(drop=True)
