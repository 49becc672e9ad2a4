"""The demo generator: deterministic, scalable, realistic enough to parse, with ground truth."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from auditd.demo.generator import generate_city
from auditd.demo.incidents import KINDS, PLANTERS, SINGLE_KINDS
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


ISO_JST = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+09:00$")
DETECTOR = re.compile(r"^D(0[1-9]|1\d|2[01])$")


def truth_of(out_dir: Path) -> dict[str, Any]:
    truth: dict[str, Any] = json.loads((out_dir / "truth.json").read_text(encoding="utf-8"))
    return truth


def test_ground_truth_lists_every_planted_incident_kind(small_city):  # type: ignore[no-untyped-def]
    truth = truth_of(small_city.out_dir)
    assert set(truth) == {"municipality_code", "period", "incidents", "lookalikes", "note"}
    kinds = {i["kind"] for i in truth["incidents"]}
    assert kinds == set(KINDS) == {p.__name__ for p in PLANTERS} | {"sequence_gap"}
    first, last = (date.fromisoformat(d) for d in truth["period"])
    ids = [i["id"] for i in truth["incidents"]]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"INC-\d{3}", i) for i in ids)
    for incident in truth["incidents"]:
        assert set(incident) == {
            "id", "kind", "detectors", "title_ja", "users", "subjects", "start", "end", "events", "note", "extra",
        }  # fmt: skip
        assert incident["detectors"] and all(DETECTOR.match(d) for d in incident["detectors"]), incident
        assert ISO_JST.match(incident["start"]) and ISO_JST.match(incident["end"]), incident
        assert incident["start"] <= incident["end"]
        # every planted incident lies inside the generated period
        assert first <= date.fromisoformat(incident["start"][:10]) <= last, incident
        assert first <= date.fromisoformat(incident["end"][:10]) <= last, incident
    # a person serves one incident only
    users = [u for i in truth["incidents"] for u in i["users"]]
    assert len(users) == len(set(users))


def test_every_lookalike_says_what_must_not_flag_it(small_city):  # type: ignore[no-untyped-def]
    lookalikes = truth_of(small_city.out_dir)["lookalikes"]
    assert {look["kind"] for look in lookalikes} >= {
        "night_batch_with_approval",
        "bulk_print_with_approval",
        "admin_account_maintenance",
        "approved_overtime",
        "repeated_with_open_case",
        "counter_with_reception",
    }
    for look in lookalikes:
        assert isinstance(look["users"], list) and look["users"], look
        assert isinstance(look["subjects"], list), look
        assert ISO_JST.match(look["start"]) and ISO_JST.match(look["end"]) and look["start"] <= look["end"], look
        assert look["must_not"] and all(DETECTOR.match(d) for d in look["must_not"]), look
    must_not = {look["kind"]: set(look["must_not"]) for look in lookalikes}
    assert must_not["approved_overtime"] == {"D01"}
    assert must_not["night_batch_with_approval"] == {"D01", "D14", "D19"}
    assert must_not["repeated_with_open_case"] == {"D06", "D03"}
    assert must_not["counter_with_reception"] == {"D03"}
    assert must_not["bulk_print_with_approval"] == {"D14"}
    assert must_not["admin_account_maintenance"] == {"D15"}
    # the overtime evenings are covered by an approved overtime row of that person and day
    overtime = (small_city.out_dir / "reference" / "overtime.csv").read_text(encoding="utf-8-sig").splitlines()
    staff = (small_city.out_dir / "reference" / "staff.csv").read_text(encoding="cp932").splitlines()
    staff_of = {"u" + line.split(",")[0][1:]: line.split(",")[0] for line in staff[1:]}
    rows = {tuple(line.split(",")[:4]) for line in overtime[1:]}
    for look in lookalikes:
        if look["kind"] == "approved_overtime":
            day = look["start"][:10]
            assert (staff_of[look["users"][0]], day, "17:15", "21:00") in rows
            assert look["end"][11:16] <= "21:00"


@pytest.fixture(scope="module")
def busy_city(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Enough staff for every instance of every kind (light activity, to stay quick)."""
    config = CityConfig(residents=8000, operators=140, days=28, seed=5, activity=0.25)
    return generate_city(tmp_path_factory.mktemp("busy"), config)


def test_each_kind_is_planted_several_times_in_varied_ways(busy_city):  # type: ignore[no-untyped-def]
    truth = truth_of(busy_city.out_dir)
    per_kind = busy_city.config.incidents_per_kind
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for incident in truth["incidents"]:
        by_kind.setdefault(incident["kind"], []).append(incident)
    assert set(by_kind) == set(KINDS)
    for kind, found in by_kind.items():
        if kind in SINGLE_KINDS:
            assert len(found) == 1, kind
            continue
        assert len(found) >= per_kind, kind
        users = [tuple(i["users"]) for i in found]
        if kind != "sequence_gap":  # a gap in a log has no user
            assert len(set(users)) == len(users), kind
        assert len({i["start"] for i in found}) == len(found), kind  # not copies of one another
    several_days = [k for k, found in by_kind.items() if len({i["start"][:10] for i in found}) > 1]
    assert len(several_days) >= len(by_kind) - 3  # and mostly on different days
    # realistic variety inside a kind
    off = by_kind["off_hours"]
    assert all(i["extra"]["variant"] in ("evening", "closed_day") for i in off)
    for incident in by_kind["repetition"]:
        assert 4 <= incident["extra"]["lookups"] <= 9
    for incident in by_kind["curiosity_cluster"]:
        assert 3 <= len(incident["users"]) <= 7 and 2 <= len(incident["extra"]["sections"]) <= 4
    for incident in by_kind["neighbourhood"]:
        assert 3 <= len(incident["subjects"]) <= 6
    for incident in by_kind["bulk_export"]:
        assert 800 <= incident["extra"]["count"] <= 5000
    for incident in by_kind["dormant_reactivated"]:
        assert incident["detectors"] == ["D13"] and incident["note"]
        assert (date.fromisoformat(incident["extra"]["idle_to"]) - busy_city.config.start).days >= 21
    for incident in by_kind["temporary_card"]:
        assert incident["detectors"] == ["D06", "D10", "D03"] and incident["users"][0].startswith("tmp")
    accounts = (busy_city.out_dir / "reference" / "accounts.csv").read_text(encoding="utf-8-sig").splitlines()
    temporary = {line.split(",")[0]: line.split(",")[1:3] for line in accounts[1:] if ",temporary," in line}
    assert {i["users"][0] for i in by_kind["temporary_card"]} <= set(temporary)
    assert all(staff_id == "" for staff_id, _ in temporary.values())


def test_after_case_lookups_follow_a_closed_case_of_the_same_person(busy_city):  # type: ignore[no-untyped-def]
    truth = truth_of(busy_city.out_dir)
    cases = (busy_city.out_dir / "reference" / "cases.csv").read_text(encoding="utf-8-sig").splitlines()
    header = cases[0].split(",")
    by_id = {row[0]: dict(zip(header, row, strict=True)) for row in (line.split(",") for line in cases[1:])}
    for incident in (i for i in truth["incidents"] if i["kind"] == "after_case"):
        case = by_id[incident["extra"]["case_id"]]
        assert case["subject"] == incident["subjects"][0]
        assert "u" + case["assignee"][1:] == incident["users"][0]
        closed = date.fromisoformat(case["closed_at"][:10])
        assert 2 <= (date.fromisoformat(incident["start"][:10]) - closed).days <= 10


def test_each_welfare_gap_is_a_sequence_gap_incident(busy_city):  # type: ignore[no-untyped-def]
    truth = truth_of(busy_city.out_dir)
    seqs: set[int] = set()
    for path in (busy_city.out_dir / "logs" / "welfare").glob("*.jsonl"):
        seqs |= {json.loads(line)["seq"] for line in path.read_text(encoding="utf-8").splitlines()}
    gaps = [i for i in truth["incidents"] if i["kind"] == "sequence_gap"]
    tampering = {i["id"] for i in truth["incidents"] if i["kind"] == "audit_tampering"}
    assert len(gaps) == len(tampering) >= busy_city.config.incidents_per_kind
    for gap in gaps:
        extra = gap["extra"]
        assert gap["detectors"] == ["D16"] and extra["source"] == "welfare" and extra["cause"] in tampering
        lost = set(range(extra["seq_from"], extra["seq_to"] + 1))
        assert lost and not lost & seqs
        assert extra["seq_from"] - 1 in seqs and extra["seq_to"] + 1 in seqs
    missing = set(range(1, max(seqs) + 1)) - seqs
    assert missing == {n for g in gaps for n in range(g["extra"]["seq_from"], g["extra"]["seq_to"] + 1)}


def test_two_seeds_plant_different_incidents(small_city, tmp_path: Path):  # type: ignore[no-untyped-def]
    other = generate_city(tmp_path / "other", CityConfig(residents=3000, days=14, seed=8))
    a, b = truth_of(small_city.out_dir)["incidents"], truth_of(other.out_dir)["incidents"]
    planted_a = {(i["kind"], i["start"][:10], tuple(i["users"])) for i in a if i["users"]}
    planted_b = {(i["kind"], i["start"][:10], tuple(i["users"])) for i in b if i["users"]}
    assert len(planted_a & planted_b) <= len(planted_a) // 10
    days_a = {(i["kind"], i["start"][:10]) for i in a if i["kind"] not in SINGLE_KINDS}
    days_b = {(i["kind"], i["start"][:10]) for i in b if i["kind"] not in SINGLE_KINDS}
    assert len(days_a - days_b) >= len(days_a) // 2  # most kinds happen on another day


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
