"""The reports API through the real application: who may make and read which report, the stored file
proven by its SHA-256, and every making and download in the platform's trail."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from auditd.auth import tokens
from auditd.auth.models import PlatformRole
from auditd.auth.testing import add_user, log_in
from auditd.settings import Settings
from auditd.store.base import table_of
from auditd.trail.models import TrailEntry

RESIDENT = "1234567"


@dataclass
class People:
    officer: TestClient
    auditor: TestClient
    head: TestClient


@pytest.fixture
def people(app: FastAPI, engine: Engine, settings: Settings) -> People:
    def logged_in(role: PlatformRole, username: str, section: str | None = None) -> TestClient:
        user = add_user(engine, settings, role, username, section_code=section)
        client = TestClient(app)
        assert log_in(client, user).status_code == 303, username
        return client

    return People(
        officer=logged_in(PlatformRole.OFFICER, "sato"),
        auditor=logged_in(PlatformRole.AUDITOR, "kato"),
        head=logged_in(PlatformRole.SECTION_HEAD, "head-1101", "1101"),
    )


def _token(app: FastAPI, engine: Engine, settings: Settings, *scopes: str) -> TestClient:
    with engine.begin() as connection:
        name = "t-" + "-".join(s.replace(":", "-") for s in scopes)
        issued = tokens.create_token(connection, settings.municipality_code, name, scopes=scopes, actor="t")
    return TestClient(app, headers={"Authorization": f"Bearer {issued.token}"})


def _trail(engine: Engine, action: str) -> list[dict[str, object]]:
    table = table_of(TrailEntry)
    with engine.connect() as connection:
        stmt = select(table.c.actor, table.c.target_id, table.c.detail).where(table.c.action == action)
        rows = connection.execute(stmt)
        return [{"actor": a, "target": t, "detail": json.loads(d or "{}")} for a, t, d in rows]


def test_officer_makes_lists_and_downloads_the_annual_report(people: People, engine: Engine) -> None:
    made = people.officer.post("/api/v1/reports", json={"kind": "annual", "fiscal_year": 2025, "format": "pdf"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["kind"] == "annual" and body["period_start"] == "2025-04-01" and body["period_end"] == "2026-03-31"
    assert body["title"].startswith("自己点検結果報告書")
    assert body["trigger"] == "api" and body["requested_by"] == "sato"

    listed = people.officer.get("/api/v1/reports").json()["items"]
    assert [r["id"] for r in listed] == [body["id"]]
    assert people.officer.get(f"/api/v1/reports/{body['id']}").json()["sha256"] == body["sha256"]

    file = people.officer.get(body["download"])
    assert file.status_code == 200 and file.headers["content-type"] == "application/pdf"
    assert file.content.startswith(b"%PDF-") and hashlib.sha256(file.content).hexdigest() == body["sha256"]
    assert file.headers["x-content-sha256"] == body["sha256"]
    assert 'filename="annual-2025-04-01-2026-03-31.pdf"' in file.headers["content-disposition"]

    made_trail = _trail(engine, "report.generate")
    assert made_trail[0]["actor"] == "sato" and made_trail[0]["detail"]["report_id"] == body["id"]
    assert _trail(engine, "report.download")[0]["target"] == str(body["id"])


def test_monthly_as_xlsx_by_an_auditor(people: People) -> None:
    made = people.auditor.post("/api/v1/reports", json={"kind": "monthly", "month": "2026-10", "format": "xlsx"})
    assert made.status_code == 201, made.text
    file = people.auditor.get(made.json()["download"])
    assert file.content[:2] == b"PK"  # a zip container: XLSX
    assert file.headers["content-type"].startswith("application/vnd.openxmlformats")


def test_a_disclosure_report_is_for_an_officer_in_person_only(
    app: FastAPI, engine: Engine, settings: Settings, people: People
) -> None:
    ask = {"kind": "disclosure", "resident": RESIDENT, "since": "2026-04-01", "until": "2026-09-30", "format": "html"}
    assert people.auditor.post("/api/v1/reports", json=ask).status_code == 403
    writer = _token(app, engine, settings, "reports:write", "reports:read")
    assert writer.post("/api/v1/reports", json=ask).status_code == 403

    made = people.officer.post("/api/v1/reports", json=ask)
    assert made.status_code == 201, made.text
    report = made.json()["id"]
    html = people.officer.get(f"/api/v1/reports/{report}/file").text
    assert "アクセス記録開示報告書" in html and RESIDENT not in html

    # the others do not see it at all
    assert all(r["id"] != report for r in people.auditor.get("/api/v1/reports").json()["items"])
    assert people.auditor.get(f"/api/v1/reports/{report}").status_code == 404
    assert writer.get(f"/api/v1/reports/{report}/file").status_code == 404
    # neither the trail nor the stored report row holds the 宛名番号
    for entry in _trail(engine, "report.generate"):
        assert RESIDENT not in json.dumps(entry, ensure_ascii=False)


def test_tokens_need_their_scopes_and_section_heads_have_no_reports(
    app: FastAPI, engine: Engine, settings: Settings, people: People
) -> None:
    reader = _token(app, engine, settings, "reports:read")
    writer = _token(app, engine, settings, "reports:write")
    annual = {"kind": "annual", "fiscal_year": 2025, "format": "html"}
    assert reader.post("/api/v1/reports", json=annual).status_code == 403
    made = writer.post("/api/v1/reports", json=annual)
    assert made.status_code == 201, made.text
    assert made.json()["trigger"] == "api"
    assert [r["id"] for r in reader.get("/api/v1/reports").json()["items"]] == [made.json()["id"]]
    assert writer.get("/api/v1/reports").status_code == 403  # reading needs reports:read
    assert people.head.get("/api/v1/reports").status_code == 403
    assert people.head.post("/api/v1/reports", json=annual).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "annual", "format": "pdf"},  # no fiscal year
        {"kind": "monthly", "month": "2026-13"},
        {"kind": "disclosure", "resident": "abc", "since": "2026-04-01", "until": "2026-04-30"},
        {"kind": "disclosure", "resident": RESIDENT, "since": "2026-05-01", "until": "2026-04-30"},
        {"kind": "annual", "fiscal_year": 2025, "format": "docx"},
        {"kind": "annual", "fiscal_year": 2025, "surprise": 1},
    ],
)
def test_a_request_that_cannot_be_made_is_a_422(people: People, body: dict[str, object]) -> None:
    answer = people.officer.post("/api/v1/reports", json=body)
    assert answer.status_code == 422, answer.text


def test_an_unknown_report_is_a_404(people: People) -> None:
    assert people.officer.get("/api/v1/reports/999").status_code == 404
    assert people.officer.get("/api/v1/reports/999/file").status_code == 404
