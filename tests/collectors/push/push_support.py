"""Helpers shared by the tests of the HTTP side of collection (plain functions; fixtures are in conftest)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, text

PASSWORD = "correct horse battery"


def welfare_line(minute: int, *, op: str = "VIEW", note: str = "", atena: str = "0000012345", seq: int = 0) -> str:
    """One record of the demo welfare system's JSON-lines log (profile demo-welfare)."""
    return json.dumps(
        {
            "time": f"2026-02-03T09:{minute:02d}:00+09:00",
            "operator": {"id": "w001", "terminal": "T2101-01"},
            "session": "S1",
            "business": "kokuho",
            "op": op,
            "screen": "K0101",
            "target": {"atena": atena},
            "count": 1,
            "status": "OK",
            "note": note,
            "seq": seq or minute,
        },
        ensure_ascii=False,
    )


def rows(engine: Engine, sql: str, **params: object) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())


def count(engine: Engine, table: str) -> int:
    return int(rows(engine, f"SELECT count(*) FROM {table}")[0][0])


def trail(engine: Engine) -> list[tuple[str, str, str | None]]:
    return [(r.actor, r.action, r.target_id) for r in rows(engine, "SELECT * FROM trail ORDER BY id")]
