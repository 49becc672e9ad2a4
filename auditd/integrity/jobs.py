"""Scheduled jobs of the integrity capability (the ``auditd.jobs`` entry point ``integrity``).

``integrity.verify`` recomputes the whole chain every night at 03:30 Japan time, after the night's
batch transfers and before anyone starts work. Tampering found makes the run ``critical``: the run is
recorded in ``job_runs``, the check in ``integrity_checks`` and both in the trail. Alerts and e-mail
do not exist yet; issue 6 turns a critical run into a critical alert.
"""

from __future__ import annotations

from sqlalchemy import Engine

from auditd.integrity.service import run_check
from auditd.scheduler.service import CriticalFinding, JobSpec
from auditd.settings import Settings


def verify_job(settings: Settings, engine: Engine) -> str:
    """Verify the chain of ``settings.municipality_code``; critical when it is not intact."""
    with engine.connect() as connection:
        report = run_check(connection, settings, settings.municipality_code, actor="scheduler")
    summary = (
        f"check #{report.check_id}: {report.batches:,} batches, {report.events:,} events, {report.outcome} "
        f"({report.events_per_second:,.0f} events/s)"
    )
    if not report.intact:
        first = next(f for f in report.findings if f.tampering)
        count = len([f for f in report.findings if f.tampering])
        raise CriticalFinding(f"{summary}; {count} finding(s), first: {first.message}")
    return summary


def jobs() -> list[JobSpec]:
    return [
        JobSpec(
            id="integrity.verify",
            title="Verify the tamper-evident chain over stored events",
            cron={"hour": 3, "minute": 30},
            timezone="Asia/Tokyo",
            run=verify_job,
        )
    ]
