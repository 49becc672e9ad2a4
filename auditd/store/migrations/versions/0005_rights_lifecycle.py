"""The access-rights lifecycle: grant requests and the append-only history of every grant.

- ``grant_requests``: a request that an account be granted a role, decided by the 所属長 or an officer.
- ``grant_events``: requested, approved, rejected, revoked, suspended, flagged — who, when, why, and
  the day it takes effect. Append-only like ``events`` and ``trail`` (the same triggers).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from auditd.store import append_only

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")
APPEND_ONLY = ("grant_events",)


def upgrade() -> None:
    op.create_table(
        "grant_requests",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("temporary", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", INSTANT, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", INSTANT, nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("grant_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grant_requests")),
    )
    with op.batch_alter_table("grant_requests", schema=None) as batch_op:
        batch_op.create_index("ix_grant_requests_status", ["municipality_code", "status", "requested_at"])
        batch_op.create_index("ix_grant_requests_user", ["municipality_code", "user_id"])

    op.create_table(
        "grant_events",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ts", INSTANT, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("grant_id", sa.Integer(), nullable=True),
        sa.Column("effective_on", sa.Date(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grant_events")),
    )
    with op.batch_alter_table("grant_events", schema=None) as batch_op:
        batch_op.create_index("ix_grant_events_grant", ["municipality_code", "grant_id", "ts"])
        batch_op.create_index("ix_grant_events_ts", ["municipality_code", "ts"])
    append_only.create_triggers(APPEND_ONLY)  # auditd_append_only() is made by 0001
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ended_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_column("ended_on")
    append_only.drop_triggers(APPEND_ONLY)
    with op.batch_alter_table("grant_events", schema=None) as batch_op:
        batch_op.drop_index("ix_grant_events_ts")
        batch_op.drop_index("ix_grant_events_grant")
    op.drop_table("grant_events")
    with op.batch_alter_table("grant_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_grant_requests_user")
        batch_op.drop_index("ix_grant_requests_status")
    op.drop_table("grant_requests")
