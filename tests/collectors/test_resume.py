"""A run killed at any point (kill -9) and started again ends with exactly the events of one clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from auditd.events.models import Event
from auditd.settings import Settings
from collectors.pipeline import Ingestor
from collectors.profile import resolve_profile


def make_big_tax_file(path: Path, rows: int) -> Path:
    lines = ["操作日時,職員ID,端末ID,セッションID,業務コード,画面ID,操作区分,宛名番号,対象件数,処理結果,検索条件"]
    for i in range(rows):
        # some lines repeat exactly (same second, same everything): each must still be stored once per occurrence
        k = i - (i % 3 == 2)
        lines.append(
            f"R08.02.{3 + k // 40000:02d} {9 + (k // 3600) % 8:02d}:{(k // 60) % 60:02d}:{k % 60:02d},"
            f"u{k % 97:03d},T{k % 13},S{k % 97},11,K0101,01,{100000 + k % 5000},1,0,"
        )
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    return path


def events_in(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(Event.event_id)).scalars())


@pytest.mark.slow
def test_kill_9_during_ingest_then_rerun_equals_one_clean_run(
    engine: Engine, settings: Settings, env_for_cli: dict[str, str], tmp_path: Path
):
    data = make_big_tax_file(tmp_path / "big.csv", 120_000)
    env = dict(env_for_cli, AUDITD_INGEST_CHUNK_ROWS="5000")
    killed = 0
    for delay in (1.2, 2.0):  # kill it twice, at different points
        proc = subprocess.Popen(
            [sys.executable, "-m", "auditd", "ingest", str(data), "--profile", "demo-tax"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        stored = 0
        while time.monotonic() < deadline and proc.poll() is None:
            with engine.connect() as conn:
                stored = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
            if stored > 0:
                time.sleep(delay)
                break
            time.sleep(0.05)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            killed += 1
    assert killed >= 1, "the ingest finished before it could be killed: make the file bigger"
    partial = len(events_in(engine))
    assert 0 < partial < 120_000
    done = subprocess.run(
        [sys.executable, "-m", "auditd", "ingest", str(data), "--profile", "demo-tax", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with engine.connect() as conn:
        statuses = [r[0] for r in conn.execute(text("SELECT status FROM ingest_runs ORDER BY id"))]
    assert statuses[-1] == "completed" and "running" in statuses  # the killed runs were left running
    resumed = events_in(engine)

    clean_settings = Settings(env="test", data_dir=settings.data_dir, database_url=f"sqlite:///{tmp_path / 'clean.db'}")
    from auditd.store import migrate
    from auditd.store.db import make_engine

    clean = make_engine(clean_settings.db_url)
    migrate.upgrade(clean)
    summary = Ingestor(clean, clean_settings).ingest_file(data, resolve_profile("demo-tax"))
    assert summary.accepted == 120_000 and summary.quarantined == 0
    assert resumed == events_in(clean)
    clean.dispose()
