"""Annual report speed: the self-inspection report of a fiscal year, at several yearly volumes.

    .venv/bin/python benchmarks/annual.py                              # 1 M and 5 M events, SQLite
    .venv/bin/python benchmarks/annual.py --sizes 5000000,50000000 --rollups-only   # a 300 k city's year
    .venv/bin/python benchmarks/annual.py --sizes 2000000 --pg URL     # on PostgreSQL

Each size is a fresh store holding one fiscal year of synthetic operations spread over open days and
business hours (``--accounts`` accounts, 7 business systems and their 12 事務, an authentication
server, a realistic action mix, 0.5 % of the operations judged in violation, a few thousand alerts),
stored the way ingest stores them: events in
chunks through the events repository with the rollups maintained in the same transaction. It then
times the report (built and rendered as PDF, as the schedule does) and prints the rollup sizes, the
time, the peak memory of the report step and how the time grows with the size (the exponent between
consecutive sizes: ~0 means it does not grow with the events, 1 linear). JSON goes to
``benchmarks/results/``.

The report reads only the rollups, violations, alerts and reference tables, never the raw events, so
``--rollups-only`` stores those for N events and skips the raw rows: the report's work is the same,
and a 50 M-event year is set up in minutes rather than the hours its raw inserts take on this machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import resource
import shutil
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from ingest import RESULTS, WORK, machine

CHUNK = 200_000
#: Each business system and the 事務 it serves (a tax system never serves 生活保護).
SYSTEM_JIMU = {
    "税務": ["個人住民税", "固定資産税", "軽自動車税", "収納・滞納"],
    "福祉": ["生活保護", "児童手当", "障害福祉"],
    "国保": ["国民健康保険"],
    "介護": ["介護保険"],
    "中間サーバー": ["情報連携"],
    "統合宛名": ["情報連携"],
    "住基": ["住民基本台帳"],
}
PAIRS = [(system, jimu) for system, names in SYSTEM_JIMU.items() for jimu in names]
ACTIONS = ["view", "search", "update", "print", "export", "show_mynumber", "login", "logout", "link_inquiry"]
ACTION_WEIGHTS = [0.55, 0.2, 0.08, 0.03, 0.005, 0.02, 0.05, 0.05, 0.015]
FACTORS = ["password,vein", "ic_card,password", "password"]
RULES = ["off_hours", "out_of_scope", "no_session", "foreign_terminal", "missing_factors", "mynumber_display"]


def _open_days(first: date, last: date) -> list[date]:
    from auditd.jp.calendar import calendar_frame

    frame = calendar_frame(first, last)
    return [d for d, is_open in zip(frame["day"], frame["is_open"], strict=True) if is_open]


def _chunk(rng: np.random.Generator, n: int, days: list[date], accounts: int, batch: int, code: str) -> pd.DataFrame:
    from collectors.pipeline import event_ids

    day = np.array(days, dtype="datetime64[D]")[rng.integers(0, len(days), n)]
    seconds = rng.normal(13.5 * 3600, 2.6 * 3600, n).clip(6 * 3600, 22 * 3600).astype("int64")
    local = day.astype("datetime64[s]") + seconds.astype("timedelta64[s]")
    ts = pd.to_datetime(local).tz_localize("Asia/Tokyo").tz_convert("UTC")
    action = rng.choice(ACTIONS, n, p=np.array(ACTION_WEIGHTS) / sum(ACTION_WEIGHTS))
    pair = rng.integers(0, len(PAIRS), n)
    is_session = np.isin(action, ["login", "logout"])
    system = np.where(is_session, "認証基盤", np.array([p[0] for p in PAIRS])[pair])
    jimu = np.where(is_session, None, np.array([p[1] for p in PAIRS], dtype=object)[pair])
    factors = np.where(action == "login", np.array(FACTORS)[rng.choice(3, n, p=[0.6, 0.39, 0.01])], None)
    subject = np.where(is_session, None, np.char.mod("%032x", rng.integers(0, 300_000, n)))
    count = np.where(np.isin(action, ["print", "export"]), rng.integers(1, 400, n), 1)
    frame = pd.DataFrame(
        {
            "municipality_code": code,
            "ts": ts,
            "source": pd.Series(system).map(lambda s: f"src-{s}"),
            "system": system,
            "user_id": np.char.mod("u%05d", rng.integers(0, accounts, n)),
            "terminal_id": np.char.mod("T%05d", rng.integers(0, accounts, n)),
            "session_id": None,
            "jimu": jimu,
            "action": action,
            "screen": None,
            "function": None,
            "subject_hash": subject,
            "subject_count": count,
            "result": np.where(rng.random(n) < 0.002, "failure", "success"),
            "auth_factors": factors,
            "detail": None,
            "seq": None,
            "pii_masked": rng.random(n) < 0.0005,
            "batch_id": batch,
            "raw_pos": np.arange(n),
        }
    )
    frame["event_id"] = event_ids(frame["ts"], [rng.bytes(16) for _ in range(n)])
    return frame


def _store_year(engine: Any, code: str, events: int, accounts: int, seed: int, raw: bool = True) -> dict[str, float]:
    from auditd.alerts import repository as alerts_repo
    from auditd.decisions import repository as decisions_repo
    from auditd.events import repository as events_repo
    from auditd.events import rollup

    rng = np.random.default_rng(seed)
    days = _open_days(date(2025, 4, 1), date(2026, 3, 31))
    began = time.perf_counter()
    stored = 0
    now = datetime.now(UTC)
    while stored < events:
        n = min(CHUNK, events - stored)
        with engine.begin() as connection:
            run_id = events_repo.create_run(
                connection, municipality_code=code, source="bench", profile="bench", input="bench", started_at=now
            )
            batch = events_repo.create_batch(
                connection, municipality_code=code, run_id=run_id, created_at=now, event_count=n
            )
            frame = _chunk(rng, n, days, accounts, batch, code)
            if raw:
                events_repo.insert_events(connection, frame[list(events_repo.EVENT_COLUMNS)])
            rollup.add_events(connection, frame)
            flagged = frame.sample(frac=0.005, random_state=int(rng.integers(0, 2**31)))
            violations = pd.DataFrame(
                {
                    "municipality_code": code,
                    "ts": flagged["ts"],
                    "event_id": flagged["event_id"],
                    "rule": rng.choice(RULES, len(flagged)),
                    "policy_version_id": 1,
                    "user_id": flagged["user_id"],
                    "evidence": "{}",
                    "decided_at": now,
                }
            )
            decisions_repo.insert_violations(connection, violations)
        stored += n
        print(f"\r  stored {stored:,} / {events:,} events", end="", flush=True)
    print()
    with engine.begin() as connection:
        alerts = []
        for n in range(max(200, events // 10_000)):
            at = datetime.combine(days[int(rng.integers(0, len(days)))], datetime.min.time(), UTC) + timedelta(hours=2)
            alerts.append(
                {
                    "municipality_code": code, "fingerprint": f"bench-{n}", "rule": f"D{int(rng.integers(1, 22)):02d}",
                    "severity": "high", "user_id": f"u{int(rng.integers(0, accounts)):05d}", "terminal_id": None,
                    "subjects": "[]", "start": at, "end": at, "event_ids": "[]", "event_count": 0, "title": "bench",
                    "explanation": "ベンチマーク", "explanation_en": "benchmark", "evidence": "{}", "status": "new",
                    "section": "1101", "run_id": None, "detected_at": now,
                }
            )  # fmt: skip
        alerts_repo.insert_alerts(connection, alerts)
    return {"store_seconds": round(time.perf_counter() - began, 1), "alerts": len(alerts)}


def _rows(engine: Any, table: str) -> int:
    from sqlalchemy import text

    with engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def run(events: int, accounts: int, seed: int, pg_url: str | None, raw: bool = True) -> dict[str, Any]:
    from auditd.settings import Settings
    from auditd.store.db import engine_for
    from auditd.store.migrate import upgrade
    from reports.base import ReportRequest, fiscal_year, generate

    folder = WORK / f"annual-{events}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    extra = {"database_url": pg_url} if pg_url else {}
    settings = Settings(env="test", data_dir=folder, _env_file=None, **extra)  # type: ignore[call-arg]
    engine = engine_for(settings)
    if pg_url:
        from sqlalchemy import text

        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(engine)
    code = settings.municipality_code
    print(f"{events:,} events:")
    stored = _store_year(engine, code, events, accounts, seed, raw)
    start, end = fiscal_year(2025)
    request = ReportRequest("annual", code, start, end)
    began = time.perf_counter()
    with engine.begin() as connection:
        rendered = generate(connection, settings, request, "pdf", "bench", "cli")
    seconds = time.perf_counter() - began
    tracemalloc.start()  # a second report for its memory only: tracing slows Python down several times
    with engine.begin() as connection:
        generate(connection, settings, request, "pdf", "bench", "cli")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    result = {
        "events": events,
        "backend": "postgresql" if pg_url else "sqlite",
        "raw_events_stored": raw,
        "event_hours_rows": _rows(engine, "event_hours"),
        "account_days_rows": _rows(engine, "account_days"),
        "violations": _rows(engine, "violations"),
        "report_seconds": round(seconds, 2),
        "report_peak_mib": round(peak / 2**20, 1),
        "process_max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "pdf_bytes": len(rendered.content),
        **stored,
    }
    engine.dispose()
    if not pg_url:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,5000000", help="events in the fiscal year, comma-separated")
    parser.add_argument("--accounts", type=int, default=2500, help="operator accounts (a 300 k city: ~2,500)")
    parser.add_argument("--pg", default=None, help="a PostgreSQL URL whose public schema may be emptied")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--rollups-only",
        action="store_true",
        help="store what the report reads (rollups, violations, alerts) for N events but not the raw events "
        "themselves: a 50 M year in minutes instead of hours (ingest speed has its own benchmark)",
    )
    args = parser.parse_args()
    raw = not args.rollups_only
    rows = [run(int(size), args.accounts, args.seed, args.pg, raw) for size in args.sizes.split(",")]
    for previous, current in itertools.pairwise(rows):
        growth = current["report_seconds"] / previous["report_seconds"]
        current["exponent"] = round(math.log(growth) / math.log(current["events"] / previous["events"]), 2)
    header = ("events", "event_hours", "account_days", "report s", "peak MiB", "exponent", "store s")
    print(" ".join(f"{h:>12}" for h in header))
    for r in rows:
        sizes = f"{r['events']:>12,} {r['event_hours_rows']:>12,} {r['account_days_rows']:>12,}"
        print(
            f"{sizes} {r['report_seconds']:>12.2f} {r['report_peak_mib']:>12.1f} {r.get('exponent', ''):>12} "
            f"{r['store_seconds']:>12.1f}"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"annual-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"machine": machine(), "results": rows}, indent=2, default=str), encoding="utf-8")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
