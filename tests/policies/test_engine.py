"""The policy engine on hand-made events and reference data (no database): one test per rule, the
legitimate look-alikes it must not flag, and the edges (the minute hours end, the day a transfer takes
effect, the day after a grant expires, overtime covering part of a session, a holiday on a Monday)."""

from __future__ import annotations

import json
import os
from datetime import date

import pandas as pd
import pytest

from auditd.jp.calendar import calendar_frame
from policies.context import Context
from policies.engine import RULE_COLUMNS, evaluate, violations
from policies.model import Policy
from policies.rules import BY_KEY

POLICY = Policy.model_validate(
    {
        "jimu": {"個人住民税": {}, "国民健康保険": {}, "システム管理": {"uses_mynumber": False}},
        "systems": {
            "税務": {"segment": "mynumber"},
            "福祉": {"segment": "mynumber"},
            "認証基盤": {"segment": "mynumber", "kind": "authentication"},
        },
        "roles": {
            "clerk": {
                "title": "課税担当",
                "sections": ["S1"],
                "shows_mynumber": True,
                "permits": [
                    {
                        "systems": ["税務"],
                        "jimu": ["個人住民税"],
                        "actions": ["search", "view", "update", "print", "export", "show_mynumber"],
                    }
                ],
            },
            "viewer": {
                "title": "照会のみ",
                "permits": [{"systems": ["税務"], "jimu": ["個人住民税"], "actions": ["view"]}],
            },
            "batch": {
                "title": "夜間バッチ",
                "terminals": ["SV1"],
                "hours": [{"start": "00:00", "end": "06:00"}],
                "permits": [{"systems": ["税務"], "actions": ["print", "export"]}],
            },
            "admin": {
                "title": "管理者",
                "privileged": True,
                "permits": [{"systems": ["*"], "jimu": ["システム管理"], "actions": ["admin"]}],
            },
        },
        "time": {
            "business_hours": {"start": "08:30", "end": "17:15"},
            "counter_openings": [{"section": "S1", "dates": ["2026-02-08"], "start": "09:00", "end": "12:00"}],
        },
        "authentication": {
            "segments": {"mynumber": {"min_factors": 2, "one_of": ["vein", "ic_card"]}},
            "account_kinds": {"batch": {"min_factors": 1, "one_of": ["certificate"]}},
        },
        "outputs": {"bulk_threshold": 100},
    }
)


def day(value: str) -> pd.Timestamp:
    return pd.Timestamp(value)


def context(**changes: pd.DataFrame) -> Context:
    tables = {
        "accounts": pd.DataFrame(
            {
                "user_id": ["u1", "u2", "job", "adm"],
                "staff_id": ["E1", "E2", None, "E9"],
                "kind": ["personal", "personal", "batch", "admin"],
                "created_on": day("2025-04-01"),
                "disabled_on": pd.NaT,
            }
        ),
        "staff": pd.DataFrame(
            {
                "staff_id": ["E1", "E2", "E9"],
                "employment": ["regular", "contractor", "regular"],
                "pledge_date": [pd.NaT, day("2026-02-02"), pd.NaT],
                "hired_on": day("2015-04-01"),
                "retired_on": pd.NaT,
            }
        ),
        "assignments": pd.DataFrame(
            {
                "staff_id": ["E1", "E2", "E9"],
                "section_code": ["S1", "S1", "S9"],
                "valid_from": day("2025-04-01"),
                "valid_to": pd.NaT,
            }
        ),
        "grants": pd.DataFrame(
            {
                "user_id": ["u1", "u2", "job", "adm"],
                "role": ["clerk", "clerk", "batch", "admin"],
                "valid_from": day("2025-04-01"),
                "valid_to": day("2026-04-01"),
                "status": "active",
            }
        ),
        "terminals": pd.DataFrame(
            {
                "terminal_id": ["T1", "T2", "SV1", "T9", "OLD", "LG1"],
                "section_code": ["S1", "S2", "S9", "S9", "S1", "S1"],
                "segment": ["mynumber"] * 5 + ["lgwan"],
                "kind": "desktop",
                "registered_on": day("2024-04-01"),
                "retired_on": [pd.NaT, pd.NaT, pd.NaT, pd.NaT, day("2026-01-31"), pd.NaT],
            }
        ),
        "overtime": pd.DataFrame(
            {
                "staff_id": ["E1"],
                "day": [day("2026-02-03")],
                "start": [pd.Timestamp("17:15").time()],
                "end": [pd.Timestamp("19:00").time()],
            }
        ),
        "approvals": pd.DataFrame(
            {
                "approval_id": ["A1"],
                "staff_id": ["E1"],
                "user_id": [None],
                "jimu": ["個人住民税"],
                "action": ["print"],
                "max_count": [500],
                "valid_from": [pd.Timestamp("2026-02-03 00:00", tz="Asia/Tokyo").tz_convert("UTC")],
                "valid_to": [pd.Timestamp("2026-02-04 00:00", tz="Asia/Tokyo").tz_convert("UTC")],
            }
        ),
        "sessions": sessions(
            [
                ("u1", "T1", "2026-02-03 08:00"),
                ("u1", "T1", "2026-02-02 08:00"),
                ("u1", "T1", "2026-01-30 08:00"),
                ("u1", "T1", "2026-01-12 08:00"),
                ("u1", "T1", "2026-02-08 08:00"),
                ("u2", "T1", "2026-02-03 08:00"),
                ("adm", "T9", "2026-02-03 08:00"),
                ("job", "SV1", "2026-02-08 00:30", "certificate"),
            ]
        ),
    }
    tables.update(changes)
    calendar = calendar_frame(date(2026, 1, 1), date(2026, 3, 31))
    calendar["day"] = pd.to_datetime(calendar["day"])
    return Context(calendar=calendar, **tables)


def sessions(logins: list[tuple[str, ...]]) -> pd.DataFrame:
    rows = []
    for login in logins:
        user, terminal, when = login[:3]
        factors = login[3] if len(login) > 3 else "password,vein"
        rows.append(
            {
                "ts": pd.Timestamp(when, tz="Asia/Tokyo").tz_convert("UTC"),
                "user_id": user,
                "terminal_id": terminal,
                "session_id": None,
                "action": "login",
                "result": "success",
                "auth_factors": factors,
            }
        )
    return pd.DataFrame(rows)


def event(when: str, **fields: object) -> dict[str, object]:
    row: dict[str, object] = {
        "event_id": os.urandom(16),
        "ts": pd.Timestamp(when, tz="Asia/Tokyo").tz_convert("UTC"),
        "user_id": "u1",
        "terminal_id": "T1",
        "session_id": None,
        "system": "税務",
        "jimu": "個人住民税",
        "action": "view",
        "subject_count": 1,
        "auth_factors": None,
        "result": "success",
    }
    row.update(fields)
    return row


def broken(*rows: dict[str, object], ctx: Context | None = None) -> list[set[str]]:
    """The rules each event breaks."""
    events = pd.DataFrame(list(rows))
    facts = evaluate(events, POLICY, ctx or context())
    return [{c[2:] for c in RULE_COLUMNS if facts.iloc[i][c]} for i in range(len(events))]


def test_an_ordinary_lookup_in_hours_is_allowed():
    assert broken(event("2026-02-03 10:00")) == [set()]


def test_the_minute_business_hours_end():
    assert broken(
        event("2026-02-02 17:14:59"),
        event("2026-02-02 17:15:00"),
        event("2026-02-02 08:29:59"),
        event("2026-02-02 08:30:00"),
    ) == [set(), {"off_hours"}, {"off_hours"}, set()]


def test_overtime_that_covers_part_of_a_session():
    assert broken(event("2026-02-03 18:59:59"), event("2026-02-03 19:00:00")) == [set(), {"off_hours"}]


def test_a_holiday_that_falls_on_a_monday_and_a_weekend_counter_opening():
    # 2026-01-12 is 成人の日 (Monday); 2026-02-08 is a Sunday with the section's counter open 09:00-12:00
    assert broken(event("2026-01-12 10:00"), event("2026-02-08 10:00"), event("2026-02-08 13:00")) == [
        {"off_hours"},
        set(),
        {"off_hours"},
    ]


def test_the_day_after_a_grant_expires():
    grants = context().grants.assign(valid_to=day("2026-02-03"))  # exclusive: valid through Monday 2 February
    assert broken(event("2026-02-02 10:00"), event("2026-02-03 10:00"), ctx=context(grants=grants)) == [
        set(),
        {"no_grant"},
    ]


def test_a_suspended_grant_held_until_the_day_it_ended_and_one_ended_on_no_known_day_never():
    suspended = context().grants.assign(status="suspended", ended_on=day("2026-02-03"))
    late = [event("2026-02-02 10:00"), event("2026-02-03 10:00")]  # decided after the suspension
    assert broken(*late, ctx=context(grants=suspended)) == [set(), {"no_grant"}]
    revoked = context().grants.assign(status="revoked", ended_on=pd.NaT)
    assert broken(*late, ctx=context(grants=revoked)) == [{"no_grant"}, {"no_grant"}]


def test_the_day_a_transfer_takes_effect():
    assignments = pd.DataFrame(
        {
            "staff_id": ["E1", "E1"],
            "section_code": ["S1", "S2"],
            "valid_from": [day("2025-04-01"), day("2026-02-02")],
            "valid_to": [day("2026-02-02"), pd.NaT],
        }
    )
    result = broken(event("2026-01-30 10:00"), event("2026-02-02 10:00"), ctx=context(assignments=assignments))
    # the day it takes effect the clerk is in S2: the S1 role no longer fits, and T1 belongs to S1
    assert result == [set(), {"after_transfer", "foreign_terminal"}]


def test_out_of_scope_and_mynumber_display():
    ctx = context(grants=context().grants.assign(role=["viewer", "clerk", "batch", "admin"]))
    assert broken(
        event("2026-02-03 10:00", action="update"),
        event("2026-02-03 10:00", action="show_mynumber"),
        event("2026-02-03 10:00", jimu="国民健康保険", system="福祉"),
        ctx=ctx,
    ) == [{"out_of_scope"}, {"mynumber_display"}, {"out_of_scope"}]


def test_privileged_account_looking_at_residents_and_doing_maintenance():
    admin = {"user_id": "adm", "terminal_id": "T9"}
    assert broken(
        event("2026-02-03 10:00", **admin), event("2026-02-03 10:00", jimu="システム管理", action="admin", **admin)
    ) == [{"out_of_scope"}, set()]


def test_terminals_unregistered_retired_other_section_wrong_segment():
    assert broken(
        event("2026-02-03 10:00", terminal_id="NEW"),
        event("2026-02-03 10:00", terminal_id="OLD"),
        event("2026-02-03 10:00", terminal_id="T2"),
        event("2026-02-03 10:00", terminal_id="LG1"),
        ctx=context(sessions=sessions([("u1", t, "2026-02-03 08:00") for t in ("NEW", "OLD", "T2", "LG1")])),
    ) == [{"unregistered_terminal"}, {"retired_terminal"}, {"foreign_terminal"}, {"wrong_segment"}]


def test_sessions_by_id_by_terminal_logged_out_expired_and_factors():
    logins = sessions([("u1", "T1", "2026-02-03 08:00", "password"), ("u1", "T1", "2026-02-02 08:00")])
    logout = logins.iloc[[1]].assign(
        action="logout", ts=pd.Timestamp("2026-02-02 12:00", tz="Asia/Tokyo").tz_convert("UTC")
    )
    by_id = logins.iloc[[1]].assign(session_id="S-7")
    ctx = context(sessions=pd.concat([logins, logout, by_id], ignore_index=True))
    assert broken(
        event("2026-02-03 10:00"),  # a session with the password only
        event("2026-02-02 11:00"),  # within the morning session
        event("2026-02-02 13:00"),  # after the logout
        event("2026-02-02 13:00", session_id="S-7"),  # the source's session id names the login: covered
        event("2026-02-04 10:00"),  # the last login was 26 hours ago
        ctx=ctx,
    ) == [{"missing_factors"}, set(), {"no_session"}, set(), {"no_session"}]


def test_bulk_output_needs_an_approval_within_its_limit_and_time():
    assert broken(
        event("2026-02-03 15:00", action="print", subject_count=300),  # approved up to 500
        event("2026-02-03 15:00", action="print", subject_count=800),  # over the limit
        event("2026-02-02 15:00", action="print", subject_count=300),  # the approval is for another day
        event("2026-02-03 15:00", action="export", subject_count=300),  # approved for print only
        event("2026-02-03 15:00", action="print", subject_count=99),  # below the threshold: no approval needed
    ) == [set(), {"bulk_without_approval"}, {"bulk_without_approval"}, {"bulk_without_approval"}, set()]


def test_a_night_batch_on_its_server_is_allowed_but_not_elsewhere_or_by_day():
    job = {"user_id": "job", "terminal_id": "SV1", "action": "print", "subject_count": 50}
    assert broken(
        event("2026-02-08 01:00", **job),  # Sunday night, its own hours and terminal
        event("2026-02-08 09:00", **job),  # by day
        event("2026-02-08 01:00", **{**job, "terminal_id": "T1"}),  # from a clerk's PC
        ctx=context(
            sessions=sessions(
                [("job", "SV1", "2026-02-08 00:30", "certificate"), ("job", "T1", "2026-02-08 00:30", "certificate")]
            )
        ),
    ) == [set(), {"off_hours"}, {"terminal_not_allowed"}]


def test_accounts_unknown_disabled_retired_and_contractor_pledge():
    accounts = context().accounts.assign(disabled_on=[day("2026-02-03"), pd.NaT, pd.NaT, pd.NaT])
    staff = context().staff.assign(retired_on=[pd.NaT, pd.NaT, day("2026-02-01")])
    admin = {"user_id": "adm", "terminal_id": "T9", "jimu": "システム管理", "action": "admin"}
    rows = [
        event("2026-02-03 10:00", user_id="nobody"),
        event("2026-02-03 10:00"),
        event("2026-02-03 10:00", **admin),
        event("2026-02-03 10:00", user_id="u2"),
        event("2026-01-30 10:00", user_id="u2"),
    ]
    u2_sessions = sessions(
        [
            ("u2", "T1", "2026-01-30 08:00"),
            ("u2", "T1", "2026-02-03 08:00"),
            ("u1", "T1", "2026-02-03 08:00"),
            ("adm", "T9", "2026-02-03 08:00"),
        ]
    )
    result = broken(*rows, ctx=context(accounts=accounts, staff=staff, sessions=u2_sessions))
    assert result[0] == {"unknown_account", "no_session"}
    assert result[1] == {"account_disabled"}
    assert result[2] == {"after_retirement"}
    assert result[3] == set(), "pledged on 2026-02-02: from that day on"
    assert result[4] == {"contractor_without_pledge"}


def test_logins_themselves_are_only_checked_for_terminal_and_account():
    login = {"action": "login", "system": "認証基盤", "jimu": None, "auth_factors": "password,vein"}
    assert broken(
        event("2026-02-08 23:00", **login),
        event("2026-02-03 10:00", **{**login, "terminal_id": "OLD"}),
        event("2026-02-03 10:00", **{**login, "action": "login_fail", "user_id": "nobody"}),
    ) == [set(), {"retired_terminal"}, set()]


def test_violations_carry_evidence_without_residents_and_readable_reasons():
    events = pd.DataFrame([event("2026-02-02 19:30"), event("2026-02-03 15:00", action="print", subject_count=800)])
    ctx = context()
    facts = evaluate(events, POLICY, ctx)
    found = violations(events, facts, POLICY, ctx)
    assert sorted(found["rule"]) == ["bulk_without_approval", "off_hours"]

    off = json.loads(found.loc[found["rule"] == "off_hours", "evidence"].iloc[0])
    assert off["time"] == "19:30" and off["hours"] == "08:30–17:15" and off["roles"] == "clerk"
    assert "subject" not in json.dumps(off)
    assert BY_KEY["off_hours"].reason(off, "ja").startswith("開庁日の 19:30 の操作")
    bulk = json.loads(found.loc[found["rule"] == "bulk_without_approval", "evidence"].iloc[0])
    assert BY_KEY["bulk_without_approval"].reason(bulk, "en") == (
        "print of 800 residents without a valid output approval (needed from 100)."
    )


@pytest.mark.parametrize("size", [1, 5000])
def test_the_engine_is_vectorised_same_answer_alone_or_in_a_crowd(size: int):
    crowd = [event(f"2026-02-03 {9 + i % 8:02d}:{i % 60:02d}") for i in range(size - 1)]
    target = event("2026-02-03 19:30")  # after the approved overtime (until 19:00), within the session
    assert broken(*crowd, target)[-1] == {"off_hours"}
