"""Helpers of the recertification campaign tests: grants issued through the API and the use of
accounts as the ``account_days`` rollup records it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from rights_support import TODAY, People, request_grant
from sqlalchemy import Engine, insert

from auditd.events.models import AccountDay
from auditd.settings import Settings


def grant(people: People, user_id: str, role: str) -> int:
    """A grant requested by one officer and approved by the other, through the API."""
    request_id = request_grant(people.officer, user_id, role)
    answer = people.officer2.post(f"/api/v1/rights/requests/{request_id}/approve", json={})
    assert answer.status_code == 200, answer.text
    return int(answer.json()["grant"]["id"])


def use(engine: Engine, settings: Settings, user_id: str, *days: date, events: int = 5) -> None:
    """The ``account_days`` rollup as ingest leaves it: ``events`` events on each day."""
    rows = [
        {
            "municipality_code": settings.municipality_code,
            "day": day,
            "user_id": user_id,
            "events": events,
            "outputs": 0,
            "subjects": events,
            "logins": 1,
            "first_ts": datetime.combine(day, time(0), tzinfo=UTC),
            "last_ts": datetime.combine(day, time(8), tzinfo=UTC),
        }
        for day in days
    ]
    with engine.begin() as conn:
        conn.execute(insert(AccountDay), rows)


def make_ledger(people: People, engine: Engine, settings: Settings) -> dict[str, int]:
    """Four active grants: u-s001 tax_resident (used), u-s002 tax_resident and linkage (unused) in 1101,
    u-s003 tax_property in 1102 (used)."""
    grants = {
        "s001": grant(people, "u-s001", "tax_resident"),
        "s002": grant(people, "u-s002", "tax_resident"),
        "s002-link": grant(people, "u-s002", "linkage"),
        "s003": grant(people, "u-s003", "tax_property"),
    }
    use(engine, settings, "u-s001", TODAY - timedelta(days=3), TODAY - timedelta(days=10))
    use(engine, settings, "u-s003", TODAY - timedelta(days=40))
    use(engine, settings, "u-s002", TODAY - timedelta(days=200))  # used long ago: outside the window
    return grants
