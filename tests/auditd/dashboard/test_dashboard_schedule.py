"""The レポート page's automatic schedule: the next monthly and annual reports computed by the very
functions the scheduled jobs use (first business day from the municipal calendar, ``report_annual_on``),
the formats of ``report_formats`` and the digest recipients the mail goes to; who sees it; English."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from auditd.api.app import create_app
from auditd.auth.models import PlatformRole
from auditd.auth.testing import add_user, log_in
from auditd.mail import service as mail
from auditd.reference.models import CalendarDay
from auditd.settings import Settings
from reports import jobs


def person(app: FastAPI, engine: Engine, settings: Settings, role: PlatformRole, name: str) -> TestClient:
    user = add_user(engine, settings, role, name)
    client = TestClient(app)
    assert log_in(client, user).status_code == 303
    return client


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 6, 1), ("2026-05", date(2026, 6, 1))),  # a Monday: due today
        (date(2026, 6, 2), ("2026-06", date(2026, 7, 1))),  # made already: next month's first weekday
        (date(2026, 7, 31), ("2026-07", date(2026, 8, 4))),  # 1–2 August a weekend, 3 August closed (calendar)
    ],
)
def test_the_next_monthly_report_follows_the_municipal_calendar(
    engine: Engine, settings: Settings, today: date, expected: tuple[str, date]
) -> None:
    code = settings.municipality_code
    with engine.begin() as connection:
        connection.execute(
            insert(CalendarDay), [{"municipality_code": code, "day": date(2026, 8, 3), "is_open": False, "name": "休"}]
        )
        assert jobs.next_monthly(connection, code, today) == expected


def test_the_next_annual_report_is_on_report_annual_on(settings: Settings) -> None:
    assert jobs.next_annual(settings, date(2026, 4, 15)) == (2025, date(2026, 4, 15))
    assert jobs.next_annual(settings, date(2026, 4, 16)) == (2026, date(2027, 4, 15))
    assert jobs.next_annual(settings, date(2026, 1, 10)) == (2025, date(2026, 4, 15))
    march = settings.model_copy(update={"report_annual_on": "03-20"})  # before April: the year after next
    assert jobs.next_annual(march, date(2026, 4, 1)) == (2025, date(2027, 3, 20))


def test_the_reports_page_shows_the_schedule(app: FastAPI, engine: Engine, settings: Settings) -> None:
    code = settings.municipality_code
    now = datetime.now(UTC)
    with engine.begin() as connection:
        mail.add_recipient(connection, code, "kansa@city.example.jp", label="監査担当", actor="test", now=now)
        mail.add_recipient(connection, code, "immediate-only@city.example.jp", digest=False, actor="test", now=now)
    officer = person(app, engine, settings, PlatformRole.OFFICER, "sato")
    html = officer.get("/reports").text
    today = now.astimezone(settings.tz).date()
    with engine.connect() as connection:
        month, monthly_on = jobs.next_monthly(connection, code, today)
    fiscal, annual_on = jobs.next_annual(settings, today)
    monthly = re.search(r'<tr id="schedule-monthly">(.*?)</tr>', html, re.S)
    annual = re.search(r'<tr id="schedule-annual">(.*?)</tr>', html, re.S)
    assert monthly is not None and annual is not None
    assert f"{month[:4]}年{month[5:]}月分" in monthly.group(1) and str(monthly_on) in monthly.group(1)
    assert f"{fiscal}年度" in annual.group(1) and str(annual_on) in annual.group(1) and "04-15" in annual.group(1)
    assert re.search(r'id="schedule-formats">pdf, xlsx<', html)
    assert "kansa@city.example.jp" in html and "監査担当" in html and "immediate-only@" not in html

    auditor = person(app, engine, settings, PlatformRole.AUDITOR, "kato")
    assert 'id="schedule"' in auditor.get("/reports").text
    head = person(app, engine, settings, PlatformRole.SECTION_HEAD, "head")
    assert head.get("/reports", headers={"Accept": "text/html"}).status_code == 403


def test_the_schedule_without_recipients_and_in_english(engine: Engine, settings: Settings) -> None:
    english = settings.model_copy(update={"language": "en", "report_formats": ["html"]})
    officer = person(create_app(english, engine), engine, english, PlatformRole.OFFICER, "ito")
    html = officer.get("/reports").text
    assert "Automatic schedule" in html and "Nobody is notified" in html and "sched_" not in html
    assert re.search(r'id="schedule-formats">html<', html) and "FY" in html
    # the disclosure form of the reports page offers PDF first
    assert re.search(r"<option selected>pdf</option>", html)


def test_the_disclosure_report_of_a_resident_is_offered_as_pdf_first(
    app: FastAPI, engine: Engine, settings: Settings
) -> None:
    officer = person(app, engine, settings, PlatformRole.OFFICER, "sato")
    csrf = re.search(r'name="csrf" value="([^"]+)"', officer.get("/residents").text)
    assert csrf is not None
    found = officer.post(
        "/residents",
        data={"csrf": csrf.group(1), "resident": "42", "since": "2026-01-01", "until": "2026-03-31"},
        follow_redirects=False,
    )
    assert found.status_code == 303
    form = re.search(r'<form [^>]*id="res-report">(.*?)</form>', officer.get(found.headers["location"]).text, re.S)
    assert form is not None
    assert re.findall(r"<option>(\w+)</option>", form.group(1)) == ["pdf", "html", "xlsx"]
