"""The overview's tiles through the real application and real logins: two-factor coverage from hand-made
logins (the officer's whole municipality, a section head's own section), the revocation lag of a grant
revoked late, the deadlines card (a PIA review due, the scheduled reports, a breach report) with a link
to each page, what administrators do not see, the empty quarantine sentence, and English."""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from auditd.api.app import create_app
from auditd.auth.models import PlatformRole
from auditd.auth.testing import add_user, log_in
from auditd.dashboard.charts import axis_label, bar_chart
from auditd.events import repository as events_repo
from auditd.events import rollup
from auditd.settings import Settings
from reports import jobs, pia
from reports.schemas import PiaIn

JST = ZoneInfo("Asia/Tokyo")
TODAY = datetime.now(UTC).astimezone(JST).date()
DAY = TODAY - timedelta(days=2)  # inside the 30 days of the coverage, whatever the hour
SINCE = TODAY - timedelta(days=400)
STAFF_CSV = (
    "staff_id,name,employment,retired_on\nS001,田中 一郎,regular,\nS002,鈴木 花子,regular,\nS003,高橋 三郎,regular,\n"
)
ASSIGNMENTS_CSV = (
    f"staff_id,section_code,valid_from,valid_to\nS001,1101,{SINCE},\nS002,1101,{SINCE},\nS003,1102,{SINCE},\n"
)


def _event(code: str, user_id: str, hh: int, mm: int, **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "municipality_code": code, "event_id": os.urandom(16), "ts": datetime.combine(DAY, time(hh, mm), tzinfo=JST),
        "source": "tax", "system": "税務システム", "user_id": user_id, "terminal_id": "T1", "session_id": "s1",
        "jimu": "個人住民税", "action": "view", "screen": None, "function": None, "subject_hash": "h" * 32,
        "subject_count": 1, "result": "success", "auth_factors": None, "detail": None, "seq": None,
        "pii_masked": False, "batch_id": 1, "raw_pos": 1,
    }  # fmt: skip
    row.update(values)
    return row


def _login(code: str, user_id: str, hh: int, factors: str | None) -> dict[str, object]:
    return _event(
        code, user_id, hh, 0, source="auth", system="認証基盤", action="login", jimu=None, subject_hash=None,
        subject_count=0, auth_factors=factors,
    )  # fmt: skip


def store_events(engine: Engine, rows: list[dict[str, object]]) -> None:
    """Store events and add them to the rollups, as ingest does in one transaction."""
    frame = pd.DataFrame(rows)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    with engine.begin() as conn:
        assert events_repo.insert_events(conn, frame) == len(rows)
        rollup.add_events(conn, frame)


def logged_in(app: FastAPI, engine: Engine, settings: Settings, role: PlatformRole, name: str, **kw: str) -> TestClient:
    user = add_user(engine, settings, role, name, **kw)  # type: ignore[arg-type]
    client = TestClient(app)
    assert log_in(client, user).status_code == 303
    return client


@pytest.fixture
def town(app: FastAPI, engine: Engine, settings: Settings) -> TestClient:
    """The register (S001, S002 in 1101; S003 in 1102) with an account each, and a day of work:
    u-s001 logs in with two factors and does four views; u-s002 logs in with a password only and does
    two; u-s003 logs in once with two factors and once without, and does one view. Returns the officer."""
    officer = logged_in(app, engine, settings, PlatformRole.OFFICER, "sato")
    for kind, text in (("staff", STAFF_CSV), ("assignments", ASSIGNMENTS_CSV)):
        answer = officer.post(f"/api/v1/import/{kind}", content=text.encode(), headers={"content-type": "text/csv"})
        assert answer.status_code == 200 and answer.json()["quarantined"] == 0, answer.text
    for n in (1, 2, 3):
        answer = officer.post("/api/v1/rights/accounts", json={"user_id": f"u-s00{n}", "staff_id": f"S00{n}"})
        assert answer.status_code == 200, answer.text
    code = settings.municipality_code
    store_events(
        engine,
        [
            _login(code, "u-s001", 9, "PW+VEIN"),
            *(_event(code, "u-s001", 10, m) for m in (1, 2, 3, 4)),
            _login(code, "u-s002", 9, "password"),
            *(_event(code, "u-s002", 11, m) for m in (1, 2)),
            _login(code, "u-s003", 9, "password,vein"),
            _login(code, "u-s003", 13, None),
            _event(code, "u-s003", 14, 0),
        ],
    )
    return officer


def tile(html: str, tile_id: str) -> str:
    match = re.search(rf'<div class="tile[^"]*" id="{tile_id}">(.*?)</div>\s*</div>', html, re.S)
    assert match is not None, f"no tile {tile_id}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def test_the_officer_sees_two_factor_coverage_of_the_municipality(town: TestClient) -> None:
    html = town.get("/").text
    # 2 of the 4 successful logins used two factors (PW+VEIN counts as two)
    assert tile(html, "tf-sessions") == "二要素ログインの割合 50.0% 2 / 4"
    # only u-s001 logged in with two factors every time
    assert tile(html, "tf-accounts") == "常に二要素の職員ID 33.3% 1 / 3"
    # its 4 operations of the 7 (logins are not operations)
    assert tile(html, "tf-operations") == "二要素下の操作 57.1% 4 / 7"
    # the window: the 30 days that end on the day of the newest event
    assert f"{DAY - timedelta(days=29)}〜{DAY} の30日間" in html
    assert "所属 1101 の職員のみ" not in html


def test_a_section_head_sees_the_coverage_of_their_section_only(
    town: TestClient, app: FastAPI, engine: Engine, settings: Settings
) -> None:
    head = logged_in(app, engine, settings, PlatformRole.SECTION_HEAD, "head-1101", section_code="1101")
    html = head.get("/").text
    assert tile(html, "tf-sessions") == "二要素ログインの割合 50.0% 1 / 2"  # u-s001 and u-s002
    assert tile(html, "tf-accounts") == "常に二要素の職員ID 50.0% 1 / 2"
    assert tile(html, "tf-operations") == "二要素下の操作 66.7% 4 / 6"
    assert "所属 1101 の職員のみ" in html
    # no PIA, no scheduled report: those are the officers' and auditors' pages
    assert "/reports#schedule" not in html and "評価書" not in html


def test_the_revocation_lag_of_a_grant_revoked_late(
    town: TestClient, app: FastAPI, engine: Engine, settings: Settings
) -> None:
    html = town.get("/").text
    assert tile(html, "lag-median").startswith("権限削除の遅れ（中央値） —")
    head = logged_in(app, engine, settings, PlatformRole.SECTION_HEAD, "head-1101", section_code="1101")
    request = town.post(
        "/api/v1/rights/requests",
        json={"user_id": "u-s001", "role": "tax_resident", "valid_from": str(SINCE), "reason": "課税担当に配属"},
    )
    assert request.status_code == 201, request.text
    approved = head.post(f"/api/v1/rights/requests/{request.json()['id']}/approve")
    assert approved.status_code == 200, approved.text
    grant_id = approved.json()["grant"]["id"]
    late = str(TODAY - timedelta(days=3))
    revoked = town.post(f"/api/v1/rights/grants/{grant_id}/revoke", json={"reason": "異動", "effective_on": late})
    assert revoked.status_code == 200, revoked.text

    html = town.get("/").text
    median = tile(html, "lag-median")
    # from the start of the effective day (Japan) to now: three days and part of today
    assert re.fullmatch(r"権限削除の遅れ（中央値） [34]\.\d 日 1 件の削除から", median), median
    assert re.fullmatch(r"権限削除の遅れ（最大） [34]\.\d 日", tile(html, "lag-max"))
    assert tile(html, "lag-open") == "削除待ちの権限 0"
    # the section head of 1102 sees no grant of 1101's people
    other = logged_in(app, engine, settings, PlatformRole.SECTION_HEAD, "head-1102", section_code="1102")
    assert "1 件の削除から" not in other.get("/").text and "0 件の削除から" in other.get("/").text


def test_the_deadlines_link_to_their_pages(town: TestClient, engine: Engine, settings: Settings) -> None:
    code = settings.municipality_code
    with engine.begin() as connection:
        body = PiaIn(
            title="個人住民税の全項目評価書",
            jimu="個人住民税",
            kind="full",
            published_on=TODAY - timedelta(days=700),
            last_reviewed_on=TODAY - timedelta(days=360),
        )
        pia_id = pia.add(connection, code, body, actor="test", client="test", now=datetime.now(UTC))
        review_due = pia.one(connection, code, pia_id, TODAY).review_due
        month, monthly_on = jobs.next_monthly(connection, code, TODAY)
    fiscal, annual_on = jobs.next_annual(settings, TODAY)

    html = town.get("/").text
    card = html[html.index('id="deadlines"') : html.index('id="assurance"')]
    assert f'<a href="/reports#pia-{pia_id}">個人住民税の全項目評価書</a>' in card
    assert "評価書の見直し" in card and str(review_due) in card
    assert f'<a href="/reports#schedule">{month}</a>' in card and str(monthly_on) in card
    assert f'<a href="/reports#schedule">{fiscal}年度</a>' in card and str(annual_on) in card
    # soonest first
    shown = [date.fromisoformat(d) for d in re.findall(r'<td class="nowrap">(\d{4}-\d\d-\d\d)</td>', card)]
    assert shown == sorted(shown) and len(shown) == 3


def test_administrators_see_no_deadline_and_no_lag(
    town: TestClient, app: FastAPI, engine: Engine, settings: Settings
) -> None:
    admin = logged_in(app, engine, settings, PlatformRole.ADMIN, "admin")
    html = admin.get("/").text
    assert 'id="deadlines"' not in html and 'id="lag-median"' not in html and 'id="case-work"' not in html
    # the coverage is counts of logins and accounts, no person and no resident
    assert tile(html, "tf-sessions") == "二要素ログインの割合 50.0% 2 / 4"


def test_an_empty_store_reads_as_sentences_not_empty_tables(app: FastAPI, engine: Engine, settings: Settings) -> None:
    officer = logged_in(app, engine, settings, PlatformRole.OFFICER, "sato")
    html = officer.get("/").text
    assert 'id="no-quarantine"' in html and "隔離された記録はありません。" in html
    assert 'id="quarantine-reasons"' not in html
    assert tile(html, "tf-sessions") == "二要素ログインの割合 — 0 / 0"


def test_the_tiles_speak_english_as_a_setting(town: TestClient, engine: Engine, settings: Settings) -> None:
    english = settings.model_copy(update={"language": "en"})
    client = TestClient(create_app(english, engine))
    user = add_user(engine, english, PlatformRole.OFFICER, "ito")
    assert log_in(client, user).status_code == 303
    html = client.get("/").text
    assert tile(html, "tf-accounts") == "Accounts always on two factors 33.3% 1 / 3"
    assert "Deadlines" in html and "Monthly record (scheduled)" in html and "FY" in html
    assert "ov_" not in html


def test_chart_axes_read_as_numbers_are_written() -> None:
    assert [axis_label(v, "ja") for v in (500, 1_000, 10_000, 25_000, 150_000_000)] == [
        "500", "1,000", "1万", "2.5万", "1.5億",
    ]  # fmt: skip
    assert [axis_label(v, "en") for v in (500, 1_000, 10_000, 25_000, 1_500_000)] == [
        "500", "1,000", "10k", "25k", "1.5M",
    ]  # fmt: skip
    assert axis_label(1.5) == "1.5"  # the middle line of a chart whose top is 3
    svg = bar_chart([("a", 2_000), ("b", 1_000)], language="ja")
    assert ">2,000</text>" in svg and ">1,000</text>" in svg and "k<" not in svg


def test_error_pages_show_the_nav_to_a_person_and_are_bare_for_anyone_else(town: TestClient, app: FastAPI) -> None:
    missing = town.get("/cases/999999", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and 'class="mainnav"' in missing.text and "ログアウト" in missing.text
    anonymous = TestClient(app)
    refused = anonymous.post(
        "/login", data={"csrf": "wrong", "username": "x", "password": "y"}, headers={"Accept": "text/html"}
    )
    assert refused.status_code == 403 and 'class="mainnav"' not in refused.text
    token_page = anonymous.get("/cases", headers={"Accept": "text/html", "Authorization": "Bearer adt_nothing"})
    assert token_page.status_code in (401, 403) and 'class="mainnav"' not in token_page.text
