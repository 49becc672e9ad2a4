"""Helpers for the drop-folder tests: tax-system files written like the vendor writes them, a clean
reference ingest to compare event ids with, and polling with a deadline instead of sleeping.

Importable from the test modules next to it (pytest puts this folder on the path: no ``__init__.py``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from sqlalchemy import Engine, select, text

from auditd.events.models import Event
from auditd.settings import Settings
from auditd.store import migrate
from auditd.store.db import make_engine
from collectors.pipeline import Ingestor
from collectors.profile import resolve_profile

TAX_HEADER = "操作日時,職員ID,端末ID,セッションID,業務コード,画面ID,操作区分,宛名番号,対象件数,処理結果,検索条件"


def tax_line(k: int, detail: str = "氏名カナ=ヤマダ") -> bytes:
    """One demo-tax record (CP932, CRLF). ``k`` makes it distinct; the detail has two-byte characters."""
    return (
        f"R08.02.{3 + k // 28800:02d} {9 + (k // 3600) % 8:02d}:{(k // 60) % 60:02d}:{k % 60:02d},"
        f"u{k % 97:03d},T{k % 13},S{k % 97},11,K0101,01,{100000 + k % 5000},1,0,{detail}\r\n"
    ).encode("cp932")


def tax_bytes(keys: Iterable[int], *, header: bool = True) -> bytes:
    head = (TAX_HEADER + "\r\n").encode("cp932") if header else b""
    return head + b"".join(tax_line(k) for k in keys)


def write_tax(path: Path, keys: Iterable[int], *, age_seconds: float | None = None) -> Path:
    """A complete tax file; ``age_seconds`` back-dates it (a file that has long stopped changing)."""
    path.write_bytes(tax_bytes(keys))
    if age_seconds is not None:
        backdate(path, age_seconds)
    return path


def backdate(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def wait_for(condition: Callable[[], bool], *, timeout: float = 15.0, what: str = "the condition") -> None:
    """Poll ``condition`` until it holds; fail (not hang) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def scalar(engine: Engine, sql: str, **params: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def event_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(Event.event_id)).scalars())


def clean_ids(files: Iterable[tuple[Path, str]], workdir: Path, settings: Settings) -> set[str]:
    """Event ids of one clean ``ingest`` of ``(file, profile)`` pairs into a fresh SQLite store."""
    workdir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{workdir / 'clean.db'}"
    clean_settings = Settings(env="test", data_dir=settings.data_dir, database_url=url)
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        ingestor = Ingestor(engine, clean_settings)
        for path, profile in files:
            ingestor.ingest_file(path, resolve_profile(profile), full=True)
        return event_ids(engine)
    finally:
        engine.dispose()
