"""``auditd watch`` as an operator runs it: a real process, real signals, a real ``kill -9``.

Whatever happens to the process, the store ends with exactly the events of one clean ingest of the
same final files (ids compared, as in tests/collectors/test_resume.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import auditd
from sqlalchemy import Engine, text
from watch_support import backdate, clean_ids, event_ids, tax_bytes, tax_line, wait_for, write_tax

from auditd.errors import ValidationFailed
from auditd.settings import Settings
from collectors.watch import cli as watch_cli

PATTERN = "ZEIMU_OPLOG_*.csv"


def start_watch(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """The watcher in the background, its output in ``log`` (a pipe nobody reads could fill up and block it)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "auditd", "watch", *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def runs_of(engine: Engine, name: str) -> list[tuple[str, int, int]]:
    """(status, checkpoint byte, records read) of every run of the file called ``name``, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT status, position, records_read FROM ingest_runs WHERE input LIKE :name ORDER BY id"),
            {"name": f"%{name}"},
        ).all()
    return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]


def started(engine: Engine, name: str) -> bool:
    """At least one chunk of ``name`` is committed (its checkpoint has moved)."""
    return any(position > 0 for _, position, _ in runs_of(engine, name))


def city_drop(tmp_path: Path, small_city, count: int) -> list[Path]:  # type: ignore[no-untyped-def]
    drop = tmp_path / "drop"
    drop.mkdir()
    tax = [i.path for i in small_city.inputs if i.profile == "demo-tax"][:count]
    for path in tax:
        shutil.copy(path, drop / path.name)
    return [drop / p.name for p in tax]


@pytest.mark.slow
def test_kill_9_in_the_middle_of_a_file_then_restart_loses_and_repeats_nothing(
    engine: Engine, settings: Settings, env_for_cli: dict[str, str], tmp_path: Path, small_city
):  # type: ignore[no-untyped-def]
    first, last = city_drop(tmp_path, small_city, 2)
    drop = first.parent
    big = write_tax(drop / "ZEIMU_OPLOG_big.csv", range(20_000))
    for age, path in ((600, first), (500, big), (400, last)):  # read in this order
        backdate(path, age)
    env = dict(env_for_cli, AUDITD_INGEST_CHUNK_ROWS="1000")
    args = (str(drop), "--profile", "demo-tax", "--pattern", PATTERN, "--interval", "0.2")

    proc = start_watch(env, tmp_path / "watch.log", *args)
    try:
        wait_for(lambda: started(engine, big.name) or proc.poll() is not None, timeout=60, what="the big file")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    [(status, position, _)] = runs_of(engine, big.name)
    assert status == "running" and 0 < position < big.stat().st_size, "not killed in the middle of the big file"
    assert runs_of(engine, last.name) == []

    done = auditd(env, "watch", *args, "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{big.name}: read " in done.stdout and f"{last.name}: read " in done.stdout
    status, position, read = runs_of(engine, big.name)[-1]
    assert status == "completed" and position == big.stat().st_size
    assert 0 < read < 20_000  # continued from the checkpoint, not read again from the start
    expected = clean_ids([(p, "demo-tax") for p in (first, big, last)], tmp_path / "clean", settings)
    assert event_ids(engine) == expected


@pytest.mark.slow
def test_sigterm_stops_between_files_and_the_next_run_goes_on(
    engine: Engine, settings: Settings, env_for_cli: dict[str, str], tmp_path: Path, small_city
):  # type: ignore[no-untyped-def]
    first, *later = city_drop(tmp_path, small_city, 3)
    drop = first.parent
    big = write_tax(drop / "ZEIMU_OPLOG_big.csv", range(8_000))
    for age, path in zip((600, 500, 400, 300), (first, big, *later), strict=True):
        backdate(path, age)
    env = dict(env_for_cli, AUDITD_INGEST_CHUNK_ROWS="1000")
    args = (str(drop), "--profile", "demo-tax", "--pattern", PATTERN, "--interval", "0.2")
    log = tmp_path / "watch.log"

    proc = start_watch(env, log, *args)
    try:
        wait_for(lambda: started(engine, big.name) or proc.poll() is not None, timeout=60, what="the big file")
        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = log.read_text(encoding="utf-8")
    assert returncode == 0, output
    assert "stopping after the current file (SIGTERM" in output and output.rstrip().endswith("stopped")
    assert runs_of(engine, big.name) == [("completed", big.stat().st_size, 8_000)]  # the file was finished
    assert all(runs_of(engine, p.name) == [] for p in later)  # and nothing was started after it

    done = auditd(env, "watch", *args, "--once")
    assert done.returncode == 0, done.stderr
    assert all(f"{p.name}: read " in done.stdout for p in later) and f"{big.name}: read" not in done.stdout
    expected = clean_ids([(p, "demo-tax") for p in (first, big, *later)], tmp_path / "clean", settings)
    assert event_ids(engine) == expected


def test_once_reads_settled_files_whole_reports_each_file_and_fails_on_a_bad_one(
    engine: Engine, settings: Settings, env_for_cli: dict[str, str], tmp_path: Path
):
    drop = tmp_path / "drop"
    drop.mkdir()
    old = drop / "ZEIMU_OPLOG_20260105.csv"
    old.write_bytes(tax_bytes(range(8)) + tax_line(8).rstrip(b"\r\n"))  # no final newline, but long finished
    backdate(old, 3600)
    fresh = drop / "ZEIMU_OPLOG_20260106.csv"
    fresh.write_bytes(tax_bytes(range(100, 104)) + tax_line(104)[:20])  # being written right now
    backdate(fresh, -3600)  # "now" by a clock ahead of ours: not settled, however slow this machine is
    broken = drop / "ZEIMU_OPLOG_broken.csv"
    broken.symlink_to(tmp_path / "nowhere.csv")
    args = ("watch", str(drop), "-p", "demo-tax", "--pattern", PATTERN, "--once")

    done = auditd(env_for_cli, *args)
    assert done.returncode == 1, done.stderr  # for cron: something needs a look
    assert f"{old.name}: read 9, accepted 9, duplicate 0, quarantined 0" in done.stdout
    assert f"{fresh.name}: read 4, accepted 4, duplicate 0, quarantined 0 (its last line is not finished" in done.stdout
    assert f"error: {broken}: cannot read: a link to a file that does not exist" in done.stderr
    assert "looked once at 3 file(s): 13 record(s) read, 13 accepted, 1 problem(s)" in done.stdout
    assert "Traceback" not in done.stderr

    broken.unlink()
    with fresh.open("ab") as handle:  # the writer finishes its last line, without a line break
        handle.write(tax_line(104)[20:].rstrip(b"\r\n"))
    again = auditd(env_for_cli, *args, "--settle", "0")  # the command line wins over the default settle time
    assert again.returncode == 0, again.stderr
    assert f"{fresh.name}: read 1, accepted 1" in again.stdout
    expected = clean_ids([(old, "demo-tax"), (fresh, "demo-tax")], tmp_path / "clean", settings)
    assert event_ids(engine) == expected


def test_a_configuration_file_from_the_command_line(
    engine: Engine, env_for_cli: dict[str, str], tmp_path: Path, small_city
):  # type: ignore[no-untyped-def]
    (tmp_path / "zeimu").mkdir()
    (tmp_path / "fukushi").mkdir()
    tax = next(i.path for i in small_city.inputs if i.profile == "demo-tax")
    welfare = next(i.path for i in small_city.inputs if i.profile == "demo-welfare")
    for source, folder in ((tax, "zeimu"), (welfare, "fukushi")):
        shutil.copy(source, tmp_path / folder / source.name)
        backdate(tmp_path / folder / source.name, 60)  # finished: archived after reading
    config = tmp_path / "watch.yaml"
    config.write_text(
        "archive_dir: archive\n"
        "rules:\n"
        f"  - {{dir: zeimu, pattern: '{PATTERN}', profile: demo-tax}}\n"
        "  - {dir: fukushi, pattern: '*.jsonl', profile: demo-welfare}\n",
        encoding="utf-8",
    )
    done = auditd(env_for_cli, "watch", "--config", str(config), "--once")
    assert done.returncode == 0, done.stderr
    assert f"{tax.name}: read " in done.stdout and f"{welfare.name}: read " in done.stdout
    assert sorted(p.name for p in (tmp_path / "archive").iterdir()) == sorted([tax.name, welfare.name])
    with engine.connect() as conn:
        sources = set(conn.execute(text("SELECT DISTINCT source FROM events")).scalars())
        actors = set(conn.execute(text("SELECT DISTINCT actor FROM trail WHERE action = 'ingest'")).scalars())
    assert sources == {"tax", "welfare"} and actors == {"watch"}


def test_help_and_errors_are_plain_words_not_tracebacks(tmp_path: Path):
    env = {"AUDITD_DATA_DIR": str(tmp_path / "data"), "AUDITD_ENV": "test", "PATH": os.environ.get("PATH", "")}
    shown = auditd(env, "watch", "--help")
    assert shown.returncode == 0
    for words in ("drop folder", "--profile", "--pattern", "--config", "--once", "--interval", "--settle"):
        assert words in shown.stdout, words
    (tmp_path / "drop").mkdir()
    bad_rule = tmp_path / "watch.yaml"
    bad_rule.write_text("rules:\n  - {dir: drop, profile: demo-tax}\n  - {dir: drop, pattern: '*.x'}\n", "utf-8")
    cases = [
        (["watch"], "nothing to watch: give a folder and a profile, or a configuration file"),
        (["watch", str(tmp_path / "drop"), "-p", "demo-taxx"], "no profile named 'demo-taxx'"),
        (["watch", "--config", str(bad_rule)], f"{bad_rule}: the watch configuration is not valid"),
    ]
    for args, expected in cases:
        done = auditd(env, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert expected in " ".join(done.stderr.split()), (args, done.stderr)
        assert "rules[1].profile (rule 2): Field required" in done.stderr or "--config" not in args
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"directory": "nope", "profile": "demo-tax"}, "no such folder: {tmp}/nope"),
        ({"directory": "drop"}, "which profile reads the files in {tmp}/drop? give --profile"),
        ({"config": "watch.yaml", "profile": "demo-tax", "recursive": True}, "--profile, --recursive: only with DIR"),
        ({"config": "watch.yaml", "directory": "drop"}, "give either a folder (DIR --profile P) or --config FILE"),
        ({"directory": "drop", "profile": "demo-tax", "settle": -1}, "--settle: Input should be greater than or equal"),
        ({"config": "watch.yaml", "interval": -1}, "--interval must be more than 0 seconds (got -1)"),
    ],
)
def test_command_line_combinations_are_explained(tmp_path: Path, args: dict[str, object], expected: str):
    """What the command checks before it looks at anything (the same function the command calls)."""
    (tmp_path / "drop").mkdir()
    (tmp_path / "watch.yaml").write_text("rules: [{dir: drop, profile: demo-tax}]\n", "utf-8")
    given: dict[str, object] = {"directory": None, "profile": None, "pattern": None, "config": None}
    given.update(recursive=False, archive_dir=None, interval=None, settle=None)
    for key in ("directory", "config"):
        if isinstance(args.get(key), str):
            args = {**args, key: tmp_path / str(args[key])}
    with pytest.raises(ValidationFailed) as caught:
        watch_cli._config(**{**given, **args})  # type: ignore[arg-type]
    assert caught.value.message.startswith(expected.format(tmp=tmp_path))
