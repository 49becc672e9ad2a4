"""D10 shared ID, D14 bulk output, D15 privileged misuse, on hand-made windows of the small town."""

from __future__ import annotations

from typing import Any

import pandas as pd

from detectors.accounts import BulkOutput, PrivilegedMisuse, SharedId
from detectors.testing import at, event, town, window


def login(when: str, user: str, terminal: str, session: str, action: str = "login") -> dict[str, Any]:
    return {
        "ts": at(when),
        "user_id": user,
        "terminal_id": terminal,
        "session_id": session,
        "action": action,
        "result": "success",
        "auth_factors": "password,vein",
    }


def session(user: str, terminal: str, start: str, end: str, sid: str) -> list[dict[str, Any]]:
    return [login(start, user, terminal, sid), login(end, user, terminal, sid, "logout")]


# -- D10 ---------------------------------------------------------------------------------------------------------


def test_overlapping_sessions_on_two_terminals_are_one_finding() -> None:
    own = [event(f"2026-02-03 10:{m:02d}", subject_hash=f"R{m + 10:02d}", session_id="S1") for m in (1, 2, 30)]
    other = [
        event(f"2026-02-03 10:{m:02d}", terminal_id="T2", subject_hash=f"R{m + 10:02d}", session_id="S2")
        for m in (10, 12)
    ]
    w = window(
        own + other,
        sessions=session("u1", "T1", "2026-02-03 09:00", "2026-02-03 17:00", "S1")
        + session("u1", "T2", "2026-02-03 10:05", "2026-02-03 10:20", "S2"),
    )
    [f] = SharedId().detect(w)
    assert f.user_id == "u1" and f.key == "u1|2026-02-03"
    assert set(f.event_ids) == {e["event_id"] for e in other}  # the operations inside the overlap
    assert f.subjects == ("R20", "R22")
    assert "T1" in f.explanation_ja and "T2" in f.explanation_ja and "同時にログイン" in f.explanation_ja
    assert f.evidence["reasons"] == ["overlapping_sessions"] and f.evidence["overlaps"][0]["minutes"] == 15.0


def test_counter_rotation_in_sequence_and_same_terminal_are_not_sharing() -> None:
    ops = [
        event("2026-02-03 09:30", user_id="u5", terminal_id="T5", jimu="国民健康保険"),
        event("2026-02-03 11:00", user_id="u5", terminal_id="T6", jimu="国民健康保険"),
        event("2026-02-03 14:00", user_id="u5", terminal_id="T7", jimu="国民健康保険"),
    ]
    sessions = (
        session("u5", "T5", "2026-02-03 09:00", "2026-02-03 10:30", "A")
        + session("u5", "T6", "2026-02-03 10:30", "2026-02-03 13:00", "B")
        + session("u5", "T7", "2026-02-03 13:00", "2026-02-03 17:00", "C")
        + session("u1", "T1", "2026-02-03 09:00", "2026-02-03 17:00", "D")
        + session("u1", "T1", "2026-02-03 10:00", "2026-02-03 11:00", "E")
    )
    assert SharedId().detect(window(ops, sessions=sessions)) == []


def test_overlap_below_the_minimum_and_forgotten_logout_are_not_sharing() -> None:
    # T1's logout arrives 30 s after the login on T2 (clock skew); a desk left logged in, idle since 09:10
    ops = [event("2026-02-03 09:05"), event("2026-02-03 09:10"), event("2026-02-03 10:30", terminal_id="T2")]
    w = window(
        ops,
        sessions=session("u1", "T1", "2026-02-03 09:00", "2026-02-03 10:00:30", "A")
        + session("u1", "T2", "2026-02-03 10:00", "2026-02-03 11:00", "B"),
    )
    assert SharedId().detect(w) == []
    w = window(
        ops,
        sessions=session("u1", "T1", "2026-02-03 09:00", "2026-02-03 12:00", "A")
        + session("u1", "T2", "2026-02-03 10:20", "2026-02-03 11:00", "B"),
    )
    assert SharedId().detect(w) == []  # T1 idle from 09:10 (+30 min) before T2's login at 10:20
    assert len(SharedId({"idle_minutes": 120}).detect(w)) == 1


def test_interleaved_operations_without_sessions() -> None:
    ops = [
        event("2026-02-03 10:00"),
        event("2026-02-03 10:02", terminal_id="T3", subject_hash="R05"),
        event("2026-02-03 10:04"),
    ]
    [f] = SharedId().detect(window(ops))
    assert f.evidence["interleaved_switches"] == 1 and set(f.event_ids) == {e["event_id"] for e in ops}
    assert "行き来" in f.explanation_ja
    slow = [event("2026-02-03 10:00"), event("2026-02-03 10:06", terminal_id="T3"), event("2026-02-03 10:11")]
    assert SharedId().detect(window(slow)) == []  # 11 minutes: a walk to another desk and back


def test_many_terminals_in_a_day_boundary() -> None:
    two = [event("2026-02-03 09:00"), event("2026-02-03 12:00", terminal_id="T2")]
    assert SharedId().detect(window(two)) == []
    three = [*two, event("2026-02-03 15:00", terminal_id="T3")]
    [f] = SharedId().detect(window(three))
    assert f.evidence["terminals"] == ["T1", "T2", "T3"] and "3台" in f.explanation_ja
    # own-section counters count as one terminal
    counters = [
        event(f"2026-02-03 {h}:00", user_id="u5", terminal_id=t) for h, t in ((9, "T5"), (11, "T6"), (14, "T7"))
    ]
    assert SharedId().detect(window(counters)) == []


def test_temporary_card_on_residents_is_one_finding_per_day() -> None:
    tables = town()
    accounts = pd.concat(
        [
            tables["accounts"],
            pd.DataFrame(
                [
                    {
                        "user_id": "tmp1",
                        "staff_id": None,
                        "kind": "temporary",
                        "created_on": pd.Timestamp("2020-04-01"),
                        "disabled_on": pd.NaT,
                    }
                ]
            ),
        ],
        ignore_index=True,
    )
    ops = [
        event("2026-02-03 10:00", user_id="tmp1", subject_hash="R07"),
        event("2026-02-03 10:05", user_id="tmp1", subject_hash="R07"),
        event("2026-02-03 10:09", user_id="tmp1", action="admin", subject_hash=None),
    ]
    [f] = SharedId().detect(window(ops, accounts=accounts))
    assert (
        f.user_id == "tmp1" and f.subjects == ("R07",) and set(f.event_ids) == {ops[0]["event_id"], ops[1]["event_id"]}
    )
    assert "一時カード" in f.explanation_ja and "住民1人" in f.explanation_ja
    assert SharedId({"flag_temporary": False}).detect(window(ops, accounts=accounts)) == []


# -- D14 ---------------------------------------------------------------------------------------------------------


def approval(user: str | None, staff: str | None, action: str, max_count: int, start: str, end: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "approval_id": "OA1",
                "staff_id": staff,
                "user_id": user,
                "jimu": None,
                "action": action,
                "max_count": max_count,
                "valid_from": at(start),
                "valid_to": at(end),
            }
        ]
    )


def test_bulk_export_without_approval() -> None:
    bulk = event(
        "2026-02-03 16:51",
        user_id="u3",
        action="export",
        subject_hash=None,
        subject_count=2400,
        detail="滞納者一覧 CSV出力",
    )
    [f] = BulkOutput().detect(
        window(
            [bulk, event("2026-02-03 10:00")],
            violations=[{"event_id": bulk["event_id"], "rule": "bulk_without_approval"}],
        )
    )
    assert f.user_id == "u3" and f.event_ids == (bulk["event_id"],) and f.subjects == ()
    assert "2,400人分" in f.explanation_ja and "承認のない" in f.explanation_ja
    assert f.evidence["policy_rules"] == ["bulk_without_approval"] and f.evidence["largest"] == 2400


def test_batch_and_clerk_under_approval_are_not_flagged() -> None:
    night = event(
        "2026-02-03 01:10",
        user_id="batch_tax",
        terminal_id="SV1",
        action="print",
        subject_hash=None,
        subject_count=6000,
    )
    a = approval("batch_tax", None, "print", 6500, "2026-02-02 13:00", "2026-02-03 13:00")
    assert BulkOutput().detect(window([night], approvals=a)) == []
    clerk = event("2026-02-03 15:05", user_id="u2", action="print", subject_hash=None, subject_count=1200)
    assert (
        BulkOutput().detect(
            window([clerk], approvals=approval(None, "E2", "print", 1500, "2026-02-03 09:00", "2026-02-03 21:00"))
        )
        == []
    )
    # over the approval's count, the volume is the user's own and far above peers
    [f] = BulkOutput().detect(
        window([clerk], approvals=approval(None, "E2", "print", 1000, "2026-02-03 09:00", "2026-02-03 21:00"))
    )
    assert f.user_id == "u2" and f.evidence["volume"] == 1200


def test_daily_volume_far_above_peers_boundary() -> None:
    peers = [
        event("2026-02-03 11:00", user_id=u, action="print", subject_hash=None, subject_count=20)
        for u in ("u2", "u3", "u4")
    ]
    many = [
        event(f"2026-02-03 {9 + i // 60}:{i % 60:02d}", action="export", subject_hash=None, subject_count=50)
        for i in range(6)
    ]  # 300 residents: at the minimum volume and 15× the peers
    [f] = BulkOutput().detect(window(peers + many))
    assert f.user_id == "u1" and set(f.event_ids) == {e["event_id"] for e in many}
    assert f.evidence["volume"] == 300 and "300人分" in f.explanation_ja
    assert BulkOutput().detect(window(peers + many[:-1])) == []  # 250 < 300
    # a colleague who outputs as much: not far above the peers
    busy = event("2026-02-03 11:00", user_id="u2", action="print", subject_hash=None, subject_count=200)
    assert BulkOutput().detect(window([*peers[1:], busy, *many])) == []
    # the user's own history says this is normal for them
    history = [
        event(f"2026-01-{d:02d} 10:00", action="export", subject_hash=None, subject_count=250) for d in range(5, 16)
    ]
    assert BulkOutput().detect(window(peers + many, history=history)) == []


def test_many_single_prints_boundary() -> None:
    prints = [event(f"2026-02-03 09:00:{0:02d}", action="print", subject_hash=f"R{i % 60 + 1:02d}") for i in range(199)]
    assert BulkOutput().detect(window(prints)) == []
    prints.append(event("2026-02-03 16:00", action="print", subject_hash="R09"))
    [f] = BulkOutput().detect(window(prints))
    assert len(f.event_ids) == 200 and f.evidence["singles"] == 200 and "200件" in f.explanation_ja
    assert len(f.subjects) == 60


# -- D15 ---------------------------------------------------------------------------------------------------------


def test_admin_account_viewing_residents() -> None:
    views = [
        event(f"2026-02-03 18:{m:02d}", user_id="adm9", terminal_id="T9", subject_hash=f"R{m:02d}")
        for m in (20, 22, 25)
    ]
    [f] = PrivilegedMisuse().detect(window(views))
    assert (
        f.user_id == "adm9"
        and f.subjects == ("R20", "R22", "R25")
        and set(f.event_ids) == {e["event_id"] for e in views}
    )
    assert "住民3人" in f.explanation_ja and "管理者アカウント" in f.explanation_ja
    assert f.evidence["resident_operations"] == 3


def test_admin_functions_outside_the_change_window() -> None:
    maintenance = [
        event(
            f"2026-02-03 {t}",
            user_id="adm9",
            terminal_id="T9",
            action="admin",
            subject_hash=None,
            jimu="システム管理",
            detail="利用者ID保守",
        )
        for t in ("08:30", "12:00", "17:14")
    ]
    assert PrivilegedMisuse().detect(window(maintenance)) == []
    late = event("2026-02-03 17:15", user_id="adm9", terminal_id="T9", action="audit_config", subject_hash=None)
    sunday = event("2026-02-08 10:00", user_id="adm9", terminal_id="T9", action="admin", subject_hash=None)
    found = PrivilegedMisuse().detect(window([*maintenance, late, sunday]))
    assert [(f.user_id, f.event_ids) for f in found] == [("adm9", (late["event_id"],)), ("adm9", (sunday["event_id"],))]
    assert "変更可能時間外" in found[0].explanation_ja
    approved = PrivilegedMisuse({"change_windows": [("2026-02-08T09:00:00+09:00", "2026-02-08T12:00:00+09:00")]})
    assert [f.event_ids for f in approved.detect(window([late, sunday]))] == [(late["event_id"],)]
