"""The detectors on a generated city, through the command line, on SQLite and PostgreSQL:
``auditd detect`` finds the planted incidents, stores each finding once however often it runs, and
``auditd alerts export`` gives one line per alert with the fields other tools read."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date

import pytest
from cli_support import auditd
from sqlalchemy import Engine, select

from auditd.alerts import repository as alerts_repo
from auditd.privacy.pseudonym import Pseudonymiser
from auditd.settings import Settings
from auditd.trail.models import TrailEntry
from collectors.service import collect
from detectors.quality import score
from detectors.service import detector_classes
from policies.service import decide_pending

ISO_JST = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+09:00$")


@pytest.fixture
def decided(engine: Engine, settings: Settings, small_city):  # type: ignore[no-untyped-def]
    collect(engine, settings, small_city.inputs)
    decide_pending(engine, settings)
    return small_city


def _alerts(engine: Engine, settings: Settings):  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return alerts_repo.alerts_frame(connection, settings.municipality_code)


def test_every_catalogue_detector_is_installed_with_its_declarations():
    classes = detector_classes()
    assert list(classes) == [f"D{n:02d}" for n in range(1, 22)]
    for code, cls in classes.items():
        assert cls.severity in ("critical", "high", "medium", "low"), code
        assert cls.title_ja and cls.title_en and cls.control, code
        cls()  # the defaults are valid


def test_detect_finds_the_planted_incidents_and_stores_each_finding_once(
    engine: Engine, settings: Settings, env_for_cli: dict[str, str], decided
):  # type: ignore[no-untyped-def]
    first = auditd(env_for_cli, "detect")
    assert first.returncode == 0, first.stdout + first.stderr
    alerts = _alerts(engine, settings)
    assert len(alerts) > 0
    assert f"{len(alerts):,} new alerts" in first.stdout

    again = auditd(env_for_cli, "detect", "--since", "2026-01-05", "--until", "2026-01-19")
    assert again.returncode == 0, again.stdout + again.stderr
    assert " 0 new alerts" in again.stdout
    assert len(_alerts(engine, settings)) == len(alerts)

    truth = json.loads((decided.out_dir / "truth.json").read_text(encoding="utf-8"))
    pseudonyms = Pseudonymiser(settings.secret("pseudonym_key"), settings.municipality_code)
    quality = score(alerts, truth, pseudonyms.one, user_days=1)
    assert quality.missed == [], quality.as_dict()

    with engine.connect() as connection:
        actions = [e.action for e in connection.execute(select(TrailEntry)).all()]
        # the anomaly model's history: one row per account and day detected, the same after a re-run
        days = alerts_repo.user_days(connection, settings.municipality_code, date(2026, 1, 1), date(2026, 3, 1))
    assert "detect" in actions
    assert len(days) > 0 and not days.duplicated(["user_id", "day"]).any()
    assert set(days["day"].dt.strftime("%Y-%m")) == {"2026-01"}  # the small city's two weeks


def test_alerts_export_jsonl_and_csv_with_offsets_and_event_ids(
    engine: Engine, settings: Settings, env_for_cli: dict[str, str], decided, tmp_path
):  # type: ignore[no-untyped-def]
    assert auditd(env_for_cli, "detect").returncode == 0
    exported = auditd(env_for_cli, "alerts", "export", "--format", "jsonl")
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
    assert len(lines) == len(_alerts(engine, settings))
    for item in lines:
        assert {"alert_id", "rule", "severity", "user_id", "terminal_id", "subjects", "start", "end", "event_ids",
                "title", "explanation"} <= set(item)  # fmt: skip
        assert ISO_JST.match(item["start"]) and ISO_JST.match(item["end"]), item
        assert isinstance(item["event_ids"], list) and isinstance(item["subjects"], list)
        assert item["rule"] in detector_classes()
        # residents are pseudonyms, never the synthetic 宛名番号 of the city
        assert all(re.fullmatch(r"[0-9a-f]{32}", s) for s in item["subjects"]), item["subjects"]
    assert any(item["event_ids"] for item in lines)

    only = auditd(env_for_cli, "alerts", "export", "--format", "jsonl", "--rule", "D01")
    assert {json.loads(x)["rule"] for x in only.stdout.splitlines()} <= {"D01"}

    out = tmp_path / "alerts.csv"
    written = auditd(env_for_cli, "alerts", "export", "--format", "csv", "--out", str(out), "--since", "2026-01-12")
    assert written.returncode == 0, written.stderr
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM: Excel opens UTF-8 as UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows and all(r["end"] >= "2026-01-12" for r in rows)
    assert len(rows) < len(lines)

    bad = auditd(env_for_cli, "alerts", "export", "--format", "xml")
    assert bad.returncode != 0 and "jsonl or csv" in bad.stdout + bad.stderr
    backwards = auditd(env_for_cli, "detect", "--since", "2026-01-10", "--until", "2026-01-09")
    assert backwards.returncode != 0 and "--until must be after --since" in backwards.stdout + backwards.stderr


def test_detectors_lists_the_catalogue_with_thresholds(env_for_cli: dict[str, str]):
    shown = auditd({**env_for_cli, "AUDITD_DETECTORS": '{"D13": {"dormant_days": 90}}'}, "detectors", "--json")
    assert shown.returncode == 0, shown.stderr
    rows = {r["code"]: r for r in json.loads(shown.stdout)}
    assert rows["D13"]["params"]["dormant_days"] == 90
    assert rows["D01"]["title_ja"] and rows["D01"]["control"]
    wrong = auditd({**env_for_cli, "AUDITD_DETECTORS": '{"D99": {}}'}, "detectors")
    assert wrong.returncode != 0 and "D99" in wrong.stdout + wrong.stderr
