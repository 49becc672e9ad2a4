"""A disk spool for a listener: a write-ahead, append-only log of every message taken from a socket.

A message is appended to the spool as soon as it is framed (one ``write`` per record, so a listener
killed with SIGKILL loses nothing it has taken in: the data is in the kernel's page cache). The
spool is ``fsync``'d every flush interval, and only what has been ``fsync``'d is handed to the database,
so a record the database holds is always on disk too (a power cut loses at most the unsynced tail,
which was never stored either).

Layout of the directory (created ``0700``, files ``0600``)::

    lock                      flock'd by the one listener that uses the spool
    state.json                {"committed": N, "run_id": R}, replaced atomically
    00000000000000000000.seg  records 0 … (the name is the sequence number of its first record)
    00000000000000052113.seg  …

A segment starts with :data:`MAGIC`; each record is ``length (4 bytes) · CRC-32 (4 bytes) · payload``
with the payload ``t`` + UTF-8 text, or ``r`` + JSON ``[text, reason_code, reason]`` for a message its
transport already rejected (see :class:`~collectors.formats.syslog.RejectedText`). Records are
numbered from 0 over the life of the spool; ``committed`` is the number of the first record not yet
known to be stored. A segment every record of which is committed is deleted. A torn or corrupt tail
(a power cut in the middle of a write) is found on open by its length or checksum, reported, cut off,
and writing goes on in a new segment.

The spool holds raw messages, 個人番号 included, as the files the file collectors read do: it must be
on a local, encrypted, access-restricted disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import heapq
import itertools
import json
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from auditd.errors import ValidationFailed
from collectors.formats.syslog import RejectedText

MAGIC = b"AUDSPL1\n"
RECORD = struct.Struct(">II")  # payload length, CRC-32 of the payload
#: A record longer than this cannot have been written by a listener: its length field is garbage.
MAX_RECORD_BYTES = 16 << 20
SEGMENT_BYTES = 64 << 20
MIN_SPOOL_BYTES = 1 << 20
STATE_FILE = "state.json"
LOCK_FILE = "lock"
SUFFIX = ".seg"


def encode(text: str) -> bytes:
    """A record (header and payload) for ``text``."""
    if isinstance(text, RejectedText):
        payload = b"r" + json.dumps([str(text), text.reason_code, text.reason], ensure_ascii=False).encode()
    else:
        payload = b"t" + text.encode("utf-8", "surrogatepass")
    return RECORD.pack(len(payload), zlib.crc32(payload)) + payload


def decode(payload: bytes) -> str:
    if payload[:1] == b"r":
        text, code, reason = json.loads(payload[1:].decode())
        return RejectedText(text, code, reason)
    return payload[1:].decode("utf-8", "surrogatepass")


def read_record(handle: BinaryIO) -> bytes | None:
    """The next record's payload, or ``None`` at the end or at a torn or corrupt record."""
    header = handle.read(RECORD.size)
    if len(header) < RECORD.size:
        return None
    length, crc = RECORD.unpack(header)
    if length > MAX_RECORD_BYTES:
        return None
    payload = handle.read(length)
    if len(payload) < length or zlib.crc32(payload) != crc:
        return None
    return payload


@dataclass
class Segment:
    first: int  # sequence number of its first record
    path: Path
    size: int  # bytes
    count: int | None = None  # records; known for the segment written and the ones scanned

    @property
    def end(self) -> int | None:
        return None if self.count is None else self.first + self.count


@dataclass(frozen=True)
class SpoolState:
    committed: int
    run_id: int | None


class Spool:
    """The log itself, without asyncio: append, sync, read in order, commit.

    One thread appends (the listener's event loop), :meth:`sync` may run in another one, and the
    reader (:meth:`read`) is only ever behind what was synced.
    """

    def __init__(self, directory: Path, max_bytes: int, *, segment_bytes: int | None = None) -> None:
        if max_bytes < MIN_SPOOL_BYTES:
            raise ValidationFailed(f"the spool must be allowed at least {MIN_SPOOL_BYTES:,} bytes (--spool-max)")
        self.directory = directory
        self.max_bytes = max_bytes
        #: Space is given back one segment at a time: many segments, so a full spool frees soon.
        self.segment_bytes = segment_bytes or max(64 << 10, min(SEGMENT_BYTES, max_bytes // 16))
        self.torn: list[str] = []  # what was cut off on open, for the operator
        self._segments: list[Segment] = []
        self._lock_fd: int | None = None
        self._fd: int | None = None  # the segment being written
        self._sync_lock = threading.Lock()
        self._appended = 0  # sequence number of the next record
        self._synced = 0  # records before this are on disk
        self._committed = 0
        self._run_id: int | None = None
        self._bytes = 0
        self._reader: BinaryIO | None = None
        self._reader_segment = -1
        self._read = 0  # sequence number of the next record to read

    # -- opening and closing ------------------------------------------------------------------------------

    def open(self) -> SpoolState:
        """Lock the directory, find the segments, cut a torn tail, start a new segment; return the state."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._lock_fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ValidationFailed(
                f"cannot use the spool directory {self.directory}: {exc.strerror or exc}",
                hint="give a writable directory on a local disk with --spool-dir (AUDITD_SPOOL_DIR)",
            ) from exc
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise ValidationFailed(
                f"another listener uses the spool {self.directory}",
                hint="each listener needs a spool directory of its own: give one with --spool-dir",
            ) from exc
        state = self._load_state()
        found = sorted(
            (int(p.stem), p) for p in self.directory.glob(f"*{SUFFIX}") if p.stem.isdigit() and len(p.stem) == 20
        )
        self._segments = [Segment(first, path, path.stat().st_size) for first, path in found]
        end = 0
        if self._segments:
            last = self._segments[-1]
            last.count, last.size = self._scan(last)
            end = last.first + last.count
            if last.count == 0:  # nothing in it (a start that took nothing in, or all of it torn)
                with contextlib.suppress(FileNotFoundError):
                    last.path.unlink()
                self._segments.pop()
        committed = min(state.committed, end)
        if self._segments and committed < self._segments[0].first:
            committed = self._segments[0].first  # older records were stored and their segments deleted
        self._appended = self._synced = end
        self._committed = self._read = committed
        self._run_id = state.run_id
        self._bytes = sum(s.size for s in self._segments)
        self._new_segment()
        self._drop_stored()
        return SpoolState(committed, state.run_id)

    def close(self) -> None:
        """Sync and release the directory (what is not committed stays for the next start)."""
        if self._fd is not None:
            self.sync()
            with self._sync_lock:  # a sync still running in another thread must not find the fd closed
                os.close(self._fd)
                self._fd = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _load_state(self) -> SpoolState:
        path = self.directory / STATE_FILE
        try:
            data = json.loads(path.read_text("utf-8"))
            committed, run_id = int(data["committed"]), data.get("run_id")
            return SpoolState(max(committed, 0), int(run_id) if run_id is not None else None)
        except FileNotFoundError:
            return SpoolState(0, None)
        except (ValueError, KeyError, TypeError):
            # the state is written atomically, so this is damage from outside: replay what is kept
            # (the pipeline's record ids make replaying a stored record store nothing)
            self.torn.append(f"{path.name} is unreadable: what the spool holds is read again")
            return SpoolState(0, None)

    def _scan(self, segment: Segment) -> tuple[int, int]:
        """(records, bytes) of the valid part of ``segment``; a torn or corrupt tail is cut off."""
        count = 0
        with segment.path.open("rb") as handle:
            head = handle.read(len(MAGIC))
            good = len(MAGIC) if head == MAGIC else 0
            if head == MAGIC:
                while read_record(handle) is not None:
                    count += 1
                    good = handle.tell()
            os.fsync(handle.fileno())  # written by a process that was killed: on disk before it is stored
        if good < segment.size:
            self.torn.append(
                f"{segment.path.name}: {segment.size - good:,} bytes after record {segment.first + count:,} "
                "are torn or corrupt (a crash while writing) and were cut off"
            )
            if good == 0:
                segment.path.unlink()
                return 0, 0
            with segment.path.open("r+b") as handle:
                handle.truncate(good)
                os.fsync(handle.fileno())
        return count, good

    # -- writing ------------------------------------------------------------------------------------------

    def full(self) -> bool:
        return self._bytes >= self.max_bytes

    def append(self, text: str) -> int:
        """Write one record (one ``write``: it survives the process being killed); returns its number.
        The bound is the caller's to keep (:meth:`full`): a listener that stops may go a little past it."""
        record = encode(text)
        segment = self._segments[-1]
        if segment.size + len(record) > self.segment_bytes and segment.size > len(MAGIC):
            self._new_segment()
            segment = self._segments[-1]
        assert self._fd is not None
        _write_all(self._fd, record)
        segment.size += len(record)
        segment.count = (segment.count or 0) + 1
        self._bytes += len(record)
        number = self._appended
        self._appended += 1
        return number

    def sync(self) -> int:
        """``fsync`` what was appended; returns how many records are now on disk. Safe from another thread."""
        with self._sync_lock:
            target = self._appended
            if target > self._synced and self._fd is not None:
                os.fsync(self._fd)
                self._synced = max(self._synced, target)
            return self._synced

    def _new_segment(self) -> None:
        with self._sync_lock:
            if self._fd is not None:
                os.fsync(self._fd)
                self._synced = self._appended
                os.close(self._fd)
            path = self.directory / f"{self._appended:020d}{SUFFIX}"
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            _write_all(self._fd, MAGIC)
            os.fsync(self._fd)
            self._segments.append(Segment(self._appended, path, len(MAGIC), 0))
            self._bytes += len(MAGIC)
            _sync_directory(self.directory)

    # -- reading and committing ---------------------------------------------------------------------------

    @property
    def appended(self) -> int:
        return self._appended

    @property
    def synced(self) -> int:
        return self._synced

    @property
    def committed(self) -> int:
        return self._committed

    @property
    def read_position(self) -> int:
        return self._read

    @property
    def size(self) -> int:
        """Bytes the spool takes on disk."""
        return self._bytes

    @property
    def pending(self) -> int:
        """Records taken in and not yet known to be stored."""
        return self._appended - self._committed

    def rewind(self) -> None:
        """Read again from the first record not committed (after a batch could not be stored)."""
        self._read = self._committed
        self._reader_segment = -1

    def read(self, count: int) -> list[str]:
        """Up to ``count`` records after the last one read, among those synced."""
        texts: list[str] = []
        while len(texts) < count and self._read < self._synced:
            handle = self._handle_at(self._read)
            payload = read_record(handle)
            if payload is None:
                raise RuntimeError(f"spool record {self._read:,} cannot be read back: the spool was changed")
            texts.append(decode(payload))
            self._read += 1
        return texts

    def _handle_at(self, number: int) -> BinaryIO:
        index = self._index_of(number)
        if index != self._reader_segment or self._reader is None:
            if self._reader is not None:
                self._reader.close()
            segment = self._segments[index]
            self._reader = segment.path.open("rb")
            self._reader.seek(len(MAGIC))
            for _ in range(number - segment.first):  # only when opening: skip what was stored before
                if read_record(self._reader) is None:
                    raise RuntimeError(f"spool segment {segment.path.name} is shorter than expected")
            self._reader_segment = index
        return self._reader

    def _index_of(self, number: int) -> int:
        # only the segment being written can be empty, so the first numbers strictly increase
        for index in range(len(self._segments) - 1, -1, -1):
            if self._segments[index].first <= number:
                return index
        raise RuntimeError(f"spool record {number:,} is not in any segment")

    def resume_at(self, committed: int) -> None:
        """The database knows records before ``committed`` to be stored (its checkpoint is committed
        with the events; the state file, written after, may lag one batch behind)."""
        if committed > self._committed:
            self._committed = min(committed, self._appended)
            self.rewind()
            self._drop_stored()

    def commit(self, end: int, run_id: int | None = None) -> None:
        """Records before ``end`` are stored: remember it, delete the segments wholly stored."""
        self._committed = max(self._committed, min(end, self._appended))
        if run_id is not None:
            self._run_id = run_id
        self.save_state()
        self._drop_stored()

    def save_state(self, run_id: int | None = None) -> None:
        if run_id is not None:
            self._run_id = run_id
        path = self.directory / STATE_FILE
        temporary = path.with_suffix(".tmp")
        data = json.dumps({"committed": self._committed, "run_id": self._run_id}).encode()
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)

    def _drop_stored(self) -> None:
        dropped = False
        while len(self._segments) > 1:
            first, following = self._segments[0], self._segments[1]
            if following.first > self._committed:
                break
            if self._reader_segment == 0 and self._reader is not None:
                self._reader.close()
                self._reader = None
            self._reader_segment = max(self._reader_segment - 1, -1)
            with contextlib.suppress(FileNotFoundError):
                first.path.unlink()
            self._bytes -= first.size
            self._segments.pop(0)
            dropped = True
        if dropped:
            _sync_directory(self.directory)

    def segments(self) -> Iterator[Segment]:
        yield from self._segments


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Waiters:
    """Futures waiting for a record number to be passed by a mark (event-loop only).

    The hook by which a receiver learns that what it put is durable: it asks :meth:`until` for the
    number :meth:`SpoolQueue.put` (or :meth:`MessageBuffer.put`) returned, and whoever makes records
    durable calls :meth:`reached` with the number after the last of them (the spool after each
    ``fsync``, which already groups records; the memory buffer after each stored batch).
    """

    def __init__(self) -> None:
        self._mark = 0
        self._order = itertools.count()
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []

    def until(self, number: int) -> asyncio.Future[None]:
        """A future done once record ``number`` is below the mark."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if number < self._mark:
            future.set_result(None)
        else:
            heapq.heappush(self._waiting, (number, next(self._order), future))
        return future

    def reached(self, mark: int) -> None:
        """Records before ``mark`` are durable."""
        self._mark = max(self._mark, mark)
        while self._waiting and self._waiting[0][0] < self._mark:
            future = heapq.heappop(self._waiting)[2]
            if not future.done():
                future.set_result(None)

    def cancel(self) -> None:
        """Nothing more becomes durable here: whoever waits stops waiting (and does not acknowledge)."""
        for _, _, future in self._waiting:
            future.cancel()
        self._waiting.clear()


class SpoolQueue:
    """The listener's queue when it spools: the same surface as
    :class:`~collectors.listeners.syslog.MessageBuffer`, with the spool behind it.

    Receivers append (TCP waits for room when the spool is at its bound, UDP gets ``False``); a
    syncer task ``fsync``'s every ``flush`` seconds, or as soon as ``batch`` records wait; the batcher
    takes only synced records, and after storing them calls :meth:`freed`. A record is durable once
    synced: :meth:`durable` tells a receiver when (RELP acknowledges then).
    """

    def __init__(self, spool: Spool, *, batch: int, flush: float) -> None:
        self.spool = spool
        self.batch = batch
        self.flush = flush
        self._closed = False
        self._taken_end = spool.read_position
        self._dirty = asyncio.Event()
        self._plenty = asyncio.Event()
        self._synced = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._syncer: asyncio.Task[None] | None = None
        self._durable = Waiters()

    def __len__(self) -> int:
        return self.spool.pending

    def start(self) -> None:
        self._syncer = asyncio.create_task(self._sync_loop())
        if self.spool.synced > self.spool.read_position:
            self._synced.set()  # what an earlier run left: stored first

    def full(self) -> bool:
        return self.spool.full()

    def offer(self, text: str, size: int) -> bool:
        if self.spool.full():
            return False
        self._append(text)
        return True

    async def put(self, text: str, size: int) -> int:
        """Append ``text`` once there is room; returns its record number (see :meth:`durable`)."""
        while self.spool.full() and not self._closed:
            self._room.clear()
            await self._room.wait()
        return self._append(text)

    def _append(self, text: str) -> int:
        number = self.spool.append(text)
        self._dirty.set()
        if self.spool.appended - self.spool.synced >= self.batch:
            self._plenty.set()
        return number

    def durable(self, number: int) -> asyncio.Future[None]:
        """Done once record ``number`` is ``fsync``'d (a kill or a power cut no longer loses it)."""
        return self._durable.until(number)

    async def _sync_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed:
            await self._dirty.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._plenty.wait(), self.flush)
            self._dirty.clear()
            self._plenty.clear()
            synced = await loop.run_in_executor(None, self.spool.sync)
            self._durable.reached(synced)
            self._synced.set()

    async def take(self, count: int, linger: float) -> list[str] | None:
        """Up to ``count`` synced records; ``None`` when closed and everything was taken. The syncer
        already waited ``flush`` for a batch to gather: no second wait here."""
        while self.spool.read_position >= self.spool.synced:
            if self._closed:
                self._durable.reached(self.spool.sync())
                if self.spool.read_position >= self.spool.synced:
                    return None
                break
            self._synced.clear()
            await self._synced.wait()
        texts = self.spool.read(count)
        self._taken_end = self.spool.read_position
        return texts

    @property
    def taken_end(self) -> int:
        """The sequence number after the batch last taken: the checkpoint once it is stored."""
        return self._taken_end

    def freed(self) -> None:
        """A batch was stored and committed (:meth:`Spool.commit`): receivers waiting for room may go on."""
        if not self.spool.full():
            self._room.set()

    def close(self) -> None:
        self._closed = True
        self._dirty.set()
        self._synced.set()
        self._room.set()
        if self._syncer is not None:
            self._syncer.cancel()
        self._durable.cancel()
