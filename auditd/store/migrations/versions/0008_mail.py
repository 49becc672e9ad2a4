"""E-mail: who receives alert mail (recipients) and the outbox the delivery job works through.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "mail_recipients",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=True),
        sa.Column("sections", sa.Text(), nullable=True),
        sa.Column("min_severity", sa.String(length=16), nullable=False),
        sa.Column("immediate", sa.Boolean(), nullable=False),
        sa.Column("digest", sa.Boolean(), nullable=False),
        sa.Column("reminders", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_recipients")),
    )
    with op.batch_alter_table("mail_recipients", schema=None) as batch_op:
        batch_op.create_index("ix_mail_recipients_active", ["municipality_code", "active"], unique=False)

    op.create_table(
        "mail_outbox",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", INSTANT, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("sent_at", INSTANT, nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
    )
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.create_index("uq_mail_outbox_dedupe", ["municipality_code", "dedupe_key"], unique=True)
        batch_op.create_index("ix_mail_outbox_due", ["municipality_code", "status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_table("mail_outbox")
    op.drop_table("mail_recipients")
