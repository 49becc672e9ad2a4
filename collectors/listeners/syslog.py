"""A syslog server: UDP, TCP with both framings of RFC 6587, and RELP, feeding the ingest pipeline.

Messages go into one bounded in-memory buffer; a single batcher takes them out every
``batch_size`` messages or ``flush_ms`` after the first one waiting, and stores each batch with
:class:`~collectors.pipeline.StreamIngest` in a worker thread (one writer at a time), so the event
loop never waits for the database. When the database is slow the buffer fills: TCP connections then
stop being read, and the kernel's flow control makes senders wait (back-pressure). UDP cannot push
back: a datagram that finds the buffer full is dropped, and every such drop is counted and reported.

Nothing that arrives is dropped silently: a message that cannot be parsed, is longer than
``max_message_bytes``, is not valid in the profile's encoding, or is broken by its framing is
quarantined through the pipeline with the reason (see :class:`~collectors.formats.syslog.RejectedText`).
On stop (SIGINT, SIGTERM or :meth:`SyslogListener.stop`) the listener stops receiving, stores what
is buffered, closes the run and returns its totals.

With a spool (``spool_dir``, as ``auditd listen syslog`` always runs), the buffer is on disk instead
(:mod:`collectors.listeners.spool`): every message is appended there as it is framed and handed to
the database only once ``fsync``'d; the run's checkpoint is the spool's record number, committed with
each batch. A listener killed at any point, or a database away for a while, loses nothing: on start
the listener stores what the spool holds first, continuing the killed run's record ids, so nothing is
stored twice. The spool is bounded (``spool_max_bytes``); at the bound TCP is paused and UDP dropped
(and counted) as with the memory buffer.

What a listener killed had not read from a TCP connection yet is lost, and the sender cannot know.
RELP (:class:`RelpSession`, rsyslog's ``omrelp``) closes that gap: each message is acknowledged once
it is durable (``fsync``'d in the spool; without a spool, stored), and the sender sends again whatever
was not acknowledged when a connection broke — at least once, with at most the sender's window of
unacknowledged messages stored twice after a kill.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.exc import InterfaceError, OperationalError

from auditd.errors import ValidationFailed
from auditd.events import repository as events_repo
from collectors.formats.syslog import RejectedText
from collectors.listeners import repository
from collectors.listeners.spool import Spool, SpoolQueue, Waiters
from collectors.pipeline import Ingestor, IngestSummary, RecordIdentity, StreamIngest
from collectors.profile import Profile

DEFAULT_PORT = 5514
READ_BYTES = 65_536
KEEP_BYTES = 4_096  # of a message too long to store: what the quarantine shows of it
UDP_RECEIVE_BUFFER = 4 << 20  # absorbs bursts while the loop is busy; the kernel may grant less
#: Database errors worth retrying (the server restarting, a lock): anything else is a bug and stops.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, OSError)
MAX_RETRY_SECONDS = 30.0
DEFAULT_SPOOL_BYTES = 1 << 30
#: On stop, how long a RELP connection waits for its last acknowledgements before it is closed.
RELP_GOODBYE_SECONDS = 5.0


def parse_endpoint(text: str, *, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT``, ``:PORT`` or ``PORT`` → (host, port)."""
    value = text.strip()
    host, port = value.rpartition(":")[::2] if ":" in value else ("", value)
    host = host.strip("[]") or default_host
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValidationFailed(
            f"{text!r} is not HOST:PORT", hint="for example 127.0.0.1:5514, 0.0.0.0:514 or [::1]:5514"
        )
    return host, int(port)


# -- framing --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Broken:
    """Bytes that arrived but cannot be a message as framed: quarantined with the reason."""

    head: bytes
    reason_code: str
    reason: str


Frame = bytes | Broken


def too_long(head: bytes, size: int, limit: int) -> Broken:
    return Broken(
        head[:KEEP_BYTES],
        "too_long",
        f"message of {size:,} bytes is longer than the {limit:,} allowed (--max-message-bytes); "
        f"its first {min(len(head), KEEP_BYTES):,} bytes are kept",
    )


def _trim(frame: bytes) -> bytes:
    """Senders end messages with LF, CRLF or NUL even where the framing does not need it."""
    return frame.rstrip(b"\r\n\x00")


def datagram_frame(data: bytes, limit: int) -> Frame | None:
    """One UDP datagram is one message (RFC 5426)."""
    message = _trim(data)
    if not message:
        return None
    return too_long(message, len(message), limit) if len(message) > limit else message


class TcpFramer:
    """RFC 6587 framing of one TCP connection, without I/O (fed bytes, returns messages).

    The first byte decides, as RFC 6587 §3.4 suggests: a digit means octet counting
    (``LEN SP MSG``, which allows LF inside a message), anything else non-transparent framing
    (each message ends at LF). A message longer than ``limit`` is discarded as it streams in (its
    first bytes are kept for the quarantine), so a hostile length costs no memory. An octet count
    that is not a number means the sender does not frame as it claimed: the rest of the connection
    is read as LF-framed, so what it sent is still quarantined rather than lost.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.mode: Literal["octet", "lf"] | None = None
        self._buffer = bytearray()
        self._need: int | None = None  # octet counting: length of the body being read
        self._skip = 0  # bytes of a too-long message still to discard (octet counting)
        self._skipping = False  # inside a too-long message
        self._skip_size = 0
        self._skip_head = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        out: list[Frame] = []
        if self.mode is None:
            start = data.lstrip(b"\r\n")[:1]
            if not start:
                return out
            self.mode = "octet" if start.isdigit() and start != b"0" else "lf"
        self._buffer += data
        if self.mode == "octet":
            self._octets(out)
        if self.mode == "lf":
            self._lines(out)
        return out

    def finish(self, *, peer_closed: bool) -> list[Frame]:
        """What is left when the connection ends: a last LF-less message if the peer closed, else
        (or if a frame is incomplete) a note of what was cut off."""
        out: list[Frame] = []
        rest = bytes(self._buffer)
        self._buffer.clear()
        if self._skipping:
            seen = self._skip_size + (len(rest) if self.mode == "lf" else 0)
            out.append(too_long(bytes(self._skip_head), seen, self.limit))
            return out
        if self._need is not None:
            who = "the connection closed" if peer_closed else "the listener stopped"
            reason = f"{who} after {len(rest):,} of the {self._need:,} bytes announced by the octet count"
            out.append(Broken(rest[:KEEP_BYTES], "bad_framing", reason))
            return out
        tail = _trim(rest)
        if not tail.strip():
            return out
        if self.mode == "octet":
            out.append(Broken(tail[:KEEP_BYTES], "bad_framing", "the connection ended inside an octet count"))
        elif peer_closed:
            out.append(too_long(tail, len(tail), self.limit) if len(tail) > self.limit else tail)
        else:
            out.append(Broken(tail[:KEEP_BYTES], "bad_framing", "the listener stopped before this message ended"))
        return out

    def _lines(self, out: list[Frame]) -> None:
        buffer = self._buffer
        if self._skipping:
            end = buffer.find(b"\n")
            if end < 0:
                self._skip_size += len(buffer)
                buffer.clear()
                return
            self._skip_size += end
            out.append(too_long(bytes(self._skip_head), self._skip_size, self.limit))
            self._skipping = False
            del buffer[: end + 1]
        *complete, rest = bytes(buffer).split(b"\n")
        for raw in complete:
            message = _trim(raw)
            if message:
                out.append(too_long(message, len(message), self.limit) if len(message) > self.limit else message)
        buffer[:] = rest
        if len(buffer) > self.limit:
            self._skipping = True
            self._skip_head = bytearray(buffer[:KEEP_BYTES])
            self._skip_size = len(buffer)
            buffer.clear()

    def _octets(self, out: list[Frame]) -> None:
        buffer = self._buffer
        position = 0
        while True:
            if self._skipping:
                taken = min(self._skip, len(buffer) - position)
                missing = KEEP_BYTES - len(self._skip_head)
                if missing > 0:
                    self._skip_head += buffer[position : position + min(taken, missing)]
                position += taken
                self._skip -= taken
                if self._skip:
                    break
                self._skipping = False
                out.append(too_long(bytes(self._skip_head), self._skip_size, self.limit))
                continue
            if self._need is None:
                while position < len(buffer) and buffer[position] in b"\r\n ":
                    position += 1  # some senders end octet-counted frames with LF too
                space = buffer.find(b" ", position, position + 12)
                if space < 0:
                    if len(buffer) - position >= 12:
                        self._give_up_counting(position)
                        return
                    break
                digits = bytes(buffer[position:space])
                if not digits.isdigit() or digits.startswith(b"0"):
                    self._give_up_counting(position)
                    return
                length = int(digits)
                position = space + 1
                if length > self.limit:
                    self._skipping, self._skip, self._skip_size, self._skip_head = True, length, length, bytearray()
                    continue
                self._need = length
            if len(buffer) - position < self._need:
                break
            message = _trim(bytes(buffer[position : position + self._need]))
            position += self._need
            self._need = None
            if message:
                out.append(message)
        del buffer[:position]

    def _give_up_counting(self, position: int) -> None:
        del self._buffer[:position]
        self.mode = "lf"


# -- RELP ---------------------------------------------------------------------------------------------

MAX_TXNR = 999_999_999
RELP_OPEN_OK = b"200 OK\nrelp_version=0\nrelp_software=auditd\ncommands=syslog"
RELP_OK = b"200 OK"
RELP_SERVER_CLOSE = b"0 serverclose 0\n"
_RELP_HEADER = re.compile(rb"(\d{1,9}) ([A-Za-z]{1,32}) (\d{1,9})([ \n])")
_RELP_PARTIAL = re.compile(rb"\d{0,9}(?: [A-Za-z]{0,32}(?: \d{0,9})?)?")  # a header not complete yet
_RELP_TXNR = re.compile(rb"(\d{1,9}) ")


@dataclass(frozen=True)
class RelpReply:
    """Answer ``txnr`` with ``data`` now (after the answers before it)."""

    txnr: int
    data: bytes


@dataclass(frozen=True)
class RelpMessage:
    """A ``syslog`` command: store ``frame``, answer ``200 OK`` once it is durable (``None``: empty,
    nothing to store, answer at once)."""

    txnr: int
    frame: Frame | None


@dataclass(frozen=True)
class RelpHangup:
    """Close the connection once the answers before this are sent (``error``: not a ``close``)."""

    reason: str
    error: bool = True


RelpAction = RelpReply | RelpMessage | RelpHangup


def relp_response(txnr: int, data: bytes) -> bytes:
    """``TXNR rsp DATALEN [SP DATA] LF``."""
    return b"%d rsp %d" % (txnr, len(data)) + (b" " + data if data else b"") + b"\n"


class RelpSession:
    """The server side of one RELP v1 connection (rsyslog's ``omrelp``), without I/O: fed bytes, it
    returns what to do (:data:`RelpAction`).

    Frames are ``TXNR SP COMMAND SP DATALEN [SP DATA] LF``; the transaction numbers go 1, 2, …,
    999,999,999, 1 … as librelp sends them. Commands: ``open`` (the offers are answered with ours),
    ``syslog`` (one message, framed as a TCP message would be: see :class:`TcpFramer`), ``close``
    (answered, then the connection ends). A well-framed command that cannot be served is answered
    ``500`` and the session goes on; a frame that breaks the framing is answered ``500`` when its
    transaction number could be read, and the connection is closed either way: what follows cannot
    be framed. A ``syslog`` whose data is longer than ``limit`` is discarded as it streams in and
    quarantined as ``too_long`` (and acknowledged: it is handled). A frame cut off by the end of the
    connection is dropped: it was not acknowledged, so the sender sends it again.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.opened = False
        self.ended = False
        self._expected = 1
        self._buffer = bytearray()
        self._header: tuple[int, str, int] | None = None  # the frame whose data is being read
        self._got = 0
        self._data = bytearray()  # the data, or its first KEEP_BYTES if longer than the limit

    def feed(self, data: bytes) -> list[RelpAction]:
        out: list[RelpAction] = []
        if self.ended:
            return out
        buffer = self._buffer
        buffer += data
        position = 0
        while not self.ended:
            if self._header is None:
                found = _RELP_HEADER.match(buffer, position)
                if found is None:
                    if _RELP_PARTIAL.fullmatch(buffer, position):
                        break  # a header still arriving
                    known = _RELP_TXNR.match(buffer, position)
                    self._broken(out, int(known.group(1)) if known else None, "malformed frame header")
                    break
                txnr, command, length = int(found.group(1)), found.group(2).decode(), int(found.group(3))
                position = found.end()
                if length == 0:
                    if found.group(4) != b"\n":
                        self._broken(out, txnr, "a frame without data must end after DATALEN 0")
                        break
                    self._command(out, txnr, command, b"")
                    continue
                if found.group(4) != b" ":
                    self._broken(out, txnr, f"DATALEN {length} but no data")
                    break
                self._header, self._got = (txnr, command, length), 0
                self._data.clear()
            txnr, command, length = self._header
            taken = min(length - self._got, len(buffer) - position)
            keep = length if length <= self.limit else KEEP_BYTES
            if len(self._data) < keep:
                self._data += buffer[position : position + min(taken, keep - len(self._data))]
            position += taken
            self._got += taken
            if self._got < length or position >= len(buffer):
                break  # the data, or its trailer, still arriving
            if buffer[position] != 0x0A:
                self._broken(out, txnr, f"no LF after the {length:,} bytes of DATALEN")
                break
            position += 1
            self._header = None
            body: Frame = bytes(self._data) if length <= self.limit else too_long(bytes(self._data), length, self.limit)
            self._command(out, txnr, command, body)
        del buffer[:position]
        return out

    def _command(self, out: list[RelpAction], txnr: int, command: str, data: Frame) -> None:
        if txnr != self._expected:
            self._broken(out, txnr, f"transaction number {txnr} out of sequence (expected {self._expected})")
            return
        self._expected = 1 if txnr == MAX_TXNR else txnr + 1
        if isinstance(data, Broken) and command != "syslog":
            out.append(RelpReply(txnr, f"500 {command} data longer than {self.limit:,} bytes".encode()))
        elif command == "open":
            out.append(RelpReply(txnr, self._open(data) if not self.opened else b"200 connection already open"))
        elif command == "syslog" and not self.opened:
            out.append(RelpReply(txnr, b"500 the session is not open"))
        elif command == "syslog":
            message = data if isinstance(data, Broken) else _trim(data)
            out.append(RelpMessage(txnr, message or None))
        elif command == "close":
            out.append(RelpReply(txnr, b""))
            out.append(RelpHangup("the sender closed the session", error=False))
            self.ended = True
        else:
            out.append(RelpReply(txnr, f"500 command {command!r} not supported".encode()))

    def _open(self, data: Frame) -> bytes:
        assert isinstance(data, bytes)
        offers: dict[str, list[str]] = {}
        for line in data.decode("utf-8", "replace").split("\n"):
            name, _, values = line.partition("=")
            if name:
                offers[name.strip()] = [v for v in values.split(",") if v]
        if not [v for v in offers.get("relp_version", []) if v.isdigit()]:
            return b"500 the open offers no relp_version"
        if "syslog" not in offers.get("commands", []):
            return b"500 required command not supported by client: syslog"
        self.opened = True
        return RELP_OPEN_OK

    def _broken(self, out: list[RelpAction], txnr: int | None, reason: str) -> None:
        if txnr is not None:
            out.append(RelpReply(txnr, f"500 {reason}".encode()))
        out.append(RelpHangup(reason))
        self.ended = True
        self._buffer.clear()


# -- the buffer ---------------------------------------------------------------------------------------


class MessageBuffer:
    """A bounded FIFO of messages between the receivers and the one batcher (event-loop only).

    Bounded in messages and in bytes, so a slow database costs at most that much memory. TCP
    receivers wait for room (:meth:`put`); UDP receivers cannot, and get ``False`` (:meth:`offer`).
    Messages are numbered as they come; one is durable (:meth:`durable`) once the batch holding it is
    stored (:meth:`stored`): there is no earlier point at which it survives the process.
    """

    def __init__(self, max_messages: int, max_bytes: int) -> None:
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._items: deque[tuple[str, int]] = deque()
        self._bytes = 0
        self._closed = False
        self._want = max_messages + 1
        self._not_empty = asyncio.Event()
        self._not_full = asyncio.Event()
        self._not_full.set()
        self._enough = asyncio.Event()
        self._appended = 0  # number of the next message
        self._taken = 0  # number of the first message not taken
        self._durable = Waiters()

    def __len__(self) -> int:
        return len(self._items)

    def full(self) -> bool:
        return len(self._items) >= self.max_messages or self._bytes >= self.max_bytes

    def offer(self, text: str, size: int) -> bool:
        if self.full():
            return False
        self._append(text, size)
        return True

    async def put(self, text: str, size: int) -> int:
        """Add ``text`` once there is room; returns its number (see :meth:`durable`)."""
        while self.full() and not self._closed:
            self._not_full.clear()
            await self._not_full.wait()
        return self._append(text, size)

    def _append(self, text: str, size: int) -> int:
        self._items.append((text, size))
        self._bytes += size
        self._not_empty.set()
        if len(self._items) >= self._want:
            self._enough.set()
        self._appended += 1
        return self._appended - 1

    def durable(self, number: int) -> asyncio.Future[None]:
        """Done once message ``number`` is stored."""
        return self._durable.until(number)

    def stored(self, end: int) -> None:
        """The messages before ``end`` (a :attr:`taken_end`) are committed to the store."""
        self._durable.reached(end)

    @property
    def taken_end(self) -> int:
        """The number after the batch last taken."""
        return self._taken

    async def take(self, count: int, linger: float) -> list[str] | None:
        """Up to ``count`` messages, waiting at most ``linger`` seconds for that many once one is
        there; ``None`` when closed and empty."""
        while not self._items:
            if self._closed:
                return None
            self._not_empty.clear()
            await self._not_empty.wait()
        if len(self._items) < count and not self._closed:
            self._want = count
            self._enough.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._enough.wait(), linger)
            self._want = self.max_messages + 1
        batch = []
        for _ in range(min(count, len(self._items))):
            text, size = self._items.popleft()
            self._bytes -= size
            batch.append(text)
        self._taken += len(batch)
        if not self.full():
            self._not_full.set()
        return batch

    def close(self) -> None:
        """No more messages will be taken in by waiting: :meth:`take` returns what is left, then
        ``None``; :meth:`put` no longer waits for room."""
        self._closed = True
        self._not_empty.set()
        self._enough.set()
        self._not_full.set()  # nobody may wait for room any more


# -- the listener -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListenerOptions:
    udp: tuple[str, int] | None = None
    tcp: tuple[str, int] | None = None
    #: RELP (rsyslog's ``omrelp``): TCP whose every message is acknowledged once durable.
    relp: tuple[str, int] | None = None
    batch_size: int = 2000
    flush_ms: int = 500
    max_message_bytes: int = 65_536
    queue_messages: int = 20_000
    queue_bytes: int = 64 << 20
    report_seconds: float = 10.0  # 0: after every stored batch
    #: Buffer on disk here (see :mod:`collectors.listeners.spool`); ``None``: in memory (``queue_*``).
    spool_dir: Path | None = None
    spool_max_bytes: int = DEFAULT_SPOOL_BYTES

    def __post_init__(self) -> None:
        if self.udp is None and self.tcp is None and self.relp is None:
            raise ValidationFailed("nothing to listen on: give a UDP, a TCP or a RELP address (or several)")
        if self.batch_size < 1 or self.flush_ms < 1:
            raise ValidationFailed("batch size and flush interval must be at least 1")
        if self.max_message_bytes < 480:  # RFC 5424 §6.1: every receiver accepts 480 octets
            raise ValidationFailed("the largest message must be at least 480 bytes (RFC 5424 §6.1)")
        if self.queue_messages < self.batch_size:
            raise ValidationFailed("the queue must hold at least one batch")


@dataclass
class ListenerStats:
    """Counts since start. Changed on the event loop only; read from anywhere."""

    udp_messages: int = 0
    tcp_messages: int = 0
    tcp_connections: int = 0
    relp_messages: int = 0
    relp_connections: int = 0
    relp: bool = False  # listening on RELP: its count is shown
    udp_dropped: int = 0
    transport_rejects: int = 0  # too long, undecodable, broken framing (quarantined)
    batches: int = 0
    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    masked: int = 0
    write_errors: int = 0
    unsaved: int = 0
    queued: int = 0  # messages waiting in the queue
    in_flight: int = 0  # messages of the batch being stored right now
    spool_bytes: int | None = None  # bytes the spool takes on disk (None: no spool)
    recovered: int = 0  # messages an earlier run left in the spool, stored by this one
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def received(self) -> int:
        return self.udp_messages + self.tcp_messages + self.relp_messages

    def line(self) -> str:
        relp = f", relp {self.relp_messages:,}" if self.relp else ""
        parts = [
            f"received {self.received:,} (udp {self.udp_messages:,}, tcp {self.tcp_messages:,}{relp})",
            f"stored {self.accepted:,}",
            f"duplicate {self.duplicates:,}",
            f"quarantined {self.quarantined:,}",
            f"個人番号 masked {self.masked:,}",
            f"queued {self.queued:,}",
        ]
        if self.udp_dropped:
            parts.append(f"UDP DROPPED (queue full) {self.udp_dropped:,}")
        if self.unsaved:
            parts.append(f"NOT STORED {self.unsaved:,}")
        if self.spool_bytes is not None:
            parts.append(f"spool {self.spool_bytes / 1e6:,.1f} MB")
        return "  ".join(parts)


class SpooledStream(StreamIngest):
    """A :class:`StreamIngest` whose checkpoint (the run's ``position``) is the spool's record number.

    Each batch commits its events with the number of the spool record after it, and with the record-id
    window (see :class:`~collectors.pipeline.RecordIdentity`). A listener started again continues from
    there with that window, so the records it stores get exactly the ids of an uninterrupted run, and a
    record stored before (should the spool hand it out again) is a duplicate, not a second event.
    """

    def __init__(
        self,
        ingestor: Ingestor,
        profile: Profile,
        input_name: str,
        *,
        actor: str,
        mark: str,
        position: int,
        window: bytes | None,
        interrupted: int | None,
    ) -> None:
        super().__init__(ingestor, profile, input_name, actor=actor, identity="run")
        self._identity = RecordIdentity(ingestor.municipality_code, profile.source_name, window)
        with ingestor.engine.begin() as conn:
            events_repo.update_run(conn, self.run_id, fingerprint=mark, position=position, identity_window=window)
            if interrupted is not None:
                events_repo.update_run(
                    conn,
                    interrupted,
                    status="failed",
                    finished_at=datetime.now(UTC),
                    error=f"the listener stopped without closing the run; run {self.run_id} stored its spool",
                )

    def ingest_until(self, texts: list[str], end: int) -> IngestSummary:
        """Store one batch, the spool records before ``end``, in one transaction; returns its counts."""
        batch = IngestSummary(source=self.total.source, input=self.total.input, run_id=self.total.run_id)
        if not texts:
            return batch
        started = time.perf_counter()
        chunk = self.reader.records(texts, first_line=self.total.read + 1)
        chunk.end_line = self.total.read + len(texts)
        chunk.end_position = end
        before = self._identity.state()
        try:
            self.ingestor.store_chunk(chunk, self.profile, batch, self._identity, framed=True)
        except BaseException:  # a retried batch must be ranked as if it had never been seen
            self._identity = RecordIdentity(self.ingestor.municipality_code, self.total.source, before)
            raise
        batch.seconds = time.perf_counter() - started
        for name in ("read", "accepted", "duplicates", "quarantined", "masked"):
            setattr(self.total, name, getattr(self.total, name) + getattr(batch, name))
        self.total.reasons.update(batch.reasons)
        return batch


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, listener: SyslogListener) -> None:
        self.listener = listener

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.listener._datagram(data)


class SyslogListener:
    """Receives syslog and stores it as one ingest run. Run :meth:`run` on an event loop; call
    :meth:`stop` from anywhere (a signal handler, another thread) to end it."""

    #: After a second stop, how long a write still in progress is waited for.
    abandon_grace_seconds = 5.0

    def __init__(
        self,
        ingestor: Ingestor,
        profile: Profile,
        options: ListenerOptions,
        *,
        actor: str = "system",
        say: Callable[[str], None] | None = None,
    ) -> None:
        if profile.kind != "events":
            raise ValidationFailed(f"profile {profile.name} is for {profile.kind} feeds, not operation logs")
        if profile.format != "syslog":
            raise ValidationFailed(
                f"profile {profile.name} reads {profile.format}; the syslog listener needs format: syslog",
                hint="for example syslog-auditd-5424 or syslog-kv-3164 (auditd profile list)",
            )
        self.ingestor = ingestor
        self.profile = profile
        self.options = options
        self.actor = actor
        self.say = say
        self.stats = ListenerStats(relp=options.relp is not None)
        self.udp_address: tuple[str, int] | None = None
        self.tcp_address: tuple[str, int] | None = None
        self.relp_address: tuple[str, int] | None = None
        self.run_id: int | None = None
        #: A write hung and was given up on (second stop): the run could not be closed. The given-up
        #: write still holds its worker thread; the CLI ends the process, so its transaction is rolled
        #: back, but in a process that lives on it may still commit after being counted as not stored.
        self.hung = False
        self._decode = _decoder(profile.encoding)
        self._changed = threading.Condition()
        self._stop_calls = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._spool: Spool | None = None
        self._stream: StreamIngest
        self._gave_up = False  # spooling: a batch was given up on, so nothing after it may be committed

    # -- control (any thread) ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop receiving, store what is buffered, close the run. A second call stops waiting for a
        database that does not answer: what could not be stored is counted as not stored."""
        self._stop_calls += 1
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._on_stop)

    def wait_until(self, condition: Callable[[ListenerStats], bool], timeout: float) -> bool:
        """Block (not on the listener's loop) until ``condition(stats)`` holds; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: condition(self.stats), timeout)

    def _on_stop(self) -> None:
        self._stopping.set()
        if self._stop_calls > 1:
            self._abandon.set()

    def _changed_now(self) -> None:
        self.stats.queued = len(self._buffer)
        if self._spool is not None:
            self.stats.spool_bytes = self._spool.size
        with self._changed:
            self._changed.notify_all()

    # -- running ----------------------------------------------------------------------------------------

    async def run(self, ready: Callable[[SyslogListener], None] | None = None) -> IngestSummary:
        """Bind, open the run, serve until :meth:`stop`, then drain and close. ``ready`` is called once
        the sockets are bound (their addresses are in ``udp_address`` / ``tcp_address`` / ``relp_address``)."""
        loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._abandon = asyncio.Event()
        self._buffer: MessageBuffer | SpoolQueue = MessageBuffer(self.options.queue_messages, self.options.queue_bytes)
        self._clients: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._relp_clients: set[asyncio.Task[None]] = set()
        self._intake_closed = asyncio.Event()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="syslog-writer")
        self._loop = loop
        if self._stop_calls:
            self._on_stop()
        udp: asyncio.DatagramTransport | None = None
        servers: list[asyncio.Server] | None = None
        reporter: asyncio.Task[None] | None = None
        try:
            if self.options.spool_dir is not None:  # before binding: what arrives goes to disk from the start
                spool = Spool(self.options.spool_dir, self.options.spool_max_bytes)
                state = spool.open()
                self._spool = spool
                for note in spool.torn:
                    self._say(f"spool: {note}")
                self._buffer = SpoolQueue(spool, batch=self.options.batch_size, flush=self.options.flush_ms / 1000)
            udp, servers = await self._bind()
            reporter = asyncio.create_task(self._reporter())  # what is received is told, store or no store
            if self._spool is not None:
                assert isinstance(self._buffer, SpoolQueue)
                self._buffer.start()  # received and fsync'd from now on, whether the store answers or not
                self._stream = await self._open_spooled(state.run_id)
                self.stats.recovered = self._spool.synced - self._spool.committed
                if self.stats.recovered:
                    self._say(
                        f"the spool holds {self.stats.recovered:,} messages not stored yet: they are stored first"
                    )
            else:
                self._stream = await loop.run_in_executor(
                    self._writer,
                    functools.partial(
                        StreamIngest, self.ingestor, self.profile, self.input_name, actor=self.actor, identity="run"
                    ),
                )
            self.run_id = self._stream.run_id
            if ready is not None:
                ready(self)
            batcher = asyncio.create_task(self._batcher())
            stopping = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({stopping, batcher}, return_when=asyncio.FIRST_COMPLETED)
            if batcher.done():  # only a bug ends it early: stop receiving, count what is lost, say so
                stopping.cancel()
                reporter.cancel()
                error = batcher.exception() or RuntimeError("the syslog batcher ended")
                self._buffer.close()  # connections waiting for room go on to their end
                await self._close_intake(udp, servers)
                udp = servers = None
                self.stats.unsaved += len(self._buffer)
                self._changed_now()
                await loop.run_in_executor(
                    self._writer, functools.partial(self._stream.close, "failed", f"{type(error).__name__}: {error}")
                )
                raise error
            await self._close_intake(udp, servers)
            udp = servers = None
            self._buffer.close()
            await batcher
            reporter.cancel()
            if self.hung:  # the writer thread is stuck in the database: the run cannot be closed
                self._changed_now()
                return self._stream.total
            status, error_text = ("completed", None)
            if self.stats.unsaved:
                status, error_text = "failed", f"{self.stats.unsaved:,} messages could not be stored"
            total: IngestSummary = await loop.run_in_executor(
                self._writer, functools.partial(self._stream.close, status, error_text)
            )
            self._changed_now()
            return total
        finally:
            if reporter is not None:
                reporter.cancel()
            if udp is not None or servers is not None:
                await self._close_intake(udp, servers)
            self._buffer.close()
            self._writer.shutdown(wait=not self.hung, cancel_futures=self.hung)
            if self._spool is not None:
                self._spool.close()

    async def _open_spooled(self, run_id: int | None) -> SpooledStream:
        """Open the spooled run, waiting for the store if it does not answer (a listener restarted during
        an outage): the sockets are bound and the spool takes what arrives meanwhile, within its bound.
        A stop while waiting ends the listener; what was received stays in the spool for the next start."""
        assert self._spool is not None
        loop = asyncio.get_running_loop()
        delay = 1.0
        while True:
            call = functools.partial(self._spooled_stream, self._spool, run_id)
            try:
                return await loop.run_in_executor(self._writer, call)
            except TRANSIENT_ERRORS as exc:
                if self._stopping.is_set():
                    raise
                self.stats.write_errors += 1
                self._say(
                    f"the store does not answer ({type(exc).__name__}), retrying in {delay:.0f} s; "
                    f"listening on {self.addresses()}, receiving into the spool"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, MAX_RETRY_SECONDS)

    def addresses(self) -> str:
        """Where it listens, for people: ``udp 127.0.0.1:514, tcp [::1]:514``."""
        where = []
        for name, address in (("udp", self.udp_address), ("tcp", self.tcp_address), ("relp", self.relp_address)):
            if address is not None:
                host, port = address
                where.append(f"{name} [{host}]:{port}" if ":" in host else f"{name} {host}:{port}")
        return ", ".join(where)

    def _spooled_stream(self, spool: Spool, run_id: int | None) -> SpooledStream:
        """Open the run (writer thread). It continues the run named in the spool's state: from that
        run's checkpoint, committed with its events (the state file is written after and may lag)."""
        # the run's fingerprint names its spool (a file's would be "<n>:<sha256>", a push's "body:…")
        mark = "spool:" + hashlib.sha256(str(spool.directory.resolve()).encode()).hexdigest()[:40]
        earlier: dict[str, Any] | None = None
        if run_id is not None:
            with self.ingestor.engine.connect() as conn:
                earlier = repository.run_checkpoint(conn, self.ingestor.municipality_code, run_id)
        if earlier is not None and (earlier["fingerprint"] != mark or earlier["source"] != self.profile.source_name):
            earlier = None  # another store or another source: replay what is kept (nothing is stored twice)
        if earlier is not None:
            spool.resume_at(int(earlier["position"] or 0))
        stream = SpooledStream(
            self.ingestor,
            self.profile,
            self.input_name,
            actor=self.actor,
            mark=mark,
            position=spool.committed,
            window=earlier["identity_window"] if earlier is not None else None,
            interrupted=int(earlier["id"]) if earlier is not None and earlier["status"] == "running" else None,
        )
        spool.save_state(stream.run_id)
        return stream

    @property
    def input_name(self) -> str:
        where = []
        if self.udp_address:
            where.append(f"udp/{_show(self.udp_address)}")
        if self.tcp_address:
            where.append(f"tcp/{_show(self.tcp_address)}")
        if self.relp_address:
            where.append(f"relp/{_show(self.relp_address)}")
        return "syslog:" + "+".join(where)

    async def _bind(self) -> tuple[asyncio.DatagramTransport | None, list[asyncio.Server]]:
        loop = asyncio.get_running_loop()
        udp: asyncio.DatagramTransport | None = None
        servers: list[asyncio.Server] = []
        which, address = "udp", self.options.udp
        try:
            if self.options.udp:
                udp, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self), local_addr=self.options.udp)
                sock = udp.get_extra_info("socket")
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
                host, port = sock.getsockname()[:2]
                self.udp_address = (str(host), int(port))
            which, address = "tcp", self.options.tcp
            if self.options.tcp:
                servers.append(await asyncio.start_server(self._client, *self.options.tcp, limit=READ_BYTES))
                host, port = servers[-1].sockets[0].getsockname()[:2]
                self.tcp_address = (str(host), int(port))
            which, address = "relp", self.options.relp
            if self.options.relp:
                servers.append(await asyncio.start_server(self._relp_client, *self.options.relp, limit=READ_BYTES))
                host, port = servers[-1].sockets[0].getsockname()[:2]
                self.relp_address = (str(host), int(port))
        except OSError as exc:
            if udp is not None:
                udp.close()
            for server in servers:
                server.close()
            raise ValidationFailed(
                f"cannot listen on {which} {_show(address)}: {exc.strerror or exc}",
                hint="ports below 1024 need privileges: listen on 5514 and redirect 514 to it, or pick a free port",
            ) from exc
        return udp, servers

    async def _close_intake(self, udp: asyncio.DatagramTransport | None, servers: list[asyncio.Server] | None) -> None:
        """Stop receiving: no new datagrams or connections; open connections are closed after what
        they already delivered is buffered. A RELP connection first stops being read, is sent the
        acknowledgements of what became durable meanwhile and ``serverclose``, then closed."""
        if udp is not None:
            udp.close()
        for server in servers or []:
            server.close()
        self._intake_closed.set()  # RELP connections stop reading and say goodbye
        for task, writer in list(self._clients.items()):
            if task not in self._relp_clients:
                writer.close()
        if self._clients:
            await asyncio.gather(*self._clients, return_exceptions=True)

    # -- receiving --------------------------------------------------------------------------------------

    def _datagram(self, data: bytes) -> None:
        frame = datagram_frame(data, self.options.max_message_bytes)
        if frame is None:
            return
        self.stats.udp_messages += 1
        text = self._text(frame)
        if not self._buffer.offer(text, len(data)):
            self.stats.udp_dropped += 1
        self._changed_now()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients[task] = writer
        self.stats.tcp_connections += 1
        framer = TcpFramer(self.options.max_message_bytes)
        try:
            while True:
                try:
                    data = await reader.read(READ_BYTES)
                except (ConnectionError, OSError):
                    data = b""
                if not data:
                    break
                for frame in framer.feed(data):
                    await self._put(frame)
                self._changed_now()
            for frame in framer.finish(peer_closed=not self._stopping.is_set()):
                await self._put(frame)
            self._changed_now()
        finally:
            writer.close()
            self._clients.pop(task, None)

    async def _put(self, frame: Frame, *, relp: bool = False) -> int:
        """Queue one message of a connection (waiting for room); returns its number in the queue."""
        if relp:
            self.stats.relp_messages += 1
        else:
            self.stats.tcp_messages += 1
        size = len(frame) if isinstance(frame, bytes) else len(frame.head)
        if self._buffer.full():
            self._changed_now()  # this connection is about to wait: let observers see the full queue
        return await self._buffer.put(self._text(frame), size)

    async def _relp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One RELP connection: its messages go where TCP's go; each is acknowledged once the queue
        says it is durable (:meth:`SpoolQueue.durable`: ``fsync``'d; without a spool, stored). The
        acknowledgements leave in order, from :meth:`_relp_answers`, so reading never waits for them:
        the sender's window (unacknowledged messages it may send) is what holds it back."""
        task = asyncio.current_task()
        assert task is not None
        self._clients[task] = writer
        self._relp_clients.add(task)
        self.stats.relp_connections += 1
        session = RelpSession(self.options.max_message_bytes)
        answers: asyncio.Queue[tuple[asyncio.Future[None] | None, bytes] | None] = asyncio.Queue()
        answering = asyncio.create_task(self._relp_answers(answers, writer))
        closing = asyncio.ensure_future(self._intake_closed.wait())
        try:
            while not session.ended and not answering.done():
                reading = asyncio.ensure_future(reader.read(READ_BYTES))
                await asyncio.wait({reading, closing}, return_when=asyncio.FIRST_COMPLETED)
                if not reading.done():
                    reading.cancel()
                    break
                try:
                    data = reading.result()
                except (ConnectionError, OSError):
                    data = b""
                if not data:
                    break
                for action in session.feed(data):
                    if isinstance(action, RelpMessage):
                        durable = None
                        if action.frame is not None:
                            durable = self._buffer.durable(await self._put(action.frame, relp=True))
                        answers.put_nowait((durable, relp_response(action.txnr, RELP_OK)))
                    elif isinstance(action, RelpReply):
                        answers.put_nowait((None, relp_response(action.txnr, action.data)))
                    elif action.error:
                        self._say(f"relp: closing the connection from {_peer(writer)}: {action.reason}")
                self._changed_now()
            if not session.ended:  # we stop (or the sender went): tell it, after the last acknowledgement
                answers.put_nowait((None, RELP_SERVER_CLOSE))
            answers.put_nowait(None)
            await asyncio.wait({answering}, timeout=RELP_GOODBYE_SECONDS)
        finally:
            closing.cancel()
            answering.cancel()
            writer.close()
            self._clients.pop(task, None)
            self._relp_clients.discard(task)

    async def _relp_answers(
        self, answers: asyncio.Queue[tuple[asyncio.Future[None] | None, bytes] | None], writer: asyncio.StreamWriter
    ) -> None:
        """Send a connection's answers in order, each once what it acknowledges is durable. A message
        that never becomes durable (the listener stopped before) is not acknowledged, nor anything
        after it: the sender sends those again."""
        while (item := await answers.get()) is not None:
            durable, answer = item
            if durable is not None:
                try:
                    await durable
                except asyncio.CancelledError:
                    if durable.cancelled():
                        return
                    raise
            writer.write(answer)
            if answers.empty():
                try:
                    await writer.drain()
                except (ConnectionError, OSError):
                    return

    def _text(self, frame: Frame) -> str:
        if isinstance(frame, Broken):
            self.stats.transport_rejects += 1
            return RejectedText(frame.head.decode("utf-8", "replace"), frame.reason_code, frame.reason)
        text = self._decode(frame)
        if isinstance(text, RejectedText):
            self.stats.transport_rejects += 1
        return text

    # -- storing ----------------------------------------------------------------------------------------

    async def _batcher(self) -> None:
        linger = self.options.flush_ms / 1000
        while True:
            batch = await self._buffer.take(self.options.batch_size, linger)
            if batch is None:
                return
            await self._write(batch, self._buffer.taken_end)

    async def _write(self, batch: list[str], end: int) -> None:
        """Store one batch. On a database error retry it (it stores nothing twice) until it works or a
        second stop gives up on it; a write that hangs is given up on too, and the listener is then
        :attr:`hung`: that batch and the rest are counted as not stored. ``end`` is the queue's number
        after the batch (:attr:`SpoolQueue.taken_end`): with a spool the run's checkpoint, and what is
        not stored stays in the spool for the next start; without one, what is now durable."""
        delay = 0.5
        loop = asyncio.get_running_loop()
        while True:
            if self.hung or self._gave_up:
                self.stats.unsaved += len(batch)
                self._changed_now()
                return
            if self._spool is not None:
                assert isinstance(self._stream, SpooledStream)
                call = functools.partial(self._stream.ingest_until, batch, end)
            else:
                call = functools.partial(self._stream.ingest, batch)
            future = loop.run_in_executor(self._writer, call)
            self.stats.in_flight = len(batch)
            self._changed_now()
            finished = await self._finishes(future)
            self.stats.in_flight = 0
            if not finished:
                self.hung = True
                self._say("the database does not answer: giving up (what is not stored is counted)")
                continue
            try:
                done: IngestSummary = future.result()
            except TRANSIENT_ERRORS as exc:
                self.stats.write_errors += 1
                self._say(f"could not store {len(batch):,} messages ({type(exc).__name__}: {exc}); retrying")
                try:
                    await asyncio.wait_for(self._abandon.wait(), delay)
                except TimeoutError:
                    delay = min(delay * 2, MAX_RETRY_SECONDS)
                    continue
                self.stats.unsaved += len(batch)
                self._gave_up = self._spool is not None
                self._changed_now()
                return
            except Exception:
                self.stats.unsaved += len(batch)
                raise
            break
        if self._spool is not None:
            await loop.run_in_executor(self._writer, functools.partial(self._spool.commit, end, self.run_id))
            assert isinstance(self._buffer, SpoolQueue)
            self._buffer.freed()
        else:
            assert isinstance(self._buffer, MessageBuffer)
            self._buffer.stored(end)
        stats = self.stats
        stats.batches += 1
        stats.read += done.read
        stats.accepted += done.accepted
        stats.duplicates += done.duplicates
        stats.quarantined += done.quarantined
        stats.masked += done.masked
        for code, count in done.reasons.items():
            stats.reasons[code] = stats.reasons.get(code, 0) + count
        self._changed_now()
        if self.options.report_seconds == 0:
            self._say(stats.line())

    async def _finishes(self, future: asyncio.Future[IngestSummary]) -> bool:
        """Wait for a write; once a second stop has come, wait at most :attr:`abandon_grace_seconds`."""
        while not future.done():
            gave_up: asyncio.Future[Any] = asyncio.ensure_future(self._abandon.wait())
            try:
                await asyncio.wait([future, gave_up], return_when=asyncio.FIRST_COMPLETED)
            finally:
                gave_up.cancel()
            if not future.done():
                await asyncio.wait({future}, timeout=self.abandon_grace_seconds)
                return future.done()
        return True

    async def _reporter(self) -> None:
        if self.options.report_seconds <= 0:
            return
        last = ""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.options.report_seconds)
            if self._stopping.is_set():
                return
            self.stats.queued = len(self._buffer)
            line = self.stats.line()
            if line != last:
                self._say(line)
                last = line

    def _say(self, text: str) -> None:
        if self.say is not None:
            self.say(f"{time.strftime('%H:%M:%S')}  {text}")


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return _show((str(peer[0]), int(peer[1]))) if isinstance(peer, tuple) and len(peer) >= 2 else "?"


def _show(address: tuple[str, int] | None) -> str:
    if address is None:
        return "-"
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _decoder(encoding: str) -> Callable[[bytes], str]:
    """Bytes of one message → text, or a :class:`RejectedText` saying where the encoding breaks."""
    normalised = encoding.lower().replace("_", "-")
    primary = "utf-8" if normalised in ("utf-8-sig", "utf8-sig", "auto", "utf8") else encoding
    fallback = "cp932" if normalised == "auto" else None
    label = "UTF-8 or CP932" if fallback else encoding

    def decode(raw: bytes) -> str:
        try:
            return raw.decode(primary)
        except UnicodeDecodeError as exc:
            if fallback is not None:
                with contextlib.suppress(UnicodeDecodeError):
                    return raw.decode(fallback)
            shown = raw[:KEEP_BYTES].decode(primary, "replace")
            return RejectedText(shown, "bad_encoding", f"not valid {label} at byte {exc.start} of the message")

    return decode
