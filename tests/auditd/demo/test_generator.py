"""The demo generator: deterministic, scalable, realistic enough to parse, with ground truth."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from auditd.demo.generator import generate_city
from auditd.demo.incidents import PLANTERS
from auditd.demo.world import CityConfig
from auditd.jp.calendar import national_holidays
from collectors.mapping import map_event_chunk
from collectors.pipeline import reader_for
from collectors.profile import resolve_profile


def digest(directory: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def test_the_same_seed_gives_the_same_city(tmp_path: Path):
    config = CityConfig(residents=1500, days=7, seed=11)
    generate_city(tmp_path / "a", config)
    generate_city(tmp_path / "b", config)
    generate_city(tmp_path / "c", CityConfig(residents=1500, days=7, seed=12))
    assert digest(tmp_path / "a" / "logs") == digest(tmp_path / "b" / "logs")
    assert digest(tmp_path / "a" / "logs") != digest(tmp_path / "c" / "logs")


def test_every_generated_file_parses_with_its_profile_without_quarantine(small_city):  # type: ignore[no-untyped-def]
    total = 0
    for item in small_city.inputs:
        if item.kind != "events":
            continue
        profile = resolve_profile(item.profile)
        with item.path.open("rb") as stream:
            for chunk in reader_for(profile).chunks(stream, start_position=0, start_line=0, chunk_rows=50_000):
                events, rejected = map_event_chunk(chunk, profile)
                assert chunk.rejects == [] and rejected.empty, (item.path, rejected.head())
                total += len(events)
    assert total == small_city.events


def test_ground_truth_lists_every_planted_incident_kind(small_city):  # type: ignore[no-untyped-def]
    truth = json.loads((small_city.out_dir / "truth.json").read_text(encoding="utf-8"))
    kinds = {i["kind"] for i in truth["incidents"]}
    assert kinds == {p.__name__ for p in PLANTERS}
    for incident in truth["incidents"]:
        assert incident["detectors"], incident["kind"]
        assert incident["start"] <= incident["end"]
    assert {look["kind"] for look in truth["lookalikes"]} >= {
        "night_batch_with_approval",
        "bulk_print_with_approval",
        "admin_account_maintenance",
    }


def test_the_calendar_feed_has_the_real_2026_holidays(small_city):  # type: ignore[no-untyped-def]
    calendar = (small_city.out_dir / "reference" / "calendar.csv").read_text(encoding="utf-8-sig").splitlines()
    closed = {line.split(",")[0] for line in calendar[1:] if line.split(",")[1] == "0"}
    assert {str(d) for d in national_holidays(2026) if str(d) <= "2026-03-01"} <= closed
    assert "2026-01-12" in closed  # 成人の日
    assert "2026-01-13" not in closed


def test_volume_grows_linearly_with_the_city(tmp_path: Path):
    small = generate_city(tmp_path / "s", CityConfig(residents=6000, days=7, seed=3, incidents=False))
    large = generate_city(tmp_path / "l", CityConfig(residents=12000, days=7, seed=3, incidents=False))
    assert small.counts["staff"] >= 30
    assert 1.7 < large.events / small.events < 2.3
    assert 1.5 < small.events / small.counts["user_days"] / 10 < 10  # tens of events per person per day
