import pytest

from auditd.jp.codes import municipality_check_digit, validate_municipality_code


@pytest.mark.parametrize(
    "code",
    [
        "131016",
        "131041",
        "011002",
        "271004",
        "012025",
        "471003",
        "999997",
    ],  # 千代田区, 新宿区 (remainder 0), 札幌市 …
)
def test_real_codes_validate(code: str):
    assert validate_municipality_code(code) == code


def test_wrong_check_digit_and_shape_are_refused():
    with pytest.raises(ValueError, match="check digit"):
        validate_municipality_code("131017")
    with pytest.raises(ValueError, match="six digits"):
        validate_municipality_code("13101")
    with pytest.raises(ValueError, match="five digits"):
        municipality_check_digit("1310a")
