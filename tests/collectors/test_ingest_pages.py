"""The dashboard's 取込 page through the real application: files ingested by the real pipeline show as
runs with their counts and as quarantined records; only an officer reads a quarantined record's text
(and that reading is in the trail), administrators and auditors see where and why, section heads
nothing; push sources show when their token was used, never the token."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from auditd.api.app import create_app
from auditd.auth.models import PlatformRole
from auditd.auth.settings import SecuritySettings
from auditd.auth.testing import add_user, log_in
from auditd.privacy.mynumber import check_digit
from auditd.settings import Settings
from collectors import pages
from collectors.pipeline import Ingestor, IngestSummary
from collectors.profile import resolve_profile
from collectors.push import service as push_service

MYNUMBER = "12345678901" + str(check_digit("12345678901"))
HEADER = "操作日時,職員ID,端末ID,セッションID,業務コード,画面ID,操作区分,宛名番号,対象件数,処理結果,検索条件"
HTML = {"Accept": "text/html"}


def tax_file(path: Path, day: int, *, bad_code: str = "77") -> Path:
    """A demo-tax log: two good lines, a line with an unknown 操作区分 holding a 個人番号 and a
    resident's 宛名番号, and a line of too few columns."""
    lines = [
        HEADER,
        f"R08.02.{day:02d} 09:15:22,u001,T1101-01,S1,11,K0101,01,0000012345,1,0,",
        f"R08.02.{day:02d} 09:16:00,u001,T1101-01,S1,11,K0101,01,0000012346,1,0,",
        f"R08.02.{day:02d} 10:01:00,u002,T1101-02,S2,11,K0101,{bad_code},0000099999,1,0,番号={MYNUMBER}",
        f"short,{day}",
    ]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    return path


def ingest(engine: Engine, settings: Settings, path: Path) -> IngestSummary:
    return Ingestor(engine, settings).ingest_file(path, resolve_profile("demo-tax"))


def client_of(app: FastAPI, engine: Engine, settings: Settings, role: PlatformRole, name: str) -> TestClient:
    user = add_user(engine, settings, role, name)
    client = TestClient(app)
    assert log_in(client, user).status_code == 303
    return client


def trail_of(engine: Engine, action: str) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT actor, detail FROM trail WHERE action = :a ORDER BY id"), {"a": action})
        return [(r.actor, r.detail) for r in rows]


@pytest.fixture
def ingested(engine: Engine, settings: Settings, tmp_path: Path) -> tuple[IngestSummary, IngestSummary]:
    first = ingest(engine, settings, tax_file(tmp_path / "ZEIMU_OPLOG_20260203.csv", 3))
    second = ingest(engine, settings, tax_file(tmp_path / "ZEIMU_OPLOG_20260204.csv", 4, bad_code="88"))
    return first, second


def test_an_officer_sees_the_runs_sources_profiles_and_quarantine(
    app: FastAPI, engine: Engine, settings: Settings, ingested: tuple[IngestSummary, IngestSummary]
) -> None:
    first, second = ingested
    assert (first.read, first.accepted, first.quarantined) == (4, 2, 2)
    officer = client_of(app, engine, settings, PlatformRole.OFFICER, "sato")
    page = officer.get("/ingest")
    assert page.status_code == 200
    html = page.text
    assert 'href="/ingest" aria-current="page"' in html and ">取込<" in html
    run = re.search(rf'<tr id="run-{second.run_id}">(.*?)</tr>', html, re.S)
    assert run is not None
    cells = re.findall(r'<td class="num">(?:<a [^>]*>)?([\d,]+)', run.group(1))
    assert cells == ["4", "2", "0", "2"]  # read, accepted, duplicates, quarantined
    assert "ZEIMU_OPLOG_20260204.csv" in run.group(1) and "完了" in run.group(1)
    assert f'href="/ingest/quarantine?run={second.run_id}"' in run.group(1)
    sources = re.search(r'<section class="card" id="sources">(.*?)</section>', html, re.S)
    assert sources is not None and 'id="source-tax"' in sources.group(1) and "正常" in sources.group(1)
    profiles = re.search(r'<section class="card" id="profiles">(.*?)</section>', html, re.S)
    assert profiles is not None
    assert re.search(r"<code>demo-tax</code>.*?組込み.*?csv.*?<td>tax</td>", profiles.group(1), re.S)
    assert "<code>syslog-auditd-5424</code>" in profiles.group(1)
    quarantine = re.search(r'<section class="card" id="quarantine">(.*?)</section>', html, re.S)
    assert quarantine is not None and "（4）" in quarantine.group(1)
    assert 'href="/ingest/quarantine?reason=unknown_code"' in quarantine.group(1)
    assert MYNUMBER not in html and "0000099999" not in html  # the overview shows no record's text

    listing = officer.get("/ingest/quarantine?reason=unknown_code").text
    rows = re.findall(r'<tr id="q-(\d+)">(.*?)</tr>', listing, re.S)
    assert len(rows) == 2
    assert all("<code>unknown_code</code>" in row for _, row in rows)
    assert "wrong_columns</code></td>" not in listing
    assert "行 4" in rows[0][1] and "ZEIMU_OPLOG_20260204.csv" in rows[0][1]  # newest first, with the line
    assert "0000099999" in listing  # an officer reads the record itself …
    assert MYNUMBER not in listing and "番号=[個人番号]" in listing  # … with the 個人番号 masked at the door
    [(actor, detail)] = trail_of(engine, "view_quarantine")
    assert actor == "sato"
    assert json.loads(detail or "{}") == {
        "page": 1,
        "reason": "unknown_code",
        "records": [int(i) for i, _ in rows],
        "run": None,
    }


def test_the_listing_is_filtered_by_run_and_reason(
    app: FastAPI, engine: Engine, settings: Settings, ingested: tuple[IngestSummary, IngestSummary]
) -> None:
    first, second = ingested
    officer = client_of(app, engine, settings, PlatformRole.OFFICER, "sato")
    by_run = officer.get(f"/ingest/quarantine?run={first.run_id}").text
    rows = re.findall(r'<tr id="q-\d+">(.*?)</tr>', by_run, re.S)
    assert len(rows) == 2 and all("ZEIMU_OPLOG_20260203.csv" in row for row in rows)
    assert {"unknown_code", "wrong_columns"} == set(re.findall(r"<code>(\w+)</code><div", by_run))
    counts = re.search(r'<section class="card" id="quarantine-counts">(.*?)</section>', by_run, re.S)
    assert counts is not None and f"#{first.run_id}" in counts.group(1)
    assert re.findall(r'<td class="num">(\d+)</td>', counts.group(1)) == ["1", "1"]  # this run's counts only

    both = officer.get(f"/ingest/quarantine?run={second.run_id}&reason=wrong_columns").text
    rows = re.findall(r'<tr id="q-\d+">(.*?)</tr>', both, re.S)
    assert len(rows) == 1 and "ZEIMU_OPLOG_20260204.csv" in rows[0] and "wrong_columns" in rows[0]

    nothing = officer.get("/ingest/quarantine?run=99999").text
    assert 'id="no-records"' in nothing and 'id="no-such-run"' in nothing
    ignored = officer.get("/ingest/quarantine?run=abc&reason=a%20b")
    assert ignored.status_code == 200 and 'id="bad-filter"' in ignored.text
    assert len(re.findall(r'<tr id="q-\d+">', ignored.text)) == 4  # the filters ignored: every record


def test_runs_and_quarantine_are_paged(
    app: FastAPI,
    engine: Engine,
    settings: Settings,
    ingested: tuple[IngestSummary, IngestSummary],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = ingested
    monkeypatch.setattr(pages, "RUNS_PER_PAGE", 1)
    monkeypatch.setattr(pages, "QUARANTINE_PER_PAGE", 3)
    officer = client_of(app, engine, settings, PlatformRole.OFFICER, "sato")
    one = officer.get("/ingest").text
    assert f'id="run-{second.run_id}"' in one and f'id="run-{first.run_id}"' not in one
    assert 'href="/ingest?page=2#runs" rel="next"' in one and 'rel="prev"' not in one
    two = officer.get("/ingest?page=2").text
    assert f'id="run-{first.run_id}"' in two and f'id="run-{second.run_id}"' not in two
    assert 'href="/ingest#runs" rel="prev"' in two and 'rel="next"' not in two

    listing = officer.get("/ingest/quarantine?reason=").text
    ids = re.findall(r'<tr id="q-(\d+)">', listing)
    assert len(ids) == 3 and 'href="/ingest/quarantine?page=2" rel="next"' in listing
    rest = re.findall(r'<tr id="q-(\d+)">', officer.get("/ingest/quarantine?page=2").text)
    assert len(rest) == 1 and not set(rest) & set(ids)
    assert officer.get("/ingest/quarantine?page=0").status_code == 422


def test_an_administrator_sees_counts_and_reasons_but_no_record_text(
    app: FastAPI, engine: Engine, settings: Settings, ingested: tuple[IngestSummary, IngestSummary]
) -> None:
    admin = client_of(app, engine, settings, PlatformRole.ADMIN, "kanri")
    overview = admin.get("/ingest")
    assert overview.status_code == 200 and 'href="/ingest" aria-current="page"' in overview.text
    assert "ZEIMU_OPLOG_20260203.csv" in overview.text and "（4）" in overview.text
    listing = admin.get("/ingest/quarantine")
    assert listing.status_code == 200
    html = listing.text
    assert len(re.findall(r'<tr id="q-\d+">', html)) == 4
    assert "unknown_code" in html and "wrong_columns" in html and "行 4" in html
    assert 'id="raw-withheld"' in html and "<pre" not in html
    assert "0000099999" not in html and "short,3" not in html and "[個人番号]" not in html
    assert trail_of(engine, "view_quarantine") == []


def test_an_auditor_reads_like_an_administrator_and_a_section_head_is_refused(
    app: FastAPI, engine: Engine, settings: Settings, ingested: tuple[IngestSummary, IngestSummary]
) -> None:
    auditor = client_of(app, engine, settings, PlatformRole.AUDITOR, "kato")
    listing = auditor.get("/ingest/quarantine").text
    assert 'id="raw-withheld"' in listing and "0000099999" not in listing and "unknown_code" in listing
    head = client_of(app, engine, settings, PlatformRole.SECTION_HEAD, "suzuki")
    assert 'href="/ingest"' not in head.get("/").text
    for path in ("/ingest", "/ingest/quarantine", "/ingest/quarantine?reason=unknown_code"):
        refused = head.get(path, headers=HTML)
        assert refused.status_code == 403, path
        assert "unknown_code" not in refused.text and "ZEIMU" not in refused.text


def test_a_push_source_shows_when_its_token_was_used_but_never_the_token(
    app: FastAPI, engine: Engine, settings: Settings
) -> None:
    with engine.begin() as conn:
        token = push_service.add_source(
            conn, settings.municipality_code, "welfare-push", "demo-welfare", actor="cli:test"
        ).token
    officer = client_of(app, engine, settings, PlatformRole.OFFICER, "sato")
    before = re.search(r'<section class="card" id="push-sources">(.*?)</section>', officer.get("/ingest").text, re.S)
    assert before is not None and "welfare-push" in before.group(1)
    assert re.findall(r'<td class="nowrap">(.*?)</td>', before.group(1)) == ["—", "—"]  # never used, never refused

    record = {"time": "2026-02-03T09:00:00+09:00", "operator": {"id": "w001", "terminal": "T2101-01"},
              "session": "S1", "business": "kokuho", "op": "VIEW", "screen": "K0101",
              "target": {"atena": "0000012345"}, "count": 1, "status": "OK", "note": "", "seq": 1}  # fmt: skip
    sender = TestClient(app)
    pushed = sender.post(
        "/api/v1/ingest/welfare-push",
        content=json.dumps(record, ensure_ascii=False).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
    )
    assert pushed.status_code == 200 and pushed.json()["accepted"] == 1
    refused = sender.post("/api/v1/ingest/welfare-push", content=b"{}", headers={"Authorization": "Bearer adt_wrong"})
    assert refused.status_code == 401

    html = officer.get("/ingest").text
    after = re.search(r'<section class="card" id="push-sources">(.*?)</section>', html, re.S)
    assert after is not None
    used, last_refused = re.findall(r'<td class="nowrap">(.*?)</td>', after.group(1))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", used) and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", last_refused)
    assert token not in html and token[4:20] not in html
    assert re.search(r'<tr id="source-welfare-push">.*?正常', html, re.S)  # its one event is the newest stored


def test_a_source_whose_profile_file_is_gone_shows_why(
    app: FastAPI, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    vendor = tmp_path / "vendor.yaml"
    vendor.write_text(resolve_profile("demo-welfare").path.read_text(encoding="utf-8"), encoding="utf-8")  # type: ignore[union-attr]
    with engine.begin() as conn:
        push_service.add_source(conn, settings.municipality_code, "vendor-push", str(vendor), actor="cli:test")
    vendor.unlink()
    officer = client_of(app, engine, settings, PlatformRole.OFFICER, "sato")
    profiles = re.search(r'<section class="card" id="profiles">(.*?)</section>', officer.get("/ingest").text, re.S)
    assert profiles is not None
    row = re.search(r'<tr class="profile-configured">(.*?)</tr>', profiles.group(1), re.S)
    assert row is not None and str(vendor) in row.group(1) and 'class="error' in row.group(1)
    assert "vendor-push" in row.group(1)


def test_the_page_in_english(engine: Engine, settings: Settings, ingested: tuple[IngestSummary, IngestSummary]) -> None:
    english = settings.model_copy(update={"language": "en"})
    lenient = SecuritySettings(_env_file=None, login_rate_per_ip=10_000, login_rate_per_user=10_000)
    app = create_app(english, engine, security=lenient)
    admin = client_of(app, engine, english, PlatformRole.ADMIN, "kanri")
    html = admin.get("/ingest").text
    assert ">Ingest<" in html and "Recent ingest runs" in html and "Mapping profiles" in html and "completed" in html
    listing = admin.get("/ingest/quarantine").text
    assert "Quarantined records" in listing and "only officers see it" in listing and "line 4" in listing
