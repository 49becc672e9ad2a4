"""The watcher's loop on real folders and a real store (both backends): what it reads, when, and what
it leaves alone. Event ids are compared with a clean ``ingest`` of the same final files."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from watch_support import (
    append,
    backdate,
    clean_ids,
    event_ids,
    scalar,
    tax_bytes,
    tax_line,
    wait_for,
    write_tax,
)

from auditd.settings import Settings
from collectors.watch.config import WatchConfig, folder_config, parse_watch_config
from collectors.watch.service import Watcher

PATTERN = "ZEIMU_OPLOG_*.csv"


class FakeClock:
    """Wall and monotonic time the test moves by hand, so 'settled' never depends on how fast we run."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def drop_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "drop"
    folder.mkdir()
    return folder


def runs(engine: Engine) -> int:
    return scalar(engine, "SELECT count(*) FROM ingest_runs")


def quarantined(engine: Engine) -> int:
    return scalar(engine, "SELECT count(*) FROM quarantine")


def test_new_files_are_picked_up_oldest_first_and_nothing_else(
    engine: Engine, settings: Settings, tmp_path: Path, small_city
):  # type: ignore[no-untyped-def]
    drop = drop_folder(tmp_path)
    tax = [i.path for i in small_city.inputs if i.profile == "demo-tax"][:3]
    for age, path in zip((300, 200, 100), tax, strict=True):
        shutil.copy(path, drop / path.name)
        backdate(drop / path.name, age)
    (drop / "readme.txt").write_text("not a log", encoding="utf-8")  # does not match the pattern
    (drop / "ZEIMU_OPLOG_folder.csv").mkdir()  # matches, but is a folder
    os.mkfifo(drop / "ZEIMU_OPLOG_pipe.csv")  # matches, but opening a pipe would block: never opened
    watcher = Watcher(engine, settings, folder_config(drop, "demo-tax", pattern=PATTERN))

    result = watcher.run_once()

    assert [f.path.name for f in result.files] == [p.name for p in tax]  # by modification time
    assert all(f.error is None and f.settled for f in result.files)
    assert result.ok and watcher.stats.opened == 3
    assert event_ids(engine) == clean_ids([(p, "demo-tax") for p in tax], tmp_path / "clean", settings)
    assert quarantined(engine) == 0

    late = drop / "ZEIMU_OPLOG_20991231.csv"
    write_tax(late, range(50))
    assert [f.path for f in watcher.run_once().files] == [late]
    assert scalar(engine, "SELECT count(*) FROM events") == len(event_ids(engine)) > 50


def test_unchanged_files_are_not_opened_and_a_restart_only_rechecks_cheaply(
    engine: Engine, settings: Settings, tmp_path: Path
):
    drop = drop_folder(tmp_path)
    files = [
        write_tax(drop / f"ZEIMU_OPLOG_2026010{n}.csv", range(n * 100, n * 100 + 80), age_seconds=60) for n in (1, 2, 3)
    ]
    config = folder_config(drop, "demo-tax", pattern=PATTERN)
    watcher = Watcher(engine, settings, config)
    watcher.run_once()
    assert watcher.stats.opened == 3 and scalar(engine, "SELECT count(*) FROM events") == 240
    after_first = runs(engine)

    for _ in range(3):
        result = watcher.run_once()
        assert result.files == [] and result.unchanged == 3
    assert watcher.stats.opened == 3  # not opened again
    assert runs(engine) == after_first  # not even an ingest run recorded

    append(files[1], tax_line(9999))  # one file grows: only that one is opened
    result = watcher.run_once()
    assert [f.path for f in result.files] == [files[1]]
    assert result.files[0].summary is not None and result.files[0].summary.accepted == 1
    assert watcher.stats.opened == 4
    backdate(files[1], 60)

    restarted = Watcher(engine, settings, config)  # a new process knows nothing: the checkpoints do
    before = runs(engine)
    result = restarted.run_once()
    summaries = [f.summary for f in result.files]
    assert len(summaries) == 3
    assert all(s is not None and s.skipped and s.read == 0 for s in summaries)
    assert runs(engine) == before + 3  # one cheap run each: the checkpoint says everything is stored
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT records_read, status FROM ingest_runs ORDER BY id DESC LIMIT 3")).all()
    assert [tuple(r) for r in rows] == [(0, "completed")] * 3
    restarted.run_once()
    assert restarted.stats.opened == 3 and runs(engine) == before + 3
    assert scalar(engine, "SELECT count(*) FROM events") == 241


def test_a_growing_file_ends_with_exactly_its_events_and_no_half_line(
    engine: Engine, settings: Settings, tmp_path: Path
):
    drop = drop_folder(tmp_path)
    live = drop / "ZEIMU_OPLOG_live.csv"
    # settle never comes while it grows: only complete lines may be read
    config = folder_config(drop, "demo-tax", pattern=PATTERN, interval_seconds=0.02, settle_seconds=3600)
    watcher = Watcher(engine, settings, config)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run_forever, args=(stop,), daemon=True)
    thread.start()

    def after_two_passes(expected: int) -> None:
        """Two full passes after the write: the watcher has certainly looked at what was written."""
        target = watcher.stats.passes + 2
        wait_for(lambda: watcher.stats.passes >= target, what="two passes")
        wait_for(lambda: scalar(engine, "SELECT count(*) FROM events") == expected, what=f"{expected} events")

    try:
        live.write_bytes(tax_bytes(range(10)))
        after_two_passes(10)
        half = tax_line(10)
        cut = half.index("ヤ".encode("cp932")) + 1  # in the middle of a two-byte character
        append(live, half[:cut])
        after_two_passes(10)
        append(live, half[cut:] + b"".join(tax_line(k) for k in range(11, 30)) + tax_line(30)[:7])
        after_two_passes(30)
        append(live, tax_line(30)[7:-1])  # everything but the final "\n" of the CRLF
        after_two_passes(30)
        append(live, b"\n" + tax_line(31))
        after_two_passes(32)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert quarantined(engine) == 0
    assert event_ids(engine) == clean_ids([(live, "demo-tax")], tmp_path / "clean", settings)
    assert watcher.stats.failures == 0


def test_a_settled_file_without_a_final_newline_gets_its_last_line_read(
    engine: Engine, settings: Settings, tmp_path: Path
):
    drop = drop_folder(tmp_path)
    clock = FakeClock()
    path = drop / "ZEIMU_OPLOG_20260203.csv"
    path.write_bytes(tax_bytes(range(5)) + tax_line(5).rstrip(b"\r\n"))
    os.utime(path, (clock.now, clock.now))
    config = folder_config(drop, "demo-tax", pattern=PATTERN, settle_seconds=10)
    watcher = Watcher(engine, settings, config, clock=clock, monotonic=clock)

    first = watcher.run_once()
    assert not first.files[0].settled
    assert scalar(engine, "SELECT count(*) FROM events") == 5  # the last line may still be half written

    clock.now += 9
    assert watcher.run_once().files == []  # unchanged and not settled yet: not opened
    assert watcher.stats.opened == 1

    clock.now += 1
    settled = watcher.run_once()
    assert settled.files[0].settled and settled.files[0].summary is not None
    assert settled.files[0].summary.accepted == 1
    assert scalar(engine, "SELECT count(*) FROM events") == 6 and quarantined(engine) == 0
    clock.now += 100
    assert watcher.run_once().files == [] and watcher.stats.opened == 2  # finished: never opened again
    assert event_ids(engine) == clean_ids([(path, "demo-tax")], tmp_path / "clean", settings)


def test_a_file_seen_changing_is_not_settled_whatever_its_time_says(engine: Engine, settings: Settings, tmp_path: Path):
    """A copy that keeps the original's (old) time, or a server clock behind ours: wait until it stops."""
    drop = drop_folder(tmp_path)
    clock = FakeClock()
    path = drop / "ZEIMU_OPLOG_copy.csv"
    path.write_bytes(tax_bytes(range(3)))
    os.utime(path, (clock.now, clock.now))
    watcher = Watcher(
        engine, settings, folder_config(drop, "demo-tax", settle_seconds=10), clock=clock, monotonic=clock
    )
    watcher.run_once()
    append(path, tax_line(3)[:12])
    old = clock.now - 3600
    os.utime(path, (old, old))
    assert not watcher.run_once().files[0].settled  # changed since the last pass
    assert scalar(engine, "SELECT count(*) FROM events") == 3
    append(path, tax_line(3)[12:].rstrip(b"\r\n"))
    os.utime(path, (old, old))
    assert watcher.run_once().files[0].settled is False
    settled = watcher.run_once()  # unchanged since the last pass, and old: settled
    assert settled.files[0].settled
    assert scalar(engine, "SELECT count(*) FROM events") == 4 and quarantined(engine) == 0


def test_a_truncated_or_rotated_file_is_read_from_the_start(engine: Engine, settings: Settings, tmp_path: Path):
    drop = drop_folder(tmp_path)
    live = drop / "ZEIMU_OPLOG_live.csv"
    versions = tmp_path / "versions"
    versions.mkdir()
    watcher = Watcher(engine, settings, folder_config(drop, "demo-tax", pattern=PATTERN, settle_seconds=0))

    write_tax(live, range(40))
    watcher.run_once()
    shutil.copy(live, versions / "1.csv")
    write_tax(live, range(1000, 1005))  # truncated and rewritten: smaller than the checkpoint
    [shrunk] = watcher.run_once().files
    assert shrunk.summary is not None and shrunk.summary.started_at_position == 0
    assert shrunk.summary.accepted == 5
    shutil.copy(live, versions / "2.csv")
    write_tax(live, range(2000, 2100))  # rotated: larger, other first bytes
    [rotated] = watcher.run_once().files
    assert rotated.summary is not None and rotated.summary.started_at_position == 0
    assert rotated.summary.accepted == 100
    shutil.copy(live, versions / "3.csv")
    live.write_bytes(tax_bytes([]))  # emptied down to its header: nothing to read, nothing wrong
    [emptied] = watcher.run_once().files
    assert emptied.error is None and emptied.summary is not None and emptied.summary.read == 0

    expected = clean_ids([(versions / f"{n}.csv", "demo-tax") for n in (1, 2, 3)], tmp_path / "clean", settings)
    assert event_ids(engine) == expected and len(expected) == 145
    assert quarantined(engine) == 0


def test_archive_moves_settled_complete_files_and_never_overwrites(engine: Engine, settings: Settings, tmp_path: Path):
    drop = drop_folder(tmp_path)
    archive = tmp_path / "archive"
    clock = FakeClock()
    done = write_tax(drop / "ZEIMU_OPLOG_20260105.csv", range(30), age_seconds=3600)
    no_newline = drop / "ZEIMU_OPLOG_20260106.csv"
    no_newline.write_bytes(tax_bytes(range(100, 110)).rstrip(b"\r\n"))
    backdate(no_newline, 3600)
    growing = drop / "ZEIMU_OPLOG_20260107.csv"
    growing.write_bytes(tax_bytes(range(200, 205)) + tax_line(205)[:9])
    os.utime(growing, (clock.now, clock.now))
    originals = {p.name: p.read_bytes() for p in (done, no_newline, growing)}
    config = folder_config(drop, "demo-tax", pattern=PATTERN, archive_dir=archive, settle_seconds=10)
    watcher = Watcher(engine, settings, config, clock=clock, monotonic=clock)

    result = watcher.run_once()
    archived = {f.path.name: f.archived_to for f in result.files}
    assert archived == {done.name: archive / done.name, no_newline.name: archive / no_newline.name, growing.name: None}
    assert sorted(p.name for p in drop.iterdir()) == [growing.name]  # still being written: stays
    assert (archive / done.name).read_bytes() == originals[done.name]
    assert (archive / no_newline.name).read_bytes() == originals[no_newline.name]
    assert scalar(engine, "SELECT count(*) FROM events") == 30 + 10 + 5

    again = write_tax(drop / done.name, range(300, 302), age_seconds=3600)  # the same name dropped again
    second = again.read_bytes()
    [moved] = [f for f in watcher.run_once().files if f.archived_to is not None]
    assert moved.archived_to == archive / "ZEIMU_OPLOG_20260105.1.csv"
    assert (archive / done.name).read_bytes() == originals[done.name]  # the first one is untouched
    assert moved.archived_to.read_bytes() == second

    append(growing, tax_line(205)[9:])
    clock.now += 5
    assert growing.exists() and not watcher.run_once().files[0].settled
    clock.now += 10
    watcher.run_once()  # unchanged for 10 s: settled; it ends with a newline, so nothing is left to read
    assert not growing.exists() and (archive / growing.name).is_file()
    assert watcher.stats.archived == 4 and watcher.stats.failures == 0
    assert scalar(engine, "SELECT count(*) FROM events") == 30 + 10 + 2 + 6 and quarantined(engine) == 0


def test_recursive_watch_keeps_subfolders_in_the_archive_and_does_not_read_the_archive(
    engine: Engine, settings: Settings, tmp_path: Path
):
    drop = drop_folder(tmp_path)
    (drop / "2026" / "01").mkdir(parents=True)
    nested = write_tax(drop / "2026" / "01" / "ZEIMU_OPLOG_20260105.csv", range(20), age_seconds=600)
    top = write_tax(drop / "ZEIMU_OPLOG_20260106.csv", range(50, 60), age_seconds=500)
    data = {
        "recursive": True,
        "archive_dir": "drop/done",
        "rules": [{"dir": "drop", "pattern": PATTERN, "profile": "demo-tax"}],
    }
    config = parse_watch_config(data, "watch.yaml", tmp_path)
    watcher = Watcher(engine, settings, config)
    result = watcher.run_once()
    assert {f.archived_to for f in result.files} == {
        drop / "done" / "2026" / "01" / nested.name,
        drop / "done" / top.name,
    }
    assert watcher.run_once().files == []  # the archive inside the watched folder is not watched
    assert watcher.stats.opened == 2 and scalar(engine, "SELECT count(*) FROM events") == 30


def test_a_bad_file_or_folder_does_not_stop_the_others_and_is_tried_again(
    engine: Engine, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    drop = drop_folder(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    good = [write_tax(drop / f"ZEIMU_OPLOG_2026010{n}.csv", range(n * 10, n * 10 + 10), age_seconds=60) for n in (1, 2)]
    broken = drop / "ZEIMU_OPLOG_broken.csv"
    broken.symlink_to(tmp_path / "nowhere.csv")  # cannot even be looked at
    bad = [broken]
    if Path("/proc/self/mem").exists():
        unreadable = drop / "ZEIMU_OPLOG_eio.csv"
        unreadable.symlink_to("/proc/self/mem")  # a regular file whose read fails (EIO), like a failing share
        bad.append(unreadable)
    if os.geteuid() != 0:  # root reads anything
        denied = write_tax(drop / "ZEIMU_OPLOG_denied.csv", range(5), age_seconds=60)
        denied.chmod(0)
        bad.append(denied)
    data = {
        "rules": [
            {"dir": "drop", "pattern": PATTERN, "profile": "demo-tax"},
            {"dir": "other", "pattern": "*.csv", "profile": "demo-tax"},
        ]
    }
    config: WatchConfig = parse_watch_config(data, "watch.yaml", tmp_path)
    clock = FakeClock()
    watcher = Watcher(engine, settings, config, clock=clock, monotonic=clock)
    other.rmdir()  # a share that went away after start

    with caplog.at_level(logging.INFO, logger="collectors.watch"):
        first = watcher.run_once()
    assert {f.path for f in first.failed} == set(bad)
    assert {f.path for f in first.files if f.error is None} == set(good)
    assert first.problems == [f"{other}: cannot list the folder (No such file or directory)"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    for path in [*bad, other]:
        assert any(str(path) in message for message in errors), path
    assert scalar(engine, "SELECT count(*) FROM events") == 20

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="collectors.watch"):
        second = watcher.run_once()  # tried again at the next pass
    assert {f.path for f in second.failed} == set(bad)
    assert not any(str(other) in r.getMessage() for r in caplog.records)  # a folder still away: said once
    assert watcher.run_once().failed == []  # then less often while nothing changes
    clock.now += 5
    assert {f.path for f in watcher.run_once().failed} == set(bad)

    broken.unlink()
    write_tax(broken, range(500, 507), age_seconds=60)  # fixed: read at the next pass
    other.mkdir()
    write_tax(other / "late.csv", range(600, 603), age_seconds=60)
    fixed = watcher.run_once()
    assert {f.path for f in fixed.files if f.error is None} == {broken, other / "late.csv"}
    assert not fixed.problems
    assert scalar(engine, "SELECT count(*) FROM events") == 20 + 7 + 3


def test_heartbeat_says_the_watcher_is_alive(
    engine: Engine, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    drop = drop_folder(tmp_path)
    write_tax(drop / "ZEIMU_OPLOG_20260105.csv", range(12), age_seconds=60)
    data = {"heartbeat_seconds": 0.01, "interval_seconds": 0.01, "rules": [{"dir": "drop", "profile": "demo-tax"}]}
    watcher = Watcher(engine, settings, parse_watch_config(data, "watch.yaml", tmp_path))
    stop = threading.Event()
    with caplog.at_level(logging.INFO, logger="collectors.watch"):
        thread = threading.Thread(target=watcher.run_forever, args=(stop,), daemon=True)
        thread.start()
        try:
            wait_for(lambda: any("still watching" in r.getMessage() for r in caplog.records), what="a heartbeat")
        finally:
            stop.set()
            thread.join(timeout=10)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("watching ") and "demo-tax" in m for m in messages)
    assert any("ZEIMU_OPLOG_20260105.csv: read 12, accepted 12, duplicate 0, quarantined 0" in m for m in messages)
    assert next(m for m in messages if "still watching" in m).startswith("still watching 1 folder(s), 1 file(s) known")
    assert messages[-1] == "stopped"
