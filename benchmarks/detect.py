"""Detection speed: every detector over windows of 1, 3 and 7 days, and how the time grows with the
window and with the city.

    python benchmarks/detect.py                                  # the 1M-event city
    python benchmarks/detect.py --sizes 1000000,10000000 --days 1,3,7

The stores are those of ``benchmarks/decide.py`` (a generated city of about N events over four weeks,
built once under ``var/bench/``), copied once to ``var/bench/detect-N-seed`` and decided there, so the
policy detectors have their violations; the two weeks before the measured window are detected there
(``auditd detect``, timed: days per second end to end), so the anomaly model has its history.

Each measurement runs in a fresh child process: the day before the window is read first (the reference
caches fill: accounts, grants, cases, residents, as in a running server or an ``auditd detect`` over many
days; timed apart as the first read), then the window is read (events, sessions, violations,
reference data, cases, residents), every installed detector runs, findings are stored as alerts, and the
transaction is rolled back so the next measurement starts clean. Reported: events in the window, seconds
to read it, seconds per detector and in all, peak RSS.

The target of issue 5: all window detectors over one day of a 300,000-resident city (≈ 1 M events) in
under 10 s. The generator's city makes about 0.2 events per resident per day, so a window of about
1 M events is three days of the 10 M-event store; both are reported.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from decide import _child, _env, prepare
from ingest import RESULTS, WORK, machine

DETECT_CODE = """
import json, resource, time
from datetime import datetime, timedelta, timezone
from auditd.settings import Settings
from auditd.store.db import engine_for
from detectors.service import installed, run_detectors, alert_rows
from detectors.window import load_window
from auditd.alerts import repository as alerts_repo
settings = Settings()
engine = engine_for(settings)
code = settings.municipality_code
JST = timezone(timedelta(hours=9))
start = datetime(2026, 1, 19, tzinfo=JST)  # a Monday in the middle of the generated four weeks
end = start + timedelta(days={days})
detectors = installed(settings)
with engine.connect() as conn:
    trans = conn.begin()
    started = time.perf_counter()  # the day before, untimed for the window: fills the reference caches
    load_window(conn, code, start - timedelta(days=1), start)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    window = load_window(conn, code, start, end)
    read = time.perf_counter() - started
    started = time.perf_counter()
    found, figures = run_detectors(detectors, window)
    detect = time.perf_counter() - started
    started = time.perf_counter()
    alerts_repo.insert_alerts(conn, alert_rows(found, detectors, code, 0, datetime.now(timezone.utc)))
    store = time.perf_counter() - started
    trans.rollback()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"events": len(window.events) + len(window.sessions), "cold_read_s": cold, "read_s": read,
                  "detect_s": detect,
                  "store_s": store, "findings": len(found), "per_detector": figures, "peak_mb": peak}))
"""

DECIDE = [sys.executable, "-m", "auditd", "decide"]
HISTORY = [sys.executable, "-m", "auditd", "detect", "--since", "2026-01-05", "--until", "2026-01-19"]


def decided_store(size: int, seed: int) -> Path:
    """A decided copy of the decide benchmark's store (made once, then reused)."""
    folder = WORK / f"detect-{size}-{seed}"
    store = folder / "store.sqlite"
    if not store.exists():
        source = prepare(size, seed)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, store)
    subprocess.run([sys.executable, "-m", "auditd", "db", "upgrade"], env=_env(folder, store), check=True,
                   capture_output=True)  # fmt: skip
    subprocess.run(DECIDE, env=_env(folder, store), check=True, capture_output=True)  # nothing when decided
    # the two weeks before the measured window, detected once and kept: the anomaly model's history of
    # user-days is stored as days are detected, as it would be in service
    marker = folder / "history.done"  # detected once; again would find the same alerts
    if not marker.exists():
        started = time.perf_counter()
        done = subprocess.run(HISTORY, env=_env(folder, store), check=True, capture_output=True, text=True)
        line = done.stdout.strip().splitlines()[0]
        print(f"history: {line} (wall {time.perf_counter() - started:.0f} s)")
        marker.write_text(line + "\n", encoding="utf-8")
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000", help="events of the generated cities, comma-separated")
    parser.add_argument("--days", default="1,3,7", help="window lengths in days, comma-separated")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        store = decided_store(size, args.seed)
        for days in (int(d) for d in args.days.split(",")):
            figures = _child(DETECT_CODE.replace("{days}", str(days)), _env(store.parent, store))
            total = figures["read_s"] + figures["detect_s"] + figures["store_s"]
            row = {"city_events": size, "window_days": days, **figures, "total_s": total}
            rows.append(row)
            slowest = sorted(
                ((c, f.get("seconds", 0.0)) for c, f in figures["per_detector"].items()), key=lambda x: -x[1]
            )[:3]
            print(
                f"city {size:>11,} events, {days} day(s): {figures['events']:>9,} events in the window, first "
                f"read (reference caches filled) {figures['cold_read_s']:.1f} s, read {figures['read_s']:.1f} s, "
                f"detect {figures['detect_s']:.1f} s, store {figures['store_s']:.2f} s, "
                f"total {total:.1f} s, {figures['findings']} findings, peak {figures['peak_mb']:.0f} MB; slowest: "
                + ", ".join(f"{c} {s:.2f} s" for c, s in slowest)
            )
            errors = {c: f["error"] for c, f in figures["per_detector"].items() if "error" in f}
            if errors:
                print(f"   failed: {errors}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"detect-{stamp}.json"
    out.write_text(json.dumps({"machine": machine(), "rows": rows}, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"written {out}")


if __name__ == "__main__":
    main()
