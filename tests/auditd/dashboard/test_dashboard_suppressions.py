"""The forms that were in the API only, through the real application and real logins: a suppression made
from a case's page with the values of its alerts, listed and ended (officers only; CSRF; trailed); the
breach checklist answered on the case page (unticked boxes are "no", the deadlines follow); refusals as
messages on the page or as HTML error pages; English."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from itertools import count

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, select

from auditd.alerts import repository as alerts_repo
from auditd.api.app import create_app
from auditd.auth.models import PlatformRole
from auditd.auth.testing import add_user, csrf_of, log_in
from auditd.cases import repository, service
from auditd.cases.models import CaseEvent, Suppression
from auditd.settings import Settings
from auditd.trail.models import TrailEntry

NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
HTML = {"Accept": "text/html"}
_numbers = count(1)


def add_alert(connection: Connection, code: str, *, user_id: str, section: str, subject: str) -> int:
    n = next(_numbers)
    start = pd.Timestamp("2026-06-01 10:00", tz="Asia/Tokyo").tz_convert("UTC").to_pydatetime()
    row = {
        "municipality_code": code, "fingerprint": f"sup-{n:08d}", "rule": "D06", "severity": "high",
        "user_id": user_id, "terminal_id": None, "subjects": json.dumps([subject]), "start": start, "end": start,
        "event_ids": "[]", "event_count": 0, "title": "title of D06", "explanation": f"説明 第{n}号",
        "explanation_en": f"explanation {n}", "evidence": "{}", "status": "new", "section": section,
        "run_id": None, "detected_at": NOW,
    }  # fmt: skip
    alerts_repo.insert_alerts(connection, [row])
    frame = alerts_repo.alerts_frame(connection, code)
    return int(frame.loc[frame["fingerprint"] == row["fingerprint"], "id"].iloc[0])


@pytest.fixture
def case_id(engine: Engine, settings: Settings) -> int:
    """One case of section 1101 (account u1, resident aa01aa01, rule D06)."""
    code = settings.municipality_code
    with engine.begin() as connection:
        add_alert(connection, code, user_id="u1", section="1101", subject="aa01aa01")
        service.triage(connection, settings, code, now=NOW)
        return int(repository.list_cases(connection, code)[0]["id"])


def person(app: FastAPI, engine: Engine, settings: Settings, role: PlatformRole, name: str) -> TestClient:
    user = add_user(engine, settings, role, name)
    client = TestClient(app)
    assert log_in(client, user).status_code == 303
    return client


def post_form(client: TestClient, page: str, action: str, **fields: str):  # type: ignore[no-untyped-def]
    """Post a form of ``page`` as a browser does: with the page's CSRF token, not following the 303."""
    return client.post(action, data={"csrf": csrf_of(client.get(page).text), **fields}, follow_redirects=False)


def options(html: str, name: str) -> list[str]:
    match = re.search(rf'<select name="{name}" id="sup-{name}">(.*?)</select>', html, re.S)
    assert match is not None, f"no select {name}"
    return re.findall(r'<option value="([^"]*)">', match.group(1))


def trail(engine: Engine) -> list[tuple[str, str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(select(TrailEntry.actor, TrailEntry.action, TrailEntry.target_id).order_by(TrailEntry.id))
        return [(r.actor, r.action, r.target_id) for r in rows]


def suppressions(engine: Engine) -> list[Suppression]:
    with engine.connect() as conn:
        return list(conn.execute(select(Suppression).order_by(Suppression.id)).all())


def test_an_officer_suppresses_the_pattern_of_a_case_lists_it_and_ends_it(
    app: FastAPI, engine: Engine, settings: Settings, case_id: int
) -> None:
    officer = person(app, engine, settings, PlatformRole.OFFICER, "sato")
    page = f"/cases/{case_id}"
    html = officer.get(page).text
    # the choices are the case's own alerts' values
    assert options(html, "rule") == ["", "D06"] and options(html, "user_id") == ["", "u1"]
    assert options(html, "subject") == ["", "aa01aa01"] and options(html, "section") == ["", "1101"]
    until = str(date(2026, 12, 31))
    fields = {"rule": "D06", "user_id": "u1", "reason": "月次の一括処理", "expires_on": until, "back": page}
    made = post_form(officer, page, "/suppressions", **fields)
    assert made.status_code == 303 and made.headers["location"] == f"{page}#suppress"
    assert "抑制を登録しました。" in officer.get(page).text
    [stored] = suppressions(engine)
    assert (stored.rule, stored.user_id, stored.subject, stored.section) == ("D06", "u1", None, None)
    assert stored.created_by == "sato" and str(stored.expires_on) == until
    assert ("sato", "suppression_create", str(stored.id)) in trail(engine)

    listing = officer.get("/suppressions").text
    row = re.search(rf'<tr id="sup-{stored.id}">(.*?)</tr>', listing, re.S)
    assert row is not None and "月次の一括処理" in row.group(1) and until in row.group(1) and "有効" in row.group(1)
    ended = post_form(officer, "/suppressions", f"/suppressions/{stored.id}/revoke")
    assert ended.status_code == 303
    after = officer.get(ended.headers["location"]).text
    assert "抑制を終了しました。" in after and "終了" in after and f"/suppressions/{stored.id}/revoke" not in after
    assert ("sato", "suppression_revoke", str(stored.id)) in trail(engine)
    assert f'id="sup-{stored.id}"' not in officer.get("/suppressions").text  # no longer in force
    again = post_form(officer, "/suppressions?all=true", f"/suppressions/{stored.id}/revoke")
    assert again.status_code == 303 and "この抑制は既に終了しています。" in officer.get(again.headers["location"]).text


def test_a_suppression_without_a_pattern_or_date_is_a_message_and_nothing_is_stored(
    app: FastAPI, engine: Engine, settings: Settings, case_id: int
) -> None:
    officer = person(app, engine, settings, PlatformRole.OFFICER, "sato")
    page = f"/cases/{case_id}"
    no_pattern = post_form(officer, page, "/suppressions", reason="理由", expires_on="2026-12-31", back=page)
    assert no_pattern.status_code == 303 and no_pattern.headers["location"] == f"{page}#suppress"
    assert "項目を1つ以上選び" in officer.get(page).text
    bad_day = post_form(officer, page, "/suppressions", rule="D06", reason="理由", expires_on="31/12/2026", back=page)
    assert bad_day.status_code == 303 and "項目を1つ以上選び" in officer.get(page).text
    elsewhere = post_form(officer, page, "/suppressions", reason="理由", back="https://evil.example/")
    assert elsewhere.headers["location"] == "/suppressions#suppress"  # only a case or alert page to go back to
    assert suppressions(engine) == []
    no_csrf = officer.post("/suppressions", data={"rule": "D06", "reason": "x", "expires_on": "2026-12-31"})
    assert no_csrf.status_code == 403 and suppressions(engine) == []


def test_only_officers_suppress_and_the_others_get_an_error_page_with_their_nav(
    app: FastAPI, engine: Engine, settings: Settings, case_id: int
) -> None:
    auditor = person(app, engine, settings, PlatformRole.AUDITOR, "kato")
    assert 'id="form-suppress"' not in auditor.get(f"/cases/{case_id}").text
    refused = auditor.get("/suppressions", headers=HTML)
    assert refused.status_code == 403 and "この操作の権限がありません。" in refused.text
    assert 'class="mainnav"' in refused.text and 'href="/cases"' in refused.text  # logged in: the nav
    head = person(app, engine, settings, PlatformRole.SECTION_HEAD, "head")
    page = head.get(f"/cases/{case_id}").text
    assert 'id="form-suppress"' not in page and 'id="form-breach"' not in page
    posted = head.post(
        "/suppressions", data={"csrf": csrf_of(page), "rule": "D06", "reason": "x", "expires_on": "2026-12-31"}
    )
    assert posted.status_code == 403 and suppressions(engine) == []
    admin = person(app, engine, settings, PlatformRole.ADMIN, "admin")
    assert admin.get("/suppressions", headers=HTML).status_code == 403


def test_the_breach_checklist_is_answered_on_the_case_page(
    app: FastAPI, engine: Engine, settings: Settings, case_id: int
) -> None:
    officer = person(app, engine, settings, PlatformRole.OFFICER, "sato")
    page = f"/cases/{case_id}"
    assert 'id="form-breach"' not in officer.get(page).text  # no checklist before a 不適切 or 不正 closing
    closed = post_form(officer, page, f"{page}/close", disposition="inappropriate", reason="業務外の閲覧")
    assert closed.status_code == 303
    html = officer.get(page).text
    assert 'id="form-breach"' in html
    assert re.search(r'name="mynumber_system" value="1" checked', html)  # as the checklist opened
    assert not re.search(r'name="wrongful_purpose" value="1" checked', html)

    discovered = "2026-06-01"
    answered = post_form(officer, page, f"{page}/breach", discovered_on=discovered, wrongful_purpose="1",
                         note="委託先にも確認")  # fmt: skip
    assert answered.status_code == 303 and answered.headers["location"] == f"{page}#breach"
    html = officer.get(page).text
    assert "チェックリストを保存しました" in html
    # 個人番号利用事務系 not ticked: "no"; wrongful purpose ticked: the 確報 is due in 60 days
    assert re.search(r'name="mynumber_system" value="1">', html)
    assert re.search(r'name="wrongful_purpose" value="1" checked', html)
    final_due = date.fromisoformat(discovered) + timedelta(days=60)
    assert f"<td>{final_due}</td>" in html and "委託先にも確認" in html
    with engine.connect() as conn:
        actions = list(conn.execute(select(CaseEvent.action).where(CaseEvent.case_id == case_id)).scalars())
    assert "breach_updated" in actions

    bad = post_form(officer, page, f"{page}/breach", discovered_on="昨日")
    assert bad.status_code == 303 and "回答を確認してください" in officer.get(page).text
    assert f"<td>{final_due}</td>" in officer.get(page).text  # nothing changed


def test_the_forms_speak_english_as_a_setting(engine: Engine, settings: Settings, case_id: int) -> None:
    english = settings.model_copy(update={"language": "en"})
    officer = person(create_app(english, engine), engine, english, PlatformRole.OFFICER, "ito")
    html = officer.get(f"/cases/{case_id}").text
    assert "Suppress this pattern" in html and "Applies until (inclusive)" in html and "sup_" not in html
    assert "No suppression." in officer.get("/suppressions").text


def test_an_alert_in_no_case_is_suppressed_from_its_own_page(app: FastAPI, engine: Engine, settings: Settings) -> None:
    with engine.begin() as connection:  # not triaged: the alert is in no case yet
        alert_id = add_alert(connection, settings.municipality_code, user_id="u7", section="2101", subject="cc03cc03")
    officer = person(app, engine, settings, PlatformRole.OFFICER, "sato")
    page = f"/alerts/{alert_id}"
    html = officer.get(page).text
    assert f'name="back" value="{page}"' in html and options(html, "subject") == ["", "cc03cc03"]
    fields = {"subject": "cc03cc03", "reason": "本人の依頼による照会", "expires_on": "2026-12-31", "back": page}
    made = post_form(officer, page, "/suppressions", **fields)
    assert made.headers["location"] == f"{page}#suppress"
    assert "抑制を登録しました。" in officer.get(page).text
    [stored] = suppressions(engine)
    assert stored.subject == "cc03cc03" and stored.rule is None
