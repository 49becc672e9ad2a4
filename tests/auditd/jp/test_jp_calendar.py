from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from auditd.jp.calendar import (
    CITIZENS_HOLIDAY,
    FIRST_YEAR,
    LAST_YEAR,
    SUBSTITUTE_HOLIDAY,
    calendar_frame,
    is_open_day,
    municipal_closed_days,
    national_holidays,
)


def _named(year: int, entries: str) -> dict[dt.date, str]:
    """'1/1 元日, 1/13 成人の日' → {date(year, 1, 1): '元日', ...}"""
    result = {}
    for entry in entries.split(","):
        month_day, name = entry.split()
        month, day = map(int, month_day.split("/"))
        result[dt.date(year, month, day)] = name
    return result


# 内閣府「国民の祝日について」, names as the Cabinet Office lists them (振替休日 / 国民の休日 generic).
OFFICIAL = {
    2019: _named(
        2019,
        "1/1 元日, 1/14 成人の日, 2/11 建国記念の日, 3/21 春分の日, 4/29 昭和の日, 4/30 国民の休日,"
        "5/1 天皇の即位の日, 5/2 国民の休日, 5/3 憲法記念日, 5/4 みどりの日, 5/5 こどもの日, 5/6 振替休日,"
        "7/15 海の日, 8/11 山の日, 8/12 振替休日, 9/16 敬老の日, 9/23 秋分の日, 10/14 体育の日,"
        "10/22 即位礼正殿の儀, 11/3 文化の日, 11/4 振替休日, 11/23 勤労感謝の日",
    ),
    2020: _named(
        2020,
        "1/1 元日, 1/13 成人の日, 2/11 建国記念の日, 2/23 天皇誕生日, 2/24 振替休日, 3/20 春分の日,"
        "4/29 昭和の日, 5/3 憲法記念日, 5/4 みどりの日, 5/5 こどもの日, 5/6 振替休日, 7/23 海の日,"
        "7/24 スポーツの日, 8/10 山の日, 9/21 敬老の日, 9/22 秋分の日, 11/3 文化の日, 11/23 勤労感謝の日",
    ),
    2021: _named(
        2021,
        "1/1 元日, 1/11 成人の日, 2/11 建国記念の日, 2/23 天皇誕生日, 3/20 春分の日, 4/29 昭和の日,"
        "5/3 憲法記念日, 5/4 みどりの日, 5/5 こどもの日, 7/22 海の日, 7/23 スポーツの日, 8/8 山の日,"
        "8/9 振替休日, 9/20 敬老の日, 9/23 秋分の日, 11/3 文化の日, 11/23 勤労感謝の日",
    ),
    2025: _named(
        2025,
        "1/1 元日, 1/13 成人の日, 2/11 建国記念の日, 2/23 天皇誕生日, 2/24 振替休日, 3/20 春分の日,"
        "4/29 昭和の日, 5/3 憲法記念日, 5/4 みどりの日, 5/5 こどもの日, 5/6 振替休日, 7/21 海の日,"
        "8/11 山の日, 9/15 敬老の日, 9/23 秋分の日, 10/13 スポーツの日, 11/3 文化の日, 11/23 勤労感謝の日,"
        "11/24 振替休日",
    ),
    2026: _named(
        2026,
        "1/1 元日, 1/12 成人の日, 2/11 建国記念の日, 2/23 天皇誕生日, 3/20 春分の日, 4/29 昭和の日,"
        "5/3 憲法記念日, 5/4 みどりの日, 5/5 こどもの日, 5/6 振替休日, 7/20 海の日, 8/11 山の日,"
        "9/21 敬老の日, 9/22 国民の休日, 9/23 秋分の日, 10/12 スポーツの日, 11/3 文化の日,"
        "11/23 勤労感謝の日",
    ),
    2027: _named(
        2027,
        "1/1 元日, 1/11 成人の日, 2/11 建国記念の日, 2/23 天皇誕生日, 3/21 春分の日, 3/22 振替休日,"
        "4/29 昭和の日, 5/3 憲法記念日, 5/4 みどりの日, 5/5 こどもの日, 7/19 海の日, 8/11 山の日,"
        "9/20 敬老の日, 9/23 秋分の日, 10/11 スポーツの日, 11/3 文化の日, 11/23 勤労感謝の日",
    ),
}

# Every holiday date (MMDD) of 1955–2050, each year's list after the year (a list may wrap).
# 1955–2027 are the Cabinet Office CSV (syukujitsu.csv); 2028–2050 are the published forecasts made
# with the same equinox formula (holiday_jp dataset).
REFERENCE_DATES = """
1955 0101 0115 0321 0429 0503 0505 0924 1103 1123
1956 0101 0115 0321 0429 0503 0505 0923 1103 1123
1957 0101 0115 0321 0429 0503 0505 0923 1103 1123
1958 0101 0115 0321 0429 0503 0505 0923 1103 1123
1959 0101 0115 0321 0410 0429 0503 0505 0924 1103 1123
1960 0101 0115 0320 0429 0503 0505 0923 1103 1123
1961 0101 0115 0321 0429 0503 0505 0923 1103 1123
1962 0101 0115 0321 0429 0503 0505 0923 1103 1123
1963 0101 0115 0321 0429 0503 0505 0924 1103 1123
1964 0101 0115 0320 0429 0503 0505 0923 1103 1123
1965 0101 0115 0321 0429 0503 0505 0923 1103 1123
1966 0101 0115 0321 0429 0503 0505 0915 0923 1010 1103 1123
1967 0101 0115 0211 0321 0429 0503 0505 0915 0924 1010 1103 1123
1968 0101 0115 0211 0320 0429 0503 0505 0915 0923 1010 1103 1123
1969 0101 0115 0211 0321 0429 0503 0505 0915 0923 1010 1103 1123
1970 0101 0115 0211 0321 0429 0503 0505 0915 0923 1010 1103 1123
1971 0101 0115 0211 0321 0429 0503 0505 0915 0924 1010 1103 1123
1972 0101 0115 0211 0320 0429 0503 0505 0915 0923 1010 1103 1123
1973 0101 0115 0211 0321 0429 0430 0503 0505 0915 0923 0924 1010 1103 1123
1974 0101 0115 0211 0321 0429 0503 0505 0506 0915 0916 0923 1010 1103 1104 1123
1975 0101 0115 0211 0321 0429 0503 0505 0915 0924 1010 1103 1123 1124
1976 0101 0115 0211 0320 0429 0503 0505 0915 0923 1010 1011 1103 1123
1977 0101 0115 0211 0321 0429 0503 0505 0915 0923 1010 1103 1123
1978 0101 0102 0115 0116 0211 0321 0429 0503 0505 0915 0923 1010 1103 1123
1979 0101 0115 0211 0212 0321 0429 0430 0503 0505 0915 0924 1010 1103 1123
1980 0101 0115 0211 0320 0429 0503 0505 0915 0923 1010 1103 1123 1124
1981 0101 0115 0211 0321 0429 0503 0504 0505 0915 0923 1010 1103 1123
1982 0101 0115 0211 0321 0322 0429 0503 0505 0915 0923 1010 1011 1103 1123
1983 0101 0115 0211 0321 0429 0503 0505 0915 0923 1010 1103 1123
1984 0101 0102 0115 0116 0211 0320 0429 0430 0503 0505 0915 0923 0924 1010 1103 1123
1985 0101 0115 0211 0321 0429 0503 0505 0506 0915 0916 0923 1010 1103 1104 1123
1986 0101 0115 0211 0321 0429 0503 0505 0915 0923 1010 1103 1123 1124
1987 0101 0115 0211 0321 0429 0503 0504 0505 0915 0923 1010 1103 1123
1988 0101 0115 0211 0320 0321 0429 0503 0504 0505 0915 0923 1010 1103 1123
1989 0101 0102 0115 0116 0211 0224 0321 0429 0503 0504 0505 0915 0923 1010 1103 1123 1223
1990 0101 0115 0211 0212 0321 0429 0430 0503 0504 0505 0915 0923 0924 1010 1103 1112 1123 1223 1224
1991 0101 0115 0211 0321 0429 0503 0504 0505 0506 0915 0916 0923 1010 1103 1104 1123 1223
1992 0101 0115 0211 0320 0429 0503 0504 0505 0915 0923 1010 1103 1123 1223
1993 0101 0115 0211 0320 0429 0503 0504 0505 0609 0915 0923 1010 1011 1103 1123 1223
1994 0101 0115 0211 0321 0429 0503 0504 0505 0915 0923 1010 1103 1123 1223
1995 0101 0102 0115 0116 0211 0321 0429 0503 0504 0505 0915 0923 1010 1103 1123 1223
1996 0101 0115 0211 0212 0320 0429 0503 0504 0505 0506 0720 0915 0916 0923 1010 1103 1104 1123 1223
1997 0101 0115 0211 0320 0429 0503 0505 0720 0721 0915 0923 1010 1103 1123 1124 1223
1998 0101 0115 0211 0321 0429 0503 0504 0505 0720 0915 0923 1010 1103 1123 1223
1999 0101 0115 0211 0321 0322 0429 0503 0504 0505 0720 0915 0923 1010 1011 1103 1123 1223
2000 0101 0110 0211 0320 0429 0503 0504 0505 0720 0915 0923 1009 1103 1123 1223
2001 0101 0108 0211 0212 0320 0429 0430 0503 0504 0505 0720 0915 0923 0924 1008 1103 1123 1223 1224
2002 0101 0114 0211 0321 0429 0503 0504 0505 0506 0720 0915 0916 0923 1014 1103 1104 1123 1223
2003 0101 0113 0211 0321 0429 0503 0505 0721 0915 0923 1013 1103 1123 1124 1223
2004 0101 0112 0211 0320 0429 0503 0504 0505 0719 0920 0923 1011 1103 1123 1223
2005 0101 0110 0211 0320 0321 0429 0503 0504 0505 0718 0919 0923 1010 1103 1123 1223
2006 0101 0102 0109 0211 0321 0429 0503 0504 0505 0717 0918 0923 1009 1103 1123 1223
2007 0101 0108 0211 0212 0321 0429 0430 0503 0504 0505 0716 0917 0923 0924 1008 1103 1123 1223 1224
2008 0101 0114 0211 0320 0429 0503 0504 0505 0506 0721 0915 0923 1013 1103 1123 1124 1223
2009 0101 0112 0211 0320 0429 0503 0504 0505 0506 0720 0921 0922 0923 1012 1103 1123 1223
2010 0101 0111 0211 0321 0322 0429 0503 0504 0505 0719 0920 0923 1011 1103 1123 1223
2011 0101 0110 0211 0321 0429 0503 0504 0505 0718 0919 0923 1010 1103 1123 1223
2012 0101 0102 0109 0211 0320 0429 0430 0503 0504 0505 0716 0917 0922 1008 1103 1123 1223 1224
2013 0101 0114 0211 0320 0429 0503 0504 0505 0506 0715 0916 0923 1014 1103 1104 1123 1223
2014 0101 0113 0211 0321 0429 0503 0504 0505 0506 0721 0915 0923 1013 1103 1123 1124 1223
2015 0101 0112 0211 0321 0429 0503 0504 0505 0506 0720 0921 0922 0923 1012 1103 1123 1223
2016 0101 0111 0211 0320 0321 0429 0503 0504 0505 0718 0811 0919 0922 1010 1103 1123 1223
2017 0101 0102 0109 0211 0320 0429 0503 0504 0505 0717 0811 0918 0923 1009 1103 1123 1223
2018 0101 0108 0211 0212 0321 0429 0430 0503 0504 0505 0716 0811 0917 0923 0924 1008 1103 1123 1223 1224
2019 0101 0114 0211 0321 0429 0430 0501 0502 0503 0504 0505 0506 0715 0811 0812 0916 0923 1014 1022
     1103 1104 1123
2020 0101 0113 0211 0223 0224 0320 0429 0503 0504 0505 0506 0723 0724 0810 0921 0922 1103 1123
2021 0101 0111 0211 0223 0320 0429 0503 0504 0505 0722 0723 0808 0809 0920 0923 1103 1123
2022 0101 0110 0211 0223 0321 0429 0503 0504 0505 0718 0811 0919 0923 1010 1103 1123
2023 0101 0102 0109 0211 0223 0321 0429 0503 0504 0505 0717 0811 0918 0923 1009 1103 1123
2024 0101 0108 0211 0212 0223 0320 0429 0503 0504 0505 0506 0715 0811 0812 0916 0922 0923 1014 1103 1104 1123
2025 0101 0113 0211 0223 0224 0320 0429 0503 0504 0505 0506 0721 0811 0915 0923 1013 1103 1123 1124
2026 0101 0112 0211 0223 0320 0429 0503 0504 0505 0506 0720 0811 0921 0922 0923 1012 1103 1123
2027 0101 0111 0211 0223 0321 0322 0429 0503 0504 0505 0719 0811 0920 0923 1011 1103 1123
2028 0101 0110 0211 0223 0320 0429 0503 0504 0505 0717 0811 0918 0922 1009 1103 1123
2029 0101 0108 0211 0212 0223 0320 0429 0430 0503 0504 0505 0716 0811 0917 0923 0924 1008 1103 1123
2030 0101 0114 0211 0223 0320 0429 0503 0504 0505 0506 0715 0811 0812 0916 0923 1014 1103 1104 1123
2031 0101 0113 0211 0223 0224 0321 0429 0503 0504 0505 0506 0721 0811 0915 0923 1013 1103 1123 1124
2032 0101 0112 0211 0223 0320 0429 0503 0504 0505 0719 0811 0920 0921 0922 1011 1103 1123
2033 0101 0110 0211 0223 0320 0321 0429 0503 0504 0505 0718 0811 0919 0923 1010 1103 1123
2034 0101 0102 0109 0211 0223 0320 0429 0503 0504 0505 0717 0811 0918 0923 1009 1103 1123
2035 0101 0108 0211 0212 0223 0321 0429 0430 0503 0504 0505 0716 0811 0917 0923 0924 1008 1103 1123
2036 0101 0114 0211 0223 0320 0429 0503 0504 0505 0506 0721 0811 0915 0922 1013 1103 1123 1124
2037 0101 0112 0211 0223 0320 0429 0503 0504 0505 0506 0720 0811 0921 0922 0923 1012 1103 1123
2038 0101 0111 0211 0223 0320 0429 0503 0504 0505 0719 0811 0920 0923 1011 1103 1123
2039 0101 0110 0211 0223 0321 0429 0503 0504 0505 0718 0811 0919 0923 1010 1103 1123
2040 0101 0102 0109 0211 0223 0320 0429 0430 0503 0504 0505 0716 0811 0917 0922 1008 1103 1123
2041 0101 0114 0211 0223 0320 0429 0503 0504 0505 0506 0715 0811 0812 0916 0923 1014 1103 1104 1123
2042 0101 0113 0211 0223 0224 0320 0429 0503 0504 0505 0506 0721 0811 0915 0923 1013 1103 1123 1124
2043 0101 0112 0211 0223 0321 0429 0503 0504 0505 0506 0720 0811 0921 0922 0923 1012 1103 1123
2044 0101 0111 0211 0223 0320 0321 0429 0503 0504 0505 0718 0811 0919 0922 1010 1103 1123
2045 0101 0102 0109 0211 0223 0320 0429 0503 0504 0505 0717 0811 0918 0922 1009 1103 1123
2046 0101 0108 0211 0212 0223 0320 0429 0430 0503 0504 0505 0716 0811 0917 0923 0924 1008 1103 1123
2047 0101 0114 0211 0223 0321 0429 0503 0504 0505 0506 0715 0811 0812 0916 0923 1014 1103 1104 1123
2048 0101 0113 0211 0223 0224 0320 0429 0503 0504 0505 0506 0720 0811 0921 0922 1012 1103 1123
2049 0101 0111 0211 0223 0320 0429 0503 0504 0505 0719 0811 0920 0921 0922 1011 1103 1123
2050 0101 0110 0211 0223 0320 0321 0429 0503 0504 0505 0718 0811 0919 0923 1010 1103 1123
"""


def _reference() -> dict[int, list[str]]:
    result: dict[int, list[str]] = {}
    for token in REFERENCE_DATES.split():
        if int(token) > 1231:  # a year; MMDD tokens are at most 1231
            year = int(token)
            result[year] = []
        else:
            result[year].append(token)
    return result


REFERENCE = _reference()


@pytest.mark.parametrize("year", sorted(OFFICIAL))
def test_official_cabinet_office_lists(year):
    assert national_holidays(year) == OFFICIAL[year]


@pytest.mark.parametrize("year", sorted(REFERENCE))
def test_holiday_dates_match_reference(year):
    assert [day.strftime("%m%d") for day in national_holidays(year)] == REFERENCE[year]


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (dt.date(1959, 4, 10), "皇太子明仁親王の結婚の儀"),
        (dt.date(1989, 2, 24), "昭和天皇の大喪の礼"),
        (dt.date(1990, 11, 12), "即位礼正殿の儀"),
        (dt.date(1993, 6, 9), "皇太子徳仁親王の結婚の儀"),
        (dt.date(2019, 5, 1), "天皇の即位の日"),
        (dt.date(2019, 10, 22), "即位礼正殿の儀"),
        # names that changed over time
        (dt.date(1988, 4, 29), "天皇誕生日"),
        (dt.date(1989, 4, 29), "みどりの日"),
        (dt.date(2006, 4, 29), "みどりの日"),
        (dt.date(2007, 4, 29), "昭和の日"),
        (dt.date(2007, 5, 4), "みどりの日"),
        (dt.date(2006, 5, 4), CITIZENS_HOLIDAY),
        (dt.date(2018, 12, 23), "天皇誕生日"),
        (dt.date(2020, 2, 23), "天皇誕生日"),
        (dt.date(2019, 10, 14), "体育の日"),
        (dt.date(2022, 10, 10), "スポーツの日"),
        (dt.date(1999, 10, 10), "体育の日"),
        (dt.date(2000, 10, 9), "体育の日"),
        (dt.date(1999, 1, 15), "成人の日"),
        (dt.date(2000, 1, 10), "成人の日"),
        (dt.date(1996, 7, 20), "海の日"),
        (dt.date(2003, 7, 21), "海の日"),
        (dt.date(2002, 9, 15), "敬老の日"),
        (dt.date(2003, 9, 15), "敬老の日"),
        (dt.date(2016, 8, 11), "山の日"),
        (dt.date(1967, 2, 11), "建国記念の日"),
        (dt.date(1966, 9, 15), "敬老の日"),
        (dt.date(1966, 10, 10), "体育の日"),
    ],
)
def test_named_days(day, name):
    assert national_holidays(day.year)[day] == name


@pytest.mark.parametrize(
    "day",
    [
        dt.date(2019, 12, 23),  # no 天皇誕生日 in 2019
        dt.date(2019, 2, 23),
        dt.date(2015, 8, 11),  # before 山の日
        dt.date(1995, 7, 20),  # before 海の日
        dt.date(1966, 2, 11),  # before 建国記念の日
        dt.date(1965, 9, 15),  # before 敬老の日
        dt.date(2020, 10, 12),  # スポーツの日 moved to 7/24
        dt.date(2021, 10, 11),  # スポーツの日 moved to 7/23
        dt.date(2020, 8, 11),
        dt.date(2021, 8, 11),
        dt.date(2021, 7, 19),
        dt.date(1973, 2, 12),  # 2/11 was a Sunday, but 振替休日 only started on 1973-04-12
        dt.date(1986, 5, 4),  # a sandwiched Sunday is not listed
    ],
)
def test_days_that_are_not_holidays(day):
    assert day not in national_holidays(day.year)


@pytest.mark.parametrize(
    "day",
    [
        dt.date(1973, 4, 30),  # the first 振替休日
        dt.date(1987, 5, 4),  # 5/3 Sunday: 振替休日 takes precedence over 国民の休日
        dt.date(2008, 5, 6),  # 5/4 Sunday: moves over 5/5 (2007 rule)
        dt.date(2009, 5, 6),  # 5/3 Sunday: moves over 5/4 and 5/5
        dt.date(2015, 5, 6),
        dt.date(2026, 5, 6),
        dt.date(2021, 8, 9),  # moved 山の日 on a Sunday
        dt.date(2024, 9, 23),
    ],
)
def test_substitute_holidays(day):
    assert national_holidays(day.year)[day] == SUBSTITUTE_HOLIDAY


@pytest.mark.parametrize(
    "day",
    [
        dt.date(1988, 5, 4),  # the first one
        dt.date(1991, 5, 4),  # a Saturday: the law does not exclude it
        dt.date(2009, 9, 22),
        dt.date(2015, 9, 22),
        dt.date(2019, 4, 30),
        dt.date(2019, 5, 2),
        dt.date(2026, 9, 22),
        dt.date(2032, 9, 21),
        dt.date(2037, 9, 22),
        dt.date(2043, 9, 22),
        dt.date(2049, 9, 21),
    ],
)
def test_citizens_holidays(day):
    assert national_holidays(day.year)[day] == CITIZENS_HOLIDAY


def test_rules_hold_for_every_supported_year():
    one_day = dt.timedelta(days=1)
    for year in range(FIRST_YEAR, LAST_YEAR + 1):
        holidays = national_holidays(year)
        assert 9 <= len(holidays) <= 22, year
        assert all(day.year == year for day in holidays)
        assert list(holidays) == sorted(holidays)
        for day, name in holidays.items():
            if name == SUBSTITUTE_HOLIDAY:
                # a run of holidays before it, starting on a Sunday
                previous = day - one_day
                while previous in holidays and previous.weekday() != 6:
                    previous -= one_day
                assert previous in holidays, day
                assert previous.weekday() == 6, day
                assert day.weekday() != 6, day
            elif name == CITIZENS_HOLIDAY:
                assert day - one_day in holidays, day
                assert day + one_day in holidays, day
        assert dt.date(year, 1, 1) in holidays
        spring = [d for d, n in holidays.items() if n == "春分の日"]
        autumn = [d for d, n in holidays.items() if n == "秋分の日"]
        assert [(d.month, 19 <= d.day <= 22) for d in spring] == [(3, True)], year
        assert [(d.month, 21 <= d.day <= 24) for d in autumn] == [(9, True)], year


@pytest.mark.parametrize("year", [FIRST_YEAR - 1, LAST_YEAR + 1, 1900, 3000])
def test_unsupported_years_are_rejected(year):
    with pytest.raises(ValueError, match="1955"):
        national_holidays(year)
    with pytest.raises(ValueError, match="1955"):
        municipal_closed_days(year)


def test_returned_dicts_do_not_leak_into_the_cache():
    national_holidays(2026).clear()
    municipal_closed_days(2026).clear()
    assert len(national_holidays(2026)) == 18
    assert len(municipal_closed_days(2026)) == 125


def test_municipal_closed_days_2026():
    closed = municipal_closed_days(2026)
    # 52 Saturdays + 52 Sundays, 17 holidays on weekdays (5/3 is a Sunday), 1/2 and 12/29–12/31.
    assert len(closed) == 125
    assert closed[dt.date(2026, 1, 1)] == "元日"  # holiday name wins over 年末年始
    assert closed[dt.date(2026, 1, 2)] == "年末年始"
    assert closed[dt.date(2026, 1, 3)] == "年末年始"  # a Saturday: 年末年始 is the more specific reason
    assert closed[dt.date(2026, 5, 3)] == "憲法記念日"  # a Sunday: the holiday name wins
    assert closed[dt.date(2026, 1, 10)] == "土曜日"
    assert closed[dt.date(2026, 1, 11)] == "日曜日"
    assert closed[dt.date(2026, 9, 22)] == CITIZENS_HOLIDAY
    for day in (29, 30, 31):
        assert closed[dt.date(2026, 12, day)] == "年末年始"
    assert dt.date(2026, 12, 28) not in closed  # Monday
    assert dt.date(2026, 1, 5) not in closed  # Monday, first working day
    for day, name in national_holidays(2026).items():
        assert closed[day] == name
    assert list(closed) == sorted(closed)


def test_municipal_closed_days_custom_year_end():
    closed = municipal_closed_days(2026, year_end=((12, 28), (1, 4)))
    assert closed[dt.date(2026, 12, 28)] == "年末年始"
    assert closed[dt.date(2026, 1, 4)] == "年末年始"  # Sunday, inside the period
    assert dt.date(2026, 1, 5) not in closed
    obon = municipal_closed_days(2026, year_end=((8, 13), (8, 14)))
    assert obon[dt.date(2026, 8, 13)] == obon[dt.date(2026, 8, 14)] == "年末年始"
    assert dt.date(2026, 12, 29) not in obon
    assert dt.date(2026, 1, 2) not in obon
    lists = municipal_closed_days(2026, year_end=[[12, 29], [1, 3]])  # type: ignore[arg-type]
    assert lists == municipal_closed_days(2026)


@pytest.mark.parametrize("year_end", [((13, 1), (1, 3)), ((12, 29), (1, 0))])
def test_municipal_closed_days_rejects_bad_periods(year_end):
    with pytest.raises(ValueError, match="month, day"):
        municipal_closed_days(2026, year_end=year_end)


def test_calendar_frame_shape_and_types():
    frame = calendar_frame(dt.date(2025, 12, 27), dt.date(2026, 1, 6))
    assert list(frame.columns) == ["day", "is_open", "name"]
    assert len(frame) == 11
    assert frame["is_open"].dtype == bool
    assert frame["day"].dtype == object
    assert frame["name"].dtype == object
    assert all(type(day) is dt.date for day in frame["day"])
    assert frame["day"].iloc[0] == dt.date(2025, 12, 27)
    assert frame["day"].iloc[-1] == dt.date(2026, 1, 6)
    assert frame["name"].tolist() == [
        "土曜日",
        "日曜日",
        "年末年始",
        "年末年始",
        "年末年始",
        "元日",
        "年末年始",
        "年末年始",
        "日曜日",
        None,
        None,
    ]
    assert frame["is_open"].tolist() == [False] * 9 + [True, True]


def test_calendar_frame_agrees_with_closed_days_and_is_open_day():
    start, end = dt.date(2024, 2, 10), dt.date(2027, 11, 5)
    frame = calendar_frame(start, end)
    assert len(frame) == (end - start).days + 1
    closed: dict[dt.date, str] = {}
    for year in range(start.year, end.year + 1):
        closed.update(municipal_closed_days(year))
    for day, is_open, name in frame.itertuples(index=False):
        assert bool(is_open) == (day not in closed)
        assert name == closed.get(day)
        assert is_open_day(day) == is_open
    assert frame["day"].is_monotonic_increasing
    assert frame["day"].diff().iloc[1:].eq(dt.timedelta(days=1)).all()


def test_calendar_frame_edge_ranges():
    single = calendar_frame(dt.date(2026, 2, 3), dt.date(2026, 2, 3))
    assert single.to_dict("records") == [{"day": dt.date(2026, 2, 3), "is_open": True, "name": None}]
    empty = calendar_frame(dt.date(2026, 2, 3), dt.date(2026, 2, 2))
    assert list(empty.columns) == ["day", "is_open", "name"]
    assert len(empty) == 0
    leap = calendar_frame(dt.date(2024, 2, 28), dt.date(2024, 3, 1))
    assert leap["day"].tolist() == [dt.date(2024, 2, 28), dt.date(2024, 2, 29), dt.date(2024, 3, 1)]
    stamps = calendar_frame(pd.Timestamp("2026-09-21 10:00"), dt.datetime(2026, 9, 23, 18, 0))
    assert stamps["name"].tolist() == ["敬老の日", CITIZENS_HOLIDAY, "秋分の日"]


def test_calendar_frame_over_a_century():
    frame = calendar_frame(dt.date(2000, 1, 1), dt.date(2099, 12, 31))
    assert len(frame) == 36525
    assert frame["name"].value_counts()["元日"] == 100


def test_is_open_day():
    assert is_open_day(dt.date(2026, 2, 3))  # Tuesday
    assert not is_open_day(dt.date(2026, 2, 23))  # 天皇誕生日
    assert not is_open_day(dt.date(2026, 9, 22))  # 国民の休日
    assert not is_open_day(dt.date(2026, 1, 2))  # 年末年始
    assert not is_open_day(dt.date(2026, 2, 7))  # Saturday
    assert is_open_day(dt.datetime(2026, 12, 28, 23, 59))
    assert not is_open_day(pd.Timestamp("2026-12-29 08:30"))
    with pytest.raises(ValueError, match="1955"):
        is_open_day(dt.date(2100, 1, 4))
