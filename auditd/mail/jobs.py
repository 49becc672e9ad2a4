"""Scheduled jobs of alert e-mail (the ``auditd.jobs`` entry point ``mail``).

``mail.deliver`` works through the outbox every minute: what was queued (an urgent alert, the morning
digest, reminders) leaves within a minute, and a message waiting for a retry goes when its backoff is
over. The digest and reminder jobs live with the cases, which gather what they say.
"""

from __future__ import annotations

from sqlalchemy import Engine

from auditd.mail import service
from auditd.scheduler.service import JobSpec
from auditd.settings import Settings


def deliver_job(settings: Settings, engine: Engine) -> str:
    """Send the due messages of ``settings.municipality_code``."""
    return service.deliver(engine, settings).summary()


def jobs() -> list[JobSpec]:
    return [
        JobSpec(
            id="mail.deliver",
            title="Send the queued alert e-mail",
            cron={"minute": "*"},
            timezone="Asia/Tokyo",
            run=deliver_job,
            misfire_grace_seconds=60,
        )
    ]
