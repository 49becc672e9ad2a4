"""Append-only tables, for migrations: triggers that refuse ``UPDATE`` and ``DELETE`` (and ``TRUNCATE``
on PostgreSQL) with a message naming the table.

Triggers stop mistakes and applications, not the database owner, who can drop them: the keyed chain
(``auditd verify``) is what detects that person's changes.
"""

from __future__ import annotations

from collections.abc import Iterable

from alembic import op

#: One PostgreSQL function shared by every append-only table (created by migration 0001).
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION auditd_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'auditd: % is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""


def create_function() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)


def drop_function() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS auditd_append_only()")


def create_triggers(tables: Iterable[str]) -> None:
    dialect = op.get_bind().dialect.name
    for table in tables:
        if dialect == "postgresql":
            op.execute(
                f"CREATE TRIGGER trg_{table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION auditd_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER trg_{table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION auditd_append_only()"
            )
        else:
            for verb in ("UPDATE", "DELETE"):
                op.execute(sqlite_trigger(table, verb))


def sqlite_trigger(table: str, verb: str) -> str:
    """The SQLite trigger refusing ``verb`` on ``table``: also what the retention purge re-creates
    after its own, recorded deletion (:mod:`auditd.archive.service`)."""
    return (
        f"CREATE TRIGGER trg_{table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'auditd: {table} is append-only ({verb} refused)'); END"
    )


def drop_triggers(tables: Iterable[str]) -> None:
    dialect = op.get_bind().dialect.name
    for table in tables:
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_no_truncate ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_no_delete")
