"""`auditd backup` while an ingest writes, `auditd restore` elsewhere, and `auditd verify` on the copy.

SQLite: the online backup API into a new file, restored into another file. PostgreSQL: ``pg_dump -Fc``,
restored with ``pg_restore`` into a fresh database. The keys stay where they are (same data_dir): a
store restored without them cannot be verified, which the last test shows.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from auditd.store.db import make_engine

pytestmark = pytest.mark.slow

HEADER = "操作日時,職員ID,端末ID,セッションID,業務コード,画面ID,操作区分,宛名番号,対象件数,処理結果,検索条件"


def tax_file(path: Path, rows: int) -> Path:
    lines = [HEADER] + [
        f"R08.02.{3 + i // 40000:02d} {9 + (i // 3600) % 8:02d}:{(i // 60) % 60:02d}:{i % 60:02d},"
        f"u{i % 97:03d},T{i % 13},S{i % 97},11,K0101,01,{100000 + i % 5000},1,0,"
        for i in range(rows)
    ]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    return path


def auditd(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditd", *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def scalar(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


@contextmanager
def restore_target(backend: str, tmp_path: Path) -> Iterator[str]:
    """Where the copy goes: another SQLite file, or a fresh PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored' / 'auditd.db'}"
        return
    from tests_support import pg_database

    with pg_database() as url:
        yield url


def test_a_backup_taken_during_an_ingest_restores_elsewhere_and_verifies(
    engine: Engine, env_for_cli: dict[str, str], backend: str, tmp_path: Path
):
    data = tax_file(tmp_path / "big.csv", 150_000)
    env = dict(env_for_cli, AUDITD_INGEST_CHUNK_ROWS="5000")
    ingest = subprocess.Popen(
        [sys.executable, "-m", "auditd", "ingest", str(data), "--profile", "demo-tax"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and scalar(engine, "SELECT count(*) FROM batch_seals") < 2:
        time.sleep(0.05)
    copy = tmp_path / "backups" / ("store.db" if backend == "sqlite" else "store.dump")
    done = auditd(env_for_cli, "backup", "--out", str(copy))
    still_ingesting = ingest.poll() is None
    assert done.returncode == 0, done.stderr
    assert "backup written" in done.stdout and "keys are not in it" in done.stdout
    assert ingest.wait(timeout=300) == 0, ingest.stderr.read() if ingest.stderr else ""
    assert still_ingesting, "the ingest finished before the backup: make the file bigger"
    total = scalar(engine, "SELECT count(*) FROM events")
    assert total == 150_000
    again = auditd(env_for_cli, "backup", "--out", str(copy))
    assert again.returncode == 2 and "never overwrites" in again.stderr

    with restore_target(backend, tmp_path) as url:
        elsewhere = dict(env_for_cli, AUDITD_DATABASE_URL=url)
        restored = auditd(elsewhere, "restore", str(copy))
        assert restored.returncode == 0, restored.stderr
        checked = auditd(elsewhere, "verify", "--json")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        report = json.loads(checked.stdout)
        assert report["outcome"] == "intact"
        assert 0 < report["events_checked"] < total  # the store as it was at one instant of the ingest
        target = make_engine(url)
        try:
            assert scalar(target, "SELECT count(*) FROM events") == report["events_checked"]
            with target.connect() as conn:
                actions = list(conn.execute(text("SELECT action FROM trail ORDER BY id")).scalars())
            assert actions[-2:] == ["restore", "verify_chain"]
        finally:
            target.dispose()

        refused = auditd(elsewhere, "restore", str(copy))
        assert refused.returncode == 2 and "already holds data" in refused.stderr
        forced = auditd(elsewhere, "restore", str(copy), "--force")
        assert forced.returncode == 0, forced.stderr
        assert auditd(elsewhere, "verify").returncode == 0

    with engine.connect() as conn:
        detail = conn.execute(text("SELECT detail FROM trail WHERE action = 'backup'")).scalar_one()
    assert json.loads(detail)["path"] == str(copy.resolve())


def test_a_store_restored_without_its_keys_cannot_be_verified(
    engine: Engine, env_for_cli: dict[str, str], backend: str, tmp_path: Path
):
    data = tax_file(tmp_path / "small.csv", 3_000)
    assert auditd(env_for_cli, "ingest", str(data), "--profile", "demo-tax").returncode == 0
    copy = tmp_path / ("copy.db" if backend == "sqlite" else "copy.dump")
    assert auditd(env_for_cli, "backup", "--out", str(copy)).returncode == 0
    with restore_target(backend, tmp_path) as url:
        keyless = dict(env_for_cli, AUDITD_DATABASE_URL=url, AUDITD_DATA_DIR=str(tmp_path / "new-machine"))
        assert auditd(keyless, "restore", str(copy)).returncode == 0
        checked = auditd(keyless, "verify", "--json")
        assert checked.returncode == 3
        [finding] = json.loads(checked.stdout)["findings"]
        assert finding["kind"] == "key" and "keys/chain_key" in finding["message"]


def test_restore_refuses_what_is_not_a_backup(env_for_cli: dict[str, str], tmp_path: Path):
    bogus = tmp_path / "not-a-backup.db"
    bogus.write_bytes(b"hello")
    done = auditd(dict(env_for_cli, AUDITD_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}"), "restore", str(bogus))
    assert done.returncode == 2
    missing = auditd(env_for_cli, "restore", str(tmp_path / "nothing.db"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
