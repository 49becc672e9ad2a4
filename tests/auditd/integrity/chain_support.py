"""Helpers of the integrity tests: a chained store, the attacker's edits, the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, select, text, update

from auditd.events.models import Event, IngestBatch
from auditd.integrity.models import BatchSeal
from auditd.settings import Settings
from auditd.store.base import table_of
from collectors.pipeline import Ingestor
from collectors.profile import resolve_profile


def ingest_city(
    engine: Engine, settings: Settings, city: Any, profiles: tuple[str, ...] = ("demo-tax", "demo-welfare")
) -> int:
    """Ingest the demo city's logs of ``profiles`` (one batch per file or chunk); returns events stored."""
    ingestor = Ingestor(engine, settings)
    stored = 0
    for item in city.inputs:
        if item.kind == "events" and item.profile in profiles:
            stored += ingestor.ingest_file(item.path, resolve_profile(item.profile)).accepted
    return stored


def auditd(env: dict[str, str], *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditd", *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def verify(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    """Run `auditd verify --json`; (exit status, the JSON report)."""
    done = auditd(env, "verify", "--json", *args)
    assert done.returncode in (0, 3), done.stderr
    return done.returncode, json.loads(done.stdout)


def kinds(report: dict[str, Any]) -> list[str]:
    return sorted(f["kind"] for f in report["findings"] if f["tampering"])


def batches(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(table_of(IngestBatch)).order_by(IngestBatch.id)).all())


def input_of(engine: Engine, batch_id: int) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT r.input FROM ingest_batches b JOIN ingest_runs r ON r.id = b.run_id WHERE b.id = :b"),
                {"b": batch_id},
            ).scalar_one()
        )


def an_event(engine: Engine, batch_id: int, offset: int = 5) -> tuple[Any, str]:
    """(ts, event_id) of one event of the batch."""
    with engine.connect() as conn:
        row = conn.execute(
            select(Event.ts, Event.event_id)
            .where(Event.batch_id == batch_id)
            .order_by(Event.ts, Event.event_id)
            .offset(offset)
            .limit(1)
        ).one()
    return row.ts, row.event_id


def drop_append_only(engine: Engine) -> None:
    """What an attacker with database access does first: remove the triggers that refuse edits."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER trg_events_append_only ON events"))
        else:
            conn.execute(text("DROP TRIGGER trg_events_no_update"))
            conn.execute(text("DROP TRIGGER trg_events_no_delete"))


def edit_event(engine: Engine, ts: Any, event_id: str, **values: Any) -> None:
    with engine.begin() as conn:
        done = conn.execute(update(Event).where(Event.ts == ts, Event.event_id == event_id).values(**values))
        assert done.rowcount == 1


def delete_event(engine: Engine, ts: Any, event_id: str) -> None:
    with engine.begin() as conn:
        assert conn.execute(delete(Event).where(Event.ts == ts, Event.event_id == event_id)).rowcount == 1


def delete_batch(engine: Engine, batch_id: int, *, seal: bool = False) -> None:
    """Remove a batch's events and its record (and its seal too, for an attacker who knows of seals)."""
    with engine.begin() as conn:
        conn.execute(delete(Event).where(Event.batch_id == batch_id))
        conn.execute(delete(IngestBatch).where(IngestBatch.id == batch_id))
        if seal:
            conn.execute(delete(BatchSeal).where(BatchSeal.batch_id == batch_id))


def swap_digests(engine: Engine, a: int, b: int) -> None:
    with engine.begin() as conn:
        first = conn.execute(select(IngestBatch.digest).where(IngestBatch.id == a)).scalar_one()
        second = conn.execute(select(IngestBatch.digest).where(IngestBatch.id == b)).scalar_one()
        conn.execute(update(IngestBatch).where(IngestBatch.id == a).values(digest=second))
        conn.execute(update(IngestBatch).where(IngestBatch.id == b).values(digest=first))


def make_tax_file(path: Path, rows: int, day: int = 3) -> Path:
    """A demo-tax (CP932, 和暦) log of ``rows`` distinct lines."""
    lines = ["操作日時,職員ID,端末ID,セッションID,業務コード,画面ID,操作区分,宛名番号,対象件数,処理結果,検索条件"]
    for i in range(rows):
        lines.append(
            f"R08.02.{day + i // 40000:02d} {9 + (i // 3600) % 8:02d}:{(i // 60) % 60:02d}:{i % 60:02d},"
            f"u{i % 97:03d},T{i % 13},S{i % 97},11,K0101,01,{100000 + i % 5000},1,0,"
        )
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    return path


def welfare_record(stream: int, batch: int, index: int) -> str:
    """One record of the demo welfare system's JSON-lines log, distinct for every (stream, batch, index)."""
    return json.dumps(
        {
            "time": f"2026-02-{3 + stream:02d}T{9 + batch % 8:02d}:{index // 60 % 60:02d}:{index % 60:02d}+09:00",
            "operator": {"id": f"w{stream:03d}", "terminal": "T2101-01"},
            "session": f"S{batch}",
            "business": "kokuho",
            "op": "VIEW",
            "screen": "K0101",
            "target": {"atena": f"{10000 + index}"},
            "count": 1,
            "status": "OK",
            "note": f"batch {batch}",
            "seq": batch * 1000 + index,
        },
        ensure_ascii=False,
    )
