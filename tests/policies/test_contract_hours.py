"""A contractor's operator is held to the work window (作業時間) and weekdays of the contract in force on
the event's day: the contract replaces the policy's hours for contractors, a contract without a window
still limits the days, and outside any contract the policy's hours apply again. A regular employee at
the same times is unaffected; the 「なぜ」 view and the stored evidence name the contract."""

from __future__ import annotations

import json
from datetime import datetime, time

import pandas as pd
from test_engine import POLICY, context, day, event, sessions

from policies.context import Context
from policies.engine import RULE_COLUMNS, evaluate, violations, weekdays_text
from policies.explain import _steps
from policies.model import Policy
from policies.rules import BY_KEY
from policies.service import Version

#: Wide office hours and wide hours for contractors, so that only the contract can exclude 17:30 or 18:00.
WIDE = Policy.model_validate(
    {
        **POLICY.model_dump(mode="json", exclude={"time", "contractors"}),
        "time": {"business_hours": {"start": "08:00", "end": "20:00"}},
        "contractors": {"require_pledge": True, "hours": {"start": "08:00", "end": "20:00"}},
    }
)
#: u2 (staff E2, a contractor pledged on 2026-02-02) and u1 (E1, regular), both logged in every day.
LOGINS = sessions([(u, "T1", f"2026-02-{d:02d} 07:00") for u in ("u1", "u2") for d in range(2, 17)])


def contract(
    number: str = "R7-委託-001",
    valid_from: str = "2026-02-01",
    valid_to: str = "2026-02-14",
    window: tuple[time, time] | None = (time(9), time(17)),
    weekdays: str = "12345",
    staff_id: str = "E2",
    contract_id: int = 1,
) -> dict[str, object]:
    return {
        "staff_id": staff_id,
        "contract_id": contract_id,
        "contract_number": number,
        "valid_from": day(valid_from),
        "valid_to": day(valid_to),
        "window_start": window[0] if window else None,
        "window_end": window[1] if window else None,
        "weekdays": weekdays,
    }


def under(*contracts: dict[str, object]) -> Context:
    return context(contracts=pd.DataFrame(list(contracts)), sessions=LOGINS)


def broken(times: list[str], ctx: Context, policy: Policy = WIDE, user: str = "u2") -> list[set[str]]:
    events = pd.DataFrame([event(t, user_id=user) for t in times])
    facts = evaluate(events, policy, ctx)
    return [{c[2:] for c in RULE_COLUMNS if facts.iloc[i][c]} for i in range(len(events))]


def test_within_the_contract_window_on_a_weekday_is_in_hours():
    assert broken(["2026-02-02 10:00", "2026-02-02 16:59:59"], under(contract())) == [set(), set()]


def test_the_contract_window_replaces_the_wider_policy_hours_for_contractors():
    times = ["2026-02-02 17:00", "2026-02-02 18:00", "2026-02-02 08:30"]  # Monday
    # without a contract, WIDE (office and contractors 08:00–20:00) allows all three
    assert broken(times, context(sessions=LOGINS)) == [set(), set(), set()]
    assert broken(times, under(contract())) == [{"off_hours"}, {"off_hours"}, {"off_hours"}]


def test_the_contract_window_also_holds_against_the_default_policy():
    assert broken(["2026-02-02 10:00", "2026-02-02 18:00"], under(contract()), POLICY) == [set(), {"off_hours"}]


def test_outside_the_contracts_weekdays():
    # 2026-02-07 is a Saturday (the office is closed as well); 2026-02-03 a Tuesday, not in 1・3・5
    assert broken(["2026-02-07 10:00"], under(contract())) == [{"off_hours"}]
    assert broken(["2026-02-03 10:00", "2026-02-04 10:00"], under(contract(weekdays="135"))) == [
        {"off_hours"},
        set(),
    ]


def test_after_the_contract_ends_the_policy_hours_for_contractors_apply_again():
    # valid_to is exclusive: the contract covers 2026-02-13 (a Friday), not Monday 2026-02-16
    ctx = under(contract())
    assert broken(["2026-02-13 18:00", "2026-02-16 18:00"], ctx) == [{"off_hours"}, set()]
    narrow = Policy.model_validate(
        {**WIDE.model_dump(mode="json"), "contractors": {"hours": {"start": "09:00", "end": "12:00"}}}
    )
    assert broken(["2026-02-16 11:00", "2026-02-16 13:00"], ctx, narrow) == [set(), {"off_hours"}]


def test_a_contract_without_a_window_limits_the_days_then_the_policy_hours_apply():
    ctx = under(contract(window=None, weekdays="1234"))
    narrow = Policy.model_validate(
        {**WIDE.model_dump(mode="json"), "contractors": {"hours": {"start": "09:00", "end": "12:00"}}}
    )
    # Monday 11:00 and 13:00, Friday 11:00 (not a day of the contract)
    times = ["2026-02-02 11:00", "2026-02-02 13:00", "2026-02-06 11:00"]
    assert broken(times, ctx, narrow) == [set(), {"off_hours"}, {"off_hours"}]
    assert broken(times, ctx) == [set(), set(), {"off_hours"}]


def test_overlapping_contracts_the_later_start_decides():
    old = contract("R6-委託-009", valid_from="2025-04-01", valid_to="2026-04-01", window=(time(8), time(20)))
    renewal = contract(valid_from="2026-02-03", valid_to="2027-04-01", contract_id=2)
    facts = evaluate(
        pd.DataFrame([event("2026-02-02 18:00", user_id="u2"), event("2026-02-03 18:00", user_id="u2")]),
        WIDE,
        under(old, renewal),
    )
    assert facts["contract_number"].tolist() == ["R6-委託-009", "R7-委託-001"]
    assert facts["v_off_hours"].tolist() == [False, True]


def test_a_night_window_passes_midnight():
    night = sessions([("u2", "T1", "2026-02-02 22:30"), ("u2", "T1", "2026-02-03 07:00")])
    ctx = context(contracts=pd.DataFrame([contract(window=(time(22), time(6)), weekdays="1234567")]), sessions=night)
    policy = Policy.model_validate(
        {**WIDE.model_dump(mode="json"), "time": {"business_hours": {"start": "00:00", "end": "23:59"}}}
    )
    assert broken(["2026-02-02 23:00", "2026-02-03 05:59", "2026-02-03 12:00"], ctx, policy) == [
        set(),
        set(),
        {"off_hours"},
    ]


def test_a_regular_employee_at_the_same_times_is_unaffected():
    # even put under a contract, E1's events are judged as before: the contract is E2's
    times = ["2026-02-02 10:00", "2026-02-02 18:00", "2026-02-07 10:00", "2026-02-16 18:00"]
    assert broken(times, under(contract()), user="u1") == broken(times, context(sessions=LOGINS), user="u1")
    assert broken(times, under(contract()), user="u1") == [set(), set(), {"off_hours"}, set()]


def test_someone_on_the_roster_is_held_to_the_contract_whatever_the_staff_feed_says():
    # E1 is "regular" in the staff feed but the roster puts them under a contract: they work under it
    assert broken(["2026-02-02 18:00"], under(contract(staff_id="E1")), user="u1") == [{"off_hours"}]


def test_facts_evidence_and_reason_name_the_contract():
    events = pd.DataFrame([event("2026-02-02 10:00", user_id="u2"), event("2026-02-02 18:00", user_id="u2")])
    ctx = under(contract())
    facts = evaluate(events, WIDE, ctx)
    assert facts["contract_window"].tolist() == ["09:00–17:00 月火水木金"] * 2
    assert facts["contract_outside"].tolist() == [False, True]
    found = violations(events, facts, WIDE, ctx)
    evidence = json.loads(found.loc[found["rule"] == "off_hours", "evidence"].iloc[0])
    assert evidence["contract"] == "R7-委託-001" and evidence["hours"] == "09:00–17:00 月火水木金"
    assert "業務時間（09:00–17:00 月火水木金）外" in BY_KEY["off_hours"].reason(evidence, "ja")


def test_the_explanation_says_the_contract_and_its_window_in_both_languages():
    events = pd.DataFrame([event("2026-02-02 18:00", user_id="u2"), event("2026-02-02 10:00", user_id="u2")])
    facts = evaluate(events, WIDE, under(contract()))
    version = Version(1, datetime(2026, 1, 1), WIDE)
    outside = next(s for s in _steps(events.iloc[0], facts.iloc[0], ["clerk"], version) if s.key == "time")
    assert not outside.ok and outside.rules == ["off_hours"]
    assert "委託契約 R7-委託-001 の作業時間 09:00–17:00（月〜金）の外" in outside.detail_ja
    assert "Outside contract R7-委託-001's work window 09:00–17:00 (Mon–Fri)." in outside.detail_en
    inside = next(s for s in _steps(events.iloc[1], facts.iloc[1], ["clerk"], version) if s.key == "time")
    assert inside.ok and "委託契約 R7-委託-001 の作業時間 09:00–17:00（月〜金）内" in inside.detail_ja
    assert "within contract R7-委託-001's work window 09:00–17:00 (Mon–Fri)" in inside.detail_en


def test_weekdays_in_words():
    assert weekdays_text("12345") == "月〜金" and weekdays_text("12345", "en") == "Mon–Fri"
    assert weekdays_text("135") == "月・水・金" and weekdays_text("531", "en") == "Mon, Wed, Fri"
    assert weekdays_text("") == "なし"
