"""Collect: what the CLI, the API and the pipeline step call. Reference feeds first, then logs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Select, func, select

from auditd.errors import ValidationFailed
from auditd.events import repository as events_repo
from auditd.events.models import IngestRun, QuarantinedRecord
from auditd.pipeline import InputFile
from auditd.reference.repository import REFERENCE_ORDER
from auditd.settings import Settings
from auditd.store.base import table_of
from auditd.trail.models import TrailEntry
from collectors.pipeline import Ingestor, IngestSummary
from collectors.profile import Profile, builtin_profiles, load_profile_file, resolve_profile
from collectors.push import repository as push_repo
from collectors.push import service as push_service
from collectors.push.schemas import SourceList
from collectors.reference import ImportSummary, ReferenceImporter


def _bind(progress: Callable[[InputFile, int], None] | None, item: InputFile) -> Callable[[int], None] | None:
    if progress is None:
        return None

    def report(position: int) -> None:
        progress(item, position)

    return report


def collect(
    engine: Engine,
    settings: Settings,
    inputs: Sequence[InputFile],
    *,
    municipality_code: str | None = None,
    actor: str = "system",
    on_done: Callable[[InputFile, IngestSummary | ImportSummary], None] | None = None,
    progress: Callable[[InputFile, int], None] | None = None,
) -> list[IngestSummary | ImportSummary]:
    """Import every reference feed (in dependency order), then ingest every log file."""
    rank = {kind: i for i, kind in enumerate(REFERENCE_ORDER)}
    ordered = sorted(inputs, key=lambda i: (i.kind == "events", rank.get(i.kind, 99)))
    importer = ReferenceImporter(engine, settings, municipality_code)
    ingestor = Ingestor(engine, settings, municipality_code)
    results: list[IngestSummary | ImportSummary] = []
    for item in ordered:
        profile = resolve_profile(item.profile)
        result: IngestSummary | ImportSummary
        if item.kind == "events":
            result = ingestor.ingest_file(item.path, profile, progress=_bind(progress, item), actor=actor)
        else:
            result = importer.import_file(item.path, profile, actor=actor)
        results.append(result)
        if on_done is not None:
            on_done(item, result)
    return results


# -- reads for the dashboard's 取込 page ---------------------------------------------------------------
# Read only, scoped by municipality; what a role may see of them is the page's decision.


def source_health(connection: Connection, municipality_code: str) -> SourceList:
    """The sources and whether each has gone silent, measured as the overview measures it: against
    the newest stored event (a demo or an imported archive is not "silent" for being old), with the
    API's rule for the limit (the source's own ``max_silence_hours``, else the overview's)."""
    as_of = events_repo.latest_event_ts(connection, municipality_code) or datetime.now(UTC)
    return push_service.source_health(connection, municipality_code, as_of)


@dataclass(frozen=True)
class Page:
    """One page of a list, newest first; ``has_next`` without counting the whole table."""

    rows: list[dict[str, Any]]
    number: int
    size: int
    has_next: bool


def _page(connection: Connection, stmt: Select[Any], number: int, size: int) -> Page:
    rows = [dict(r._mapping) for r in connection.execute(stmt.offset((number - 1) * size).limit(size + 1))]
    return Page(rows[:size], number, size, len(rows) > size)


def runs_page(connection: Connection, municipality_code: str, *, number: int, size: int) -> Page:
    """Ingest runs (files, pushes, listener sessions, reference imports), newest first."""
    table = table_of(IngestRun)
    columns = [c for c in table.c if c.name != "identity_window"]  # checkpoint bookkeeping, not for people
    stmt = select(*columns).where(table.c.municipality_code == municipality_code).order_by(table.c.id.desc())
    return _page(connection, stmt, number, size)


def run_exists(connection: Connection, municipality_code: str, run_id: int) -> bool:
    table = table_of(IngestRun)
    stmt = select(table.c.id).where(table.c.municipality_code == municipality_code, table.c.id == run_id)
    return connection.execute(stmt).first() is not None


def quarantine_page(
    connection: Connection,
    municipality_code: str,
    *,
    reason: str | None,
    run_id: int | None,
    number: int,
    size: int,
) -> Page:
    """Quarantined records of a reason and/or a run, newest first (the run filter uses its index)."""
    table = table_of(QuarantinedRecord)
    stmt = select(table).where(table.c.municipality_code == municipality_code)
    if run_id is not None:
        stmt = stmt.where(table.c.run_id == run_id)
    if reason is not None:
        stmt = stmt.where(table.c.reason_code == reason)
    return _page(connection, stmt.order_by(table.c.id.desc()), number, size)


def quarantine_counts(connection: Connection, municipality_code: str, *, run_id: int | None = None) -> dict[str, int]:
    """Quarantined records by reason code, most frequent first: all of them, or one run's."""
    if run_id is None:
        return push_repo.quarantine_counts(connection, municipality_code, source=None)
    counts = push_repo.quarantine_reasons_of_run(connection, municipality_code, run_id)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


@dataclass(frozen=True)
class PushTokenUse:
    """When a push source's token was last used, and last refused (a wrong or an old token)."""

    last_used: datetime | None
    last_refused: datetime | None


def push_token_use(connection: Connection, municipality_code: str, names: Iterable[str]) -> dict[str, PushTokenUse]:
    """From the trail, where each push and each refused push is recorded under ``source:<name>``
    (read through the trail's actor index)."""
    actors = {f"source:{name}": name for name in names}
    if not actors:
        return {}
    stmt = (
        select(TrailEntry.actor, TrailEntry.action, func.max(TrailEntry.ts))
        .where(
            TrailEntry.municipality_code == municipality_code,
            TrailEntry.actor.in_(list(actors)),
            TrailEntry.action.in_(("ingest", "push_replayed", "push_refused")),
        )
        .group_by(TrailEntry.actor, TrailEntry.action)
    )
    used: dict[str, datetime] = {}
    refused: dict[str, datetime] = {}
    for actor, action, ts in connection.execute(stmt):
        into = refused if action == "push_refused" else used
        if actor not in into or ts > into[actor]:
            into[actor] = ts
    return {name: PushTokenUse(used.get(actor), refused.get(actor)) for actor, name in actors.items()}


@dataclass(frozen=True)
class ProfileInfo:
    """A mapping profile as the page lists it: a built-in one, or one a source names by path."""

    reference: str  # the built-in name, or the file's path
    builtin: bool
    name: str | None
    kind: str | None
    format: str | None
    description: str
    error: str | None  # why it cannot be loaded (a configured file that moved or is not valid)
    used_by: tuple[str, ...]  # sources read with it


_PROFILES: dict[tuple[str, int], Profile] = {}  # (path, mtime): a file is parsed again only when it changes


def _load(path: Path) -> Profile:
    key = (str(path), path.stat().st_mtime_ns)
    profile = _PROFILES.get(key)
    if profile is None:
        profile = _PROFILES[key] = load_profile_file(path)
    return profile


def _info(reference: str, path: Path | None, builtin: bool, used_by: tuple[str, ...]) -> ProfileInfo:
    try:
        if path is None:
            raise ValidationFailed(f"no profile named {reference!r}")
        profile = _load(path)
    except (OSError, ValidationFailed) as exc:
        message = exc.message if isinstance(exc, ValidationFailed) else f"{path}: {exc.strerror}"
        return ProfileInfo(reference, builtin, None, None, None, "", message, used_by)
    return ProfileInfo(
        reference, builtin, profile.name, profile.kind, profile.format, profile.description, None, used_by
    )


def available_profiles(sources: Iterable[tuple[str, str]]) -> list[ProfileInfo]:
    """The built-in profiles (entry point ``auditd.profiles``), then the profiles registered sources
    name that are not built-in (a YAML file's path), each with the sources that use it.

    ``sources``: (source name, profile reference) pairs."""
    users: dict[str, list[str]] = {}
    for name, reference in sources:
        users.setdefault(reference, []).append(name)
    builtin = builtin_profiles()
    listed = [_info(name, path, True, tuple(users.pop(name, ()))) for name, path in builtin.items()]
    for reference, names in sorted(users.items()):
        if Path(reference).suffix in (".yaml", ".yml") or "/" in reference:
            listed.append(_info(reference, Path(reference), False, tuple(names)))
        else:  # a profile's own name, stored by a file ingest: its file is given to each `auditd ingest`
            listed.append(ProfileInfo(reference, False, reference, None, None, "", None, tuple(names)))
    return listed
