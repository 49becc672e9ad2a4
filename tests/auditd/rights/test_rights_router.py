"""The rights lifecycle through the real API, with real logins, on both backends: request → approval
by the right 所属長 → grant; the refusals (own request, another section, no end, shared account,
no reason); transfers in the personnel feed suspending grants with the lag measured; inventories."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from rights_support import SINCE, TODAY, People, Register, assignments_csv, import_feed, request_grant
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DatabaseError

from auditd.api.app import create_app
from auditd.auth import tokens
from auditd.auth.settings import SecuritySettings
from auditd.events import repository as events_repo
from auditd.events import rollup
from auditd.privacy.mynumber import check_digit
from auditd.reference.models import Grant
from auditd.rights.models import GrantEvent
from auditd.settings import Settings
from auditd.trail.models import TrailEntry


def grant_events(engine: Engine, **where: object) -> list[dict[str, object]]:
    table = GrantEvent.__table__
    stmt = select(table).where(*(table.c[name] == value for name, value in where.items())).order_by(table.c.id)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]


def assert_lag(item: dict[str, object], effective: date, *, at_least: int) -> None:
    """The lag is the time from 00:00 Japan time of the effective day to when it was done (measured
    against the instant the store recorded, so a test running across midnight still holds)."""
    done_at = datetime.fromisoformat(str(item["done_at"]))
    start = datetime.combine(effective, time(0), tzinfo=ZoneInfo("Asia/Tokyo"))
    assert item["effective_on"] == str(effective)
    assert item["lag_days"] == pytest.approx((done_at - start) / timedelta(days=1), abs=0.001)
    assert item["lag_days"] >= at_least


def trail_actions(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(TrailEntry.actor, TrailEntry.action)
            .where(TrailEntry.action.like("rights_%"))
            .order_by(TrailEntry.id)
        )
        return [(str(a), str(b)) for a, b in rows]


# -- request → approval → grant ------------------------------------------------------------------------


def test_a_request_approved_by_the_holder_s_section_head_issues_a_grant(
    people: People, register: Register, engine: Engine
):
    request_id = request_grant(people.officer, valid_to=str(TODAY + timedelta(days=365)))
    pending = people.head_1101.get("/api/v1/rights/requests", params={"status": "pending"}).json()["requests"]
    assert [r["id"] for r in pending] == [request_id]
    assert pending[0]["requested_by"] == "sato" and pending[0]["status"] == "pending"

    answer = people.head_1101.post(f"/api/v1/rights/requests/{request_id}/approve", json={"comment": "確認済"})
    assert answer.status_code == 200, answer.text
    decided = answer.json()
    assert decided["request"]["status"] == "approved" and decided["request"]["decided_by"] == "head-1101"
    grant = decided["grant"]
    assert grant["origin"] == "api" and grant["approver"] == "head-1101" and grant["status"] == "active"
    assert (grant["user_id"], grant["role"], grant["valid_from"]) == ("u-s001", "tax_resident", str(SINCE))
    assert decided["request"]["grant_id"] == grant["id"]

    listed = people.officer.get("/api/v1/rights/grants", params={"user_id": "u-s001"}).json()["grants"]
    assert [g["id"] for g in listed] == [grant["id"]]
    assert people.officer.get("/api/v1/rights/requests", params={"status": "pending"}).json()["requests"] == []
    again = people.officer2.post(f"/api/v1/rights/requests/{request_id}/approve")
    assert again.status_code == 409

    with engine.connect() as conn:
        stored = conn.execute(select(Grant.origin, Grant.approver, Grant.status).where(Grant.id == grant["id"])).one()
    assert tuple(stored) == ("api", "head-1101", "active")
    steps = grant_events(engine)
    assert [(e["action"], e["actor"], e["request_id"]) for e in steps] == [
        ("requested", "sato", request_id),
        ("approved", "head-1101", request_id),
    ]
    assert steps[0]["reason"] == "課税担当に配属" and steps[1]["grant_id"] == grant["id"]
    assert ("sato", "rights_requested") in trail_actions(engine)
    assert ("head-1101", "rights_approved") in trail_actions(engine)
    history = people.auditor.get(f"/api/v1/rights/grants/{grant['id']}/events").json()
    assert [(e["action"], e["actor"]) for e in history["events"]] == [("requested", "sato"), ("approved", "head-1101")]
    assert people.head_1102.get(f"/api/v1/rights/grants/{grant['id']}/events").status_code == 404
    assert people.officer.get("/api/v1/rights/grants/999999/events").status_code == 404


def test_a_rejection_needs_a_reason_and_is_recorded(people: People, register: Register, engine: Engine):
    request_id = request_grant(people.officer)
    assert people.head_1101.post(f"/api/v1/rights/requests/{request_id}/reject", json={}).status_code == 422
    assert (
        people.head_1101.post(f"/api/v1/rights/requests/{request_id}/reject", json={"reason": " "}).status_code == 422
    )
    number = "12345678901" + str(check_digit("12345678901"))  # a 個人番号 typed into the reason
    answer = people.head_1101.post(
        f"/api/v1/rights/requests/{request_id}/reject", json={"reason": f"業務上不要 ({number})"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["request"]["status"] == "rejected" and answer.json()["grant"] is None
    assert [e["action"] for e in grant_events(engine)] == ["requested", "rejected"]
    assert grant_events(engine)[-1]["reason"] == "業務上不要 ([個人番号])"
    with engine.connect() as conn:
        details = conn.execute(select(TrailEntry.detail).where(TrailEntry.action == "rights_rejected")).scalars().all()
    assert details and number not in details[0] and "[個人番号]" in details[0]


def test_nobody_approves_their_own_request(people: People, register: Register):
    by_head = request_grant(people.head_1101)
    refused = people.head_1101.post(f"/api/v1/rights/requests/{by_head}/approve")
    assert refused.status_code == 403
    assert "自分の申請" in refused.json()["detail"]
    by_officer = request_grant(people.officer, user_id="u-s002")
    assert people.officer.post(f"/api/v1/rights/requests/{by_officer}/approve").status_code == 403
    assert people.officer.post(f"/api/v1/rights/requests/{by_officer}/reject", json={"reason": "x"}).status_code == 403
    # somebody else may
    assert people.officer2.post(f"/api/v1/rights/requests/{by_officer}/approve").status_code == 200
    assert people.officer.post(f"/api/v1/rights/requests/{by_head}/approve").status_code == 200


def test_a_section_head_of_another_section_is_refused(people: People, register: Register):
    request_id = request_grant(people.officer)  # u-s001 is in 1101
    refused = people.head_1102.post(f"/api/v1/rights/requests/{request_id}/approve")
    assert refused.status_code == 403
    assert "1101" in refused.json()["detail"] and "section" in refused.json()["detail"]
    # and does not see it, nor request for that section's staff
    assert people.head_1102.get("/api/v1/rights/requests").json()["requests"] == []
    assert people.head_1101.get("/api/v1/rights/requests").json()["requests"] != []
    other = people.head_1102.post(
        "/api/v1/rights/requests",
        json={"user_id": "u-s001", "role": "tax_resident", "valid_from": str(TODAY), "reason": "x"},
    )
    assert other.status_code == 403
    assert people.head_1101.post(f"/api/v1/rights/requests/{request_id}/approve").status_code == 200
    assert people.head_1102.get("/api/v1/rights/grants").json()["grants"] == []
    assert len(people.head_1101.get("/api/v1/rights/grants").json()["grants"]) == 1


def test_the_approving_section_is_the_one_on_valid_from(people: People, register: Register):
    """S003 moves from 1102 to 1101 in 30 days: a grant starting then is for 1101's head to decide."""
    move = TODAY + timedelta(days=30)
    register(assignments_csv(f"S003,1101,{move},").replace(f"S003,1102,{SINCE},", f"S003,1102,{SINCE},{move}"))
    request_id = request_grant(people.officer, user_id="u-s003", valid_from=str(move))
    assert people.head_1102.post(f"/api/v1/rights/requests/{request_id}/approve").status_code == 403
    assert people.head_1101.post(f"/api/v1/rights/requests/{request_id}/approve").status_code == 200


def test_a_temporary_grant_must_end_and_the_role_must_exist(people: People, register: Register):
    body = {"user_id": "u-s001", "role": "tax_resident", "valid_from": str(TODAY), "reason": "繁忙期の応援"}
    refused = people.officer.post("/api/v1/rights/requests", json={**body, "temporary": True})
    assert refused.status_code == 422
    assert "valid_to" in json.dumps(refused.json(), ensure_ascii=False)
    ends = people.officer.post(
        "/api/v1/rights/requests", json={**body, "temporary": True, "valid_to": str(TODAY + timedelta(days=30))}
    )
    assert ends.status_code == 201 and ends.json()["temporary"] is True
    # an account of kind temporary is always temporary, flag or not
    account = {"user_id": "u-s002", "staff_id": "S002", "kind": "temporary"}
    assert people.officer.post("/api/v1/rights/accounts", json=account).status_code == 200
    refused = people.officer.post("/api/v1/rights/requests", json={**body, "user_id": "u-s002"})
    assert refused.status_code == 422 and "temporary" in refused.json()["detail"]

    unknown = people.officer.post("/api/v1/rights/requests", json={**body, "role": "no_such_role"})
    assert unknown.status_code == 422 and "no_such_role" in unknown.json()["detail"]
    backwards = people.officer.post("/api/v1/rights/requests", json={**body, "valid_to": str(TODAY)})
    assert backwards.status_code == 422
    no_account = people.officer.post("/api/v1/rights/requests", json={**body, "user_id": "u-nobody"})
    assert no_account.status_code == 422 and "accounts" in no_account.json()["hint"]


# -- accounts --------------------------------------------------------------------------------------------


def test_an_account_is_never_given_to_a_second_person(people: People, register: Register, engine: Engine):
    same = people.officer.post(
        "/api/v1/rights/accounts", json={"user_id": "u-s001", "staff_id": "S001", "note": "更新"}
    )
    assert same.status_code == 200 and same.json()["created"] is False and same.json()["note"] == "更新"
    shared = people.officer.post("/api/v1/rights/accounts", json={"user_id": "u-s001", "staff_id": "S002"})
    assert shared.status_code == 409
    detail = shared.json()["detail"]
    assert "共用" in detail and "never shared" in detail and "S001" in detail
    new = people.officer.post("/api/v1/rights/accounts", json={"user_id": "u-s002b", "staff_id": "S002"})
    assert new.status_code == 200 and new.json()["created"] is True
    unknown = people.officer.post("/api/v1/rights/accounts", json={"user_id": "u-x", "staff_id": "S999"})
    assert unknown.status_code == 422
    assert ("sato", "rights_account_created") in trail_actions(engine)


# -- revocation ------------------------------------------------------------------------------------------


def _approved_grant(people: People, **body: object) -> int:
    request_id = request_grant(people.officer, **body)
    answer = people.head_1101.post(f"/api/v1/rights/requests/{request_id}/approve")
    assert answer.status_code == 200, answer.text
    return int(answer.json()["grant"]["id"])


def test_a_revocation_needs_a_reason(people: People, register: Register, engine: Engine):
    grant_id = _approved_grant(people)
    for body in ({}, {"reason": ""}, {"reason": "   "}):
        assert people.officer.post(f"/api/v1/rights/grants/{grant_id}/revoke", json=body).status_code == 422, body
    assert people.auditor.post(f"/api/v1/rights/grants/{grant_id}/revoke", json={"reason": "x"}).status_code == 403
    assert people.head_1102.post(f"/api/v1/rights/grants/{grant_id}/revoke", json={"reason": "x"}).status_code == 403
    effective = TODAY - timedelta(days=3)
    answer = people.officer.post(
        f"/api/v1/rights/grants/{grant_id}/revoke", json={"reason": "退職", "effective_on": str(effective)}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["grant"]["status"] == "revoked"
    assert answer.json()["event"]["reason"] == "退職" and answer.json()["event"]["effective_on"] == str(effective)
    assert people.officer.post(f"/api/v1/rights/grants/{grant_id}/revoke", json={"reason": "x"}).status_code == 409
    assert people.officer.post("/api/v1/rights/grants/999999/revoke", json={"reason": "x"}).status_code == 404

    lag = people.auditor.get("/api/v1/rights/revocation-lag").json()
    assert lag["summary"]["count"] == 1
    assert_lag(lag["grants"][0], effective, at_least=3)
    assert ("sato", "rights_revoked") in trail_actions(engine)


def test_grant_events_are_append_only(people: People, register: Register, engine: Engine):
    request_grant(people.officer)
    for statement in ("UPDATE grant_events SET actor = 'someone-else'", "DELETE FROM grant_events"):
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))


# -- the personnel register ---------------------------------------------------------------------------------


def test_a_transfer_in_the_personnel_feed_suspends_the_grant_from_its_day(
    people: People, register: Register, engine: Engine
):
    tax = _approved_grant(people)  # tax_resident: section 1101 only
    linkage = _approved_grant(people, role="linkage")  # 1101, 2101 or 2103
    moved_on = TODAY - timedelta(days=10)
    register(assignments_csv(f"S001,2101,{moved_on},", s001_until=moved_on))  # 異動: 市民税課 → 国保年金課

    answer = people.officer.post("/api/v1/rights/personnel/apply", json={})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["mode"] == "suspend" and result["checked"] == 2
    assert [
        (g["grant_id"], g["cause"], g["effective_on"], g["section_code"], g["action"]) for g in result["lapsed"]
    ] == [(tax, "transfer", str(moved_on), "2101", "suspended")]
    listed = people.officer.get("/api/v1/rights/grants").json()["grants"]
    grants = {g["id"]: (g["status"], g["ended_on"]) for g in listed}
    assert grants == {tax: ("suspended", str(moved_on)), linkage: ("active", None)}  # linkage is held in 2101 too
    suspended = grant_events(engine, action="suspended")
    assert [(e["grant_id"], e["effective_on"]) for e in suspended] == [(tax, moved_on)]

    lag = people.auditor.get("/api/v1/rights/revocation-lag").json()
    assert lag["summary"]["count"] == 1
    assert [(g["grant_id"], g["action"], g["effective_on"]) for g in lag["grants"]] == [
        (tax, "suspended", str(moved_on))
    ]
    assert_lag(lag["grants"][0], moved_on, at_least=10)
    assert lag["summary"]["median_days"] == lag["summary"]["max_days"] == lag["grants"][0]["lag_days"]

    again = people.officer.post("/api/v1/rights/personnel/apply").json()
    assert again["lapsed"] == [] and again["checked"] == 1
    assert ("sato", "rights_personnel_applied") in trail_actions(engine)


def test_a_retirement_suspends_every_grant_of_the_person(people: People, register: Register):
    tax = _approved_grant(people)
    linkage = _approved_grant(people, role="linkage")
    retired = TODAY - timedelta(days=2)
    staff = f"staff_id,name,employment,retired_on\nS001,田中 一郎,regular,{retired}\nS002,鈴木 花子,regular,\n"
    import_feed(people.officer, "staff", staff)
    result = people.officer.post("/api/v1/rights/personnel/apply", json={"on": str(TODAY)}).json()
    assert sorted((g["grant_id"], g["cause"], g["effective_on"]) for g in result["lapsed"]) == [
        (tax, "retirement", str(retired)),
        (linkage, "retirement", str(retired)),
    ]


def test_flag_mode_only_flags_and_flags_once(people: People, register: Register, engine: Engine, settings: Settings):
    tax = _approved_grant(people)
    moved_on = TODAY - timedelta(days=1)
    register(assignments_csv(f"S001,1102,{moved_on},", s001_until=moved_on))
    flagging = settings.model_copy(update={"rights_personnel_action": "flag"})
    app = create_app(flagging, engine, security=SecuritySettings(_env_file=None))
    with engine.begin() as conn:
        token = tokens.create_token(
            conn, settings.municipality_code, "jinji", scopes=("rights:write",), actor="t"
        ).token
    system = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    result = system.post("/api/v1/rights/personnel/apply").json()
    assert result["mode"] == "flag"
    assert [(g["grant_id"], g["action"]) for g in result["lapsed"]] == [(tax, "flagged")]
    assert system.post("/api/v1/rights/personnel/apply").json()["lapsed"] == []  # not flagged twice
    statuses = [g["status"] for g in people.officer.get("/api/v1/rights/grants").json()["grants"]]
    assert statuses == ["active"]
    assert [e["actor"] for e in grant_events(engine, action="flagged")] == ["api:jinji"]
    lag = people.auditor.get("/api/v1/rights/revocation-lag").json()["summary"]
    assert lag["flagged_open"] == 1 and lag["count"] == 0
    # a person decides: the revocation counts from the day of the transfer, not from today
    revoked = system.post(f"/api/v1/rights/grants/{tax}/revoke", json={"reason": "異動確認"})
    assert revoked.status_code == 200 and revoked.json()["event"]["effective_on"] == str(moved_on)
    lag = people.auditor.get("/api/v1/rights/revocation-lag").json()
    assert lag["summary"]["flagged_open"] == 0 and lag["summary"]["count"] == 1
    assert_lag(lag["grants"][0], moved_on, at_least=1)
    # a system may request, and never decide
    request_id = request_grant(system)
    assert system.post(f"/api/v1/rights/requests/{request_id}/approve").status_code == 403


# -- inventories -----------------------------------------------------------------------------------------


def _login_event(user_id: str, ts: datetime, result: str = "success") -> dict[str, object]:
    return {
        "municipality_code": "999997", "event_id": os.urandom(16), "ts": ts, "source": "auth", "system": "認証基盤",
        "user_id": user_id, "terminal_id": "T1", "session_id": None, "jimu": None, "action": "login",
        "screen": None, "function": None, "subject_hash": None, "subject_count": 0, "result": result,
        "auth_factors": "password", "detail": None, "seq": None, "pii_masked": False, "batch_id": 1, "raw_pos": 1,
    }  # fmt: skip


def test_dormant_accounts_and_grants_without_an_end(people: People, register: Register, engine: Engine):
    now = datetime.now(UTC)
    frame = pd.DataFrame(
        [
            _login_event("u-s001", now - timedelta(days=5)),
            _login_event("u-s002", now - timedelta(days=200)),
            _login_event("u-s002", now - timedelta(days=1), result="failure"),  # a failed login is no use
        ]
    )
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    with engine.begin() as conn:  # as ingest stores them: the events and their rollups (dormant reads those)
        events_repo.insert_events(conn, frame)
        rollup.add_events(conn, frame)
    dormant = people.auditor.get("/api/v1/rights/dormant", params={"days": 90}).json()
    assert dormant["days"] == 90
    found = {a["user_id"]: a["last_login"] for a in dormant["accounts"]}
    assert set(found) == {"u-s002", "u-s003"}
    assert found["u-s003"] is None and found["u-s002"].startswith(str((now - timedelta(days=200)).date()))
    assert people.auditor.get("/api/v1/rights/dormant", params={"days": 365}).json()["accounts"][0]["user_id"] == (
        "u-s003"
    )
    assert people.head_1101.get("/api/v1/rights/dormant").status_code == 403

    open_ended = _approved_grant(people)
    _approved_grant(people, role="linkage", valid_to=str(TODAY + timedelta(days=90)))
    listed = people.officer.get("/api/v1/rights/grants/without-expiry").json()["grants"]
    assert [g["id"] for g in listed] == [open_ended]


def test_importing_the_ledger_again_keeps_the_grants_issued_here(people: People, register: Register):
    issued = _approved_grant(people)
    import_feed(
        people.officer, "grants", f"user_id,role,valid_from,valid_to,approver,status\nu-s002,nhi,{SINCE},,課長,active\n"
    )
    grants = people.officer.get("/api/v1/rights/grants").json()["grants"]
    assert sorted((g["user_id"], g["origin"]) for g in grants) == [("u-s001", "api"), ("u-s002", "ledger")]
    assert issued in [g["id"] for g in grants]
    import_feed(
        people.officer, "grants", f"user_id,role,valid_from,valid_to,approver,status\nu-s003,nhi,{SINCE},,課長,active\n"
    )
    grants = people.officer.get("/api/v1/rights/grants").json()["grants"]
    assert sorted((g["user_id"], g["origin"]) for g in grants) == [("u-s001", "api"), ("u-s003", "ledger")]
