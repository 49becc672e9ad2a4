"""The record of archived months of events (``event_archives``), where their events sit in the chain
(``event_archive_batches``) and what was done to them in the store (``event_archive_actions``); all
three append-only.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from auditd.store import append_only

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")
APPEND_ONLY = ("event_archives", "event_archive_batches", "event_archive_actions")


def _code() -> sa.Column[str]:
    return sa.Column("municipality_code", sa.String(length=6), nullable=False)


def upgrade() -> None:
    op.create_table(
        "event_archives",
        _code(),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("first_batch_id", sa.Integer(), nullable=True),
        sa.Column("last_batch_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("mac", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_archives")),
    )
    with op.batch_alter_table("event_archives", schema=None) as batch_op:
        batch_op.create_index("ix_event_archives_month", ["municipality_code", "month"], unique=False)

    op.create_table(
        "event_archive_batches",
        _code(),
        sa.Column("archive_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("first_index", sa.BigInteger(), nullable=True),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("mac", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("archive_id", "batch_id", name=op.f("pk_event_archive_batches")),
    )
    with op.batch_alter_table("event_archive_batches", schema=None) as batch_op:
        batch_op.create_index("ix_event_archive_batches_batch", ["municipality_code", "batch_id"], unique=False)

    op.create_table(
        "event_archive_actions",
        _code(),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("archive_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("mac", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_archive_actions")),
    )
    with op.batch_alter_table("event_archive_actions", schema=None) as batch_op:
        batch_op.create_index("ix_event_archive_actions_archive", ["municipality_code", "archive_id"], unique=False)

    append_only.create_triggers(APPEND_ONLY)  # auditd_append_only() is made by 0001


def downgrade() -> None:
    append_only.drop_triggers(APPEND_ONLY)
    op.drop_table("event_archive_actions")
    op.drop_table("event_archive_batches")
    op.drop_table("event_archives")
