"""Japanese national holidays (国民の祝日・休日) and the days a city hall is closed (閉庁日).

Everything is computed by rule from the 国民の祝日に関する法律 and its amendments rather than read
from the Cabinet Office CSV, so the calendar needs no yearly data update and works offline; the
tests pin the rules against the official lists.  Years outside 1955–2099 are rejected because the
equinox approximation is not valid there (and the Cabinet Office list starts in 1955).
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from types import MappingProxyType
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "CITIZENS_HOLIDAY",
    "FIRST_YEAR",
    "LAST_YEAR",
    "SATURDAY",
    "SUBSTITUTE_HOLIDAY",
    "SUNDAY",
    "YEAR_END",
    "calendar_frame",
    "is_open_day",
    "municipal_closed_days",
    "national_holidays",
]

FIRST_YEAR: Final = 1955
LAST_YEAR: Final = 2099

SUBSTITUTE_HOLIDAY: Final = "振替休日"
CITIZENS_HOLIDAY: Final = "国民の休日"
SATURDAY: Final = "土曜日"
SUNDAY: Final = "日曜日"
YEAR_END: Final = "年末年始"

_DEFAULT_YEAR_END: Final = ((12, 29), (1, 3))

# 振替休日 exists since the 1973-04-12 amendment; 国民の休日 since the 1985-12-27 amendment.  The 2007
# amendment let a substitute holiday skip over following holidays (e.g. 5/3 on a Sunday → 5/6).
_SUBSTITUTE_START: Final = dt.date(1973, 4, 12)
_CITIZENS_START: Final = dt.date(1985, 12, 27)
_SUBSTITUTE_CHAIN_YEAR: Final = 2007

# One-off holidays enacted by special laws; they count as 祝日 for the 振替/国民の休日 rules, which is
# what makes 2019-04-30 and 2019-05-02 holidays.
_SPECIAL: Final[dict[int, dict[dt.date, str]]] = {
    1959: {dt.date(1959, 4, 10): "皇太子明仁親王の結婚の儀"},
    1989: {dt.date(1989, 2, 24): "昭和天皇の大喪の礼"},
    1990: {dt.date(1990, 11, 12): "即位礼正殿の儀"},
    1993: {dt.date(1993, 6, 9): "皇太子徳仁親王の結婚の儀"},
    2019: {dt.date(2019, 5, 1): "天皇の即位の日", dt.date(2019, 10, 22): "即位礼正殿の儀"},
}

# The Olympic special measures law moved three holidays in 2020 and 2021 (and removed them from
# their usual dates in those years).
_OLYMPIC_MOVES: Final[dict[int, dict[str, tuple[int, int]]]] = {
    2020: {"海の日": (7, 23), "スポーツの日": (7, 24), "山の日": (8, 10)},
    2021: {"海の日": (7, 22), "スポーツの日": (7, 23), "山の日": (8, 8)},
}

_SUNDAY_WEEKDAY: Final = 6
_SATURDAY_WEEKDAY: Final = 5


def _check_year(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"the holiday rules are implemented for {FIRST_YEAR}–{LAST_YEAR}, got {year}")


def _nth_monday(year: int, month: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(-first.weekday()) % 7 + 7 * (n - 1))


def _vernal_equinox_day(year: int) -> int:
    # The usual approximation of the 国立天文台 暦要項 dates.  int() truncates toward zero, which is what
    # the published formula means for the negative (y - 1983) / 4 of the 1900–1979 variant.
    if year < 1980:
        return int(20.8357 + 0.242194 * (year - 1980)) - int((year - 1983) / 4)
    return int(20.8431 + 0.242194 * (year - 1980)) - (year - 1980) // 4


def _autumnal_equinox_day(year: int) -> int:
    if year < 1980:
        return int(23.2588 + 0.242194 * (year - 1980)) - int((year - 1983) / 4)
    return int(23.2488 + 0.242194 * (year - 1980)) - (year - 1980) // 4


def _statutory_holidays(year: int) -> dict[dt.date, str]:
    """The 国民の祝日 proper (and the special-law days), before 振替休日 and 国民の休日."""
    days: dict[dt.date, str] = {}
    moved = _OLYMPIC_MOVES.get(year, {})

    def put(name: str, day: dt.date) -> None:
        if name in moved:
            day = dt.date(year, *moved[name])
        days[day] = name

    def fixed(month: int, day: int) -> dt.date:
        return dt.date(year, month, day)

    put("元日", fixed(1, 1))
    put("成人の日", fixed(1, 15) if year < 2000 else _nth_monday(year, 1, 2))
    if year >= 1967:
        put("建国記念の日", fixed(2, 11))
    if year >= 2020:
        put("天皇誕生日", fixed(2, 23))
    put("春分の日", fixed(3, _vernal_equinox_day(year)))
    if year < 1989:
        put("天皇誕生日", fixed(4, 29))
    elif year < 2007:
        put("みどりの日", fixed(4, 29))
    else:
        put("昭和の日", fixed(4, 29))
    put("憲法記念日", fixed(5, 3))
    if year >= 2007:
        put("みどりの日", fixed(5, 4))
    put("こどもの日", fixed(5, 5))
    if year >= 1996:
        put("海の日", fixed(7, 20) if year < 2003 else _nth_monday(year, 7, 3))
    if year >= 2016:
        put("山の日", fixed(8, 11))
    if year >= 1966:
        put("敬老の日", fixed(9, 15) if year < 2003 else _nth_monday(year, 9, 3))
    put("秋分の日", fixed(9, _autumnal_equinox_day(year)))
    if year >= 1966:
        sports_day = fixed(10, 10) if year < 2000 else _nth_monday(year, 10, 2)
        put("体育の日" if year < 2020 else "スポーツの日", sports_day)
    put("文化の日", fixed(11, 3))
    put("勤労感謝の日", fixed(11, 23))
    if 1989 <= year < 2019:
        put("天皇誕生日", fixed(12, 23))
    days.update(_SPECIAL.get(year, {}))
    return days


@cache
def _holidays(year: int) -> MappingProxyType[dt.date, str]:
    statutory = _statutory_holidays(year)
    result = dict(statutory)
    one_day = dt.timedelta(days=1)

    for day in sorted(statutory):
        if day.weekday() != _SUNDAY_WEEKDAY or day < _SUBSTITUTE_START:
            continue
        substitute = day + one_day
        if year >= _SUBSTITUTE_CHAIN_YEAR:
            while substitute in statutory:
                substitute += one_day
        if substitute not in statutory:
            result[substitute] = SUBSTITUTE_HOLIDAY

    # 国民の休日: a day that is not itself a holiday, between two 祝日 — Saturdays included (1991-05-04).
    # The pre-2007 text excluded Sundays and 振替休日 explicitly; a sandwiched Sunday is a rest day
    # anyway, so it is never listed, and a 振替休日 keeps its own name (1987-05-04, 1992-05-04).
    for day in statutory:
        middle = day + one_day
        if (
            middle >= _CITIZENS_START
            and middle not in result
            and middle + one_day in statutory
            and middle.weekday() != _SUNDAY_WEEKDAY
        ):
            result[middle] = CITIZENS_HOLIDAY

    return MappingProxyType(dict(sorted(result.items())))


def national_holidays(year: int) -> dict[dt.date, str]:
    """All 国民の祝日 and 休日 of ``year``, by date, named as the Cabinet Office names them.

    振替休日 and 国民の休日 carry those generic names rather than the holiday they derive from, so a
    report can tell an ordinary 祝日 from a substitute day.  The result is a fresh dict: callers may
    mutate it without corrupting the per-year cache.

    Raises ``ValueError`` outside 1955–2099.
    """
    _check_year(year)
    return dict(_holidays(year))


def _check_month_day(month_day: tuple[int, int]) -> None:
    month, day = month_day
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise ValueError(f"not a (month, day) pair: {month_day!r}")


@cache
def _closed_days(year: int, year_end: tuple[tuple[int, int], tuple[int, int]]) -> MappingProxyType[dt.date, str]:
    _check_year(year)
    start, end = year_end
    _check_month_day(start)
    _check_month_day(end)
    wraps = start > end
    holidays = _holidays(year)

    closed: dict[dt.date, str] = {}
    day = dt.date(year, 1, 1)
    one_day = dt.timedelta(days=1)
    while day.year == year:
        month_day = (day.month, day.day)
        in_year_end = (month_day >= start or month_day <= end) if wraps else start <= month_day <= end
        if day in holidays:
            closed[day] = holidays[day]
        elif in_year_end:
            closed[day] = YEAR_END
        elif day.weekday() == _SATURDAY_WEEKDAY:
            closed[day] = SATURDAY
        elif day.weekday() == _SUNDAY_WEEKDAY:
            closed[day] = SUNDAY
        day += one_day
    return MappingProxyType(closed)


def municipal_closed_days(
    year: int, *, year_end: tuple[tuple[int, int], tuple[int, int]] = _DEFAULT_YEAR_END
) -> dict[dt.date, str]:
    """Every 閉庁日 of ``year``: weekends, national holidays and the 年末年始 closure.

    Access to resident records on a closed day is a classic audit signal, so the reason matters as
    much as the fact: the most specific one wins — holiday name, then ``"年末年始"``, then
    ``"土曜日"``/``"日曜日"``.  ``year_end`` is the (start, end) of the closure as (month, day) pairs;
    the default 12/29–1/3 is what nearly every 休日条例 under 地方自治法 第4条の2 sets, and a period
    that wraps around New Year covers both ends of the same calendar year.  Pass the municipality's
    own period if its 条例 differs.
    """
    (start_month, start_day), (end_month, end_day) = year_end
    return dict(_closed_days(year, ((start_month, start_day), (end_month, end_day))))


@cache
def _closed_year_arrays(year: int) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.bool_]]:
    first = dt.date(year, 1, 1)
    length = (dt.date(year + 1, 1, 1) - first).days
    names = np.full(length, None, dtype=object)
    closed = np.zeros(length, dtype=np.bool_)
    for day, name in _closed_days(year, _DEFAULT_YEAR_END).items():
        names[(day - first).days] = name
        closed[(day - first).days] = True
    names.flags.writeable = False
    closed.flags.writeable = False
    return names, closed


def calendar_frame(start: dt.date, end: dt.date) -> pd.DataFrame:
    """One row per day from ``start`` to ``end`` inclusive: ``day``, ``is_open``, ``name``.

    Built from per-year cached arrays so that joining a few years of calendar onto an access log
    costs a concatenation, not a Python loop over days.  ``name`` is the closure reason (see
    :func:`municipal_closed_days`, default 年末年始) or ``None`` on open days.  An empty frame is
    returned when ``end`` is before ``start``.
    """
    start, end = _as_date(start), _as_date(end)
    if end < start:
        return pd.DataFrame(
            {
                "day": pd.Series([], dtype=object),
                "is_open": pd.Series([], dtype=bool),
                "name": pd.Series([], dtype=object),
            }
        )
    years = range(start.year, end.year + 1)
    parts = [_closed_year_arrays(year) for year in years]
    names = np.concatenate([p[0] for p in parts])
    closed = np.concatenate([p[1] for p in parts])
    offset = (start - dt.date(start.year, 1, 1)).days
    length = (end - start).days + 1
    names = names[offset : offset + length]
    closed = closed[offset : offset + length]
    days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1)
    return pd.DataFrame(
        {
            "day": pd.Series(days.astype(object), dtype=object),
            "is_open": pd.Series(~closed, dtype=bool),
            "name": pd.Series(names, dtype=object),
        }
    )


def is_open_day(day: dt.date) -> bool:
    """Whether a city hall is open on ``day`` (default 年末年始 12/29–1/3), cached per year."""
    day = _as_date(day)
    return day not in _closed_days(day.year, _DEFAULT_YEAR_END)


def _as_date(value: dt.date) -> dt.date:
    # datetime (and pandas.Timestamp) are date subclasses but do not compare or hash like dates.
    return value.date() if isinstance(value, dt.datetime) else value
