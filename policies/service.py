"""Deciding events: the policy in force, its versions, and the decide step over undecided batches."""

from __future__ import annotations

import difflib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from sqlalchemy import Connection, Engine, case, func, select

from auditd.decisions import repository as decisions_repo
from auditd.errors import ValidationFailed
from auditd.events import repository as events_repo
from auditd.reference import repository as reference_repo
from auditd.reference.models import CalendarDay, Terminal
from auditd.settings import Settings
from auditd.store.base import table_of
from auditd.trail.service import record
from policies.context import load_context, municipal_calendar
from policies.engine import EVENT_INPUT, evaluate, tables_for, violations
from policies.loader import DEFAULTS_DIR, LoadedPolicy, canonical_json, load_configured
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


# -- reads for the dashboard's ポリシー page -------------------------------------------------------------
# Read only: nothing here registers a version or changes what is decided.


@dataclass(frozen=True)
class PolicyProblem:
    """One error of the policy files as ``auditd policy validate`` reports it: the file, the key in it
    (None when the file as a whole is wrong: unreadable, not YAML) and what was expected."""

    file: str
    key: str | None
    expected: str


@dataclass
class PolicyCheck:
    """The configured policy files validated: the merged policy, or every problem found."""

    loaded: LoadedPolicy | None
    problems: list[PolicyProblem]
    files: list[str]


def _policy_files(policy_dir: Path | None) -> list[str]:
    found: list[str] = []
    for layer in (DEFAULTS_DIR, policy_dir):
        if layer is None:
            continue
        if layer.is_dir():
            found.extend(str(p) for p in sorted(layer.iterdir()) if p.suffix in (".yaml", ".yml"))
        elif layer.is_file():
            found.append(str(layer))
    return found


def _problem(text: str, files: list[str]) -> PolicyProblem:
    """``"<file>: <key>: <message>"`` (the loader's wording) split into its parts. The file is matched
    against the files read, longest first, so a path holding ``": "`` is still found whole."""
    file = next((f for f in sorted(files, key=len, reverse=True) if text.startswith(f + ": ")), None)
    if file is None:
        file, _, rest = text.partition(": ")
    else:
        rest = text[len(file) + 2 :]
    key, separator, message = rest.partition(": ")
    if not separator or not key or " " in key.strip() or "\n" in key:
        return PolicyProblem(file, None, rest)  # about the whole file: not YAML, not a mapping, unreadable
    return PolicyProblem(file, key, message)


def problems_of(error: ValidationFailed, files: list[str]) -> list[PolicyProblem]:
    """The problems listed in the loader's error (one ``  - …`` item each; an item may span lines)."""
    _head, _, body = error.message.partition("\n")
    if not body:
        return [PolicyProblem("policy", None, error.message)]
    items = body.removeprefix("  - ").split("\n  - ")
    return [_problem(item, files) for item in items]


def check_configured(settings: Settings) -> PolicyCheck:
    """Validate the configured policy as ``auditd policy validate AUDITD_POLICY_DIR`` does (the defaults
    alone when no directory is configured), collecting every problem instead of raising."""
    files = _policy_files(settings.policy_dir)
    try:
        loaded = current_policy(settings)
    except ValidationFailed as exc:
        return PolicyCheck(None, problems_of(exc, files), files)
    return PolicyCheck(loaded, [], files)


@dataclass(frozen=True)
class RecordedVersion:
    """A stored policy version as the page lists it."""

    id: int
    name: str
    digest: str
    valid_from: datetime
    loaded_at: datetime
    sources: list[str]
    in_force: bool  # decides events from now on (the newest loaded version already valid)
    configured: bool  # the same rules as the configured files


def recorded_versions(
    connection: Connection, municipality_code: str, configured_digest: str | None, now: datetime
) -> list[RecordedVersion]:
    """Every version in the order loaded, marked as :func:`version_for` chooses for ``now``."""
    rows = decisions_repo.versions(connection, municipality_code)
    in_force: int | None = rows[0]["id"] if rows else None
    for row in rows[1:]:
        if row["valid_from"] <= now:
            in_force = row["id"]
    return [
        RecordedVersion(
            id=row["id"],
            name=row["name"],
            digest=row["digest"],
            valid_from=row["valid_from"],
            loaded_at=row["loaded_at"],
            sources=list(json.loads(row["sources"] or "[]")),
            in_force=row["id"] == in_force,
            configured=row["digest"] == configured_digest,
        )
        for row in rows
    ]


def version_policy(connection: Connection, municipality_code: str, version_id: int) -> Policy | None:
    """A stored version's policy (None: no such version of this municipality)."""
    for version in load_versions(connection, municipality_code):
        if version.id == version_id:
            return version.policy
    return None


def policy_yaml(policy: Policy) -> str:
    """The policy as YAML with sorted keys: the canonical JSON made readable, line by line, for a diff."""
    data = json.loads(canonical_json(policy))
    return str(yaml.safe_dump(data, allow_unicode=True, sort_keys=True, default_flow_style=False, width=100))


@dataclass(frozen=True)
class DiffLine:
    kind: str  # file | hunk | add | remove | same
    text: str


def policy_diff(old: Policy, new: Policy, old_name: str, new_name: str) -> list[DiffLine]:
    """A unified diff of two policies' canonical YAML (empty: the same rules)."""
    lines = difflib.unified_diff(
        policy_yaml(old).splitlines(), policy_yaml(new).splitlines(), old_name, new_name, n=3, lineterm=""
    )
    shown = []
    for line in lines:
        if line.startswith(("---", "+++")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        else:
            kind = {"+": "add", "-": "remove"}.get(line[:1], "same")
        shown.append(DiffLine(kind, line))
    return shown


@dataclass(frozen=True)
class CalendarSummary:
    """The municipal calendar the time rules are judged against."""

    feed_days: int  # days of the calendar feed loaded (0: the national holidays and 年末年始 are used)
    feed_first: date | None
    feed_last: date | None
    feed_closed: int
    upcoming: list[tuple[date, str]]  # closed weekdays ahead (holidays, 年末年始, closures of the feed)


def calendar_summary(connection: Connection, municipality_code: str, today: date, days: int = 92) -> CalendarSummary:
    """What the feed holds, and the weekdays the city hall is closed in the next ``days`` days, as the
    policy engine sees them (the feed where it has the day, else the national calendar)."""
    table = table_of(CalendarDay)
    count, first, last, closed = connection.execute(
        select(
            func.count(),
            func.min(table.c.day),
            func.max(table.c.day),
            func.coalesce(func.sum(case((table.c.is_open, 0), else_=1)), 0),
        ).where(table.c.municipality_code == municipality_code)
    ).one()
    end = today + timedelta(days=days)
    stored = reference_repo.frame_between(connection, CalendarDay, municipality_code, "day", today, end)
    calendar = municipal_calendar(stored, today, end)
    weekdays = calendar[(~calendar["is_open"].astype(bool)) & (calendar["day"].dt.day_of_week < 5)]
    upcoming = [(day.date(), str(name or "")) for day, name in zip(weekdays["day"], weekdays["name"], strict=True)]
    return CalendarSummary(int(count), first, last, int(closed or 0), upcoming)


def terminals_by_segment(connection: Connection, municipality_code: str, today: date) -> dict[str, int]:
    """Registered terminals not retired by ``today``, by network segment."""
    table = table_of(Terminal)
    stmt = (
        select(table.c.segment, func.count())
        .where(
            table.c.municipality_code == municipality_code,
            (table.c.retired_on.is_(None)) | (table.c.retired_on > today),
        )
        .group_by(table.c.segment)
    )
    return {str(segment): int(n) for segment, n in connection.execute(stmt)}
