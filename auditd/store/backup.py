"""Backups of the store while it is in use, and restoring one.

- **SQLite**: the online backup API of ``sqlite3`` copies the database into a new file in one step.
  In WAL mode a reader never blocks the writer, so an ingest goes on while the copy is made, and the
  copy is the database as of one instant (a snapshot), never a torn mix of two.
- **PostgreSQL**: ``pg_dump -Fc`` (custom format, one repeatable-read snapshot); restored with
  ``pg_restore``. The password is passed in ``PGPASSWORD``, never on a command line other users see.

The keys (``<data_dir>/keys``) are not in a backup, by design: a stolen backup without them is
pseudonyms and ciphertext. They must be backed up separately (see docs/integrity.md), and a restored
store verifies only with the same ``chain_key``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import URL

from auditd.errors import ConfigError, Conflict, ValidationFailed
from auditd.settings import Settings
from auditd.store.db import make_engine
from auditd.trail.service import record as record_trail


@dataclass(frozen=True)
class BackupResult:
    path: Path
    bytes: int
    seconds: float


@dataclass(frozen=True)
class RestoreResult:
    path: Path
    target: str
    seconds: float


def default_backup_path(settings: Settings, engine: Engine) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    suffix = "db" if engine.dialect.name == "sqlite" else "dump"
    return settings.data_dir / "backups" / f"auditd-{stamp}.{suffix}"


def backup(engine: Engine, settings: Settings, out: Path | None, *, actor: str) -> BackupResult:
    """Write a consistent copy of the store to ``out`` (never over an existing file), recorded in the trail."""
    target = out or default_backup_path(settings, engine)
    if target.exists():
        raise Conflict(f"{target} exists", hint="give another --out; a backup never overwrites a file")
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if engine.dialect.name == "sqlite":
        _sqlite_backup(engine, target)
    elif engine.dialect.name == "postgresql":
        _pg_dump(engine.url, target)
    else:
        raise ConfigError(f"no backup method for {engine.dialect.name}")
    size = target.stat().st_size
    # A transaction of its own that starts by writing: on SQLite, one that read first could not turn
    # into a writer once the running ingest has committed (SQLITE_BUSY_SNAPSHOT, no waiting).
    with engine.begin() as connection:
        record_trail(
            connection,
            settings.municipality_code,
            actor,
            "backup",
            "store",
            target.name,
            {"path": str(target.resolve()), "bytes": size, "backend": engine.dialect.name},
        )
    return BackupResult(target, size, time.perf_counter() - started)


def _sqlite_backup(engine: Engine, target: Path) -> None:
    database = engine.url.database
    if not database or database == ":memory:":
        raise ConfigError("an in-memory SQLite store cannot be backed up")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(database, timeout=30)
    try:
        copy = sqlite3.connect(partial)
        try:
            # One step (pages=-1): the whole copy reads one snapshot. Stepwise copying would restart
            # every time the ingest commits, and might never finish on a busy store.
            source.backup(copy, pages=-1)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        finally:
            copy.close()
    finally:
        source.close()
    os.replace(partial, target)


def _pg_environment(url: URL) -> dict[str, str]:
    env = dict(os.environ)
    for variable, value in (
        ("PGHOST", url.host),
        ("PGPORT", None if url.port is None else str(url.port)),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
        ("PGDATABASE", url.database),
    ):
        if value:
            env[variable] = str(value)
    return env


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ConfigError(f"{name} not found", hint="install the PostgreSQL client (apt-get install postgresql-client)")
    return found


def _pg_dump(url: URL, target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    done = subprocess.run(  # noqa: S603 - a list of our own arguments, no shell
        [_pg_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={partial}"],
        env=_pg_environment(url),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise ConfigError(f"pg_dump failed: {done.stderr.strip()[-2000:]}")
    os.replace(partial, target)


def store_has_data(engine: Engine) -> bool:
    """Whether any table of the store holds a row (an upgraded but unused store is empty)."""
    tables = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
    with engine.connect() as connection:
        for table in tables:
            if connection.execute(text(f'SELECT 1 FROM "{table}" LIMIT 1')).first() is not None:
                return True
    return False


def restore(settings: Settings, source: Path, *, force: bool, actor: str) -> RestoreResult:
    """Replace the store named by ``settings`` with the backup at ``source``.

    Refuses when the store holds any row, unless ``force``. Stop the server and ingests first: the
    restore replaces the whole database under them. On PostgreSQL the store's objects are dropped
    first; should ``pg_restore`` then fail, the store is left empty and the backup is untouched.
    """
    if not source.is_file():
        raise ValidationFailed(f"{source}: no such file")
    engine = make_engine(settings.db_url)
    started = time.perf_counter()
    try:
        exists = engine.dialect.name != "sqlite" or Path(engine.url.database or "").exists()
        if exists and store_has_data(engine) and not force:
            raise Conflict(
                f"the store at {engine.url.render_as_string(hide_password=True)} already holds data",
                hint="restore into an empty store, or give --force to replace it",
            )
        if engine.dialect.name == "sqlite":
            engine.dispose()
            _sqlite_restore(source, Path(engine.url.database or ""))
        elif engine.dialect.name == "postgresql":
            _pg_clear(engine)
            engine.dispose()
            _pg_restore(engine.url, source)
        else:
            raise ConfigError(f"no restore method for {engine.dialect.name}")
        engine.dispose()
        with engine.begin() as connection:
            record_trail(
                connection,
                settings.municipality_code,
                actor,
                "restore",
                "store",
                source.name,
                {"from": str(source.resolve()), "forced": force, "backend": engine.dialect.name},
            )
        target = engine.url.render_as_string(hide_password=True)
    finally:
        engine.dispose()
    return RestoreResult(source, target, time.perf_counter() - started)


def _sqlite_restore(source: Path, target: Path) -> None:
    try:
        backup_file = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            backup_file.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            backup_file.close()
    except sqlite3.DatabaseError as exc:
        raise ValidationFailed(f"{source} is not an auditd SQLite backup ({exc})") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    origin = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        destination = sqlite3.connect(target, timeout=30)
        try:
            origin.backup(destination, pages=-1)  # replaces every page of the target, -wal included
            destination.execute("PRAGMA journal_mode=WAL")
        finally:
            destination.close()
    finally:
        origin.close()


def _pg_clear(engine: Engine) -> None:
    """Drop the store's objects in its schema (one transaction), so ``pg_restore`` starts from nothing.

    ``pg_restore --clean`` cannot do this for a partitioned ``events`` table (it tries to drop the
    partitions' inherited keys one by one and fails), hence the explicit drops.
    """
    with engine.begin() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        found = inspect(connection)
        for view in found.get_view_names(schema=schema):
            connection.execute(text(f'DROP VIEW IF EXISTS "{schema}"."{view}" CASCADE'))
        for table in found.get_table_names(schema=schema):
            connection.execute(text(f'DROP TABLE IF EXISTS "{schema}"."{table}" CASCADE'))
        for sequence in found.get_sequence_names(schema=schema):
            connection.execute(text(f'DROP SEQUENCE IF EXISTS "{schema}"."{sequence}" CASCADE'))
        functions = connection.execute(
            text(
                "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = :schema AND p.prokind = 'f'"
            ),
            {"schema": schema},
        ).scalars()
        for function in list(functions):
            connection.execute(text(f"DROP FUNCTION IF EXISTS {function} CASCADE"))


def _pg_restore(url: URL, source: Path) -> None:
    done = subprocess.run(  # noqa: S603 - a list of our own arguments, no shell
        [
            _pg_tool("pg_restore"),
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={url.database}",
            str(source),
        ],
        env=_pg_environment(url),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ValidationFailed(f"pg_restore failed: {done.stderr.strip()[-2000:]}")
