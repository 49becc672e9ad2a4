"""和暦 (Japanese era) timestamps: vectorised parsing of log columns and formatting for reports.

Municipal systems (住基, 税, 福祉 packages) print timestamps such as ``R08.02.03 09:15:22`` or
``令和８年２月３日 9時15分22秒``, often with full-width digits.  Access logs run to millions of rows,
so parsing runs Arrow compute kernels (RE2 regexes) over the whole column and reads the digits
with numpy straight off the UTF-8 buffer.  The only per-value work is ``str.translate`` on rows
that actually contain full-width characters.
"""

from __future__ import annotations

import datetime as dt
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["parse_wareki", "parse_wareki_date", "to_halfwidth", "to_wareki"]

# The string dtype pandas 3 infers by default; pinned to Arrow storage so the compute kernels apply.
_STR_DTYPE: Final = pd.StringDtype(storage="pyarrow", na_value=np.nan)


def _halfwidth_table() -> dict[int, int]:
    table = {ord("０") + i: ord("0") + i for i in range(10)}
    table.update({ord("Ａ") + i: ord("A") + i for i in range(26)})
    table.update({ord("ａ") + i: ord("a") + i for i in range(26)})
    # U+2212 is what cp932 decoders produce for the full-width minus of Shift_JIS (0x817C), U+FF0D
    # is what the strict shift_jis codec produces: both are the same "－" on a Japanese screen.
    table.update({ord(c): ord(h) for c, h in zip("：／－．\u2212\u3000", ":/-.- ", strict=True)})
    return table


_HALFWIDTH: Final = _halfwidth_table()
# The characters _HALFWIDTH translates, as an RE2 class: rows without any of them are left as is.
_HALFWIDTH_CLASS: Final = "[\uff0d-\uff1a\uff21-\uff3a\uff41-\uff5a\u2212\u3000]"

_ERA_LETTER_BASES: Final = {"M": 1867, "T": 1911, "S": 1925, "H": 1988, "R": 2018}
_ERA_BASES: Final = {
    **_ERA_LETTER_BASES,
    **{letter.lower(): base for letter, base in _ERA_LETTER_BASES.items()},
    **{"明治": 1867, "大正": 1911, "昭和": 1925, "平成": 1988, "令和": 2018},
}
_ERA_KEYS: Final = pa.array(list(_ERA_BASES))
_ERA_BASE_VALUES: Final = np.array([*_ERA_BASES.values(), 0], dtype=np.int64)  # index -1 → 0 (unknown)
_LETTER_BASES: Final = np.zeros(256, dtype=np.int64)  # by ASCII byte, 0 for anything else
for _letter, _base in _ERA_LETTER_BASES.items():
    _LETTER_BASES[ord(_letter)] = _LETTER_BASES[ord(_letter.lower())] = _base

# Era start dates (Gregorian) for formatting, newest first.  明治 is only supported from 1873-01-01,
# the day Japan adopted the Gregorian calendar: earlier 明治 dates are lunisolar and have no
# month/day correspondence with a Gregorian date.
_ERAS: Final = (
    (dt.date(2019, 5, 1), "令和", "R", 2018),
    (dt.date(1989, 1, 8), "平成", "H", 1988),
    (dt.date(1926, 12, 25), "昭和", "S", 1925),
    (dt.date(1912, 7, 30), "大正", "T", 1911),
    (dt.date(1873, 1, 1), "明治", "M", 1867),
)

_ERA_ALT = "[MTSHRmtshr]|明治|大正|昭和|平成|令和"
# The dominant log layout, R08.02.03 or R08.02.03 09:15[:22]: recognised by a match-only regex and
# cut at fixed byte offsets, several times faster than a capturing regex.
_FIXED: Final = r"^[MTSHRmtshr]\d\d[./-]\d\d[./-]\d\d(?:[ T]\d\d:\d\d(?::\d\d)?)?$"
_FIXED_TIME_LENGTH: Final = len("R08.02.03 09:15")
_FIXED_SECONDS_LENGTH: Final = len("R08.02.03 09:15:22")
# Everything else with separators: R8.2.3 9:15, 令和元年5月1日 9時15分22秒, H31-04-30T23:59:59.123,
# 令和 8年 2月 3日(火) 09:15.  Date and time separators may be mixed; nonsense such as 2月30日 is
# caught by the numeric checks rather than by the regex.
_SEPARATED: Final = (
    rf"^(?P<era>{_ERA_ALT})\s*(?P<year>\d{{1,2}}|元)\s*(?:年|[./-])\s*"
    r"(?P<month>\d{1,2})\s*(?:月|[./-])\s*(?P<day>\d{1,2})日?\s*"
    r"(?:[(（][月火水木金土日](?:曜日?)?[)）]\s*)?(?:T\s*)?"
    r"(?:(?P<hour>\d{1,2})\s*[:時]\s*(?P<minute>\d{1,2})"
    r"(?:\s*[:分]\s*(?:(?P<second>\d{1,2})(?:\.(?P<frac>\d{1,9}))?\s*秒?)?)?)?$"
)
# Compact form: R080203, R080203 091522, R080203091522.
_COMPACT: Final = (
    r"^(?P<era>[MTSHRmtshr])(?P<year>\d{2})(?P<month>\d{2})(?P<day>\d{2})"
    r"(?:\s*T?\s*(?P<hour>\d{2})(?P<minute>\d{2})(?P<second>\d{2})?(?:\.(?P<frac>\d{1,9}))?)?$"
)

_US_PER_SECOND: Final = 1_000_000
_US_PER_DAY: Final = 86_400 * _US_PER_SECOND
_NAT: Final = np.iinfo(np.int64).min

_IntArray = npt.NDArray[np.int64]
_BoolArray = npt.NDArray[np.bool_]
_Fields = dict[str, _IntArray]
# One int64 array each; "base" is the era's offset (令和 → 2018), "micro" the fraction of a second.
_FIELDS: Final = ("base", "year", "month", "day", "hour", "minute", "second", "micro")


def _as_str(values: pd.Series) -> pd.Series:
    if values.dtype == _STR_DTYPE:
        return values
    return values.astype(_STR_DTYPE)


def to_halfwidth(values: pd.Series) -> pd.Series:
    """Fold full-width digits, Latin letters, ``：／－．``, U+2212 and U+3000 to ASCII; nothing else.

    Narrower than NFKC on purpose: NFKC would also rewrite half-width katakana, circled numbers and
    ㍻-style ligatures, which changes what a log line *says*; this only undoes the full-width input
    habit so the parsers can use ASCII patterns.  Only rows that contain such a character are
    translated, so an ASCII column costs one vectorised scan.  Missing values stay missing; the
    result has the Arrow-backed ``str`` dtype and the index of ``values``.
    """
    text = _as_str(values).reset_index(drop=True)
    needs = text.str.contains(_HALFWIDTH_CLASS, regex=True, na=False)
    if needs.any():
        text = text.where(~needs, text[needs].str.translate(_HALFWIDTH))
    return pd.Series(text.array, index=values.index, name=values.name, dtype=_STR_DTYPE)


def _to_bool(mask: pa.Array | pa.ChunkedArray) -> _BoolArray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=np.bool_)


def _utf8_buffers(strings: pa.Array) -> tuple[_IntArray, npt.NDArray[np.uint8]]:
    """The value offsets and the UTF-8 bytes of an Arrow string array, as numpy arrays."""
    if len(strings) == 0:
        return np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.uint8)
    _, offsets_buffer, data_buffer = strings.buffers()
    width = np.int64 if pa.types.is_large_string(strings.type) else np.int32
    first = strings.offset
    offsets = np.frombuffer(offsets_buffer, dtype=width)[first : first + len(strings) + 1].astype(np.int64)
    if data_buffer is None or data_buffer.size == 0:
        return offsets, np.zeros(1, dtype=np.uint8)  # a readable dummy byte; every value is empty
    return offsets, np.frombuffer(data_buffer, dtype=np.uint8)


def _digit_at(data: npt.NDArray[np.uint8], positions: _IntArray, present: _BoolArray) -> _IntArray:
    # Absent positions may point past the buffer's end: clip for the read, zero for the value.
    digits = data[np.minimum(positions, data.size - 1)].astype(np.int64) - ord("0")
    return np.where(present, digits, 0)


def _read_digits(strings: pa.Array, max_digits: int, *, fraction: bool = False) -> _IntArray:
    """Numbers from strings of ASCII digits (the regex guarantees it), read straight off the bytes.

    An integer reads its digits left-aligned ("7" → 7, "" → 0); a fraction is padded on the right
    to ``max_digits`` ("123" → 123000 µs) and truncated beyond it.  A few numpy passes per digit are
    an order of magnitude cheaper than an Arrow string-to-int cast on such short strings.
    """
    offsets, data = _utf8_buffers(strings)
    starts, lengths = offsets[:-1], offsets[1:] - offsets[:-1]
    value = np.zeros(len(strings), dtype=np.int64)
    for k in range(max_digits):
        present = lengths > k
        digit = _digit_at(data, starts + k, present)
        value = value * 10 + digit if fraction else np.where(present, value * 10 + digit, value)
    return value


def _era_base(names: pa.Array) -> _IntArray:
    index = pc.fill_null(pc.index_in(names, value_set=_ERA_KEYS), -1)
    return _ERA_BASE_VALUES[np.asarray(index.to_numpy(zero_copy_only=False), dtype=np.int64)]


def _fixed_width(text: pa.Array) -> tuple[_BoolArray, _Fields]:
    hit = _to_bool(pc.match_substring_regex(text, _FIXED))
    offsets, data = _utf8_buffers(text)
    starts = offsets[:-1][hit]
    lengths = offsets[1:][hit] - starts
    everywhere = np.ones(starts.size, dtype=np.bool_)

    def two_digits(position: int, present: _BoolArray = everywhere) -> _IntArray:
        tens = _digit_at(data, starts + position, present)
        return tens * 10 + _digit_at(data, starts + position + 1, present)

    has_time = lengths >= _FIXED_TIME_LENGTH
    fields = {
        "base": _LETTER_BASES[data[starts]],
        "year": two_digits(1),
        "month": two_digits(4),
        "day": two_digits(7),
        "hour": two_digits(10, has_time),
        "minute": two_digits(13, has_time),
        "second": two_digits(16, lengths >= _FIXED_SECONDS_LENGTH),
        "micro": np.zeros(starts.size, dtype=np.int64),
    }
    return hit, fields


def _by_regex(text: pa.Array, pattern: str) -> tuple[_BoolArray, _Fields]:
    matches = pc.extract_regex(text, pattern)
    hit = _to_bool(matches.is_valid())
    rows = matches.filter(pa.array(hit))

    def group(name: str) -> pa.Array:
        return pc.struct_field(rows, name)

    fields = {
        "base": _era_base(group("era")),
        "year": _read_digits(pc.replace_substring(group("year"), "元", "1"), 2),
        "micro": _read_digits(group("frac"), 6, fraction=True),
    }
    fields.update({name: _read_digits(group(name), 2) for name in ("month", "day", "hour", "minute", "second")})
    return hit, fields


def _parse_separated(text: pa.Array) -> tuple[_BoolArray, _Fields]:
    return _by_regex(text, _SEPARATED)


def _parse_compact(text: pa.Array) -> tuple[_BoolArray, _Fields]:
    return _by_regex(text, _COMPACT)


def _compose(fields: dict[str, _IntArray], matched: _BoolArray) -> npt.NDArray[np.datetime64]:
    base, year, month, day = fields["base"], fields["year"], fields["month"], fields["day"]
    hour, minute, second = fields["hour"], fields["minute"], fields["second"]
    valid = matched & (base > 0) & (year >= 1) & (month >= 1) & (month <= 12)
    valid &= (hour <= 23) & (minute <= 59) & (second <= 59)
    # Months since 1970-01 → first day of that month and of the next, as days since the epoch.
    months = np.where(valid, (base + year - 1970) * 12 + month - 1, 0)
    month_start = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    next_start = (months + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    valid &= (day >= 1) & (day <= next_start - month_start)
    micros = (
        (month_start + day - 1) * _US_PER_DAY + ((hour * 60 + minute) * 60 + second) * _US_PER_SECOND + fields["micro"]
    )
    return np.where(valid, micros, _NAT).view("datetime64[us]")


def parse_wareki(values: pd.Series) -> pd.Series:
    """Parse 和暦 timestamps into naive local ``datetime64[us]``; NaT where the text is not one.

    Accepted after :func:`to_halfwidth` and stripping: era letter (``M T S H R``, either case) or
    kanji (明治 大正 昭和 平成 令和); year as digits or 元; ``.``, ``/``, ``-`` or 年月日 separators;
    an optional weekday such as ``(火)``; an optional time as ``9:15``, ``09:15:22.123`` or
    ``9時15分22秒``; and the compact ``R080203 091522``.

    Rejected (NaT): year 0, month or day outside the calendar (2月30日), hour ≥ 24, minute or second
    ≥ 60, unknown era, anything else.  The year is *not* checked against the era's span: systems
    kept printing 平成 after 2019-05-01, so 平成31年5月1日 is read as 2019-05-01 (and 平成32年 as
    2020) rather than discarded — the audit needs the event, not a lecture on eras.

    Each row goes to the cheapest parser that recognises it (fixed offsets, then the separated-form
    regex, then the compact form), so the cost is dominated by one Arrow kernel pass per format.
    """
    text = pa.array(to_halfwidth(values).array)
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    text = pc.utf8_trim_whitespace(pc.cast(text, pa.large_string()))

    size = len(text)
    fields = {name: np.zeros(size, dtype=np.int64) for name in _FIELDS}
    matched = np.zeros(size, dtype=np.bool_)
    todo = np.flatnonzero(_to_bool(text.is_valid()))
    for parser in (_fixed_width, _parse_separated, _parse_compact):
        if todo.size == 0:
            break
        hit, found = parser(text if todo.size == size else text.take(pa.array(todo)))
        if hit.all() and todo.size == size:
            fields, matched = found, hit  # one format for the whole column: no scatter needed
            break
        rows = todo[hit]
        matched[rows] = True
        for name in _FIELDS:
            fields[name][rows] = found[name]
        todo = todo[~hit]

    return pd.Series(_compose(fields, matched), index=values.index, name=values.name)


def parse_wareki_date(text: str) -> dt.date | None:
    """The date of one 和暦 string, or ``None``: the single-value face of :func:`parse_wareki`.

    Goes through the vectorised parser so that a form field and a log column can never disagree
    about what a string means.
    """
    parsed = parse_wareki(pd.Series([text], dtype=_STR_DTYPE)).iloc[0]
    if pd.isna(parsed):
        return None
    return pd.Timestamp(parsed).date()


def to_wareki(day: dt.date, style: Literal["kanji", "letter"] = "kanji") -> str:
    """Format ``day`` in the era in force on that date: ``令和8年2月3日`` or ``R08.02.03``.

    Reports for municipal staff use the kanji form (with 元年 for the first year, as official
    documents do); the letter form is what the package systems print in their logs, so the demo
    generator writes it.  Dates before 1873-01-01 (明治6年, Gregorian adoption) raise
    ``ValueError``.
    """
    if style not in ("kanji", "letter"):
        raise ValueError(f"style must be 'kanji' or 'letter', got {style!r}")
    if isinstance(day, dt.datetime):
        day = day.date()
    for start, kanji, letter, base in _ERAS:
        if day >= start:
            year = day.year - base
            if style == "letter":
                return f"{letter}{year:02d}.{day.month:02d}.{day.day:02d}"
            year_text = "元" if year == 1 else str(year)
            return f"{kanji}{year_text}年{day.month}月{day.day}日"
    raise ValueError(f"和暦 formatting needs a Gregorian date from 1873-01-01, got {day}")
