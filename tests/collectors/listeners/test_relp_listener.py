"""The RELP intake: the protocol units, the exchange on the wire, then rsyslog's own ``omrelp`` sending
to the listener, and the point of it all: a listener killed with SIGKILL while rsyslog sends loses
nothing, because rsyslog sends again what was not acknowledged."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from listener_support import ListenerProcess, Running, writes_blocked
from sqlalchemy import Engine, select, text

from auditd.events.models import Event, QuarantinedRecord
from auditd.settings import Settings
from collectors.listeners.syslog import (
    RELP_OPEN_OK,
    Broken,
    ListenerOptions,
    RelpHangup,
    RelpMessage,
    RelpReply,
    RelpSession,
    SyslogListener,
    relp_response,
)
from collectors.pipeline import Ingestor
from collectors.profile import resolve_profile

LOCAL = ("127.0.0.1", 0)
OFFERS = b"relp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog"
OMRELP = next(iter(Path("/usr/lib").glob("*/rsyslog/omrelp.so")), None)
needs_omrelp = pytest.mark.skipif(
    shutil.which("rsyslogd") is None or OMRELP is None,
    reason="rsyslog's omrelp is not installed (Debian: apt-get install rsyslog-relp)",
)


def frame(txnr: int, command: str, data: bytes = b"") -> bytes:
    return f"{txnr} {command} {len(data)}".encode() + (b" " + data if data else b"") + b"\n"


def message(n: int) -> bytes:
    return f"<14>Feb  3 09:15:22 pc EPM: user=u{n % 7} pc=T1 op=PRINT count=1 file=r{n}.csv".encode()


def bytewise(session: RelpSession, data: bytes) -> list[object]:
    out: list[object] = []
    for i in range(len(data)):
        out.extend(session.feed(data[i : i + 1]))
    return out


# -- units ------------------------------------------------------------------------------------------------


def test_a_session_is_framed_the_same_over_any_split_of_the_stream():
    stream = (
        frame(1, "open", OFFERS)
        + frame(2, "syslog", message(1))
        + frame(3, "syslog", b"<14>multi\nline\n")  # LF inside DATA is data; the trailing one is trimmed
        + frame(4, "syslog")
        + frame(5, "close")
    )
    expected = [
        RelpReply(1, RELP_OPEN_OK),
        RelpMessage(2, message(1)),
        RelpMessage(3, b"<14>multi\nline"),
        RelpMessage(4, None),
        RelpReply(5, b""),
        RelpHangup("the sender closed the session", error=False),
    ]
    assert bytewise(RelpSession(limit=1000), stream) == expected
    for size in (2, 3, 7, 64, len(stream)):
        session = RelpSession(limit=1000)
        out = [a for start in range(0, len(stream), size) for a in session.feed(stream[start : start + size])]
        assert out == expected, size
    assert session.ended and session.feed(frame(6, "syslog", b"late")) == []


def test_the_answers_on_the_wire_echo_the_transaction_numbers():
    assert relp_response(1, RELP_OPEN_OK) == b"1 rsp 58 200 OK\nrelp_version=0\nrelp_software=auditd\ncommands=syslog\n"
    assert relp_response(123456789, b"200 OK") == b"123456789 rsp 6 200 OK\n"
    assert relp_response(7, b"") == b"7 rsp 0\n"


def test_transaction_numbers_must_follow_each_other_and_wrap():
    session = RelpSession(limit=1000)
    session._expected = 999_999_999
    assert session.feed(frame(999_999_999, "open", OFFERS) + frame(1, "syslog", b"<14>x")) == [
        RelpReply(999_999_999, RELP_OPEN_OK),
        RelpMessage(1, b"<14>x"),
    ]
    skipped = RelpSession(limit=1000)
    assert skipped.feed(frame(1, "open", OFFERS) + frame(3, "syslog", b"<14>x") + frame(4, "syslog", b"y")) == [
        RelpReply(1, RELP_OPEN_OK),
        RelpReply(3, b"500 transaction number 3 out of sequence (expected 2)"),
        RelpHangup("transaction number 3 out of sequence (expected 2)"),
    ]


def test_commands_that_cannot_be_served_are_answered_500_and_the_session_goes_on():
    session = RelpSession(limit=1000)
    out = session.feed(
        frame(1, "syslog", b"<14>too early")
        + frame(2, "open", b"relp_version=0\ncommands=hint")
        + frame(3, "open", OFFERS)
        + frame(4, "open", OFFERS)
        + frame(5, "starttls")
        + frame(6, "syslog", b"<14>fine")
    )
    assert out == [
        RelpReply(1, b"500 the session is not open"),
        RelpReply(2, b"500 required command not supported by client: syslog"),
        RelpReply(3, RELP_OPEN_OK),
        RelpReply(4, b"200 connection already open"),
        RelpReply(5, b"500 command 'starttls' not supported"),
        RelpMessage(6, b"<14>fine"),
    ]
    assert not session.ended


@pytest.mark.parametrize(
    ("data", "answer"),
    [
        (b"2 syslog 4 <14>x\n", b"2 rsp 38 500 no LF after the 4 bytes of DATALEN"),  # DATALEN too short
        (b"2 syslog 3\n", b"2 rsp 25 500 DATALEN 3 but no data"),
        (b"2 close 0 \n", b"2 rsp 49 500 a frame without data must end after DATALEN 0"),
        (b"2 syslog x <14>x\n", b"2 rsp 26 500 malformed frame header"),
        (b"2 syslog 1234567890 ", b"2 rsp 26 500 malformed frame header"),
        (b"2 sys-log 5 <14>x\n", b"2 rsp 26 500 malformed frame header"),
        (b"<14>plain syslog\n", None),  # not RELP at all: no transaction number to answer
        (b"1234567890 syslog 1 x\n", None),
    ],
)
def test_a_malformed_frame_is_answered_500_where_its_number_is_known_and_the_connection_closed(
    data: bytes, answer: bytes | None
):
    session = RelpSession(limit=1000)
    session.feed(frame(1, "open", OFFERS))
    out = bytewise(session, data)
    assert session.ended and isinstance(out[-1], RelpHangup)
    replies = [relp_response(a.txnr, a.data) for a in out if isinstance(a, RelpReply)]
    assert replies == ([answer + b"\n"] if answer else [])
    assert not [a for a in out if isinstance(a, RelpMessage)]


def test_a_too_long_message_is_cut_as_tcp_cuts_it_and_the_stream_goes_on():
    long_body = b"<13>" + b"x" * 5000
    session = RelpSession(limit=600)
    out = bytewise(session, frame(1, "open", OFFERS) + frame(2, "syslog", long_body) + frame(3, "syslog", b"<1>y"))
    assert out[0] == RelpReply(1, RELP_OPEN_OK) and out[2] == RelpMessage(3, b"<1>y")
    cut = out[1]
    assert isinstance(cut, RelpMessage) and cut.txnr == 2 and isinstance(cut.frame, Broken)
    assert cut.frame.reason_code == "too_long" and "5,004 bytes" in cut.frame.reason
    assert cut.frame.head.startswith(b"<13>xxx") and len(cut.frame.head) == 4096
    offers = RelpSession(limit=600)
    assert offers.feed(frame(1, "open", b"x" * 700)) == [RelpReply(1, b"500 open data longer than 600 bytes")]


# -- the listener -----------------------------------------------------------------------------------------


def relp_listener(engine: Engine, settings: Settings, tmp_path: Path | None, **options: object) -> SyslogListener:
    chosen = ListenerOptions(relp=LOCAL, spool_dir=tmp_path / "spool" if tmp_path else None, **options)  # type: ignore[arg-type]
    return SyslogListener(Ingestor(engine, settings), resolve_profile("syslog-kv-3164"), chosen)


ANSWER = re.compile(rb"(\d+) (rsp|serverclose) (\d+)[ \n]")


def receive(sock: socket.socket, count: int, timeout: float = 15) -> bytes:
    """The bytes of the next ``count`` answers (or of what came before the listener closed)."""
    sock.settimeout(timeout)
    data, position, seen = b"", 0, 0
    while seen < count:
        found = ANSWER.match(data, position)
        if found is not None:
            end = found.end() + (int(found.group(3)) + 1 if int(found.group(3)) else 0)
            if len(data) >= end:
                position, seen = end, seen + 1
                continue
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def details(engine: Engine) -> Counter[str]:
    with engine.connect() as conn:
        return Counter(str(d) for (d,) in conn.execute(select(Event.detail)))


@pytest.mark.parametrize("spooled", [True, False], ids=["spool", "memory"])
def test_the_exchange_on_the_wire_and_an_ack_only_once_durable(
    engine: Engine, settings: Settings, tmp_path: Path, spooled: bool
):
    """Open, two messages, close, answered exactly. While the database holds its writes, a message in
    the spool is acknowledged (it is ``fsync``'d); without a spool it is not, until it is stored."""
    listener = relp_listener(engine, settings, tmp_path if spooled else None, flush_ms=20, batch_size=10)
    with Running(listener) as running, socket.create_connection(listener.relp_address or LOCAL, timeout=15) as sock:
        sock.sendall(frame(1, "open", OFFERS))
        assert receive(sock, 1) == relp_response(1, RELP_OPEN_OK)
        with writes_blocked(engine):
            sock.sendall(frame(2, "syslog", message(1)))
            assert listener.wait_until(lambda s: s.relp_messages == 1, timeout=15)
            if spooled:
                assert receive(sock, 1) == b"2 rsp 6 200 OK\n"
                assert listener.stats.accepted == 0
            else:
                sock.settimeout(0.5)
                with pytest.raises(TimeoutError):
                    sock.recv(100)
        if not spooled:
            assert receive(sock, 1) == b"2 rsp 6 200 OK\n"
        sock.sendall(frame(3, "syslog", message(2) + b"\n") + frame(4, "close"))
        assert receive(sock, 2) == b"3 rsp 6 200 OK\n4 rsp 0\n"
        assert sock.recv(100) == b"", "the listener closes the connection after the close"
        assert listener.wait_until(lambda s: s.accepted == 2, timeout=15)
        running.stop()
    assert details(engine) == Counter({"r1.csv": 1, "r2.csv": 1})
    assert listener.stats.relp_connections == 1 and "relp 2)" in listener.stats.line()


def test_a_malformed_frame_over_the_wire_a_quarantined_message_and_a_stop_that_says_serverclose(
    engine: Engine, settings: Settings, tmp_path: Path
):
    """A frame that breaks the framing is answered 500 and its connection closed; a message too long
    is quarantined and acknowledged (it is handled); a stop sends what is acknowledged, then
    ``serverclose``."""
    listener = relp_listener(engine, settings, tmp_path, flush_ms=20, max_message_bytes=600)
    with Running(listener) as running:
        address = listener.relp_address or LOCAL
        with socket.create_connection(address, timeout=15) as bad:
            bad.sendall(frame(1, "open", OFFERS) + frame(2, "syslog", message(1)) + b"3 syslog 4 <14>xy\n")
            assert receive(bad, 3) == (
                relp_response(1, RELP_OPEN_OK) + b"2 rsp 6 200 OK\n3 rsp 38 500 no LF after the 4 bytes of DATALEN\n"
            )
            assert bad.recv(100) == b""
        with socket.create_connection(address, timeout=15) as kept:
            kept.sendall(frame(1, "open", OFFERS) + frame(2, "syslog", message(2)) + frame(3, "syslog", b"<14>" * 400))
            assert receive(kept, 3).endswith(b"2 rsp 6 200 OK\n3 rsp 6 200 OK\n")
            running.listener.stop()
            assert receive(kept, 1) == b"0 serverclose 0\n"
            assert kept.recv(100) == b""
        running.stop()
    assert details(engine) == Counter({"r1.csv": 1, "r2.csv": 1})
    with engine.connect() as conn:
        [(code, reason)] = conn.execute(select(QuarantinedRecord.reason_code, QuarantinedRecord.reason)).all()
    assert code == "too_long" and "1,600 bytes is longer than the 600 allowed" in reason


# -- rsyslog's omrelp ---------------------------------------------------------------------------------------

WINDOW = 128  # omrelp's windowSize (its default, written out): messages sent and not yet acknowledged


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Rsyslog:
    """A private rsyslogd (its own config, pid file and work directory) that takes messages on an
    imtcp input and relays them with omrelp, retrying forever while the listener is away."""

    def __init__(self, tmp_path: Path, relp_port: int) -> None:
        self.input_port = free_port()
        work = tmp_path / "rsyslog"
        work.mkdir()
        config = work / "rsyslog.conf"
        config.write_text(
            f'global(workDirectory="{work}")\n'
            'module(load="imtcp")\n'
            'module(load="omrelp")\n'
            f'input(type="imtcp" address="127.0.0.1" port="{self.input_port}" ruleset="relay")\n'
            'ruleset(name="relay") {\n'
            f'  action(type="omrelp" target="127.0.0.1" port="{relp_port}" windowSize="{WINDOW}"\n'
            '         action.resumeRetryCount="-1" action.resumeInterval="1")\n'
            "}\n",
            encoding="utf-8",
        )
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(work / "notify"))  # rsyslogd says READY=1 here, as it would to systemd
        notify.settimeout(15)
        self.log = work / "rsyslogd.log"  # its complaints while the listener is away
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                ["rsyslogd", "-n", "-f", str(config), "-i", str(work / "rsyslogd.pid")],
                env=dict(os.environ, NOTIFY_SOCKET=str(work / "notify")),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            with notify:
                assert b"READY=1" in notify.recv(1024)
        except BaseException:
            self.close()
            raise

    def send(self, path: Path) -> None:
        """util-linux logger sends each line of ``path`` to rsyslog's input."""
        subprocess.run(["logger", "-n", "127.0.0.1", "-P", str(self.input_port), "-T", "--rfc3164", "-t", "EPM",
                        "-f", str(path)], check=True, timeout=60, env=dict(os.environ, TZ="Asia/Tokyo"))  # fmt: skip

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(15)

    def __enter__(self) -> Rsyslog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def lines_file(path: Path, prefix: str, count: int) -> Path:
    path.write_text("".join(f"user=u{i % 7} pc=T1 op=PRINT count=1 file={prefix}{i}.csv\n" for i in range(count)))
    return path


@needs_omrelp
def test_rsyslog_omrelp_relays_every_message_exactly_once(engine: Engine, settings: Settings, tmp_path: Path):
    count = 2000
    listener = relp_listener(engine, settings, tmp_path, flush_ms=20, batch_size=500)
    with Running(listener) as running:
        assert listener.relp_address is not None
        with Rsyslog(tmp_path, listener.relp_address[1]) as rsyslog:
            rsyslog.send(lines_file(tmp_path / "lines.txt", "a", count))
            assert listener.wait_until(lambda s: s.accepted + s.quarantined >= count, timeout=60), listener.stats.line()
        total = running.stop()
    assert (total.accepted, total.quarantined) == (count, 0), dict(total.reasons)
    assert details(engine) == Counter({f"a{i}.csv": 1 for i in range(count)})
    assert listener.stats.relp_messages == count and listener.stats.relp_connections >= 1


def stored_runs(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return [(str(s), int(a)) for s, a in conn.execute(text("SELECT status, accepted FROM ingest_runs ORDER BY id"))]


@needs_omrelp
@pytest.mark.slow
def test_a_listener_killed_while_rsyslog_sends_loses_nothing(
    engine: Engine, env_for_cli: dict[str, str], tmp_path: Path
):
    """``auditd listen syslog --relp`` killed with SIGKILL in the middle of rsyslog's stream, then started
    again on the same port and spool: rsyslog sends again what was not acknowledged, and every message
    the source emitted is stored."""
    count = 5000
    # fsync (and so acknowledge) every 50 ms: with omrelp's window of 128 that is ~2,500 messages a
    # second, so the stream takes seconds and the kill (at 1,000 or a report later) lands in its middle
    options = ("--profile", "syslog-kv-3164", "--spool-dir", str(tmp_path / "spool"), "--report-seconds", "0.1",
               "--flush-ms", "50", "--batch-size", "200")  # fmt: skip
    with ListenerProcess(env_for_cli, "--relp", "127.0.0.1:0", *options) as one:
        port = int(one.wait_for(r"listening for syslog on relp 127\.0\.0\.1:(\d+) ").group(1))
        with Rsyslog(tmp_path, port) as rsyslog:
            rsyslog.send(lines_file(tmp_path / "lines.txt", "m", count))  # rsyslog queues them in memory
            while (at_kill := int(one.wait_for(r"received ([\d,]+) ").group(1).replace(",", ""))) < 1000:
                pass
            one.kill()
            assert at_kill < count, f"all {count} arrived before the kill"
            with ListenerProcess(env_for_cli, "--relp", f"127.0.0.1:{port}", *options) as two:
                two.wait_for(r"listening for syslog on relp")
                deadline = time.monotonic() + 90
                while len(got := details(engine)) < count and time.monotonic() < deadline:
                    time.sleep(0.2)
                rsyslog.close()  # it has nothing left to send: it closes its session
                two.wait_for(r"queued 0 ")
                assert two.terminate() == 0
    got = details(engine)
    assert set(got) == {f"m{i}.csv" for i in range(count)}, f"{count - len(got)} messages lost"
    # At least once: a message the first listener had spooled but whose acknowledgement rsyslog had not
    # read when it died is sent again and stored twice. rsyslog has at most its window unacknowledged,
    # so that is the bound on duplicates (the rest of what it resends was never spooled).
    duplicates = sum(got.values()) - count
    assert 0 <= duplicates <= WINDOW, f"{duplicates} messages stored twice"
    assert [status for status, _ in stored_runs(engine)] == ["failed", "completed"]
    print(f"killed after {at_kill:,} received; {duplicates} stored twice")
