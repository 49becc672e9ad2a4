"""Kana normalisation for comparing names (姓カナ) across staff and resident registers.

The same surname reaches the audit as ﾔﾏﾀﾞ (half-width, old host systems), やまだ (hiragana, web
forms), ヤマダ or "ヤマ　ダ" (keying slips).  A related-party check that compares them literally
misses exactly the cases it exists for, so both sides go through :func:`normalize_kana` first.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["normalize_kana", "surname_of"]

_STR_DTYPE: Final = pd.StringDtype(storage="pyarrow", na_value=np.nan)

_HIRAGANA_FIRST: Final = 0x3041  # ぁ
_HIRAGANA_LAST: Final = 0x3096  # ゖ
_KATAKANA_SHIFT: Final = 0x30A1 - 0x3041
_HIRAGANA_CLASS: Final = "[\u3041-\u3096\u309d\u309e]"
_LAST_SPACE: Final = 0x3000  # U+3000 IDEOGRAPHIC SPACE is the highest code point str.isspace() accepts
# Word separators people put inside names: ・ (and its half-width form), · and its look-alikes.
_MIDDLE_DOTS: Final = "\u30fb\uff65\u00b7\u2027\u2219\u22c5\u2e31"
# Invisible characters that behave like spaces when names are keyed or copied.
_ZERO_WIDTH: Final = "\u200b\ufeff"


def _dropped_class() -> str:
    """An RE2 class of every whitespace (per ``str.isspace``), zero-width space and middle dot."""
    codes = [code for code in range(_LAST_SPACE + 1) if chr(code).isspace()]
    codes += map(ord, _MIDDLE_DOTS + _ZERO_WIDTH)
    return "[" + "".join(f"\\x{{{code:04x}}}" for code in sorted(codes)) + "]"


_DROPPED: Final = _dropped_class()
_TO_KATAKANA: Final = {code: code + _KATAKANA_SHIFT for code in range(_HIRAGANA_FIRST, _HIRAGANA_LAST + 1)} | {
    ord("ゝ"): ord("ヽ"),
    ord("ゞ"): ord("ヾ"),
}


def _as_str(values: pd.Series) -> pd.Series:
    if values.dtype == _STR_DTYPE:
        return values
    return values.astype(_STR_DTYPE)


def _arrow(values: pd.Series) -> pa.Array:
    strings = pa.array(_as_str(values).array)
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    return strings


def _pandas(strings: pa.Array, like: pd.Series) -> pd.Series:
    return pd.Series(strings, dtype=_STR_DTYPE, index=like.index, name=like.name)


def normalize_kana(values: pd.Series) -> pd.Series:
    """Reduce kana names to one comparable spelling: full-width katakana, no spaces, no ・.

    NFKC first, so half-width ﾀﾞ becomes ダ (composed) and full-width Latin becomes ASCII; then
    every kind of whitespace (including U+3000 and zero-width spaces) and middle dot is dropped and
    hiragana becomes katakana.  Small kana (ッ, ャ) and the long-vowel mark ー are kept: ヨウコ and
    ヨーコ, or キヤ and キャ, are different registered readings and must not be merged.  A final NFC
    recombines a voiced mark left dangling by a dropped space (カ ゛ → ガ).  Missing values stay
    missing; the result has the ``str`` dtype and the index of ``values``.

    Normalisation and deletion run as Arrow kernels; only rows that contain hiragana go through
    ``str.translate``.
    """
    strings = pc.utf8_normalize(_arrow(values), "NFKC")
    strings = pc.replace_substring_regex(strings, _DROPPED, "")
    text = _pandas(strings, values).reset_index(drop=True)
    hiragana = text.str.contains(_HIRAGANA_CLASS, regex=True, na=False)
    if hiragana.any():
        text = text.where(~hiragana, text[hiragana].str.translate(_TO_KATAKANA))
    return _pandas(pc.utf8_normalize(_arrow(text), "NFC"), values)


def surname_of(full_kana: pd.Series) -> pd.Series:
    """The 姓 of a kana full name, i.e. what precedes the first space, normalised for comparison.

    Registers store 姓 and 名 separated by one ASCII or ideographic space ("ヤマダ　タロウ"), so the
    split must happen before :func:`normalize_kana` removes spaces.  Leading spaces are ignored; a
    value without a space is taken whole (a one-part name, or a register that does not separate).
    """
    text = _as_str(full_kana).str.strip()
    first_part = text.str.replace("(?s)[ \u3000].*", "", regex=True)
    return normalize_kana(first_part)
