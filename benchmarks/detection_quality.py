"""Detection quality: incident recall, alert precision and false alerts per 100 user-days.

    python benchmarks/detection_quality.py                      # seeds 101, 202, 303
    python benchmarks/detection_quality.py --seeds 7 --residents 50000 --days 56

For each seed, a fresh city is generated with the product's generator (every incident kind of the
catalogue planted several times, varied, and the legitimate look-alikes), collected into a new SQLite
store, decided and run through every detector exactly as ``auditd demo`` does. The alerts are then
scored against the city's ``truth.json`` by :mod:`detectors.quality`: per detector and overall.

Targets (issue 5), on seeds nobody tuned on: recall ≥ 0.95, precision ≥ 0.8, ≤ 1 false alert per
100 user-days. Prints a table and writes JSON to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import RESULTS, machine
from sqlalchemy import Engine, func, select

from auditd.alerts import repository as alerts_repo
from auditd.demo.generator import generate_city
from auditd.demo.world import CityConfig
from auditd.events.models import Event
from auditd.privacy.pseudonym import Pseudonymiser
from auditd.reference.repository import ensure_municipality
from auditd.settings import Settings
from auditd.store.base import table_of
from auditd.store.db import engine_for
from auditd.store.migrate import upgrade
from auditd.store.sql import local_day
from collectors.service import collect
from detectors.quality import Quality, score
from detectors.service import detect_pending
from policies.service import decide_pending


def user_days(engine: Engine, code: str) -> int:
    events = table_of(Event)
    with engine.connect() as connection:
        day = local_day(events.c.ts, connection.dialect.name)
        pairs = (
            select(events.c.user_id, day)
            .where(events.c.municipality_code == code, events.c.action.not_in(("login", "logout", "login_fail")))
            .distinct()
            .subquery()
        )
        return int(connection.execute(select(func.count()).select_from(pairs)).scalar_one())


def run_seed(seed: int, residents: int, days: int, per_kind: int) -> tuple[Quality, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix=f"auditd-quality-{seed}-") as tmp:
        folder = Path(tmp)
        config = CityConfig(residents=residents, days=days, seed=seed, incidents_per_kind=per_kind)
        timings: dict[str, float] = {}
        started = time.perf_counter()
        manifest = generate_city(folder / "city", config)
        timings["generate_s"] = time.perf_counter() - started
        settings = Settings(env="test", data_dir=folder / "data", municipality_code=config.municipality_code)
        engine = engine_for(settings)
        upgrade(engine)
        with engine.begin() as connection:
            ensure_municipality(
                connection, config.municipality_code, config.name, population=residents, created_at=datetime.now(UTC)
            )
        started = time.perf_counter()
        collect(engine, settings, manifest.inputs)
        timings["collect_s"] = time.perf_counter() - started
        started = time.perf_counter()
        decide_pending(engine, settings)
        timings["decide_s"] = time.perf_counter() - started
        started = time.perf_counter()
        summary = detect_pending(engine, settings)
        timings["detect_s"] = time.perf_counter() - started
        timings["events"] = float(manifest.events)
        timings["detect_errors"] = float(len(summary.errors))
        with engine.connect() as connection:
            alerts = alerts_repo.alerts_frame(connection, config.municipality_code)
        truth = json.loads((folder / "city" / "truth.json").read_text(encoding="utf-8"))
        pseudonyms = Pseudonymiser(settings.secret("pseudonym_key"), config.municipality_code)
        quality = score(alerts, truth, pseudonyms.one, user_days(engine, config.municipality_code))
        engine.dispose()
        return quality, timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="101,202,303", help="comma-separated seeds (cities nobody tuned on)")
    parser.add_argument("--residents", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--per-kind", type=int, default=3, help="instances of each incident kind")
    args = parser.parse_args()
    results = []
    totals = Quality()
    per_detector: dict[str, dict[str, float]] = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        quality, timings = run_seed(seed, args.residents, args.days, args.per_kind)
        results.append({"seed": seed, **quality.as_dict(), "timings": timings})
        print(
            f"seed {seed}: {timings['events']:,.0f} events; recall {quality.recall:.3f} "
            f"({quality.detected}/{quality.incidents}), precision {quality.precision:.3f} "
            f"({quality.true_alerts}/{quality.alerts}), {quality.false_per_100_user_days:.2f} false alerts per 100 "
            f"user-days ({quality.user_days:,} user-days), {quality.lookalike_alerts} on look-alikes; "
            f"detect {timings['detect_s']:.1f} s"
        )
        for missed in quality.missed:
            print(f"   missed {missed}")
        if quality.false_by_rule:
            print(f"   false alerts by detector: {dict(quality.false_by_rule)}")
        totals.incidents += quality.incidents
        totals.detected += quality.detected
        totals.alerts += quality.alerts
        totals.true_alerts += quality.true_alerts
        totals.user_days += quality.user_days
        totals.lookalike_alerts += quality.lookalike_alerts
        for code, figures in quality.per_detector.items():
            into = per_detector.setdefault(code, {"incidents": 0, "hit": 0, "alerts": 0, "false_alerts": 0})
            into["incidents"] += figures["incidents"]
            into["hit"] += figures["incidents"] * (0 if figures["recall"] != figures["recall"] else figures["recall"])
            into["alerts"] += figures["alerts"]
            into["false_alerts"] += figures["false_alerts"]
    print()
    print(f"{'detector':<9}{'incidents':>10}{'recall':>8}{'alerts':>8}{'false':>7}")
    for code in sorted(per_detector):
        f = per_detector[code]
        recall = f"{f['hit'] / f['incidents']:.2f}" if f["incidents"] else "–"
        print(f"{code:<9}{f['incidents']:>10.0f}{recall:>8}{f['alerts']:>8.0f}{f['false_alerts']:>7.0f}")
    print(
        f"{'overall':<9}{totals.incidents:>10}{totals.recall:>8.3f}{totals.alerts:>8}"
        f"{totals.alerts - totals.true_alerts:>7}   precision {totals.precision:.3f}, "
        f"{totals.false_per_100_user_days:.2f} false alerts per 100 user-days"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"detection-quality-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "machine": machine(),
                "args": vars(args),
                "overall": totals.as_dict() | {"per_detector": per_detector},
                "seeds": results,
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    print(f"written {out}")


if __name__ == "__main__":
    main()
