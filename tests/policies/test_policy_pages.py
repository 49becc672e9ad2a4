"""The dashboard's ポリシー page through the real application: the policy of the defaults, an override
file's validation errors with file and key, the versions recorded by the real decide step and which is
in force, and the diff of two versions (escaped); who may read it follows GET /api/v1/policy, plus
system administrators."""

from __future__ import annotations

import html as html_lib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from auditd.api.app import create_app
from auditd.auth.models import PlatformRole
from auditd.auth.settings import SecuritySettings
from auditd.auth.testing import add_user, log_in
from auditd.settings import Settings
from collectors.profile import resolve_profile
from collectors.reference import ReferenceImporter
from policies.service import decide_pending

HTML = {"Accept": "text/html"}
LATER_HOURS = "time:\n  business_hours: {start: '08:30', end: '18:00'}\n"
BROKEN = "jimu:\n  個人住民税: {uses_mynumber: maybe, legal_basis: x}\n"


def app_for(engine: Engine, settings: Settings) -> FastAPI:
    lenient = SecuritySettings(_env_file=None, login_rate_per_ip=10_000, login_rate_per_user=10_000)
    return create_app(settings, engine, security=lenient)


def client_of(app: FastAPI, engine: Engine, settings: Settings, role: PlatformRole, name: str) -> TestClient:
    user = add_user(engine, settings, role, name)
    client = TestClient(app)
    assert log_in(client, user).status_code == 303
    return client


def section(html: str, name: str) -> str:
    found = re.search(rf'<(section|div) class="card" id="{name}">(.*?)</\1>\n', html, re.S)
    assert found is not None, name
    return found.group(2)


def overrides(tmp_path: Path, **files: str) -> Path:
    directory = tmp_path / "policy"
    directory.mkdir(exist_ok=True)
    for name, body in files.items():
        (directory / f"{name}.yaml").write_text(body, encoding="utf-8")
    return directory


def test_the_defaults_in_force_with_no_errors(app: FastAPI, engine: Engine, settings: Settings) -> None:
    officer = client_of(app, engine, settings, PlatformRole.OFFICER, "sato")
    page = officer.get("/policy")
    assert page.status_code == 200
    html = page.text
    assert 'href="/policy" aria-current="page"' in html and ">ポリシー<" in html
    assert 'id="no-errors"' in html and "（AUDITD_POLICY_DIR 未設定: 既定値のみ）" in html
    jimu = section(html, "jimu")
    row = re.search(r"<tr><td>個人住民税</td>(.*?)</tr>", jimu, re.S)
    assert row is not None
    assert "個人番号利用事務" in row.group(1) and "番号法第9条第1項・別表（地方税の賦課徴収）" in row.group(1)
    assert re.search(r"<tr><td>システム管理</td><td>—</td>", jimu)  # not a My Number business
    roles = section(html, "roles")
    assert 'id="role-tax_resident"' in roles and "市民税課 課税担当" in roles and "個人番号表示可" in roles
    assert "08:30–17:15" in section(html, "hours")
    segments = section(html, "authentication")
    mynumber = re.search(r'<tr id="segment-mynumber">(.*?)</tr>', segments, re.S)
    assert mynumber is not None and "2 要素以上" in mynumber.group(1) and "vein" in mynumber.group(1)
    assert 'id="no-calendar-feed"' in section(html, "calendar")
    assert 'id="no-versions"' in html and 'id="pending"' in html

    decide_pending(engine, settings)  # the real decide step records the version in force
    versions = section(officer.get("/policy").text, "versions")
    assert re.search(r'<tr id="version-1">.*?現在有効.*?設定ファイルと同一', versions, re.S)


def test_a_broken_override_shows_its_error_with_file_and_key(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    decide_pending(engine, settings)  # version 1: the defaults
    directory = overrides(tmp_path, jimu=BROKEN)
    broken = settings.model_copy(update={"policy_dir": directory})
    officer = client_of(app_for(engine, broken), engine, broken, PlatformRole.OFFICER, "sato")
    html = officer.get("/policy").text
    errors = re.search(r'<table id="policy-errors">(.*?)</table>', html, re.S)
    assert errors is not None
    [row] = re.findall(r"<tr><td>(.*?)</tr>", errors.group(1), re.S)
    assert f"<code>{directory / 'jimu.yaml'}</code>" in row
    assert "<code>jimu.個人住民税.uses_mynumber</code>" in row and "valid boolean" in row
    assert "1 件の誤りがあります" in html and 'id="no-errors"' not in html
    # the files do not load: the page shows the version still deciding
    assert 'id="shown-from-version"' in html and "#1" in html and "個人住民税" in section(html, "jimu")


def test_an_unreadable_policy_file_is_an_error_of_the_whole_file(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    directory = overrides(tmp_path, roles="roles: [1\n")
    broken = settings.model_copy(update={"policy_dir": directory})
    admin = client_of(app_for(engine, broken), engine, broken, PlatformRole.ADMIN, "kanri")
    html = admin.get("/policy").text
    errors = re.search(r'<table id="policy-errors">(.*?)</table>', html, re.S)
    assert errors is not None and str(directory / "roles.yaml") in errors.group(1)
    assert "<td>—</td>" in errors.group(1) and "not valid YAML" in errors.group(1)
    assert 'id="shown-from-version"' in html and 'id="jimu"' not in html  # nothing recorded to show instead


def test_versions_and_their_diff(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    decide_pending(engine, settings)  # version 1: the defaults
    directory = overrides(
        tmp_path, time=LATER_HOURS, jimu="jimu:\n  試験事務: {uses_mynumber: false, description: '<b>x</b>'}\n"
    )
    later = settings.model_copy(update={"policy_dir": directory})
    decide_pending(engine, later)  # version 2: valid from now, so in force
    auditor = client_of(app_for(engine, later), engine, later, PlatformRole.AUDITOR, "kato")
    html = auditor.get("/policy").text
    assert "08:30–18:00" in section(html, "hours") and "上書き" in section(html, "hours")
    jimu = section(html, "jimu")
    assert "試験事務" in jimu and "&lt;b&gt;x&lt;/b&gt;" in jimu and "<b>x</b>" not in jimu
    versions = section(html, "versions")
    assert re.search(r'<tr id="version-2">.*?現在有効.*?設定ファイルと同一', versions, re.S)
    one = re.search(r'<tr id="version-1">(.*?)</tr>', versions, re.S)
    assert one is not None and "現在有効" not in one.group(1)
    assert 'id="diff-form"' in versions

    diff = auditor.get("/policy/diff?a=1&b=2")
    assert diff.status_code == 200
    block = re.search(r'<pre class="diff">(.*?)</pre>', diff.text, re.S)
    assert block is not None
    lines = [
        html_lib.unescape(x) for x in re.findall(r'<span class="diff-(?:add|remove)">(.*?)</span>', block.group(1))
    ]
    assert "-    end: '17:15:00'" in lines and "+    end: '18:00:00'" in lines
    assert "+    description: <b>x</b>" in lines  # shown as text …
    assert "<b>x</b>" not in block.group(1)  # … escaped
    assert "start: '08:30:00'" not in "".join(lines)  # an unchanged line is not a change
    same = auditor.get("/policy/diff?a=2&b=2").text
    assert 'id="no-difference"' in same


def test_the_diff_form_without_two_versions_and_with_an_unknown_one(
    app: FastAPI, engine: Engine, settings: Settings
) -> None:
    decide_pending(engine, settings)
    officer = client_of(app, engine, settings, PlatformRole.OFFICER, "sato")
    assert 'id="too-few-versions"' in officer.get("/policy/diff").text
    assert 'id="choose-two"' in officer.get("/policy/diff?a=1").text
    missing = officer.get("/policy/diff?a=1&b=99", headers=HTML)
    assert missing.status_code == 404 and "<pre" not in missing.text


def test_a_calendar_feed_is_summarised(app: FastAPI, engine: Engine, settings: Settings, tmp_path: Path) -> None:
    today = datetime.now(UTC).astimezone(settings.tz).date()
    closed = today + timedelta(days=14 + (7 - today.weekday()) % 7 + 2)  # a Wednesday two to three weeks ahead
    feed = tmp_path / "calendar.csv"
    feed.write_text(
        f"day,is_open,name\n{closed},false,創立記念日\n{closed + timedelta(days=1)},true,\n", encoding="utf-8"
    )
    ReferenceImporter(engine, settings).import_file(feed, resolve_profile("standard-calendar"))
    officer = client_of(app, engine, settings, PlatformRole.OFFICER, "sato")
    calendar = section(officer.get("/policy").text, "calendar")
    assert f"カレンダーフィード: 2 日分（{closed} 〜 {closed + timedelta(days=1)}）、うち閉庁日 1 日" in calendar
    assert f"<li>{closed} 創立記念日</li>" in calendar


@pytest.mark.parametrize("role", [PlatformRole.SECTION_HEAD, PlatformRole.ADMIN])
def test_section_heads_and_administrators_read_it(
    app: FastAPI, engine: Engine, settings: Settings, role: PlatformRole
) -> None:
    reader = client_of(app, engine, settings, role, f"{role.value}-reader")
    home = reader.get("/").text
    assert 'href="/policy"' in home
    assert ('href="/ingest"' in home) is (role is PlatformRole.ADMIN)  # 取込: not for section heads
    page = reader.get("/policy", headers=HTML)
    assert page.status_code == 200 and "個人住民税" in page.text


def test_anonymous_is_sent_to_the_login(app: FastAPI) -> None:
    answer = TestClient(app).get("/policy/diff?a=1&b=2", headers=HTML, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")


def test_the_page_in_english(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    english = settings.model_copy(update={"language": "en", "policy_dir": overrides(tmp_path, jimu=BROKEN)})
    officer = client_of(app_for(engine, english), engine, english, PlatformRole.OFFICER, "sato")
    html = officer.get("/policy").text
    assert ">Policy<" in html and "Validation of the policy files" in html and "1 error(s)" in html
    assert "Expected" in html and "No version is recorded either" in html
    fine = settings.model_copy(update={"language": "en"})
    officer = client_of(app_for(engine, fine), engine, fine, PlatformRole.OFFICER, "ito")
    html = officer.get("/policy").text
    assert "No errors" in html and "Uses the My Number" in html and "at least 2 factor(s)" in html
