"""Reference-feed uploads and what people see of ingestion (runs, source health, quarantine), through
the real application with the dashboard's login, on both backends: results, roles, refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from push_support import count, rows, trail, welfare_line
from sqlalchemy import Engine

from auditd.auth.models import PlatformRole
from auditd.privacy.mynumber import check_digit
from auditd.settings import Settings
from collectors.push import repository, service

VALID_NUMBER = "98765432109" + str(check_digit("98765432109"))
STAFF = (
    "staff_id,name,name_kana,employment,contractor,pledge_date,hired_on,retired_on,resident,household,home_area\r\n"
    "E1,佐藤 翔太,サトウ ショウタ,regular,,,2015/04/01,,0000012345,H1,01-01\r\n"
    "E2,鈴木 陽子,スズキ ヨウコ,contractor,委託株式会社,R07.04.01,2025-04-01,,,,\r\n"
    f"E3,壊れた 日付,,regular,,,2015-13-45,,,,{VALID_NUMBER}\r\n"
).encode("cp932")
IMPORT = "/api/v1/import/staff"

LoginAs = Callable[[PlatformRole], TestClient]


def test_an_officer_imports_a_cp932_staff_register_and_a_bad_row_is_quarantined(login_as: LoginAs, engine: Engine):
    officer = login_as(PlatformRole.OFFICER)
    response = officer.post(IMPORT, params={"filename": "職員名簿 2026.csv"}, content=STAFF)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result == {
        "kind": "staff",
        "input": "職員名簿_2026.csv",
        "read": 3,
        "stored": 2,
        "quarantined": 1,
        "seconds": result["seconds"],
        "quarantine_reasons": {"bad_hired_on": 1},
    }
    assert [r.staff_id for r in rows(engine, "SELECT staff_id FROM staff ORDER BY staff_id")] == ["E1", "E2"]
    [bad] = rows(engine, "SELECT source, raw_ref, raw_text FROM quarantine")
    assert bad.source == "import:staff" and bad.raw_ref.endswith("職員名簿_2026.csv:4")
    assert VALID_NUMBER not in bad.raw_text and "[個人番号]" in bad.raw_text
    assert ("officer-user", "import") in [(actor, action) for actor, action, _ in trail(engine)]


def test_the_upload_is_not_left_on_disk(login_as: LoginAs, settings: Settings):
    login_as(PlatformRole.ADMIN).post(IMPORT, content=STAFF)
    uploads = settings.data_dir / "uploads"
    assert uploads.is_dir() and list(uploads.iterdir()) == []


@pytest.mark.parametrize("role", [PlatformRole.AUDITOR, PlatformRole.SECTION_HEAD])
def test_only_officers_and_administrators_import(login_as: LoginAs, engine: Engine, role: PlatformRole):
    response = login_as(role).post(IMPORT, content=STAFF)
    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    assert count(engine, "staff") == 0 and count(engine, "ingest_runs") == 0


def test_an_administrator_may_import_and_nobody_anonymous(login_as: LoginAs, app_client: TestClient, engine: Engine):
    assert app_client.post(IMPORT, content=STAFF).status_code == 401
    assert count(engine, "staff") == 0
    assert login_as(PlatformRole.ADMIN).post(IMPORT, content=STAFF).json()["stored"] == 2


def test_imports_that_cannot_be_done_say_why(login_as: LoginAs, engine: Engine):
    officer = login_as(PlatformRole.OFFICER)
    unknown = officer.post("/api/v1/import/payroll", content=STAFF)
    assert unknown.status_code == 422 and "staff" in unknown.json()["hint"]
    a_path = officer.post(IMPORT, params={"profile": "/etc/auditd/evil.yaml"}, content=STAFF)
    assert a_path.status_code == 422 and "built-in" in a_path.json()["detail"]
    wrong_kind = officer.post(IMPORT, params={"profile": "standard-terminals"}, content=STAFF)
    assert wrong_kind.status_code == 422
    empty = officer.post(IMPORT, content=b"")
    assert empty.status_code == 422 and "--data-binary" in empty.json()["hint"]
    form = officer.post(IMPORT, files={"file": ("staff.csv", STAFF, "text/csv")})
    assert form.status_code == 415
    cross_site = officer.post(IMPORT, content=STAFF, headers={"Origin": "http://evil.example"})
    assert cross_site.status_code == 403
    assert count(engine, "staff") == 0
    same_site = officer.post(IMPORT, content=STAFF, headers={"Origin": "http://testserver"})
    assert same_site.status_code == 200, "the dashboard's own pages may upload"


def test_runs_sources_and_quarantine_show_what_was_stored(
    login_as: LoginAs, app_client: TestClient, add_source: Callable[..., str], engine: Engine
):
    token = add_source("welfare-push")
    body = "\n".join([welfare_line(1), "{oops " + VALID_NUMBER, welfare_line(2, op="NOPE")]).encode()
    pushed = app_client.post(
        "/api/v1/ingest/welfare-push", content=body, headers={"Authorization": f"Bearer {token}"}
    ).json()
    officer = login_as(PlatformRole.OFFICER)
    officer.post(IMPORT, content=STAFF)
    auditor = login_as(PlatformRole.AUDITOR)

    runs = auditor.get("/api/v1/ingest/runs").json()["runs"]
    assert [r["source"] for r in runs] == ["import:staff", "welfare-push"]
    push_run = runs[1]
    assert push_run["id"] == pushed["run_id"] and push_run["status"] == "completed"
    assert (push_run["read"], push_run["accepted"], push_run["quarantined"]) == (3, 1, 2)
    only = auditor.get("/api/v1/ingest/runs", params={"source": "welfare-push", "limit": 5}).json()["runs"]
    assert [r["id"] for r in only] == [pushed["run_id"]]

    page = auditor.get("/api/v1/quarantine", params={"source": "welfare-push"}).json()
    assert page["counts"] == {"bad_json": 1, "unknown_code": 1} and page["total"] == 2
    texts = {item["reason_code"]: item for item in page["items"]}
    assert texts["bad_json"]["raw_text"] is None, "a record may hold resident data: its text is for officers"
    read = officer.get("/api/v1/quarantine", params={"source": "welfare-push"}).json()
    assert {i["reason_code"]: i["raw_text"] for i in read["items"]}["bad_json"] == "{oops [個人番号]"
    assert texts["bad_json"]["raw_ref"] == "push:welfare-push:2" and texts["bad_json"]["run_id"] == pushed["run_id"]
    filtered = auditor.get("/api/v1/quarantine", params={"reason": "bad_hired_on"}).json()
    assert [i["source"] for i in filtered["items"]] == ["import:staff"]
    assert filtered["counts"] == {"bad_json": 1, "bad_hired_on": 1, "unknown_code": 1}, "counts cover every reason"
    assert filtered["total"] == 3

    sources = auditor.get("/api/v1/ingest/sources").json()
    [welfare] = sources["sources"]
    assert welfare["name"] == "welfare-push" and welfare["push_token"] is True
    assert welfare["last_event_ts"].startswith("2026-02-03T00:01:00")
    assert welfare["silent"] is True, "its only event is from February 2026, measured against now"
    assert "push_token_hash" not in json.dumps(sources)


def test_silence_is_measured_against_the_sources_own_limit(engine: Engine, settings: Settings):
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with engine.begin() as conn:
        for name, hours, last in (("hourly", 2, 3), ("daily", None, 20), ("never", 5, None)):
            repository.add_source(
                conn,
                municipality_code=settings.municipality_code,
                name=name,
                profile="demo-welfare",
                expected_max_silence_hours=hours,
                last_event_ts=None if last is None else now - timedelta(hours=last),
                created_at=now,
            )
        health = {s.name: s for s in service.source_health(conn, settings.municipality_code, now).sources}
    assert (health["hourly"].silent, health["hourly"].silent_hours) == (True, 3.0)
    assert (health["daily"].silent, health["daily"].max_silence_hours) == (False, 26)
    assert health["never"].silent and health["never"].silent_hours is None


@pytest.mark.parametrize("path", ["/api/v1/ingest/runs", "/api/v1/ingest/sources", "/api/v1/quarantine"])
def test_section_heads_and_anonymous_callers_do_not_see_ingestion(login_as: LoginAs, app_client: TestClient, path: str):
    assert app_client.get(path).status_code == 401
    assert login_as(PlatformRole.SECTION_HEAD).get(path).status_code == 403
    assert login_as(PlatformRole.ADMIN).get(path).status_code == 200


def test_every_collection_route_is_documented_with_a_summary_and_a_response_model(
    app_client: TestClient, login_as: LoginAs
):
    assert app_client.get("/api/openapi.json").status_code == 401, "the API document is behind the login"
    spec = login_as(PlatformRole.OFFICER).get("/api/openapi.json").json()
    routes = {
        ("post", "/api/v1/ingest/{source}"): "PushResult",
        ("post", "/api/v1/import/{kind}"): "ImportResult",
        ("get", "/api/v1/ingest/runs"): "RunList",
        ("get", "/api/v1/ingest/sources"): "SourceList",
        ("get", "/api/v1/quarantine"): "QuarantinePage",
    }
    for (method, path), model in routes.items():
        operation = spec["paths"][path][method]
        assert operation["summary"], path
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith(f"/{model}"), path
        errors = [s for s in operation["responses"] if s.startswith("4")]
        assert all(
            operation["responses"][s]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
            for s in errors
        )
    assert "push token" in spec["components"]["securitySchemes"]
