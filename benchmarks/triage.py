"""Triage speed: alerts put into cases (事案) and the immediate e-mails queued, as after a detection run.

    .venv/bin/python benchmarks/triage.py                       # 1,000 / 10,000 / 50,000 alerts, SQLite
    .venv/bin/python benchmarks/triage.py --sizes 10000 --open-cases 5000

Each size is a fresh SQLite store holding ``--open-cases`` open cases (a long backlog nobody closed)
and N new alerts about ``--accounts`` accounts and ``--residents`` residents over 30 days, with ten
recipients of the e-mails. It times :func:`auditd.cases.service.triage` and
:func:`auditd.mail.service.enqueue_alerts` in the transaction the detect run uses. Prints a table and
writes JSON to ``benchmarks/results/`` with a description of the machine.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest import RESULTS, WORK, machine

RULES = ("D01", "D03", "D04", "D06", "D08", "D11", "D13", "D14")
SEVERITIES = ("critical", "high", "medium", "low")


def _alert(n: int, rng: random.Random, start: datetime, accounts: int, residents: int, prefix: str) -> dict[str, Any]:
    at = start + timedelta(minutes=rng.randrange(30 * 24 * 60))
    return {
        "municipality_code": "999997",
        "fingerprint": f"{prefix}-{n}",
        "rule": rng.choice(RULES),
        "severity": rng.choice(SEVERITIES),
        "user_id": f"u{rng.randrange(accounts):05d}",
        "terminal_id": None,
        "subjects": json.dumps([f"{rng.randrange(residents):032x}" for _ in range(rng.randint(1, 3))]),
        "start": at,
        "end": at + timedelta(minutes=5),
        "event_ids": "[]",
        "event_count": 0,
        "title": "bench",
        "explanation": "ベンチマーク",
        "explanation_en": "benchmark",
        "evidence": "{}",
        "status": "new",
        "section": f"{rng.randrange(40):04d}",
        "run_id": None,
        "detected_at": datetime.now(UTC),
    }


def run(size: int, open_cases: int, accounts: int, residents: int, seed: int) -> dict[str, float]:
    from auditd.alerts import repository as alerts_repo
    from auditd.cases import service
    from auditd.mail import service as mail
    from auditd.settings import Settings
    from auditd.store.db import engine_for
    from auditd.store.migrate import upgrade

    folder = WORK / f"triage-{size}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    settings = Settings(env="test", data_dir=folder, _env_file=None)  # type: ignore[call-arg]
    engine = engine_for(settings)
    upgrade(engine)
    rng = random.Random(seed)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    now = datetime.now(UTC)
    code = settings.municipality_code
    with engine.begin() as connection:
        for i in range(10):
            sections = None if i < 2 else [f"{rng.randrange(40):04d}" for _ in range(3)]
            mail.add_recipient(connection, code, f"r{i}@city.example.lg.jp", sections=sections, actor="bench", now=now)
        if open_cases:  # the backlog: one alert per open case, triaged already
            backlog = [_alert(n, rng, start - timedelta(days=3), accounts, residents, "old") for n in range(open_cases)]
            alerts_repo.insert_alerts(connection, backlog)
            service.triage(connection, settings, code, now=now)
        alerts_repo.insert_alerts(connection, [_alert(n, rng, start, accounts, residents, "new") for n in range(size)])
    with engine.begin() as connection:
        began = time.perf_counter()
        result = service.triage(connection, settings, code, now=now)
        triaged = time.perf_counter() - began
        began = time.perf_counter()
        queued = mail.enqueue_alerts(connection, settings, code, result.notices, now=now)
        mailed = time.perf_counter() - began
    engine.dispose()
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "alerts": size,
        "open_cases_before": open_cases,
        "cases_opened": result.cases_opened,
        "triage_seconds": round(triaged, 3),
        "alerts_per_second": round(size / triaged) if triaged else 0.0,
        "mails_queued": queued,
        "enqueue_seconds": round(mailed, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,50000", help="new alerts per run, comma-separated")
    parser.add_argument("--open-cases", type=int, default=2000, help="open cases already in the store")
    parser.add_argument("--accounts", type=int, default=3000)
    parser.add_argument("--residents", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rows = [run(int(size), args.open_cases, args.accounts, args.residents, args.seed) for size in args.sizes.split(",")]
    header = ("alerts", "open before", "new cases", "triage s", "alerts/s", "mails", "queue s")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (8, 12, 10, 9, 9, 7, 8), strict=True)))
    for r in rows:
        print(
            f"{r['alerts']:>8,} {r['open_cases_before']:>12,} {r['cases_opened']:>10,} {r['triage_seconds']:>9.2f} "
            f"{r['alerts_per_second']:>9,.0f} {r['mails_queued']:>7,} {r['enqueue_seconds']:>8.2f}"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"triage-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"machine": machine(), "results": rows}, indent=2, default=str), encoding="utf-8")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
