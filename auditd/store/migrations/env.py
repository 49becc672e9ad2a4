"""Alembic environment: runs on the connection auditd hands it (see :mod:`auditd.store.migrate`)."""

from __future__ import annotations

from typing import Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection

from auditd.settings import get_settings
from auditd.store.base import EventId, UTCDateTime
from auditd.store.db import make_engine
from auditd.store.models import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER on SQLite = copy and swap
        compare_type=True,
        include_object=_include_object,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def _render_item(type_: str, obj: object, autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations must not import application types: spell them with plain SQLAlchemy variants.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return 'sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")'
    if type_ == "type" and isinstance(obj, EventId):
        return 'sa.Uuid(as_uuid=False).with_variant(sa.LargeBinary(16), "sqlite")'
    return False


def _include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # Monthly partitions of ``events`` on PostgreSQL are data, not schema.
    return not (type_ == "table" and name is not None and name.startswith("events_p"))


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = make_engine(get_settings().db_url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
