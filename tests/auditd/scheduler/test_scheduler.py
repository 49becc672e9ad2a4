"""The scheduler on both backends: the persistent job store, catching up once, isolation, run-now, serve."""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from auditd.scheduler.service import CriticalFinding, JobSpec, Scheduler, run_job, run_now
from auditd.settings import Settings

DAILY = {"hour": 3, "minute": 30}
OTHER_CITY = "131016"


class Calls:
    """A job function that counts its calls (thread-safe: jobs run in the scheduler's threads)."""

    def __init__(self, fail_for: str | None = None, error: type[Exception] = RuntimeError) -> None:
        self.calls: list[str] = []
        self.fail_for = fail_for
        self.error = error
        self.lock = threading.Lock()

    def __call__(self, settings: Settings, engine: Engine) -> str:
        with self.lock:
            self.calls.append(settings.municipality_code)
        if self.fail_for in (settings.municipality_code, "*"):
            raise self.error(f"broken for {settings.municipality_code}")
        return f"done for {settings.municipality_code}"


def spec(job_id: str, run: Callable[[Settings, Engine], str], **extra: Any) -> JobSpec:
    return JobSpec(id=job_id, title=f"test job {job_id}", cron=DAILY, run=run, **extra)


def runs(engine: Engine, job_id: str | None = None) -> list[Any]:
    sql = "SELECT * FROM job_runs" + (" WHERE job_id = :j" if job_id else "") + " ORDER BY id"
    with engine.connect() as conn:
        return list(conn.execute(text(sql), {"j": job_id}).all())


def wait_for(condition: Callable[[], bool], seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def stop_while_due(settings: Settings, engine: Engine, specs: dict[str, JobSpec], missed: timedelta) -> None:
    """Schedule the jobs, then leave them stored as if the server had been down for ``missed``: their
    next run in the past, several fire times ago (APScheduler has no fake clock to move instead)."""
    scheduler = Scheduler(settings, engine, specs)
    scheduler.start()
    scheduler.aps.pause()
    for job_id in specs:
        scheduler.aps.modify_job(job_id, next_run_time=datetime.now(UTC) - missed)
    scheduler.shutdown()


def test_a_job_missed_while_down_runs_once_when_the_scheduler_starts(engine: Engine, settings: Settings):
    calls = Calls()
    specs = {"test.daily": spec("test.daily", calls)}
    stop_while_due(settings, engine, specs, missed=timedelta(days=3, hours=2))  # three 03:30 runs missed
    assert calls.calls == []
    scheduler = Scheduler(settings, engine, specs)
    scheduler.start()
    try:
        assert wait_for(lambda: len(runs(engine, "test.daily")) == 1 and runs(engine)[0].outcome == "ok")
        time.sleep(1.0)
        assert calls.calls == [settings.municipality_code]  # coalesced: once, not three times
        upcoming = scheduler.next_run_times()["test.daily"]
        assert upcoming is not None and upcoming > datetime.now(UTC)
        assert upcoming.astimezone(datetime.now().astimezone().tzinfo).minute == 30
    finally:
        scheduler.shutdown()


def test_a_run_missed_beyond_its_grace_is_skipped(engine: Engine, settings: Settings):
    calls = Calls()
    specs = {"test.strict": spec("test.strict", calls, misfire_grace_seconds=60)}
    stop_while_due(settings, engine, specs, missed=timedelta(hours=2))
    scheduler = Scheduler(settings, engine, specs)
    scheduler.start()
    try:
        time.sleep(2.0)
        assert calls.calls == [] and runs(engine) == []
        upcoming = scheduler.next_run_times()["test.strict"]
        assert upcoming is not None and upcoming > datetime.now(UTC)
    finally:
        scheduler.shutdown()


def test_a_failing_job_is_recorded_and_the_others_still_run(engine: Engine, settings: Settings):
    broken, healthy = Calls(fail_for="*"), Calls()
    specs = {"test.broken": spec("test.broken", broken), "test.healthy": spec("test.healthy", healthy)}
    stop_while_due(settings, engine, specs, missed=timedelta(hours=30))
    scheduler = Scheduler(settings, engine, specs)
    scheduler.start()
    try:
        assert wait_for(lambda: {r.job_id for r in runs(engine) if r.outcome != "running"} == set(specs))
        assert scheduler.aps.running
    finally:
        scheduler.shutdown()
    outcomes = {r.job_id: r for r in runs(engine)}
    assert outcomes["test.healthy"].outcome == "ok" and outcomes["test.healthy"].summary == "done for 999997"
    failed = outcomes["test.broken"]
    assert failed.outcome == "failed" and "RuntimeError: broken for 999997" in failed.summary
    assert "Traceback" in failed.error and failed.finished_at is not None


def test_one_failing_municipality_does_not_stop_the_others(engine: Engine, settings: Settings):
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO municipalities (municipality_code, name, created_at) VALUES (:c, 'ほか市', :t)"),
            {"c": OTHER_CITY, "t": 0 if engine.dialect.name == "sqlite" else datetime.now(UTC)},
        )
    calls = Calls(fail_for=settings.municipality_code)
    result = run_job(spec("test.split", calls), settings, engine)
    assert sorted(calls.calls) == sorted([OTHER_CITY, settings.municipality_code])
    assert {r.municipality_code: r.outcome for r in result.results} == {
        OTHER_CITY: "ok",
        settings.municipality_code: "failed",
    }
    assert result.outcome == "failed"
    stored = {(r.municipality_code, r.outcome) for r in runs(engine)}
    assert stored == {(OTHER_CITY, "ok"), (settings.municipality_code, "failed")}
    with engine.connect() as conn:
        trail = conn.execute(
            text("SELECT municipality_code, actor, target_id FROM trail WHERE action = 'job_run'")
        ).all()
    assert {(t.municipality_code, t.actor, t.target_id) for t in trail} == {
        (OTHER_CITY, "scheduler", "test.split"),
        (settings.municipality_code, "scheduler", "test.split"),
    }


def test_a_critical_finding_is_its_own_outcome(engine: Engine, settings: Settings):
    result = run_now("test.alarm", settings, engine, {"test.alarm": spec("test.alarm", Calls("*", CriticalFinding))})
    assert result.outcome == "critical"
    [row] = runs(engine)
    assert (row.outcome, row.trigger, row.error) == ("critical", "now", None)


def test_the_stored_job_holds_the_job_id_only(engine: Engine, settings: Settings):
    settings = settings.model_copy(update={"chain_key": None})
    specs = {"test.daily": spec("test.daily", Calls())}
    scheduler = Scheduler(settings, engine, specs)
    scheduler.start()
    scheduler.shutdown()
    with engine.connect() as conn:
        [row] = conn.execute(text("SELECT municipality_code, id, job_state FROM scheduler_jobs")).all()
    state = pickle.loads(row.job_state)
    assert (row.municipality_code, row.id) == (settings.municipality_code, "test.daily")
    assert state["func"] == "auditd.scheduler.service:_fire" and state["kwargs"] == {"job_id": "test.daily"}
    assert state["coalesce"] is True and state["max_instances"] == 1
    for name in ("chain_key", "pseudonym_key", "encryption_key"):
        assert settings.secret(name) not in bytes(row.job_state)


def test_a_changed_schedule_is_taken_and_an_undeclared_job_removed(engine: Engine, settings: Settings):
    Scheduler(settings, engine, {"test.a": spec("test.a", Calls()), "test.b": spec("test.b", Calls())}).start()
    from auditd.scheduler import service

    service._runtime = None  # the first scheduler was not shut down: as after a crash
    moved = JobSpec(id="test.a", title="moved", cron={"hour": 5, "minute": 0}, run=Calls())
    scheduler = Scheduler(settings, engine, {"test.a": moved})
    scheduler.start()
    try:
        jobs = {job.id: job for job in scheduler.aps.get_jobs()}
        assert set(jobs) == {"test.a"}
        assert jobs["test.a"].name == "moved" and "hour='5'" in str(jobs["test.a"].trigger)
    finally:
        scheduler.shutdown()


# -- the public surface ----------------------------------------------------------------------------


def auditd(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditd", *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.slow
def test_list_and_run_now_from_the_command_line(engine: Engine, env_for_cli: dict[str, str]):
    listed = auditd(env_for_cli, "scheduler", "list")
    assert listed.returncode == 0, listed.stderr
    assert "integrity.verify" in listed.stdout and "hour=3, minute=30 (Asia/Tokyo)" in listed.stdout
    done = auditd(env_for_cli, "scheduler", "run-now", "integrity.verify")
    assert done.returncode == 0, done.stderr
    assert "999997 ok: check #1: 0 batches, 0 events, intact" in done.stdout
    [row] = runs(engine)
    assert (row.job_id, row.trigger, row.outcome) == ("integrity.verify", "now", "ok")
    listed = auditd(env_for_cli, "scheduler", "list")
    assert " ok " in listed.stdout
    unknown = auditd(env_for_cli, "scheduler", "run-now", "no.such.job")
    assert unknown.returncode == 2 and "integrity.verify" in unknown.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_serve_runs_the_verify_job_it_missed_while_stopped(
    engine: Engine, settings: Settings, env_for_cli: dict[str, str]
):
    from auditd.scheduler.service import installed_jobs

    stop_while_due(settings, engine, installed_jobs(), missed=timedelta(days=2))
    server = subprocess.Popen(
        [sys.executable, "-m", "auditd", "serve", "--port", str(free_port())],
        env=env_for_cli,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: any(r.outcome == "ok" for r in runs(engine, "integrity.verify")), seconds=60), (
            server.stderr.read() if server.poll() is not None and server.stderr else "no run"
        )
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(server.pid, signal.SIGKILL)
            server.wait()
    [row] = runs(engine, "integrity.verify")
    assert row.trigger == "schedule" and "intact" in row.summary
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM integrity_checks WHERE actor = 'scheduler'")).scalar_one() == 1
