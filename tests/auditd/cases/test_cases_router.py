"""The alerts and cases API through the real application: people of each role logged in through the
real login forms, API tokens, the workflow to a disposition and the breach checklist."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from cases_support import NOW, add_alert
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from auditd.auth import tokens
from auditd.auth.models import PlatformRole
from auditd.auth.testing import add_user, log_in
from auditd.cases import repository, service
from auditd.settings import Settings
from auditd.store.base import table_of
from auditd.trail.models import TrailEntry


@dataclass
class Town:
    officer: TestClient
    head_1101: TestClient
    auditor: TestClient
    case_1101: int
    case_2101: int
    alert_1101: int


@pytest.fixture
def town(app: FastAPI, engine: Engine, settings: Settings) -> Town:
    code = settings.municipality_code
    with engine.begin() as connection:
        alert_1101 = add_alert(connection, code, user_id="u1", section="1101", subjects=("aa01aa01",))
        add_alert(connection, code, user_id="u5", section="2101", subjects=("bb02bb02",), severity="critical")
        service.triage(connection, settings, code, now=NOW)
        cases = {c["section"]: int(c["id"]) for c in repository.list_cases(connection, code)}

    def logged_in(role: PlatformRole, username: str, section: str | None = None) -> TestClient:
        user = add_user(engine, settings, role, username, section_code=section)
        client = TestClient(app)
        assert log_in(client, user).status_code == 303, username
        return client

    return Town(
        officer=logged_in(PlatformRole.OFFICER, "sato"),
        head_1101=logged_in(PlatformRole.SECTION_HEAD, "head-1101", "1101"),
        auditor=logged_in(PlatformRole.AUDITOR, "kato"),
        case_1101=cases["1101"],
        case_2101=cases["2101"],
        alert_1101=alert_1101,
    )


def _token(app: FastAPI, engine: Engine, settings: Settings, name: str, *scopes: str) -> TestClient:
    with engine.begin() as connection:
        issued = tokens.create_token(connection, settings.municipality_code, name, scopes=scopes, actor="test")
    return TestClient(app, headers={"Authorization": f"Bearer {issued.token}"})


def test_officer_takes_a_case_to_a_disposition_and_the_breach_deadlines(town: Town, engine: Engine) -> None:
    officer, case = town.officer, town.case_1101
    listed = officer.get("/api/v1/cases", params={"status": "new"}).json()["items"]
    assert {c["id"] for c in listed} == {town.case_1101, town.case_2101}

    answer = officer.post(f"/api/v1/cases/{case}/assign", json={"assignee": "sato"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "investigating" and answer.json()["status_ja"] == "調査中"
    assert officer.post(f"/api/v1/cases/{case}/comments", json={"body": "所属長に確認中"}).status_code == 201

    missing = officer.post(f"/api/v1/cases/{case}/close", json={"reason": "理由だけ"})
    assert missing.status_code == 422  # a disposition is required to close
    closed = officer.post(f"/api/v1/cases/{case}/close", json={"disposition": "fraud", "reason": "私的な閲覧を確認"})
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert body["status"] == "closed" and body["disposition_ja"] == "不正"
    assert [h["action"] for h in body["history"]] == [
        "opened",
        "assigned",
        "status",
        "comment",
        "closed",
        "breach_opened",
    ]
    assert all(h["actor"] in ("system", "sato") for h in body["history"])
    breach = body["breach"]
    assert breach["reportable"] and breach["wrongful_purpose"]
    assert breach["preliminary_days_left"] is not None and breach["final_days_left"] is not None

    updated = officer.put(f"/api/v1/cases/{case}/breach", json={"wrongful_purpose": False})
    assert updated.status_code == 200 and updated.json()["final_days_left"] == breach["final_days_left"] - 30
    reported = officer.post(f"/api/v1/cases/{case}/breach/reported", json={"stage": "preliminary"})
    assert reported.status_code == 200 and reported.json()["preliminary_days_left"] is None
    assert officer.post(f"/api/v1/cases/{case}/breach/reported", json={"stage": "preliminary"}).status_code == 409
    assert officer.post(f"/api/v1/cases/{case}/comments", json={"body": "速報済み"}).status_code == 201
    assert officer.post(f"/api/v1/cases/{case}/assign", json={"assignee": "ito"}).status_code == 409  # closed

    with engine.connect() as connection:
        trail = table_of(TrailEntry)
        done = connection.execute(
            select(trail.c.actor, trail.c.action, trail.c.client).where(trail.c.target_id == str(case))
        ).all()
    actions = {action for actor, action, client in done if actor == "sato" and client}
    assert {"case_assigned", "case_closed", "case_breach_updated", "case_breach_reported", "case_view"} <= actions


def test_section_head_sees_and_comments_on_their_section_only(town: Town) -> None:
    head = town.head_1101
    assert [c["id"] for c in head.get("/api/v1/cases").json()["items"]] == [town.case_1101]
    assert [a["section"] for a in head.get("/api/v1/alerts").json()["items"]] == ["1101"]
    assert head.get(f"/api/v1/cases/{town.case_2101}").status_code == 404
    assert head.post(f"/api/v1/cases/{town.case_1101}/comments", json={"body": "本人から事情を聴取"}).status_code == 201
    assert head.post(f"/api/v1/cases/{town.case_2101}/comments", json={"body": "x"}).status_code == 404
    refused = head.post(f"/api/v1/cases/{town.case_1101}/close", json={"disposition": "legitimate", "reason": "x"})
    assert refused.status_code == 403
    assert (
        head.post("/api/v1/suppressions", json={"rule": "D01", "reason": "x", "expires_on": "2030-01-01"}).status_code
        == 403
    )


def test_auditor_reads_but_changes_nothing(town: Town) -> None:
    auditor = town.auditor
    detail = auditor.get(f"/api/v1/cases/{town.case_2101}")
    assert detail.status_code == 200 and detail.json()["severity"] == "critical"
    one = auditor.get(f"/api/v1/alerts/{town.alert_1101}").json()
    assert one["subjects"] == ["aa01aa01"] and one["case_id"] == town.case_1101 and one["event_ids"] == []
    assert auditor.post(f"/api/v1/cases/{town.case_2101}/comments", json={"body": "x"}).status_code == 403
    assert auditor.post(f"/api/v1/cases/{town.case_2101}/assign", json={"assignee": "kato"}).status_code == 403


def test_tokens_read_and_comment_by_scope_but_never_dispose(
    app: FastAPI, engine: Engine, settings: Settings, town: Town
) -> None:
    reader = _token(app, engine, settings, "siem-reader", "alerts:read")
    assert reader.get("/api/v1/cases").status_code == 200
    assert reader.post(f"/api/v1/cases/{town.case_1101}/comments", json={"body": "x"}).status_code == 403
    writer = _token(app, engine, settings, "ticketing", "alerts:read", "alerts:write")
    assert writer.post(f"/api/v1/cases/{town.case_1101}/comments", json={"body": "チケット #42"}).status_code == 201
    close = writer.post(f"/api/v1/cases/{town.case_1101}/close", json={"disposition": "legitimate", "reason": "x"})
    assert close.status_code == 403
    nobody = TestClient(app)
    assert nobody.get("/api/v1/cases").status_code == 401


def test_suppressions_through_the_api(town: Town) -> None:
    officer = town.officer
    made = officer.post(
        "/api/v1/suppressions",
        json={"rule": "D01", "user_id": "batch_tax", "reason": "夜間バッチ（指定端末）", "expires_on": "2099-03-31"},
    )
    assert made.status_code == 201, made.text
    assert (
        officer.post("/api/v1/suppressions", json={"reason": "no pattern", "expires_on": "2099-03-31"}).status_code
        == 422
    )
    listed = officer.get("/api/v1/suppressions").json()["items"]
    assert [(s["rule"], s["user_id"], s["matched"]) for s in listed] == [("D01", "batch_tax", 0)]
    sid = made.json()["id"]
    assert officer.post(f"/api/v1/suppressions/{sid}/revoke").status_code == 200
    assert officer.post(f"/api/v1/suppressions/{sid}/revoke").status_code == 409
    assert officer.get("/api/v1/suppressions").json()["items"] == []
    assert len(officer.get("/api/v1/suppressions", params={"active": "false"}).json()["items"]) == 1


def test_bad_requests_are_4xx(town: Town) -> None:
    officer = town.officer
    assert officer.get("/api/v1/cases/999999").status_code == 404
    assert officer.get("/api/v1/cases/0").status_code == 422
    unknown = officer.post(f"/api/v1/cases/{town.case_1101}/assign", json={"assignee": "nobody"})
    assert unknown.status_code == 422 and "not an active officer" in unknown.json()["detail"]
    assert officer.get("/api/v1/alerts", params={"rule": "X1"}).status_code == 422
    assert (
        officer.post(f"/api/v1/cases/{town.case_1101}/close", json={"disposition": "maybe", "reason": "x"}).status_code
        == 422
    )
    assert officer.get(f"/api/v1/cases/{town.case_1101}/breach").status_code == 404  # not confirmed: no checklist
