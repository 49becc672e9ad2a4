"""Attestations (自己点検の証跡): a newer answer supersedes an older one, which is kept; the evidence
comes back byte for byte with its SHA-256; only an officer in person attests; the dashboard's forms
(CSRF, multipart) and the CLI do the same; every act is in the trail."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime

import pytest
from cli_support import auditd
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import DatabaseError

from auditd.auth import tokens
from auditd.auth.models import PlatformRole
from auditd.auth.testing import add_user, csrf_of, log_in
from auditd.errors import PayloadTooLarge, ValidationFailed
from auditd.reports import repository as repo
from auditd.settings import Settings
from auditd.store.base import table_of
from auditd.trail.models import TrailEntry
from reports import attest

CODE = "999997"
NOW = datetime(2026, 5, 10, 1, 0, tzinfo=UTC)
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def _trail(conn: Connection, action: str) -> list[dict[str, object]]:
    table = table_of(TrailEntry)
    rows = conn.execute(select(table).where(table.c.action == action).order_by(table.c.id))
    return [dict(r._mapping) for r in rows]


def _give(
    conn: Connection,
    settings: Settings,
    item: str,
    result: str,
    statement: str,
    evidence: attest.Evidence | None = None,
    fiscal_year: int = 2025,
) -> int:
    return attest.attest(
        conn,
        settings,
        CODE,
        fiscal_year=fiscal_year,
        item=item,
        result=result,
        statement=statement,
        evidence=evidence,
        actor="sato",
        client="test",
        now=NOW,
    ).id


def test_a_newer_attestation_supersedes_and_the_older_is_kept(db: Connection, conf: Settings):
    first = _give(db, conf, "training", "partly", "4月に研修、受講率 80%")
    file = attest.Evidence("受講記録.pdf", "application/pdf", PDF)
    second = _give(db, conf, "training", "done", "追加研修で受講率 100%", file)
    _give(db, conf, "audit_internal", "done", "11月に内部監査")
    _give(db, conf, "training", "not_done", "別の年度", fiscal_year=2024)

    current = repo.attestations_for(db, CODE, 2025)
    assert set(current) == {"training", "audit_internal"}
    training = current["training"]
    assert (
        training["id"] == second and training["result"] == "done" and training["statement"] == "追加研修で受講率 100%"
    )
    assert (
        training["evidence_name"] == "受講記録.pdf" and training["evidence_sha256"] == hashlib.sha256(PDF).hexdigest()
    )
    assert training["attested_by"] == "sato" and training["attested_at"] == NOW
    assert {"item", "result", "statement", "evidence_name", "evidence_sha256", "attested_by", "attested_at"} <= set(
        training
    )

    history = attest.listing(db, CODE, 2025).items
    assert [(a.id, a.item, a.current) for a in history if a.item == "training"] == [
        (first, "training", False),
        (second, "training", True),
    ]
    assert (
        history[0].result_ja == "一部" and history[0].item_ja == "研修の実施と受講状況" and history[0].download is None
    )
    assert [e["target_id"] for e in _trail(db, "attestation.add")] == [
        str(first),
        str(second),
        str(second + 1),
        str(second + 2),
    ]
    logged = json.loads(str(_trail(db, "attestation.add")[1]["detail"]))
    assert logged["evidence_sha256"] == hashlib.sha256(PDF).hexdigest() and "evidence" not in logged


def test_a_bad_attestation_is_refused(db: Connection, conf: Settings):
    with pytest.raises(ValidationFailed, match="no attestation item"):
        _give(db, conf, "coffee", "done", "x")
    with pytest.raises(ValidationFailed, match="result"):
        _give(db, conf, "training", "maybe", "x")
    with pytest.raises(ValidationFailed, match="statement"):
        _give(db, conf, "training", "done", "   ")
    with pytest.raises(ValidationFailed, match="out of range"):
        _give(db, conf, "training", "done", "x", fiscal_year=1999)
    small = conf.model_copy(update={"attestation_max_bytes": 1024})
    with pytest.raises(PayloadTooLarge):
        _give(db, small, "training", "done", "x", attest.Evidence("big.pdf", "application/pdf", PDF))
    assert repo.attestations_for(db, CODE, 2025) == {}


@pytest.mark.parametrize("statement", ["UPDATE attestations SET result = 'done'", "DELETE FROM attestations"])
def test_attestations_are_append_only(engine: Engine, settings: Settings, statement: str):
    with engine.begin() as conn:
        _give(conn, settings, "physical_entry", "partly", "入退室記録の一部欠落")
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT result FROM attestations")).scalars().all() == ["partly"]


# -- through the application --------------------------------------------------------------------------


def _person(app: FastAPI, engine: Engine, settings: Settings, role: PlatformRole, name: str) -> TestClient:
    user = add_user(engine, settings, role, name, section_code="1101" if role == PlatformRole.SECTION_HEAD else None)
    client = TestClient(app)
    assert log_in(client, user).status_code == 303
    return client


def _form(item: str = "audit_external", result: str = "done") -> dict[str, str]:
    return {"fiscal_year": "2025", "item": item, "result": result, "statement": "監査法人による外部監査"}


def test_the_api_attests_with_a_file_and_gives_it_back_unchanged(app: FastAPI, engine: Engine, settings: Settings):
    officer = _person(app, engine, settings, PlatformRole.OFFICER, "sato")
    auditor = _person(app, engine, settings, PlatformRole.AUDITOR, "kato")
    head = _person(app, engine, settings, PlatformRole.SECTION_HEAD, "suzuki")
    with engine.begin() as conn:
        reader_token = tokens.create_token(conn, CODE, "reader", scopes=("reports:read",), actor="t").token
        own_token = tokens.create_token(conn, CODE, "own", scopes=tokens.SCOPES, owner="sato", actor="t").token
    reader = TestClient(app, headers={"Authorization": f"Bearer {reader_token}"})
    officer_token = TestClient(app, headers={"Authorization": f"Bearer {own_token}"})
    upload = {"evidence": ("監査報告書.pdf", PDF, "application/pdf")}

    made = officer.post("/api/v1/attestations", data=_form(), files=upload)
    assert made.status_code == 201, made.text
    given = made.json()
    assert given["current"] and given["evidence_sha256"] == hashlib.sha256(PDF).hexdigest()
    assert given["evidence_size"] == len(PDF) and given["result_ja"] == "実施済"

    # others may not attest: an auditor, a section head, a token (even the officer's own)
    for client in (auditor, head, reader, officer_token):
        assert client.post("/api/v1/attestations", data=_form(), files=upload).status_code == 403
    assert officer.post("/api/v1/attestations", data=_form(item="coffee")).status_code == 422

    for client in (officer, auditor, reader):
        listed = client.get("/api/v1/attestations", params={"fiscal_year": 2025})
        assert listed.status_code == 200 and [a["id"] for a in listed.json()["items"]] == [given["id"]]
        file = client.get(given["download"])
        assert file.status_code == 200 and file.content == PDF
        assert hashlib.sha256(file.content).hexdigest() == file.headers["X-Content-SHA256"] == given["evidence_sha256"]
        assert file.headers["content-type"] == "application/pdf"
    # a section head sees nothing
    assert head.get("/api/v1/attestations", params={"fiscal_year": 2025}).status_code == 403
    assert head.get(given["download"]).status_code == 403
    assert officer.get("/api/v1/attestations/999/evidence").status_code == 404

    with engine.connect() as conn:
        assert len(_trail(conn, "attestation.add")) == 1
        downloads = _trail(conn, "attestation.download")
        assert [(d["actor"], d["target_id"]) for d in downloads][:2] == [
            ("sato", str(given["id"])),
            ("kato", str(given["id"])),
        ]
        assert len(downloads) == 3


def test_the_dashboard_forms_attest_and_keep_the_register(app: FastAPI, engine: Engine, settings: Settings):
    officer = _person(app, engine, settings, PlatformRole.OFFICER, "sato")
    page = officer.get("/reports?fy=2025")
    assert page.status_code == 200
    html = page.text
    for anchor in (
        'id="attestations"',
        'id="attest-form"',
        'id="pia"',
        'id="add-pia"',
        'id="no-pias"',
        "自己点検の証跡",
        "評価書台帳",
        'enctype="multipart/form-data"',
    ):
        assert anchor in html, anchor
    csrf = csrf_of(html)

    # without the CSRF token nothing is recorded
    refused = officer.post(
        "/reports/attest", data=_form(), files={"evidence": ("a.pdf", PDF, "application/pdf")}, follow_redirects=False
    )
    assert refused.status_code == 403
    done = officer.post(
        "/reports/attest",
        data={"csrf": csrf, **_form()},
        files={"evidence": ("監査報告書.pdf", PDF, "application/pdf")},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/reports?fy=2025#attestations"
    shown = officer.get("/reports?fy=2025").text
    assert "回答を記録しました。" in shown and "監査法人による外部監査" in shown and "監査報告書.pdf" in shown
    link = re.search(r'href="(/api/v1/attestations/\d+/evidence)"', shown)
    assert link is not None and officer.get(link.group(1)).content == PDF
    # a bad input is a message on the page
    bad = officer.post("/reports/attest", data={"csrf": csrf, **_form(result="maybe")})
    assert bad.status_code == 200 and "入力内容を確認してください。" in bad.text

    # the register: add, then record a review
    added = officer.post(
        "/reports/pia",
        data={
            "csrf": csrf,
            "title": "個人住民税 全項目評価書",
            "jimu": "個人住民税",
            "kind": "full",
            "published_on": "2021-06-01",
        },
        follow_redirects=False,
    )
    assert added.status_code == 303 and added.headers["location"] == "/reports#pia"
    register = officer.get("/reports").text
    pia_row = re.search(r'<tr id="pia-(\d+)">(.*?)</tr>', register, re.S)
    assert pia_row is not None and "期限超過" in pia_row.group(2) and "2022-06-01" in pia_row.group(2)
    pia_id = pia_row.group(1)
    assert (
        officer.post(
            f"/reports/pia/{pia_id}/review", data={"reviewed_on": date.today().isoformat()}, follow_redirects=False
        ).status_code
        == 403
    )
    today = datetime.now(UTC).astimezone(settings.tz).date()
    reviewed = officer.post(
        f"/reports/pia/{pia_id}/review",
        data={"csrf": csrf, "reviewed_on": today.isoformat(), "note": "確認"},
        follow_redirects=False,
    )
    assert reviewed.status_code == 303
    after = officer.get("/reports").text
    assert "見直しを記録しました。" in after
    row = re.search(rf'<tr id="pia-{pia_id}">(.*?)</tr>', after, re.S)
    assert row is not None and today.replace(year=today.year + 1).isoformat() in row.group(1)
    missing = officer.post("/reports/pia", data={"csrf": csrf, "title": "", "jimu": "x", "kind": "full"})
    assert "入力内容を確認してください。" in missing.text


def test_an_auditor_reads_the_sections_without_forms(app: FastAPI, engine: Engine, settings: Settings):
    auditor = _person(app, engine, settings, PlatformRole.AUDITOR, "kato")
    html = auditor.get("/reports").text
    assert 'id="attestations"' in html and 'id="pia"' in html
    assert 'id="attest-form"' not in html and 'id="add-pia"' not in html
    csrf = csrf_of(html)
    assert auditor.post("/reports/attest", data={"csrf": csrf, **_form()}).status_code == 403
    assert auditor.post("/reports/pia", data={"csrf": csrf, "title": "x"}).status_code == 403


def test_the_cli_attests_lists_and_keeps_the_register(env_for_cli: dict[str, str], tmp_path, engine: Engine):  # type: ignore[no-untyped-def]
    evidence = tmp_path / "入退室記録.pdf"
    evidence.write_bytes(PDF)
    done = auditd(
        env_for_cli,
        "attest",
        "physical_entry",
        "--fiscal-year",
        "2025",
        "--result",
        "done",
        "--statement",
        "ICカードで管理",
        "--evidence",
        str(evidence),
    )
    assert done.returncode == 0, done.stderr
    listed = auditd(env_for_cli, "attest", "list", "--fiscal-year", "2025", "--json")
    assert listed.returncode == 0, listed.stderr
    (item,) = json.loads(listed.stdout)["items"]
    assert item["item"] == "physical_entry" and item["evidence_sha256"] == hashlib.sha256(PDF).hexdigest()
    assert (
        auditd(
            env_for_cli, "attest", "physical_entry", "--fiscal-year", "2025", "--result", "maybe", "--statement", "x"
        ).returncode
        != 0
    )

    csv_file = tmp_path / "pia.csv"
    header = "評価書名,事務,評価の種類,公表日,直近の見直し日,再評価日\r\n"
    csv_file.write_bytes((header + "個人住民税 全項目評価書,個人住民税,全項目評価,2021-06-01,,\r\n").encode("cp932"))
    imported = auditd(env_for_cli, "pia", "import", str(csv_file))
    assert imported.returncode == 0 and "1 added" in imported.stdout, imported.stderr
    shown = auditd(env_for_cli, "pia", "list", "--json")
    (registered,) = json.loads(shown.stdout)
    assert registered["review_due"] == "2022-06-01" and registered["review_overdue"] is True
    reviewed = auditd(env_for_cli, "pia", "review", str(registered["id"]), "--on", "2026-01-15", "--note", "確認")
    assert reviewed.returncode == 0 and "2027-01-15" in reviewed.stdout, reviewed.stderr
    exported = auditd(env_for_cli, "pia", "export")
    assert "個人住民税 全項目評価書" in exported.stdout and "2027-01-15" in exported.stdout
    with engine.connect() as conn:
        assert [
            e["action"]
            for e in reversed([e for e in _all_trail(conn) if str(e["action"]).startswith(("pia.", "attestation."))])
        ] == ["attestation.add", "pia.add", "pia.review"]


def _all_trail(conn: Connection) -> list[dict[str, object]]:
    table = table_of(TrailEntry)
    return [dict(r._mapping) for r in conn.execute(select(table).order_by(table.c.id.desc()))]
