"""A contract recorded through the real API changes the very next decision: recording a contract and
putting an operator under it bump the reference generation, so the engine's cached reference data
(the contracts' work windows among it) is read again. On both backends."""

from __future__ import annotations

import pandas as pd
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from auditd.auth.models import PlatformRole
from auditd.auth.testing import add_user, log_in
from auditd.reference import repository as reference_repo
from auditd.settings import Settings
from policies.engine import EVENT_INPUT
from policies.service import current_policy, decide_events, ensure_version, load_versions

STAFF = "staff_id,name,employment,retired_on\nS001,田中 一郎,regular,\nS004,山本 四郎,contractor,\n"
ASSIGNMENTS = "staff_id,section_code,valid_from,valid_to\nS001,1101,2025-04-01,\nS004,1101,2025-04-01,\n"
#: Monday 2 February 2026: 17:05 is within the office's hours (08:30–17:15), not a 09:00–17:00 contract's
TIMES = ["2026-02-02 10:00", "2026-02-02 17:05"]


def _events() -> pd.DataFrame:
    rows = [
        {
            "event_id": bytes([n]) * 16,
            "ts": pd.Timestamp(when, tz="Asia/Tokyo").tz_convert("UTC"),
            "user_id": user,
            "terminal_id": "T1",
            "session_id": None,
            "system": "税務",
            "jimu": "個人住民税",
            "action": "view",
            "subject_count": 1,
            "auth_factors": None,
            "result": "success",
        }
        for n, (user, when) in enumerate((u, t) for u in ("u-s004", "u-s001") for t in TIMES)
    ]
    return pd.DataFrame(rows, columns=EVENT_INPUT)


def _off_hours(engine: Engine, settings: Settings) -> list[bool]:
    """``off_hours`` for the contractor's two events, then the regular employee's, as decided now."""
    code = settings.municipality_code
    with engine.connect() as conn:
        facts, _found = decide_events(conn, code, _events(), load_versions(conn, code))
    return [bool(v) for v in facts["v_off_hours"]]


def _generation(engine: Engine, settings: Settings) -> int:
    with engine.connect() as conn:
        return reference_repo.generation(conn, settings.municipality_code)


def test_a_contract_recorded_through_the_api_changes_the_next_decision(
    app: FastAPI, engine: Engine, settings: Settings
) -> None:
    officer = add_user(engine, settings, PlatformRole.OFFICER, "sato")
    client = TestClient(app)
    assert log_in(client, officer).status_code == 303
    for kind, text in (("staff", STAFF), ("assignments", ASSIGNMENTS)):
        answer = client.post(f"/api/v1/import/{kind}", content=text.encode(), headers={"content-type": "text/csv"})
        assert answer.status_code == 200, answer.text
    for staff_id in ("S001", "S004"):
        body = {"user_id": f"u-{staff_id.lower()}", "staff_id": staff_id}
        assert client.post("/api/v1/rights/accounts", json=body).status_code == 200
    with engine.begin() as conn:
        ensure_version(conn, settings.municipality_code, current_policy(settings))

    assert _off_hours(engine, settings) == [False, False, False, False]  # and the reference data is cached now

    before = _generation(engine, settings)
    answer = client.post(
        "/api/v1/rights/contracts",
        json={
            "contract_number": "R7-委託-001",
            "contractor": "株式会社サンプル情報",
            "valid_from": "2026-01-01",
            "valid_to": "2026-04-01",
            "window_start": "09:00",
            "window_end": "17:00",
            "weekdays": "12345",
        },
    )
    assert answer.status_code == 201, answer.text
    assert _generation(engine, settings) > before
    assert _off_hours(engine, settings) == [False, False, False, False], "nobody works under it yet"

    before = _generation(engine, settings)
    contract_id = answer.json()["id"]
    body = {"staff_id": "S004", "pledge_date": "2026-01-05"}
    assert client.post(f"/api/v1/rights/contracts/{contract_id}/operators", json=body).status_code == 200
    assert _generation(engine, settings) > before
    # the contractor at 17:05 is now outside the contract's window; the regular employee is unaffected
    assert _off_hours(engine, settings) == [False, True, False, False]
