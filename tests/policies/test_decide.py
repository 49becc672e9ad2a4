"""Deciding stored events on both backends: the demo city, idempotence, versions, the API and CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from auditd.api.app import create_app
from auditd.auth.models import PlatformRole
from auditd.auth.testing import add_user, csrf_of, log_in
from auditd.decisions.models import Violation
from auditd.events.models import Event
from auditd.settings import Settings
from collectors.pipeline import Ingestor
from collectors.profile import resolve_profile
from collectors.service import collect
from policies.explain import explain_event
from policies.service import decide_pending

#: The rules each planted incident must raise (a subset: detectors find the rest).
EXPECTED = {
    "off_hours": {"off_hours"},
    "after_transfer": {"after_transfer"},
    "after_retirement": {"after_retirement"},
    "bulk_export": {"bulk_without_approval"},
    "other_section_terminal": {"foreign_terminal"},
    "privileged": {"out_of_scope"},
    "retired_terminal": {"retired_terminal"},
    "missing_second_factor": {"missing_factors"},
    "mynumber_out_of_role": {"mynumber_display"},
    "audit_tampering": {"out_of_scope"},
}


@pytest.fixture
def decided_city(engine: Engine, settings: Settings, small_city):  # type: ignore[no-untyped-def]
    collect(engine, settings, small_city.inputs)
    summary = decide_pending(engine, settings)
    return summary, small_city


def _violations(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(Violation))]


def test_the_demo_city_every_violation_is_a_planted_incident(engine: Engine, decided_city):  # type: ignore[no-untyped-def]
    summary, city = decided_city
    assert summary.events == city.events
    found = _violations(engine)
    truth = {i.kind: i for i in city.incidents}
    by_user: dict[str, set[str]] = {}
    for row in found:
        by_user.setdefault(str(row["user_id"]), set()).add(str(row["rule"]))
    for kind, rules in EXPECTED.items():
        users = truth[kind].users
        assert any(rules <= by_user.get(u, set()) for u in users), (kind, users, {u: by_user.get(u) for u in users})
    incident_users = {u for i in city.incidents for u in i.users}
    strays = {u: r for u, r in by_user.items() if u not in incident_users}
    assert strays == {}, f"violations outside the planted incidents (false positives): {strays}"


def test_deciding_again_adds_nothing_and_new_batches_are_decided(
    engine: Engine, settings: Settings, decided_city, tmp_path: Path
):  # type: ignore[no-untyped-def]
    before = len(_violations(engine))
    again = decide_pending(engine, settings)
    assert (again.events, again.batches) == (0, 0)
    late = tmp_path / "late.csv"
    late.write_bytes(
        (
            "操作日時,職員ID,端末ID,セッションID,業務コード,画面ID,操作区分,宛名番号,対象件数,処理結果,検索条件\r\n"
            "R08.01.14 23:30:00,nobody,T9999,,11,K0101,01,123,1,0,\r\n"
        ).encode("cp932")
    )
    Ingestor(engine, settings).ingest_file(late, resolve_profile("demo-tax"))
    third = decide_pending(engine, settings)
    assert third.events == 1
    assert set(third.by_rule) == {"unknown_account", "unregistered_terminal", "off_hours", "no_session"}
    assert len(_violations(engine)) == before + 4


def test_a_late_event_is_judged_by_the_policy_valid_at_its_own_time(
    engine: Engine, settings: Settings, small_city, tmp_path: Path
):  # type: ignore[no-untyped-def]
    collect(engine, settings, [i for i in small_city.inputs if i.kind != "events"])
    decide_pending(engine, settings)  # version 1: business hours until 17:15, valid from now
    override = tmp_path / "policy"
    override.mkdir()
    (override / "time.yaml").write_text("time:\n  business_hours: {start: '08:30', end: '18:00'}\n", encoding="utf-8")
    (override / "meta.yaml").write_text(
        "meta:\n  name: 延長\n  valid_from: '2026-01-14T00:00:00+09:00'\n", encoding="utf-8"
    )
    longer = settings.model_copy(update={"policy_dir": override})
    decide_pending(engine, longer)  # version 2, valid from 2026-01-14 (it was loaded later, for the past)
    staff = next(i for i in small_city.inputs if i.kind == "staff")
    user = "u" + staff.path.read_text(encoding="cp932").splitlines()[1].split(",")[0][1:]
    logins = tmp_path / "auth.csv"
    logins.write_text(
        "\ufefftimestamp,user,terminal,event,method,session,result\r\n"
        f"2026/01/13 08:00:00,{user},T1101-01,LOGON,PW+VEIN,X1,OK\r\n"
        f"2026/01/14 08:00:00,{user},T1101-01,LOGON,PW+VEIN,X2,OK\r\n",
        encoding="utf-8",
    )
    events = tmp_path / "late.csv"
    events.write_bytes(
        (
            "操作日時,職員ID,端末ID,セッションID,業務コード,画面ID,操作区分,宛名番号,対象件数,処理結果,検索条件\r\n"
            f"R08.01.13 17:40:00,{user},T1101-01,X1,11,K0101,01,123,1,0,\r\n"
            f"R08.01.14 17:40:00,{user},T1101-01,X2,11,K0101,01,123,1,0,\r\n"
        ).encode("cp932")
    )
    Ingestor(engine, settings).ingest_file(logins, resolve_profile("demo-auth"))
    Ingestor(engine, settings).ingest_file(events, resolve_profile("demo-tax"))
    decide_pending(engine, longer)
    rows = _violations(engine)
    late = [(r["ts"].isoformat()[:10], r["rule"], r["policy_version_id"]) for r in rows if r["user_id"] == user]
    assert late == [("2026-01-13", "off_hours", 1)], "17:40 is late by the first policy; 2026-01-14 is under the second"


def test_the_explanation_matches_the_stored_decision_and_is_served_by_role(
    engine: Engine, settings: Settings, decided_city
):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        bad = conn.execute(select(Violation.event_id).where(Violation.rule == "after_transfer").limit(1)).scalar_one()
        flagged = select(Violation.event_id)
        good_id = conn.execute(
            select(Event.event_id).where(Event.action == "view", Event.event_id.not_in(flagged)).limit(1)
        ).scalar_one()
        explanation = explain_event(conn, settings, settings.municipality_code, bad)
    assert not explanation.allowed and explanation.stored_rules == ["after_transfer", "foreign_terminal"]
    assert {v["rule"] for v in explanation.violations} == {"after_transfer", "foreign_terminal"}
    assert [s.key for s in explanation.steps] == ["account", "rights", "terminal", "time", "authentication"]

    officer = add_user(engine, settings, PlatformRole.OFFICER)
    head = add_user(engine, settings, PlatformRole.SECTION_HEAD, section_code="9999")
    client = TestClient(create_app(settings, engine))

    assert client.get(f"/api/v1/events/{bad}/decision").status_code == 401
    assert log_in(client, officer).status_code == 303
    answer = client.get(f"/api/v1/events/{bad}/decision")
    assert answer.status_code == 200 and answer.json()["allowed"] is False
    assert answer.json()["event"]["subject"] == "pseudonymised"
    assert client.get(f"/api/v1/events/{good_id}/decision").json()["allowed"] is True
    assert client.get("/api/v1/events/not-an-id/decision").status_code == 422
    assert client.get("/api/v1/events/000000000000zz008000000000000000/decision").status_code == 422, "hex, then not"
    assert client.get("/api/v1/events/00000000000070008000000000000000/decision").status_code == 404
    client.post("/logout", data={"csrf": csrf_of(client.get("/").text)})
    assert log_in(client, head).status_code == 303
    assert client.get(f"/api/v1/events/{bad}/decision").status_code == 403, "another section's staff"


def test_cli_explain_and_decide(engine: Engine, settings: Settings, env_for_cli: dict[str, str], small_city):  # type: ignore[no-untyped-def]
    collect(engine, settings, small_city.inputs)
    done = subprocess.run(
        [sys.executable, "-m", "auditd", "decide"],
        env=env_for_cli,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "P12 異動後の旧権限" in done.stdout
    with engine.connect() as conn:
        bad = (
            conn.execute(select(Violation.event_id).where(Violation.rule == "bulk_without_approval")).scalars().first()
        )
    shown = subprocess.run(
        [sys.executable, "-m", "auditd", "policy", "explain", bad],
        env=env_for_cli,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert "P11" in shown.stdout and "出力承認" in shown.stdout and "✗" in shown.stdout
    as_json = subprocess.run(
        [sys.executable, "-m", "auditd", "policy", "explain", bad, "--json"],
        env=env_for_cli,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert "P11" in [v["code"] for v in json.loads(as_json.stdout)["violations"]]


def test_counts_by_rule_cover_every_incident_kind_once(engine: Engine, decided_city):  # type: ignore[no-untyped-def]
    counts = Counter(str(r["rule"]) for r in _violations(engine))
    assert set(counts) >= {r for rules in EXPECTED.values() for r in rules}
