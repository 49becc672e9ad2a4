"""The revocation, account and ledger forms of the dashboard, through real logins on both backends:
officers revoke any grant and section heads their own section's (another section's is the refusal
page), with the reason mandatory; auditors read without forms; administrators create and disable
accounts (no resident data, no 権限管理 page), the shared-ID refusal shown; the ledger imported from
the page with its rejected lines listed; English. And the dormant accounts read from the rollup give
what grouping the login events gives."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta

import pandas as pd
from fastapi.testclient import TestClient
from rights_support import TODAY, People, Register, request_grant
from sqlalchemy import Engine, select

from auditd.api.app import create_app
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.auth.settings import SecuritySettings
from auditd.auth.testing import add_user, csrf_of, log_in
from auditd.events import repository as events_repo
from auditd.events import rollup
from auditd.reference.models import Account, Grant
from auditd.rights import repository, service
from auditd.rights.models import GrantEvent
from auditd.settings import Settings
from auditd.trail.models import TrailEntry

HTML = {"Accept": "text/html"}


def issued(people: People, user_id: str, role: str) -> int:
    request_id = request_grant(people.officer, user_id, role)
    answer = people.officer2.post(f"/api/v1/rights/requests/{request_id}/approve")
    assert answer.status_code == 200, answer.text
    return int(answer.json()["grant"]["id"])


def status_of(engine: Engine, grant_id: int) -> str:
    with engine.connect() as conn:
        return str(conn.execute(select(Grant.status).where(Grant.id == grant_id)).scalar_one())


def test_an_officer_revokes_from_the_rights_page(people: People, register: Register, engine: Engine) -> None:
    grant_id = issued(people, "u-s001", "tax_resident")
    html = people.officer.get("/rights").text
    assert f'id="revoke-{grant_id}"' in html
    empty = people.officer.post(f"/rights/grants/{grant_id}/revoke", data={"csrf": csrf_of(html), "reason": " "})
    assert "取消の理由を入力してください" in empty.text and status_of(engine, grant_id) == "active"

    done = people.officer.post(
        f"/rights/grants/{grant_id}/revoke",
        data={"csrf": csrf_of(html), "reason": "異動のため", "effective_on": "令和8年4月1日"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/rights#grants"
    after = people.officer.get("/rights").text
    assert "権限を取り消しました。" in after and f'id="revoke-{grant_id}"' not in after
    assert status_of(engine, grant_id) == "revoked"
    with engine.connect() as conn:
        event = conn.execute(
            select(GrantEvent.actor, GrantEvent.reason, GrantEvent.effective_on).where(
                GrantEvent.grant_id == grant_id, GrantEvent.action == "revoked"
            )
        ).one()
        trailed = conn.execute(select(TrailEntry.actor).where(TrailEntry.action == "rights_revoked")).scalars().all()
    assert tuple(event) == ("sato", "異動のため", datetime(2026, 4, 1).date()) and trailed == ["sato"]
    twice = people.officer.post(f"/rights/grants/{grant_id}/revoke", data={"csrf": csrf_of(after), "reason": "再"})
    assert "この権限は取り消せませんでした。" in twice.text  # revoked already: a message, nothing changed


def test_a_section_head_revokes_only_in_their_section(people: People, register: Register, engine: Engine) -> None:
    own = issued(people, "u-s001", "tax_resident")  # S001 is in 1101
    other = issued(people, "u-s003", "tax_property")  # S003 is in 1102
    html = people.head_1101.get("/staff/u-s001").text
    assert f'id="revoke-{own}"' in html
    done = people.head_1101.post(
        f"/rights/grants/{own}/revoke",
        data={"csrf": csrf_of(html), "reason": "担当替え", "back": "staff"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/staff/u-s001#grants"
    assert "権限を取り消しました。" in people.head_1101.get("/staff/u-s001").text
    refused = people.head_1101.post(
        f"/rights/grants/{other}/revoke", data={"csrf": csrf_of(html), "reason": "x"}, headers=HTML
    )
    assert refused.status_code == 403 and "<html" in refused.text and "自所属" in refused.text
    assert (status_of(engine, own), status_of(engine, other)) == ("revoked", "active")
    # without a reason the form comes back with a message; the redirect never names another section's account
    blank = people.head_1101.post(
        f"/rights/grants/{other}/revoke", data={"csrf": csrf_of(html), "back": "staff"}, follow_redirects=False
    )
    assert blank.status_code == 303 and blank.headers["location"] == "/rights#grants"


def test_auditors_and_administrators_cannot_revoke(
    people: People, register: Register, engine: Engine, settings: Settings
) -> None:
    grant_id = issued(people, "u-s001", "tax_resident")
    html = people.auditor.get("/rights").text
    assert f'id="revoke-{grant_id}"' not in html and "/rights/ledger" in html
    refused = people.auditor.post(
        f"/rights/grants/{grant_id}/revoke", data={"csrf": csrf_of(html), "reason": "x"}, headers=HTML
    )
    assert refused.status_code == 403 and status_of(engine, grant_id) == "active"


def admin_client(engine: Engine, settings: Settings, app: object) -> TestClient:
    client = TestClient(app)  # type: ignore[arg-type]
    assert log_in(client, add_user(engine, settings, PlatformRole.ADMIN, "admin-1")).status_code == 303
    return client


def test_an_administrator_creates_and_disables_accounts(
    people: People, register: Register, engine: Engine, settings: Settings, app: object
) -> None:
    admin = admin_client(engine, settings, app)
    home = admin.get("/").text
    assert 'href="/rights/accounts"' in home
    assert admin.get("/rights", headers=HTML).status_code == 403  # resident-facing pages stay closed
    assert admin.get("/staff/u-s001", headers=HTML).status_code == 403
    page = admin.get("/rights/accounts").text
    assert 'id="account-u-s001"' in page and 'id="create-account"' in page
    assert "staff_events" not in page and "dormant" not in page  # accounts only, no activity

    created = admin.post(
        "/rights/accounts",
        data={"csrf": csrf_of(page), "user_id": "u-s002b", "staff_id": "S002", "kind": "temporary"},
        follow_redirects=True,
    )
    assert "アカウントを作成しました。" in created.text and 'id="account-u-s002b"' in created.text
    shared = admin.post(
        "/rights/accounts", data={"csrf": csrf_of(page), "user_id": "u-s001", "staff_id": "S003"}, follow_redirects=True
    )
    assert "IDの共用はできません" in shared.text
    disabled = admin.post(
        "/rights/accounts/u-s002b/disable",
        data={"csrf": csrf_of(page), "disabled_on": str(TODAY)},
        follow_redirects=True,
    )
    assert "アカウントを無効化しました。" in disabled.text and 'id="disable-u-s002b"' not in disabled.text
    with engine.connect() as conn:
        rows = conn.execute(
            select(Account.user_id, Account.staff_id, Account.kind, Account.disabled_on).where(
                Account.user_id.in_(("u-s001", "u-s002b"))
            )
        ).all()
        actors = conn.execute(
            select(TrailEntry.action).where(TrailEntry.actor == "admin-1", TrailEntry.action.like("rights_account%"))
        ).scalars()
        trail = sorted(actors)
    assert sorted(tuple(r) for r in rows) == [
        ("u-s001", "S001", "personal", None),
        ("u-s002b", "S002", "temporary", TODAY),
    ]
    assert trail == ["rights_account_created", "rights_account_updated"]
    missing = admin.post("/rights/accounts/nobody/disable", data={"csrf": csrf_of(page)}, headers=HTML)
    assert missing.status_code == 404
    assert people.auditor.get("/rights/accounts", headers=HTML).status_code == 403
    assert people.head_1101.get("/rights/accounts", headers=HTML).status_code == 403


def test_the_ledger_is_imported_from_its_page(people: People, register: Register, engine: Engine) -> None:
    page = people.officer.get("/rights/ledger").text
    assert 'id="import-form"' in page and 'href="/api/v1/rights/ledger.csv?encoding=cp932"' in page
    bad = "職員番号,アカウント,ロール,開始日\r\nS001,u-s001,tax_resident,2025/4/1\r\nS001,u-s001,nope,2025/4/1\r\n"
    answer = people.officer.post(
        "/rights/ledger",
        data={"csrf": csrf_of(page), "encoding": "auto"},
        files={"file": ("kengen.csv", bad.encode("cp932"), "text/csv")},
    )
    assert answer.status_code == 422 and 'id="error-line-3"' in answer.text and "誤りのある行があるため" in answer.text
    with engine.connect() as conn:
        assert conn.execute(select(Grant.id)).first() is None
    good = bad.splitlines()[0] + "\r\n" + bad.splitlines()[1] + "\r\n"
    done = people.officer.post(
        "/rights/ledger",
        data={"csrf": csrf_of(page)},
        files={"file": ("kengen.csv", good.encode("cp932"), "text/csv")},
    )
    assert (
        done.status_code == 200 and "取り込みました。" in done.text and re.search(r'id="result-issued">1<', done.text)
    )
    reader = people.auditor.get("/rights/ledger").text
    assert 'id="import-form"' not in reader and 'id="read-only"' in reader
    assert people.auditor.post("/rights/ledger", data={"csrf": csrf_of(reader)}, headers=HTML).status_code == 403
    assert people.head_1101.get("/rights/ledger", headers=HTML).status_code == 403


def test_the_forms_in_english(people: People, register: Register, engine: Engine, settings: Settings) -> None:
    grant_id = issued(people, "u-s001", "tax_resident")
    english = create_app(
        settings.model_copy(update={"language": "en"}),
        engine,
        security=SecuritySettings(_env_file=None, login_rate_per_ip=10_000, login_rate_per_user=10_000),
    )
    officer = TestClient(english)
    assert log_in(officer, add_user(engine, settings, PlatformRole.OFFICER, "officer-en")).status_code == 303
    html = officer.get("/rights").text
    assert ">Revoke<" in html and "Rights ledger (CSV)" in html
    done = officer.post(f"/rights/grants/{grant_id}/revoke", data={"csrf": csrf_of(html), "reason": "moved"})
    assert "The grant is revoked." in done.text
    accounts = officer.get("/rights/accounts").text
    assert "Operator accounts" in accounts and "Create an account" in accounts and "アカウントの作成" not in accounts


# -- dormant accounts from the rollup ------------------------------------------------------------------


def logins(engine: Engine, *at: tuple[str, datetime]) -> None:
    """Successful logins stored as ingest stores them: the events and their rollups."""
    frame = pd.DataFrame(
        [
            {
                "municipality_code": "999997", "event_id": os.urandom(16), "ts": ts, "source": "auth",
                "system": "認証基盤", "user_id": user_id, "terminal_id": "T1", "session_id": None, "jimu": None,
                "action": "login", "screen": None, "function": None, "subject_hash": None, "subject_count": 0,
                "result": "success", "auth_factors": "password", "detail": None, "seq": None,
                "pii_masked": False, "batch_id": 1, "raw_pos": 1,
            }
            for user_id, ts in at
        ]
    )  # fmt: skip
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    with engine.begin() as conn:
        events_repo.insert_events(conn, frame)
        rollup.add_events(conn, frame)


def test_dormant_accounts_from_the_rollup_are_those_of_the_events(
    people: People, register: Register, engine: Engine
) -> None:
    for n in range(4, 9):
        people.officer.post("/api/v1/rights/accounts", json={"user_id": f"u-x{n}", "staff_id": "S002"})
    now = datetime.now(UTC)
    since = now - timedelta(days=30)
    logins(
        engine,
        ("u-s001", now - timedelta(days=2)),
        ("u-s002", now - timedelta(days=40)),
        ("u-s002", now - timedelta(days=45)),
        ("u-x4", since - timedelta(minutes=1)),  # the day of ``since``, just before it: dormant
        ("u-x5", since + timedelta(minutes=1)),  # the day of ``since``, just after it: in use
        ("u-x6", since - timedelta(days=1)),
        ("u-x7", now - timedelta(days=400)),
    )
    principal = Principal(None, "t", "t", PlatformRole.AUDITOR, "999997")
    with engine.connect() as conn:
        events_way = repository.dormant_accounts(conn, "999997", since, TODAY, 1000)
        rollup_way = service.dormant(conn, principal, days=30, now=now, today=TODAY, limit=1000)
        first_two = service.dormant(conn, principal, days=30, now=now, today=TODAY, limit=2)
    expected = [(r["user_id"], r["last_login"], r["active_grants"]) for r in events_way]
    got = [(a.user_id, a.last_login, a.active_grants) for a in rollup_way.accounts]
    assert got == expected
    assert {u for u, _, _ in got} == {"u-s002", "u-s003", "u-x4", "u-x6", "u-x7", "u-x8"}
    assert [a.user_id for a in first_two.accounts] == [u for u, _, _ in expected[:2]]
    answer = people.auditor.get("/api/v1/rights/dormant", params={"days": 30})
    assert answer.status_code == 200
    assert [a["user_id"] for a in answer.json()["accounts"]] == [u for u, _, _ in expected]
