"""The dashboard's 職員 pages through the real application and real logins, on both backends: an
account's grants, its hour × weekday heatmap and systems from hand-made events, its logins, its
section peers; the list's search and section filter; a section head kept to their own section (the
same 404 as a missing account); administrators and API tokens refused; English."""

from __future__ import annotations

import os
import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from fastapi import FastAPI
from fastapi.testclient import TestClient
from rights_support import TODAY, People, Register, request_grant
from sqlalchemy import Engine, select

from auditd.api.app import create_app
from auditd.auth import tokens
from auditd.auth.models import PlatformRole
from auditd.auth.settings import SecuritySettings
from auditd.auth.testing import add_user, log_in
from auditd.events import repository as events_repo
from auditd.events import rollup
from auditd.settings import Settings
from auditd.trail.models import TrailEntry

JST = ZoneInfo("Asia/Tokyo")
HTML = {"Accept": "text/html"}
#: The last Wednesday before today (1 to 7 days ago): well inside the page's 90 days.
WEDNESDAY = TODAY - timedelta(days=(TODAY.weekday() - 2) % 7 or 7)


def _event(user_id: str, day: date, hh: int, mm: int, **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "municipality_code": "999997", "event_id": os.urandom(16),
        "ts": datetime.combine(day, time(hh, mm), tzinfo=JST), "source": "tax", "system": "税務システム",
        "user_id": user_id, "terminal_id": "T1", "session_id": "s1", "jimu": "個人住民税", "action": "view",
        "screen": None, "function": None, "subject_hash": "h" * 32, "subject_count": 1, "result": "success",
        "auth_factors": None, "detail": None, "seq": None, "pii_masked": False, "batch_id": 1, "raw_pos": 1,
    }  # fmt: skip
    row.update(values)
    return row


def store_events(engine: Engine, rows: list[dict[str, object]]) -> None:
    """Store events and add them to the rollups, as ingest does in one transaction."""
    frame = pd.DataFrame(rows)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    with engine.begin() as conn:
        assert events_repo.insert_events(conn, frame) == len(rows)
        rollup.add_events(conn, frame)


def hand_made_week(engine: Engine) -> None:
    """u-s001 (1101): a login at 13:58, three views at 14:xx and a print at 15:00 on one Wednesday
    (Japan time); u-s002, its peer in 1101, ten views that day; u-s003 (1102) one view."""
    store_events(
        engine,
        [
            _event(
                "u-s001",
                WEDNESDAY,
                13,
                58,
                source="auth",
                system="認証基盤",
                action="login",
                jimu=None,
                subject_hash=None,
                subject_count=0,
                auth_factors="password,vein",
            ),
            *(_event("u-s001", WEDNESDAY, 14, m) for m in (5, 20, 40)),
            _event("u-s001", WEDNESDAY, 15, 0, action="print"),
            *(_event("u-s002", WEDNESDAY, 10, m) for m in range(10)),
            _event("u-s003", WEDNESDAY, 9, 0),
        ],
    )


def approved_grant(people: People, user_id: str = "u-s001", **body: object) -> int:
    request_id = request_grant(people.officer, user_id=user_id, **body)
    approver = people.head_1102 if user_id == "u-s003" else people.head_1101
    answer = approver.post(f"/api/v1/rights/requests/{request_id}/approve")
    assert answer.status_code == 200, answer.text
    return int(answer.json()["grant"]["id"])


def row_of(html: str, row_id: str) -> str:
    match = re.search(rf'<tr id="{row_id}">(.*?)</tr>', html, re.S)
    assert match is not None, f"no row {row_id}"
    return match.group(1)


def test_an_account_s_page_shows_its_grants_heatmap_logins_and_peers(
    people: People, register: Register, engine: Engine
) -> None:
    grant_id = approved_grant(people, valid_to=str(TODAY + timedelta(days=200)))
    hand_made_week(engine)

    page = people.officer.get("/staff/u-s001")
    assert page.status_code == 200, page.text
    html = page.text
    assert "田中 一郎" in html and 'aria-current="page">職員<' in html
    assert re.search(r'id="section">\s*1101', html)
    grant = row_of(html, f"grant-{grant_id}")
    assert "tax_resident" in grant and "head-1101" in grant and "有効" in grant
    # the heatmap: weekday rows, hour columns, the exact count in each cell's title
    assert "<title>水 14: 3</title>" in html
    assert "<title>水 15: 1</title>" in html and "<title>水 13: 1</title>" in html
    assert "<title>水 10: 0</title>" in html  # the peer's hour is not this account's
    assert re.search(r"<td>税務システム</td><td class=\"num\">4</td>", html)
    assert re.search(r"<td>認証基盤</td><td class=\"num\">1</td>", html)
    # its login and the factors it used
    assert "password,vein" in html and 'id="session-list"' in html
    # per day of use: 5 events, 4 residents, 1 output; the peer (u-s002): 10, 10, 0
    events = row_of(html, "peer-events")
    assert re.findall(r'class="num">([^<]+)<', events) == ["5.0", "10.0", "×0.5"]
    assert re.findall(r'class="num">([^<]+)<', row_of(html, "peer-subjects")) == ["4.0", "10.0", "×0.4"]
    assert re.findall(r'class="num">([^<]+)<', row_of(html, "peer-outputs")) == ["1.0", "0.0", "—"]
    assert "同じ所属の 1 人" in html

    with engine.connect() as conn:
        viewed = conn.execute(
            select(TrailEntry.actor, TrailEntry.target_id).where(TrailEntry.action == "staff_view")
        ).all()
    assert [tuple(v) for v in viewed] == [("sato", "u-s001")]


def test_the_list_searches_and_filters_by_section_with_the_rollup_s_activity(
    people: People, register: Register, engine: Engine
) -> None:
    hand_made_week(engine)
    html = people.auditor.get("/staff").text
    assert all(f'href="/staff/u-s00{n}"' in html for n in (1, 2, 3))
    listed = re.search(r'<a href="/staff/u-s001">u-s001</a></td>(.*?)</tr>', html, re.S)
    assert listed is not None
    assert re.findall(r'class="num">([^<]+)<', listed.group(1)) == ["1", "5", "1"]  # days, events, outputs
    assert str(WEDNESDAY) in listed.group(1)  # the last login

    by_name = people.auditor.get("/staff", params={"q": "鈴木"}).text
    assert 'href="/staff/u-s002"' in by_name and 'href="/staff/u-s001"' not in by_name
    by_account = people.auditor.get("/staff", params={"q": "U-S003"}).text  # any case
    assert 'href="/staff/u-s003"' in by_account and 'href="/staff/u-s002"' not in by_account
    by_section = people.auditor.get("/staff", params={"section": "1102"}).text
    assert 'href="/staff/u-s003"' in by_section and 'href="/staff/u-s001"' not in by_section
    nothing = people.auditor.get("/staff", params={"q": "%"}).text  # a LIKE character is a character
    assert 'id="no-staff"' in nothing


def test_a_section_head_sees_only_the_staff_of_their_section(people: People, register: Register) -> None:
    html = people.head_1102.get("/staff").text
    assert 'href="/staff/u-s003"' in html and 'href="/staff/u-s001"' not in html
    assert 'href="/staff"' in html and 'href="/rights"' in html  # the nav links
    assert people.head_1102.get("/staff", params={"section": "1101"}).text.count('href="/staff/u-s00') == 0

    other = people.head_1102.get("/staff/u-s001", headers=HTML)
    missing = people.head_1102.get("/staff/nobody", headers=HTML)
    assert other.status_code == missing.status_code == 404
    assert "<html" in other.text and other.text == missing.text  # nothing tells the two apart
    assert "田中" not in other.text
    assert people.head_1102.get("/staff/u-s003").status_code == 200
    assert people.head_1101.get("/staff/u-s001").status_code == 200


def test_administrators_and_api_tokens_are_refused(
    app: FastAPI, engine: Engine, settings: Settings, people: People, register: Register
) -> None:
    admin = TestClient(app)
    assert log_in(admin, add_user(engine, settings, PlatformRole.ADMIN, "kanri")).status_code == 303
    for path in ("/staff", "/staff/u-s001"):
        refused = admin.get(path, headers=HTML)
        assert refused.status_code == 403 and "<html" in refused.text and "田中" not in refused.text
    assert 'href="/staff"' not in admin.get("/").text
    with engine.begin() as conn:
        token = tokens.create_token(conn, settings.municipality_code, "t", scopes=tokens.SCOPES, actor="test").token
    program = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    assert program.get("/staff/u-s001").status_code == 403


def test_the_page_in_english(people: People, register: Register, engine: Engine, settings: Settings) -> None:
    hand_made_week(engine)
    english = create_app(
        settings.model_copy(update={"language": "en"}),
        engine,
        security=SecuritySettings(_env_file=None, login_rate_per_ip=10_000, login_rate_per_user=10_000),
    )
    client = TestClient(english)
    assert log_in(client, add_user(engine, settings, PlatformRole.AUDITOR, "auditor-en")).status_code == 303
    html = client.get("/staff/u-s001").text
    assert "Events by weekday and hour" in html and "<title>Wed 14: 3</title>" in html
    assert "Compared with the section&#39;s staff" in html and "Recent logins" in html
    assert "曜日" not in html
    listing = client.get("/staff").text
    assert "Account or name" in listing and ">Staff<" in listing
