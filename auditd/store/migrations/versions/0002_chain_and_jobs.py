"""The tamper-evident chain (heads, seals, checks) and the scheduler (job store, job runs).

``integrity_checks`` is append-only like ``events`` and ``trail`` (a check's verdict is evidence),
with the same kind of triggers on both backends. ``scheduler_jobs`` is APScheduler's job store
table, created here rather than by APScheduler at start-up so both backends get the same table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 19:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from auditd.store import append_only

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")
APPEND_ONLY = ("integrity_checks",)


def upgrade() -> None:
    op.create_table(
        "chain_heads",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("last_batch_id", sa.Integer(), nullable=True),
        sa.Column("last_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("batches", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", INSTANT, nullable=False),
        sa.Column("key_check", sa.LargeBinary(length=16), nullable=False),
        sa.PrimaryKeyConstraint("municipality_code", name=op.f("pk_chain_heads")),
    )
    op.create_table(
        "batch_seals",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("batch_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("events_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("fingerprints", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_batch_seals")),
    )
    with op.batch_alter_table("batch_seals", schema=None) as batch_op:
        batch_op.create_index("uq_batch_seals_position", ["municipality_code", "position"], unique=True)

    op.create_table(
        "integrity_checks",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", INSTANT, nullable=False),
        sa.Column("finished_at", INSTANT, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("since", INSTANT, nullable=True),
        sa.Column("first_position", sa.BigInteger(), nullable=True),
        sa.Column("last_position", sa.BigInteger(), nullable=True),
        sa.Column("batches_checked", sa.BigInteger(), nullable=False),
        sa.Column("events_checked", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("head_position", sa.BigInteger(), nullable=True),
        sa.Column("head_digest", sa.LargeBinary(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrity_checks")),
    )
    with op.batch_alter_table("integrity_checks", schema=None) as batch_op:
        batch_op.create_index("ix_integrity_checks_started", ["municipality_code", "started_at"], unique=False)

    op.create_table(
        "scheduler_jobs",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=191), nullable=False),
        sa.Column("next_run_time", sa.Float(precision=25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduler_jobs")),
    )
    with op.batch_alter_table("scheduler_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_scheduler_jobs_next_run_time", ["next_run_time"], unique=False)

    op.create_table(
        "job_runs",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=128), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("started_at", INSTANT, nullable=False),
        sa.Column("finished_at", INSTANT, nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
    )
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.create_index("ix_job_runs_job", ["municipality_code", "job_id", "started_at"], unique=False)

    append_only.create_triggers(APPEND_ONLY)  # auditd_append_only() is made by 0001


def downgrade() -> None:
    append_only.drop_triggers(APPEND_ONLY)
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_job_runs_job")
    op.drop_table("job_runs")
    with op.batch_alter_table("scheduler_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_scheduler_jobs_next_run_time")
    op.drop_table("scheduler_jobs")
    with op.batch_alter_table("integrity_checks", schema=None) as batch_op:
        batch_op.drop_index("ix_integrity_checks_started")
    op.drop_table("integrity_checks")
    with op.batch_alter_table("batch_seals", schema=None) as batch_op:
        batch_op.drop_index("uq_batch_seals_position")
    op.drop_table("batch_seals")
    op.drop_table("chain_heads")
