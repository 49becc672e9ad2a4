"""HTTP push when things go wrong: the server process killed (SIGKILL) in the middle of a push, and
the database unreachable. A sender that retries with the same Idempotency-Key ends with every record
stored exactly once; a database it cannot reach is a 503 with Retry-After, never a 500."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
from fastapi.testclient import TestClient
from push_support import count, rows, welfare_line
from sqlalchemy import Engine, text

from auditd.api.app import create_app
from auditd.settings import Settings
from auditd.store.db import make_engine

SOURCE = "welfare-push"
PATH = f"/api/v1/ingest/{SOURCE}"


def body_of(records: int) -> bytes:
    return "".join(welfare_line(i % 60, seq=i + 1) + "\n" for i in range(records)).encode()


def sent(token: str, key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson", "Idempotency-Key": key}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def server(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``auditd serve`` (uvicorn) on a free loopback port, ready to answer."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "auditd", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-scheduler"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(15)


def fingerprinted(engine: Engine, key: str) -> bool:
    found = rows(engine, "SELECT fingerprint FROM ingest_runs WHERE input = :i", i=f"push:{SOURCE}:{key}")
    return bool(found) and found[0].fingerprint is not None


def run_of(engine: Engine, key: str) -> list[tuple[str, int]]:
    found = rows(
        engine, "SELECT status, accepted FROM ingest_runs WHERE input = :i ORDER BY id", i=f"push:{SOURCE}:{key}"
    )
    return [(r.status, r.accepted) for r in found]


@pytest.mark.slow
def test_a_server_killed_mid_push_then_a_retry_with_the_same_key_stores_everything_once(
    engine: Engine, env_for_cli: dict[str, str], add_source: Callable[..., str]
):
    token = add_source(SOURCE)
    records = 40_000
    body = body_of(records)
    key = "batch-2026-02-03-0001"
    outcome: dict[str, object] = {}
    with server(env_for_cli) as (process, base):

        def push() -> None:
            try:
                outcome["response"] = httpx.post(f"{base}{PATH}", content=body, headers=sent(token, key), timeout=120)
            except httpx.TransportError as exc:
                outcome["error"] = exc

        pushing = threading.Thread(target=push)
        pushing.start()
        deadline = time.monotonic() + 60
        while not fingerprinted(engine, key) and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)  # the run is open and the push is being stored
        pushing.join(30)
    assert "error" in outcome, "the sender saw the connection drop (no answer)"
    assert run_of(engine, key) == [("running", 0)], "killed before its transaction committed"
    assert count(engine, "events") == 0

    with server(env_for_cli) as (_, base):
        retried = httpx.post(f"{base}{PATH}", content=body, headers=sent(token, key), timeout=120)
        assert retried.status_code == 200, retried.text
        answer = retried.json()
        assert (answer["read"], answer["accepted"], answer["duplicate"]) == (records, records, 0)
        again = httpx.post(f"{base}{PATH}", content=body, headers=sent(token, key), timeout=120)
        assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
        assert again.json() == retried.json()
    assert count(engine, "events") == records
    with engine.connect() as conn:
        seqs = conn.execute(text("SELECT count(DISTINCT event_id) FROM events")).scalar_one()
    assert seqs == records
    assert [status for status, _ in run_of(engine, key)] == ["running", "completed"]


def test_a_key_held_by_a_live_request_is_still_a_conflict(
    engine: Engine, settings: Settings, add_source: Callable[..., str]
):
    """The lock, not the run's age, tells a live first request from a dead one."""
    from collectors.push import service

    token = add_source(SOURCE)
    client = TestClient(create_app(settings, engine))
    key = "held-1"
    with service.key_lock(engine, settings, f"{settings.municipality_code}\x1fpush:{SOURCE}:{key}") as mine:
        assert mine
        held = client.post(PATH, content=body_of(2), headers=sent(token, key))
        assert held.status_code == 409 and held.json()["error"] == "conflict"
    free = client.post(PATH, content=body_of(2), headers=sent(token, key))
    assert free.status_code == 200 and free.json()["accepted"] == 2


def unreachable(engine: Engine, settings: Settings) -> Engine:
    """The same kind of store, somewhere it cannot be reached."""
    if engine.dialect.name == "sqlite":
        return make_engine(f"sqlite:///{settings.data_dir}/no-such-folder/auditd.db")
    url = engine.url.set(port=free_port())
    return make_engine(url.render_as_string(hide_password=False))


def test_a_database_that_cannot_be_reached_is_a_503_with_retry_after(
    engine: Engine, settings: Settings, add_source: Callable[..., str]
):
    token = add_source(SOURCE)
    gone = unreachable(engine, settings)
    client = TestClient(create_app(settings, gone), raise_server_exceptions=False)
    response = client.post(PATH, content=body_of(3), headers=sent(token, "k-503"))
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "store_unavailable"
    assert response.headers["retry-after"] == "30"
    assert "same Idempotency-Key" in response.json()["hint"]
    gone.dispose()


@pytest.mark.slow
def test_postgresql_going_away_under_a_running_server_is_a_503_then_the_retry_works(
    engine: Engine, backend: str, env_for_cli: dict[str, str], add_source: Callable[..., str]
):
    if backend != "postgresql":
        pytest.skip("a database server that goes away: PostgreSQL")
    token = add_source(SOURCE)
    name = engine.url.database
    admin = make_engine(engine.url.set(database="postgres").render_as_string(hide_password=False))
    with server(env_for_cli) as (_, base):
        warm = httpx.post(f"{base}{PATH}", content=body_of(1), headers=sent(token, "warm"), timeout=60)
        assert warm.status_code == 200
        try:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                conn.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"), {"d": name}
                )
            down = httpx.post(f"{base}{PATH}", content=body_of(5), headers=sent(token, "k-down"), timeout=60)
            assert down.status_code == 503, down.text
            assert down.headers["retry-after"] == "30" and down.json()["error"] == "store_unavailable"
        finally:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            admin.dispose()
            engine.dispose()
        back = httpx.post(f"{base}{PATH}", content=body_of(5), headers=sent(token, "k-down"), timeout=60)
        assert back.status_code == 200, back.text
        assert back.json()["accepted"] == 4, "the warm-up record is the first of these five"
    assert count(engine, "events") == 5
