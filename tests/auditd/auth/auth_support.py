"""Helpers shared by the tests of the platform's own security (plain functions; fixtures are in conftest)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from auditd.auth.models import ApiToken, PlatformUser
from auditd.trail.models import TrailEntry

#: The ``make_client`` fixture: a client of a new application; keyword arguments set its security settings.
MakeClient = Callable[..., TestClient]


def trail(engine: Engine) -> list[dict[str, Any]]:
    """Every trail entry, oldest first, with its detail parsed."""
    with engine.connect() as conn:
        rows = conn.execute(select(TrailEntry.__table__).order_by(TrailEntry.id)).mappings().all()
    return [{**row, "detail": json.loads(row["detail"]) if row["detail"] else None} for row in rows]


def actions(engine: Engine, actor: str | None = None) -> list[str]:
    return [e["action"] for e in trail(engine) if actor is None or e["actor"] == actor]


def user_row(engine: Engine, username: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(PlatformUser.__table__).where(PlatformUser.username == username)).mappings().one()
    return dict(row)


def token_row(engine: Engine, name: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(ApiToken.__table__).where(ApiToken.name == name)).mappings().one()
    return dict(row)
