"""The dashboard's 監査証跡 page through the real login: newest first, filtered by actor, action prefix
and Japan days, paged by a keyset (次へ / 前へ) along the trail's indexes; officers and auditors read it,
section heads and administrators are refused."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from auditd.api.app import create_app
from auditd.auth.models import PlatformRole
from auditd.auth.settings import SecuritySettings
from auditd.auth.testing import add_user, log_in
from auditd.settings import Settings
from auditd.trail import repository
from auditd.trail.pages import PAGE, compact

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


def jst(when: str) -> datetime:
    return pd.Timestamp(when, tz="Asia/Tokyo").tz_convert("UTC").to_pydatetime()


def add(engine: Engine, settings: Settings, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        for row in rows:
            values = {"target_type": None, "target_id": None, "detail": None, "client": "10.0.0.9", **row}
            repository.add(conn, municipality_code=settings.municipality_code, **values)


def _client(app: FastAPI, engine: Engine, settings: Settings, role: PlatformRole, name: str) -> TestClient:
    user = add_user(engine, settings, role, name)
    client = TestClient(app)
    assert log_in(client, user).status_code == 303
    return client


@pytest.fixture
def auditor(app: FastAPI, engine: Engine, settings: Settings) -> TestClient:
    return _client(app, engine, settings, PlatformRole.AUDITOR, "kato")


def rows_of(html: str) -> list[list[str]]:
    if 'id="trail"' not in html:
        return []
    body = html.split('id="trail"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    found = [re.findall(r"<td[^>]*>(.*?)</td>", r, re.S) for r in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]
    return [[re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c)).strip() for c in row] for row in found]


def link(html: str, which: str) -> str | None:
    found = re.search(rf'href="([^"]+)" id="trail-{which}"', html)
    return None if found is None else found.group(1).replace("&amp;", "&")


def test_the_trail_newest_first_with_its_columns(auditor: TestClient, engine: Engine, settings: Settings) -> None:
    add(
        engine,
        settings,
        [
            {"ts": jst("2026-03-01 09:00"), "actor": "sato", "action": "case_view", "target_type": "case",
             "target_id": "7"},
            {"ts": jst("2026-03-01 09:05"), "actor": "sato", "action": "report.generate", "target_type": "report",
             "target_id": "disclosure", "detail": json.dumps({"kind": "disclosure", "accesses": 5, "x": [1, 2]})},
        ],
    )  # fmt: skip
    page = auditor.get("/trail?actor=sato")
    assert page.status_code == 200 and 'href="/trail" aria-current="page"' in page.text
    assert rows_of(page.text) == [
        ["2026-03-01 09:05:00", "sato", "report.generate", "report:disclosure", "10.0.0.9",
         "kind=disclosure, accesses=5, x=[1,2]"],
        ["2026-03-01 09:00:00", "sato", "case_view", "case:7", "10.0.0.9", ""],
    ]  # fmt: skip
    # the auditor's own login is in the trail too, newest of all
    assert rows_of(auditor.get("/trail").text)[0][1] == "kato"


def test_filters_actor_action_prefix_and_japan_days(auditor: TestClient, engine: Engine, settings: Settings) -> None:
    add(
        engine,
        settings,
        [
            {"ts": jst("2026-03-31 23:59:59"), "actor": "sato", "action": "case_view"},
            {"ts": jst("2026-04-01 00:00:00"), "actor": "sato", "action": "case_assigned"},
            {"ts": jst("2026-04-02 12:00"), "actor": "ito", "action": "case_comment"},
            {"ts": jst("2026-04-02 13:00"), "actor": "sato", "action": "caseXview"},  # "_" is not a wildcard
            {"ts": jst("2026-04-30 23:59:59"), "actor": "sato", "action": "resident.lookup"},
            {"ts": jst("2026-05-01 00:00:00"), "actor": "sato", "action": "resident.reveal"},
        ],
    )

    def actions(query: str) -> list[str]:
        page = auditor.get(f"/trail?{query}")
        assert page.status_code == 200
        return [r[2] for r in rows_of(page.text)]

    assert actions("action=case_") == ["case_comment", "case_assigned", "case_view"]
    assert actions("action=case_&actor=sato") == ["case_assigned", "case_view"]
    assert actions("actor=sato&from=2026-04-01&to=2026-04-30") == ["resident.lookup", "caseXview", "case_assigned"]
    assert actions("action=resident.&from=2026-05-01") == ["resident.reveal"]
    assert actions("action=%25") == []  # a literal "%" matches nothing here
    html = auditor.get("/trail?actor=nobody").text
    assert 'id="trail-none"' in html and 'value="nobody"' in html
    bad = auditor.get("/trail?from=2026-13-01")
    assert bad.status_code == 422 and 'id="trail-error"' in bad.text


def test_paging_forwards_and_back(auditor: TestClient, engine: Engine, settings: Settings) -> None:
    # 250 entries, in pairs sharing one instant: the keyset must order and split ties by id
    add(
        engine,
        settings,
        [{"ts": T0 + timedelta(minutes=n // 2), "actor": "job", "action": f"step.{n:03d}"} for n in range(250)],
    )
    first = auditor.get("/trail?actor=job").text
    page1 = [r[2] for r in rows_of(first)]
    assert page1 == [f"step.{n:03d}" for n in range(249, 149, -1)] and len(page1) == PAGE
    assert link(first, "newer") is None
    older = link(first, "older")
    assert older is not None and "actor=job" in older and "before=" in older

    second = auditor.get(older).text
    assert [r[2] for r in rows_of(second)] == [f"step.{n:03d}" for n in range(149, 49, -1)]
    third = auditor.get(link(second, "older") or "").text
    assert [r[2] for r in rows_of(third)] == [f"step.{n:03d}" for n in range(49, -1, -1)]
    assert link(third, "older") is None

    back = auditor.get(link(third, "newer") or "").text  # 前へ: the page before, exactly
    assert [r[2] for r in rows_of(back)] == [f"step.{n:03d}" for n in range(149, 49, -1)]
    top = auditor.get(link(back, "newer") or "").text
    assert [r[2] for r in rows_of(top)] == page1 and link(top, "newer") is None
    assert link(top, "older") == older


def test_the_page_reads_along_the_trail_s_indexes(
    auditor: TestClient, engine: Engine, settings: Settings, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("the plan is checked on SQLite (PostgreSQL chooses by statistics)")
    add(engine, settings, [{"ts": T0 + timedelta(seconds=n), "actor": "job", "action": "step"} for n in range(30)])
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if "FROM trail" in statement and "ORDER BY" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        html = auditor.get("/trail").text
        auditor.get(link(html, "older") or "/trail?before=10")
        auditor.get("/trail?actor=job&from=2026-03-01&to=2026-03-02")
        auditor.get("/trail?action=step&before=20")
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert len(seen) == 4
    with engine.connect() as conn:
        plans = [
            " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params))
            for sql, params in seen
        ]
    for plan in plans:
        assert "USING INDEX ix_trail_" in plan and "TEMP B-TREE" not in plan, plan
    assert "ix_trail_actor" in plans[2]


@pytest.mark.parametrize("role", [PlatformRole.SECTION_HEAD, PlatformRole.ADMIN])
def test_section_heads_and_administrators_are_refused(
    app: FastAPI, engine: Engine, settings: Settings, role: PlatformRole
) -> None:
    client = _client(app, engine, settings, role, f"{role.value}-1")
    refused = client.get("/trail", headers={"Accept": "text/html"})
    assert refused.status_code == 403 and "<html" in refused.text and 'id="trail"' not in refused.text
    assert 'href="/trail"' not in client.get("/").text


def test_officers_read_it_and_have_the_link(app: FastAPI, engine: Engine, settings: Settings) -> None:
    officer = _client(app, engine, settings, PlatformRole.OFFICER, "sato")
    assert 'href="/trail"' in officer.get("/").text
    assert [r[1] for r in rows_of(officer.get("/trail?actor=sato").text)][:1] == ["sato"]


def test_the_page_in_english(engine: Engine, settings: Settings) -> None:
    english = settings.model_copy(update={"language": "en"})
    lenient = SecuritySettings(_env_file=None, login_rate_per_ip=10_000, login_rate_per_user=10_000)
    client = _client(create_app(english, engine, security=lenient), engine, english, PlatformRole.AUDITOR, "kato")
    add(engine, english, [{"ts": T0 + timedelta(seconds=n), "actor": "job", "action": "step"} for n in range(101)])
    html = client.get("/trail?actor=job").text
    assert "Platform audit trail" in html and ">Actor<" in html and "Older →" in html and ">Audit trail<" in html
    assert "監査証跡" not in html


def test_compact_detail() -> None:
    assert compact(None) == "" and compact("not json") == "not json" and compact("[1, 2]") == "[1,2]"
    assert compact(json.dumps({"a": "日本", "b": {"c": 1}})) == 'a=日本, b={"c":1}'
