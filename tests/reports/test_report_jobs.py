"""The scheduled reports: made from the day they are due, once, caught up after days the server was
down, stored, and announced by a mail that links to each file and carries no figures."""

from __future__ import annotations

from datetime import date

from reports_support import jst, store_calendar
from sqlalchemy import Engine, select

from auditd.mail import service as mail
from auditd.mail.models import MailOutbox
from auditd.reports import repository as repo
from auditd.settings import Settings
from auditd.store.base import table_of
from reports import jobs


def _recipient(engine: Engine, settings: Settings) -> None:
    with engine.begin() as connection:
        mail.add_recipient(
            connection, settings.municipality_code, "kansa@city.example.jp", actor="test", now=jst("2026-10-01 09:00")
        )


def _reports(engine: Engine, settings: Settings) -> list[dict[str, object]]:
    with engine.connect() as connection:
        return repo.runs(connection, settings.municipality_code)


def _mails(engine: Engine) -> list[dict[str, object]]:
    table = table_of(MailOutbox)
    with engine.connect() as connection:
        rows = connection.execute(select(table.c.kind, table.c.recipient, table.c.subject, table.c.body_text))
        return [dict(r._mapping) for r in rows]


def test_the_monthly_record_waits_for_the_first_business_day_then_is_made_once(engine: Engine, settings: Settings):
    _recipient(engine, settings)
    # 2026-11-01 is a Sunday: not yet
    assert jobs.monthly_job(settings, engine, now=jst("2026-11-01 07:00")).startswith("not yet")
    assert _reports(engine, settings) == []

    summary = jobs.monthly_job(settings, engine, now=jst("2026-11-02 07:00"))
    made = _reports(engine, settings)
    assert sorted(r["format"] for r in made) == ["pdf", "xlsx"]
    assert {(r["kind"], r["period_start"], r["period_end"], r["trigger"]) for r in made} == {
        ("monthly", date(2026, 10, 1), date(2026, 10, 31), "schedule")
    }
    assert "1 mail(s) queued" in summary

    (message,) = _mails(engine)
    assert message["kind"] == "report" and message["recipient"] == "kansa@city.example.jp"
    assert "アクセスログ点検記録" in str(message["subject"]) and "2026年10月分" in str(message["subject"])
    for row in made:
        assert f"/api/v1/reports/{row['id']}/file" in str(message["body_text"])

    # the next morning: nothing again, no second mail
    assert "already made" in jobs.monthly_job(settings, engine, now=jst("2026-11-04 07:00"))
    assert len(_reports(engine, settings)) == 2 and len(_mails(engine)) == 1


def test_a_month_missed_while_the_server_was_down_is_made_on_the_next_run(engine: Engine, settings: Settings):
    # nothing ran from 1 to 19 December; the first run after that makes November's record
    assert "made pdf" in jobs.monthly_job(settings, engine, now=jst("2026-12-20 07:00"))
    assert {r["period_start"] for r in _reports(engine, settings)} == {date(2026, 11, 1)}


def test_the_municipal_calendar_decides_the_first_business_day(engine: Engine, settings: Settings):
    # a town closed on Monday 4 January 2027 (and the national 年末年始 up to the 3rd): due on the 5th
    with engine.begin() as connection:
        store_calendar(connection, date(2026, 12, 1), date(2027, 1, 31), {date(2027, 1, 4): "庁舎点検"})
        assert jobs.first_business_day(connection, settings.municipality_code, date(2027, 1, 1)) == date(2027, 1, 5)
    assert jobs.monthly_job(settings, engine, now=jst("2027-01-04 07:00")).startswith("not yet")
    assert "made" in jobs.monthly_job(settings, engine, now=jst("2027-01-05 07:00"))


def test_the_annual_report_is_made_from_its_day_for_the_year_just_ended(engine: Engine, settings: Settings):
    assert jobs.annual_job(settings, engine, now=jst("2026-04-14 07:00")).startswith("not yet")
    assert "made pdf" in jobs.annual_job(settings, engine, now=jst("2026-04-15 07:00"))
    assert {(r["kind"], r["period_start"], r["period_end"]) for r in _reports(engine, settings)} == {
        ("annual", date(2025, 4, 1), date(2026, 3, 31))
    }
    # in February 2027 the last fiscal year that ended is still FY2025 (FY2026 ends on 31 March 2027)
    assert "already made" in jobs.annual_job(settings, engine, now=jst("2027-02-01 07:00"))


def test_the_annual_day_is_a_setting(engine: Engine, settings: Settings):
    later = settings.model_copy(update={"report_annual_on": "05-01", "report_formats": ["html"]})
    assert jobs.annual_job(later, engine, now=jst("2026-04-20 07:00")).startswith("not yet")
    assert "made html" in jobs.annual_job(later, engine, now=jst("2026-05-01 07:00"))
    assert [r["format"] for r in _reports(engine, settings)] == ["html"]


def test_the_jobs_are_registered_with_the_scheduler():
    from auditd import registry

    ids = {spec.id for spec in registry.load("jobs", "reports")()}
    assert ids == {"reports.monthly", "reports.annual", "reports.pia_reminders"}
