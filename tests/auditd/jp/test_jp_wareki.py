from __future__ import annotations

import datetime as dt
import random
import time

import numpy as np
import pandas as pd
import pytest

from auditd.jp.wareki import parse_wareki, parse_wareki_date, to_halfwidth, to_wareki

VALID = [
    ("R08.02.03 09:15:22", dt.datetime(2026, 2, 3, 9, 15, 22)),
    ("R8.2.3 9:15", dt.datetime(2026, 2, 3, 9, 15)),
    ("R08/02/03 09:15:22", dt.datetime(2026, 2, 3, 9, 15, 22)),
    ("R08-02-03T09:15:22", dt.datetime(2026, 2, 3, 9, 15, 22)),
    ("R08.02.03 09:15", dt.datetime(2026, 2, 3, 9, 15)),
    ("R08.02.03", dt.datetime(2026, 2, 3)),
    ("R080203 091522", dt.datetime(2026, 2, 3, 9, 15, 22)),
    ("R080203091522", dt.datetime(2026, 2, 3, 9, 15, 22)),
    ("R080203", dt.datetime(2026, 2, 3)),
    ("令和8年2月3日", dt.datetime(2026, 2, 3)),
    ("令和8年2月3日 9時15分22秒", dt.datetime(2026, 2, 3, 9, 15, 22)),
    ("令和8年2月3日 9時15分", dt.datetime(2026, 2, 3, 9, 15)),
    ("令和8年2月3日9時15分", dt.datetime(2026, 2, 3, 9, 15)),
    ("令和8年2月3日 09:15:22", dt.datetime(2026, 2, 3, 9, 15, 22)),
    ("令和8年2月3日(火) 10:00", dt.datetime(2026, 2, 3, 10)),
    ("令和 8年 2月 3日", dt.datetime(2026, 2, 3)),
    ("令和元年5月1日", dt.datetime(2019, 5, 1)),
    ("R元.5.1", dt.datetime(2019, 5, 1)),
    ("平成31年4月30日", dt.datetime(2019, 4, 30)),
    ("H31.04.30 23:59:59", dt.datetime(2019, 4, 30, 23, 59, 59)),
    ("h31.04.30 23:59:59", dt.datetime(2019, 4, 30, 23, 59, 59)),
    ("r8.2.3", dt.datetime(2026, 2, 3)),
    ("S64.01.07", dt.datetime(1989, 1, 7)),
    ("s64.1.7 0:00", dt.datetime(1989, 1, 7)),
    ("昭和64年1月7日", dt.datetime(1989, 1, 7)),
    ("平成元年1月8日", dt.datetime(1989, 1, 8)),
    ("昭和元年12月25日", dt.datetime(1926, 12, 25)),
    ("大正元年7月30日", dt.datetime(1912, 7, 30)),
    ("T15.12.24", dt.datetime(1926, 12, 24)),
    ("明治45年7月29日", dt.datetime(1912, 7, 29)),
    ("M45.07.29", dt.datetime(1912, 7, 29)),
    ("R06.02.29", dt.datetime(2024, 2, 29)),  # leap day
    ("H12.02.29", dt.datetime(2000, 2, 29)),  # 2000 is a leap year
    ("R08.12.31 23:59:59", dt.datetime(2026, 12, 31, 23, 59, 59)),
    # fractional seconds
    ("R08.02.03 09:15:22.123", dt.datetime(2026, 2, 3, 9, 15, 22, 123000)),
    ("R08.02.03 09:15:22.5", dt.datetime(2026, 2, 3, 9, 15, 22, 500000)),
    ("R08.02.03 09:15:22.123456789", dt.datetime(2026, 2, 3, 9, 15, 22, 123456)),
    ("令和8年2月3日 9時15分22.25秒", dt.datetime(2026, 2, 3, 9, 15, 22, 250000)),
    # full-width and surrounding space
    ("令和８年２月３日　９時１５分", dt.datetime(2026, 2, 3, 9, 15)),
    ("Ｒ０８．０２．０３　０９：１５：２２", dt.datetime(2026, 2, 3, 9, 15, 22)),
    ("Ｒ０８／０２／０３", dt.datetime(2026, 2, 3)),
    ("  R08.02.03 09:15:22  ", dt.datetime(2026, 2, 3, 9, 15, 22)),
    ("\u3000令和8年2月3日\u3000", dt.datetime(2026, 2, 3)),
    # after the era's end: read as the Gregorian date the numbers say
    ("平成31年5月1日", dt.datetime(2019, 5, 1)),
    ("H32.01.01", dt.datetime(2020, 1, 1)),
    ("昭和65年1月1日", dt.datetime(1990, 1, 1)),
]

INVALID = [
    "令和0年1月1日",  # year 0
    "R00.01.01",
    "R08.13.01",  # month 13
    "R08.00.01",
    "令和8年2月30日",
    "R08.02.29",  # 2026 is not a leap year
    "R08.04.31",
    "R08.01.00",
    "R08.02.03 24:00:00",
    "R08.02.03 25:00",
    "R08.02.03 23:60:00",
    "R08.02.03 09:15:60",
    "令和8年2月3日 24時0分",
    "X08.02.03",  # unknown era letter
    "A8.2.3",
    "慶応3年1月1日",  # unknown era
    "2026-02-03",  # Gregorian, not 和暦
    "garbage",
    "R",
    "R08",
    "R08.02",
    "R08.02.03 09",
    "R08.02.03 9:15:22 PM",
    "R123.01.01",
    "",
    "   ",
]


def test_parses_valid_strings():
    values = pd.Series([text for text, _ in VALID])
    parsed = parse_wareki(values)
    assert parsed.dtype == "datetime64[us]"
    for (text, expected), got in zip(VALID, parsed, strict=True):
        assert got == pd.Timestamp(expected), text


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_each_valid_string_alone(text, expected):
    # Alone, each row goes through exactly one of the parsers.
    assert parse_wareki(pd.Series([text])).iloc[0] == pd.Timestamp(expected)


@pytest.mark.parametrize("text", INVALID)
def test_invalid_strings_are_nat(text):
    assert pd.isna(parse_wareki(pd.Series([text])).iloc[0])


def test_invalid_strings_are_nat_among_valid_ones():
    texts = [t for pair in zip(INVALID, [v for v, _ in VALID], strict=False) for t in pair]
    parsed = parse_wareki(pd.Series(texts))
    valid = dict(VALID)
    for text, got in zip(texts, parsed, strict=True):
        if text in valid:
            assert got == pd.Timestamp(valid[text]), text
        else:
            assert pd.isna(got), text


def test_missing_values_and_index_are_preserved():
    values = pd.Series(
        ["R08.02.03", None, np.nan, pd.NA, "令和8年2月3日", "bad"],
        index=[10, 10, 7, "x", 3, 3],  # duplicate and mixed labels
        name="ts",
        dtype=object,
    )
    parsed = parse_wareki(values)
    assert parsed.index.equals(values.index)
    assert parsed.name == "ts"
    assert parsed.dtype == "datetime64[us]"
    assert parsed.isna().tolist() == [False, True, True, True, False, True]
    assert parsed.iloc[0] == parsed.iloc[4] == pd.Timestamp("2026-02-03")


@pytest.mark.parametrize(
    "values",
    [
        pd.Series([], dtype="str"),
        pd.Series([], dtype=object),
        pd.Series([np.nan, np.nan]),  # an all-empty CSV column arrives as float64
        pd.Series([None, None], dtype="string"),
        pd.Series(["R08.02.03", None], dtype="string"),
    ],
)
def test_degenerate_inputs(values):
    parsed = parse_wareki(values)
    assert parsed.dtype == "datetime64[us]"
    assert len(parsed) == len(values)
    assert parsed.index.equals(values.index)


def test_all_formats_mixed_in_one_column():
    rng = random.Random(7)
    rows = [text for text, _ in VALID] * 50 + INVALID * 20 + [None] * 30
    rng.shuffle(rows)
    expected = dict(VALID)
    parsed = parse_wareki(pd.Series(rows, index=np.arange(len(rows))[::-1]))
    for text, got in zip(rows, parsed, strict=True):
        if text in expected:
            assert got == pd.Timestamp(expected[text]), text
        else:
            assert pd.isna(got), text


def test_round_trip_with_to_wareki():
    days = pd.date_range("1912-07-30", "2099-12-31", freq="37D").date.tolist()
    days += [dt.date(2019, 4, 30), dt.date(2019, 5, 1), dt.date(1989, 1, 7), dt.date(1989, 1, 8)]
    expected = pd.Series(pd.to_datetime(days)).astype("datetime64[us]")
    for style in ("kanji", "letter"):
        texts = pd.Series([to_wareki(day, style) for day in days])
        parsed = parse_wareki(texts)
        assert parsed.equals(expected), style


def test_parse_wareki_date():
    assert parse_wareki_date("令和8年2月3日") == dt.date(2026, 2, 3)
    assert parse_wareki_date("R08.02.03 23:59:59") == dt.date(2026, 2, 3)
    assert parse_wareki_date("平成31年4月30日") == dt.date(2019, 4, 30)
    assert parse_wareki_date("令和０年１月１日") is None
    assert parse_wareki_date("garbage") is None
    assert parse_wareki_date("") is None
    assert type(parse_wareki_date("R01.05.01")) is dt.date


def test_to_halfwidth():
    values = pd.Series(
        [
            "０１２３４５６７８９",
            "ＡＢＣＸＹＺａｂｃｘｙｚ",
            "：／－．",
            "令和\u3000８年",
            "R08.02.03",
            None,
            "ｶﾅ（火）＠＃",
            "\u2212",
        ],
        index=list("abcdefgh"),
        name="raw",
    )
    result = to_halfwidth(values)
    assert result.tolist()[:5] == ["0123456789", "ABCXYZabcxyz", ":/-.", "令和 8年", "R08.02.03"]
    assert pd.isna(result["f"])
    assert result["g"] == "ｶﾅ（火）＠＃"  # half-width kana, full-width brackets and symbols untouched
    assert result["h"] == "-"
    assert result.index.equals(values.index)
    assert result.name == "raw"
    assert result.dtype == "str"


def test_to_halfwidth_accepts_object_and_nullable_strings():
    assert to_halfwidth(pd.Series(["Ｒ８", None], dtype=object)).tolist()[0] == "R8"
    result = to_halfwidth(pd.Series(["Ｒ８", None], dtype="string"))
    assert result.iloc[0] == "R8"
    assert pd.isna(result.iloc[1])


@pytest.mark.parametrize(
    ("day", "kanji", "letter"),
    [
        (dt.date(2026, 2, 3), "令和8年2月3日", "R08.02.03"),
        (dt.date(2019, 5, 1), "令和元年5月1日", "R01.05.01"),
        (dt.date(2019, 4, 30), "平成31年4月30日", "H31.04.30"),
        (dt.date(1989, 1, 8), "平成元年1月8日", "H01.01.08"),
        (dt.date(1989, 1, 7), "昭和64年1月7日", "S64.01.07"),
        (dt.date(1926, 12, 25), "昭和元年12月25日", "S01.12.25"),
        (dt.date(1926, 12, 24), "大正15年12月24日", "T15.12.24"),
        (dt.date(1912, 7, 30), "大正元年7月30日", "T01.07.30"),
        (dt.date(1912, 7, 29), "明治45年7月29日", "M45.07.29"),
        (dt.date(1873, 1, 1), "明治6年1月1日", "M06.01.01"),
        (dt.date(2030, 12, 31), "令和12年12月31日", "R12.12.31"),
    ],
)
def test_to_wareki(day, kanji, letter):
    assert to_wareki(day) == kanji
    assert to_wareki(day, "kanji") == kanji
    assert to_wareki(day, style="letter") == letter


def test_to_wareki_accepts_datetimes_and_rejects_the_lunisolar_era():
    assert to_wareki(dt.datetime(2026, 2, 3, 23, 59)) == "令和8年2月3日"
    assert to_wareki(pd.Timestamp("2019-05-01 00:00")) == "令和元年5月1日"
    with pytest.raises(ValueError, match="1873"):
        to_wareki(dt.date(1872, 12, 31))
    with pytest.raises(ValueError, match="style"):
        to_wareki(dt.date(2026, 2, 3), "roman")  # type: ignore[arg-type]


def _random_timestamps(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        f"R{rng.randint(1, 8):02d}.{rng.randint(1, 12):02d}.{rng.randint(1, 28):02d} "
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
        for _ in range(count)
    ]


def test_vectorised_speed():
    letters = pd.Series(_random_timestamps(100_000, seed=1))
    kanji = pd.Series(
        [f"令和{t[1:3].lstrip('0')}年{t[4:6]}月{t[7:9]}日 {t[10:12]}時{t[13:15]}分{t[16:18]}秒" for t in letters]
    )
    values = pd.concat([letters, kanji], ignore_index=True)
    started = time.perf_counter()
    parsed = parse_wareki(values)
    elapsed = time.perf_counter() - started
    assert elapsed < 5, f"parsing 200,000 和暦 strings took {elapsed:.2f}s"
    assert parsed.notna().all()
    assert parsed.iloc[:100_000].equals(parsed.iloc[100_000:].set_axis(parsed.index[:100_000]))
