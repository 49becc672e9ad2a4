"""Recertification campaigns (権限表の見直し): each section head reviews the grants of their staff
against their actual usage and decides keep, revoke or change.

- ``recert_campaigns``: one campaign (manual or the yearly scheduled one), its deadline and state.
- ``recert_items``: one grant under review, snapshotted with its usage when the campaign opened, and
  the decision taken on it (or the day it was flagged unreviewed at the deadline).
- ``recert_events``: append-only log of what happened in a campaign — opened, decided, reminded,
  escalated, flagged, closed (the same triggers as ``events``).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from auditd.store import append_only

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")
APPEND_ONLY = ("recert_events",)


def _code() -> sa.Column[str]:
    return sa.Column("municipality_code", sa.String(length=6), nullable=False)


def upgrade() -> None:
    op.create_table(
        "recert_campaigns",
        _code(),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("usage_months", sa.Integer(), nullable=False),
        sa.Column("usage_from", sa.Date(), nullable=False),
        sa.Column("usage_to", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("flagged_at", INSTANT, nullable=True),
        sa.Column("escalated_at", INSTANT, nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", INSTANT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recert_campaigns")),
    )
    with op.batch_alter_table("recert_campaigns", schema=None) as batch_op:
        batch_op.create_index("ix_recert_campaigns_status", ["municipality_code", "status", "deadline"])
        batch_op.create_index("ix_recert_campaigns_starts", ["municipality_code", "trigger", "starts_on"])

    op.create_table(
        "recert_items",
        _code(),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("section_code", sa.String(length=32), nullable=True),
        sa.Column("lookups", sa.BigInteger(), nullable=False),
        sa.Column("active_days", sa.Integer(), nullable=False),
        sa.Column("last_used", sa.Date(), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("new_role", sa.String(length=64), nullable=True),
        sa.Column("new_valid_to", sa.Date(), nullable=True),
        sa.Column("new_request_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", INSTANT, nullable=True),
        sa.Column("flagged_at", INSTANT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recert_items")),
    )
    with op.batch_alter_table("recert_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recert_items_campaign", ["municipality_code", "campaign_id", "section_code", "user_id"]
        )
        batch_op.create_index("ix_recert_items_grant", ["municipality_code", "grant_id"])

    op.create_table(
        "recert_events",
        _code(),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("ts", INSTANT, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("section_code", sa.String(length=32), nullable=True),
        sa.Column("on_day", sa.Date(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recert_events")),
    )
    with op.batch_alter_table("recert_events", schema=None) as batch_op:
        batch_op.create_index("ix_recert_events_campaign", ["municipality_code", "campaign_id", "action", "ts"])
    append_only.create_triggers(APPEND_ONLY)  # auditd_append_only() is made by 0001


def downgrade() -> None:
    append_only.drop_triggers(APPEND_ONLY)
    with op.batch_alter_table("recert_events", schema=None) as batch_op:
        batch_op.drop_index("ix_recert_events_campaign")
    op.drop_table("recert_events")
    with op.batch_alter_table("recert_items", schema=None) as batch_op:
        batch_op.drop_index("ix_recert_items_grant")
        batch_op.drop_index("ix_recert_items_campaign")
    op.drop_table("recert_items")
    with op.batch_alter_table("recert_campaigns", schema=None) as batch_op:
        batch_op.drop_index("ix_recert_campaigns_starts")
        batch_op.drop_index("ix_recert_campaigns_status")
    op.drop_table("recert_campaigns")
