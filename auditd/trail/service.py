"""Recording what the platform's users and jobs do. Call :func:`record` in the same transaction as
the action, so an action and its trail entry commit (or fail) together."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from auditd.trail import repository


def cli_actor() -> str:
    """The actor name for commands run from a shell: ``cli:<operating-system user>``."""
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = "unknown"
    return f"cli:{user}"


def record(
    connection: Connection,
    municipality_code: str,
    actor: str,
    action: str,
    target_type: str | None = None,
    target_id: str | None = None,
    detail: dict[str, Any] | None = None,
    client: str | None = None,
) -> None:
    """Append one entry. ``detail`` must not contain resident identifiers (pseudonyms are fine)."""
    repository.add(
        connection,
        municipality_code=municipality_code,
        ts=datetime.now(UTC),
        actor=actor[:64],
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else target_id[:128],
        detail=None if detail is None else json.dumps(detail, ensure_ascii=False, default=str, sort_keys=True),
        client=client,
    )
