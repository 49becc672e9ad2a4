"""Partitions ahead, archiving months to Parquet, retention and restoring, on SQLite and PostgreSQL.

The store holds a chained history: January 2019 (one batch), a batch spanning 30 January – 3 February
2019 (a batch across two months), and November 2026 (recent). Commands run through the real CLI.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from cli_support import auditd
from sqlalchemy import Engine, text

from auditd.archive import service as archive_service
from auditd.events.rollup import hour_totals
from auditd.scheduler.service import CriticalFinding
from auditd.settings import Settings
from auditd.store.base import to_micros
from auditd.store.jobs import partitions_job, retention_job
from auditd.store.partitions import (
    detached_partitions,
    ensure_partitions_ahead,
    list_event_partitions,
    missing_partition_indexes,
)
from collectors.pipeline import Ingestor
from collectors.profile import resolve_profile

CODE = "999997"
OTHER = "131016"
JAN = date(2019, 1, 1)


def _records(path: Path, days: list[tuple[int, int, int]], per_day: int, tag: str) -> Path:
    lines = []
    for year, month, day in days:
        for i in range(per_day):
            lines.append(
                json.dumps(
                    {
                        "time": f"{year}-{month:02d}-{day:02d}T{9 + i % 8:02d}:{i // 60 % 60:02d}:{i % 60:02d}+09:00",
                        "operator": {"id": f"w{i % 7:03d}", "terminal": "T2101-01"},
                        "session": f"S{day}",
                        "business": "kokuho",
                        "op": "VIEW",
                        "screen": "K0101",
                        "target": {"atena": f"{10000 + i}"},
                        "count": 1,
                        "status": "OK",
                        "note": f"{tag} {i}",
                        "seq": i,
                    },
                    ensure_ascii=False,
                )
            )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _seed(engine: Engine, settings: Settings, folder: Path, code: str = CODE) -> dict[str, int]:
    folder.mkdir(parents=True, exist_ok=True)
    ingestor = Ingestor(engine, settings, code)
    profile = resolve_profile("demo-welfare")
    files = {
        "january": _records(folder / f"{code}-jan.jsonl", [(2019, 1, d) for d in (7, 15, 22)], 40, "jan"),
        "across": _records(folder / f"{code}-across.jsonl", [(2019, 1, 30), (2019, 2, 2)], 30, "across"),
        "recent": _records(folder / f"{code}-recent.jsonl", [(2026, 11, 10)], 50, "recent"),
    }
    return {name: ingestor.ingest_file(path, profile).accepted for name, path in files.items()}


@pytest.fixture
def store(engine: Engine, settings: Settings, tmp_path: Path) -> dict[str, int]:
    settings.check_secrets()
    return _seed(engine, settings, tmp_path / "logs")


def _count(engine: Engine, where: str = "", code: str = CODE) -> int:
    with engine.connect() as conn:
        sql = f"SELECT count(*) FROM events WHERE municipality_code = :c {where}"
        return int(conn.execute(text(sql), {"c": code}).scalar_one())


def _in_2019(engine: Engine, code: str = CODE) -> int:
    bound = datetime(2019, 12, 31, tzinfo=UTC)
    value = bound if engine.dialect.name == "postgresql" else to_micros(bound)
    with engine.connect() as conn:
        sql = "SELECT count(*) FROM events WHERE municipality_code = :c AND ts < :b"
        return int(conn.execute(text(sql), {"c": code, "b": value}).scalar_one())


def _verify(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    done = auditd(env, "verify", "--json", *args)
    assert done.returncode in (0, 3), done.stderr
    return done.returncode, json.loads(done.stdout)


def _tampering(report: dict[str, Any]) -> list[str]:
    return sorted(f["kind"] for f in report["findings"] if f["tampering"])


def _rollup_2019(engine: Engine, code: str = CODE) -> int:
    with engine.connect() as conn:
        totals = hour_totals(conn, code, date(2019, 1, 1), date(2019, 2, 28), ["action"])
    return int(totals["events"].sum())


def _archive(env: dict[str, str], out: Path, *extra: str) -> Any:
    done = auditd(env, "db", "archive", "--before", "2019-03", "--to", str(out), *extra)
    assert done.returncode == 0, done.stderr + done.stdout
    return done


# -- partitions ahead ----------------------------------------------------------------------------------


def test_partitions_ahead_are_created_once_with_every_index(engine: Engine, backend: str, settings: Settings):
    if backend != "postgresql":
        pytest.skip("monthly partitions exist on PostgreSQL only; SQLite keeps every month in one file")
    now = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
    with engine.begin() as conn:
        created = ensure_partitions_ahead(conn, 3, now)
    assert created == ["events_p202612", "events_p202701", "events_p202702", "events_p202703"]
    with engine.begin() as conn:
        assert ensure_partitions_ahead(conn, 3, now) == []  # idempotent
        assert set(created) <= set(list_event_partitions(conn))
        assert missing_partition_indexes(conn) == []
        parent = set(conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'events'")).scalars())
        child = list(conn.execute(text("SELECT indexdef FROM pg_indexes WHERE tablename = 'events_p202703'")).scalars())
    assert len(parent) == len(child) == 4  # primary key, user/ts, subject/ts, sessions
    assert any("subject_hash" in d and "WHERE" in d for d in child)
    # an index of events that the partitions lack (made ON ONLY the parent) is noticed: not vacuous
    with engine.begin() as conn:
        conn.execute(text("CREATE INDEX ix_events_only_parent ON ONLY events (source)"))
        missing = missing_partition_indexes(conn)
    assert ("events_p202703", "ix_events_only_parent") in missing and len(missing) == len(created)


def test_the_partitions_job_creates_ahead_and_says_so(engine: Engine, backend: str, settings: Settings):
    summary = partitions_job(settings, engine)
    if backend != "postgresql":
        assert "SQLite" in summary
        return
    assert "created" in summary and "events_p" in summary
    assert partitions_job(settings, engine) == "every partition ahead already exists"


def test_the_partitions_command_lists_and_checks(engine: Engine, backend: str, env_for_cli: dict[str, str]):
    done = auditd(env_for_cli, "db", "partitions", "--ahead", "1")
    assert done.returncode == 0, done.stderr
    if backend == "postgresql":
        assert "every partition has every index of events" in done.stdout
    else:
        assert "no partitions" in done.stdout


# -- archive ----------------------------------------------------------------------------------------------


def test_archive_writes_verified_parquet_and_records_it(
    engine: Engine, backend: str, store: dict[str, int], env_for_cli: dict[str, str], tmp_path: Path
):
    rollup_before = _rollup_2019(engine)
    out = tmp_path / "archive"
    _archive(env_for_cli, out)
    january, february = out / CODE / "events-2019-01.parquet", out / CODE / "events-2019-02.parquet"
    assert pq.ParquetFile(january).metadata.num_rows == store["january"] + 30
    assert pq.ParquetFile(february).metadata.num_rows == 30
    first = pq.read_table(january).slice(0, 1).to_pylist()[0]
    assert first["municipality_code"] == CODE and len(first["event_id"]) == 36 and first["ts"].tzinfo is not None
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM event_archives ORDER BY month")).all()
        spans = conn.execute(text("SELECT archive_id, batch_id, events FROM event_archive_batches")).all()
        trail = conn.execute(text("SELECT action, detail FROM trail WHERE action = 'archive_events'")).all()
    assert [(str(r.month)[:7], r.rows) for r in rows] == [("2019-01", store["january"] + 30), ("2019-02", 30)]
    for row in rows:
        assert row.sha256 == archive_service.file_sha256(Path(row.path)) and row.created_by.startswith("cli:")
    assert sum(s.events for s in spans) == store["january"] + store["across"]
    assert len({s.batch_id for s in spans}) == 2 and rows[0].batches == 2  # the batch across months is in both
    assert len(trail) == 2
    if backend == "postgresql":  # the months left `events`: the partitions are detached, not dropped
        with engine.connect() as conn:
            assert detached_partitions(conn) == ["events_p201901", "events_p201902"]
        assert _in_2019(engine) == 0
    else:  # SQLite keeps the rows until retention
        assert _in_2019(engine) == store["january"] + store["across"]
    assert _rollup_2019(engine) == rollup_before == store["january"] + store["across"]
    status, report = _verify(env_for_cli)
    assert status == 0, report
    notes = [f for f in report["findings"] if f["kind"] == "archived"]
    assert bool(notes) == (backend == "postgresql")
    # again: nothing new to archive
    again = _archive(env_for_cli, out)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event_archives")).scalar_one() == 2
    assert "events →" not in again.stdout


def test_archive_drop_removes_the_partition_after_verifying(
    engine: Engine, backend: str, store: dict[str, int], env_for_cli: dict[str, str], tmp_path: Path
):
    _archive(env_for_cli, tmp_path / "archive", "--drop")
    with engine.connect() as conn:
        actions = conn.execute(text("SELECT action FROM event_archive_actions ORDER BY id")).scalars().all()
        if backend == "postgresql":
            assert detached_partitions(conn) == [] and "events_p201901" not in list_event_partitions(conn)
            assert actions == ["detach", "drop", "detach", "drop"]
        else:
            assert actions == []  # SQLite deletes only under retention
    assert _verify(env_for_cli)[0] == 0


def test_a_tampered_archive_file_is_detected_and_retention_refuses_it(
    engine: Engine, store: dict[str, int], env_for_cli: dict[str, str], tmp_path: Path
):
    out = tmp_path / "archive"
    _archive(env_for_cli, out)
    listed = auditd(env_for_cli, "db", "archives")
    assert listed.returncode == 0 and listed.stdout.count(": ok") == 2, listed.stdout
    january = out / CODE / "events-2019-01.parquet"
    data = bytearray(january.read_bytes())
    data[len(data) // 2] ^= 0x01
    january.write_bytes(bytes(data))
    listed = auditd(env_for_cli, "db", "archives")
    assert listed.returncode == 3
    assert "MISMATCH" in listed.stdout and "events-2019-01.parquet was altered" in listed.stdout
    refused = auditd(env_for_cli, "db", "retention", "--years", "7")
    assert refused.returncode == 2
    assert "was altered" in refused.stdout + refused.stderr and "nothing was purged" in refused.stderr
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event_archive_actions WHERE reason = 'retention'")).scalar() == 0


def test_archiving_refuses_events_altered_since_ingest(
    engine: Engine, backend: str, store: dict[str, int], env_for_cli: dict[str, str], tmp_path: Path
):
    with engine.begin() as conn:
        if backend == "postgresql":
            conn.execute(text("DROP TRIGGER trg_events_append_only ON events"))
        else:
            conn.execute(text("DROP TRIGGER trg_events_no_update"))
        conn.execute(text("UPDATE events SET user_id = 'someone' WHERE detail = 'jan 3'"))
    done = auditd(env_for_cli, "db", "archive", "--before", "2019-03", "--to", str(tmp_path / "a"))
    assert done.returncode == 2
    assert "are not those its seal holds" in done.stderr and "auditd verify" in done.stderr
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event_archives")).scalar_one() == 0
    assert not list((tmp_path / "a").rglob("*.parquet"))


# -- retention ------------------------------------------------------------------------------------------


def test_retention_refuses_a_month_without_archive(engine: Engine, store: dict[str, int], env_for_cli: dict[str, str]):
    before = _count(engine)
    done = auditd(env_for_cli, "db", "retention", "--years", "7")
    assert done.returncode == 2
    assert "2019-01" in done.stdout and "refused" in done.stderr
    assert "auditd db archive --before" in done.stderr
    assert _count(engine) == before


def test_retention_purges_archived_months_and_the_chain_and_rollups_still_answer(
    engine: Engine, backend: str, store: dict[str, int], env_for_cli: dict[str, str], tmp_path: Path
):
    rollup_before = _rollup_2019(engine)
    _archive(env_for_cli, tmp_path / "archive")
    dry = auditd(env_for_cli, "db", "retention", "--years", "7", "--dry-run")
    assert dry.returncode == 0 and "would be purged" in dry.stdout
    assert _count(engine) == sum(store.values()) - (0 if backend == "sqlite" else store["january"] + store["across"])
    done = auditd(env_for_cli, "db", "retention", "--years", "7")
    assert done.returncode == 0, done.stderr
    assert f"purged {store['january'] + store['across']:,} events of 2 month(s)" in done.stdout
    assert _in_2019(engine) == 0 and _count(engine) == store["recent"]
    status, report = _verify(env_for_cli)
    assert status == 0, report
    note = next(f for f in report["findings"] if f["kind"] == "archived")
    assert f"{store['january'] + store['across']:,} event(s) of 2 batch(es)" in note["message"]
    assert _rollup_2019(engine) == rollup_before
    with engine.connect() as conn:
        actions = conn.execute(
            text("SELECT action, reason, rows, actor FROM event_archive_actions WHERE reason = 'retention'")
        ).all()
        trail = conn.execute(text("SELECT count(*) FROM trail WHERE action = 'purge_events'")).scalar_one()
        if backend == "postgresql":
            assert detached_partitions(conn) == []
    expected = "drop" if backend == "postgresql" else "delete"
    assert {a.action for a in actions} == {expected} and sum(a.rows for a in actions) == store["january"] + 30 + 30
    assert all(a.actor.startswith("cli:") for a in actions) and trail == len(actions)
    # the append-only trigger is back after the purge (SQLite re-creates it in the same transaction)
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM events"))
    assert auditd(env_for_cli, "db", "retention", "--years", "7").stdout.startswith("nothing older")


def test_a_batch_deleted_outside_the_archive_path_is_still_reported(
    engine: Engine, backend: str, store: dict[str, int], env_for_cli: dict[str, str], tmp_path: Path
):
    _archive(env_for_cli, tmp_path / "archive")
    with engine.begin() as conn:
        if backend == "postgresql":
            conn.execute(text("DROP TRIGGER trg_events_append_only ON events"))
            victim = "recent 7"
        else:  # archived but not purged: deleting it by hand is not an archive
            conn.execute(text("DROP TRIGGER trg_events_no_delete"))
            victim = "jan 7"
        deleted = conn.execute(text("DELETE FROM events WHERE detail = :d"), {"d": victim}).rowcount
    status, report = _verify(env_for_cli)
    assert status == 3 and _tampering(report) == ["altered"]
    assert f"{deleted} event(s) deleted" in next(f["message"] for f in report["findings"] if f["kind"] == "altered")


def test_a_forged_archive_record_does_not_hide_a_deletion(
    engine: Engine, backend: str, store: dict[str, int], env_for_cli: dict[str, str], tmp_path: Path
):
    """Someone with the database but not the chain key writes the 'delete' record themselves."""
    if backend == "postgresql":
        pytest.skip("on PostgreSQL archiving detaches the month at once; the SQLite path is the one at stake")
    _archive(env_for_cli, tmp_path / "archive")
    with engine.begin() as conn:
        archive_id = conn.execute(text("SELECT id FROM event_archives ORDER BY month LIMIT 1")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO event_archive_actions (municipality_code, archive_id, month, action, reason, rows, "
                "actor, at, mac) VALUES (:c, :a, :m, 'delete', 'retention', 150, 'x', 0, :mac)"
            ),
            {"c": CODE, "a": archive_id, "m": JAN.isoformat(), "mac": bytes(32)},
        )
        conn.execute(text("DROP TRIGGER trg_events_no_delete"))
        conn.execute(text("DELETE FROM events WHERE detail LIKE 'jan %'"))
    status, report = _verify(env_for_cli)
    assert status == 3 and "record" in _tampering(report) and "altered" in _tampering(report)


def test_the_retention_job_purges_only_when_enabled(
    engine: Engine, store: dict[str, int], settings: Settings, env_for_cli: dict[str, str], tmp_path: Path
):
    before = _count(engine)
    assert "retention is off" in retention_job(settings, engine)
    assert _count(engine) == before
    enabled = settings.model_copy(update={"retention_enabled": True})
    with pytest.raises(CriticalFinding, match="refused, nothing purged"):
        retention_job(enabled, engine)
    _archive(env_for_cli, tmp_path / "archive")
    assert "purged" in retention_job(enabled, engine)
    assert _in_2019(engine) == 0 and _count(engine) == store["recent"]
    assert _verify(env_for_cli)[0] == 0


# -- two municipalities, restore -------------------------------------------------------------------------


def test_each_municipality_gets_its_own_file_and_chain(
    engine: Engine, backend: str, store: dict[str, int], settings: Settings, env_for_cli: dict[str, str], tmp_path: Path
):
    other = _seed(engine, settings, tmp_path / "other", OTHER)
    out = tmp_path / "archive"
    _archive(env_for_cli, out)
    assert pq.ParquetFile(out / OTHER / "events-2019-01.parquet").metadata.num_rows == other["january"] + 30
    assert set(pq.read_table(out / OTHER / "events-2019-02.parquet").column("municipality_code").to_pylist()) == {OTHER}
    assert auditd(env_for_cli, "db", "retention", "--years", "7").returncode == 0
    assert _in_2019(engine, OTHER) == 0 and _count(engine, code=OTHER) == other["recent"]
    for code in (CODE, OTHER):
        status, report = _verify(env_for_cli, "--municipality", code)
        assert status == 0, report


def test_an_archived_month_can_be_loaded_back_for_an_investigation(
    engine: Engine, store: dict[str, int], env_for_cli: dict[str, str], tmp_path: Path
):
    out = tmp_path / "archive"
    _archive(env_for_cli, out)
    assert auditd(env_for_cli, "db", "retention", "--years", "7").returncode == 0
    done = auditd(env_for_cli, "db", "restore-archive", str(out / CODE / "events-2019-01.parquet"))
    assert done.returncode == 0, done.stderr
    assert f"{store['january'] + 30:,} events loaded back" in done.stdout
    assert _in_2019(engine) == store["january"] + 30
    status, report = _verify(env_for_cli)
    assert status == 0, report  # January is whole again; February is still archived
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM trail WHERE action = 'restore_events'")).scalar_one() == 1
    stranger = tmp_path / "stranger.parquet"
    stranger.write_bytes((out / CODE / "events-2019-02.parquet").read_bytes() + b"x")
    refused = auditd(env_for_cli, "db", "restore-archive", str(stranger))
    assert refused.returncode == 2 and "not an archive this store recorded" in refused.stderr


def test_late_events_of_a_detached_month_are_refused_with_a_clear_message(
    engine: Engine, backend: str, store: dict[str, int], env_for_cli: dict[str, str], tmp_path: Path
):
    if backend != "postgresql":
        pytest.skip("only PostgreSQL takes an archived month out of events at once")
    _archive(env_for_cli, tmp_path / "archive")
    late = _records(tmp_path / "late.jsonl", [(2019, 1, 9)], 3, "late")
    done = auditd(env_for_cli, "ingest", str(late), "--profile", "demo-welfare")
    assert done.returncode != 0
    assert "archived month" in done.stderr and "restore-archive" in done.stderr
