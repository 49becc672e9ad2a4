"""Cases (事案) grouping alerts, their append-only history, evidence attachments, suppressions and the
breach-report checklist; alerts learn their section, case and suppression.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from auditd.store import append_only

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")
APPEND_ONLY = ("alert_case_events",)


def _code() -> sa.Column[str]:
    return sa.Column("municipality_code", sa.String(length=6), nullable=False)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), autoincrement=True, nullable=False)


def upgrade() -> None:
    op.create_table(
        "alert_cases",
        _code(),
        _id(),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("section", sa.String(length=32), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("disposition", sa.String(length=16), nullable=True),
        sa.Column("disposition_reason", sa.Text(), nullable=True),
        sa.Column("subjects", sa.Text(), nullable=False),
        sa.Column("first_start", INSTANT, nullable=False),
        sa.Column("last_end", INSTANT, nullable=False),
        sa.Column("alert_count", sa.Integer(), nullable=False),
        sa.Column("opened_at", INSTANT, nullable=False),
        sa.Column("updated_at", INSTANT, nullable=False),
        sa.Column("closed_at", INSTANT, nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_cases")),
    )
    with op.batch_alter_table("alert_cases", schema=None) as batch_op:
        batch_op.create_index("ix_alert_cases_status", ["municipality_code", "status", "opened_at"], unique=False)
        batch_op.create_index("ix_alert_cases_user", ["municipality_code", "user_id"], unique=False)
        batch_op.create_index("ix_alert_cases_section", ["municipality_code", "section", "status"], unique=False)

    op.create_table(
        "alert_case_events",
        _code(),
        _id(),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("ts", INSTANT, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_case_events")),
    )
    with op.batch_alter_table("alert_case_events", schema=None) as batch_op:
        batch_op.create_index("ix_alert_case_events_case", ["municipality_code", "case_id", "ts"], unique=False)

    op.create_table(
        "alert_case_attachments",
        _code(),
        _id(),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_case_attachments")),
    )
    with op.batch_alter_table("alert_case_attachments", schema=None) as batch_op:
        batch_op.create_index("ix_alert_case_attachments_case", ["municipality_code", "case_id"], unique=False)

    op.create_table(
        "suppressions",
        _code(),
        _id(),
        sa.Column("rule", sa.String(length=8), nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("subject", sa.String(length=64), nullable=True),
        sa.Column("section", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("revoked_at", INSTANT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
    )
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.create_index("ix_suppressions_expiry", ["municipality_code", "expires_on"], unique=False)

    op.create_table(
        "breach_reports",
        _code(),
        _id(),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("discovered_on", sa.Date(), nullable=False),
        sa.Column("mynumber_system", sa.Boolean(), nullable=False),
        sa.Column("wrongful_purpose", sa.Boolean(), nullable=False),
        sa.Column("over_100", sa.Boolean(), nullable=False),
        sa.Column("public_exposure", sa.Boolean(), nullable=False),
        sa.Column("reportable", sa.Boolean(), nullable=False),
        sa.Column("preliminary_due", sa.Date(), nullable=False),
        sa.Column("final_due", sa.Date(), nullable=False),
        sa.Column("preliminary_reported_at", INSTANT, nullable=True),
        sa.Column("final_reported_at", INSTANT, nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("opened_at", INSTANT, nullable=False),
        sa.Column("updated_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breach_reports")),
    )
    with op.batch_alter_table("breach_reports", schema=None) as batch_op:
        batch_op.create_index("uq_breach_reports_case", ["municipality_code", "case_id"], unique=True)

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("section", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("case_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("suppression_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_alerts_case", ["municipality_code", "case_id"], unique=False)

    append_only.create_triggers(APPEND_ONLY)  # auditd_append_only() is made by 0001


def downgrade() -> None:
    append_only.drop_triggers(APPEND_ONLY)
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_case")
        batch_op.drop_column("suppression_id")
        batch_op.drop_column("case_id")
        batch_op.drop_column("section")
    for table in ("breach_reports", "suppressions", "alert_case_attachments", "alert_case_events", "alert_cases"):
        op.drop_table(table)
