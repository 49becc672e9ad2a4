"""``auditd listen syslog`` with its spool, as an operator runs it: killed with SIGKILL at any point and
started again, or left without its database for a while, it stores every message exactly once.

The clients are util-linux ``logger`` (and a raw socket for byte-identical messages); the listener is a
real subprocess; the database outage is real (PostgreSQL refusing and dropping connections)."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from listener_support import writes_blocked
from sqlalchemy import Engine, text

from auditd.store.db import make_engine

PATTERN_TIMEOUT = 60
#: The line that says where the listener listens (groups: the UDP and the TCP port), once its run is open
LISTENING = r"listening for syslog on udp 127\.0\.0\.1:(\d+), tcp 127\.0\.0\.1:(\d+)"
#: The same, said while it waits for a store that does not answer
WAITING = r"the store does not answer \(\w+\), retrying .*listening on udp 127\.0\.0\.1:(\d+), tcp 127\.0\.0\.1:(\d+)"


class Listener:
    """One ``auditd listen syslog`` process with its output read line by line."""

    def __init__(self, env: dict[str, str], spool: Path, *options: str, ready: str = LISTENING) -> None:
        command = [sys.executable, "-m", "auditd", "listen", "syslog", "--profile", "syslog-kv-3164",
                   "--udp", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--spool-dir", str(spool),
                   "--report-seconds", "0.2", "--flush-ms", "20", *options]  # fmt: skip
        self.process = subprocess.Popen(
            command, env=dict(env, PYTHONUNBUFFERED="1"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.seen: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()
        where = self.wait_for(ready)
        self.udp_port, self.tcp_port = int(where.group(1)), int(where.group(2))

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.seen.append(line)
            self._lines.put(line)

    def wait_for(self, pattern: str, timeout: float = PATTERN_TIMEOUT) -> re.Match[str]:
        deadline = time.monotonic() + timeout
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

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(15)


def lines_file(path: Path, prefix: str, count: int) -> Path:
    path.write_text("".join(f"user=u{i % 7} pc=T1 op=PRINT count=1 file={prefix}{i}.csv\n" for i in range(count)))
    return path


def logger(port: int, path: Path, *, udp: bool = False) -> None:
    transport = ["-d"] if udp else ["-T"]
    subprocess.run(["logger", "-n", "127.0.0.1", "-P", str(port), *transport, "--rfc3164", "-t", "EPM",
                    "-f", str(path)], check=True, timeout=60, env=dict(os.environ, TZ="Asia/Tokyo"))  # fmt: skip


SAME = b"<14>Feb  3 09:15:22 pc EPM: user=u1 pc=T1 op=PRINT count=1 file=same.csv\n"


def send_same(port: int, times: int) -> None:
    """Byte-identical messages (same second, same everything): each is an event of its own."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as client:
        client.sendall(SAME * times)


def stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM events")).scalar_one())


def details(engine: Engine) -> Counter[str]:
    with engine.connect() as conn:
        return Counter(str(d) for (d,) in conn.execute(text("SELECT detail FROM events")))


def runs(engine: Engine) -> list[tuple[str, int, int, str | None]]:
    with engine.connect() as conn:
        found = conn.execute(text("SELECT status, accepted, duplicates, error FROM ingest_runs ORDER BY id"))
        return [tuple(row) for row in found]  # type: ignore[misc]


@pytest.mark.slow
def test_kill_9_at_any_point_then_restart_stores_every_message_exactly_once(
    engine: Engine, env_for_cli: dict[str, str], tmp_path: Path
):
    """Killed while the database holds its writes (all of it only in the spool), killed again in the
    middle of storing what the spool holds, started a third time and sent more: every message is an
    event once, identical messages included, and no record was even offered twice."""
    spool = tmp_path / "spool"
    first, later = 3000, 500
    with Listener(env_for_cli, spool, "--batch-size", "20") as one, writes_blocked(engine):
        send_same(one.tcp_port, 2)
        logger(one.tcp_port, lines_file(tmp_path / "one.txt", "a", first))
        one.wait_for(rf"received {first + 2:,} \(udp 0, tcp {first + 2:,}\)  stored 0 ")
        one.kill()
    assert stored(engine) == 0

    with Listener(env_for_cli, spool, "--batch-size", "20") as two:
        deadline = time.monotonic() + 60
        while (at_kill := stored(engine)) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        two.kill()
    assert f"the spool holds {first + 2:,} messages not stored yet" in "".join(two.seen)
    assert 0 < at_kill < first + 2, f"killed after {at_kill} of {first + 2} were stored: no mid-way kill"

    with Listener(env_for_cli, spool, "--batch-size", "500") as three:
        logger(three.tcp_port, lines_file(tmp_path / "three.txt", "c", later))
        send_same(three.tcp_port, 3)
        three.wait_for(rf"received {later + 3:,} \(udp 0, tcp {later + 3:,}\)  stored [\d,]+ .* queued 0 ")
        assert three.terminate() == 0
    total = first + later + 5
    assert stored(engine) == total
    expected = Counter({f"a{i}.csv": 1 for i in range(first)} | {f"c{i}.csv": 1 for i in range(later)})
    expected["same.csv"] = 5
    assert details(engine) == expected
    statuses = runs(engine)
    assert [s[0] for s in statuses] == ["failed", "failed", "completed"]
    assert all("stored its spool" in str(s[3]) for s in statuses[:2])
    assert sum(s[1] for s in statuses) == total and sum(s[2] for s in statuses) == 0, "nothing was offered twice"
    state = json.loads((spool / "state.json").read_text())
    assert state["committed"] == total
    assert len(list(spool.glob("*.seg"))) == 1, "what was stored is deleted (the last segment stays open)"


@pytest.mark.slow
def test_a_replayed_spool_stores_nothing_twice(engine: Engine, env_for_cli: dict[str, str], tmp_path: Path):
    """Without its state file (lost, damaged) the spool hands out again what it still holds: the pipeline's
    record ids make every such record a duplicate."""
    spool = tmp_path / "spool"
    with Listener(env_for_cli, spool) as one:
        logger(one.tcp_port, lines_file(tmp_path / "one.txt", "a", 200))
        one.wait_for(r"stored 200 ")
        assert one.terminate() == 0
    (spool / "state.json").unlink()
    with Listener(env_for_cli, spool) as two:
        two.wait_for(r"received 0 .*stored 0  duplicate 200 ")
        assert "the spool holds 200 messages not stored yet" in "".join(two.seen)
        assert two.terminate() == 0
    assert stored(engine) == 200 and set(details(engine).values()) == {1}


@contextmanager
def postgres_refusing(engine: Engine) -> Iterator[None]:
    """The test database stops accepting connections and every open one is dropped, as when the
    server restarts or a failover is under way; afterwards it accepts them again."""
    name = engine.url.database
    admin = make_engine(engine.url.set(database="postgres").render_as_string(hide_password=False))
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"), {"d": name})
        yield
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.dispose()
        engine.dispose()  # its pooled connections were dropped


@pytest.mark.slow
def test_a_database_outage_is_spooled_and_drained(
    engine: Engine, backend: str, env_for_cli: dict[str, str], tmp_path: Path
):
    """PostgreSQL goes away for a while: the listener keeps reading TCP and accepting UDP (far more
    than its memory queue holds), keeps retrying, and once the database is back stores all of it once."""
    if backend != "postgresql":
        pytest.skip("a database that refuses connections: PostgreSQL (SQLite has no server to go away)")
    spool = tmp_path / "spool"
    tcp_lines, udp_lines = 5000, 300
    with Listener(env_for_cli, spool, "--batch-size", "200", "--queue", "200") as listening:
        logger(listening.tcp_port, lines_file(tmp_path / "warm.txt", "w", 100))
        listening.wait_for(r"stored 100 ")
        with postgres_refusing(engine):
            logger(listening.tcp_port, lines_file(tmp_path / "tcp.txt", "t", tcp_lines))
            logger(listening.udp_port, lines_file(tmp_path / "udp.txt", "u", udp_lines), udp=True)
            received = 100 + tcp_lines + udp_lines
            listening.wait_for(rf"received {received:,} \(udp {udp_lines}, tcp {tcp_lines + 100:,}\)  stored 100 ")
            listening.wait_for(r"could not store \d+ messages \(OperationalError")
            time.sleep(1)
        listening.wait_for(rf"stored {received:,} ", timeout=90)
        assert listening.terminate() == 0
    output = "".join(listening.seen)
    assert "UDP DROPPED" not in output and "NOT STORED" not in output
    assert stored(engine) == received
    assert set(details(engine).values()) == {1}
    assert runs(engine)[-1][:3] == ("completed", received, 0)


@pytest.mark.slow
def test_a_listener_started_during_an_outage_receives_and_stores_once_the_store_is_back(
    engine: Engine, backend: str, env_for_cli: dict[str, str], tmp_path: Path
):
    """The listener (re)starts while PostgreSQL refuses connections: it binds, says the store does not
    answer, takes TCP and UDP into its spool, and once the database is back opens its run and stores it
    all, once."""
    if backend != "postgresql":
        pytest.skip("a database that refuses connections: PostgreSQL (SQLite has no server to go away)")
    spool = tmp_path / "spool"
    tcp_lines, udp_lines = 3000, 200
    outage = contextlib.ExitStack()
    outage.enter_context(postgres_refusing(engine))
    try:
        wide = dict(env_for_cli, COLUMNS="300")  # the waiting line, unwrapped
        with Listener(wide, spool, "--batch-size", "200", ready=WAITING) as listening:
            logger(listening.tcp_port, lines_file(tmp_path / "tcp.txt", "t", tcp_lines))
            logger(listening.udp_port, lines_file(tmp_path / "udp.txt", "u", udp_lines), udp=True)
            received = tcp_lines + udp_lines
            listening.wait_for(rf"received {received:,} \(udp {udp_lines}, tcp {tcp_lines:,}\)  stored 0 ")
            outage.close()  # the database is back
            listening.wait_for(LISTENING, timeout=90)
            listening.wait_for(rf"stored {received:,} ", timeout=90)
            assert listening.terminate() == 0
    finally:
        outage.close()
    output = "".join(listening.seen)
    assert "UDP DROPPED" not in output and "NOT STORED" not in output
    assert stored(engine) == received
    assert set(details(engine).values()) == {1}
    assert runs(engine)[-1][:3] == ("completed", received, 0)
