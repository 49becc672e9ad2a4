"""Helpers of the listener tests: a listener running on its own event loop, as the CLI runs it, and a
database held so that the listener's writes wait."""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from collectors.listeners.syslog import SyslogListener
from collectors.pipeline import IngestSummary


class Running:
    """The listener on its own event loop in a thread, as the CLI runs it, stopped on exit."""

    def __init__(self, listener: SyslogListener) -> None:
        self.listener = listener
        self.total: IngestSummary | None = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            self.total = asyncio.run(self.listener.run(ready=lambda _: self._ready.set()))
        except BaseException as exc:
            self.error = exc
            self._ready.set()

    def __enter__(self) -> Running:
        self._thread.start()
        assert self._ready.wait(15), "the listener did not start"
        if self.error:
            raise self.error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self.stop()

    def stop(self, times: int = 1) -> IngestSummary:
        for _ in range(times):
            self.listener.stop()
        self._thread.join(60)
        assert not self._thread.is_alive(), "the listener did not stop"
        if self.error:
            raise self.error
        assert self.total is not None
        return self.total

    @property
    def udp_port(self) -> int:
        assert self.listener.udp_address
        return self.listener.udp_address[1]

    @property
    def tcp_port(self) -> int:
        assert self.listener.tcp_address
        return self.listener.tcp_address[1]


@contextmanager
def writes_blocked(engine: Engine) -> Iterator[None]:
    """Hold the database so the listener's writes wait: SQLite's write lock, or a PostgreSQL table lock."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        raw.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
        try:
            yield
        finally:
            raw.driver_connection.execute("ROLLBACK")  # type: ignore[union-attr]
            raw.close()
        return
    with engine.connect() as conn:
        transaction = conn.begin()
        conn.exec_driver_sql("LOCK TABLE ingest_batches IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            transaction.rollback()


class ListenerProcess:
    """``auditd listen syslog *options`` as a real process, its output read line by line."""

    def __init__(self, env: dict[str, str], *options: str, timeout: float = 60) -> None:
        command = [sys.executable, "-m", "auditd", "listen", "syslog", *options]
        self.process = subprocess.Popen(
            command, env=dict(env, PYTHONUNBUFFERED="1"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.timeout = timeout
        self.seen: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.seen.append(line)
            self._lines.put(line)

    def wait_for(self, pattern: str, timeout: float | None = None) -> re.Match[str]:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            try:
                line = self._lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                self.process.kill()
                raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(self.seen)}") from None
            found = re.search(pattern, line)
            if found:
                return found

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(15)
        self._reader.join(5)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(60)
        self._reader.join(5)
        return code

    def __enter__(self) -> ListenerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(15)
