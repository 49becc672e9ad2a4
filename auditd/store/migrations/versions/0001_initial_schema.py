"""Initial schema: canonical events, ingest bookkeeping, reference data, vault, platform users, trail.

``events`` is range-partitioned by month on PostgreSQL (partitions are created as data arrives);
``events`` and ``trail`` are append-only on both backends, enforced by triggers.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 16:54:47.995439
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from auditd.store import append_only

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("events", "trail")


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=True),
        sa.Column("disabled_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("municipality_code", "user_id", name=op.f("pk_accounts")),
    )
    op.create_table(
        "calendar_days",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("municipality_code", "day", name=op.f("pk_calendar_days")),
    )
    op.create_table(
        "cases",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("jimu", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject_hash", sa.String(length=32), nullable=False),
        sa.Column("section_code", sa.String(length=32), nullable=True),
        sa.Column("assignee", sa.String(length=32), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=True),
        sa.PrimaryKeyConstraint("municipality_code", "case_id", name=op.f("pk_cases")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_subject", ["municipality_code", "subject_hash", "opened_at"], unique=False)

    op.create_table(
        "events",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.Uuid(as_uuid=False).with_variant(sa.LargeBinary(16), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("terminal_id", sa.String(length=64), nullable=True),
        sa.Column("session_id", sa.String(length=128), nullable=True),
        sa.Column("jimu", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("screen", sa.String(length=128), nullable=True),
        sa.Column("function", sa.String(length=128), nullable=True),
        sa.Column("subject_hash", sa.String(length=32), nullable=True),
        sa.Column("subject_count", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("auth_factors", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("pii_masked", sa.Boolean(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("raw_pos", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("municipality_code", "ts", "event_id", name=op.f("pk_events")),
        postgresql_partition_by="RANGE (ts)",
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_events_subject_ts",
            ["municipality_code", "subject_hash", "ts"],
            unique=False,
            postgresql_where=sa.text("subject_hash IS NOT NULL"),
            sqlite_where=sa.text("subject_hash IS NOT NULL"),
        )
        batch_op.create_index("ix_events_user_ts", ["municipality_code", "user_id", "ts"], unique=False)

    op.create_table(
        "grants",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("approver", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grants")),
    )
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.create_index("ix_grants_user", ["municipality_code", "user_id", "valid_from"], unique=False)

    op.create_table(
        "ingest_runs",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("profile", sa.String(length=128), nullable=False),
        sa.Column("input", sa.String(length=1024), nullable=False),
        sa.Column("fingerprint", sa.String(length=80), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=True),
        sa.Column("records_read", sa.BigInteger(), nullable=False),
        sa.Column("accepted", sa.BigInteger(), nullable=False),
        sa.Column("duplicates", sa.BigInteger(), nullable=False),
        sa.Column("quarantined", sa.BigInteger(), nullable=False),
        sa.Column("masked", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.BigInteger(), nullable=False),
        sa.Column("identity_window", sa.LargeBinary(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_runs")),
    )
    with op.batch_alter_table("ingest_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ingest_runs_fingerprint", ["municipality_code", "source", "fingerprint"], unique=False
        )

    op.create_table(
        "municipalities",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("prefecture", sa.String(length=16), nullable=True),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("municipality_code", name=op.f("pk_municipalities")),
    )
    op.create_table(
        "output_approvals",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("approval_id", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("jimu", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("max_count", sa.Integer(), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.Column("approver", sa.String(length=32), nullable=True),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("municipality_code", "approval_id", name=op.f("pk_output_approvals")),
    )
    op.create_table(
        "overtime",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("start", sa.Time(), nullable=False),
        sa.Column("end", sa.Time(), nullable=False),
        sa.Column("approver", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_overtime")),
    )
    with op.batch_alter_table("overtime", schema=None) as batch_op:
        batch_op.create_index("ix_overtime_staff_day", ["municipality_code", "staff_id", "day"], unique=False)

    op.create_table(
        "platform_users",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("section_code", sa.String(length=32), nullable=True),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("totp_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_users")),
    )
    with op.batch_alter_table("platform_users", schema=None) as batch_op:
        batch_op.create_index("uq_platform_users_username", ["municipality_code", "username"], unique=True)

    op.create_table(
        "residents",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("subject_hash", sa.String(length=32), nullable=False),
        sa.Column("household_hash", sa.String(length=32), nullable=True),
        sa.Column("area_code", sa.String(length=32), nullable=True),
        sa.Column("surname_kana", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("municipality_code", "subject_hash", name=op.f("pk_residents")),
    )
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.create_index("ix_residents_household", ["municipality_code", "household_hash"], unique=False)

    op.create_table(
        "sections",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("section_code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("parent_code", sa.String(length=32), nullable=True),
        sa.Column("hours_start", sa.Time(), nullable=True),
        sa.Column("hours_end", sa.Time(), nullable=True),
        sa.Column("weekend_counter", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("municipality_code", "section_code", name=op.f("pk_sections")),
    )
    op.create_table(
        "sources",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("profile", sa.String(length=128), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=True),
        sa.Column("expected_max_silence_hours", sa.Integer(), nullable=True),
        sa.Column("push_token_hash", sa.String(length=128), nullable=True),
        sa.Column("last_event_ts", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sources")),
    )
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.create_index("uq_sources_name", ["municipality_code", "name"], unique=True)

    op.create_table(
        "staff",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("name_kana", sa.String(length=64), nullable=True),
        sa.Column("employment", sa.String(length=16), nullable=False),
        sa.Column("contractor", sa.String(length=128), nullable=True),
        sa.Column("pledge_date", sa.Date(), nullable=True),
        sa.Column("hired_on", sa.Date(), nullable=True),
        sa.Column("retired_on", sa.Date(), nullable=True),
        sa.Column("resident_hash", sa.String(length=32), nullable=True),
        sa.Column("household_hash", sa.String(length=32), nullable=True),
        sa.Column("home_area", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("municipality_code", "staff_id", name=op.f("pk_staff")),
    )
    op.create_table(
        "staff_assignments",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("section_code", sa.String(length=32), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("position", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_assignments")),
    )
    with op.batch_alter_table("staff_assignments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_staff_assignments_staff", ["municipality_code", "staff_id", "valid_from"], unique=False
        )

    op.create_table(
        "subjects",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("subject_hash", sa.String(length=32), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        sa.Column("is_mynumber", sa.Boolean(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("municipality_code", "subject_hash", name=op.f("pk_subjects")),
    )
    op.create_table(
        "terminals",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("section_code", sa.String(length=32), nullable=True),
        sa.Column("segment", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("registered_on", sa.Date(), nullable=True),
        sa.Column("retired_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("municipality_code", "terminal_id", name=op.f("pk_terminals")),
    )
    op.create_table(
        "trail",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=True),
        sa.Column("target_id", sa.String(length=128), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trail")),
    )
    with op.batch_alter_table("trail", schema=None) as batch_op:
        batch_op.create_index("ix_trail_actor", ["municipality_code", "actor", "ts"], unique=False)
        batch_op.create_index("ix_trail_ts", ["municipality_code", "ts"], unique=False)

    op.create_table(
        "watchlist",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_hash", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlist")),
    )
    with op.batch_alter_table("watchlist", schema=None) as batch_op:
        batch_op.create_index("ix_watchlist_subject", ["municipality_code", "subject_hash"], unique=False)

    op.create_table(
        "ingest_batches",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("min_ts", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=True),
        sa.Column("max_ts", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=True),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=True),
        sa.Column("prev_digest", sa.LargeBinary(length=32), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["ingest_runs.id"], name=op.f("fk_ingest_batches_run_id_ingest_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_batches")),
    )
    op.create_table(
        "quarantine",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_key", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("raw_ref", sa.String(length=512), nullable=False),
        sa.Column("reason_code", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw_text", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["ingest_runs.id"], name=op.f("fk_quarantine_run_id_ingest_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.create_index("ix_quarantine_run", ["municipality_code", "run_id"], unique=False)
        batch_op.create_index("uq_quarantine_record", ["municipality_code", "record_key"], unique=True)

    append_only.create_function()
    append_only.create_triggers(APPEND_ONLY)


def downgrade() -> None:
    append_only.drop_triggers(APPEND_ONLY)
    append_only.drop_function()
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_index("uq_quarantine_record")
        batch_op.drop_index("ix_quarantine_run")

    op.drop_table("quarantine")
    op.drop_table("ingest_batches")
    with op.batch_alter_table("watchlist", schema=None) as batch_op:
        batch_op.drop_index("ix_watchlist_subject")

    op.drop_table("watchlist")
    with op.batch_alter_table("trail", schema=None) as batch_op:
        batch_op.drop_index("ix_trail_ts")
        batch_op.drop_index("ix_trail_actor")

    op.drop_table("trail")
    op.drop_table("terminals")
    op.drop_table("subjects")
    with op.batch_alter_table("staff_assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_staff_assignments_staff")

    op.drop_table("staff_assignments")
    op.drop_table("staff")
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_index("uq_sources_name")

    op.drop_table("sources")
    op.drop_table("sections")
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.drop_index("ix_residents_household")

    op.drop_table("residents")
    with op.batch_alter_table("platform_users", schema=None) as batch_op:
        batch_op.drop_index("uq_platform_users_username")

    op.drop_table("platform_users")
    with op.batch_alter_table("overtime", schema=None) as batch_op:
        batch_op.drop_index("ix_overtime_staff_day")

    op.drop_table("overtime")
    op.drop_table("output_approvals")
    op.drop_table("municipalities")
    with op.batch_alter_table("ingest_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_ingest_runs_fingerprint")

    op.drop_table("ingest_runs")
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_index("ix_grants_user")

    op.drop_table("grants")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_user_ts")
        batch_op.drop_index(
            "ix_events_subject_ts",
            postgresql_where=sa.text("subject_hash IS NOT NULL"),
            sqlite_where=sa.text("subject_hash IS NOT NULL"),
        )

    op.drop_table("events")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_subject")

    op.drop_table("cases")
    op.drop_table("calendar_days")
    op.drop_table("accounts")
