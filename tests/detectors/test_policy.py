"""The detectors built on the policy engine's violations, on hand-made windows of the test town."""

from __future__ import annotations

import pandas as pd
import pytest

from detectors.policy import (
    AfterTransferOrRetirement,
    ForeignTerminal,
    MissingFactors,
    MyNumberOutOfRole,
    OffHours,
    OutOfScope,
    UnregisteredTerminal,
)
from detectors.testing import at, event, window


def test_off_hours_lookups_of_one_evening_are_one_finding_naming_every_event():
    night = [event(f"2026-02-03 21:{m:02d}", subject_hash=s) for m, s in ((5, "R02"), (9, "R05"), (30, "R05"))]
    other_day = event("2026-02-04 22:00", subject_hash="R09")
    daytime = event("2026-02-03 10:00")
    w = window(
        [*night, other_day, daytime],
        violations=[{"event_id": e["event_id"], "rule": "off_hours"} for e in [*night, other_day]],
    )
    found = OffHours().detect(w)
    assert len(found) == 2
    evening = next(f for f in found if f.start == at("2026-02-03 21:05"))
    assert evening.user_id == "u1"
    assert set(evening.event_ids) == {e["event_id"] for e in night}
    assert evening.subjects == ("R02", "R05")
    assert evening.end == at("2026-02-03 21:30")
    assert "02/03 21:05–21:30" in evening.explanation_ja and "3件" in evening.explanation_ja
    assert "住民2人" in evening.explanation_ja and "R05" not in evening.explanation_ja
    assert evening.evidence["policy_codes"] == ["P04"]
    assert daytime["event_id"] not in {i for f in found for i in f.event_ids}


def test_off_hours_threshold_counts_operations_per_account_and_day():
    night = [event(f"2026-02-03 21:{m:02d}") for m in (1, 2)]
    w = window(night, violations=[{"event_id": e["event_id"], "rule": "off_hours"} for e in night])
    assert len(OffHours({"min_events": 2}).detect(w)) == 1
    assert OffHours({"min_events": 3}).detect(w) == []


def test_the_same_window_gives_the_same_fingerprints():
    night = [event("2026-02-03 21:05"), event("2026-02-03 21:06", user_id="u2", terminal_id="T2")]
    violations = [{"event_id": e["event_id"], "rule": "off_hours"} for e in night]
    first = {f.fingerprint for f in OffHours().detect(window(night, violations=violations))}
    again = {f.fingerprint for f in OffHours().detect(window(night, violations=violations))}
    assert first == again and len(first) == 2


@pytest.mark.parametrize(
    ("detector", "rule", "fields"),
    [
        (OutOfScope, "out_of_scope", {"jimu": "生活保護", "system": "福祉"}),
        (OutOfScope, "no_grant", {}),
        (ForeignTerminal, "foreign_terminal", {"terminal_id": "T5"}),
        (MissingFactors, "missing_factors", {"auth_factors": "password"}),
        (UnregisteredTerminal, "retired_terminal", {"terminal_id": "OLD-1"}),
        (MyNumberOutOfRole, "mynumber_display", {"action": "show_mynumber"}),
        (AfterTransferOrRetirement, "after_transfer", {}),
    ],
)
def test_each_rule_becomes_a_finding_of_its_detector_and_only_of_it(detector, rule, fields):  # type: ignore[no-untyped-def]
    e = event("2026-02-03 10:00", **fields)
    w = window([e, event("2026-02-03 10:05")], violations=[{"event_id": e["event_id"], "rule": rule}])
    found = detector().detect(w)
    assert [f.event_ids for f in found] == [(e["event_id"],)]
    assert found[0].rule == detector.code
    assert found[0].evidence["policy_rules"] == [rule]
    others = [d for d in (OffHours, OutOfScope, ForeignTerminal, MissingFactors, UnregisteredTerminal,
                          MyNumberOutOfRole, AfterTransferOrRetirement) if d is not detector]  # fmt: skip
    assert all(other().detect(w) == [] for other in others if rule not in other.rules)


def test_foreign_terminal_findings_are_per_terminal():
    a = event("2026-02-03 10:00", terminal_id="T5")
    b = event("2026-02-03 11:00", terminal_id="T6")
    w = window([a, b], violations=[{"event_id": e["event_id"], "rule": "foreign_terminal"} for e in (a, b)])
    found = ForeignTerminal().detect(w)
    assert sorted(f.terminal_id or "" for f in found) == ["T5", "T6"]


def test_use_after_retirement_is_critical_after_transfer_is_not():
    retired = event("2026-02-03 10:00", user_id="u3", terminal_id="T3")
    moved = event("2026-02-03 10:00", user_id="u4", terminal_id="T4")
    w = window(
        [retired, moved],
        violations=[
            {"event_id": retired["event_id"], "rule": "after_retirement"},
            {"event_id": moved["event_id"], "rule": "after_transfer"},
        ],
    )
    found = {f.user_id: f for f in AfterTransferOrRetirement().detect(w)}
    assert found["u3"].severity == "critical"
    assert found["u4"].severity is None  # the detector's own: high


def _with_last_seen(w, last: dict[str, pd.Timestamp], first_event: str):  # type: ignore[no-untyped-def]
    w.last_seen = lambda column, users, since: {u: t for u, t in last.items() if u in users and t >= since}
    w.first_event = at(first_event)
    return w


def test_a_dormant_account_used_again_is_found_once_on_its_first_day():
    back = [
        event("2026-04-06 10:00", user_id="u2", terminal_id="T2"),
        event("2026-04-06 10:10", user_id="u2", terminal_id="T2"),
    ]
    usual = event("2026-04-06 10:00", user_id="u3", terminal_id="T3")
    w = _with_last_seen(
        window([*back, usual]), {"u2": at("2026-01-20 10:00"), "u3": at("2026-04-03 10:00")}, "2025-10-01"
    )
    found = AfterTransferOrRetirement().detect(w)
    assert [(f.user_id, f.evidence["kind"]) for f in found] == [("u2", "dormant_reactivated")]
    assert set(found[0].event_ids) == {e["event_id"] for e in back}
    assert "60日以上" in found[0].explanation_ja


def test_dormancy_is_not_claimed_when_the_store_does_not_reach_back_far_enough():
    back = event("2026-04-06 10:00", user_id="u2", terminal_id="T2")
    w = _with_last_seen(window([back]), {}, "2026-03-01")
    assert AfterTransferOrRetirement().detect(w) == []
    assert len(AfterTransferOrRetirement({"dormant_days": 30}).detect(w)) == 1


def test_thresholds_are_validated_with_a_clear_error():
    from auditd.errors import ConfigError

    with pytest.raises(ConfigError, match=r"D13.*dormant_days"):
        AfterTransferOrRetirement({"dormant_days": 1})
    with pytest.raises(ConfigError, match="D01"):
        OffHours({"no_such_threshold": 3})
