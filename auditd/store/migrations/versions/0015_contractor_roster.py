"""The contractor roster (委託業者の作業者名簿): contracts with their period, work window and sections
(``contracts``), and the people working under each with the day they signed the pledge
(``contract_operators``). A contractor's grants end with the contract.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def _code() -> sa.Column[str]:
    return sa.Column("municipality_code", sa.String(length=6), nullable=False)


def upgrade() -> None:
    op.create_table(
        "contracts",
        _code(),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("contractor", sa.String(length=128), nullable=False),
        sa.Column("contract_number", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("window_start", sa.Time(), nullable=True),
        sa.Column("window_end", sa.Time(), nullable=True),
        sa.Column("weekdays", sa.String(length=7), nullable=False),
        sa.Column("sections", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
    )
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.create_index("ux_contracts_number", ["municipality_code", "contract_number"], unique=True)

    op.create_table(
        "contract_operators",
        _code(),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("pledge_date", sa.Date(), nullable=True),
        sa.Column("assigned_by", sa.String(length=64), nullable=False),
        sa.Column("assigned_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("contract_id", "staff_id", name=op.f("pk_contract_operators")),
    )
    with op.batch_alter_table("contract_operators", schema=None) as batch_op:
        batch_op.create_index("ix_contract_operators_staff", ["municipality_code", "staff_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("contract_operators", schema=None) as batch_op:
        batch_op.drop_index("ix_contract_operators_staff")
    op.drop_table("contract_operators")
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.drop_index("ux_contracts_number")
    op.drop_table("contracts")
