"""Helpers of the rights tests: the personnel register they import, and small request helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

TODAY = datetime.now(UTC).astimezone(ZoneInfo("Asia/Tokyo")).date()  # the day it is for people
#: Staff of the register: S001 and S002 in 1101 (市民税課), S003 in 1102 (資産税課).
STAFF_CSV = (
    "staff_id,name,employment,retired_on\nS001,田中 一郎,regular,\nS002,鈴木 花子,regular,\nS003,高橋 三郎,regular,\n"
)
SINCE = TODAY - timedelta(days=400)


def assignments_csv(*extra: str, s001_until: date | None = None) -> str:
    until = s001_until.isoformat() if s001_until else ""
    rows = [
        "staff_id,section_code,valid_from,valid_to",
        f"S001,1101,{SINCE},{until}",
        f"S002,1101,{SINCE},",
        f"S003,1102,{SINCE},",
        *extra,
    ]
    return "\n".join(rows) + "\n"


@dataclass
class People:
    """Logged-in clients, one per person."""

    officer: TestClient  # sato
    officer2: TestClient  # ito
    head_1101: TestClient  # 所属長 of 市民税課
    head_1102: TestClient  # 所属長 of 資産税課
    auditor: TestClient


def import_feed(client: TestClient, kind: str, text: str) -> None:
    """Import a reference feed the way a person does it: the file as the body of the import route."""
    response = client.post(f"/api/v1/import/{kind}", content=text.encode(), headers={"content-type": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.json()["quarantined"] == 0, response.json()


Register = Callable[..., None]


def request_grant(client: TestClient, user_id: str = "u-s001", role: str = "tax_resident", **body: object) -> int:
    answer = client.post(
        "/api/v1/rights/requests",
        json={"user_id": user_id, "role": role, "valid_from": str(SINCE), "reason": "課税担当に配属", **body},
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])
