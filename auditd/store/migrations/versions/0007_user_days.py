"""User-days: one account's day in figures (no residents), the anomaly model's history.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIGURES = ("lookups", "residents", "hours", "systems", "actions", "outputs", "first_hour", "last_hour", "no_case_share")


def upgrade() -> None:
    op.create_table(
        "user_days",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("section", sa.String(length=32), nullable=True),
        *(sa.Column(name, sa.Float(), nullable=False) for name in FIGURES),
        sa.PrimaryKeyConstraint("municipality_code", "day", "user_id", name=op.f("pk_user_days")),
    )
    with op.batch_alter_table("user_days", schema=None) as batch_op:
        batch_op.create_index("ix_user_days_user", ["municipality_code", "user_id", "day"], unique=False)


def downgrade() -> None:
    op.drop_table("user_days")
