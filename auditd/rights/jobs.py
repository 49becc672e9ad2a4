"""Scheduled jobs of the rights lifecycle (the ``auditd.jobs`` entry point ``rights``).

``rights.apply_personnel`` applies the personnel register every morning at 06:00 Japan time, before
anyone starts work: a grant whose holder was transferred out of the role's sections or retired is
suspended (or flagged) from that day, so the revocation lag is at most a night once the personnel
feed is imported.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from auditd.rights import campaigns, service
from auditd.scheduler.service import JobSpec
from auditd.settings import Settings


def apply_personnel_job(settings: Settings, engine: Engine) -> str:
    """Apply the register as of today (Japan time) to ``settings.municipality_code``'s grants."""
    now = datetime.now(UTC)
    with engine.begin() as connection:
        result = service.apply_personnel(
            connection,
            settings,
            settings.municipality_code,
            service.role_catalog(settings),
            on=service.today_in(settings, now),
            actor="scheduler",
            now=now,
            client=None,
        )
    action = "suspended" if result.mode == "suspend" else "flagged"
    return f"{result.on.isoformat()}: {result.checked} active grants checked, {len(result.lapsed)} {action}"


def jobs() -> list[JobSpec]:
    return [
        JobSpec(
            id="rights.apply_personnel",
            title="Suspend grants that transfers and retirements made lapse",
            cron={"hour": 6, "minute": 0},
            timezone="Asia/Tokyo",
            run=apply_personnel_job,
        ),
        # -- recertification campaigns
        JobSpec(
            id="rights.recertification",
            title="Recertification campaigns: open the yearly one, remind, flag at the deadline, escalate",
            cron={"hour": 7, "minute": 0},
            timezone="Asia/Tokyo",
            run=recertification_job,
        ),
    ]


# -- recertification campaigns


def recertification_job(settings: Settings, engine: Engine) -> str:
    """One pass of :func:`auditd.rights.campaigns.run_day` as of today (Japan time): idempotent."""
    now = datetime.now(UTC)
    with engine.begin() as connection:
        result = campaigns.run_day(
            connection, settings, settings.municipality_code, today=service.today_in(settings, now), now=now
        )
    opened = f"campaign {result.opened} opened, " if result.opened else ""
    return (
        f"{result.day.isoformat()}: {opened}{len(result.reminded)} sections reminded, {result.flagged} items flagged, "
        f"{len(result.escalated)} sections escalated, {result.mails} mails queued"
    )


# -- end recertification campaigns
