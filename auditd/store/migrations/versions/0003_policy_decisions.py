"""Policy decisions: a partial index of login events (the sessions operations are joined to), policy
versions, violations, which version decided each ingest batch, output approvals that name an account
(a batch job) instead of a person, and a generation counter of reference data (for caches).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")
EVENT_ID = sa.Uuid(as_uuid=False).with_variant(sa.LargeBinary(16), "sqlite")


def upgrade() -> None:
    op.create_index(
        "ix_events_sessions",
        "events",
        ["municipality_code", "ts", "user_id", "terminal_id", "session_id", "action", "result", "auth_factors"],
        postgresql_where=sa.text("action IN ('login', 'logout')"),
        sqlite_where=sa.text("action IN ('login', 'logout')"),
    )
    op.create_table(
        "policy_versions",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("valid_from", INSTANT, nullable=False),
        sa.Column("loaded_at", INSTANT, nullable=False),
        sa.Column("sources", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_versions")),
    )
    with op.batch_alter_table("policy_versions", schema=None) as batch_op:
        batch_op.create_index("uq_policy_versions_digest", ["municipality_code", "digest"], unique=True)

    op.create_table(
        "violations",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("ts", INSTANT, nullable=False),
        sa.Column("event_id", EVENT_ID, nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("policy_version_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("decided_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint(
            "municipality_code", "ts", "event_id", "rule", "policy_version_id", name=op.f("pk_violations")
        ),
    )
    with op.batch_alter_table("violations", schema=None) as batch_op:
        batch_op.create_index("ix_violations_rule_ts", ["municipality_code", "rule", "ts"], unique=False)
        batch_op.create_index("ix_violations_user_ts", ["municipality_code", "user_id", "ts"], unique=False)

    op.create_table(
        "reference_generations",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("changed_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("municipality_code", name=op.f("pk_reference_generations")),
    )

    with op.batch_alter_table("ingest_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("decided_version_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("decided_at", INSTANT, nullable=True))

    with op.batch_alter_table("output_approvals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.String(length=64), nullable=True))
        batch_op.alter_column("staff_id", existing_type=sa.String(length=32), nullable=True)


def downgrade() -> None:
    op.drop_index("ix_events_sessions", table_name="events")
    with op.batch_alter_table("output_approvals", schema=None) as batch_op:
        batch_op.alter_column("staff_id", existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_column("user_id")
    op.drop_table("reference_generations")
    with op.batch_alter_table("ingest_batches", schema=None) as batch_op:
        batch_op.drop_column("decided_at")
        batch_op.drop_column("decided_version_id")
    with op.batch_alter_table("violations", schema=None) as batch_op:
        batch_op.drop_index("ix_violations_user_ts")
        batch_op.drop_index("ix_violations_rule_ts")
    op.drop_table("violations")
    with op.batch_alter_table("policy_versions", schema=None) as batch_op:
        batch_op.drop_index("uq_policy_versions_digest")
    op.drop_table("policy_versions")
