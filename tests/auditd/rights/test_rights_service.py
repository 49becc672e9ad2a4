"""Which grants the personnel register makes lapse (the vectorised rule itself, no database)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from auditd.rights.service import lapsed_grants

ROLES = {"tax_resident": ("1101",), "linkage": ("1101", "2101"), "batch": ()}


def grants(*rows: tuple[int, str, str, date]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["grant_id", "role", "staff_id", "valid_from"])
    frame["user_id"] = "u-" + frame["staff_id"]
    return frame


def assignments(*rows: tuple[str, str, date]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["staff_id", "section_code", "assigned_from"])


def retirements(*rows: tuple[str, date]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["staff_id", "retired_on"])


def test_a_transfer_lapses_only_roles_not_held_in_the_new_section():
    lapsed = lapsed_grants(
        grants(
            (1, "tax_resident", "S1", date(2025, 4, 1)),
            (2, "linkage", "S1", date(2025, 4, 1)),
            (3, "batch", "S1", date(2025, 4, 1)),
            (4, "tax_resident", "S2", date(2025, 4, 1)),
        ),
        retirements(),
        assignments(("S1", "2101", date(2026, 4, 1)), ("S2", "1101", date(2025, 4, 1))),
        ROLES,
    )
    assert lapsed[["grant_id", "cause", "effective_on", "section_code"]].values.tolist() == [
        [1, "transfer", date(2026, 4, 1), "2101"]
    ]


def test_a_grant_given_after_the_move_lapses_from_its_own_start_and_the_earlier_cause_wins():
    lapsed = lapsed_grants(
        grants((1, "tax_resident", "S1", date(2026, 5, 1)), (2, "tax_resident", "S2", date(2025, 4, 1))),
        retirements(("S2", date(2026, 3, 31))),
        assignments(("S1", "1102", date(2026, 4, 1)), ("S2", "1102", date(2026, 4, 1))),
        ROLES,
    )
    assert lapsed[["grant_id", "cause", "effective_on"]].values.tolist() == [
        [1, "transfer", date(2026, 5, 1)],
        [2, "retirement", date(2026, 3, 31)],
    ]


def test_nothing_lapses_without_grants_or_changes():
    assert lapsed_grants(grants(), retirements(), assignments(), ROLES).empty
    still = lapsed_grants(
        grants((1, "tax_resident", "S1", date(2025, 4, 1))),
        retirements(),
        assignments(("S1", "1101", date(2025, 4, 1))),
        ROLES,
    )
    assert still.empty
