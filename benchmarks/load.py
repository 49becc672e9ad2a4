"""Load test on loopback: the syslog listener and HTTP push at K times a 300,000-resident city's busiest hour.

    python benchmarks/load.py                          # 60 s, 10x the peak, SQLite
    python benchmarks/load.py --seconds 30 --factor 50 --pg-url postgresql+psycopg://…

What runs: a fresh store (migrated), a push source, ``auditd listen syslog`` (with its disk spool) and
``auditd serve`` (uvicorn) as child processes, exactly as an operator starts them. Then:

1. **TCP syslog and HTTP push together** for ``--seconds``: one TCP connection sending RFC 3164
   messages one per line, paced evenly; one push client sending a batch every second (NDJSON, an
   Idempotency-Key per batch, retried with the same key on 409/503 or a dropped connection).
2. **UDP syslog alone** for a third of that: datagrams paced the same way; UDP cannot be retried or
   made to wait, so its drops are counted and reported, not held to zero.

The rate of each transport is ``factor`` x the busiest hour of a 300,000-resident city, taken from
the demo generator (the product's model of a city's systems): a 30,000-resident city over two weeks
is generated in memory, its busiest clock hour counted and scaled by 10. Latency is send → stored: the
benchmark keeps each message's send time; the stored row's batch carries the time its transaction
started (``ingest_batches.created_at``); for HTTP, also send → answer (the answer comes after the
commit). Loss is sent − stored, per transport: it must be 0 for TCP and HTTP.

Prints a table and writes ``benchmarks/results/load-<stamp>.json`` with a description of the machine.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "var" / "bench"
CITY = 300_000
SAMPLE_RESIDENTS = 30_000
PUSH_SOURCE = "load-push"
SYSLOG_PROFILE = "syslog-kv-3164"
TOKYO = ZoneInfo("Asia/Tokyo")


def machine() -> dict[str, object]:
    from benchmarks.ingest import machine as described

    return described()


def busiest_hour(residents: int = CITY) -> dict[str, float]:
    """Events in the busiest clock hour of a city of ``residents``, from the demo generator's activity."""
    import pandas as pd

    from auditd.demo.activity import Activity, batch_and_admin, business_activity, login_events
    from auditd.demo.world import CityConfig, build_world

    world = build_world(CityConfig(residents=SAMPLE_RESIDENTS, days=14, incidents=False))
    activity = Activity()
    business_activity(world, activity)
    batch_and_admin(world, activity)
    login_events(activity, world.rng)
    per_hour = pd.to_datetime(activity.frame()["ts"]).dt.floor("h").value_counts()
    peak = float(per_hour.max()) * residents / SAMPLE_RESIDENTS
    return {"sample_residents": SAMPLE_RESIDENTS, "sample_peak_hour": float(per_hour.max()), "peak_per_hour": peak}


# -- the store and the processes ---------------------------------------------------------------------------


def fresh_store(folder: Path, pg_url: str | None) -> str:
    from sqlalchemy.engine import make_url

    from auditd.store import migrate
    from auditd.store.db import make_engine

    if pg_url is None:
        url = f"sqlite:///{folder / 'auditd.db'}"
    else:
        name = f"auditd_load_{int(time.time())}"
        admin = make_engine(make_url(pg_url).set(database="postgres").render_as_string(hide_password=False))
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        admin.dispose()
        url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


def drop_store(pg_url: str, url: str) -> None:
    """Measured, then dropped: a PostgreSQL database per run would pile up on the server."""
    from sqlalchemy.engine import make_url

    from auditd.store.db import make_engine

    admin = make_engine(make_url(pg_url).set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    admin.dispose()


def environment(folder: Path, url: str) -> dict[str, str]:
    from benchmarks.ingest import child_env

    return child_env(folder, url, PYTHONUNBUFFERED="1", NO_COLOR="1", COLUMNS="200")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Listener:
    def __init__(self, env: dict[str, str], folder: Path) -> None:
        command = [sys.executable, "-m", "auditd", "listen", "syslog", "--profile", SYSLOG_PROFILE,
                   "--udp", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--report-seconds", "5",
                   "--spool-dir", str(folder / "spool")]  # fmt: skip
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        ready = threading.Event()

        def pump() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.lines.append(line)
                if "listening for syslog" in line:
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(60):
            raise SystemExit("the listener did not start:\n" + "".join(self.lines))
        found = re.search(r"udp 127\.0\.0\.1:(\d+), tcp 127\.0\.0\.1:(\d+)", "".join(self.lines))
        assert found
        self.udp_port, self.tcp_port = int(found.group(1)), int(found.group(2))

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(120)


def start_server(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "auditd", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-scheduler"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("the server did not start")


# -- senders -----------------------------------------------------------------------------------------------


def syslog_line(prefix: str, n: int) -> bytes:
    stamp = datetime.now(TOKYO).strftime("%b %e %H:%M:%S")
    return f"<14>{stamp} loadhost EPM: user=u{n % 97} pc=T{n % 13} op=PRINT count=1 file={prefix}{n}\n".encode()


def paced(rate: float, seconds: float, send: Any) -> dict[int, float]:
    """Call ``send(n)`` ``rate`` times a second, evenly, for ``seconds``; the wall time of each send."""
    sent: dict[int, float] = {}
    started = time.monotonic()
    n = 0
    total = int(rate * seconds)
    while n < total:
        due = int((time.monotonic() - started) * rate) + 1
        while n < min(due, total):
            sent[n] = time.time()
            send(n)
            n += 1
        time.sleep(min(0.005, 1 / rate))
    return sent


def drive_tcp(port: int, rate: float, seconds: float, out: dict[str, Any]) -> None:
    with socket.create_connection(("127.0.0.1", port)) as connection:
        out["sent"] = paced(rate, seconds, lambda n: connection.sendall(syslog_line("t", n)))


def drive_udp(port: int, rate: float, seconds: float, out: dict[str, Any]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        out["sent"] = paced(rate, seconds, lambda n: udp.sendto(syslog_line("u", n).rstrip(b"\n"), ("127.0.0.1", port)))


def welfare_record(n: int) -> str:
    now = datetime.now(TOKYO).isoformat(timespec="seconds")
    return json.dumps(
        {"time": now, "operator": {"id": f"w{n % 89:03d}", "terminal": "T2101-01"}, "session": "S1",
         "business": "kokuho", "op": "VIEW", "screen": "K0101", "target": {"atena": f"{100000 + n % 5000}"},
         "count": 1, "status": "OK", "note": f"h{n}", "seq": n + 1},
        ensure_ascii=False,
    )  # fmt: skip


def drive_http(base: str, token: str, rate: float, seconds: float, out: dict[str, Any]) -> None:
    """A batch a second, as a collection agent sends; each retried with its key until it is answered."""
    sent: dict[int, float] = {}
    answers: list[float] = []
    retries = 0
    n = 0
    with httpx.Client(base_url=base, timeout=60) as client:
        started = time.monotonic()
        for second in range(int(seconds)):
            time.sleep(max(0.0, started + second - time.monotonic()))
            count = int(rate * (second + 1)) - int(rate * second)
            records = [welfare_record(n + i) for i in range(count)]
            at = time.time()
            for i in range(count):
                sent[n + i] = at
            n += count
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson",
                       "Idempotency-Key": str(uuid.uuid4())}  # fmt: skip
            body = ("\n".join(records) + "\n").encode()
            while True:
                try:
                    response = client.post(f"/api/v1/ingest/{PUSH_SOURCE}", content=body, headers=headers)
                except httpx.TransportError:
                    retries += 1
                    time.sleep(1)
                    continue
                if response.status_code in (409, 503):
                    retries += 1
                    time.sleep(float(response.headers.get("retry-after", "1")))
                    continue
                response.raise_for_status()
                answers.append(time.time() - at)
                break
    out.update(sent=sent, answers=answers, retries=retries, requests=len(answers))


# -- measuring ---------------------------------------------------------------------------------------------


def stored_times(url: str, source: str, column: str) -> dict[str, float]:
    """``detail`` (syslog) or the note (push) of every stored event → when its batch was stored."""
    from sqlalchemy import select

    from auditd.events.models import Event, IngestBatch
    from auditd.store.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(getattr(Event, column), IngestBatch.created_at)
            .join(IngestBatch, IngestBatch.id == Event.batch_id)
            .where(Event.source == source)
        ).all()
    engine.dispose()
    return {str(key): stamp.timestamp() for key, stamp in rows}


def wait_stored(url: str, source: str, column: str, expected: int, timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        found = stored_times(url, source, column)
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(1)


def summary(sent: dict[int, float], stored: dict[str, float], prefix: str, seconds: float) -> dict[str, Any]:
    latencies = np.array([stored[f"{prefix}{n}"] - at for n, at in sent.items() if f"{prefix}{n}" in stored])
    result: dict[str, Any] = {
        "sent": len(sent),
        "stored": len(latencies),
        "lost": len(sent) - len(latencies),
        "messages_per_second": round(len(latencies) / seconds, 1),
    }
    if len(latencies):
        for q in (50, 95, 99):
            result[f"latency_p{q}_ms"] = round(float(np.percentile(latencies, q)) * 1000, 1)
        result["latency_max_ms"] = round(float(latencies.max()) * 1000, 1)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60, help="how long TCP and HTTP are driven (default 60)")
    parser.add_argument("--factor", type=float, default=10, help="times the busiest hour of a 300k city (default 10)")
    parser.add_argument("--pg-url", default=None, help="PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args(argv)

    peak = busiest_hour()
    rate = args.factor * peak["peak_per_hour"] / 3600
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = WORK / f"load-{stamp}"
    folder.mkdir(parents=True)
    url = fresh_store(folder, args.pg_url)
    env = environment(folder, url)
    backend = "postgresql" if args.pg_url else "sqlite"
    print(f"busiest hour of a {CITY:,}-resident city: {peak['peak_per_hour']:,.0f} events; x{args.factor:g} "
          f"= {rate:,.1f} messages/s per transport, {args.seconds:g} s, {backend}")  # fmt: skip

    from auditd.store.db import make_engine
    from collectors.push import service

    engine = make_engine(url)
    with engine.begin() as conn:
        token = service.add_source(conn, "999997", PUSH_SOURCE, "demo-welfare", actor="cli:bench").token
    engine.dispose()

    listener = Listener(env, folder)
    server, base = start_server(env)
    try:
        tcp: dict[str, Any] = {}
        http: dict[str, Any] = {}
        threads = [
            threading.Thread(target=drive_tcp, args=(listener.tcp_port, rate, args.seconds, tcp)),
            threading.Thread(target=drive_http, args=(base, token, rate, args.seconds, http)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        udp_seconds = max(args.seconds / 3, 5)
        udp: dict[str, Any] = {}
        drive_udp(listener.udp_port, rate, udp_seconds, udp)
        syslog_stored = wait_stored(url, SYSLOG_PROFILE, "detail", len(tcp["sent"]) + len(udp["sent"]), 60)
        push_stored = wait_stored(url, PUSH_SOURCE, "detail", len(http["sent"]), 60)
    finally:
        listener.stop()
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        if args.pg_url:
            drop_store(args.pg_url, url)
    figures = {
        "tcp": summary(tcp["sent"], syslog_stored, "t", args.seconds),
        "udp": summary(udp["sent"], syslog_stored, "u", udp_seconds),
        "http": summary(http["sent"], push_stored, "h", args.seconds),
    }
    answers = np.array(http["answers"])
    figures["http"].update(
        requests=http["requests"],
        retries=http["retries"],
        answer_p50_ms=round(float(np.percentile(answers, 50)) * 1000, 1),
        answer_p95_ms=round(float(np.percentile(answers, 95)) * 1000, 1),
        answer_p99_ms=round(float(np.percentile(answers, 99)) * 1000, 1),
    )
    totals = re.findall(r"udp dropped.*\n.*", "".join(listener.lines))
    print(f"{'transport':<10}{'sent':>9}{'stored':>9}{'lost':>6}{'msg/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for name, row in figures.items():
        print(f"{name:<10}{row['sent']:>9,}{row['stored']:>9,}{row['lost']:>6,}{row['messages_per_second']:>9,.1f}"
              f"{row.get('latency_p50_ms', 0):>9,.1f}{row.get('latency_p95_ms', 0):>9,.1f}"
              f"{row.get('latency_p99_ms', 0):>9,.1f}")  # fmt: skip
    row = figures["http"]
    print(f"http answers p50/p95/p99 {row['answer_p50_ms']}/{row['answer_p95_ms']}/{row['answer_p99_ms']} ms, "
          f"{row['requests']} requests, {row['retries']} retries")  # fmt: skip
    result = {
        "stamp": stamp,
        "backend": backend,
        "machine": machine(),
        "seconds": args.seconds,
        "udp_seconds": udp_seconds,
        "factor": args.factor,
        "peak": peak,
        "rate_per_transport": round(rate, 2),
        "figures": figures,
        "listener_totals": totals[-1] if totals else None,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"load-{stamp}.json"
    target.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"written {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
    failed = [name for name in ("tcp", "http") if figures[name]["lost"]]
    if failed:
        raise SystemExit(f"LOSS over {', '.join(failed)}: must be zero")


if __name__ == "__main__":
    main()
