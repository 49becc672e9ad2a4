"""Scheduled jobs of the store (the ``auditd.jobs`` entry point ``store``).

- ``store.partitions`` (every night, 02:10 Japan time): the monthly partitions of ``events`` for this
  month and the next ``partitions_ahead_months`` exist (PostgreSQL), and every partition has every
  index of ``events``; a missing index is ``critical`` (queries would scan the month).
- ``store.retention`` (the 1st of each month, 04:20): purges archived months older than
  ``retention_years``, only when ``retention_enabled`` is set: purging evidence is a decision a
  person takes once, not a default. A month past retention without a verified archive makes the run
  ``critical`` and nothing is purged.

The scheduler runs a job once per municipality; both work on the whole store, so the second run of
a night finds nothing left to do.
"""

from __future__ import annotations

from sqlalchemy import Engine

from auditd.archive.service import plan_retention, purge
from auditd.scheduler.service import CriticalFinding, JobSpec
from auditd.settings import Settings
from auditd.store.partitions import ensure_partitions_ahead, missing_partition_indexes


def partitions_job(settings: Settings, engine: Engine) -> str:
    if engine.dialect.name != "postgresql":
        return "SQLite: one file holds every month, no partitions to create"
    with engine.begin() as connection:
        created = ensure_partitions_ahead(connection, settings.partitions_ahead_months)
        missing = missing_partition_indexes(connection)
    summary = f"created {', '.join(created)}" if created else "every partition ahead already exists"
    if missing:
        listed = ", ".join(f"{part}: {index}" for part, index in missing[:10])
        raise CriticalFinding(f"{summary}; {len(missing)} index(es) missing on partitions: {listed}")
    return summary


def retention_job(settings: Settings, engine: Engine) -> str:
    if not settings.retention_enabled:
        return "retention is off (AUDITD_RETENTION_ENABLED): nothing purged"
    with engine.begin() as connection:
        plan = plan_retention(connection, settings, settings.retention_years)
        if plan.refused:
            raise CriticalFinding(
                f"retention ({settings.retention_years} years) refused, nothing purged: " + "; ".join(plan.refused)
            )
        removed = purge(connection, settings, plan, actor="scheduler")
    months = ", ".join(f"{m:%Y-%m}" for m in plan.months) or "none"
    kept = f"retention {settings.retention_years} years (before {plan.cutoff:%Y-%m})"
    return f"{kept}: purged {removed:,} events, months {months}"


def jobs() -> list[JobSpec]:
    return [
        JobSpec(
            id="store.partitions",
            title="Create the monthly partitions of events ahead and check their indexes",
            cron={"hour": 2, "minute": 10},
            timezone="Asia/Tokyo",
            run=partitions_job,
        ),
        JobSpec(
            id="store.retention",
            title="Purge archived months of events past retention (only when enabled)",
            cron={"day": 1, "hour": 4, "minute": 20},
            timezone="Asia/Tokyo",
            run=retention_job,
        ),
    ]
