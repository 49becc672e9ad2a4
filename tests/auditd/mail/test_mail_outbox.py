"""Routing, rendering and queueing of alert e-mail (no SMTP here: see test_mail_smtp.py)."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from mail_support import CODE, NOW, SUBJECT_HASH, USER_ID, notice, recipient
from sqlalchemy import Connection, select

from auditd.errors import NotFound, ValidationFailed
from auditd.mail import repository as repo
from auditd.mail import service
from auditd.mail.models import MailOutbox
from auditd.mail.service import AlertNotice, Reminder
from auditd.settings import Settings
from auditd.trail.models import TrailEntry

DAY = date(2026, 4, 1)


@pytest.fixture
def conf(tmp_path: Path) -> Settings:
    return Settings(env="test", data_dir=tmp_path, base_url="https://auditd.city.example.lg.jp")


def queued(db: Connection) -> list[dict[str, Any]]:
    rows = db.execute(select(MailOutbox.__table__).order_by(MailOutbox.id)).mappings().all()
    return [dict(r) for r in rows]


def to(db: Connection, kind: str) -> list[str]:
    return sorted(r["recipient"] for r in queued(db) if r["kind"] == kind)


def test_urgent_alerts_go_at_once_to_the_recipients_of_their_section_and_severity(db: Connection, conf: Settings):
    recipient(db, "all@city.example.lg.jp")  # every section, high and above
    recipient(db, "s1101@city.example.lg.jp", sections=["1101"], min_severity="low")
    recipient(db, "s1102@city.example.lg.jp", sections=["1102"])
    recipient(db, "critical-only@city.example.lg.jp", min_severity="critical")
    recipient(db, "digest-only@city.example.lg.jp", immediate=False)
    gone = recipient(db, "gone@city.example.lg.jp")
    service.remove_recipient(db, CODE, gone.id, actor="tester")

    notices = [notice(1, severity="high", section="1101"), notice(2, severity="medium", section="1101")]
    assert service.enqueue_alerts(db, conf, CODE, notices, now=NOW) == 2
    assert to(db, "alert") == ["all@city.example.lg.jp", "s1101@city.example.lg.jp"]  # the medium one waits

    assert service.enqueue_alerts(db, conf, CODE, [notice(3, severity="critical", section="1102")], now=NOW) == 3
    third = sorted(r["recipient"] for r in queued(db) if r["dedupe_key"].startswith("alert:3:"))
    assert third == ["all@city.example.lg.jp", "critical-only@city.example.lg.jp", "s1102@city.example.lg.jp"]


def test_an_alert_of_no_section_goes_only_to_recipients_of_every_section(db: Connection, conf: Settings):
    recipient(db, "all@city.example.lg.jp")
    recipient(db, "s1101@city.example.lg.jp", sections=["1101"])
    assert service.enqueue_alerts(db, conf, CODE, [notice(5, section=None)], now=NOW) == 1
    assert to(db, "alert") == ["all@city.example.lg.jp"]


def test_queueing_the_same_alert_twice_queues_it_once(db: Connection, conf: Settings):
    recipient(db, "all@city.example.lg.jp")
    recipient(db, "all@city.example.lg.jp", sections=["1101"])  # the same address twice: one mail
    assert service.enqueue_alerts(db, conf, CODE, [notice(7)], now=NOW) == 1
    assert service.enqueue_alerts(db, conf, CODE, [notice(7), notice(8)], now=NOW) == 1
    rows = queued(db)
    assert [r["dedupe_key"] for r in rows] == ["alert:7:all@city.example.lg.jp", "alert:8:all@city.example.lg.jp"]
    assert rows[0]["status"] == "queued" and rows[0]["attempts"] == 0 and rows[0]["next_attempt_at"] == NOW
    # the Message-ID follows from the dedupe key: a repeat is recognisable by the receiving side
    assert rows[0]["message_id"] == service.message_id_for(conf, CODE, "alert:7:all@city.example.lg.jp")
    assert rows[0]["message_id"] != rows[1]["message_id"]


def test_the_digest_lists_per_recipient_what_is_routed_to_them(db: Connection, conf: Settings):
    recipient(db, "all@city.example.lg.jp", min_severity="low")
    recipient(db, "s1101@city.example.lg.jp", sections=["1101"], min_severity="medium")
    recipient(db, "s1103@city.example.lg.jp", sections=["1103"], min_severity="low")  # nothing for 1103
    recipient(db, "no-digest@city.example.lg.jp", digest=False, min_severity="low")
    notices = [
        notice(11, severity="low", section="1101", rule="D01", title="時間外の照会"),
        notice(12, severity="medium", section="1101", rule="D03", title="事案のない照会"),
        notice(13, severity="critical", section="1102", rule="D16", title="監査ログの改ざんの疑い"),
        notice(14, severity="high", section=None, rule="D18", title="ログが届かない"),
    ]
    assert service.enqueue_digest(db, conf, CODE, DAY, notices, now=NOW) == 2
    rows = {r["recipient"]: r for r in queued(db)}
    assert set(rows) == {"all@city.example.lg.jp", "s1101@city.example.lg.jp"}
    everything, mine = rows["all@city.example.lg.jp"], rows["s1101@city.example.lg.jp"]
    assert everything["dedupe_key"] == "digest:2026-04-01:all@city.example.lg.jp"
    assert everything["subject"] == "[auditd] アラート日次まとめ 2026-04-01（4 件）"
    for alert_id in (11, 12, 13, 14):
        assert f"https://auditd.city.example.lg.jp/alerts/{alert_id}" in everything["body_text"]
    # most severe first
    assert (
        everything["body_text"].index("#13")
        < everything["body_text"].index("#14")
        < everything["body_text"].index("#12")
    )
    assert "アラート #12" in mine["body_text"] and "#11" not in mine["body_text"] and "#13" not in mine["body_text"]
    assert mine["subject"].endswith("（1 件）")
    assert service.enqueue_digest(db, conf, CODE, DAY, notices, now=NOW) == 0  # the same day again: nothing new
    assert service.enqueue_digest(db, conf, CODE, DAY, [], now=NOW) == 0


def test_reminders_route_open_cases_by_section_and_breach_deadlines_to_everyone(db: Connection, conf: Settings):
    recipient(db, "all@city.example.lg.jp")
    recipient(db, "s1101@city.example.lg.jp", sections=["1101"], min_severity="critical")
    recipient(db, "s1102@city.example.lg.jp", sections=["1102"])
    recipient(db, "quiet@city.example.lg.jp", reminders=False)
    open_case = Reminder("case_open", 45, "1102", "high", None, 12)
    breach = Reminder("breach_preliminary", 46, "1101", "medium", date(2026, 3, 30), -2)
    assert service.enqueue_reminders(db, conf, CODE, DAY, [open_case, breach], now=NOW) == 3
    rows = {r["recipient"]: r for r in queued(db)}
    assert set(rows) == {"all@city.example.lg.jp", "s1101@city.example.lg.jp", "s1102@city.example.lg.jp"}
    assert "事案 #46" in rows["s1101@city.example.lg.jp"]["body_text"]  # breach: whatever its min severity
    assert "事案 #45" not in rows["s1101@city.example.lg.jp"]["body_text"]
    everything = rows["all@city.example.lg.jp"]
    assert "期限を 2 日超過" in everything["body_text"] and "12 日経過" in everything["body_text"]
    assert "漏えい等報告（速報）" in everything["body_text"]
    assert "https://auditd.city.example.lg.jp/cases/45" in everything["body_text"]
    assert everything["subject"] == "[auditd] 対応が必要な事案 2026-04-01（2 件、期限超過 1 件）"
    assert everything["dedupe_key"] == "reminder:2026-04-01:all@city.example.lg.jp"
    assert service.enqueue_reminders(db, conf, CODE, DAY, [open_case, breach], now=NOW) == 0


def test_messages_carry_no_resident_or_staff_identifiers(db: Connection, conf: Settings):
    # what the detectors know about an alert, identifiers included …
    alert_row = {
        "id": 123,
        "case_id": 45,
        "rule": "D06",
        "title": "同一住民の繰り返し照会",
        "severity": "critical",
        "section": "1101",
        "detected_at": NOW,
        "user_id": USER_ID,
        "subjects": [SUBJECT_HASH],
        "staff_name": "山田太郎",
    }
    # … and a notice cannot even hold them
    fields = {f.name for f in dataclasses.fields(AlertNotice)}
    assert fields == {"alert_id", "case_id", "rule", "title", "severity", "section", "detected_at"}
    assert {f.name for f in dataclasses.fields(Reminder)} == {"kind", "case_id", "section", "severity", "due", "days"}
    built = AlertNotice(**{("alert_id" if k == "id" else k): v for k, v in alert_row.items() if k in fields | {"id"}})
    recipient(db, "all@city.example.lg.jp", min_severity="low")
    service.enqueue_alerts(db, conf, CODE, [built], now=NOW)
    service.enqueue_digest(db, conf, CODE, DAY, [built], now=NOW)
    service.enqueue_reminders(db, conf, CODE, DAY, [Reminder("breach_final", 45, "1101", "critical", DAY, 3)], now=NOW)
    rows = queued(db)
    assert {r["kind"] for r in rows} == {"alert", "digest", "reminder"}
    for row in rows:
        for part in ("subject", "body_text", "body_html", "dedupe_key", "message_id"):
            for secret in (USER_ID, SUBJECT_HASH, "山田"):
                assert secret not in row[part], (row["kind"], part)
    alert = next(r for r in rows if r["kind"] == "alert")
    assert alert["subject"] == "[auditd][重大] アラート #123 D06 同一住民の繰り返し照会"
    for text in (alert["body_text"], alert["body_html"]):
        assert "https://auditd.city.example.lg.jp/alerts/123" in text
        assert "https://auditd.city.example.lg.jp/cases/45" in text
        assert "事案 #45" in text and "2026-04-01 09:30 JST" in text


def test_html_is_escaped_and_english_is_chosen_by_the_language_setting(db: Connection, conf: Settings):
    english = conf.model_copy(update={"language": "en"})
    recipient(db, "all@city.example.lg.jp")
    odd = notice(9, title="<script>alert(1)</script>\r\nBcc: x@evil.example")
    service.enqueue_alerts(db, english, CODE, [odd], now=NOW)
    (row,) = queued(db)
    assert "<script>" not in row["body_html"] and "&lt;script&gt;" in row["body_html"]
    assert "\n" not in row["subject"] and "\r" not in row["subject"]
    assert row["subject"].startswith("[auditd][high] Alert #9 D06 ")
    assert "See the details on the dashboard" in row["body_text"]
    assert '<html lang="en">' in row["body_html"]


def test_recipients_are_validated_recorded_and_deactivated(db: Connection):
    with pytest.raises(ValidationFailed):
        recipient(db, "not an address")
    with pytest.raises(ValidationFailed):
        recipient(db, "a@b.example\r\nBcc: c@d.example")
    with pytest.raises(ValidationFailed):
        recipient(db, "ok@city.example.lg.jp", min_severity="urgent")
    added = recipient(
        db, "  sec@city.example.lg.jp ", sections=["1102", "1101", "1101"], label="情報政策課 セキュリティ担当"
    )
    assert added.address == "sec@city.example.lg.jp" and added.sections == ("1101", "1102")
    assert [r.id for r in service.list_recipients(db, CODE)] == [added.id]
    service.remove_recipient(db, CODE, added.id, actor="tester")
    assert service.list_recipients(db, CODE) == []
    assert [r.active for r in service.list_recipients(db, CODE, active_only=False)] == [False]
    with pytest.raises(NotFound):
        service.remove_recipient(db, CODE, added.id, actor="tester")
    actions = db.execute(select(TrailEntry.action).where(TrailEntry.target_type == "mail_recipient")).scalars().all()
    assert sorted(actions) == ["mail_recipient_added", "mail_recipient_removed"]


def test_an_outbox_row_can_be_claimed_by_one_sender_only(db: Connection, conf: Settings):
    recipient(db, "all@city.example.lg.jp")
    service.enqueue_alerts(db, conf, CODE, [notice(1)], now=NOW)
    (due,) = repo.due(db, CODE, NOW, limit=10)
    lease = NOW + service.SENDING_LEASE
    claimed = repo.claim(db, CODE, due["id"], status="queued", next_attempt_at=NOW, lease_until=lease)
    assert claimed is not None and claimed["status"] == "sending" and claimed["attempts"] == 1
    assert repo.claim(db, CODE, due["id"], status="queued", next_attempt_at=NOW, lease_until=lease) is None
    assert repo.due(db, CODE, NOW, limit=10) == []  # claimed: not due until the lease expires
    assert [r["id"] for r in repo.due(db, CODE, lease, limit=10)] == [due["id"]]


def test_many_alerts_at_once_are_queued_in_chunks(db: Connection, conf: Settings):
    # a first run over months of history: more rows than one statement may bind on SQLite (32,766 values)
    recipient(db, "all@city.example.lg.jp")
    recipient(db, "also@city.example.lg.jp")
    notices = [notice(n, severity="high") for n in range(1, repo.OUTBOX_CHUNK * 2 + 2)]
    assert service.enqueue_alerts(db, conf, CODE, notices, now=NOW) == 2 * len(notices)
    assert service.enqueue_alerts(db, conf, CODE, notices, now=NOW) == 0  # again: every dedupe key known
    assert len(queued(db)) == 2 * len(notices)
