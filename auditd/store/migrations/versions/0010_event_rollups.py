"""Rollups of events maintained at ingest: ``event_hours`` (events per Japan-time hour and kind) and
``account_days`` (one account's day in counts); filled from the events already stored.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def _code() -> sa.Column[str]:
    return sa.Column("municipality_code", sa.String(length=6), nullable=False)


def _count(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "event_hours",
        _code(),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("jimu", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("factors", sa.String(length=64), nullable=False),
        _count("events"),
        _count("subjects"),
        _count("masked"),
        sa.PrimaryKeyConstraint(
            "municipality_code",
            "day",
            "hour",
            "source",
            "system",
            "jimu",
            "action",
            "result",
            "factors",
            name=op.f("pk_event_hours"),
        ),
    )
    op.create_table(
        "account_days",
        _code(),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        _count("events"),
        _count("outputs"),
        _count("subjects"),
        _count("logins"),
        sa.Column("first_ts", INSTANT, nullable=False),
        sa.Column("last_ts", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("municipality_code", "day", "user_id", name=op.f("pk_account_days")),
    )
    # The events already stored are rolled up by the rollups' latest migration (0016), with the code of
    # today's rollups: run here, that code would write columns these tables do not have yet.


def downgrade() -> None:
    op.drop_table("account_days")
    op.drop_table("event_hours")
