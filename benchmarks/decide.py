"""Decision benchmark: decisions/s of the policy engine, and how it scales with the number of events.

    python benchmarks/decide.py                          # 100k and 1M events
    python benchmarks/decide.py --sizes 100000,1000000,10000000

For each size, a city is generated with the product's own generator (with its planted incidents), sized to
give about that many events over four weeks (tax, welfare, linkage and login logs), and collected into
a SQLite store under ``var/bench/`` (kept between runs, not committed). Then, each in a fresh child
process (so memory and caches are its own):

1. **engine**: the events read in groups of ingest batches of about 200,000 events, as ``auditd
   decide`` does, and each group judged: the reference context (accounts, grants, assignments,
   terminals, sessions, overtime, approvals, calendar) loaded for the group's time range, every rule
   evaluated, violations built with their reasons and evidence. Reading the events is timed apart.
   Decisions/s is events divided by the CPU seconds of the judging (single-threaded: one core).
2. **decide**: ``auditd decide`` end to end on a copy of the store: read, judge, write violations,
   mark batches. Wall-clock decisions/s and peak RSS.
3. **explain**: the 「なぜ」 view of 50 events of the decided store (25 with violations, 25 at random),
   in one warm process as the API serves them: median, 95th percentile and maximum milliseconds.

Prints a table and writes JSON to ``benchmarks/results/`` with a description of the machine.
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

from ingest import PEAK, RESULTS, ROOT, WORK, child_env, machine

from policies.service import DECIDE_EVENTS

EVENTS_PER_RESIDENT = 5.65  # the generator's events per resident over 28 days, all systems


def prepare(size: int, seed: int) -> Path:
    """A store holding a generated city of about ``size`` events (built once, then reused)."""
    folder = WORK / f"decide-{size}-{seed}"
    store = folder / "store.sqlite"
    if store.exists():  # built by an earlier run: bring its schema up to date
        upgrade = [sys.executable, "-m", "auditd", "db", "upgrade"]
        subprocess.run(upgrade, env=_env(folder, store), check=True, capture_output=True)
        return store
    folder.mkdir(parents=True, exist_ok=True)
    residents = max(3_000, int(size / EVENTS_PER_RESIDENT))
    code = f"""
import time
from pathlib import Path
from auditd.demo.generator import generate_city
from auditd.demo.world import CityConfig
from auditd.settings import Settings
from auditd.store.db import engine_for
from auditd.store.migrate import upgrade
from collectors.service import collect
folder = Path({str(folder)!r})
started = time.perf_counter()
manifest = generate_city(folder / "city", CityConfig(residents={residents}, seed={seed}, incidents=True))
print(f"generated {{manifest.events:,}} records for {residents:,} residents in {{time.perf_counter() - started:.0f}} s")
settings = Settings()
engine = engine_for(settings)
upgrade(engine)
started = time.perf_counter()
collect(engine, settings, manifest.inputs)
print(f"collected in {{time.perf_counter() - started:.0f}} s")
"""
    done = subprocess.run([sys.executable, "-c", code], env=_env(folder, store), text=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise SystemExit("preparing the store failed")
    shutil.rmtree(folder / "city", ignore_errors=True)
    return store


ENGINE_CODE = """
import json, resource, time
from auditd.decisions import repository as decisions_repo
from auditd.events import repository as events_repo
from auditd.settings import Settings
from auditd.store.db import engine_for
from policies.engine import EVENT_INPUT
from policies.service import current_policy, decide_events, ensure_version, group_batches, load_versions
settings = Settings()
engine = engine_for(settings)
code = settings.municipality_code
events = violations = 0
read = cpu = wall = 0.0
with engine.begin() as conn:
    ensure_version(conn, code, current_policy(settings))
    versions = load_versions(conn, code)
    for group in group_batches(decisions_repo.undecided_batches(conn, code, limit=10**9)):
        started = time.perf_counter()
        frame = events_repo.events_of_batches(
            conn, code, [b["id"] for b in group], min(b["min_ts"] for b in group), max(b["max_ts"] for b in group),
            columns=EVENT_INPUT,
        )
        read += time.perf_counter() - started
        cpu_started, wall_started = time.process_time(), time.perf_counter()
        _facts, found = decide_events(conn, code, frame, versions)
        cpu += time.process_time() - cpu_started
        wall += time.perf_counter() - wall_started
        events += len(frame)
        violations += len(found)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"events": events, "violations": violations, "read_s": read, "cpu_s": cpu, "wall_s": wall,
                  "peak_mb": peak}))
"""

DECIDE_CODE = """
import json, resource, time
from auditd.settings import Settings
from auditd.store.db import engine_for
from policies.service import decide_pending
settings = Settings()
engine = engine_for(settings)
cpu, wall = time.process_time(), time.perf_counter()
summary = decide_pending(engine, settings)
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"events": summary.events, "violations": summary.violations, "cpu_s": cpu, "wall_s": wall,
                  "peak_mb": peak}))
"""

EXPLAIN_CODE = """
import json, statistics, time, uuid
from sqlalchemy import text
from auditd.settings import Settings
from auditd.store.db import engine_for
from policies.explain import explain_event
settings = Settings()
engine = engine_for(settings)
code = settings.municipality_code
with engine.connect() as conn:
    flagged = [r[0] for r in conn.execute(text("SELECT DISTINCT event_id FROM violations LIMIT 25"))]
    sample = [r[0] for r in conn.execute(text("SELECT event_id FROM events ORDER BY random() LIMIT 25"))]
ids = [i.hex if isinstance(i, uuid.UUID) else bytes(i).hex() for i in flagged + sample]  # uuid on PostgreSQL
timings = []
with engine.connect() as conn:
    explain_event(conn, settings, code, ids[0])  # warm: policy parsed, reference cache loaded, as in a server
    for event_id in ids:
        started = time.perf_counter()
        explain_event(conn, settings, code, event_id)
        timings.append((time.perf_counter() - started) * 1000)
timings.sort()
print(json.dumps({"n": len(timings), "median_ms": statistics.median(timings),
                  "p95_ms": timings[int(0.95 * (len(timings) - 1))], "max_ms": timings[-1],
                  "peak_mb": PEAK_MB}))
""".replace("PEAK_MB", PEAK)  # portable: event ids are bytes on SQLite, uuid on PostgreSQL


def _env(folder: Path, store: Path | None = None) -> dict[str, str]:
    return child_env(folder, None if store is None else f"sqlite:///{store}")


def _child(code: str, env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def measure(store: Path) -> dict[str, object]:
    folder = store.parent
    scratch = folder / "scratch.sqlite"
    shutil.copyfile(store, scratch)  # the engine run registers a policy version: keep the original clean
    engine = _child(ENGINE_CODE, _env(folder, scratch))
    shutil.copyfile(store, scratch)
    decide = _child(DECIDE_CODE, _env(folder, scratch))
    explain = _child(EXPLAIN_CODE, _env(folder, scratch))  # on the decided store, as an officer would ask
    scratch.unlink()
    return {
        "events": engine["events"],
        "violations": engine["violations"],
        "engine_decisions_per_cpu_s": round(engine["events"] / engine["cpu_s"]),
        "engine_decisions_per_s": round(engine["events"] / engine["wall_s"]),
        "engine_read_s": round(engine["read_s"], 2),
        "engine_peak_mb": round(engine["peak_mb"]),
        "decide_decisions_per_s": round(decide["events"] / decide["wall_s"]),
        "decide_cpu_s": round(decide["cpu_s"], 1),
        "decide_wall_s": round(decide["wall_s"], 1),
        "decide_peak_mb": round(decide["peak_mb"]),
        "explain_events": explain["n"],
        "explain_median_ms": round(explain["median_ms"], 1),
        "explain_p95_ms": round(explain["p95_ms"], 1),
        "explain_max_ms": round(explain["max_ms"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated numbers of events")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        store = prepare(size, args.seed)
        result = measure(store)
        rows.append({"size": size, **result})
        print(
            f"{result['events']:>11,} events: engine {result['engine_decisions_per_cpu_s']:>9,} decisions/CPU-s "
            f"({result['engine_decisions_per_s']:,}/s wall, read {result['engine_read_s']} s, "
            f"{result['engine_peak_mb']:,} MB) · auditd decide {result['decide_decisions_per_s']:>8,}/s "
            f"({result['decide_wall_s']} s, {result['decide_peak_mb']:,} MB) · {result['violations']:,} violations · "
            f"explain median {result['explain_median_ms']} ms, p95 {result['explain_p95_ms']} ms",
            flush=True,
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"decide-{stamp}.json"
    out.write_text(json.dumps({"machine": machine(), "batch": DECIDE_EVENTS, "results": rows}, indent=2) + "\n")
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"({time.perf_counter() - started:.0f} s)")
