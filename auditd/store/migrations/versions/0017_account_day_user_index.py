"""``account_days`` gets an index by account (municipality, account, day): the dashboard reads the days
of the accounts it shows (the 職員 list, a section's peers, each account's last login) by a seek per
account instead of the whole municipality's days (the primary key is by day).

No rollup is refilled: the table's columns do not change (0016 stays the rollups' latest filling).

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_account_days_user_day", "account_days", ["municipality_code", "user_id", "day"])


def downgrade() -> None:
    op.drop_index("ix_account_days_user_day", table_name="account_days")
