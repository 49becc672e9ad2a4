"""A consortium: two municipalities in one store (one database, a server process per member, each with
its own AUDITD_MUNICIPALITY_CODE). Nothing of one is stored, decided, detected, verified, counted,
reported or shown as the other's — on SQLite and on PostgreSQL.

Both members ingest the very same log files (the worst case: identical user ids, terminals, residents'
宛名番号), so any missing ``municipality_code`` condition would mix their figures.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from auditd.api.app import create_app
from auditd.auth import tokens
from auditd.auth.models import PlatformRole
from auditd.auth.testing import add_user, log_in
from auditd.demo.generator import generate_city
from auditd.demo.world import CityConfig
from auditd.integrity.service import verify_chain
from auditd.settings import Settings
from collectors.service import collect
from detectors.service import detect
from policies.service import decide_pending
from reports.base import ReportRequest, generate

OTHER = "131016"  # 千代田区: a real code with a valid check digit


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return generate_city(tmp_path_factory.mktemp("consortium"), CityConfig(residents=1500, days=7, seed=5))


def _per_member(engine: Engine, sql: str) -> dict[str, int]:
    with engine.connect() as conn:
        return {row[0]: int(row[1]) for row in conn.execute(text(sql))}


def _case_ids(engine: Engine, code: str) -> set[int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id FROM alert_cases WHERE municipality_code = :c"), {"c": code})
        return {int(row[0]) for row in rows}


def test_two_members_share_a_store_and_see_only_their_own(engine: Engine, settings: Settings, city) -> None:  # type: ignore[no-untyped-def]
    ours = settings
    theirs = settings.model_copy(update={"municipality_code": OTHER})
    assert ours.municipality_code != OTHER

    # the same files, ingested by each member; the other member's data is not touched by either run
    collect(engine, ours, city.inputs)
    before = _per_member(engine, "SELECT municipality_code, count(*) FROM events GROUP BY municipality_code")
    assert list(before) == [ours.municipality_code]
    collect(engine, theirs, city.inputs, municipality_code=OTHER)
    events = _per_member(engine, "SELECT municipality_code, count(*) FROM events GROUP BY municipality_code")
    assert events[ours.municipality_code] == events[OTHER] == before[ours.municipality_code] > 1000

    # the rollups are per member and add up to each member's events
    hours = _per_member(engine, "SELECT municipality_code, sum(events) FROM event_hours GROUP BY municipality_code")
    assert hours == events

    # deciding one member decides nothing of the other
    first = decide_pending(engine, ours)
    assert first.events == events[ours.municipality_code] and first.violations > 0
    pending = _per_member(
        engine, "SELECT municipality_code, count(*) FROM ingest_batches WHERE decided_at IS NULL GROUP BY 1"
    )
    assert pending.get(ours.municipality_code, 0) == 0 and pending[OTHER] > 0
    second = decide_pending(engine, theirs, OTHER)
    assert (second.events, second.violations) == (first.events, first.violations)  # same data, same policy

    # detection over one member's days finds alerts in that member only; the other's run finds the same
    since, until = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 12, tzinfo=UTC)
    detect(engine, ours, since, until)
    alerts = _per_member(engine, "SELECT municipality_code, count(*) FROM alerts GROUP BY municipality_code")
    assert list(alerts) == [ours.municipality_code]
    detect(engine, theirs, since, until, municipality_code=OTHER)
    alerts = _per_member(engine, "SELECT municipality_code, count(*) FROM alerts GROUP BY municipality_code")
    assert alerts[OTHER] == alerts[ours.municipality_code] > 0

    # one chain per member: each verifies on its own
    with engine.connect() as conn:
        for member in (ours, theirs):
            report = verify_chain(conn, member, member.municipality_code)
            assert report.findings == [] and report.events == events[member.municipality_code]

    # a report of one member counts that member's events only (not both: the store holds twice as many)
    with engine.begin() as conn:
        rendered = generate(
            conn, ours, ReportRequest("monthly", ours.municipality_code, date(2026, 1, 1), date(2026, 1, 31)),
            "html", "test", "cli",
        )  # fmt: skip
    page = rendered.content.decode("utf-8")
    assert f"{events[ours.municipality_code]:,}" in page
    assert f"{2 * events[ours.municipality_code]:,}" not in page

    # an API token belongs to its member wherever it is presented: on our server, theirs reads their cases
    with engine.begin() as conn:
        their_token = tokens.create_token(conn, OTHER, "their-system", scopes=tokens.SCOPES, actor="test").token
    cases = {code: _case_ids(engine, code) for code in (ours.municipality_code, OTHER)}
    assert cases[ours.municipality_code] and cases[OTHER]
    answer = TestClient(create_app(ours, engine)).get(
        "/api/v1/cases", params={"limit": 200}, headers={"Authorization": f"Bearer {their_token}"}
    )
    assert answer.status_code == 200
    seen = {item["id"] for item in answer.json()["items"]}
    assert seen and seen <= cases[OTHER] and not seen & cases[ours.municipality_code]


def test_a_members_people_log_in_on_their_own_server_only(engine: Engine, settings: Settings) -> None:
    theirs = settings.model_copy(update={"municipality_code": OTHER})
    their_officer = add_user(engine, theirs, PlatformRole.OFFICER, "officer-b")
    our_app = TestClient(create_app(settings, engine))
    their_app = TestClient(create_app(theirs, engine))
    # the other member's officer does not exist on our server (same answer as a wrong password)
    assert log_in(our_app, their_officer).status_code != 303
    assert log_in(their_app, their_officer).status_code == 303
    me = their_app.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["municipality_code"] == OTHER
