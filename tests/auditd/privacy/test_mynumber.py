import random

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditd.privacy.mynumber import MASK, check_digit, is_mynumber, mask_series, mask_text, valid_mask


def make_number(first_eleven: str) -> str:
    return first_eleven + str(check_digit(first_eleven))


def test_known_valid_number():
    # the example number used in the official explanations of the algorithm
    assert is_mynumber("123456789018")
    assert not is_mynumber("123456789012")


def test_check_digit_matches_the_statutory_formula_by_hand():
    digits = "12345678901"
    p = [int(d) for d in reversed(digits)]  # P(1) is the rightmost
    q = [n + 1 if n <= 6 else n - 5 for n in range(1, 12)]
    remainder = sum(a * b for a, b in zip(p, q, strict=True)) % 11
    assert check_digit(digits) == (0 if remainder <= 1 else 11 - remainder)


@pytest.mark.parametrize(
    "written",
    [
        "123456789018",
        "1234-5678-9018",
        "1234 5678 9018",
        "１２３４５６７８９０１８",
        "１２３４－５６７８－９０１８",
        "1234.5678.9018",
        "1234/5678/9018",
        "1234−5678−9018",  # U+2212 MINUS SIGN, what some Japanese input methods give for a hyphen
        "1234–5678–9018",
        "1234  5678  9018",
        "１２３４・５６７８・９０１８",
    ],
)
def test_every_common_spelling_is_masked(written: str):
    masked, found = mask_text(f"検索条件: 個人番号={written} で照会")
    assert found
    assert masked == f"検索条件: 個人番号={MASK} で照会"


def test_numbers_that_are_not_my_numbers_are_left_alone():
    for text in [
        "123456789012",
        "1234567890185",
        "電話 0312345678",
        "法人番号 1234567890123",
        "2026-02-03 09:15:22",
    ]:
        masked, found = mask_text(text)
        assert not found and masked == text


def test_vectorised_check_matches_the_scalar_one():
    rng = random.Random(5)
    values = ["".join(rng.choice("0123456789") for _ in range(12)) for _ in range(5000)]
    expected = np.array([is_mynumber(v) for v in values])
    assert expected.any() and not expected.all()
    assert (valid_mask(pd.Series(values)) == expected).all()


def test_mask_series_flags_only_changed_rows_and_keeps_missing_values():
    n = make_number("98765432109")
    values = pd.Series([f"no={n}", "nothing here", None, "123456789012"], dtype="str")
    masked, flags = mask_series(values)
    assert flags.tolist() == [True, False, False, False]
    assert masked.iloc[0] == f"no={MASK}"
    assert pd.isna(masked.iloc[2])
    assert masked.iloc[3] == "123456789012"


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Nd")), max_size=30),
    st.text(alphabet="0123456789", min_size=11, max_size=11),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Nd")), max_size=30),
)
def test_a_valid_number_anywhere_in_text_never_survives(before: str, eleven: str, after: str):
    number = make_number(eleven)
    masked, flags = mask_series(pd.Series([before + number + after], dtype="str"))
    assert number not in masked.iloc[0]
    assert flags[0]
