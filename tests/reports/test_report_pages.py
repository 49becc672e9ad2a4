"""The dashboard's レポート page through the real application: the forms make reports as the API
does, each role sees what it may, and a bad input comes back as a message on the page."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from auditd.auth.models import PlatformRole
from auditd.auth.testing import add_user, csrf_of, log_in
from auditd.settings import Settings


def _client(app: FastAPI, engine: Engine, settings: Settings, role: PlatformRole, name: str) -> TestClient:
    user = add_user(engine, settings, role, name, section_code="1101" if role == PlatformRole.SECTION_HEAD else None)
    client = TestClient(app)
    assert log_in(client, user).status_code == 303
    return client


@pytest.fixture
def officer(app: FastAPI, engine: Engine, settings: Settings) -> TestClient:
    return _client(app, engine, settings, PlatformRole.OFFICER, "sato")


def test_an_officer_makes_the_annual_report_from_the_page(officer: TestClient) -> None:
    page = officer.get("/reports")
    assert page.status_code == 200
    html = page.text
    assert 'aria-current="page"' in html and ">レポート<" in html
    for form in ("make-annual", "make-monthly", "make-disclosure"):
        assert f'id="{form}"' in html
    assert 'id="no-reports"' in html

    made = officer.post(
        "/reports",
        data={"csrf": csrf_of(html), "kind": "annual", "fiscal_year": "2025", "format": "pdf"},
        follow_redirects=False,
    )
    assert made.status_code == 303 and made.headers["location"] == "/reports"
    listed = officer.get("/reports").text
    assert "レポートを作成しました。" in listed and "自己点検結果報告書" in listed
    link = re.search(r'href="(/api/v1/reports/\d+/file)"', listed)
    assert link is not None
    file = officer.get(link.group(1))
    assert file.status_code == 200 and file.content.startswith(b"%PDF-")


def test_a_disclosure_from_the_page_keeps_no_number(officer: TestClient) -> None:
    csrf = csrf_of(officer.get("/reports").text)
    form = {"csrf": csrf, "kind": "disclosure", "resident": "0098765", "since": "2026-04-01", "until": "2026-04-30",
            "show_staff": "1", "format": "html"}  # fmt: skip
    assert officer.post("/reports", data=form, follow_redirects=False).status_code == 303
    listed = officer.get("/reports").text
    assert "アクセス記録開示報告書" in listed and "0098765" not in listed


def test_a_bad_input_is_a_message_on_the_page(officer: TestClient) -> None:
    csrf = csrf_of(officer.get("/reports").text)
    bad = officer.post("/reports", data={"csrf": csrf, "kind": "monthly", "month": "2026-13", "format": "pdf"})
    assert bad.status_code == 200 and "入力内容を確認してください。" in bad.text and 'id="no-reports"' in bad.text
    backwards = {"csrf": csrf, "kind": "disclosure", "resident": "1", "since": "2026-05-01", "until": "2026-04-01"}
    refused = officer.post("/reports", data=backwards)
    assert "the period ends before it starts" in refused.text


def test_without_the_csrf_token_nothing_is_made(officer: TestClient) -> None:
    answer = officer.post("/reports", data={"kind": "annual", "fiscal_year": "2025"}, follow_redirects=False)
    assert answer.status_code == 403
    assert 'id="no-reports"' in officer.get("/reports").text


def test_an_auditor_has_no_disclosure_form_and_a_section_head_no_page(
    app: FastAPI, engine: Engine, settings: Settings
) -> None:
    auditor = _client(app, engine, settings, PlatformRole.AUDITOR, "kato")
    html = auditor.get("/reports").text
    assert 'id="make-annual"' in html and 'id="make-disclosure"' not in html
    form = {"csrf": csrf_of(html), "kind": "disclosure", "resident": "1", "since": "2026-04-01", "until": "2026-04-02"}
    assert auditor.post("/reports", data=form, follow_redirects=False).status_code == 403
    head = _client(app, engine, settings, PlatformRole.SECTION_HEAD, "head-1101")
    refused = head.get("/reports", headers={"Accept": "text/html"})  # as a browser asks
    assert refused.status_code == 403 and "<html" in refused.text  # a page, not JSON
    assert 'href="/reports"' not in head.get("/").text
