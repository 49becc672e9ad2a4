"""Scheduled reports (the ``auditd.jobs`` entry point ``reports``).

Each job runs every morning and makes what is due and missing, so a report missed while the server was
down is made on the next morning it runs (the catch-up does not depend on the scheduler's memory):

- ``reports.monthly``: from the first business day (開庁日 in the municipal calendar; a weekday when the
  calendar has no entry) of a month, the previous month's log-review record;
- ``reports.annual``: from ``report_annual_on`` (default 15 April), the previous fiscal year's
  self-inspection report.

Each report is made in ``report_formats``, stored, and announced by e-mail with links (no figures in
the mail) to the recipients of the daily digest.

``reports.pia_reminders`` queues, every morning, one mail per ``reminders`` recipient listing the PIA
reports (評価書) whose yearly review or five-year re-assessment is due within ``pia_reminder_days`` or
overdue (titles and dates only); at most one per address and day, none when nothing is due.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, Engine, select

from auditd.mail import service as mail
from auditd.reference.models import CalendarDay
from auditd.reports import repository as repo
from auditd.scheduler.service import JobSpec
from auditd.settings import Settings
from auditd.store.base import table_of
from reports import pia
from reports.base import KIND_JA, ReportRequest, fiscal_year, month, reiwa

ACTOR = "scheduler"


def first_business_day(connection: Connection, municipality_code: str, first: date) -> date:
    """The first open day (開庁日) of the month starting ``first``: from the calendar where it has the
    month's days, else the first weekday."""
    table = table_of(CalendarDay)
    rows = connection.execute(
        select(table.c.day, table.c.is_open).where(
            table.c.municipality_code == municipality_code,
            table.c.day >= first,
            table.c.day < first + timedelta(days=31),
        )
    ).all()
    known = {day: bool(is_open) for day, is_open in rows}
    day = first
    while day.month == first.month:
        if known.get(day, day.weekday() < 5):
            return day
        day += timedelta(days=1)
    return first


def _make(settings: Settings, engine: Engine, request: ReportRequest, key: str, period: str, now: datetime) -> str:
    from reports.base import generate

    code = request.municipality_code
    files: list[tuple[str, int]] = []
    with engine.begin() as connection:
        for fmt in settings.report_formats:
            if repo.exists(connection, code, request.kind, request.start, request.end, fmt):
                continue
            rendered = generate(connection, settings, request, fmt, ACTOR, "schedule")
            files.append((fmt, rendered.run_id))
        if not files:
            return f"{KIND_JA[request.kind]} {period}: already made"
        notice = mail.ReportNotice(key=key, title=KIND_JA[request.kind], period=period, files=tuple(files))
        queued = mail.enqueue_report(connection, settings, code, notice, now=now)
    made = ", ".join(f"{fmt} #{run_id}" for fmt, run_id in files)
    return f"{KIND_JA[request.kind]} {period}: made {made}; {queued} mail(s) queued"


def monthly_job(settings: Settings, engine: Engine, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    today = now.astimezone(settings.tz).date()
    code = settings.municipality_code
    with engine.connect() as connection:
        due = first_business_day(connection, code, today.replace(day=1))
    if today < due:
        return f"not yet: the monthly record is made from {due} (the first business day)"
    previous = today.replace(day=1) - timedelta(days=1)
    label = f"{previous:%Y-%m}"
    start, end = month(label)
    request = ReportRequest("monthly", code, start, end)
    return _make(settings, engine, request, f"monthly:{label}", f"{previous.year}年{previous.month}月分", now)


def annual_job(settings: Settings, engine: Engine, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    today = now.astimezone(settings.tz).date()
    mm, dd = (int(part) for part in settings.report_annual_on.split("-"))
    # the fiscal year that ended on the last 31 March before today, and the day its report is due
    fiscal = today.year - 1 if today.month >= 4 else today.year - 2
    due = date(fiscal + 1 + (mm < 4), mm, dd)
    if today < due:
        return f"not yet: the annual report of FY{fiscal} is made from {due}"
    start, end = fiscal_year(fiscal)
    request = ReportRequest("annual", settings.municipality_code, start, end)
    return _make(settings, engine, request, f"annual:{fiscal}", reiwa(fiscal), now)


def pia_reminders_job(settings: Settings, engine: Engine, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    today = now.astimezone(settings.tz).date()
    code = settings.municipality_code
    with engine.begin() as connection:
        items = pia.reminders(connection, code, today, settings.pia_reminder_days)
        queued = mail.enqueue_pia_reminders(connection, settings, code, today, items, now=now)
    return f"{today}: {len(items)} PIA review(s) or re-assessment(s) due, {queued} mail(s) queued"


def jobs() -> list[JobSpec]:
    return [
        JobSpec(
            id="reports.monthly",
            title="Make last month's log-review record from the first business day (catches up)",
            cron={"hour": 7, "minute": 0},
            run=monthly_job,
        ),
        JobSpec(
            id="reports.annual",
            title="Make last fiscal year's self-inspection report from report_annual_on (catches up)",
            cron={"hour": 7, "minute": 15},
            run=annual_job,
        ),
        JobSpec(
            id="reports.pia_reminders",
            title="Queue reminders: PIA reviews and re-assessments due within pia_reminder_days or overdue",
            cron={"hour": 8, "minute": 45},
            run=pia_reminders_job,
        ),
    ]
