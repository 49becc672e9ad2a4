"""The SQLite connection settings: every connection's pragmas, and an ingest run's writer."""

from __future__ import annotations

from pathlib import Path

from auditd.store.db import SQLITE_CACHE_KIB, SQLITE_WRITER_CACHE_KIB, bulk_writer, make_engine


def test_the_run_writer_has_a_smaller_page_cache_and_gives_its_connection_back_as_it_came(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")

    def pragma(connection, name: str) -> int:  # type: ignore[no-untyped-def]
        return int(connection.exec_driver_sql(f"PRAGMA {name}").scalar_one())

    try:
        with bulk_writer(engine) as writer:
            assert pragma(writer, "cache_size") == -SQLITE_WRITER_CACHE_KIB  # the run's memory bound
            assert pragma(writer, "wal_autocheckpoint") == 0  # checkpoints by the background thread
            writer.rollback()
        with engine.connect() as again:  # the pool's one connection, the writer's
            assert pragma(again, "cache_size") == -SQLITE_CACHE_KIB
            assert pragma(again, "wal_autocheckpoint") == 1000
    finally:
        engine.dispose()
