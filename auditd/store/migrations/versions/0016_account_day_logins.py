"""``account_days`` counts, per account and day, the successful logins with two factors or more
(``strong_logins``) and the logins and logouts (``auth_events``): the overview's two-factor coverage
reads them instead of a month of the events' sessions.

The rollups of the events already stored are (re)built here, by the code of today's rollups: this is
their latest migration (0010 creates the tables and leaves the filling to it). A later migration that
changes a rollup table takes the filling over, so that it always runs against the tables' last shape.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from auditd.events.rollup import rebuild_rollups

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("account_days") as batch_op:
        batch_op.add_column(sa.Column("strong_logins", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("auth_events", sa.BigInteger(), server_default="0", nullable=False))
    connection = op.get_bind()
    codes = connection.execute(sa.text("SELECT DISTINCT municipality_code FROM events")).scalars().all()
    for code in codes:
        rebuild_rollups(connection, code)


def downgrade() -> None:
    with op.batch_alter_table("account_days") as batch_op:
        batch_op.drop_column("auth_events")
        batch_op.drop_column("strong_logins")
