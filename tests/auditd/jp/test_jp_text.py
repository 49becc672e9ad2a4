from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from auditd.jp.text import normalize_kana, surname_of


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ヤマダ", "ヤマダ"),
        ("やまだ", "ヤマダ"),
        ("ﾔﾏﾀﾞ", "ヤマダ"),  # half-width, voiced mark composed
        ("ﾊﾟｰｸ", "パーク"),  # semi-voiced mark and long-vowel mark
        ("ヤマダ タロウ", "ヤマダタロウ"),
        ("やまだ\u3000たろう", "ヤマダタロウ"),
        (" \u3000ヤマ\tダ\n", "ヤマダ"),
        ("ヤマ\u200bダ", "ヤマダ"),  # zero-width space
        ("ジョン・スミス", "ジョンスミス"),
        ("ｼﾞｮﾝ･ｽﾐｽ", "ジョンスミス"),  # half-width middle dot
        ("ジョン·スミス", "ジョンスミス"),  # Latin middle dot
        ("きっかわ", "キッカワ"),  # small kana kept
        ("キャ", "キャ"),
        ("キヤ", "キヤ"),  # ... and not merged with the large form
        ("ヨーコ", "ヨーコ"),  # long-vowel mark kept
        ("ようこ", "ヨウコ"),
        ("ゔぁ", "ヴァ"),
        ("ゕゖ", "ヵヶ"),
        ("いすゞ", "イスヾ"),  # iteration mark
        ("か゛", "ガ"),  # spacing voiced mark: NFKC gives "か ゙", the space goes, NFC recombines
        ("ﾀﾞｲｽｹ", "ダイスケ"),
        ("ＡＢＣ", "ABC"),  # NFKC folds full-width Latin
        ("", ""),
    ],
)
def test_normalize_kana(raw, expected):
    assert normalize_kana(pd.Series([raw])).iloc[0] == expected


def test_normalize_kana_keeps_missing_values_index_and_name():
    values = pd.Series(["やまだ", None, np.nan, "ﾔﾏﾀﾞ"], index=[5, 5, "a", 0], name="kana", dtype=object)
    result = normalize_kana(values)
    assert result.index.equals(values.index)
    assert result.name == "kana"
    assert result.dtype == "str"
    assert result.iloc[0] == result.iloc[3] == "ヤマダ"
    assert result.isna().tolist() == [False, True, True, False]


@pytest.mark.parametrize(
    "values",
    [pd.Series([], dtype="str"), pd.Series([np.nan]), pd.Series(["ﾔﾏﾀﾞ", pd.NA], dtype="string")],
)
def test_normalize_kana_degenerate_inputs(values):
    result = normalize_kana(values)
    assert len(result) == len(values)
    assert result.index.equals(values.index)


def test_normalize_kana_makes_spellings_comparable():
    staff = normalize_kana(pd.Series(["ﾔﾏﾀﾞ ﾀﾛｳ", "さとう・はなこ"]))
    residents = normalize_kana(pd.Series(["やまだ　たろう", "サトウ　ハナコ"]))
    assert (staff == residents).all()


@pytest.mark.parametrize(
    ("full", "surname"),
    [
        ("ヤマダ タロウ", "ヤマダ"),
        ("ヤマダ\u3000タロウ", "ヤマダ"),
        ("やまだ\u3000たろう", "ヤマダ"),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ"),
        ("\u3000 ヤマダ  タロウ", "ヤマダ"),  # leading spaces ignored
        ("ヤマダ タロウ ジロウ", "ヤマダ"),  # only the first space splits
        ("ヤマダ", "ヤマダ"),  # no space: the whole value
        ("スミス・ジョン", "スミスジョン"),
        ("", ""),
    ],
)
def test_surname_of(full, surname):
    assert surname_of(pd.Series([full])).iloc[0] == surname


def test_surname_of_keeps_missing_values_and_index():
    values = pd.Series(["ヤマダ タロウ", None, "サトウ\u3000ハナコ"], index=["x", "y", "x"], name="kana")
    result = surname_of(values)
    assert result.index.equals(values.index)
    assert result.name == "kana"
    assert result.iloc[0] == "ヤマダ"
    assert pd.isna(result.iloc[1])
    assert result.iloc[2] == "サトウ"


def test_kana_speed():
    values = pd.Series(["やまだ\u3000たろう", "ﾔﾏﾀﾞ ﾀﾛｳ", "サトウ ハナコ"] * 70_000)
    started = time.perf_counter()
    result = surname_of(values)
    elapsed = time.perf_counter() - started
    assert elapsed < 5, f"surname_of over 210,000 names took {elapsed:.2f}s"
    assert set(result) == {"ヤマダ", "サトウ"}
