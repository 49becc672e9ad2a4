"""auditd's benchmarks in one command: every speed and memory figure at the sizes given, and how each grows.

    auditd bench                                     # the small default: 100k and 300k events (minutes)
    auditd bench --sizes 1000000,10000000            # what the issues' targets are stated at
    auditd bench --pg-url postgresql+psycopg://…     # PostgreSQL too (default: AUDITD_TEST_PG_URL if set)
    auditd bench --steps ingest,queries,pages        # some steps only
    python benchmarks/run.py …                       # the same, without the CLI

For each size N (events) and each backend (SQLite, and PostgreSQL when a server URL is given):

ingest    ``benchmarks/ingest.py``: end-to-end events/s of a CP932 CSV, JSON lines and syslog file of about N
          records, and the ratio to a raw bulk insert of the same rows into the same store, same run.
city      a generated city of about N events over four weeks (tax, welfare, linkage, logins, with the planted
          incidents) built once per size and backend under ``var/bench/`` and kept: collected (the whole
          city's ingest, events/s), judged by the policy engine (decisions per CPU second, then ``auditd
          decide`` end to end) and two weeks of detection run on it (``auditd detect``, days/s).
explain   the 「なぜ」 view of 50 events (median and p95 ms), as the API answers it.
detect    every window detector over one day of the city, read + detect + store (s).
anomaly   the anomaly model (D21) fitted on all the stored user-days and scoring them (s).
annual    the annual self-inspection report of a fiscal year of N events (rollups, built and rendered to PDF).
queries   "who accessed resident X" (a year of one resident's accesses) and "what did user Y do" (the four
          weeks of one account), 20 of each at random: median and p95 ms.
pages     every dashboard page an officer can open, read 20 times each after a warm-up, through the real
          application in-process (server time, no network): p95 ms per page. A city with no recertification
          campaign gets one opened (its grants active today) so that its page is measured too.

Every step runs in a fresh child process and reports its own peak memory. The table shows each figure at
each size and the growth exponent from the smallest to the largest size: for a time, t ∝ N^k; for a rate,
the exponent of the time it implies (N / rate); for a latency, how the latency itself grows (0: does not
grow with the store). JSON goes to ``benchmarks/results/bench-*.json`` with the machine's description;
``--update-readme`` replaces the table in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ingest
from decide import DECIDE_CODE, ENGINE_CODE, EVENTS_PER_RESIDENT, EXPLAIN_CODE
from detect import DETECT_CODE
from ingest import PEAK, RESULTS, ROOT, WORK, child_env, fresh_store, machine

STEPS = ("ingest", "city", "explain", "detect", "anomaly", "annual", "queries", "pages")
SEED = 7
HISTORY = ("--since", "2026-01-05", "--until", "2026-01-19")  # the two weeks before the detected day
README = ROOT / "benchmarks" / "README.md"
TABLE_START, TABLE_END = "<!-- bench:start -->", "<!-- bench:end -->"


# -- figures -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One measured number: ``kind`` is time (s), rate (per s), latency (ms) or memory (MB)."""

    step: str
    name: str
    backend: str
    kind: str
    value: float

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.step, self.name, self.backend)


UNITS = {"time": "s", "rate": "/s", "latency": "ms", "memory": "MB", "count": ""}


def exponent(kind: str, small: tuple[int, float], large: tuple[int, float]) -> float | None:
    """How the cost grows from the smaller to the larger size: t ∝ N^k."""
    (n1, v1), (n2, v2) = small, large
    if kind == "count" or n1 == n2 or v1 <= 0 or v2 <= 0:
        return None
    growth = math.log(n2 / n1)
    if kind == "rate":  # the time the rate implies: N / rate
        return 1 - math.log(v2 / v1) / growth
    return math.log(v2 / v1) / growth


# -- children ----------------------------------------------------------------------------------------


def run_child(code: str, env: dict[str, str], what: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; its last line of output is one JSON object."""
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark step {what} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_cli(args: list[str], env: dict[str, str]) -> float:
    """``auditd ARGS`` in a child process; its wall-clock seconds."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "auditd", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"auditd {' '.join(args)} failed:\n{done.stderr[-4000:]}")
    return time.perf_counter() - started


GENERATE_CODE = """
import json, time
from pathlib import Path
from auditd.demo.generator import generate_city
from auditd.demo.world import CityConfig
started = time.perf_counter()
manifest = generate_city(Path({folder!r}), CityConfig(residents={residents}, seed={seed}, incidents=True))
print(json.dumps({{"records": manifest.events, "seconds": time.perf_counter() - started}}))
"""

COLLECT_CODE = """
import json, time
from pathlib import Path
from auditd.settings import Settings
from auditd.store.db import engine_for
from auditd.store.migrate import upgrade
from auditd.pipeline import InputFile
from collectors.service import collect
settings = Settings()
engine = engine_for(settings)
upgrade(engine)
folder = Path({folder!r})
manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
inputs = [InputFile(i["kind"], folder / i["path"], i["profile"]) for i in manifest["inputs"]]
started, cpu = time.perf_counter(), time.process_time()
summaries = collect(engine, settings, inputs)
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
events = sum(getattr(s, "accepted", 0) for s in summaries if hasattr(s, "duplicates"))
print(json.dumps({{"events": events, "seconds": seconds, "cpu_s": cpu, "peak_mb": {peak}}}))
"""

ANOMALY_CODE = """
import json, time
from datetime import date
from auditd.alerts.repository import user_days
from auditd.settings import Settings
from auditd.store.db import engine_for
from detectors.anomaly import AnomalyParams, score, train_on
settings = Settings()
engine = engine_for(settings)
with engine.connect() as conn:
    frame = user_days(conn, settings.municipality_code, date(2000, 1, 1), date(2100, 1, 1))
params = AnomalyParams()
started = time.perf_counter()
model = train_on(frame, params)
fit = time.perf_counter() - started
started = time.perf_counter()
scored = score(model, frame)
scoring = time.perf_counter() - started
print(json.dumps({"user_days": len(frame), "fit_s": fit, "score_s": scoring, "unusual": int(scored["unusual"].sum())
                  if len(scored) else 0, "peak_mb": PEAK_MB}))
"""

QUERIES_CODE = """
import json, statistics, time
from datetime import datetime, timedelta, timezone
from sqlalchemy import select, text
from auditd.events.models import Event
from auditd.settings import Settings
from auditd.store.base import table_of
from auditd.store.db import engine_for
settings = Settings()
engine = engine_for(settings)
code = settings.municipality_code
JST = timezone(timedelta(hours=9))
year = (datetime(2025, 4, 1, tzinfo=JST), datetime(2026, 4, 1, tzinfo=JST))
weeks = (datetime(2026, 1, 5, tzinfo=JST), datetime(2026, 2, 2, tzinfo=JST))
with engine.connect() as conn:
    residents = [r[0] for r in conn.execute(text(
        "SELECT subject_hash FROM events WHERE municipality_code = :c AND subject_hash IS NOT NULL "
        "ORDER BY random() LIMIT 20"), {"c": code})]
    users = [r[0] for r in conn.execute(text(
        "SELECT user_id FROM account_days WHERE municipality_code = :c GROUP BY user_id ORDER BY random() LIMIT 20"),
        {"c": code})]
e = table_of(Event).c
def who_query(subject):
    return select(e.ts, e.event_id, e.user_id, e.terminal_id, e.system, e.jimu, e.action, e.result).where(
        e.municipality_code == code, e.subject_hash == subject, e.ts >= year[0], e.ts < year[1]).order_by(e.ts)
def what_query(user):
    return select(e.ts, e.event_id, e.terminal_id, e.system, e.jimu, e.action, e.subject_hash, e.subject_count,
                  e.result).where(e.municipality_code == code, e.user_id == user, e.ts >= weeks[0],
                                  e.ts < weeks[1]).order_by(e.ts)
def timed(query, values):
    out, rows = [], 0
    with engine.connect() as conn:
        conn.execute(query(values[0])).fetchall()  # warm
        for value in values:
            started = time.perf_counter()
            rows += len(conn.execute(query(value)).fetchall())
            out.append((time.perf_counter() - started) * 1000)
    out.sort()
    assert rows, "the sampled residents or accounts have no events in the period: the query reads nothing"
    return {"median_ms": statistics.median(out), "p95_ms": out[int(0.95 * (len(out) - 1))],
            "rows": rows / len(values)}
who = timed(who_query, residents)
what = timed(what_query, users)
print(json.dumps({"who": who, "what": what, "peak_mb": PEAK_MB}))
"""

PAGES_CODE = """
import json, re, time, uuid
from datetime import UTC, date, datetime
from auditd.rights.campaigns import open_campaign
from auditd.rights.schemas import CampaignIn
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import text
from auditd.api.app import create_app, freeze_startup_heap
from auditd.auth.models import PlatformRole
from auditd.auth.testing import add_user, log_in
from auditd.settings import Settings
from auditd.store.db import engine_for
settings = Settings()
engine = engine_for(settings)
code = settings.municipality_code
with engine.connect() as conn:
    def one(sql):
        row = conn.execute(text(sql), {"c": code}).first()
        return None if row is None else row[0]
    values = {
        "case_id": one("SELECT id FROM alert_cases WHERE municipality_code = :c ORDER BY id DESC LIMIT 1"),
        "user_id": one("SELECT user_id FROM account_days WHERE municipality_code = :c GROUP BY user_id "
                       "ORDER BY sum(events) DESC LIMIT 1"),
        "pseudonym": one("SELECT subject_hash FROM events WHERE municipality_code = :c AND subject_hash IS NOT NULL "
                         "LIMIT 1"),
        "campaign_id": one("SELECT id FROM recert_campaigns WHERE municipality_code = :c ORDER BY id DESC LIMIT 1"),
    }
if values["campaign_id"] is None:  # a recertification campaign to show: every grant active today
    with engine.begin() as conn:
        values["campaign_id"] = open_campaign(conn, settings, code, CampaignIn(), actor="bench",
                                              now=datetime.now(UTC), today=date.today()).id
user = add_user(engine, settings, PlatformRole.OFFICER, username=f"bench-{uuid.uuid4().hex[:8]}")
app = create_app(settings, engine)
client = TestClient(app, raise_server_exceptions=False)  # a failing page is reported, not fatal
assert log_in(client, user).status_code == 303, "the benchmark officer could not log in"
freeze_startup_heap()  # as auditd serve does once built
pages, skipped = {}, []
for route in iter_route_contexts(app.routes):  # the pages: what is not the API, the login flow or files
    if "GET" not in (route.methods or ()) or "download" in route.path:
        continue
    if route.path.startswith(("/login", "/logout", "/api", "/static", "/healthz", "/alerts/")):
        continue
    names = re.findall(r"{(\\w+)(?::[^}]*)?}", route.path)
    if any(values.get(n) is None for n in names):
        skipped.append(route.path)
        continue
    path = route.path
    for n in names:
        path = re.sub("{" + n + r"(?::[^}]*)?}", str(values[n]), path)
    first = client.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
    if first.status_code != 200:
        skipped.append(f"{route.path} ({first.status_code})")
        continue
    times = []
    for _ in range(20):
        started = time.perf_counter()
        client.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    pages[route.path] = {"median_ms": times[len(times) // 2], "p95_ms": times[int(0.95 * (len(times) - 1))]}
print(json.dumps({"pages": pages, "skipped": skipped, "peak_mb": PEAK_MB}))
"""

ANNUAL_CODE = """
import json, sys
sys.path.insert(0, {bench!r})
import annual
result = annual.run({events}, 2500, 11, {pg!r}, raw=False)
print(json.dumps({{"report_s": result["report_seconds"], "report_peak_mib": result["report_peak_mib"],
                  "peak_mb": {peak}}}))
"""


def _code(template: str) -> str:
    return template.replace("PEAK_MB", PEAK)


# -- the city ----------------------------------------------------------------------------------------


class City:
    """A generated city of about ``size`` events in one store, collected, decided and detected once."""

    def __init__(self, size: int, backend: str, pg_url: str | None) -> None:
        self.size, self.backend = size, backend
        self.folder = WORK / f"city-{backend}-{size}-{SEED}"
        self.figures_file = self.folder / "build.json"
        if backend == "sqlite":
            self.url = f"sqlite:///{self.folder / 'store.sqlite'}"
        else:
            assert pg_url is not None
            from sqlalchemy.engine import make_url

            self.url = make_url(pg_url).set(database=f"auditd_bench_city_{size}").render_as_string(hide_password=False)
        self.env = child_env(self.folder, self.url)

    def build(self, pg_url: str | None) -> dict[str, Any]:
        """The city's store, built if missing; the figures measured while building it."""
        if self.figures_file.exists():
            print(f"  {self.backend} city of {self.size:,}: reusing {self.folder.relative_to(ROOT)}", flush=True)
            run_cli(["db", "upgrade"], self.env)
            return dict(json.loads(self.figures_file.read_text(encoding="utf-8")))
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.backend == "postgresql":
            fresh_store("postgresql", f"city_{self.size}", pg_url)
        else:
            Path(self.url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        generated = generated_city(self.size)
        print(f"  {self.backend} city of {self.size:,}: collecting {generated['records']:,} records", flush=True)
        collected = run_child(_code(COLLECT_CODE.format(folder=generated["folder"], peak=PEAK)), self.env, "collect")
        print(f"  … collected {collected['events']:,} events in {collected['seconds']:.0f} s; judging", flush=True)
        engine = run_child(ENGINE_CODE, self.env, "policy engine")
        decide = run_child(DECIDE_CODE, self.env, "auditd decide")
        print(f"  … decided in {decide['wall_s']:.0f} s; detecting two weeks of history", flush=True)
        history = run_cli(["detect", *HISTORY], self.env)
        figures = {
            "events": collected["events"],
            "collect_events_per_s": collected["events"] / collected["seconds"],
            "collect_peak_mb": collected["peak_mb"],
            "engine_decisions_per_cpu_s": engine["events"] / engine["cpu_s"],
            "engine_peak_mb": engine["peak_mb"],
            "decide_decisions_per_s": decide["events"] / decide["wall_s"],
            "decide_peak_mb": decide["peak_mb"],
            "history_days_per_s": 14 / history,
            "violations": decide["violations"],
        }
        self.figures_file.write_text(json.dumps(figures, indent=2), encoding="utf-8")
        return figures


def generated_city(size: int) -> dict[str, Any]:
    """The generator's output for a city of about ``size`` events, made once and shared by the backends."""
    folder = WORK / f"city-input-{size}-{SEED}"
    marker = folder / "generated.json"
    if marker.exists():
        return dict(json.loads(marker.read_text(encoding="utf-8")))
    residents = max(3_000, int(size / EVENTS_PER_RESIDENT))
    print(f"  generating a city of {residents:,} residents (about {size:,} events)", flush=True)
    done = run_child(GENERATE_CODE.format(folder=str(folder), residents=residents, seed=SEED), os.environ.copy(), "gen")
    result = {"folder": str(folder), "records": done["records"], "seconds": done["seconds"]}
    marker.write_text(json.dumps(result), encoding="utf-8")
    return result


# -- the steps ---------------------------------------------------------------------------------------


def measure_ingest(size: int, backends: list[str], pg_url: str | None, formats: list[str]) -> list[Figure]:
    figures = []
    for row in ingest.measure(size, formats, backends, pg_url, SEED):
        backend, fmt = str(row["backend"]), str(row["format"])
        figures += [
            Figure("ingest", f"{fmt} events/s", backend, "rate", float(row["ours_events_per_s"])),  # type: ignore[arg-type]
            Figure("ingest", f"{fmt} raw insert rows/s", backend, "rate", float(row["raw_events_per_s"])),  # type: ignore[arg-type]
            Figure("ingest", f"{fmt} ours / raw", backend, "count", float(row["ratio"])),  # type: ignore[arg-type]
            Figure("ingest", f"{fmt} peak memory", backend, "memory", float(row["ours_peak_mb"])),  # type: ignore[arg-type]
        ]
    return figures


def measure_city(city: City, steps: set[str], pg_url: str | None) -> list[Figure]:
    b = city.backend
    built = city.build(pg_url)
    figures = [Figure("city", "events stored", b, "count", float(built["events"]))]
    if "city" in steps:
        figures += [
            Figure("city", "collect events/s", b, "rate", built["collect_events_per_s"]),
            Figure("city", "collect peak memory", b, "memory", built["collect_peak_mb"]),
            Figure("decide", "engine decisions/CPU-s", b, "rate", built["engine_decisions_per_cpu_s"]),
            Figure("decide", "engine peak memory", b, "memory", built["engine_peak_mb"]),
            Figure("decide", "auditd decide decisions/s", b, "rate", built["decide_decisions_per_s"]),
            Figure("decide", "auditd decide peak memory", b, "memory", built["decide_peak_mb"]),
            Figure("detect", "auditd detect days/s (2 weeks)", b, "count", built["history_days_per_s"]),
        ]
    if "explain" in steps:
        done = run_child(EXPLAIN_CODE, city.env, "explain")
        figures += [
            Figure("explain", "「なぜ」 median", b, "latency", done["median_ms"]),
            Figure("explain", "「なぜ」 p95", b, "latency", done["p95_ms"]),
        ]
    if "detect" in steps:
        done = run_child(DETECT_CODE.replace("{days}", "1"), city.env, "detect")
        total = done["read_s"] + done["detect_s"] + done["store_s"]
        figures += [
            Figure("detect", "window detectors, one day", b, "time", total),
            Figure("detect", "events in the day", b, "count", float(done["events"])),
            Figure("detect", "peak memory", b, "memory", done["peak_mb"]),
        ]
    if "anomaly" in steps:
        done = run_child(_code(ANOMALY_CODE), city.env, "anomaly")
        figures += [
            Figure("anomaly", "user-days", b, "count", float(done["user_days"])),
            Figure("anomaly", "fit", b, "time", done["fit_s"]),
            Figure("anomaly", "score", b, "time", done["score_s"]),
            Figure("anomaly", "peak memory", b, "memory", done["peak_mb"]),
        ]
    if "queries" in steps:
        done = run_child(_code(QUERIES_CODE), city.env, "queries")
        figures += [
            Figure("queries", "rows per resident (a year)", b, "count", done["who"]["rows"]),
            Figure("queries", "who accessed resident X, median", b, "latency", done["who"]["median_ms"]),
            Figure("queries", "who accessed resident X, p95", b, "latency", done["who"]["p95_ms"]),
            Figure("queries", "rows per account (four weeks)", b, "count", done["what"]["rows"]),
            Figure("queries", "what did user Y do, median", b, "latency", done["what"]["median_ms"]),
            Figure("queries", "what did user Y do, p95", b, "latency", done["what"]["p95_ms"]),
        ]
    if "pages" in steps:
        done = run_child(_code(PAGES_CODE), city.env, "pages")
        figures += [
            Figure("pages", f"GET {p} p95", b, "latency", t["p95_ms"]) for p, t in sorted(done["pages"].items())
        ]
        figures.append(Figure("pages", "peak memory", b, "memory", done["peak_mb"]))
        if done["skipped"]:
            print(f"  pages not measured (no data for them, or not 200): {', '.join(done['skipped'])}", flush=True)
    return figures


def measure_annual(size: int, backend: str, pg_url: str | None) -> list[Figure]:
    pg = None
    if backend == "postgresql":
        pg = fresh_store("postgresql", f"annual_{size}", pg_url)
    code = ANNUAL_CODE.format(bench=str(Path(__file__).parent), events=size, pg=pg, peak=PEAK)
    done = run_child(code, {**os.environ, "PYTHONPATH": str(ROOT)}, "annual")
    return [
        Figure("annual", "annual report (PDF)", backend, "time", done["report_s"]),
        Figure("annual", "report peak memory (traced)", backend, "memory", done["report_peak_mib"] * 1.048576),
    ]


# -- output ------------------------------------------------------------------------------------------


def table(sizes: list[int], figures: list[tuple[int, Figure]]) -> list[str]:
    """Markdown: one row per figure and backend, a column per size, and the growth exponent."""
    by_key: dict[tuple[str, str, str], dict[int, Figure]] = {}
    for size, figure in figures:
        by_key.setdefault(figure.key, {})[size] = figure
    header = ["step", "figure", "backend", *(f"{s:,} events" for s in sizes), "growth"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 3 + "---:|" * (len(sizes) + 1)]
    for key, at in by_key.items():
        kind = next(iter(at.values())).kind
        cells = [_show(at[s].value, kind) if s in at else "—" for s in sizes]
        known = sorted(at)
        k = exponent(kind, (known[0], at[known[0]].value), (known[-1], at[known[-1]].value)) if len(known) > 1 else None
        lines.append("| " + " | ".join([*key, *cells, "—" if k is None else f"N^{k:.2f}"]) + " |")
    return lines


def _show(value: float, kind: str) -> str:
    if kind == "latency":
        return f"{value:,.1f} ms"
    if kind == "time":
        return f"{value:,.2f} s"
    if kind == "memory":
        return f"{value:,.0f} MB"
    if kind == "rate":
        return f"{value:,.0f}/s"
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def update_readme(lines: list[str], stamp: str, described: dict[str, Any]) -> None:
    text = README.read_text(encoding="utf-8")
    if TABLE_START not in text:
        raise SystemExit(f"{README} has no {TABLE_START} … {TABLE_END} block to replace")
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    about = (
        f"Latest `auditd bench` ({stamp}; {described['cores']} cores, {described['memory_gib']} GiB, "
        f"{described['cpu']}, SQLite {described['sqlite']}; `results/bench-{stamp}.json`):"
    )
    README.write_text(head + TABLE_START + "\n" + about + "\n\n" + "\n".join(lines) + "\n" + TABLE_END + tail)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="auditd bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,300000", help="events, comma-separated (default: 100000,300000)")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("AUDITD_TEST_PG_URL"),
        help="a PostgreSQL server where benchmark databases may be created (default: $AUDITD_TEST_PG_URL)",
    )
    parser.add_argument("--backends", default=None, help="sqlite, postgresql (default: both when --pg-url is given)")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated, of: {', '.join(STEPS)}")
    parser.add_argument("--formats", default="csv,jsonl,syslog", help="ingest formats: csv, jsonl, syslog")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes (default: benchmarks/results)")
    parser.add_argument("--update-readme", action="store_true", help="replace the table in benchmarks/README.md")
    args = parser.parse_args(argv)
    unknown = set(args.steps.split(",")) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps: {', '.join(sorted(unknown))} (known: {', '.join(STEPS)})")
    if args.backends is None:
        args.backends = "sqlite,postgresql" if args.pg_url else "sqlite"
    if "postgresql" in args.backends and not args.pg_url:
        parser.error("PostgreSQL needs --pg-url (or AUDITD_TEST_PG_URL)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    steps = set(args.steps.split(","))
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    described = machine()
    began = time.perf_counter()
    figures: list[tuple[int, Figure]] = []
    for size in sizes:
        print(f"== {size:,} events ==", flush=True)
        if "ingest" in steps:
            print(f"  ingest: {', '.join(formats)} on {', '.join(backends)}", flush=True)
            figures += [(size, f) for f in measure_ingest(size, backends, args.pg_url, formats)]
        for backend in backends:
            if steps & {"city", "explain", "detect", "anomaly", "queries", "pages"}:
                figures += [(size, f) for f in measure_city(City(size, backend, args.pg_url), steps, args.pg_url)]
            if "annual" in steps:
                print(f"  annual report on {backend}", flush=True)
                figures += [(size, f) for f in measure_annual(size, backend, args.pg_url)]
    lines = table(sizes, figures)
    print("\n".join(lines))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"bench-{stamp}.json"
    document = {
        "benchmark": "auditd bench",
        "when": stamp,
        "machine": described,
        "sizes": sizes,
        "seconds": round(time.perf_counter() - began),
        "figures": [{"size": s, **f.__dict__} for s, f in figures],
    }
    out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"written {out} ({document['seconds']} s)")
    if args.update_readme:
        update_readme(lines, stamp, described)
        print(f"updated {README.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
