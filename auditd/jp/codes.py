"""全国地方公共団体コード (six digits, the last a check digit)."""

from __future__ import annotations

_WEIGHTS = (6, 5, 4, 3, 2)


def municipality_check_digit(first_five: str) -> int:
    """The check digit of a five-digit 地方公共団体コード (総務省: weights 6..2, modulus 11, last digit)."""
    if len(first_five) != 5 or not first_five.isdigit():
        raise ValueError(f"expected five digits, got {first_five!r}")
    remainder = sum(int(d) * w for d, w in zip(first_five, _WEIGHTS, strict=True)) % 11
    # "11 minus the remainder, last digit": remainder 0 gives 1 (新宿区 131041), remainder 1 gives 0.
    return (11 - remainder) % 10


def validate_municipality_code(code: str) -> str:
    """Return ``code`` if it is six digits with a correct check digit, else raise ``ValueError``."""
    code = code.strip()
    if len(code) != 6 or not code.isdigit():
        raise ValueError(f"全国地方公共団体コード must be six digits, got {code!r}")
    expected = municipality_check_digit(code[:5])
    if int(code[5]) != expected:
        raise ValueError(f"全国地方公共団体コード {code} has a wrong check digit (expected {expected})")
    return code
