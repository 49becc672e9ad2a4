"""Run Alembic from code: ``auditd db upgrade`` and the test fixtures use the same path."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from auditd.errors import StoreUnavailable

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Migrate the store to ``revision``; returns (before, after)."""
    before = current_revision(engine)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return before, current_revision(engine) or ""


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def revision(engine: Engine, message: str) -> None:
    """Write a new migration by comparing the models with the (migrated) database. For developers."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)


def require_current(engine: Engine) -> None:
    """Raise :class:`StoreUnavailable` with the fix if the store is not at the latest migration."""
    try:
        current = current_revision(engine)
    except Exception as exc:
        raise StoreUnavailable(f"cannot open the store: {exc}", hint="check AUDITD_DATABASE_URL") from exc
    head = head_revision()
    if current != head:
        raise StoreUnavailable(
            f"the store is at migration {current or '(none)'}, this version of auditd needs {head}",
            hint="run: auditd db upgrade",
        )
