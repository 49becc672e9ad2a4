"""Alerts made by hand for the cases tests, stored through the alerts repository as the detectors
store theirs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import count
from typing import Any

import pandas as pd
from sqlalchemy import Connection

from auditd.alerts import repository as alerts_repo

_numbers = count(1)
NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


def jst(when: str) -> datetime:
    return pd.Timestamp(when, tz="Asia/Tokyo").tz_convert("UTC").to_pydatetime()


def add_alert(
    connection: Connection,
    municipality_code: str,
    *,
    rule: str = "D06",
    user_id: str | None = "u1",
    section: str | None = "1101",
    subjects: tuple[str, ...] = ("aa01",),
    start: str = "2026-06-01 10:00",
    end: str | None = None,
    severity: str = "high",
    event_ids: tuple[str, ...] = (),
    detected_at: datetime = NOW,
) -> int:
    """Store one alert and return its id."""
    n = next(_numbers)
    row: dict[str, Any] = {
        "municipality_code": municipality_code,
        "fingerprint": f"test-{n:08d}-{rule}",
        "rule": rule,
        "severity": severity,
        "user_id": user_id,
        "terminal_id": None,
        "subjects": json.dumps(list(subjects)),
        "start": jst(start),
        "end": jst(end or start),
        "event_ids": json.dumps(list(event_ids)),
        "event_count": len(event_ids),
        "title": f"title of {rule}",
        "explanation": f"説明 {rule} {n}",
        "explanation_en": f"explanation {rule} {n}",
        "evidence": "{}",
        "status": "new",
        "section": section,
        "run_id": None,
        "detected_at": detected_at,
    }
    alerts_repo.insert_alerts(connection, [row])
    frame = alerts_repo.alerts_frame(connection, municipality_code)
    return int(frame.loc[frame["fingerprint"] == row["fingerprint"], "id"].iloc[0])
