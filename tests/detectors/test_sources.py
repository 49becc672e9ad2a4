"""D16 audit tampering and D18 silent source."""

from __future__ import annotations

import pandas as pd

from detectors.sources import AuditTampering, SilentSource
from detectors.testing import at, event, window


def test_log_setting_change_is_critical_and_one_per_account_day() -> None:
    change = event(
        "2026-02-03 19:36",
        user_id="adm9",
        terminal_id="T9",
        source="welfare",
        action="audit_config",
        subject_hash=None,
        detail="操作ログ出力設定変更（照会ログ出力=無効）",
    )
    worded = event(
        "2026-02-03 19:40",
        user_id="adm9",
        terminal_id="T9",
        source="welfare",
        action="admin",
        subject_hash=None,
        detail="監査ログ 出力停止",
    )
    [f] = AuditTampering().detect(window([change, worded, event("2026-02-03 10:00")]))
    assert f.user_id == "adm9" and set(f.event_ids) == {change["event_id"], worded["event_id"]}
    assert "ログ設定の変更" in f.explanation_ja and "welfare" in f.explanation_ja
    assert f.evidence["kind"] == "log_change" and AuditTampering.severity == "critical"


def test_viewing_the_log_settings_or_maintenance_is_not_tampering() -> None:
    ops = [
        event("2026-02-03 10:00", user_id="adm9", action="admin", subject_hash=None, detail="ログ設定 参照"),
        event("2026-02-03 10:05", user_id="adm9", action="admin", subject_hash=None, detail="利用者ID削除"),
    ]
    assert AuditTampering().detect(window(ops)) == []


def test_sequence_gap_boundary() -> None:
    base = [event(f"2026-02-03 10:{i:02d}", source="welfare", seq=i + 1) for i in range(5)]  # 1..5
    assert AuditTampering().detect(window(base)) == []
    later = [event(f"2026-02-03 12:{i:02d}", source="welfare", seq=i + 8) for i in range(3)]  # 8..10: 6, 7 missing
    [f] = AuditTampering().detect(window([*base, *later, event("2026-02-03 11:00", source="tax", seq=None)]))
    assert f.key == "gap|welfare|5" and f.user_id is None
    assert f.evidence | {} == {
        "kind": "sequence_gap",
        "source": "welfare",
        "seq_from": 5,
        "seq_to": 8,
        "missing": 2,
        "last_before": "02/03 10:04",
        "first_after": "02/03 12:00",
    }
    assert set(f.event_ids) == {base[-1]["event_id"], later[0]["event_id"]} and "2件" in f.explanation_ja
    assert AuditTampering({"min_missing": 3}).detect(window([*base, *later])) == []
    # numbers that arrive out of order are not a gap
    shuffled = [event(f"2026-02-03 10:{i:02d}", source="welfare", seq=s) for i, s in enumerate((1, 3, 2, 4))]
    assert AuditTampering().detect(window(shuffled)) == []


def sources(limit: float | None = None, last: str | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "name": "linkage",
                "system": "中間サーバー",
                "expected_max_silence_hours": limit,
                "last_event_ts": at(last) if last else pd.NaT,
            }
        ]
    )


def test_source_silent_for_the_window() -> None:
    # last record Friday 16:00; nothing Monday or Tuesday: 8 + 24 + 24 open-day hours by Wednesday 00:00
    w = window(
        [event("2026-02-10 10:00")],
        start="2026-02-10 00:00",
        end="2026-02-11 00:00",
        sources=sources(last="2026-02-06 16:00"),
    )
    [f] = SilentSource().detect(w)
    assert f.key == "linkage|2026-02-06" and f.user_id is None and f.event_ids == ()
    assert (
        f.evidence["silent_open_hours"] == 56.0 and "中間サーバー" in f.explanation_ja and "56時間" in f.explanation_ja
    )


def test_weekend_is_not_silence_and_the_threshold_boundary() -> None:
    # Friday 17:00 → Monday 08:59: 7 + 9 open-day hours
    ops = [event("2026-02-06 17:00", source="linkage"), event("2026-02-09 09:00", source="linkage")]
    assert SilentSource().detect(window(ops, sources=sources())) == []
    # own limit of 16 h: exactly 16 open-day hours is not over it, 16 h 1 min is
    assert SilentSource().detect(window(ops, sources=sources(16))) == []
    late = [ops[0], event("2026-02-09 09:01", source="linkage")]
    [f] = SilentSource().detect(window(late, sources=sources(16)))
    assert f.evidence["resumed"] == "02/09 09:01" and "再開" in f.explanation_ja


def test_a_quiet_source_is_measured_from_its_last_record_before_the_window_not_the_ledger() -> None:
    """Re-running a past day: the ledger's last record may be after the window (the source resumed later);
    the store's last record before the window is what counts, and the key is the same on every quiet day."""
    keys = []
    for day in ("2026-02-10", "2026-02-11"):
        w = window(
            [event(f"{day} 10:00")],
            start=f"{day} 00:00",
            end=f"{day} 00:00",
            sources=sources(last="2026-03-01 09:00"),
        )
        w.end = w.start + pd.Timedelta(days=1)
        asked: list[tuple[str, list[str]]] = []

        def last_seen(column: str, values: list[str], since: pd.Timestamp, asked=asked) -> dict[str, pd.Timestamp]:
            asked.append((column, values))
            return {"linkage": at("2026-02-06 16:00")}

        w.last_seen = last_seen
        [f] = SilentSource().detect(w)
        assert asked == [("source", ["linkage"])]
        keys.append(f.key)
    assert keys == ["linkage|2026-02-06", "linkage|2026-02-06"]
    w = window([event("2026-02-10 10:00")], start="2026-02-10 00:00", end="2026-02-11 00:00", sources=sources())
    w.last_seen = lambda column, values, since: {}  # never sent anything: nothing to measure from
    assert SilentSource().detect(w) == []
