"""The dashboard's 権限表の見直し pages through the real application and real logins, on both backends:
an officer opens a campaign from the 権限管理 page, which lists it with its progress; a section head
decides their own section's grants through the campaign page's forms (unused ones highlighted), the
revocation done as through the API and the trail written; another section's item is refused with a
message and nothing changes; officers and auditors see the report, auditors without forms; the
administrator is refused with an HTML page; English."""

from __future__ import annotations

import re

from campaign_support import make_ledger
from fastapi import FastAPI
from fastapi.testclient import TestClient
from rights_support import People, Register
from sqlalchemy import Engine, select

from auditd.api.app import create_app
from auditd.auth.models import PlatformRole
from auditd.auth.settings import SecuritySettings
from auditd.auth.testing import add_user, csrf_of, log_in
from auditd.reference.models import Grant
from auditd.rights.models import RecertItem
from auditd.settings import Settings
from auditd.trail.models import TrailEntry

HTML = {"Accept": "text/html"}


def open_on_page(client: TestClient, title: str = "春の見直し") -> int:
    csrf = csrf_of(client.get("/rights").text)
    answer = client.post("/rights/campaigns", data={"csrf": csrf, "title": title}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    found = re.fullmatch(r"/rights/campaigns/(\d+)", answer.headers["location"])
    assert found is not None, answer.headers["location"]
    return int(found.group(1))


def item_ids(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(RecertItem.user_id, RecertItem.role, RecertItem.id)).all()
    return {f"{u}:{r}": int(i) for u, r, i in rows}


def decide_on_page(client: TestClient, campaign_id: int, item_id: int, **form: str) -> str:
    csrf = csrf_of(client.get(f"/rights/campaigns/{campaign_id}").text)
    answer = client.post(
        f"/rights/campaigns/{campaign_id}/items/{item_id}/decide", data={"csrf": csrf, **form}, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/rights/campaigns/{campaign_id}#items"
    return client.get(f"/rights/campaigns/{campaign_id}").text


def test_a_section_head_decides_on_the_page(
    people: People, register: Register, engine: Engine, settings: Settings
) -> None:
    grants = make_ledger(people, engine, settings)
    assert 'id="no-campaigns"' in people.officer.get("/rights").text
    cid = open_on_page(people.officer)
    ids = item_ids(engine)

    listed = people.head_1101.get("/rights").text
    assert f'id="campaign-{cid}"' in listed and "春の見直し" in listed
    assert re.search(rf'id="campaign-{cid}">.*?0 / 3<', listed, re.S)  # the head's own items only
    assert 'id="campaign-open"' not in listed  # only officers open campaigns
    assert 'id="campaign-open"' in people.officer.get("/rights").text

    html = people.head_1101.get(f"/rights/campaigns/{cid}").text
    assert "権限表の見直し" in html and 'id="report"' not in html and 'id="campaign-close"' not in html
    for key in ("u-s001:tax_resident", "u-s002:tax_resident", "u-s002:linkage"):
        assert f'id="decide-{ids[key]}"' in html
    assert f'id="item-{ids["u-s003:tax_property"]}"' not in html  # another section's
    assert f'id="item-{ids["u-s002:linkage"]}" class="recert-unused"' in html
    assert f'id="unused-{ids["u-s002:linkage"]}"' in html and f'id="unused-{ids["u-s001:tax_resident"]}"' not in html

    # revoke without a reason: refused with a message, nothing decided
    refused = decide_on_page(people.head_1101, cid, ids["u-s002:tax_resident"], decision="revoke")
    assert "入力内容を確認してください" in refused and f'id="decide-{ids["u-s002:tax_resident"]}"' in refused
    after = decide_on_page(people.head_1101, cid, ids["u-s002:tax_resident"], decision="revoke", reason="未使用")
    assert "判断を登録しました。" in after and f'id="decision-{ids["u-s002:tax_resident"]}"' in after
    kept = decide_on_page(people.head_1101, cid, ids["u-s001:tax_resident"], decision="keep", new_role="nhi")
    assert "判断を登録しました。" in kept  # a role typed for a keep is ignored
    with engine.connect() as conn:
        status = conn.execute(select(Grant.status).where(Grant.id == grants["s002"])).scalar_one()
        kept_status = conn.execute(select(Grant.status).where(Grant.id == grants["s001"])).scalar_one()
        decided = conn.execute(
            select(TrailEntry.actor, TrailEntry.target_id).where(TrailEntry.action == "recert_decided")
        ).all()
    assert (status, kept_status) == ("revoked", "active")
    assert sorted(tuple(r) for r in decided) == sorted(
        [("head-1101", str(ids["u-s002:tax_resident"])), ("head-1101", str(ids["u-s001:tax_resident"]))]
    )

    # another section's item through the form: the same refusal as a missing one, nothing changes
    other = decide_on_page(people.head_1101, cid, ids["u-s003:tax_property"], decision="revoke", reason="x")
    assert "処理できませんでした。" in other
    with engine.connect() as conn:
        assert conn.execute(select(Grant.status).where(Grant.id == grants["s003"])).scalar_one() == "active"
    page = people.head_1102.get(f"/rights/campaigns/{cid}").text
    assert f'id="decide-{ids["u-s003:tax_property"]}"' in page and "u-s001" not in page

    # the officer: the report by section, the CSV link, remind and close
    officer = people.officer.get(f"/rights/campaigns/{cid}").text
    assert 'id="report-1101"' in officer and 'id="report-1102"' in officer and 'id="report-csv"' in officer
    assert re.search(r'id="report-total">.*?<td class="num">4</td><td class="num">2</td>', officer, re.S)
    csrf = csrf_of(officer)
    closed = people.officer.post(f"/rights/campaigns/{cid}/close", data={"csrf": csrf})
    assert "見直しを終了しました。" in closed.text and 'id="campaign-status">終了<' in closed.text
    assert f'id="flagged-{ids["u-s003:tax_property"]}"' in closed.text
    assert 'id="decide-' not in closed.text  # closed: no forms


def test_readers_and_refusals(
    app: FastAPI, people: People, register: Register, engine: Engine, settings: Settings
) -> None:
    make_ledger(people, engine, settings)
    cid = open_on_page(people.officer)
    auditor = people.auditor.get(f"/rights/campaigns/{cid}").text
    assert 'id="report"' in auditor and 'id="read-only"' in auditor
    assert 'id="decide-' not in auditor and 'id="campaign-close"' not in auditor
    assert "u-s003" in auditor and "u-s001" in auditor
    # an auditor's or a section head's post to officer forms is refused
    csrf = csrf_of(people.auditor.get("/rights").text)
    assert people.auditor.post(f"/rights/campaigns/{cid}/close", data={"csrf": csrf}, headers=HTML).status_code == 403
    csrf = csrf_of(people.head_1101.get("/rights").text)
    assert people.head_1101.post("/rights/campaigns", data={"csrf": csrf}, headers=HTML).status_code == 403

    admin_user = add_user(engine, settings, PlatformRole.ADMIN, "kanri")
    admin = TestClient(app)
    assert log_in(admin, admin_user).status_code == 303
    refused = admin.get(f"/rights/campaigns/{cid}", headers=HTML)
    assert refused.status_code == 403 and "<html" in refused.text and "u-s001" not in refused.text
    missing = people.officer.get("/rights/campaigns/999999", headers=HTML)
    assert missing.status_code == 404 and "<html" in missing.text


def test_the_pages_in_english(people: People, register: Register, engine: Engine, settings: Settings) -> None:
    make_ledger(people, engine, settings)
    cid = open_on_page(people.officer)
    english = create_app(
        settings.model_copy(update={"language": "en"}),
        engine,
        security=SecuritySettings(_env_file=None, login_rate_per_ip=10_000, login_rate_per_user=10_000),
    )
    head = TestClient(english)
    user = add_user(engine, settings, PlatformRole.SECTION_HEAD, "head-en", section_code="1101")
    assert log_in(head, user).status_code == 303
    listed = head.get("/rights").text
    assert "Recertification campaigns" in listed and "権限表の見直し（" not in listed
    html = head.get(f"/rights/campaigns/{cid}").text
    assert "Grants under review" in html and ">Unused<" in html and ">Record<" in html
    assert "見直し対象" not in html


def test_an_open_campaign_is_a_deadline_on_the_overview(
    people: People, register: Register, engine: Engine, settings: Settings
) -> None:
    make_ledger(people, engine, settings)
    cid = open_on_page(people.officer, "秋の見直し")

    def due_row(client: TestClient) -> str | None:
        html = client.get("/").text
        found = re.search(r'<tr class="due-recertification">(.*?)</tr>', html, re.S)
        return None if found is None else found.group(1)

    row = due_row(people.officer)
    assert row is not None and f'href="/rights/campaigns/{cid}"' in row and "秋の見直し（4/4）" in row
    head_row = due_row(people.head_1102)
    assert head_row is not None and "秋の見直し（1/1）" in head_row  # the head's own section only
    ids = item_ids(engine)
    decide_on_page(people.head_1102, cid, ids["u-s003:tax_property"], decision="keep")
    assert due_row(people.head_1102) is None  # nothing left for 1102
    row = due_row(people.officer)
    assert row is not None and "秋の見直し（3/4）" in row
