import os
import subprocess
import sys
from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DatabaseError

from auditd.events import repository as events_repo
from auditd.store import migrate
from auditd.store.db import make_engine
from auditd.store.models import APPEND_ONLY_TABLES, Base
from auditd.store.partitions import list_event_partitions
from auditd.trail.service import record


def test_every_table_carries_the_municipality_code():
    for table in Base.metadata.sorted_tables:
        assert "municipality_code" in table.c, table.name


def test_migrations_create_exactly_the_models(engine: Engine):
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    assert tables == set(Base.metadata.tables)
    for name, table in Base.metadata.tables.items():
        assert {c["name"] for c in inspect(engine).get_columns(name)} == set(table.c.keys()), name


def test_upgrade_is_idempotent_and_downgrade_round_trips(engine: Engine):
    assert migrate.upgrade(engine) == (migrate.head_revision(), migrate.head_revision())
    migrate.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()


def _event(ts: datetime, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "municipality_code": "999997",
        "event_id": os.urandom(16),
        "ts": ts,
        "source": "t",
        "system": "税務",
        "user_id": "u1",
        "terminal_id": "T1",
        "session_id": None,
        "jimu": "個人住民税",
        "action": "view",
        "screen": None,
        "function": None,
        "subject_hash": "a" * 32,
        "subject_count": 1,
        "result": "success",
        "auth_factors": None,
        "detail": None,
        "seq": None,
        "pii_masked": False,
        "batch_id": 1,
        "raw_pos": 1,
    }
    row.update(overrides)
    return row


def _insert(engine: Engine, *rows: dict[str, object]) -> int:
    frame = pd.DataFrame(rows)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    with engine.begin() as conn:
        return events_repo.insert_events(conn, frame)


@pytest.mark.parametrize("statement", ["UPDATE events SET user_id = 'someone-else'", "DELETE FROM events"])
def test_events_are_append_only(engine: Engine, statement: str):
    _insert(engine, _event(datetime(2026, 2, 3, 0, 15, tzinfo=UTC)))
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT user_id FROM events")).scalars().all() == ["u1"]


def test_the_platform_trail_is_append_only(engine: Engine):
    with engine.begin() as conn:
        record(conn, "999997", "tester", "login")
    for statement in ("UPDATE trail SET actor = 'x'", "DELETE FROM trail"):
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert "trail" in APPEND_ONLY_TABLES


def test_inserting_the_same_event_twice_stores_it_once(engine: Engine):
    row = _event(datetime(2026, 2, 3, 0, 15, tzinfo=UTC))
    assert _insert(engine, row) == 1
    assert _insert(engine, row, _event(datetime(2026, 2, 3, 1, 0, tzinfo=UTC))) == 1
    with engine.connect() as conn:
        assert events_repo.count_events(conn, "999997") == 2


def test_timestamps_come_back_timezone_aware_and_equal(engine: Engine):
    ts = datetime(2026, 3, 31, 15, 30, 1, 123456, tzinfo=UTC)  # 2026-04-01 00:30 JST: a month boundary in Japan
    _insert(engine, _event(ts))
    with engine.connect() as conn:
        frame = events_repo.events_frame(
            conn, "999997", datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)
        )
        assert frame["ts"].iloc[0] == pd.Timestamp(ts)
        assert events_repo.latest_event_ts(conn, "999997") == ts
        assert events_repo.daily_counts(conn, "999997", datetime(2026, 3, 1, tzinfo=UTC)) == [("2026-04-01", 1)]


def test_postgresql_partitions_are_created_by_month_as_data_arrives(engine: Engine, backend: str):
    if backend != "postgresql":
        pytest.skip("monthly partitions exist on PostgreSQL only")
    with engine.connect() as conn:
        assert list_event_partitions(conn) == []
    _insert(engine, _event(datetime(2026, 1, 10, tzinfo=UTC)), _event(datetime(2026, 3, 31, 15, 30, tzinfo=UTC)))
    with engine.connect() as conn:
        # 2026-03-31 15:30 UTC is April in Japan: partitions follow Japan months
        assert list_event_partitions(conn) == ["events_p202601", "events_p202604"]
        counts = conn.execute(text("SELECT tableoid::regclass::text, count(*) FROM events GROUP BY 1 ORDER BY 1")).all()
        assert counts == [("events_p202601", 1), ("events_p202604", 1)]
    _insert(engine, _event(datetime(2026, 2, 14, tzinfo=UTC)))
    with engine.connect() as conn:
        assert list_event_partitions(conn) == ["events_p202601", "events_p202602", "events_p202604"]


def test_db_upgrade_makes_the_same_tables_on_sqlite_and_postgresql(tmp_path, schema_of):  # type: ignore[no-untyped-def]
    """`auditd db upgrade` (the real command) on an empty SQLite file and an empty PostgreSQL database."""
    from tests_support import pg_database

    with pg_database() as pg_url:
        schemas = {}
        for name, url in (("sqlite", f"sqlite:///{tmp_path / 'empty.db'}"), ("postgresql", pg_url)):
            env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITD_")}
            env.update(AUDITD_DATABASE_URL=url, AUDITD_DATA_DIR=str(tmp_path / "data"), AUDITD_ENV="test")
            done = subprocess.run(
                [sys.executable, "-m", "auditd", "db", "upgrade"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
            assert "migrated" in done.stdout
            engine = make_engine(url)
            schemas[name] = schema_of(engine)
            engine.dispose()
        assert schemas["sqlite"] == schemas["postgresql"]
        assert "events" in schemas["sqlite"]
