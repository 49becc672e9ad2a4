"""Sealing at ingest, on both backends: the chain's links, its head, concurrency, and the odd paths."""

from __future__ import annotations

import hmac
import os
import signal
import subprocess
import sys
import threading
import time
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
from chain_support import batches, ingest_city, make_tax_file, verify, welfare_record
from sqlalchemy import Engine, text
from sqlalchemy.exc import DatabaseError

from auditd.integrity.service import GENESIS, batch_message, run_check, verify_chain
from auditd.settings import Settings
from collectors.pipeline import Ingestor, StreamIngest
from collectors.profile import resolve_profile


def check(engine: Engine, settings: Settings) -> Any:
    with engine.connect() as conn:
        return run_check(conn, settings, settings.municipality_code, actor="test")


def seals(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT * FROM batch_seals ORDER BY position")).all())


def test_every_batch_is_sealed_in_order_and_the_head_is_the_last(engine: Engine, settings: Settings, small_city: Any):
    stored = ingest_city(engine, settings, small_city)
    chain = batches(engine)
    sealed = seals(engine)
    assert [s.position for s in sealed] == list(range(1, len(chain) + 1))
    assert [s.batch_id for s in sealed] == [b.id for b in chain]  # one writer at a time: ids in chain order
    key = settings.secret("chain_key")
    previous = GENESIS
    for batch, seal in zip(chain, sealed, strict=True):
        assert batch.prev_digest == previous
        message = batch_message(
            batch.municipality_code, batch.id, batch.run_id, seal.position, batch.event_count, seal.events_sha256
        )
        assert batch.digest == hmac.digest(key, previous + message, sha256)
        assert len(seal.fingerprints) == 8 * batch.event_count == 8 * seal.event_count
        previous = batch.digest
    with engine.connect() as conn:
        head = conn.execute(text("SELECT * FROM chain_heads")).one()
    assert (head.last_batch_id, head.last_digest, head.batches, head.events) == (
        chain[-1].id,
        chain[-1].digest,
        len(chain),
        stored,
    )
    report = check(engine, settings)
    assert report.intact and report.events == stored and report.batches == len(chain)


def test_text_that_needs_escaping_verifies_on_both_backends(engine: Engine, settings: Settings, tmp_path: Path):
    header = "操作日時,職員ID,端末ID,セッションID,業務コード,画面ID,操作区分,宛名番号,対象件数,処理結果,検索条件"
    lines = [
        header,
        'R08.02.03 09:15:22,u001,T1101-01,S1,11,K0101,01,0000012345,1,0,"氏名=山田\t太郎"',
        'R08.02.03 09:15:23,u001,T1101-01,S1,11,K0101,01,0000012345,1,0,"一行目\r\n二行目"',
        "R08.02.03 09:15:24,u001,T1101-01,,11,K0101,01,,1,0,C:\\tmp\\NULL",
        "R08.02.03 09:15:25,u001,T1101-01,S1,11,K0101,01,0000012345,1,0,",
    ]
    path = tmp_path / "odd.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    summary = Ingestor(engine, settings).ingest_file(path, resolve_profile("demo-tax"))
    assert summary.accepted == 4
    with engine.connect() as conn:
        details = set(conn.execute(text("SELECT detail FROM events")).scalars())
    assert any(d and "\t" in d for d in details) and any(d and "\n" in d for d in details)
    assert check(engine, settings).intact


def test_a_batch_with_events_stored_before_is_sealed_from_what_was_stored(
    engine: Engine, settings: Settings, tmp_path: Path
):
    """A file read again with --full after it grew: the chunk holds old events (other batches') and new."""
    path = make_tax_file(tmp_path / "grow.csv", 1_500)
    ingestor = Ingestor(engine, settings)
    ingestor.ingest_file(path, resolve_profile("demo-tax"))
    grown = make_tax_file(tmp_path / "grown.csv", 2_300)
    path.write_bytes(grown.read_bytes())
    summary = ingestor.ingest_file(path, resolve_profile("demo-tax"), full=True)
    assert (summary.accepted, summary.duplicates) == (800, 1_500)
    last = batches(engine)[-1]
    assert last.event_count == 800 and seals(engine)[-1].event_count == 800
    report = check(engine, settings)
    assert report.intact and report.events == 2_300


def test_concurrent_ingests_of_one_municipality_chain_one_after_the_other(engine: Engine, settings: Settings):
    """Three listeners storing batches at once: the head lock (PostgreSQL) or the one writer (SQLite)
    puts every batch at its own position, whatever order the ids were drawn in."""
    settings.check_secrets()  # the key files exist before the threads start
    profile = resolve_profile("demo-welfare")
    # The month's partition exists before the threads start: creating one is not safe from two
    # transactions at once (auditd.store.partitions; a separate issue from the chain).
    first = StreamIngest(Ingestor(engine, settings), profile, "test:first")
    first.ingest([welfare_record(9, 0, 0)])
    first.close()
    errors: list[BaseException] = []

    def listen(n: int) -> None:
        try:
            stream = StreamIngest(Ingestor(engine, settings), profile, f"test:listener-{n}", identity="run")
            for k in range(12):
                stream.ingest([welfare_record(n, k, i) for i in range(150)])
            stream.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=listen, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert [s.position for s in seals(engine)] == list(range(1, 38))
    report = check(engine, settings)
    assert report.intact and report.events == 1 + 3 * 12 * 150 and report.batches == 37


def test_another_key_cannot_verify_the_chain_and_says_so_once(
    engine: Engine, settings: Settings, small_city: Any, tmp_path: Path
):
    ingest_city(engine, settings, small_city, profiles=("demo-welfare",))
    other = Settings(env="test", data_dir=tmp_path / "elsewhere", database_url=settings.db_url)
    with engine.connect() as conn:
        report = verify_chain(conn, other, settings.municipality_code)
    assert not report.intact
    assert [f.kind for f in report.findings] == ["key"]
    assert "keys/chain_key" in report.findings[0].message


def test_a_head_with_an_altered_key_check_is_reported_but_the_chain_still_checked(
    engine: Engine, settings: Settings, small_city: Any
):
    ingest_city(engine, settings, small_city, profiles=("demo-welfare",))
    with engine.begin() as conn:
        conn.execute(text("UPDATE chain_heads SET key_check = :k"), {"k": bytes(16)})
    report = check(engine, settings)
    assert [f.kind for f in report.findings] == ["record"] and report.batches > 0


def test_checks_are_append_only(engine: Engine, settings: Settings, small_city: Any):
    ingest_city(engine, settings, small_city, profiles=("demo-welfare",))
    report = check(engine, settings)
    assert report.check_id is not None
    for statement in ("UPDATE integrity_checks SET outcome = 'intact'", "DELETE FROM integrity_checks"):
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))


def test_a_tampered_check_does_not_become_the_reference_end(engine: Engine, settings: Settings, small_city: Any):
    ingest_city(engine, settings, small_city, profiles=("demo-welfare",))
    with engine.begin() as conn:
        conn.execute(text("UPDATE chain_heads SET batches = batches + 5"))
    report = check(engine, settings)
    assert not report.intact
    with engine.connect() as conn:
        row = conn.execute(text("SELECT outcome, head_position, head_digest FROM integrity_checks")).one()
    assert (row.outcome, row.head_position, row.head_digest) == ("tampered", None, None)


@pytest.mark.slow
def test_the_chain_survives_kill_9_during_ingest_and_the_resume(
    engine: Engine, settings: Settings, env_for_cli: dict[str, str], tmp_path: Path
):
    data = make_tax_file(tmp_path / "big.csv", 120_000)
    env = dict(env_for_cli, AUDITD_INGEST_CHUNK_ROWS="5000")
    killed = 0
    for delay in (1.0, 1.8):
        proc = subprocess.Popen(
            [sys.executable, "-m", "auditd", "ingest", str(data), "--profile", "demo-tax"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            with engine.connect() as conn:
                if conn.execute(text("SELECT count(*) FROM batch_seals")).scalar_one():
                    time.sleep(delay)
                    break
            time.sleep(0.05)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            killed += 1
    assert killed >= 1, "the ingest finished before it could be killed: make the file bigger"
    status, report = verify(env_for_cli)
    assert status == 0 and 0 < report["events_checked"] < 120_000  # what was committed before the kill
    done = subprocess.run(
        [sys.executable, "-m", "auditd", "ingest", str(data), "--profile", "demo-tax"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    status, report = verify(env_for_cli)
    assert status == 0 and report["outcome"] == "intact"
    assert report["events_checked"] == 120_000
    assert [s.position for s in seals(engine)] == list(range(1, report["batches_checked"] + 1))
