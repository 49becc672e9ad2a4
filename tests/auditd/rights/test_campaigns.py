"""Recertification campaigns (権限表の見直し) through the real API, real logins and the real job
function, on both backends: an officer opens a campaign, the head of 1101 decides every item, the head
of 1102 does not respond, is reminded and then escalated (mail in the outbox, trail entries), their
items are flagged at the deadline and the report counts are right. Scoping (another section's items
are 404), the auditor's read-only access, the administrator's refusal, a revoke that really revokes,
a change that requests the new role, the yearly scheduled opening and idempotence."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from campaign_support import make_ledger
from fastapi import FastAPI
from fastapi.testclient import TestClient
from rights_support import TODAY, People, Register
from sqlalchemy import Engine, select

from auditd.auth.models import PlatformRole
from auditd.auth.testing import add_user, log_in
from auditd.mail import service as mail_service
from auditd.mail.models import MailOutbox
from auditd.reference.models import Grant
from auditd.rights import campaigns
from auditd.rights.models import GrantEvent, GrantRequest, RecertEvent, RecertItem
from auditd.settings import Settings
from auditd.trail.models import TrailEntry

HEAD_A, HEAD_B = "head-a@city.example.lg.jp", "head-b@city.example.lg.jp"
OFFICERS = "joho-seisaku@city.example.lg.jp"


def _login(app: FastAPI, engine: Engine, settings: Settings, role: PlatformRole, name: str, section: str | None = None):
    user = add_user(engine, settings, role, name, section_code=section)
    client = TestClient(app)
    assert log_in(client, user).status_code == 303
    return client


@pytest.fixture
def ledger(people: People, register: Register, engine: Engine, settings: Settings) -> dict[str, int]:
    """The grants of :func:`campaign_support.make_ledger`, and a mail recipient of every section."""
    grants = make_ledger(people, engine, settings)
    with engine.begin() as conn:
        mail_service.add_recipient(
            conn, settings.municipality_code, OFFICERS, actor="test", now=datetime.now(UTC), sections=None
        )
    return grants


def items_of(client: TestClient, campaign_id: int) -> dict[str, dict]:
    answer = client.get(f"/api/v1/rights/campaigns/{campaign_id}")
    assert answer.status_code == 200, answer.text
    return {f"{i['user_id']}:{i['role']}": i for i in answer.json()["items"]}


def decide(client: TestClient, campaign_id: int, item_id: int, **body: object):
    return client.post(f"/api/v1/rights/campaigns/{campaign_id}/items/{item_id}/decision", json=body)


def outbox(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(MailOutbox.recipient, MailOutbox.subject, MailOutbox.body_text)).all()
    return sorted((str(r), str(s), str(b)) for r, s, b in rows)


def trail(engine: Engine, prefix: str = "recert_") -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(TrailEntry.actor, TrailEntry.action)
            .where(TrailEntry.action.like(prefix + "%"))
            .order_by(TrailEntry.id)
        ).all()
    return [(str(a), str(b)) for a, b in rows]


def test_a_campaign_with_a_non_responder_reminded_escalated_and_flagged(
    app: FastAPI, people: People, ledger: dict[str, int], engine: Engine, settings: Settings
) -> None:
    head_a = _login(app, engine, settings, PlatformRole.SECTION_HEAD, HEAD_A, "1101")
    _login(app, engine, settings, PlatformRole.SECTION_HEAD, HEAD_B, "1102")  # never answers
    deadline = TODAY + timedelta(days=20)

    opened = people.officer.post(
        "/api/v1/rights/campaigns", json={"title": "2026年度 見直し", "deadline": str(deadline)}
    )
    assert opened.status_code == 201, opened.text
    campaign = opened.json()
    cid = campaign["id"]
    assert (campaign["status"], campaign["trigger"], campaign["items"], campaign["decided"]) == ("open", "manual", 4, 0)
    assert campaign["unused"] == 2 and campaign["usage_months"] == settings.recert_usage_months
    # a second campaign while one is open is refused
    assert people.officer.post("/api/v1/rights/campaigns", json={}).status_code == 409

    # the officer sees every item with its use; the unused are marked
    every = items_of(people.officer, cid)
    assert set(every) == {"u-s001:tax_resident", "u-s002:tax_resident", "u-s002:linkage", "u-s003:tax_property"}
    assert every["u-s001:tax_resident"]["lookups"] == 10 and every["u-s001:tax_resident"]["active_days"] == 2
    assert every["u-s001:tax_resident"]["unused"] is False
    assert every["u-s002:linkage"]["unused"] is True and every["u-s002:linkage"]["lookups"] == 0
    assert every["u-s002:linkage"]["last_used"] == str(TODAY - timedelta(days=200))
    assert {i["section_code"] for i in every.values()} == {"1101", "1102"}

    # head A sees and decides only 1101's items
    mine = items_of(head_a, cid)
    assert set(mine) == {"u-s001:tax_resident", "u-s002:tax_resident", "u-s002:linkage"}
    other = every["u-s003:tax_property"]["id"]
    assert decide(head_a, cid, other, decision="keep").status_code == 404
    assert head_a.get(f"/api/v1/rights/campaigns/{cid}", params={"section": "1102"}).json()["items"] == []
    # a revoke without a reason is refused
    assert decide(head_a, cid, mine["u-s002:tax_resident"]["id"], decision="revoke").status_code == 422

    kept = decide(head_a, cid, mine["u-s001:tax_resident"]["id"], decision="keep")
    assert kept.status_code == 200 and kept.json()["item"]["decision"] == "keep"
    revoked = decide(head_a, cid, mine["u-s002:tax_resident"]["id"], decision="revoke", reason="3か月未使用")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["grant"]["status"] == "revoked"
    changed = decide(
        head_a,
        cid,
        mine["u-s002:linkage"]["id"],
        decision="change",
        reason="照会業務は不要",
        new_role="tax_resident",
        new_valid_to=str(TODAY + timedelta(days=365)),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["request"]["status"] == "pending" and changed.json()["request"]["role"] == "tax_resident"
    # decided once
    again = decide(head_a, cid, mine["u-s001:tax_resident"]["id"], decision="revoke", reason="x")
    assert again.status_code == 409

    # the revoke went through the grant's life: status, effective day, history, trail
    with engine.connect() as conn:
        status = conn.execute(select(Grant.status, Grant.ended_on).where(Grant.id == ledger["s002"])).one()
        history = conn.execute(
            select(GrantEvent.action, GrantEvent.actor, GrantEvent.reason).where(GrantEvent.grant_id == ledger["s002"])
        ).all()
        link = conn.execute(select(Grant.status).where(Grant.id == ledger["s002-link"])).scalar_one()
        asked = conn.execute(
            select(GrantRequest.role, GrantRequest.requested_by).where(GrantRequest.status == "pending")
        ).all()
    assert tuple(status) == ("revoked", TODAY)
    assert ("revoked", HEAD_A) in [(a, b) for a, b, _ in history]
    assert any("3か月未使用" in (r or "") for _, _, r in history)
    assert link == "revoked" and [tuple(r) for r in asked] == [("tax_resident", HEAD_A)]

    # time passes: 7 days before the deadline the job reminds 1102 (not 1101, which is done)
    remind_day = deadline - timedelta(days=settings.recert_remind_days)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        first = campaigns.run_day(conn, settings, settings.municipality_code, today=remind_day, now=now)
    assert first.reminded == ["1102"] and first.mails == 1 and first.flagged == 0 and first.escalated == []
    mails = outbox(engine)
    assert [m[0] for m in mails] == [HEAD_B]
    assert "未判断 1 件" in mails[0][1] and f"/rights/campaigns/{cid}" in mails[0][2]
    assert "u-s003" not in mails[0][1] + mails[0][2]  # no account ids in mail
    with engine.begin() as conn:  # the job again, that day and the next: nothing more
        assert campaigns.run_day(conn, settings, settings.municipality_code, today=remind_day, now=now).reminded == []
        later = remind_day + timedelta(days=1)
        assert campaigns.run_day(conn, settings, settings.municipality_code, today=later, now=now).reminded == []
    assert len(outbox(engine)) == 1

    # the day after the deadline: B's item is flagged and 1102 escalated to the officers
    with engine.begin() as conn:
        after = campaigns.run_day(
            conn, settings, settings.municipality_code, today=deadline + timedelta(days=1), now=now
        )
    assert after.flagged == 1 and after.escalated == ["1102"] and after.mails == 1
    escalation = [m for m in outbox(engine) if m[0] == OFFICERS]
    assert len(escalation) == 1 and "1102: 1" in escalation[0][2]
    with engine.begin() as conn:
        repeat = campaigns.run_day(
            conn, settings, settings.municipality_code, today=deadline + timedelta(days=2), now=now
        )
    assert (repeat.flagged, repeat.escalated, repeat.mails) == (0, [], 0)
    with engine.connect() as conn:
        flagged = conn.execute(select(RecertItem.grant_id).where(RecertItem.flagged_at.is_not(None))).scalars().all()
        log = conn.execute(select(RecertEvent.action, RecertEvent.section_code).order_by(RecertEvent.id)).all()
    assert flagged == [ledger["s003"]]
    assert [tuple(r) for r in log] == [
        ("opened", None),
        ("decided", "1101"),
        ("decided", "1101"),
        ("decided", "1101"),
        ("reminded", "1102"),
        ("flagged", None),
        ("escalated", "1102"),
    ]
    assert trail(engine) == [
        ("sato", "recert_opened"),
        (HEAD_A, "recert_decided"),
        (HEAD_A, "recert_decided"),
        (HEAD_A, "recert_decided"),
        ("scheduler", "recert_reminded"),
        ("scheduler", "recert_flagged"),
        ("scheduler", "recert_escalated"),
    ]

    # the report: by section and in total
    report = people.auditor.get(f"/api/v1/rights/campaigns/{cid}/report")
    assert report.status_code == 200, report.text
    by_section = {s["section_code"]: s for s in report.json()["sections"]}
    assert {k: by_section["1101"][k] for k in ("items", "reviewed", "kept", "revoked", "changed", "unreviewed")} == {
        "items": 3,
        "reviewed": 3,
        "kept": 1,
        "revoked": 1,
        "changed": 1,
        "unreviewed": 0,
    }
    assert (by_section["1101"]["unused"], by_section["1101"]["unused_kept"], by_section["1101"]["flagged"]) == (2, 0, 0)
    assert {k: by_section["1102"][k] for k in ("items", "reviewed", "unreviewed", "flagged", "unused")} == {
        "items": 1,
        "reviewed": 0,
        "unreviewed": 1,
        "flagged": 1,
        "unused": 0,
    }
    total = report.json()["total"]
    assert (total["items"], total["reviewed"], total["unreviewed"], total["unused"]) == (4, 3, 1, 2)

    csv = people.officer.get(f"/api/v1/rights/campaigns/{cid}/report.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("section_code,items,reviewed,kept,revoked,changed,unreviewed")
    assert lines[1:] == ["1101,3,3,1,1,1,0,0,2,0", "1102,1,0,0,0,0,1,1,0,0", "合計,4,3,1,1,1,1,1,2,0"]
    assert trail(engine, "recert_report") == [("sato", "recert_report")]

    # an officer decides for the non-responder after the escalation (late, recorded as such); then closes
    late = decide(people.officer, cid, other, decision="keep")
    assert late.status_code == 200, late.text
    closed = people.officer.post(f"/api/v1/rights/campaigns/{cid}/close")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert decide(people.officer, cid, other, decision="keep").status_code == 409
    assert people.officer.post(f"/api/v1/rights/campaigns/{cid}/close").status_code == 409


def test_who_may_do_what(
    app: FastAPI, people: People, ledger: dict[str, int], engine: Engine, settings: Settings
) -> None:
    admin = _login(app, engine, settings, PlatformRole.ADMIN, "kanri")
    assert people.head_1101.post("/api/v1/rights/campaigns", json={}).status_code == 403
    assert people.auditor.post("/api/v1/rights/campaigns", json={}).status_code == 403
    assert admin.post("/api/v1/rights/campaigns", json={}).status_code == 403
    cid = people.officer.post("/api/v1/rights/campaigns", json={}).json()["id"]

    # the auditor reads everything and decides nothing
    every = items_of(people.auditor, cid)
    assert len(every) == 4
    item = every["u-s003:tax_property"]["id"]
    assert decide(people.auditor, cid, item, decision="keep").status_code == 403
    assert people.auditor.post(f"/api/v1/rights/campaigns/{cid}/close").status_code == 403
    assert people.auditor.post(f"/api/v1/rights/campaigns/{cid}/remind").status_code == 403
    # the administrator sees no campaign, no item, no report
    for path in ("", f"/{cid}", f"/{cid}/report", f"/{cid}/report.csv"):
        assert admin.get(f"/api/v1/rights/campaigns{path}").status_code == 403, path
    assert decide(admin, cid, item, decision="keep").status_code == 403
    # a section head: their own items; the report is for officers and auditors
    head = people.head_1102
    assert set(items_of(head, cid)) == {"u-s003:tax_property"}
    listed = head.get("/api/v1/rights/campaigns").json()["campaigns"]
    assert [(c["id"], c["items"], c["decided"]) for c in listed] == [(cid, 1, 0)]
    assert head.get(f"/api/v1/rights/campaigns/{cid}/report").status_code == 403
    assert people.head_1101.get(f"/api/v1/rights/campaigns/{cid}/report.csv").status_code == 403
    # another section's item: the same 404 as a missing one; a missing campaign is 404
    assert decide(people.head_1101, cid, item, decision="keep").status_code == 404
    assert decide(people.head_1101, cid, 999_999, decision="keep").status_code == 404
    assert people.officer.get("/api/v1/rights/campaigns/999999").status_code == 404
    # a change to a role outside the policy is refused, and nothing is decided
    bad = decide(head, cid, item, decision="change", reason="x", new_role="no-such-role")
    assert bad.status_code == 422
    assert items_of(head, cid)["u-s003:tax_property"]["decision"] is None
    with engine.connect() as conn:
        assert conn.execute(select(Grant.status).where(Grant.id == ledger["s003"])).scalar_one() == "active"
    # the manual reminder: once a day
    first = people.officer.post(f"/api/v1/rights/campaigns/{cid}/remind")
    assert first.status_code == 200 and first.json()["reminded"] == ["1101", "1102"]
    assert people.officer.post(f"/api/v1/rights/campaigns/{cid}/remind").json()["reminded"] == []


def test_the_yearly_campaign_opens_once_on_its_day(
    people: People, ledger: dict[str, int], engine: Engine, settings: Settings
) -> None:
    opens = date(TODAY.year + 1, 4, 15)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        before = campaigns.run_day(conn, settings, settings.municipality_code, today=opens - timedelta(days=1), now=now)
        assert before.opened is None
        first = campaigns.run_day(conn, settings, settings.municipality_code, today=opens, now=now)
        assert first.opened is not None
        assert campaigns.run_day(conn, settings, settings.municipality_code, today=opens, now=now).opened is None
    listed = people.officer.get("/api/v1/rights/campaigns").json()["campaigns"]
    assert [(c["trigger"], c["deadline"], c["items"]) for c in listed] == [
        ("scheduled", str(opens + timedelta(days=settings.recert_days)), 4)
    ]
    assert listed[0]["starts_on"] == str(opens)
    # closed early, it does not open again that year
    assert people.officer.post(f"/api/v1/rights/campaigns/{first.opened}/close").status_code == 200
    with engine.begin() as conn:
        assert (
            campaigns.run_day(
                conn, settings, settings.municipality_code, today=opens + timedelta(days=2), now=now
            ).opened
            is None
        )


def test_months_before_keeps_the_day_or_the_last_of_the_month() -> None:
    assert campaigns.months_before(date(2026, 5, 31), 3) == date(2026, 2, 28)
    assert campaigns.months_before(date(2026, 1, 15), 3) == date(2025, 10, 15)
    assert campaigns.months_before(date(2024, 5, 29), 3) == date(2024, 2, 29)
