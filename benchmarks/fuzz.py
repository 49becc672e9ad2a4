"""Fuzzing run: corrupted files for every built-in profile, through the real ingest and import paths,
for a given time.

    python benchmarks/fuzz.py                          # 60 s on SQLite
    python benchmarks/fuzz.py --seconds 300 --pg-url postgresql+psycopg://…/auditd_fuzz

Each round takes the next built-in profile and writes a file of valid records mixed with records
corrupted in random ways (random bytes, cut CP932 / UTF-8 characters, lines of 1–5 MB, missing and
extra columns, BOMs in the middle, NUL bytes, impossible dates, planted 個人番号), or, one round in
four, a valid file with random bytes flipped, inserted and deleted anywhere (line breaks and quotes
included). It is ingested (or imported) into a fresh store, every third file twice.

Counted: records, stored, quarantined by reason, files refused with a message (``ValidationFailed``),
and the failures, which must all be 0: **crashes** (any other exception), **lost** records (read ≠
stored + quarantined, or fewer records than lines written), **twice** (a second ingest that stores
something) and **leaked** 個人番号 (found by scanning every text column of the store at the end).

Prints the counts and writes JSON to ``benchmarks/results/`` with a description of the machine.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
import traceback
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "tests" / "collectors"))

from fuzz_support import KINDS, MB, build_file, builtin, scan_store
from ingest import RESULTS, WORK, machine
from sqlalchemy import text
from sqlalchemy.engine import make_url

from auditd.errors import ValidationFailed
from auditd.settings import Settings
from auditd.store import migrate
from auditd.store.db import make_engine
from collectors.pipeline import Ingestor
from collectors.profile import Profile
from collectors.reference import ReferenceImporter


def mutate(data: bytes, rng: random.Random) -> bytes:
    """``data`` with a few bytes flipped, inserted or deleted anywhere."""
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 12)):
        at = rng.randrange(len(buffer) + 1)
        action = rng.random()
        if action < 0.4 and at < len(buffer):
            buffer[at] = rng.getrandbits(8)
        elif action < 0.8:
            buffer[at:at] = rng.choice([b"\n", b"\r", b'"', b"\x00", b"\xef\xbb\xbf", b",", b"\t", b"\x82", b"\xff"])
        elif at < len(buffer):
            del buffer[at : at + rng.randint(1, 8)]
    return bytes(buffer)


class Run:
    def __init__(self, url: str, data_dir: Path, seed: int, max_line_mb: int) -> None:
        self.engine = make_engine(url)
        migrate.upgrade(self.engine)
        settings = Settings(env="test", data_dir=data_dir, database_url=url)
        self.ingestor = Ingestor(self.engine, settings)
        self.importer = ReferenceImporter(self.engine, settings)
        self.rng = random.Random(seed)
        self.max_line_bytes = max_line_mb * MB
        self.counts: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()
        self.corruptions: Counter[str] = Counter()
        self.failures: list[dict[str, object]] = []

    def store(self, profile: Profile, path: Path, *, full: bool = False) -> tuple[int, int, int, int, Counter[str]]:
        """(read, stored, duplicate, quarantined, reasons) of one ingest or import."""
        if profile.kind == "events":
            s = self.ingestor.ingest_file(path, profile, full=full)
            return s.read, s.accepted, s.duplicates, s.quarantined, s.reasons
        r = self.importer.import_file(path, profile)
        return r.read, r.stored, 0, r.quarantined, r.reasons

    def fail(self, what: str, profile: Profile, path: Path, detail: str) -> None:
        self.counts[what] += 1
        kept = path.with_suffix(path.suffix + f".{what}")
        shutil.copyfile(path, kept)
        self.failures.append({"failure": what, "profile": profile.name, "file": str(kept), "detail": detail[-2000:]})

    def round(self, n: int, profile: Profile, work: Path) -> None:
        rng = self.rng
        path = work / f"{n:06d}-{profile.name}.{'csv' if profile.format in ('csv', 'tsv') else 'log'}"
        kinds = tuple(k for k in KINDS if k != "huge_line" or rng.random() < 0.15)
        huge = rng.randint(MB, max(MB, self.max_line_bytes)) // 2
        fuzz = build_file(
            profile, path, rng, valid=rng.randint(0, 200), kinds=kinds, per_kind=rng.randint(0, 4),
            huge_bytes=huge, offset=n * 1000,
        )  # fmt: skip
        mutated = rng.random() < 0.25
        if mutated:
            path.write_bytes(mutate(path.read_bytes(), rng))
            self.counts["mutated_files"] += 1
        self.corruptions.update(fuzz.kinds)
        self.counts["files"] += 1
        self.counts["bytes"] += path.stat().st_size
        try:
            read, stored, duplicate, quarantined, reasons = self.store(profile, path)
        except ValidationFailed as exc:
            self.counts["refused"] += 1
            self.refusals[str(exc).split(":")[-1].strip()[:60] or "?"] += 1
            return
        except Exception:
            self.fail("crashes", profile, path, traceback.format_exc())
            return
        self.counts["records"] += read
        self.counts["stored"] += stored
        self.counts["quarantined"] += quarantined
        self.reasons.update(reasons)
        if read != stored + duplicate + quarantined or (not mutated and read != fuzz.records):
            self.fail("lost", profile, path, f"{fuzz.records} lines, read {read}, stored {stored}, q {quarantined}")
        if n % 3 == 0:
            try:
                again = self.store(profile, path, full=True)
            except Exception:
                self.fail("crashes", profile, path, traceback.format_exc())
                return
            new = again[1] if profile.kind == "events" else 0
            if new or (profile.kind != "events" and again[1] != stored):
                self.fail("twice", profile, path, f"stored {stored}, then {again[1]}")

    def scan(self) -> None:
        hits = scan_store(self.engine)
        self.counts["leaked"] = len(hits)
        for table, column, _number in hits[:20]:
            self.failures.append({"failure": "leaked", "table": table, "column": column})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60, help="how long to fuzz (default 60)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock)")
    parser.add_argument("--pg-url", help="a PostgreSQL database named *fuzz* (emptied first); default SQLite")
    parser.add_argument("--max-line-mb", type=int, default=5, help="longest enormous line, in MB (default 5)")
    args = parser.parse_args()

    seed = args.seed if args.seed is not None else int(time.time())
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work = WORK / f"fuzz-{stamp}"
    work.mkdir(parents=True, exist_ok=True)
    if args.pg_url:
        url, backend = args.pg_url, "postgresql"
        if "fuzz" not in (make_url(url).database or ""):
            parser.error("--pg-url: the database is emptied first, so its name must contain 'fuzz'")
        with make_engine(url).begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    else:
        url, backend = f"sqlite:///{work / 'fuzz.db'}", "sqlite"
    run = Run(url, work / "data", seed, args.max_line_mb)
    profiles = builtin()
    started = time.perf_counter()
    n = 0
    while time.perf_counter() - started < args.seconds:
        run.round(n, profiles[n % len(profiles)], work)
        for leftover in work.glob(f"{n:06d}-*"):
            if leftover.suffix in (".csv", ".log"):
                leftover.unlink()
        n += 1
    run.scan()
    seconds = time.perf_counter() - started

    c = run.counts
    print(f"fuzz: {seconds:.0f} s, seed {seed}, {backend}, {len(profiles)} profiles")
    print(f"  files {c['files']:,} ({c['mutated_files']:,} with random bytes flipped), {c['bytes'] / MB:,.1f} MB")
    print(f"  records {c['records']:,}  stored {c['stored']:,}  quarantined {c['quarantined']:,}  refused files "
          f"{c['refused']:,}")  # fmt: skip
    for reason, number in run.reasons.most_common():
        print(f"    {reason:<24} {number:>8,}")
    for message, number in run.refusals.most_common():
        print(f"    refused: {message:<60} {number:>4,}")
    print(f"  crashes {c['crashes']}  lost {c['lost']}  twice {c['twice']}  leaked 個人番号 {c['leaked']}")
    for failure in run.failures[:10]:
        print(f"  ! {failure}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"fuzz-{stamp}.json"
    report = {
        "benchmark": "fuzz",
        "when": stamp,
        "machine": machine(),
        "seed": seed,
        "backend": backend,
        "seconds": round(seconds, 1),
        "profiles": [p.name for p in profiles],
        "counts": dict(c),
        "corruptions": dict(run.corruptions),
        "quarantine_reasons": dict(run.reasons),
        "refusals": dict(run.refusals),
        "failures": run.failures,
    }
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    print(f"written {out.relative_to(RESULTS.parent.parent)}")
    sys.exit(1 if c["crashes"] or c["lost"] or c["twice"] or c["leaked"] else 0)


if __name__ == "__main__":
    main()
