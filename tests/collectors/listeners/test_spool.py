"""The listener's disk spool on its own: records in order across segments and restarts, a torn tail
cut off on open, the bound, stored segments deleted, one listener per spool, private files."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest
from listener_support import Running, writes_blocked
from sqlalchemy import Engine

from auditd.errors import ValidationFailed
from auditd.settings import Settings
from collectors.formats.syslog import RejectedText
from collectors.listeners.spool import MAGIC, MIN_SPOOL_BYTES, STATE_FILE, Spool
from collectors.listeners.syslog import ListenerOptions, SyslogListener
from collectors.pipeline import Ingestor
from collectors.profile import resolve_profile

LOCAL = ("127.0.0.1", 0)

SEGMENT = 4096


def opened(directory: Path, max_bytes: int = MIN_SPOOL_BYTES, segment_bytes: int = SEGMENT) -> Spool:
    spool = Spool(directory, max_bytes, segment_bytes=segment_bytes)
    spool.open()
    return spool


def message(i: int) -> str:
    return f"<14>Feb  3 09:15:22 pc EPM: user=u{i} op=PRINT file=住民{i}.csv"


def segment_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


def test_records_come_back_in_order_across_segments_only_once_synced(tmp_path: Path):
    spool = opened(tmp_path / "spool")
    rejected = RejectedText("\ufffd\ufffd", "bad_encoding", "not valid UTF-8 at byte 0 of the message")
    numbers = [spool.append(message(i)) for i in range(3)]
    assert spool.read(10) == [], "nothing is handed out before it is fsync'd"
    numbers += [spool.append(message(i)) for i in range(3, 200)] + [spool.append(rejected)]
    assert numbers == list(range(201))
    assert len(segment_files(tmp_path / "spool")) > 3, "a segment is at most segment_bytes long"
    assert spool.synced < 201, "a full segment is fsync'd when the next one starts; the last one not yet"
    assert spool.sync() == 201
    first = spool.read(150)
    rest = spool.read(1000)
    assert first + rest[:-1] == [message(i) for i in range(200)]
    back = rest[-1]
    assert isinstance(back, RejectedText) and (str(back), back.reason_code, back.reason) == (
        "\ufffd\ufffd",
        "bad_encoding",
        "not valid UTF-8 at byte 0 of the message",
    )
    assert spool.pending == 201 and spool.read(5) == []
    spool.close()


def test_a_reopened_spool_hands_out_what_was_not_committed_and_deletes_stored_segments(tmp_path: Path):
    directory = tmp_path / "spool"
    spool = opened(directory)
    for i in range(300):
        spool.append(message(i))
    spool.sync()
    spool.read(120)
    before = len(segment_files(directory))
    spool.commit(120, run_id=7)
    after = segment_files(directory)
    assert len(after) < before, "segments every record of which is stored are deleted"
    assert int(after[0].stem) <= 120, "the segment holding record 120 is kept"
    assert json.loads((directory / STATE_FILE).read_text()) == {"committed": 120, "run_id": 7}
    spool.close()

    again = opened(directory)
    assert (again.committed, again.synced, again.pending) == (120, 300, 180)
    assert again.read(1000) == [message(i) for i in range(120, 300)]
    assert again.append("after") == 300, "numbering goes on across restarts"
    again.sync()
    assert again.read(5) == ["after"]
    again.commit(301)
    again.close()
    third = opened(directory)
    assert third.pending == 0 and third.read(5) == []
    assert len(segment_files(directory)) == 1, "only the new, empty segment is left"
    third.close()


def test_the_database_checkpoint_moves_the_spool_on(tmp_path: Path):
    """The state file is written after the batch's transaction: a listener killed between the two
    is told by the run's checkpoint where storing really got to."""
    spool = opened(tmp_path / "spool")
    for i in range(50):
        spool.append(message(i))
    spool.sync()
    spool.commit(10)
    spool.close()
    again = opened(tmp_path / "spool")
    assert again.committed == 10
    again.resume_at(30)
    assert again.read(100) == [message(i) for i in range(30, 50)]
    again.resume_at(5)  # never backwards
    assert again.committed == 30
    again.close()


@pytest.mark.parametrize("damage", ["cut inside the header", "cut inside the payload", "flipped byte", "garbage"])
def test_a_torn_tail_is_cut_off_reported_and_writing_goes_on(tmp_path: Path, damage: str):
    directory = tmp_path / "spool"
    spool = opened(directory, segment_bytes=1 << 20)
    for i in range(20):
        spool.append(message(i))
    spool.close()
    segment = segment_files(directory)[0]
    data = bytearray(segment.read_bytes())
    last = len(message(19).encode()) + 1  # payload of the last record
    if damage == "cut inside the header":
        data = data[: -(last + 5)]
    elif damage == "cut inside the payload":
        data = data[:-7]
    elif damage == "flipped byte":
        data[-3] ^= 0x40
    else:
        data += b"\x00\x00\x10\x00garbage"
    segment.write_bytes(bytes(data))

    again = opened(directory)
    kept = 20 if damage == "garbage" else 19
    assert len(again.torn) == 1 and "torn or corrupt" in again.torn[0], again.torn
    assert again.synced == kept
    assert again.read(100) == [message(i) for i in range(kept)]
    again.append("next")
    again.sync()
    assert again.read(5) == ["next"]
    again.close()
    assert opened(directory).torn == [], "the cut-off tail is gone for good"


def test_a_segment_that_is_nothing_but_torn_is_removed(tmp_path: Path):
    directory = tmp_path / "spool"
    opened(directory).close()
    (segment_files(directory)[0]).write_bytes(MAGIC[:3])
    again = opened(directory)
    assert again.pending == 0 and len(again.torn) == 1
    again.close()


def test_the_bound_and_the_space_given_back(tmp_path: Path):
    spool = opened(tmp_path / "spool", max_bytes=MIN_SPOOL_BYTES, segment_bytes=64 << 10)
    count = 0
    while not spool.full():
        spool.append(message(count))
        count += 1
    assert MIN_SPOOL_BYTES <= spool.size < MIN_SPOOL_BYTES + 200
    assert sum(p.stat().st_size for p in segment_files(tmp_path / "spool")) == spool.size
    spool.sync()
    spool.read(count // 2)
    spool.commit(count // 2)
    assert not spool.full() and spool.size < MIN_SPOOL_BYTES * 0.6
    spool.close()
    with pytest.raises(ValidationFailed, match="at least"):
        Spool(tmp_path / "other", 1000)


def test_one_listener_per_spool_and_private_files(tmp_path: Path):
    directory = tmp_path / "spool"
    spool = opened(directory)
    spool.append(message(1))
    spool.commit(0, run_id=1)
    with pytest.raises(ValidationFailed, match="another listener uses the spool"):
        Spool(directory, MIN_SPOOL_BYTES).open()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    spool.close()
    opened(directory).close()  # free again once closed


def test_an_unreadable_state_file_means_everything_kept_is_read_again(tmp_path: Path):
    """Replaying is safe (the pipeline's ids make a stored record a duplicate): the spool then starts
    from its oldest record rather than guessing."""
    directory = tmp_path / "spool"
    spool = opened(directory, segment_bytes=1 << 20)
    for i in range(5):
        spool.append(message(i))
    spool.sync()
    spool.commit(5, run_id=3)
    spool.close()
    (directory / STATE_FILE).write_text("{not json", "utf-8")
    again = opened(directory)
    assert "unreadable" in again.torn[0]
    assert again.read(10) == [message(i) for i in range(5)]
    again.close()


# -- the listener at the spool's bound ----------------------------------------------------------------------


@pytest.mark.slow
def test_at_the_spool_bound_tcp_waits_and_udp_drops_are_counted(engine: Engine, settings: Settings, tmp_path: Path):
    """The database holds its writes: the spool takes messages in up to its bound, then TCP senders are
    made to wait and UDP datagrams are dropped and counted; once the database lets go, every TCP
    message is stored."""
    tcp_lines, udp_lines = 30_000, 50  # 7.5 MB: more than the spool and the kernel's socket buffers hold
    pad = "x" * 180
    tcp_file = tmp_path / "tcp.txt"
    tcp_file.write_text("".join(f"user=u{i % 9} pc=T1 op=PRINT count=1 file=t{i:06d}{pad}\n" for i in range(tcp_lines)))
    udp_file = tmp_path / "udp.txt"
    udp_file.write_text("".join(f"user=v{i} pc=T2 op=PRINT count=1 file=u{i}.csv\n" for i in range(udp_lines)))
    options = ListenerOptions(
        udp=LOCAL, tcp=LOCAL, batch_size=500, flush_ms=20, spool_dir=tmp_path / "spool", spool_max_bytes=MIN_SPOOL_BYTES
    )
    listener = SyslogListener(Ingestor(engine, settings), resolve_profile("syslog-kv-3164"), options)
    tzenv = dict(os.environ, TZ="Asia/Tokyo")
    with Running(listener) as running:
        with writes_blocked(engine):
            sender = subprocess.Popen(["logger", "-n", "127.0.0.1", "-P", str(running.tcp_port), "-T", "--rfc3164",
                                       "-t", "EPM", "-f", str(tcp_file)], env=tzenv)  # fmt: skip
            assert listener.wait_until(lambda s: (s.spool_bytes or 0) >= MIN_SPOOL_BYTES, timeout=30)
            waiting = listener.stats.tcp_messages
            time.sleep(0.5)
            assert listener.stats.tcp_messages == waiting < tcp_lines, "no more is read"
            assert sender.poll() is None, "the sender is made to wait"
            subprocess.run(["logger", "-n", "127.0.0.1", "-P", str(running.udp_port), "-d", "--rfc3164", "-t", "EPM",
                            "-f", str(udp_file)], env=tzenv, check=True, timeout=30)  # fmt: skip
            assert listener.wait_until(lambda s: s.udp_messages == udp_lines, timeout=15)
            assert listener.stats.udp_dropped == udp_lines and listener.stats.accepted == 0
            assert listener.stats.tcp_messages == waiting
        assert sender.wait(60) == 0
        assert listener.wait_until(lambda s: s.accepted == tcp_lines, timeout=60)
        total = running.stop()
        assert (total.accepted, listener.stats.udp_dropped) == (tcp_lines, udp_lines)
    assert sum(p.stat().st_size for p in (tmp_path / "spool").glob("*.seg")) < 100_000, "stored segments deleted"
