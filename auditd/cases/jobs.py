"""Scheduled jobs of cases (the ``auditd.jobs`` entry point ``cases``).

Alerts are put into cases by the detect job itself, so high-severity ones are e-mailed within the
hour (``mail.deliver`` sends the outbox every minute). Every morning the digest of the previous day's
alerts, then the reminders (cases left open, breach reports due), are queued per recipient.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from auditd.cases import service
from auditd.mail import service as mail
from auditd.scheduler.service import JobSpec
from auditd.settings import Settings


def digest_job(settings: Settings, engine: Engine) -> str:
    now = datetime.now(UTC)
    day = service.today_in(settings, now) - timedelta(days=1)
    code = settings.municipality_code
    with engine.begin() as connection:
        notices = service.digest_notices(connection, settings, code, day)
        queued = mail.enqueue_digest(connection, settings, code, day, notices, now=now)
    return f"{day}: {len(notices)} alert(s), {queued} digest(s) queued"


def reminders_job(settings: Settings, engine: Engine) -> str:
    now = datetime.now(UTC)
    day = service.today_in(settings, now)
    code = settings.municipality_code
    with engine.begin() as connection:
        items = service.reminders(connection, settings, code, day)
        queued = mail.enqueue_reminders(connection, settings, code, day, items, now=now)
    return f"{day}: {len(items)} reminder item(s), {queued} mail(s) queued"


def jobs() -> list[JobSpec]:
    return [
        JobSpec(
            id="cases.digest",
            title="Queue the daily digest of yesterday's alerts",
            cron={"hour": 8, "minute": 0},
            run=digest_job,
        ),
        JobSpec(
            id="cases.reminders",
            title="Queue reminders: cases left open, breach reports due",
            cron={"hour": 8, "minute": 30},
            run=reminders_job,
        ),
    ]
