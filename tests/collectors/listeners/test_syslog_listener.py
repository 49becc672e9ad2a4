"""The syslog listener: framing units, then the real thing — util-linux ``logger`` sending over UDP,
TCP with octet counting and TCP with LF framing — on both backends, in a thread and as the
``auditd listen syslog`` command."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from listener_support import Running, writes_blocked
from sqlalchemy import Engine, select, text

from auditd.errors import ValidationFailed
from auditd.events import repository as events_repo
from auditd.events.models import Event, QuarantinedRecord
from auditd.privacy.mynumber import check_digit
from auditd.settings import Settings
from collectors.listeners.syslog import (
    Broken,
    ListenerOptions,
    SyslogListener,
    TcpFramer,
    datagram_frame,
    parse_endpoint,
)
from collectors.pipeline import Ingestor
from collectors.profile import resolve_profile

MY_NUMBER = "98765432109" + str(check_digit("98765432109"))
CUT = b"<14>Feb  3 09:15:22 pc EPM: user=u1"
LOCAL = ("127.0.0.1", 0)

# -- units ------------------------------------------------------------------------------------------------


def test_endpoints():
    assert parse_endpoint("127.0.0.1:5514") == ("127.0.0.1", 5514)
    assert parse_endpoint("[::1]:514") == ("::1", 514)
    assert parse_endpoint(":6000") == ("127.0.0.1", 6000)
    assert parse_endpoint("6000") == ("127.0.0.1", 6000)
    with pytest.raises(ValidationFailed, match="HOST:PORT"):
        parse_endpoint("localhost:syslog")


def feed_bytewise(framer: TcpFramer, data: bytes) -> list[object]:
    out: list[object] = []
    for i in range(len(data)):
        out.extend(framer.feed(data[i : i + 1]))
    return out


def octets(*messages: bytes) -> bytes:
    return b"".join(str(len(m)).encode() + b" " + m for m in messages)


def test_octet_counting_frames_across_any_split_and_keep_line_feeds():
    data = octets(b"<13>1 - - x", b"<13>1 - multi\nline\n") + b"\n" + octets(b"<1>1 -")
    framer = TcpFramer(limit=1000)
    assert feed_bytewise(framer, data) == [b"<13>1 - - x", b"<13>1 - multi\nline", b"<1>1 -"]
    assert framer.mode == "octet"
    assert framer.finish(peer_closed=True) == []


def test_line_framing_with_crlf_nul_and_a_last_line_without_lf():
    framer = TcpFramer(limit=1000)
    assert framer.feed(b"<13>a\r\n<13>b\x00\n\n<13>c") == [b"<13>a", b"<13>b"]
    assert framer.mode == "lf"
    assert framer.finish(peer_closed=True) == [b"<13>c"]
    stopped = TcpFramer(limit=1000)
    stopped.feed(b"<13>a\n<13>half")
    [cut] = stopped.finish(peer_closed=False)
    assert isinstance(cut, Broken) and cut.reason_code == "bad_framing" and cut.head == b"<13>half"


def test_too_long_messages_are_cut_in_every_framing_and_the_stream_goes_on():
    long_body = b"<13>" + b"x" * 5000
    for data in (f"{len(long_body)} ".encode() + long_body + b"4 <1>y", long_body + b"\n<1>y\n"):
        out = feed_bytewise(TcpFramer(limit=600), data)
        assert len(out) == 2 and out[1] == b"<1>y", data[:10]
        first = out[0]
        assert isinstance(first, Broken) and first.reason_code == "too_long"
        assert "5,004 bytes" in first.reason and first.head.startswith(b"<13>xxx") and len(first.head) <= 4096
    assert isinstance(datagram_frame(long_body, 600), Broken)
    assert datagram_frame(b"<13>ok\n", 600) == b"<13>ok"
    assert datagram_frame(b"\n", 600) is None


def test_an_octet_count_that_is_not_a_number_falls_back_to_lines():
    framer = TcpFramer(limit=1000)
    assert framer.feed(b"12 <13>1 - - x") == []
    assert framer.feed(b"y<13>oops\n<13>next\n") == [b"<13>1 - - xy", b"<13>oops", b"<13>next"]
    assert framer.mode == "lf"
    partial = TcpFramer(limit=1000)
    partial.feed(b"40 <13>1 short")
    [cut] = partial.finish(peer_closed=True)
    assert isinstance(cut, Broken) and "closed after 11 of the 40 bytes" in cut.reason


def test_a_profile_of_another_format_is_refused(engine: Engine, settings: Settings):
    with pytest.raises(ValidationFailed, match="format: syslog"):
        SyslogListener(Ingestor(engine, settings), resolve_profile("demo-tax"), ListenerOptions(udp=LOCAL))


# -- the listener with real clients -----------------------------------------------------------------------


def listener_for(engine: Engine, settings: Settings, profile: str, **options: object) -> SyslogListener:
    chosen = ListenerOptions(udp=LOCAL, tcp=LOCAL, **options)  # type: ignore[arg-type]
    return SyslogListener(Ingestor(engine, settings), resolve_profile(profile), chosen)


def logger(port: int, *args: str, tz: str = "Asia/Tokyo") -> None:
    """util-linux logger(1), the reference client, sending to the listener."""
    env = dict(os.environ, TZ=tz)
    subprocess.run(["logger", "-n", "127.0.0.1", "-P", str(port), *args], check=True, timeout=15, env=env)


def send_tcp(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=15) as client:
        client.sendall(data)


def events(engine: Engine, *columns: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        found = conn.execute(select(*(getattr(Event, c) for c in columns)).order_by(*columns[:1])).all()
    return [tuple(row) for row in found]


def quarantine(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(QuarantinedRecord.reason_code, QuarantinedRecord.reason, QuarantinedRecord.raw_text).order_by(
                QuarantinedRecord.reason_code
            )
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_logger_over_udp_tcp_octet_counting_and_tcp_lines_is_stored_exactly(engine: Engine, settings: Settings):
    """RFC 5424 with the recommended structured data from util-linux logger over the three transports,
    a BSD message the profile cannot map and a line that is not syslog at all. Nothing is written
    before the stop (batch and interval are large): the stop itself stores what is buffered."""
    sd = ["--rfc5424", "--sd-id", "auditd@32473"]
    with Running(listener_for(engine, settings, "syslog-auditd-5424", batch_size=1000, flush_ms=60_000)) as running:
        logger(running.udp_port, "-d", *sd, "--sd-param", 'user="u1"', "--sd-param", 'terminal="T1101-01"',
               "--sd-param", 'jimu="個人住民税"', "--sd-param", 'action="view"', "--sd-param", 'subject="0000012345"',
               "-t", "ZEIMU", f"宛名照会 個人番号={MY_NUMBER}")  # fmt: skip
        logger(running.tcp_port, "-T", "--octet-count", *sd, "--sd-param", 'user="u2"',
               "--sd-param", 'jimu="生活保護 \\"至急\\""', "--sd-param", 'action="print"',
               "--sd-param", 'count="35"', "--sd-param", 'result="failure"', "--sd-param", 'screen="F0301"',
               "-t", "FUKUSHI", "一括印刷")  # fmt: skip
        logger(running.tcp_port, "-T", *sd, "--sd-param", 'user="u3"', "--sd-param", 'session="S3"',
               "--sd-param", 'action="search"', "-t", "ZEIMU", "検索 氏名=ヤマダ")  # fmt: skip
        logger(running.udp_port, "-d", "--rfc3164", "-t", "ZEIMU", "no structured data here")
        send_tcp(running.tcp_port, b"this is not syslog\n")
        assert running.listener.wait_until(lambda s: s.received == 5, timeout=15)
        assert running.listener.stats.batches == 0, "nothing is stored before the batch is full or due"
        total = running.stop()
    assert (total.read, total.accepted, total.quarantined, total.masked) == (5, 3, 2, 1)
    assert running.listener.stats.udp_messages == 2 and running.listener.stats.tcp_messages == 3
    rows = events(engine, "user_id", "system", "terminal_id", "session_id", "jimu", "action", "screen",
                  "subject_count", "result", "detail", "pii_masked", "subject_hash")  # fmt: skip
    assert [(*row[:11], row[11] is not None) for row in rows] == [
        ("u1", "ZEIMU", "T1101-01", None, "個人住民税", "view", None, 1, "success", "宛名照会 個人番号=[個人番号]",
         True, True),
        ("u2", "FUKUSHI", None, None, '生活保護 "至急"', "print", "F0301", 35, "failure", "一括印刷", False, False),
        ("u3", "ZEIMU", None, "S3", None, "search", None, 1, "success", "検索 氏名=ヤマダ", False, False),
    ]  # fmt: skip
    now = datetime.now(UTC)
    assert all(now - timedelta(minutes=5) < ts <= now for (ts,) in events(engine, "ts"))
    assert [(code, text_.endswith("no structured data here")) for code, _, text_ in quarantine(engine)] == [
        ("bad_syslog", False),
        ("missing_user_id", True),
    ]
    with engine.connect() as conn:
        run = conn.execute(text("SELECT status, records_read, accepted, quarantined, input FROM ingest_runs")).one()
        refs = events_repo.raw_refs(conn, settings.municipality_code)
    assert tuple(run)[:4] == ("completed", 5, 3, 2) and run.input.startswith("syslog:udp/127.0.0.1:")
    assert len(refs) == 3 and {ref.rpartition(":")[0] for ref in refs} == {run.input}  # <run input>:<message n>


def test_too_long_undecodable_and_broken_messages_are_quarantined_and_the_listener_goes_on(
    engine: Engine, settings: Settings
):
    long_message = "user=u1 op=PRINT file=" + "長" * 400  # 1,200 bytes of UTF-8 in the message alone
    with Running(listener_for(engine, settings, "syslog-kv-3164", max_message_bytes=600, flush_ms=20)) as running:
        logger(running.udp_port, "-d", "--rfc3164", "-S", "4000", "-t", "EPM", long_message)
        logger(running.tcp_port, "-T", "--octet-count", "--rfc3164", "-S", "4000", "-t", "EPM", long_message)
        logger(running.tcp_port, "-T", "--rfc3164", "-S", "4000", "-t", "EPM", long_message)
        send_tcp(running.tcp_port, b"<14>Feb  3 09:15:22 pc EPM: user=\xff\xfe op=PRINT\n")
        send_tcp(running.tcp_port, b"60 " + CUT)  # the sender vanished in the middle of a frame
        logger(running.udp_port, "-d", "--rfc3164", "-t", "EPM", "user=u2 pc=T2 op=PRINT count=1")
        assert running.listener.wait_until(lambda s: s.read == 6, timeout=15)
        total = running.stop()
    assert (total.accepted, total.quarantined) == (1, 5)
    assert dict(total.reasons) == {"too_long": 3, "bad_encoding": 1, "bad_framing": 1}
    reasons = quarantine(engine)
    too_long = [reason for code, reason, _ in reasons if code == "too_long"]
    assert all("longer than the 600 allowed" in reason for reason in too_long)
    assert any(f"after {len(CUT)} of the 60 bytes" in reason for code, reason, _ in reasons if code == "bad_framing")
    assert events(engine, "user_id", "action") == [("u2", "print")]


def test_concurrent_tcp_clients_with_both_framings(engine: Engine, settings: Settings):
    clients, per_client = 6, 150

    def client(number: int, barrier: threading.Barrier) -> None:
        lines = [
            f'<14>Feb  3 09:15:22 pc{number} EPM: user=u{number} pc=T{number} op=FILE_COPY file="c{number}-{i}.csv"'
            for i in range(per_client)
        ]
        if number % 2:
            data = b"".join(f"{len(m.encode())} ".encode() + m.encode() for m in lines)
        else:
            data = "".join(m + "\n" for m in lines).encode()
        with socket.create_connection(("127.0.0.1", running.tcp_port), timeout=15) as sock:
            barrier.wait(10)  # every connection is open before anyone sends
            for start in range(0, len(data), 997):  # pieces that split frames anywhere
                sock.sendall(data[start : start + 997])

    with Running(listener_for(engine, settings, "syslog-kv-3164", batch_size=200, flush_ms=20)) as running:
        barrier = threading.Barrier(clients)
        threads = [threading.Thread(target=client, args=(n, barrier)) for n in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert running.listener.wait_until(lambda s: s.accepted == clients * per_client, timeout=20)
        total = running.stop()
    assert running.listener.stats.tcp_connections == clients
    assert (total.accepted, total.quarantined) == (clients * per_client, 0)
    details = {detail for (detail,) in events(engine, "detail")}
    assert details == {f"c{n}-{i}.csv" for n in range(clients) for i in range(per_client)}


def test_a_slow_database_pauses_tcp_and_counts_udp_drops(engine: Engine, settings: Settings, tmp_path: Path):
    """While the database is held, the listener takes no more TCP messages than its queue holds (the
    rest waits in the sender's connection) and counts every UDP datagram it had to drop."""
    tcp_lines, udp_lines, batch, room = 300, 40, 10, 20
    tcp_file = tmp_path / "tcp.txt"
    tcp_file.write_text("".join(f"user=u{i} pc=T1 op=PRINT count=1 file=t{i}\n" for i in range(tcp_lines)), "utf-8")
    udp_file = tmp_path / "udp.txt"
    udp_file.write_text("".join(f"user=v{i} pc=T2 op=PRINT count=1 file=u{i}\n" for i in range(udp_lines)), "utf-8")
    options = {"batch_size": batch, "flush_ms": 20, "queue_messages": room}
    with Running(listener_for(engine, settings, "syslog-kv-3164", **options)) as running:
        listener = running.listener
        with writes_blocked(engine):
            sender = subprocess.Popen(
                ["logger", "-n", "127.0.0.1", "-P", str(running.tcp_port), "-T", "--rfc3164", "-t", "EPM",
                 "-f", str(tcp_file)],
                env=dict(os.environ, TZ="Asia/Tokyo"),
            )  # fmt: skip
            # A batch is being stored (it waits for the database) and the queue behind it is full:
            # from here on nothing is taken from the queue until the database lets go.
            assert listener.wait_until(lambda s: s.in_flight > 0 and s.queued == room, timeout=15), (
                "the queue is not full"
            )
            in_flight = listener.stats.in_flight
            assert in_flight + room <= listener.stats.tcp_messages <= in_flight + room + 1 < tcp_lines
            logger(running.udp_port, "-d", "--rfc3164", "-t", "EPM", "-f", str(udp_file))
            assert listener.wait_until(lambda s: s.udp_messages == udp_lines, timeout=15)
            assert listener.stats.udp_dropped == udp_lines
            assert listener.stats.accepted == 0
        assert listener.wait_until(lambda s: s.accepted == tcp_lines, timeout=20)
        assert sender.wait(15) == 0
        total = running.stop()
    assert (total.read, total.accepted, listener.stats.udp_dropped) == (tcp_lines, tcp_lines, udp_lines)
    assert "UDP DROPPED (queue full) 40" in listener.stats.line()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == tcp_lines


def test_a_second_stop_gives_up_on_a_database_that_does_not_answer(engine: Engine, settings: Settings, tmp_path: Path):
    """The first stop waits for the database; the second gives up on it: what is not stored is
    counted, and the run, which cannot be closed, stays open."""
    lines = tmp_path / "lines.txt"
    lines.write_text("".join(f"user=u{i} pc=T1 op=PRINT file=f{i}\n" for i in range(12)), encoding="utf-8")
    listener = listener_for(engine, settings, "syslog-kv-3164", batch_size=5, flush_ms=20)
    listener.abandon_grace_seconds = 0.2
    with Running(listener) as running, writes_blocked(engine):  # the run is opened before the lock
        logger(running.tcp_port, "-T", "--rfc3164", "-t", "EPM", "-f", str(lines))
        assert listener.wait_until(lambda s: s.received == 12, timeout=15)
        started = time.monotonic()
        total = running.stop(times=2)
        assert time.monotonic() - started < 10
        assert listener.hung and (listener.stats.unsaved, listener.stats.accepted, total.accepted) == (12, 0, 0)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT status FROM ingest_runs")).scalar_one() == "running"
    for thread in threading.enumerate():  # the writer the listener left behind finishes once the lock goes
        if thread.name.startswith("syslog-writer"):
            thread.join(30)


@pytest.mark.skipif(shutil.which("rsyslogd") is None, reason="rsyslog is not installed")
def test_rsyslog_relays_to_the_listener_with_octet_counting(engine: Engine, settings: Settings, tmp_path: Path):
    """The forwarding a municipality would configure: rsyslog receives from a system and relays RFC 5424
    over TCP with octet counting (its template ends each message with LF, inside the count)."""
    with Running(listener_for(engine, settings, "syslog-auditd-5424", flush_ms=20)) as running:
        with socket.socket() as probe:  # a free port for rsyslog's own input
            probe.bind(("127.0.0.1", 0))
            relay_port = probe.getsockname()[1]
        config = tmp_path / "rsyslog.conf"
        config.write_text(
            f'global(workDirectory="{tmp_path}")\n'
            'module(load="imtcp")\n'
            f'input(type="imtcp" address="127.0.0.1" port="{relay_port}")\n'
            f'action(type="omfwd" target="127.0.0.1" port="{running.tcp_port}" protocol="tcp" '
            'TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")\n',
            encoding="utf-8",
        )
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(tmp_path / "notify"))  # rsyslogd says READY=1 here, as it would to systemd
        notify.settimeout(15)
        rsyslogd = subprocess.Popen(
            ["rsyslogd", "-n", "-f", str(config), "-i", str(tmp_path / "rsyslogd.pid")],
            env=dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "notify")),
        )
        try:
            with notify:
                assert b"READY=1" in notify.recv(1024)
            sd = ["--rfc5424", "--sd-id", "auditd@32473"]
            logger(relay_port, "-T", *sd, "--sd-param", 'user="r1"', "--sd-param", 'action="view"',
                   "--sd-param", 'jimu="住民税 \\"普通\\""', "-t", "ZEIMU", f"照会 {MY_NUMBER}")  # fmt: skip
            logger(relay_port, "-T", *sd, "--sd-param", 'user="r2"', "--sd-param", 'action="export"',
                   "--sd-param", 'count="500"', "-t", "ZEIMU", "CSV出力")  # fmt: skip
            assert running.listener.wait_until(lambda s: s.read == 2, timeout=15)
        finally:
            rsyslogd.terminate()
            rsyslogd.wait(15)
        total = running.stop()
    assert (total.accepted, total.quarantined, total.masked) == (2, 0, 1)
    assert events(engine, "user_id", "action", "jimu", "subject_count", "detail") == [
        ("r1", "view", '住民税 "普通"', 1, "照会 [個人番号]"),
        ("r2", "export", None, 500, "CSV出力"),
    ]


# -- the command --------------------------------------------------------------------------------------------


def test_the_listen_syslog_command_with_logger_and_sigterm(engine: Engine, env_for_cli: dict[str, str]):
    """``auditd listen syslog`` as an operator runs it: it says where it listens, prints counts, and on
    SIGTERM stores what it holds, closes the run and prints the totals."""
    command = [sys.executable, "-m", "auditd", "listen", "syslog", "--profile", "syslog-kv-3164",
               "--udp", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--report-seconds", "0", "--flush-ms", "50"]  # fmt: skip
    process = subprocess.Popen(
        command,
        env=dict(env_for_cli, PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()

    def wait_for(pattern: str) -> re.Match[str]:
        while True:
            try:
                line = lines.get(timeout=20)
            except queue.Empty:
                process.kill()
                raise AssertionError(f"no line matching {pattern!r} in {seen}") from None
            found = re.search(pattern, line)
            if found:
                return found

    try:
        where = wait_for(r"listening for syslog on udp 127\.0\.0\.1:(\d+), tcp 127\.0\.0\.1:(\d+)")
        udp_port, tcp_port = int(where.group(1)), int(where.group(2))
        logger(udp_port, "-d", "--rfc3164", "-t", "EPM",
               'user=u7 pc=T1101-07 op=USB_WRITE file="住民 一覧.csv" count=120 result=OK')  # fmt: skip
        logger(tcp_port, "-T", "--rfc3164", "-t", "EPM", f"user=u8 pc=T1101-08 op=PRINT file={MY_NUMBER}.pdf count=2")
        logger(tcp_port, "-T", "--octet-count", "--rfc3164", "-t", "EPM", "user=u9 pc=T9 op=FORMAT_DISK")
        wait_for(r"received 3 \(udp 1, tcp 2\)  stored 2  duplicate 0  quarantined 1")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(10)
    assert process.stderr is not None
    assert not process.stderr.read()
    output = "".join(seen)
    assert "syslog run" in output and "unknown_code 1" in output
    now = datetime.now(UTC)
    rows = events(engine, "user_id", "system", "terminal_id", "action", "subject_count", "result", "detail", "ts")
    assert [row[:7] for row in rows] == [
        ("u7", "EPM", "T1101-07", "media_write", 120, "success", "住民 一覧.csv"),
        ("u8", "EPM", "T1101-08", "print", 2, "success", "[個人番号].pdf"),
    ]
    assert all(now - timedelta(minutes=5) < row[7] <= now for row in rows), "BSD time read in the profile's zone"
    with engine.connect() as conn:
        run = conn.execute(text("SELECT status, records_read, accepted, quarantined FROM ingest_runs")).one()
    assert tuple(run) == ("completed", 3, 2, 1)
