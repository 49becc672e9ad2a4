"""The alerts-and-cases pages of the dashboard through the real application: people of each role logged
in through the real login forms, the officer's forms (CSRF, 303 back to the page), what each role sees
and may do, the breach deadlines and the overview's card."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import count

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, select

from auditd.alerts import repository as alerts_repo
from auditd.auth.models import PlatformRole
from auditd.auth.testing import add_user, csrf_of, log_in
from auditd.cases import repository, service
from auditd.settings import Settings
from auditd.trail.models import TrailEntry

NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
_numbers = count(1)


def add_alert(
    connection: Connection,
    municipality_code: str,
    *,
    rule: str = "D06",
    user_id: str | None = "u1",
    section: str | None = "1101",
    subject: str = "aa01aa01",
    severity: str = "high",
) -> int:
    """Store one alert as the detectors do (the cases tests' helper, kept here so this file runs alone)."""
    n = next(_numbers)
    start = pd.Timestamp("2026-06-01 10:00", tz="Asia/Tokyo").tz_convert("UTC").to_pydatetime()
    row = {
        "municipality_code": municipality_code,
        "fingerprint": f"dash-{n:08d}-{rule}",
        "rule": rule,
        "severity": severity,
        "user_id": user_id,
        "terminal_id": None,
        "subjects": json.dumps([subject]),
        "start": start,
        "end": start,
        "event_ids": "[]",
        "event_count": 0,
        "title": f"title of {rule}",
        "explanation": f"説明 {rule} 第{n}号",
        "explanation_en": f"explanation {rule} {n}",
        "evidence": "{}",
        "status": "new",
        "section": section,
        "run_id": None,
        "detected_at": NOW,
    }
    alerts_repo.insert_alerts(connection, [row])
    frame = alerts_repo.alerts_frame(connection, municipality_code)
    return int(frame.loc[frame["fingerprint"] == row["fingerprint"], "id"].iloc[0])


@dataclass
class Town:
    app: FastAPI
    engine: Engine
    settings: Settings
    case_1101: int
    case_2101: int
    alert_1101: int

    def client(self, role: PlatformRole, username: str, section: str | None = None) -> TestClient:
        user = add_user(self.engine, self.settings, role, username, section_code=section)
        client = TestClient(self.app)
        assert log_in(client, user).status_code == 303, username
        return client


@pytest.fixture
def town(app: FastAPI, engine: Engine, settings: Settings) -> Town:
    code = settings.municipality_code
    with engine.begin() as connection:
        alert_1101 = add_alert(connection, code, user_id="u1", section="1101")
        add_alert(connection, code, user_id="u5", section="2101", subject="bb02bb02", severity="critical")
        service.triage(connection, settings, code, now=NOW)
        cases = {c["section"]: int(c["id"]) for c in repository.list_cases(connection, code)}
    return Town(app, engine, settings, cases["1101"], cases["2101"], alert_1101)


def post_form(client: TestClient, page: str, action: str, **fields: str):  # type: ignore[no-untyped-def]
    """Post a form of ``page`` as a browser does: with the page's CSRF token, not following the 303."""
    csrf = csrf_of(client.get(page).text)
    return client.post(action, data={"csrf": csrf, **fields}, follow_redirects=False)


def case_forms(html: str) -> list[str]:
    return re.findall(r'<form method="post" action="(/cases/[^"]+)"', html)


def trail_actions(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [(r.actor, r.action) for r in conn.execute(select(TrailEntry).order_by(TrailEntry.id))]


def test_list_and_case_pages_render_with_the_japanese_labels(town: Town) -> None:
    officer = town.client(PlatformRole.OFFICER, "sato")
    listing = officer.get("/cases")
    assert listing.status_code == 200
    for label in ("事案一覧", "状態", "重要度", "職員ID", "所属", "アラート数", "担当者", "新規", "重大", "未割当"):
        assert label in listing.text, label
    assert f'href="/cases/{town.case_1101}"' in listing.text and f'href="/cases/{town.case_2101}"' in listing.text
    assert 'href="/cases" aria-current="page"' in listing.text  # the navigation

    critical = officer.get("/cases", params={"severity": "critical", "status": "new"}).text
    assert f'href="/cases/{town.case_2101}"' in critical and f'href="/cases/{town.case_1101}"' not in critical
    assert "該当する事案はありません" in officer.get("/cases", params={"status": "closed"}).text
    assert officer.get("/cases", params={"status": "bogus", "severity": ""}).status_code == 200  # ignored

    page = officer.get(f"/cases/{town.case_1101}")
    assert page.status_code == 200
    for label in ("事案", "対応履歴", "事案を作成", "証拠ファイル", "判定して対応済にする", "正当業務", "誤検知"):
        assert label in page.text, label
    assert f'id="alert-{town.alert_1101}"' in page.text and "説明 D06" in page.text
    assert ("sato", "case_view") in trail_actions(town.engine)


def test_a_section_head_sees_only_their_section_and_may_comment(town: Town) -> None:
    head = town.client(PlatformRole.SECTION_HEAD, "head-1101", "1101")
    listing = head.get("/cases").text
    assert f'href="/cases/{town.case_1101}"' in listing and f'href="/cases/{town.case_2101}"' not in listing
    hidden = head.get(f"/cases/{town.case_2101}", headers={"accept": "text/html"})
    assert hidden.status_code == 404 and hidden.headers["content-type"].startswith("text/html")
    assert "見つかりません（または閲覧の権限がありません）" in hidden.text  # a page, saying nothing about it

    page = head.get(f"/cases/{town.case_1101}").text
    assert case_forms(page) == [f"/cases/{town.case_1101}/comment"]
    answer = post_form(head, f"/cases/{town.case_1101}", f"/cases/{town.case_1101}/comment", body="本人に確認します")
    assert answer.status_code == 303 and answer.headers["location"] == f"/cases/{town.case_1101}#history"
    shown = head.get(f"/cases/{town.case_1101}").text
    assert "コメントを追加しました" in shown and "本人に確認します" in shown and "head-1101" in shown
    refused = post_form(head, f"/cases/{town.case_1101}", f"/cases/{town.case_1101}/close", disposition="legitimate")
    assert refused.status_code == 403
    other = post_form(head, f"/cases/{town.case_1101}", f"/cases/{town.case_2101}/comment", body="他課の事案")
    assert other.status_code == 404


def test_an_officer_closes_a_case_as_fraud_and_sees_the_breach_deadlines(town: Town) -> None:
    officer = town.client(PlatformRole.OFFICER, "sato")
    page = f"/cases/{town.case_1101}"
    assert post_form(officer, page, f"{page}/assign", assignee="nobody").status_code == 303
    refused = officer.get(page).text
    assert "not an active officer" in refused and 'id="assignee">sato<' not in refused
    assert post_form(officer, page, f"{page}/assign", assignee="sato").status_code == 303
    shown = officer.get(page).text
    assert "担当者を割り当てました" in shown and 'id="assignee">sato<' in shown and "調査中" in shown
    assert "担当者を割り当てました" not in officer.get(page).text  # the message is shown once

    missing = post_form(officer, page, f"{page}/close", disposition="", reason="理由")
    assert missing.status_code == 303
    assert "判定を選択してください" in officer.get(page).text
    no_reason = post_form(officer, page, f"{page}/close", disposition="fraud", reason="  ")
    assert no_reason.status_code == 303 and "理由を入力してください" in officer.get(page).text

    closed = post_form(officer, page, f"{page}/close", disposition="fraud", reason="私的な閲覧を確認した")
    assert closed.status_code == 303 and closed.headers["location"] == page
    shown = officer.get(page).text
    assert "事案を対応済にしました" in shown and 'id="disposition"><strong>不正<' in shown
    assert "漏えい等報告" in shown and "速報" in shown and "確報" in shown and "残り" in shown
    assert "私的な閲覧を確認した" in shown and f'action="{page}/reopen"' in shown

    again = post_form(officer, page, f"{page}/close", disposition="fraud", reason="二度目")
    assert again.status_code == 303 and "事案の現在の状態ではこの操作はできません" in officer.get(page).text

    reported = post_form(officer, page, f"{page}/breach/reported", stage="preliminary")
    assert reported.status_code == 303 and reported.headers["location"] == f"{page}#breach"
    shown = officer.get(page).text
    assert "報告済" in shown and 'value="preliminary"' not in shown and 'value="final"' in shown
    overview = officer.get("/").text
    assert f'href="/cases/{town.case_1101}#breach"' in overview and "確報" in overview


def test_evidence_export_and_download_from_the_case_page(town: Town) -> None:
    officer = town.client(PlatformRole.OFFICER, "sato")
    page = f"/cases/{town.case_1101}"
    answer = post_form(officer, page, f"{page}/evidence")
    assert answer.status_code == 303 and answer.headers["location"] == f"{page}#attachments"
    shown = officer.get(page).text
    links = re.findall(rf'href="(/api/v1/cases/{town.case_1101}/attachments/\d+)"', shown)
    assert len(links) == 2 and "証拠を出力" in shown
    assert officer.get(links[0]).status_code == 200


def test_a_form_post_without_the_csrf_token_is_refused(town: Town) -> None:
    officer = town.client(PlatformRole.OFFICER, "sato")
    page = f"/cases/{town.case_1101}"
    officer.get(page)
    for action, fields in (
        ("close", {"disposition": "fraud", "reason": "理由"}),
        ("comment", {"body": "コメント"}),
        ("assign", {"assignee": "sato"}),
    ):
        refused = officer.post(f"{page}/{action}", data=fields, follow_redirects=False)
        assert refused.status_code == 403, action
        forged = officer.post(f"{page}/{action}", data={"csrf": "forged", **fields}, follow_redirects=False)
        assert forged.status_code == 403, action
    assert "新規" in officer.get(page).text and "対応済にしました" not in officer.get(page).text


def test_an_auditor_reads_and_may_not_act(town: Town) -> None:
    auditor = town.client(PlatformRole.AUDITOR, "kato")
    page = f"/cases/{town.case_1101}"
    shown = auditor.get(page)
    assert shown.status_code == 200 and case_forms(shown.text) == []
    assert "閲覧のみ" in shown.text
    for action, fields in (
        ("close", {"disposition": "legitimate", "reason": "問題なし"}),
        ("comment", {"body": "見ました"}),
        ("assign", {"assignee": "kato"}),
        ("investigate", {}),
        ("evidence", {}),
    ):
        assert post_form(auditor, page, f"{page}/{action}", **fields).status_code == 403, action
    assert "新規" in auditor.get(page).text
    assert "対応が必要な事案" in auditor.get("/").text


def test_an_alert_link_goes_to_its_case_or_shows_the_alert(town: Town) -> None:
    officer = town.client(PlatformRole.OFFICER, "sato")
    answer = officer.get(f"/alerts/{town.alert_1101}", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/cases/{town.case_1101}#alert-{town.alert_1101}"
    with town.engine.begin() as connection:
        lone = add_alert(connection, town.settings.municipality_code, user_id="u9", section="1101")
    page = officer.get(f"/alerts/{lone}")
    assert page.status_code == 200 and f'id="alert-{lone}"' in page.text
    assert "まだ事案に振り分けられていません" in page.text
    assert officer.get("/alerts/999999").status_code == 404
    head = town.client(PlatformRole.SECTION_HEAD, "head-2101", "2101")
    assert head.get(f"/alerts/{town.alert_1101}", follow_redirects=False).status_code == 404


def test_the_overview_shows_the_open_cases_and_administrators_see_no_case(town: Town) -> None:
    officer = town.client(PlatformRole.OFFICER, "sato")
    overview = officer.get("/").text
    assert "対応が必要な事案" in overview and 'id="open-cases"' in overview
    assert 'href="/cases?status=new&amp;severity=critical">1<' in overview
    assert 'href="/cases?status=new&amp;severity=high">1<' in overview
    assert "未了の漏えい等報告はありません" in overview

    head = town.client(PlatformRole.SECTION_HEAD, "head-1101", "1101")
    assert "severity=critical" not in head.get("/").text  # the other section's case is not counted

    admin = town.client(PlatformRole.ADMIN, "admin")
    page = admin.get("/")
    assert page.status_code == 200 and "対応が必要な事案" not in page.text and 'href="/cases"' not in page.text
    assert admin.get("/cases").status_code == 403
    assert admin.get(f"/cases/{town.case_1101}").status_code == 403


def test_the_case_pages_speak_english_as_a_setting(app: FastAPI, town: Town) -> None:
    app.state.settings = town.settings.model_copy(update={"language": "en"})
    officer = town.client(PlatformRole.OFFICER, "sato")
    listing = officer.get("/cases").text
    assert 'lang="en"' in listing and "Severity" in listing and "Critical" in listing and "事案一覧" not in listing
    page = officer.get(f"/cases/{town.case_1101}").text
    assert "Close with a disposition" in page and "explanation D06" in page and "Opened" in page


def test_the_list_filters_open_and_closed_cases(town: Town) -> None:
    officer = town.client(PlatformRole.OFFICER, "sato")
    page = f"/cases/{town.case_1101}"
    closed = post_form(officer, page, f"{page}/close", disposition="false_positive", reason="窓口対応")
    assert closed.status_code == 303
    open_list = officer.get("/cases", params={"status": "open"}).text
    assert f'href="/cases/{town.case_2101}"' in open_list and f'href="{page}"' not in open_list
    closed_list = officer.get("/cases", params={"status": "closed"}).text
    assert f'href="{page}"' in closed_list and f'href="/cases/{town.case_2101}"' not in closed_list
    everything = officer.get("/cases", params={"status": "bogus"}).text  # an unknown filter lists all
    assert f'href="{page}"' in everything and f'href="/cases/{town.case_2101}"' in everything
