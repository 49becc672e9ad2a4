"""``auditd trail``: read the platform's own audit trail (read-only; the trail cannot be changed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer
from rich.table import Table

from auditd.cli.common import console, migrated_engine, parse_since, settings
from auditd.trail import repository


def register(app: typer.Typer) -> None:
    """Entry point (``auditd.cli``): adds ``auditd trail``."""
    app.command("trail")(trail)


def trail(
    since: str = typer.Option(None, "--since", help="Only entries since: 7d, 12h, 30m ago, or a date / ISO time."),
    actor: str = typer.Option(
        None, "--actor", help="Only entries of this actor (a username, cli:<user>, api:<token>)."
    ),
    limit: int = typer.Option(100, "--limit", min=1, max=100_000, help="At most this many entries, newest first."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line instead of a table."),
) -> None:
    """Show the platform's audit trail, newest first: logins and their failures, lockouts, second
    factors, password changes, tokens, imports … with the actor and the client address."""
    current = settings()
    engine = migrated_engine(current)
    cutoff = parse_since(since, datetime.now(UTC), current.tz) if since else None
    with engine.connect() as connection:
        rows = repository.recent(connection, current.municipality_code, limit=limit, actor=actor)
    if cutoff is not None:
        rows = [row for row in rows if row["ts"] >= cutoff]
    if as_json:
        for row in rows:
            entry = {k: row[k] for k in ("ts", "actor", "action", "target_type", "target_id", "client")}
            entry["ts"] = row["ts"].isoformat()
            entry["detail"] = json.loads(row["detail"]) if row["detail"] else None
            typer.echo(json.dumps(entry, ensure_ascii=False))
        return
    table = Table("time", "actor", "action", "target", "client", "detail")
    for row in rows:
        target = f"{row['target_type']}:{row['target_id']}" if row["target_id"] else (row["target_type"] or "")
        table.add_row(
            row["ts"].astimezone(current.tz).strftime("%Y-%m-%d %H:%M:%S"),
            row["actor"],
            row["action"],
            target,
            row["client"] or "",
            row["detail"] or "",
        )
    console.print(table)
    if len(rows) == limit:
        console.print(f"(the newest {limit} entries; --limit shows more)", highlight=False)
