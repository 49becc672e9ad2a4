"""All SQL of the scheduler: which municipalities a job runs for, and the history of runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from auditd.events.models import IngestRun
from auditd.integrity.models import ChainHead
from auditd.reference.models import Municipality
from auditd.scheduler.models import JobRun, SchedulerJob
from auditd.store.base import table_of


def served_municipalities(connection: Connection, own: str) -> list[str]:
    """Every municipality this store serves: the deployment's own, the registered ones, and any that
    has ingested events (a consortium member that sends logs before its reference data)."""
    codes = {own}
    codes.update(connection.execute(select(Municipality.municipality_code)).scalars())
    codes.update(connection.execute(select(IngestRun.municipality_code).distinct()).scalars())
    codes.update(connection.execute(select(ChainHead.municipality_code)).scalars())
    return sorted(codes)


def start_run(connection: Connection, municipality_code: str, job_id: str, trigger: str, now: datetime) -> int:
    stmt = insert(JobRun).values(
        municipality_code=municipality_code, job_id=job_id, trigger=trigger, started_at=now, outcome="running"
    )
    return int(connection.execute(stmt.returning(JobRun.id)).scalar_one())


def finish_run(
    connection: Connection, run_id: int, outcome: str, summary: str | None, error: str | None, now: datetime
) -> None:
    connection.execute(
        update(JobRun).where(JobRun.id == run_id).values(outcome=outcome, summary=summary, error=error, finished_at=now)
    )


def recent_runs(
    connection: Connection, municipality_code: str | None = None, job_id: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    runs = table_of(JobRun)
    stmt = select(runs).order_by(runs.c.id.desc()).limit(limit)
    if municipality_code is not None:
        stmt = stmt.where(runs.c.municipality_code == municipality_code)
    if job_id is not None:
        stmt = stmt.where(runs.c.job_id == job_id)
    return [dict(row._mapping) for row in connection.execute(stmt)]


def last_runs(connection: Connection) -> dict[str, dict[str, Any]]:
    """The latest run of each job (any municipality), for ``auditd scheduler list`` and the dashboard."""
    runs = table_of(JobRun)
    latest = select(func.max(runs.c.id)).group_by(runs.c.job_id).scalar_subquery()
    rows = connection.execute(select(runs).where(runs.c.id.in_(latest)))
    return {str(row.job_id): dict(row._mapping) for row in rows}


def stored_next_runs(connection: Connection) -> dict[str, datetime | None]:
    """Each persisted job's next run time, read from the job store without starting a scheduler."""
    rows = connection.execute(select(SchedulerJob.id, SchedulerJob.next_run_time))
    return {str(i): None if t is None else datetime.fromtimestamp(float(t), UTC) for i, t in rows}
