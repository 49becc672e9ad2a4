"""Fixtures: the real migrations on SQLite and on PostgreSQL (when AUDITD_TEST_PG_URL is set).

- ``engine``: a fresh migrated database per test, on each backend (test ids ``[sqlite]`` and
  ``[postgresql]``). Made by copying a migrated template: a file copy on SQLite,
  ``CREATE DATABASE … TEMPLATE`` on PostgreSQL.
- ``db``: a connection inside a transaction that is rolled back after the test, on a database
  shared by the session (for repository and service tests).
- ``settings``: settings pointing at the test's database and a private data directory.

Under ``CI=true`` a missing AUDITD_TEST_PG_URL is an error, so CI can never silently skip PostgreSQL.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from auditd.api.app import create_app
from auditd.auth.settings import SecuritySettings
from auditd.settings import Settings
from auditd.store import migrate
from auditd.store.db import make_engine

PG_URL = os.environ.get("AUDITD_TEST_PG_URL")
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]
_counter = itertools.count()


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CI") and not PG_URL:
        raise pytest.UsageError("CI=true but AUDITD_TEST_PG_URL is not set: the tests must run on PostgreSQL too")


def pytest_report_header(config: pytest.Config) -> str:
    shown = make_url(PG_URL).render_as_string(hide_password=True) if PG_URL else "not set (PostgreSQL tests skipped)"
    return f"auditd test backends: {', '.join(BACKENDS)}; AUDITD_TEST_PG_URL={shown}"


def _pg_admin() -> Engine:
    assert PG_URL is not None
    return make_engine(make_url(PG_URL).set(database="postgres").render_as_string(hide_password=False))


def _pg_url(database: str) -> str:
    assert PG_URL is not None
    return make_url(PG_URL).set(database=database).render_as_string(hide_password=False)


def _pg_exec(sql: str) -> None:
    admin = _pg_admin()
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(sql))
    admin.dispose()


class Template:
    """A migrated database of one backend from which each test gets its own copy."""

    def __init__(self, backend: str, workdir: Path) -> None:
        self.backend = backend
        self.workdir = workdir
        self.name = f"auditd_tpl_{os.getpid()}"
        if backend == "sqlite":
            self.path = workdir / "template.db"
            engine = make_engine(f"sqlite:///{self.path}")
            migrate.upgrade(engine)
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()
        else:
            _pg_exec(f"DROP DATABASE IF EXISTS {self.name}")
            _pg_exec(f"CREATE DATABASE {self.name}")
            engine = make_engine(_pg_url(self.name))
            migrate.upgrade(engine)
            engine.dispose()

    def new_database(self) -> str:
        n = next(_counter)
        if self.backend == "sqlite":
            target = self.workdir / f"test_{n}.db"
            shutil.copyfile(self.path, target)
            return f"sqlite:///{target}"
        name = f"auditd_t_{os.getpid()}_{n}"
        _pg_exec(f"CREATE DATABASE {name} TEMPLATE {self.name}")
        return _pg_url(name)

    def drop(self, url: str) -> None:
        if self.backend == "postgresql":
            name = make_url(url).database
            _pg_exec(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        else:
            database = make_url(url).database
            assert database is not None
            for suffix in ("", "-wal", "-shm"):
                Path(database + suffix).unlink(missing_ok=True)

    def close(self) -> None:
        if self.backend == "postgresql":
            _pg_exec(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


@pytest.fixture(scope="session", params=BACKENDS)
def template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    tpl = Template(request.param, tmp_path_factory.mktemp(f"db-{request.param}"))
    yield tpl
    tpl.close()


@pytest.fixture
def database_url(template: Template) -> Iterator[str]:
    url = template.new_database()
    yield url
    template.drop(url)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def backend(template: Template) -> str:
    return template.backend


@pytest.fixture(scope="session")
def shared_engine(template: Template) -> Iterator[Engine]:
    url = template.new_database()
    eng = make_engine(url)
    yield eng
    eng.dispose()
    template.drop(url)


@pytest.fixture
def db(shared_engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction rolled back after the test: nothing a test writes survives it."""
    connection = shared_engine.connect()
    transaction = connection.begin()
    try:
        yield connection
    finally:
        transaction.rollback()
        connection.close()


@pytest.fixture
def session(db: Connection) -> Iterator[Session]:
    """An ORM session inside the rolled-back transaction; its commits become savepoints."""
    with Session(bind=db, join_transaction_mode="create_savepoint") as s:
        yield s


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(env="test", data_dir=tmp_path / "data", database_url=database_url)


@pytest.fixture
def conf(tmp_path: Path) -> Settings:
    """Settings for a test that works on the ``db`` connection: keys in the test's own directory."""
    return Settings(env="test", data_dir=tmp_path)


@pytest.fixture
def app(engine: Engine, settings: Settings) -> FastAPI:
    """The real application on the test's database, with login limits no test reaches."""
    lenient = SecuritySettings(_env_file=None, login_rate_per_ip=10_000, login_rate_per_user=10_000)
    return create_app(settings, engine, security=lenient)


@pytest.fixture
def env_for_cli(settings: Settings) -> dict[str, str]:
    """Environment for running the ``auditd`` command in a subprocess against the test's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITD_")}
    env.update(
        AUDITD_ENV="test",
        AUDITD_DATA_DIR=str(settings.data_dir),
        AUDITD_DATABASE_URL=settings.db_url,
        COLUMNS="200",
        NO_COLOR="1",
    )
    return env


@pytest.fixture(scope="session")
def small_city(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A small generated city (files only), shared by the tests that read it."""
    from auditd.demo.generator import generate_city
    from auditd.demo.world import CityConfig

    out = tmp_path_factory.mktemp("city")
    return generate_city(out, CityConfig(residents=3000, days=14, seed=7))


def describe_schema(engine: Engine) -> dict[str, object]:
    """Tables, columns (name, generic type, nullability), primary keys and indexes, backend-neutral."""
    from sqlalchemy import inspect

    inspector = inspect(engine)
    partitions = set()
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            partitions = set(
                conn.execute(
                    text("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid")
                ).scalars()
            )
    schema: dict[str, object] = {}
    for table in sorted(set(inspector.get_table_names()) - partitions):
        columns = [
            (
                c["name"],
                type(c["type"]).__mro__[1].__name__ if type(c["type"]).__name__.isupper() else type(c["type"]).__name__,
                c["nullable"],
            )
            for c in inspector.get_columns(table)
        ]
        indexes = sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table))
        pk = tuple(inspector.get_pk_constraint(table)["constrained_columns"])
        schema[table] = {
            "columns": [(n, nullable) for n, _t, nullable in columns],
            "pk": pk,
            "indexes": indexes,
        }
    return schema


@pytest.fixture
def schema_of():  # type: ignore[no-untyped-def]
    return describe_schema


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    """Say plainly how many tests ran on each backend (CI's output must show both)."""
    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if outcome == "passed" and report.when != "call":
                continue
            node = getattr(report, "nodeid", "")
            backend = next((b for b in ("sqlite", "postgresql") if f"[{b}" in node or f"-{b}]" in node), "no database")
            counts.setdefault(backend, {}).setdefault(outcome, 0)
            counts[backend][outcome] += 1
    terminalreporter.section("auditd: tests per backend")
    for backend in sorted(counts):
        parts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts[backend].items()))
        terminalreporter.write_line(f"{backend:>12}: {parts}")
