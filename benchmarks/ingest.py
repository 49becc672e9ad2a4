"""Ingest benchmark: end-to-end events/s and peak memory, and the ratio to a raw bulk insert.

    python benchmarks/ingest.py                       # 1,000,000 CP932 CSV rows into SQLite
    python benchmarks/ingest.py --rows 200000 --formats csv,jsonl --pg-url postgresql+psycopg://…

For each format and backend:

1. **ours**: `auditd ingest FILE --profile …` into a fresh store, in a child process (so its peak
   RSS is its own): parse, map, mask 個人番号, pseudonymise, deduplicate, quarantine, checkpoint.
2. **raw**: the same rows, already parsed (the canonical frames the pipeline produced, saved to
   Parquet), inserted into a fresh store of the same schema with a plain bulk insert
   (`executemany` INSERT on SQLite, `COPY` on PostgreSQL), one transaction per 50,000 rows, in a
   child process. Building the row tuples from the frames is included: any insert has to.

Prints a table and writes JSON to ``benchmarks/results/`` with a description of the machine.
Data is generated with the product's own generator into ``var/bench/`` (not committed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "var" / "bench"
PROFILES = {"csv": "demo-tax", "jsonl": "demo-welfare", "syslog": "syslog-auditd-5424"}
RESIDENTS_PER_MILLION_TAX_ROWS = 290_000  # the demo generator's tax volume per resident over 28 days


def child_env(folder: Path, url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of an auditd child process: the demo's municipality, data under ``folder``, the
    store ``url`` (else the default), none of the caller's own ``AUDITD_`` settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITD_")}
    env.update(
        AUDITD_ENV="development",
        AUDITD_DATA_DIR=str(folder / "data"),
        AUDITD_MUNICIPALITY_CODE="999997",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    if url is not None:
        env["AUDITD_DATABASE_URL"] = url
    return env


def machine() -> dict[str, object]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_gib, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
    }


def generate(rows: int, formats: list[str], seed: int) -> dict[str, Path]:
    """One big file per format, made from a generated city sized to give about ``rows`` tax events."""
    from auditd.demo.generator import generate_city
    from auditd.demo.world import CityConfig

    out = WORK / f"city-{rows}-{seed}"
    files = {fmt: out / f"all.{fmt}" for fmt in formats}
    if all(p.exists() for p in files.values()):
        return files
    residents = max(3_000, int(rows / 1_000_000 * RESIDENTS_PER_MILLION_TAX_ROWS))
    started = time.perf_counter()
    manifest = generate_city(out / "city", CityConfig(residents=residents, days=28, seed=seed, incidents=False))
    seconds = time.perf_counter() - started
    print(f"generated {manifest.events:,} log records for {residents:,} residents in {seconds:.0f} s")
    by_profile: dict[str, list[Path]] = {}
    for item in manifest.inputs:
        by_profile.setdefault(item.profile, []).append(item.path)
    for fmt in formats:
        if fmt == "syslog":
            continue
        parts = sorted(by_profile[PROFILES[fmt]])
        with files[fmt].open("wb") as target:
            for i, part in enumerate(parts):
                data = part.read_bytes()
                if fmt == "csv" and i:
                    data = data.split(b"\r\n", 1)[1]  # one header
                target.write(data)
    if "syslog" in formats:
        to_syslog(sorted(by_profile["demo-tax"]), files["syslog"])
    shutil.rmtree(out / "city")
    return files


def to_syslog(tax_files: list[Path], target: Path) -> None:
    """The tax system's records as RFC 5424 messages with the recommended ``auditd@32473`` element."""
    import pandas as pd

    from auditd.jp.wareki import parse_wareki
    from collectors.profile import resolve_profile

    codes = resolve_profile("demo-tax").codes
    with target.open("w", encoding="utf-8", newline="\n") as out:
        for path in tax_files:
            frame = pd.read_csv(path, encoding="cp932", dtype="str", keep_default_na=False)
            when = parse_wareki(frame["操作日時"]).dt.strftime("%Y-%m-%dT%H:%M:%S+09:00")
            action = frame["操作区分"].map(codes["actions"])
            jimu = frame["業務コード"].map(codes["jimu"])
            lines = (
                "<110>1 " + when + " zeimu-ap01 税務 - OPLOG [auditd@32473 user=\"" + frame["職員ID"]
                + "\" terminal=\"" + frame["端末ID"] + "\" session=\"" + frame["セッションID"] + "\" jimu=\"" + jimu
                + "\" action=\"" + action + "\" subject=\"" + frame["宛名番号"] + "\" count=\"" + frame["対象件数"]
                + "\" result=\"success\" screen=\"" + frame["画面ID"] + "\"] " + frame["検索条件"]
            )  # fmt: skip
            out.write("\n".join(lines.str.replace(' subject="" ', " ", regex=False).tolist()) + "\n")


def generate_in_child(rows: int, formats: list[str], seed: int) -> dict[str, Path]:
    """Generate in another process: a big city would otherwise stay in this one's memory."""
    code = (
        f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import ingest; "
        f"print(json.dumps({{k: str(v) for k, v in ingest.generate({rows}, {formats!r}, {seed}).items()}}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"generation failed:\n{done.stderr[-4000:]}")
    print("\n".join(done.stdout.strip().splitlines()[:-1]))
    return {k: Path(v) for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


def child(code: str, env: dict[str, str]) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; it prints one JSON line; add the child's peak RSS."""
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{done.stderr[-4000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


#: The child's own peak memory. Not ru_maxrss: on Linux that survives fork+exec, so a child would
#: report its parent's high-water mark if the parent was bigger.
PEAK = "int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM'))) / 1024"

OURS = """
import json, sys, time
from pathlib import Path
from auditd.settings import Settings
from auditd.store import migrate
from auditd.store.db import make_engine
from collectors.pipeline import Ingestor
from collectors.profile import resolve_profile
settings = Settings(env="test", data_dir=Path({data!r}), database_url={url!r})
engine = make_engine(settings.db_url)
migrate.upgrade(engine)
start_cpu, start = time.process_time(), time.perf_counter()
summary = Ingestor(engine, settings).ingest_file(Path({path!r}), resolve_profile({profile!r}))
seconds = time.perf_counter() - start
print(json.dumps({{"rows": summary.read, "accepted": summary.accepted, "quarantined": summary.quarantined,
                  "seconds": seconds, "cpu_seconds": time.process_time() - start_cpu, "peak_mb": {peak}}}))
"""

PREPARE = """
import json, sys
from pathlib import Path
import pandas as pd
from auditd.settings import Settings
from auditd.store import migrate
from auditd.store.db import make_engine
from collectors.pipeline import Ingestor, RecordIdentity, reader_for
from collectors.profile import resolve_profile
settings = Settings(env="test", data_dir=Path({data!r}), database_url={url!r})
engine = make_engine(settings.db_url)
migrate.upgrade(engine)
ingestor = Ingestor(engine, settings)
profile = resolve_profile({profile!r})
identity = RecordIdentity(settings.municipality_code, profile.source_name)
frames = []
with open({path!r}, "rb") as stream:
    for chunk in reader_for(profile).chunks(stream, start_position=0, start_line=0, chunk_rows=50_000):
        prepared = ingestor.prepare_chunk(chunk, profile, identity)
        frame = prepared.events.drop(columns=[c for c in prepared.events.columns if c.startswith("_")])
        frame["batch_id"] = 1
        frames.append(frame)
events = pd.concat(frames, ignore_index=True)
events.to_parquet({parquet!r})
print(json.dumps({{"rows": len(events)}}))
"""

RAW = """
import json, time
from pathlib import Path
import pandas as pd
from sqlalchemy import text
from auditd.events.repository import EVENT_COLUMNS
from auditd.store.bulk import row_slices
from auditd.store import migrate
from auditd.store.db import make_engine
from auditd.store.partitions import ensure_event_partitions, months_present
engine = make_engine({url!r})
migrate.upgrade(engine)
events = pd.read_parquet({parquet!r})
columns = ", ".join(EVENT_COLUMNS)
start_cpu, start = time.process_time(), time.perf_counter()
for first in range(0, len(events), 50_000):
    part = events.iloc[first:first + 50_000]
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            ensure_event_partitions(conn, months_present(part["ts"]))
            with conn.connection.driver_connection.cursor() as cursor:
                with cursor.copy(f"COPY events ({{columns}}) FROM STDIN") as copy:
                    for rows in row_slices(part, EVENT_COLUMNS, "postgresql"):
                        for row in rows:
                            copy.write_row(row)
        else:
            sql = f"INSERT INTO events ({{columns}}) VALUES ({{', '.join('?' for _ in EVENT_COLUMNS)}})"
            for rows in row_slices(part, EVENT_COLUMNS, "sqlite"):
                conn.exec_driver_sql(sql, rows)
seconds = time.perf_counter() - start
print(json.dumps({{"rows": len(events), "seconds": seconds, "cpu_seconds": time.process_time() - start_cpu,
                  "peak_mb": {peak}}}))
"""


def fresh_store(backend: str, name: str, pg_url: str | None) -> str:
    if backend == "sqlite":
        path = WORK / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from auditd.store.db import make_engine

    assert pg_url is not None
    database = f"auditd_bench_{name}"
    admin = make_engine(make_url(pg_url).set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {database}"))
    admin.dispose()
    return make_url(pg_url).set(database=database).render_as_string(hide_password=False)


def measure(
    rows: int, formats: list[str], backends: list[str], pg_url: str | None, seed: int, *, quiet: bool = False
) -> list[dict[str, object]]:
    """Ours and raw for each format and backend, on a city of about ``rows`` tax rows (generated once)."""
    if "postgresql" in backends and not pg_url:
        raise SystemExit("--pg-url (or AUDITD_TEST_PG_URL) is needed for PostgreSQL")
    WORK.mkdir(parents=True, exist_ok=True)
    files = generate_in_child(rows, formats, seed)
    env = {**os.environ, "AUDITD_ENV": "test"}
    results: list[dict[str, object]] = []
    for fmt in formats:
        profile, path = PROFILES[fmt], str(files[fmt])
        size_mb = files[fmt].stat().st_size / 1e6
        parquet = str(WORK / f"prepared-{fmt}-{rows}.parquet")
        child(PREPARE.format(data=str(WORK / "data"), url=fresh_store("sqlite", "prep", None), profile=profile,
                             path=path, parquet=parquet), env)  # fmt: skip
        for backend in backends:
            ours = child(OURS.format(data=str(WORK / "data"), url=fresh_store(backend, "ours", pg_url),
                                     path=path, profile=profile, peak=PEAK), env)  # fmt: skip
            raw = child(RAW.format(url=fresh_store(backend, "raw", pg_url), parquet=parquet, peak=PEAK), env)
            row: dict[str, Any] = {
                "format": fmt,
                "backend": backend,
                "rows": ours["rows"],
                "quarantined": ours["quarantined"],
                "file_mb": round(size_mb, 1),
                "ours_events_per_s": round(float(ours["rows"]) / float(ours["seconds"])),  # type: ignore[arg-type]
                "ours_peak_mb": round(float(ours["peak_mb"])),  # type: ignore[arg-type]
                "raw_events_per_s": round(float(raw["rows"]) / float(raw["seconds"])),  # type: ignore[arg-type]
                "raw_peak_mb": round(float(raw["peak_mb"])),  # type: ignore[arg-type]
            }
            row["ratio"] = round(row["ours_events_per_s"] / row["raw_events_per_s"], 2)
            row["ours_cpu_s"] = round(float(ours["cpu_seconds"]), 1)  # type: ignore[arg-type]
            results.append(row)
            if not quiet:
                print(
                    f"{fmt:<6} {backend:<10} rows {row['rows']:>10,} (quarantined {row['quarantined']})  "
                    f"ours {row['ours_events_per_s']:>8,} ev/s "
                    f"(peak {row['ours_peak_mb']:>4} MB)  raw {row['raw_events_per_s']:>8,} ev/s  ratio {row['ratio']}",
                    flush=True,
                )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="about this many tax (CSV) rows")
    parser.add_argument("--formats", default="csv", help="comma-separated: csv, jsonl, syslog")
    parser.add_argument("--backends", default="sqlite", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--pg-url", default=os.environ.get("AUDITD_TEST_PG_URL"), help="PostgreSQL server URL")
    parser.add_argument("--seed", type=int, default=99)
    args = parser.parse_args()
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    results = measure(args.rows, formats, backends, args.pg_url, args.seed)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"ingest-{stamp}.json"
    out.write_text(json.dumps({"benchmark": "ingest", "when": stamp, "machine": machine(), "results": results},
                              indent=2, ensure_ascii=False), encoding="utf-8")  # fmt: skip
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
