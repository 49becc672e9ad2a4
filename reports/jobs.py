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


def monthly_due(connection: Connection, municipality_code: str, today: date) -> date:
    """The day this month's record (of the previous month) is due: the month's first business day."""
    return first_business_day(connection, municipality_code, today.replace(day=1))


def annual_due_of(settings: Settings, fiscal: int) -> date:
    """The day the self-inspection report of fiscal year ``fiscal`` is due (``report_annual_on``, MM-DD,
    in the spring after the year ends on 31 March)."""
    mm, dd = (int(part) for part in settings.report_annual_on.split("-"))
    return date(fiscal + 1 + (mm < 4), mm, dd)


def annual_due(settings: Settings, today: date) -> tuple[int, date]:
    """The fiscal year that ended on the last 31 March before ``today``, and the day its report is due."""
    fiscal = today.year - 1 if today.month >= 4 else today.year - 2
    return fiscal, annual_due_of(settings, fiscal)


def next_monthly(connection: Connection, municipality_code: str, today: date) -> tuple[str, date]:
    """The next monthly record the schedule makes, on ``today`` or later: (its month ``YYYY-MM``, the
    day it is made). The dashboard's schedule reads this, so it says what :func:`monthly_job` does."""
    due = monthly_due(connection, municipality_code, today)
    first = today.replace(day=1)
    if today > due:
        first = (first + timedelta(days=31)).replace(day=1)
        due = monthly_due(connection, municipality_code, first)
    previous = first - timedelta(days=1)
    return f"{previous:%Y-%m}", due


def next_annual(settings: Settings, today: date) -> tuple[int, date]:
    """The next self-inspection report the schedule makes, on ``today`` or later: (its fiscal year, the
    day it is made), as :func:`annual_job` decides it."""
    fiscal, due = annual_due(settings, today)
    return (fiscal, due) if today <= due else (fiscal + 1, annual_due_of(settings, fiscal + 1))


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
        due = monthly_due(connection, code, today)
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
    fiscal, due = annual_due(settings, today)
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
