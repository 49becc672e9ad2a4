"""Platform security: API tokens, TOTP replay guard, session epochs, password change time.

- ``api_tokens``: bearer tokens for ``/api/v1`` (stored as SHA-256, scoped, expiring, revocable).
- ``platform_users.totp_last_step``: the last accepted RFC 6238 time step, so a code is used once.
- ``platform_users.session_epoch``: raised on logout and password change to end every session copy.
- ``platform_users.password_changed_at``: when the password was last set.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("platform_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "password_changed_at",
                sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False))

    op.create_table(
        "api_tokens",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=80), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["platform_users.id"], name=op.f("fk_api_tokens_user_id_platform_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index("uq_api_tokens_name", ["municipality_code", "name"], unique=True)
        batch_op.create_index("uq_api_tokens_token_hash", ["token_hash"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index("uq_api_tokens_token_hash")
        batch_op.drop_index("uq_api_tokens_name")
    op.drop_table("api_tokens")

    with op.batch_alter_table("platform_users", schema=None) as batch_op:
        batch_op.drop_column("session_epoch")
        batch_op.drop_column("password_changed_at")
        batch_op.drop_column("totp_last_step")
