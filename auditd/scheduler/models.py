"""The scheduler's two tables: APScheduler's persistent job store, and the history of every run.

``scheduler_jobs`` has the columns APScheduler's SQLAlchemy job store reads and writes (``id``,
``next_run_time`` as a UTC timestamp, the pickled ``job_state``), plus the municipality code every
table carries: that of the deployment that scheduled the job (jobs run for every municipality the
store serves). It is created by the migrations like every other table, so SQLite and PostgreSQL get
the same one, instead of by APScheduler's own ``create_all`` at start-up.

``job_runs`` is what the dashboard reads for schedule health: one row per job and municipality per
run, with the outcome and a summary a person can read.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from auditd.store.base import Base, MunicipalityScoped, UTCDateTime

#: Outcomes of a job run. ``critical``: the job ran and found something a person must act on now.
OUTCOMES = ("running", "ok", "failed", "critical")


class SchedulerJob(MunicipalityScoped, Base):
    """One scheduled job as APScheduler persists it (its next run survives a restart)."""

    __tablename__ = "scheduler_jobs"
    __table_args__ = (Index("ix_scheduler_jobs_next_run_time", "next_run_time"),)

    id: Mapped[str] = mapped_column(String(191), primary_key=True)
    next_run_time: Mapped[float | None] = mapped_column(Float(25))
    job_state: Mapped[bytes] = mapped_column(LargeBinary)


class JobRun(MunicipalityScoped, Base):
    """One run of one job for one municipality."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job", "municipality_code", "job_id", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(128))
    trigger: Mapped[str] = mapped_column(String(16))  # schedule | now (run-now from the CLI)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
