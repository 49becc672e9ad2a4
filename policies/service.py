"""Deciding events: the policy in force, its versions, and the decide step over undecided batches."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine

from auditd.decisions import repository as decisions_repo
from auditd.events import repository as events_repo
from auditd.settings import Settings
from auditd.trail.service import record
from policies.context import load_context
from policies.engine import EVENT_INPUT, evaluate, tables_for, violations
from policies.loader import LoadedPolicy, load_configured
from policies.model import Policy

#: Events judged per transaction: large enough for vectorised joins, small enough for memory.
DECIDE_EVENTS = 200_000


@dataclass
class Version:
    id: int
    valid_from: datetime
    policy: Policy


@dataclass
class DecideSummary:
    events: int = 0
    batches: int = 0
    seconds: float = 0.0
    by_rule: Counter[str] = field(default_factory=Counter)
    version_id: int | None = None

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def violations(self) -> int:
        return sum(self.by_rule.values())


def current_policy(settings: Settings) -> LoadedPolicy:
    return load_configured(settings.policy_dir)


def role_sections(settings: Settings) -> dict[str, tuple[str, ...]]:
    """The roles of the policy in force and the sections whose staff may hold each (empty: any).

    Registered under ``auditd.roles``: the rights lifecycle (``auditd.rights``) checks requested roles
    and transfers against it without importing this package."""
    return {name: tuple(role.sections) for name, role in current_policy(settings).policy.roles.items()}


def ensure_version(connection: Connection, municipality_code: str, loaded: LoadedPolicy, actor: str = "system") -> int:
    """The id of this policy's version, registering it (valid from now, or its ``meta.valid_from``)."""
    existing = decisions_repo.version_by_digest(connection, municipality_code, loaded.digest)
    if existing is not None:
        return existing
    now = datetime.now(UTC)
    valid_from = loaded.policy.meta.valid_from or now
    if valid_from.tzinfo is None:
        valid_from = valid_from.replace(tzinfo=UTC)
    version_id = decisions_repo.add_version(
        connection,
        municipality_code=municipality_code,
        digest=loaded.digest,
        name=loaded.policy.meta.name,
        valid_from=valid_from,
        loaded_at=now,
        sources=json.dumps(loaded.sources, ensure_ascii=False),
        content=loaded.canonical_json(),
    )
    record(
        connection,
        municipality_code,
        actor,
        "policy_version",
        "policy_version",
        str(version_id),
        {"digest": loaded.digest, "name": loaded.policy.meta.name},
    )
    return version_id


_PARSED: dict[str, Policy] = {}  # digest -> policy: a version never changes once stored


def load_versions(connection: Connection, municipality_code: str) -> list[Version]:
    versions = []
    for row in decisions_repo.versions(connection, municipality_code):
        policy = _PARSED.get(row["digest"])
        if policy is None:
            policy = _PARSED.setdefault(row["digest"], Policy.model_validate(json.loads(row["content"])))
        versions.append(Version(row["id"], row["valid_from"], policy))
    return versions


def version_for(ts: pd.Series, versions: list[Version]) -> pd.Series:
    """For each instant, the id of the version valid then.

    Versions are taken in the order they were loaded: each one decides from its ``valid_from`` on,
    over what the earlier ones said; the first one also decides everything before its own start (the
    history ingested after installation). So a version loaded today for last April changes the past
    from April only, and a late event is judged by what was valid at its own time."""
    ids = pd.Series(versions[0].id, index=ts.index)
    for version in versions[1:]:
        ids[ts >= pd.Timestamp(version.valid_from)] = version.id
    return ids


def _distinct(values: pd.Series) -> set[str]:
    return {str(v) for v in values.dropna().unique()}


def decide_events(
    connection: Connection,
    municipality_code: str,
    events: pd.DataFrame,
    versions: list[Version],
    *,
    user_id: str | None = None,
    with_roles: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(facts, violations) for ``events``, each judged by the version valid at its own time.

    ``user_id``: all ``events`` are that account's (only its sessions are loaded); ``with_roles``: add
    the roles held that day (the 「なぜ」 view)."""
    if events.empty:
        return pd.DataFrame(), pd.DataFrame()
    start, end = events["ts"].min().to_pydatetime(), events["ts"].max().to_pydatetime() + timedelta(seconds=1)
    hours = max(v.policy.authentication.session_hours for v in versions)
    context = load_context(connection, municipality_code, start, end, hours, user_id=user_id)
    chosen = version_for(events["ts"], versions)
    facts_parts, found = [], []
    for version in versions:
        part = events[chosen == version.id]
        if part.empty:
            continue
        tables = tables_for(version.policy, _distinct(part["system"]), _distinct(part["jimu"]))
        facts = evaluate(part, version.policy, context, tables, with_roles=with_roles)
        facts["policy_version_id"] = version.id
        facts_parts.append(facts)
        broken = violations(part, facts, version.policy, context)
        if not broken.empty:
            broken["policy_version_id"] = version.id
            found.append(broken)
    all_facts = pd.concat(facts_parts) if facts_parts else pd.DataFrame()
    all_found = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
    return all_facts, all_found


def group_batches(batches: list[dict[str, Any]], size: int = DECIDE_EVENTS) -> list[list[dict[str, Any]]]:
    """Consecutive ingest batches in groups of about ``size`` events (a batch is never split)."""
    groups: list[list[dict[str, Any]]] = []
    count = 0
    for batch in batches:
        if not groups or (groups[-1] and count + batch["event_count"] > size):
            groups.append([])
            count = 0
        groups[-1].append(batch)
        count += batch["event_count"]
    return groups


def decide_pending(
    engine: Engine,
    settings: Settings,
    municipality_code: str | None = None,
    *,
    actor: str = "system",
    progress: Callable[[int], None] | None = None,
) -> DecideSummary:
    """Decide every event of the batches not decided yet, oldest first, ~200,000 events per transaction."""
    code = municipality_code or settings.municipality_code
    summary = DecideSummary()
    started = time.perf_counter()
    with engine.begin() as connection:
        summary.version_id = ensure_version(connection, code, current_policy(settings), actor)
    while True:
        with engine.begin() as connection:
            versions = load_versions(connection, code)
            pending = decisions_repo.undecided_batches(connection, code, limit=2000)
            if not pending:
                break
            group = group_batches(pending)[0]
            first = min(b["min_ts"] for b in group)
            last = max(b["max_ts"] for b in group)
            events = events_repo.events_of_batches(
                connection, code, [b["id"] for b in group], first, last, columns=EVENT_INPUT
            )
            _facts, found = decide_events(connection, code, events, versions)
            now = datetime.now(UTC)
            if not found.empty:
                found["municipality_code"] = code
                found["decided_at"] = pd.Timestamp(now)
                decisions_repo.insert_violations(connection, found)
                summary.by_rule.update(found["rule"].tolist())
            decisions_repo.mark_decided(connection, [b["id"] for b in group], int(summary.version_id), now)
        summary.events += len(events)
        summary.batches += len(group)
        if progress is not None:
            progress(summary.events)
    summary.seconds = time.perf_counter() - started
    if summary.batches:
        with engine.begin() as connection:
            record(
                connection,
                code,
                actor,
                "decide",
                "policy_version",
                str(summary.version_id),
                {"events": summary.events, "batches": summary.batches, "violations": dict(summary.by_rule)},
            )
    return summary
