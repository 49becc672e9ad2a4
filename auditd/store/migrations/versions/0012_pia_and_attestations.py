"""The PIA register (``pia_reports``) with its append-only reviews (``pia_reviews``), and the
append-only attestations with their evidence files (``attestations``).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from auditd.store import append_only

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")
APPEND_ONLY = ("pia_reviews", "attestations")


def _code() -> sa.Column[str]:
    return sa.Column("municipality_code", sa.String(length=6), nullable=False)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), autoincrement=True, nullable=False)


def upgrade() -> None:
    op.create_table(
        "pia_reports",
        _code(),
        _id(),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("jimu", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=False),
        sa.Column("last_reviewed_on", sa.Date(), nullable=True),
        sa.Column("reassessed_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("updated_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pia_reports")),
    )
    with op.batch_alter_table("pia_reports", schema=None) as batch_op:
        batch_op.create_index("ix_pia_reports_active", ["municipality_code", "active"], unique=False)

    op.create_table(
        "pia_reviews",
        _code(),
        _id(),
        sa.Column("pia_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reviewed_on", sa.Date(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pia_reviews")),
    )
    with op.batch_alter_table("pia_reviews", schema=None) as batch_op:
        batch_op.create_index("ix_pia_reviews_pia", ["municipality_code", "pia_id", "reviewed_on"], unique=False)

    op.create_table(
        "attestations",
        _code(),
        _id(),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(length=32), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("evidence_name", sa.String(length=200), nullable=True),
        sa.Column("evidence_media_type", sa.String(length=100), nullable=True),
        sa.Column("evidence_size", sa.Integer(), nullable=True),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=True),
        sa.Column("evidence", sa.LargeBinary(), nullable=True),
        sa.Column("attested_by", sa.String(length=64), nullable=False),
        sa.Column("attested_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attestations")),
    )
    with op.batch_alter_table("attestations", schema=None) as batch_op:
        batch_op.create_index("ix_attestations_item", ["municipality_code", "fiscal_year", "item"], unique=False)

    append_only.create_triggers(APPEND_ONLY)  # auditd_append_only() is made by 0001


def downgrade() -> None:
    append_only.drop_triggers(APPEND_ONLY)
    op.drop_table("attestations")
    op.drop_table("pia_reviews")
    op.drop_table("pia_reports")
