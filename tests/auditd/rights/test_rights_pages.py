"""The dashboard's 権限管理 page through the real application and real logins, on both backends: a
section head approves (and rejects) through the page's forms, with the grant issued and the trail
written as through the API; one's own request and another section's are refused with the service's
reason on the page; auditors read without forms; the grant filters, the revocations due after a
transfer, the revocation lag and the dormant accounts; English."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from fastapi.testclient import TestClient
from rights_support import TODAY, People, Register, assignments_csv, request_grant
from sqlalchemy import Engine, select

from auditd.api.app import create_app
from auditd.auth.models import PlatformRole
from auditd.auth.settings import SecuritySettings
from auditd.auth.testing import add_user, csrf_of, log_in
from auditd.events import repository as events_repo
from auditd.events import rollup
from auditd.reference.models import Grant
from auditd.rights.models import GrantRequest
from auditd.settings import Settings
from auditd.trail.models import TrailEntry

JST = ZoneInfo("Asia/Tokyo")
DECISION_FORM = re.compile(r'<form method="post" action="/rights/requests/')


def request_row(engine: Engine, request_id: int) -> tuple[str, str | None, int | None]:
    with engine.connect() as conn:
        row = conn.execute(
            select(GrantRequest.status, GrantRequest.decided_by, GrantRequest.grant_id).where(
                GrantRequest.id == request_id
            )
        ).one()
    return str(row[0]), row[1], row[2]


def approve_on_page(client: TestClient, request_id: int, **form: str) -> str:
    """Post the page's approve form as a browser does; the page it comes back to."""
    csrf = csrf_of(client.get("/rights").text)
    answer = client.post(f"/rights/requests/{request_id}/approve", data={"csrf": csrf, **form}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/rights#requests"
    return client.get("/rights").text


def test_a_section_head_approves_through_the_page(people: People, register: Register, engine: Engine) -> None:
    request_id = request_grant(people.officer, valid_to=str(TODAY + timedelta(days=365)))
    html = people.head_1101.get("/rights").text
    assert 'aria-current="page">権限管理<' in html
    assert f'id="request-{request_id}"' in html and f'id="approve-{request_id}"' in html
    assert f'id="reject-{request_id}"' in html

    after = approve_on_page(people.head_1101, request_id, comment="配属を確認")
    assert "申請を承認し、権限を付与しました。" in after and 'id="no-pending"' in after

    status, decided_by, grant_id = request_row(engine, request_id)
    assert (status, decided_by) == ("approved", "head-1101") and grant_id is not None
    with engine.connect() as conn:
        grant = conn.execute(
            select(Grant.user_id, Grant.role, Grant.approver, Grant.status, Grant.origin).where(Grant.id == grant_id)
        ).one()
        trail = conn.execute(
            select(TrailEntry.actor, TrailEntry.target_id, TrailEntry.detail).where(
                TrailEntry.action == "rights_approved"
            )
        ).all()
    assert tuple(grant) == ("u-s001", "tax_resident", "head-1101", "active", "api")
    assert [(a, t) for a, t, _ in trail] == [("head-1101", str(grant_id))] and "配属を確認" in trail[0][2]
    assert f'id="grant-list-{grant_id}"' in after  # listed with the grants of the section
    # decided once: a second approval is refused with the service's reason, nothing changes
    again = approve_on_page(people.officer2, request_id)
    assert "この申請は処理できませんでした。" in again and "処理済み" in again


def test_nobody_approves_their_own_request_on_the_page(people: People, register: Register, engine: Engine) -> None:
    own = request_grant(people.head_1101, user_id="u-s002")
    html = people.head_1101.get("/rights").text
    assert f'id="request-{own}"' in html and f'id="approve-{own}"' not in html
    assert "自分の申請（他の承認者が決定します）" in html

    refused = approve_on_page(people.head_1101, own)  # posted anyway, as a crafted form would be
    assert re.search(r'<p class="error flash"[^>]*id="flash">\s*この申請は処理できませんでした。', refused)
    assert "自分の申請は承認できません" in refused
    assert request_row(engine, own) == ("pending", None, None)
    with engine.connect() as conn:
        assert conn.execute(select(Grant.id)).all() == []
    # an officer decides it
    assert "申請を承認し、権限を付与しました。" in approve_on_page(people.officer, own)


def test_another_section_s_head_neither_sees_nor_decides(people: People, register: Register, engine: Engine) -> None:
    request_id = request_grant(people.officer)  # u-s001, in 1101
    html = people.head_1102.get("/rights").text
    assert f'id="request-{request_id}"' not in html and 'id="no-pending"' in html
    assert 'id="lag"' not in html and 'id="dormant"' not in html  # as the API: not for section heads
    refused = approve_on_page(people.head_1102, request_id)
    assert "所属長は自所属の職員についてのみ操作できます" in refused
    assert request_row(engine, request_id)[0] == "pending"


def test_a_rejection_needs_a_reason(people: People, register: Register, engine: Engine) -> None:
    request_id = request_grant(people.officer)
    csrf = csrf_of(people.head_1101.get("/rights").text)
    for reason in ("", "   "):
        back = people.head_1101.post(f"/rights/requests/{request_id}/reject", data={"csrf": csrf, "reason": reason})
        assert "却下の理由を入力してください" in back.text  # the redirect followed: the page with the message
        assert request_row(engine, request_id)[0] == "pending"
    done = people.head_1101.post(
        f"/rights/requests/{request_id}/reject", data={"csrf": csrf, "reason": "業務上不要"}, follow_redirects=True
    )
    assert "申請を却下しました。" in done.text
    assert request_row(engine, request_id)[:2] == ("rejected", "head-1101")


def logins(engine: Engine, *at: tuple[str, datetime]) -> None:
    """Successful logins stored as ingest stores them: the events and their rollups."""
    frame = pd.DataFrame(
        [
            {
                "municipality_code": "999997",
                "event_id": os.urandom(16),
                "ts": ts,
                "source": "auth",
                "system": "認証基盤",
                "user_id": user_id,
                "terminal_id": "T1",
                "session_id": None,
                "jimu": None,
                "action": "login",
                "screen": None,
                "function": None,
                "subject_hash": None,
                "subject_count": 0,
                "result": "success",
                "auth_factors": "password,vein",
                "detail": None,
                "seq": None,
                "pii_masked": False,
                "batch_id": 1,
                "raw_pos": 1,
            }
            for user_id, ts in at
        ]
    )
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    with engine.begin() as conn:
        events_repo.insert_events(conn, frame)
        rollup.add_events(conn, frame)


def test_an_auditor_reads_without_forms(people: People, register: Register, engine: Engine) -> None:
    request_id = request_grant(people.officer)
    html = people.auditor.get("/rights").text
    assert f'id="request-{request_id}"' in html and 'id="read-only"' in html
    assert not DECISION_FORM.search(html)
    assert 'id="lag"' in html and 'id="dormant"' in html
    # the three accounts have never logged in: all dormant
    assert all(f'id="dormant-u-s00{n}"' in html for n in (1, 2, 3))
    now = datetime.now(UTC)
    logins(engine, ("u-s001", now - timedelta(days=2)), ("u-s002", now - timedelta(days=40)))
    html = people.auditor.get("/rights").text  # the last 90 days by default
    assert 'id="dormant-u-s003"' in html
    assert 'id="dormant-u-s001"' not in html and 'id="dormant-u-s002"' not in html
    month = people.auditor.get("/rights", params={"dormant_days": "30"}).text
    assert 'id="dormant-u-s001"' not in month
    last = re.search(r'<tr id="dormant-u-s002">(.*?)</tr>', month, re.S)
    assert last is not None and str((now - timedelta(days=40)).astimezone(JST).date()) in last.group(1)
    refused = people.auditor.post(
        f"/rights/requests/{request_id}/approve", data={"csrf": csrf_of(html)}, headers={"Accept": "text/html"}
    )
    assert refused.status_code == 403 and "<html" in refused.text


def test_the_grants_filters_the_open_ended_and_the_revocations_due(people: People, register: Register) -> None:
    def approved(client: TestClient, user_id: str, role: str, **body: object) -> int:
        request_id = request_grant(people.officer, user_id=user_id, role=role, **body)
        answer = client.post(f"/api/v1/rights/requests/{request_id}/approve")
        assert answer.status_code == 200, answer.text
        return int(answer.json()["grant"]["id"])

    ending = approved(people.head_1101, "u-s001", "tax_resident", valid_to=str(TODAY + timedelta(days=20)))
    open_ended = approved(people.head_1102, "u-s003", "tax_property")
    officer = people.officer

    def listed(**params: str) -> set[int]:
        html = officer.get("/rights", params=params).text
        return {int(n) for n in re.findall(r'<tr id="grant-list-(\d+)">', html)}

    assert listed() == {ending, open_ended}
    assert listed(expiring="30") == {ending} and listed(expiring="10") == set()
    assert listed(section="1102") == {open_ended} and listed(section="1101") == {ending}
    assert listed(status="revoked") == set() and listed(status="active") == {ending, open_ended}
    assert listed(status="bogus", expiring="x") == {ending, open_ended}  # a bad filter is no filter
    html = officer.get("/rights").text
    assert f'id="open-ended-{open_ended}"' in html and f'id="open-ended-{ending}"' not in html
    assert people.head_1102.get("/rights").text.count('<tr id="grant-list-') == 1  # their own section's

    # S003 moves to 2101: the personnel feed suspends tax_property (1102 only) → a revocation due
    moved_on = TODAY - timedelta(days=3)
    register(
        assignments_csv(f"S003,2101,{moved_on},").replace(
            f"S003,1102,{TODAY - timedelta(days=400)},", f"S003,1102,{TODAY - timedelta(days=400)},{moved_on}"
        )
    )
    assert officer.post("/api/v1/rights/personnel/apply", json={}).status_code == 200
    html = officer.get("/rights").text
    due = re.search(rf'<tr id="due-{open_ended}">(.*?)</tr>', html, re.S)
    assert due is not None and str(moved_on) in due.group(1) and "停止" in due.group(1)
    assert re.search(r'id="lag-count">1<', html)


def test_the_page_in_english(people: People, register: Register, engine: Engine, settings: Settings) -> None:
    request_id = request_grant(people.officer)
    english = create_app(
        settings.model_copy(update={"language": "en"}),
        engine,
        security=SecuritySettings(_env_file=None, login_rate_per_ip=10_000, login_rate_per_user=10_000),
    )
    head = TestClient(english)
    user = add_user(engine, settings, PlatformRole.SECTION_HEAD, "head-en", section_code="1101")
    assert log_in(head, user).status_code == 303
    html = head.get("/rights").text
    assert "Requests waiting for a decision" in html and ">Approve<" in html and ">Access rights<" in html
    assert "承認待ち" not in html
    csrf = csrf_of(html)
    back = head.post(f"/rights/requests/{request_id}/approve", data={"csrf": csrf})
    assert "The request is approved and the grant issued." in back.text
