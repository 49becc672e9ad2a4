"""Triage (alerts into cases), the workflow, suppressions and the breach checklist, through the
service on both backends (each test in a rolled-back transaction)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from cases_support import NOW, add_alert
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from auditd.alerts.models import Alert
from auditd.auth import service as auth_service
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.cases import repository, service
from auditd.cases.models import CaseEvent
from auditd.cases.schemas import BreachIn, SuppressionIn
from auditd.errors import Conflict, Forbidden, NotFound, ValidationFailed
from auditd.settings import Settings
from auditd.store.base import table_of
from auditd.trail.models import TrailEntry


@pytest.fixture
def officer(conf: Settings) -> Principal:
    return Principal(1, "sato", "佐藤", PlatformRole.OFFICER, conf.municipality_code)


def _head(conf: Settings, section: str) -> Principal:
    return Principal(2, f"head-{section}", "所属長", PlatformRole.SECTION_HEAD, conf.municipality_code, section)


def _alerts(db: Connection) -> dict[int, dict[str, Any]]:
    table = table_of(Alert)
    return {int(r["id"]): dict(r) for r in db.execute(select(table)).mappings()}


def test_alerts_of_one_account_close_in_time_make_one_case(db: Connection, conf: Settings) -> None:
    code = conf.municipality_code
    first = add_alert(db, code, rule="D06", start="2026-06-01 10:00", severity="medium")
    second = add_alert(db, code, rule="D01", start="2026-06-03 22:00", severity="high", subjects=("bb02",))
    far = add_alert(db, code, rule="D06", start="2026-06-20 10:00")  # more than 7 days after: a new story
    other = add_alert(db, code, rule="D06", user_id="u2", subjects=("cc03",), start="2026-06-01 11:00")

    result = service.triage(db, conf, code, now=NOW)

    alerts = _alerts(db)
    assert alerts[first]["case_id"] == alerts[second]["case_id"]
    assert len({alerts[i]["case_id"] for i in (first, far, other)}) == 3
    assert (result.cases_opened, result.grouped, result.suppressed) == (3, 4, 0)
    case = repository.get_case(db, code, int(alerts[first]["case_id"]))
    assert case is not None
    assert case["severity"] == "high"  # the highest of its alerts, and the title follows it
    assert case["title"].startswith("D01 ") and case["title"].endswith("ほか 1 件")
    assert case["alert_count"] == 2 and sorted(json.loads(case["subjects"])) == ["aa01", "bb02"]
    assert case["status"] == "new" and case["user_id"] == "u1" and case["section"] == "1101"
    assert {n.alert_id for n in result.notices} == {first, second, far, other}
    # triage again: nothing left to do, nothing duplicated
    again = service.triage(db, conf, code, now=NOW)
    assert (again.cases_opened, again.grouped) == (0, 0)


def test_a_shared_resident_joins_another_accounts_case_in_the_same_section(db: Connection, conf: Settings) -> None:
    code = conf.municipality_code
    a = add_alert(db, code, user_id="u1", subjects=("dd04",), start="2026-06-01 10:00")
    b = add_alert(db, code, user_id="u2", subjects=("dd04", "ee05"), start="2026-06-02 10:00")
    c = add_alert(db, code, user_id="u5", section="2101", subjects=("dd04",), start="2026-06-02 11:00")
    service.triage(db, conf, code, now=NOW)
    alerts = _alerts(db)
    assert alerts[a]["case_id"] == alerts[b]["case_id"]
    assert alerts[c]["case_id"] != alerts[a]["case_id"]  # another section: its head must see it alone


def test_a_later_alert_joins_the_open_case_and_is_recorded_in_its_history(db: Connection, conf: Settings) -> None:
    code = conf.municipality_code
    first = add_alert(db, code, start="2026-06-01 10:00")
    service.triage(db, conf, code, now=NOW)
    later = add_alert(db, code, rule="D03", start="2026-06-05 10:00")
    service.triage(db, conf, code, now=NOW + timedelta(hours=1))
    alerts = _alerts(db)
    case_id = int(alerts[first]["case_id"])
    assert alerts[later]["case_id"] == case_id
    actions = [(e["action"], json.loads(e["detail"])["alerts"]) for e in repository.case_events(db, code, case_id)]
    assert actions == [("opened", [first]), ("alert_added", [later])]


def test_a_closed_case_takes_no_new_alert(db: Connection, conf: Settings, officer: Principal) -> None:
    code = conf.municipality_code
    first = add_alert(db, code, start="2026-06-01 10:00")
    service.triage(db, conf, code, now=NOW)
    case_id = int(_alerts(db)[first]["case_id"])
    service.close(db, conf, officer, case_id, "false_positive", "誤検知: 窓口対応", now=NOW, client=None)
    later = add_alert(db, code, start="2026-06-02 10:00")
    service.triage(db, conf, code, now=NOW)
    assert _alerts(db)[later]["case_id"] not in (None, case_id)


def test_workflow_records_every_change_and_requires_a_disposition(
    db: Connection, session: Session, conf: Settings, officer: Principal
) -> None:
    code = conf.municipality_code
    first = add_alert(db, code)
    service.triage(db, conf, code, now=NOW)
    case_id = int(_alerts(db)[first]["case_id"])
    auth_service.create_user(session, code, "ito", "correct horse battery", PlatformRole.OFFICER, actor="test")
    auth_service.create_user(session, code, "kato", "correct horse battery", PlatformRole.AUDITOR, actor="test")
    session.flush()
    for nobody in ("kato", "nobody"):  # an auditor, an unknown name: only an officer investigates
        with pytest.raises(ValidationFailed, match="not an active officer"):
            service.assign(db, officer, case_id, nobody, now=NOW, client=None)

    service.assign(db, officer, case_id, "ito", now=NOW, client="127.0.0.1")
    service.comment(db, officer, case_id, "本人に確認する", now=NOW, client=None)
    with pytest.raises(Conflict):
        service.start_investigation(db, officer, case_id, now=NOW, client=None)  # already 調査中
    service.close(db, conf, officer, case_id, "legitimate", "滞納整理の事案で確認", now=NOW, client=None)
    with pytest.raises(Conflict):  # closing twice is refused
        service.close(db, conf, officer, case_id, "legitimate", "again", now=NOW, client=None)

    detail = service.case_detail(db, conf, officer, case_id, client=None)
    assert detail.status == "closed" and detail.disposition == "legitimate" and detail.disposition_ja == "正当業務"
    assert detail.assignee == "ito" and detail.closed_by == "sato"
    assert [h.action for h in detail.history] == ["opened", "assigned", "status", "comment", "closed"]
    assert detail.history[2].detail == {"from": "new", "to": "investigating"}
    assert detail.history[3].body == "本人に確認する" and detail.history[3].actor == "sato"
    assert detail.breach is None  # 正当業務 opens no breach checklist
    assert all(a.status == "closed" for a in detail.alerts)
    trail = table_of(TrailEntry)
    actions = [r for (r,) in db.execute(select(trail.c.action).where(trail.c.target_id == str(case_id)))]
    assert {"case_assigned", "case_status", "case_comment", "case_closed", "case_view"} <= set(actions)

    service.reopen(db, officer, case_id, "新たな情報", now=NOW, client=None)
    reopened = service.case_detail(db, conf, officer, case_id, client=None)
    assert reopened.status == "investigating" and reopened.disposition is None
    assert reopened.history[-1].detail == {"previous_disposition": "legitimate"}


def test_case_history_is_append_only(db: Connection, conf: Settings) -> None:
    code = conf.municipality_code
    add_alert(db, code)
    service.triage(db, conf, code, now=NOW)
    table = table_of(CaseEvent)
    with pytest.raises(Exception, match="append-only"), db.begin_nested():
        db.execute(table.update().values(actor="someone else"))


def test_confirmed_case_opens_breach_checklist_with_deadlines(
    db: Connection, conf: Settings, officer: Principal
) -> None:
    code = conf.municipality_code
    first = add_alert(db, code)
    service.triage(db, conf, code, now=NOW)
    case_id = int(_alerts(db)[first]["case_id"])
    service.close(db, conf, officer, case_id, "fraud", "私的な興味で閲覧", now=NOW, client=None)

    found = service.case_detail(db, conf, officer, case_id, client=None).breach
    assert found is not None
    discovered = NOW.astimezone(conf.tz).date()
    assert found.discovered_on == discovered and found.reportable and found.wrongful_purpose
    assert found.preliminary_due == discovered + timedelta(days=5)
    assert found.final_due == discovered + timedelta(days=60)  # wrongful purpose: 60 days
    assert found.preliminary_days_left is not None and found.final_days_left is not None

    # the officer answers: not for a wrongful purpose after all → 30 days; discovered a day earlier
    answered = service.update_breach(
        db,
        conf,
        officer,
        case_id,
        BreachIn(wrongful_purpose=False, discovered_on=discovered - timedelta(days=1)),
        now=NOW,
        client=None,
    )
    assert answered.final_due == discovered - timedelta(days=1) + timedelta(days=30)
    assert answered.reportable  # still from a 個人番号利用事務 system
    none_left = service.update_breach(db, conf, officer, case_id, BreachIn(mynumber_system=False), now=NOW, client=None)
    assert not none_left.reportable

    done = service.breach_reported(db, conf, officer, case_id, "preliminary", now=NOW, client=None)
    assert done.preliminary_reported_at is not None and done.preliminary_days_left is None
    with pytest.raises(Conflict):
        service.breach_reported(db, conf, officer, case_id, "preliminary", now=NOW, client=None)


def test_inappropriate_gives_30_days_and_reminders_count_down(
    db: Connection, conf: Settings, officer: Principal
) -> None:
    code = conf.municipality_code
    first = add_alert(db, code)
    service.triage(db, conf, code, now=NOW)
    case_id = int(_alerts(db)[first]["case_id"])
    service.close(db, conf, officer, case_id, "inappropriate", "業務外の閲覧", now=NOW, client=None)
    discovered = NOW.astimezone(conf.tz).date()
    items = service.reminders(db, conf, code, discovered + timedelta(days=7))
    by_kind = {r.kind: r for r in items if r.case_id == case_id}
    assert by_kind["breach_preliminary"].days == -2  # 速報 overdue by two days
    assert by_kind["breach_final"].due == discovered + timedelta(days=30)
    assert by_kind["breach_final"].days == 23


def test_reminders_list_cases_left_open(db: Connection, conf: Settings) -> None:
    code = conf.municipality_code
    first = add_alert(db, code)
    service.triage(db, conf, code, now=NOW)
    case_id = int(_alerts(db)[first]["case_id"])
    opened = NOW.astimezone(conf.tz).date()
    assert not [r for r in service.reminders(db, conf, code, opened + timedelta(days=3)) if r.case_id == case_id]
    late = [r for r in service.reminders(db, conf, code, opened + timedelta(days=9)) if r.case_id == case_id]
    assert [(r.kind, r.days) for r in late] == [("case_open", 9)]


def test_suppression_keeps_matching_alerts_out_of_cases_until_it_expires(
    db: Connection, conf: Settings, officer: Principal
) -> None:
    code = conf.municipality_code
    today = NOW.astimezone(conf.tz).date()
    made = service.create_suppression(
        db,
        officer,
        SuppressionIn(rule="D01", user_id="batch_tax", reason="夜間バッチ", expires_on=today + timedelta(days=30)),
        now=NOW,
        client=None,
    )
    matched = add_alert(db, code, rule="D01", user_id="batch_tax")
    other_rule = add_alert(db, code, rule="D06", user_id="batch_tax")
    service.triage(db, conf, code, now=NOW)
    alerts = _alerts(db)
    assert alerts[matched]["status"] == "suppressed" and alerts[matched]["case_id"] is None
    assert alerts[matched]["suppression_id"] == made.id
    assert alerts[other_rule]["case_id"] is not None
    listed = service.list_suppressions(db, officer, active_on=today)
    assert [(s.id, s.matched) for s in listed.items] == [(made.id, 1)]

    # after it expires (or once revoked) the pattern reaches a case again
    later = add_alert(db, code, rule="D01", user_id="batch_tax", start="2026-07-20 23:00")
    service.triage(db, conf, code, now=NOW + timedelta(days=31))
    assert _alerts(db)[later]["case_id"] is not None
    service.revoke_suppression(db, officer, made.id, now=NOW, client=None)
    with pytest.raises(Conflict):
        service.revoke_suppression(db, officer, made.id, now=NOW, client=None)
    assert service.list_suppressions(db, officer, active_on=today).items == []


def test_suppression_by_resident_or_section(db: Connection, conf: Settings, officer: Principal) -> None:
    code = conf.municipality_code
    until = date(2026, 12, 31)
    service.create_suppression(
        db, officer, SuppressionIn(subject="ff06ff06", reason="公人", expires_on=until), now=NOW, client=None
    )
    service.create_suppression(
        db, officer, SuppressionIn(section="2101", rule="D08", reason="窓口", expires_on=until), now=NOW, client=None
    )
    by_subject = add_alert(db, code, subjects=("aa01", "ff06ff06"))
    by_section = add_alert(db, code, rule="D08", section="2101", user_id="u5")
    other_section = add_alert(db, code, rule="D08", section="1101", user_id="u3")
    service.triage(db, conf, code, now=NOW)
    alerts = _alerts(db)
    assert [alerts[i]["status"] for i in (by_subject, by_section, other_section)] == ["suppressed", "suppressed", "new"]
    with pytest.raises(ValueError, match="at least one"):
        SuppressionIn(reason="nothing", expires_on=until)


def test_section_heads_see_their_section_only_and_admins_nothing(db: Connection, conf: Settings) -> None:
    code = conf.municipality_code
    mine = add_alert(db, code, section="1101")
    theirs = add_alert(db, code, user_id="u5", section="2101", subjects=("zz09",))
    service.triage(db, conf, code, now=NOW)
    alerts = _alerts(db)
    head = _head(conf, "1101")
    assert [c.id for c in service.list_cases(db, head).items] == [alerts[mine]["case_id"]]
    assert [a.id for a in service.list_alerts(db, head).items] == [mine]
    with pytest.raises(NotFound):
        service.case_detail(db, conf, head, int(alerts[theirs]["case_id"]), client=None)
    with pytest.raises(NotFound):
        service.get_alert(db, head, theirs, client=None)
    admin = Principal(3, "admin", "管理者", PlatformRole.ADMIN, code)
    with pytest.raises(Forbidden):
        service.list_cases(db, admin)
