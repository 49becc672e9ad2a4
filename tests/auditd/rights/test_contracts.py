"""The contractor roster through the real API, pages and CLI: a contractor's grant needs a contract in
force and a pledge (誓約書), and ends with the contract; the personnel run suspends the grants left
open when a contract ends (cause contract_end), once; the 職員 page shows the contract, pledge and
work window; only officers record contracts, auditors read them, section heads do not."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta

from fastapi.testclient import TestClient
from rights_support import SINCE, STAFF_CSV, TODAY, People, Register, assignments_csv, request_grant
from sqlalchemy import Engine, select

from auditd.auth.testing import csrf_of
from auditd.reference.models import Grant
from auditd.rights.models import GrantEvent
from auditd.trail.models import TrailEntry

CONTRACTOR_STAFF = STAFF_CSV + "S004,山本 四郎,contractor,\n"
CONTRACT_END = TODAY + timedelta(days=60)


def with_contractor(people: People, register: Register) -> None:
    """S004, a contractor's operator in 1101, with the account u-s004."""
    register(assignments_csv(f"S004,1101,{SINCE},"), staff=CONTRACTOR_STAFF)
    answer = people.officer.post("/api/v1/rights/accounts", json={"user_id": "u-s004", "staff_id": "S004"})
    assert answer.status_code == 200, answer.text


def add_contract(client: TestClient, number: str = "R7-委託-001", **body: object) -> int:
    answer = client.post(
        "/api/v1/rights/contracts",
        json={
            "contract_number": number,
            "contractor": "株式会社サンプル情報",
            "valid_from": str(SINCE),
            "valid_to": str(CONTRACT_END),
            "window_start": "09:00",
            "window_end": "18:00",
            "weekdays": "12345",
            "sections": ["1101"],
            **body,
        },
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def assign(client: TestClient, contract_id: int, pledge: date | None) -> None:
    body = {"staff_id": "S004", "pledge_date": None if pledge is None else str(pledge)}
    answer = client.post(f"/api/v1/rights/contracts/{contract_id}/operators", json=body)
    assert answer.status_code == 200, answer.text


def grant_of(engine: Engine, grant_id: int) -> tuple[str, date | None]:
    with engine.connect() as conn:
        row = conn.execute(select(Grant.status, Grant.valid_to).where(Grant.id == grant_id)).one()
    return str(row[0]), row[1]


def test_a_contractors_grant_needs_contract_and_pledge_and_ends_with_it(
    people: People, register: Register, engine: Engine
) -> None:
    with_contractor(people, register)
    request_id = request_grant(people.officer, "u-s004")
    refused = people.head_1101.post(f"/api/v1/rights/requests/{request_id}/approve")
    assert refused.status_code == 409 and "有効な契約がありません" in refused.json()["detail"]

    contract_id = add_contract(people.officer)
    assign(people.officer, contract_id, None)
    no_pledge = people.head_1101.post(f"/api/v1/rights/requests/{request_id}/approve")
    assert no_pledge.status_code == 409 and "誓約書" in no_pledge.json()["detail"]

    assign(people.officer, contract_id, SINCE - timedelta(days=3))
    approved = people.head_1101.post(f"/api/v1/rights/requests/{request_id}/approve")
    assert approved.status_code == 200, approved.text
    grant = approved.json()["grant"]
    assert grant["valid_to"] == str(CONTRACT_END)  # asked without an end: capped at the contract's

    detail = people.auditor.get(f"/api/v1/rights/contracts/{contract_id}").json()
    assert detail["contract"]["sections"] == ["1101"] and detail["operators"][0]["pledge_date"] == str(
        SINCE - timedelta(days=3)
    )
    with engine.connect() as conn:
        actions = set(
            conn.execute(select(TrailEntry.action).where(TrailEntry.action.like("rights_contract%"))).scalars()
        )
    assert actions == {"rights_contract_added", "rights_contract_assigned", "rights_contract_pledge_updated"}


def test_the_ledger_caps_and_refuses_contractors_too(people: People, register: Register, engine: Engine) -> None:
    with_contractor(people, register)
    too_late = CONTRACT_END + timedelta(days=300)
    row = f"職員番号,アカウント,ロール,開始日,終了日\nS004,u-s004,tax_resident,{SINCE},{too_late}\n"
    refused = people.officer.post("/api/v1/rights/ledger", content=row.encode(), headers={"content-type": "text/csv"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["line"] == 2
    assign(people.officer, add_contract(people.officer), SINCE)
    done = people.officer.post("/api/v1/rights/ledger", content=row.encode(), headers={"content-type": "text/csv"})
    assert done.status_code == 200 and done.json()["issued"] == 1, done.text
    with engine.connect() as conn:
        assert conn.execute(select(Grant.valid_to).where(Grant.user_id == "u-s004")).scalar_one() == CONTRACT_END


def test_grants_are_suspended_when_the_contract_ends(people: People, register: Register, engine: Engine) -> None:
    register(assignments_csv(f"S004,1101,{SINCE},"), staff=STAFF_CSV + "S004,山本 四郎,regular,\n")
    people.officer.post("/api/v1/rights/accounts", json={"user_id": "u-s004", "staff_id": "S004"})
    request_id = request_grant(people.officer, "u-s004")  # issued before the roster knew them
    grant_id = people.head_1101.post(f"/api/v1/rights/requests/{request_id}/approve").json()["grant"]["id"]
    ended = TODAY - timedelta(days=10)
    assign(people.officer, add_contract(people.officer, valid_to=str(ended)), SINCE)
    still = add_contract(people.officer, "R7-委託-002")  # another operator's contract in force: untouched
    assert still

    first = people.officer.post("/api/v1/rights/personnel/apply").json()
    assert [(g["grant_id"], g["cause"], g["effective_on"]) for g in first["lapsed"]] == [
        (grant_id, "contract_end", str(ended))
    ]
    assert grant_of(engine, grant_id)[0] == "suspended"
    again = people.officer.post("/api/v1/rights/personnel/apply").json()
    assert again["lapsed"] == []
    with engine.connect() as conn:
        events = conn.execute(
            select(GrantEvent.action, GrantEvent.effective_on, GrantEvent.detail).where(GrantEvent.grant_id == grant_id)
        ).all()
    suspended = [e for e in events if e[0] == "suspended"]
    assert len(suspended) == 1 and suspended[0][1] == ended and "contract_end" in suspended[0][2]


def test_the_staff_page_shows_the_contract(people: People, register: Register) -> None:
    with_contractor(people, register)
    html = people.officer.get("/staff/u-s004").text
    assert 'id="no-contract"' in html  # a contractor without a contract is pointed out
    assign(people.officer, add_contract(people.officer), date(2025, 3, 25))
    html = people.head_1101.get("/staff/u-s004").text
    assert 'id="contract-roster"' in html and "R7-委託-001" in html and "株式会社サンプル情報" in html
    assert "2025-03-25" in html and "09:00–18:00" in html
    assert 'id="contract"' not in people.officer.get("/staff/u-s001").text  # not a contractor: no section


def test_who_may_see_and_record_contracts(people: People, register: Register) -> None:
    with_contractor(people, register)
    assert people.head_1101.get("/api/v1/rights/contracts").status_code == 403
    assert people.auditor.post("/api/v1/rights/contracts", json={}).status_code == 403
    page = people.auditor.get("/rights/contracts")
    assert page.status_code == 200 and 'id="read-only"' in page.text and 'id="add-contract"' not in page.text
    denied = people.head_1101.get("/rights/contracts", headers={"accept": "text/html"})
    assert denied.status_code == 403 and "<html" in denied.text

    csrf = csrf_of(people.officer.get("/rights/contracts").text)
    form = {
        "csrf": csrf,
        "contract_number": "R7-委託-009",
        "contractor": "株式会社フォーム",
        "valid_from": "令和7年4月1日",
        "valid_to": "2026/4/1",
        "window_start": "08:30",
        "window_end": "17:15",
        "weekdays": "12345",
        "sections": "1101, 1102",
    }
    done = people.officer.post("/rights/contracts", data=form, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/rights/contracts"
    html = people.officer.get("/rights/contracts").text
    assert "契約を登録しました。" in html and "R7-委託-009" in html and "2025-04-01 – 2026-04-01" in html
    contract_id = people.officer.get("/api/v1/rights/contracts").json()["contracts"][0]["id"]
    csrf = csrf_of(html)
    people.officer.post(
        f"/rights/contracts/{contract_id}/operators",
        data={"csrf": csrf, "staff_id": "S004", "pledge_date": "2025/3/31"},
    )
    assert "2025-03-31" in people.officer.get("/rights/contracts").text
    again = people.officer.post("/rights/contracts", data={**form, "csrf": csrf_of(html)}, follow_redirects=True)
    assert "登録できませんでした。" in again.text  # the same contract number twice


def test_contracts_from_the_command_line(people: People, register: Register, env_for_cli: dict[str, str]) -> None:
    with_contractor(people, register)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "auditd", "rights", "contract", *args],
            env=env_for_cli, capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip

    added = run("add", "--number", "C-1", "--contractor", "ACME", "--from", "2025-04-01", "--to", "2026-04-01",
                "--window", "09:00-18:00", "--sections", "1101")  # fmt: skip
    assert added.returncode == 0 and "C-1 ACME" in added.stdout, added.stdout + added.stderr
    assigned = run("assign", "C-1", "S004", "--pledge", "2025-03-20")
    assert assigned.returncode == 0 and "2025-03-20" in assigned.stdout, assigned.stderr
    shown = run("show", "C-1")
    assert shown.returncode == 0 and "S004" in shown.stdout and "09:00–18:00" in shown.stdout
    listed = run("list")
    assert listed.returncode == 0 and "C-1" in listed.stdout
    assert run("add", "--number", "C-2", "--contractor", "X", "--from", "2025-04-01", "--to", "2025-01-01").returncode
    assert run("show", "C-404").returncode != 0
