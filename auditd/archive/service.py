"""Archiving whole months of events to Parquet, purging them under retention, loading them back.

**Archive** (:func:`archive_month`): one file per municipality and Japan month,
``<dir>/<municipality>/events-YYYY-MM.parquet`` (a consortium's municipalities are separate
controllers of their data, and the chain is per municipality). Before the record is written:

- the file is read back: its row count must equal the month's events in the store, and the keyed
  fingerprints of its rows must be exactly those of the stored events (not only the count);
- each batch's events of the month must be a contiguous range of the batch's seal (the seal is in
  time order, a month is a time range): the archived events are the sealed ones, untouched;
- its SHA-256 is recorded with the row count, the batches and a MAC under the chain key.

On PostgreSQL the month's partition is then detached from ``events`` (and dropped with ``drop``);
on SQLite the rows stay until retention deletes them.

**Retention** (:func:`plan_retention`, :func:`purge`): months entirely older than the retention are
purged only when every municipality with events in them has an archive whose file is still there
with its recorded SHA-256 and row count. PostgreSQL drops the detached partition. SQLite deletes the
rows: ``events`` refuses DELETE through a trigger, so the purge drops that trigger, deletes exactly
the archived month (the deleted count must equal the archive's), and creates the trigger again, all
in one transaction. SQLite's DDL is transactional: if anything fails the trigger is back as it was,
and no other connection ever sees the table without it (one writer; readers see committed states).

**The chain**: every archive row, batch range and action carries a MAC under the chain key
(:func:`archive_mac`, :func:`slice_mac`, :func:`action_mac`). ``auditd verify`` accepts a batch
whose missing events are exactly ranges recorded this way for months taken out of ``events``
(detached, dropped or deleted), and reports them as archived, not removed; any other missing event
is still reported. Someone without the key cannot forge the records to hide a deletion.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Connection, text

from auditd.archive import repository as repo
from auditd.errors import Conflict, NotFound, ValidationFailed
from auditd.events import repository as events_repo
from auditd.integrity import canonical
from auditd.settings import Settings
from auditd.store.append_only import sqlite_trigger
from auditd.store.partitions import (
    JST,
    detached_partitions,
    list_event_partitions,
    month_start,
    next_month,
    partition_bounds,
    partition_name,
)
from auditd.trail.service import record as record_trail

FORMAT = "auditd-archive-v1"
Progress = Callable[[str], None]


# -- MACs under the chain key ------------------------------------------------------------------------


def _mac(key: bytes, *parts: object) -> bytes:
    return hmac.digest(key, "\x1f".join([FORMAT, *(str(p) for p in parts)]).encode(), hashlib.sha256)


def archive_mac(key: bytes, municipality_code: str, month: date, rows: int, sha256: str) -> bytes:
    return _mac(key, "archive", municipality_code, month.isoformat(), rows, sha256)


def slice_mac(
    key: bytes, municipality_code: str, month: date, batch_id: int, first_index: int | None, events: int, prints: bytes
) -> bytes:
    """Binds a batch's archived range to the fingerprints the seal holds there (when it is sealed)."""
    return _mac(
        key,
        "slice",
        municipality_code,
        month.isoformat(),
        batch_id,
        first_index,
        events,
        hashlib.sha256(prints).hexdigest(),
    )


def action_mac(
    key: bytes, municipality_code: str, archive_id: int, month: date, action: str, rows: int, sha256: str
) -> bytes:
    return _mac(key, "action", municipality_code, archive_id, month.isoformat(), action, rows, sha256)


def _same(a: bytes | None, b: bytes) -> bool:
    return a is not None and hmac.compare_digest(bytes(a), b)


# -- months ------------------------------------------------------------------------------------------


def parse_month(text_value: str, option: str = "--before") -> date:
    try:
        year, month = (int(p) for p in text_value.strip().split("-"))
        return date(year, month, 1)
    except ValueError as exc:
        raise ValidationFailed(
            f"{option} {text_value!r} is not a month", hint="give it as YYYY-MM, e.g. 2019-04"
        ) from exc


def months_before(connection: Connection, before: date) -> list[date]:
    """The Japan months from the first stored event up to ``before`` (excluded)."""
    first = repo.first_event_ts(connection)
    if first is None:
        return []
    months, month = [], month_start(first)
    while month < before:
        months.append(month)
        month = next_month(month)
    return months


def retention_cutoff(now: datetime, years: int) -> date:
    """The first month kept: every month before it ended more than ``years`` years ago (Japan time)."""
    local = now.astimezone(JST).date()
    try:
        then = local.replace(year=local.year - years)
    except ValueError:  # 29 February
        then = local.replace(year=local.year - years, day=28)
    return month_start(then)


def default_archive_dir(settings: Settings) -> Path:
    return settings.archive_dir or settings.data_dir / "archive"


# -- Parquet -----------------------------------------------------------------------------------------

_UUID_PARTS = ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))


def _to_parquet_table(table: pa.Table) -> pa.Table:
    """The canonical columns as a person reads them: instants, ``8-4-4-4-12`` ids, booleans."""
    ids = table.column("event_id").combine_chunks()
    pieces = [pc.utf8_slice_codeunits(ids, a, b) for a, b in _UUID_PARTS]
    arrays = {}
    for name in canonical.COLUMNS:
        values = table.column(name).combine_chunks()
        if name == "ts":
            values = pc.cast(values, pa.timestamp("us", tz="UTC"))
        elif name == "event_id":
            values = pc.binary_join_element_wise(*pieces, "-")
        elif name == "pii_masked":
            values = pc.not_equal(values, 0)
        arrays[name] = values
    return pa.table(arrays)


def _from_parquet_table(table: pa.Table) -> pa.Table:
    """Back to the canonical types (the inverse of :func:`_to_parquet_table`)."""
    columns: dict[str, Any] = {}
    for name in canonical.COLUMNS:
        values = table.column(name).combine_chunks()
        if name == "ts":
            values = pc.cast(pc.cast(values, pa.timestamp("us", tz="UTC")), pa.int64())
        elif name == "event_id":
            values = pc.utf8_lower(pc.replace_substring(values, "-", ""))
        elif name == "pii_masked":
            values = pc.cast(values, pa.int64())
        columns[name] = values
    return canonical.normalise(columns)


def _prints(table: pa.Table, key: bytes) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """Keyed fingerprints of the rows, in row order (those the seals hold, see canonical.fingerprints)."""
    if table.num_rows == 0:
        return np.zeros(0, dtype=np.uint64)
    order = pa.array(np.arange(table.num_rows, dtype=np.int64))
    return np.frombuffer(canonical.fingerprints(table, order, key), dtype="<u8").astype(np.uint64)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _days(month: date) -> Iterator[tuple[datetime, datetime]]:
    """The month in Japan days, as UTC instants: one read and one row group per day."""
    start, end = partition_bounds(month)
    while start < end:
        yield start, min(start + timedelta(days=1), end)
        start += timedelta(days=1)


def _free_path(folder: Path, month: date) -> Path:
    path = folder / f"events-{month:%Y-%m}.parquet"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"events-{month:%Y-%m}.{n}.parquet"
    return path


# -- archiving ---------------------------------------------------------------------------------------


@dataclass
class ArchivedFile:
    municipality_code: str
    month: date
    path: Path
    rows: int
    sha256: str
    archive_id: int | None = None
    skipped: str | None = None  # why nothing was written


@dataclass
class MonthResult:
    month: date
    files: list[ArchivedFile] = field(default_factory=list)
    detached: str | None = None
    dropped: bool = False
    note: str | None = None


def archive_month(
    connection: Connection,
    settings: Settings,
    month: date,
    out_dir: Path,
    *,
    actor: str,
    drop: bool = False,
) -> MonthResult:
    """Archive one Japan month of every municipality's events (see the module docstring). One
    transaction: the caller commits (files written before a failure are left, unrecorded)."""
    result = MonthResult(month)
    start, end = partition_bounds(month)
    postgres = connection.dialect.name == "postgresql"
    name = partition_name(month)
    if postgres and name not in list_event_partitions(connection):
        result.note = "already detached" if name in detached_partitions(connection) else "no partition"
        return result
    key = settings.secret("chain_key")
    for code in repo.municipalities_between(connection, start, end):
        result.files.append(_archive_one(connection, settings, key, code, month, out_dir, actor))
    if postgres:
        _detach(connection, settings, key, result, actor, drop)
    return result


def _archive_one(
    connection: Connection, settings: Settings, key: bytes, code: str, month: date, out_dir: Path, actor: str
) -> ArchivedFile:
    start, end = partition_bounds(month)
    stored = repo.count_events(connection, code, start, end)
    if stored == 0:
        return ArchivedFile(code, month, Path(), 0, "", skipped="no events")
    for earlier in repo.archives(connection, code, month):
        if int(earlier["rows"]) == stored:
            return ArchivedFile(
                code, month, Path(earlier["path"]), stored, earlier["sha256"], earlier["id"], skipped="already archived"
            )
    folder = out_dir.resolve() / code
    folder.mkdir(parents=True, exist_ok=True)
    path = _free_path(folder, month)
    partial = path.with_suffix(".partial")
    prints: list[np.ndarray[Any, np.dtype[np.uint64]]] = []
    batch_ids: list[np.ndarray[Any, np.dtype[np.int64]]] = []
    written = 0
    writer: pq.ParquetWriter | None = None
    try:
        for day_start, day_end in _days(month):
            table = canonical.normalise(repo.events_between(connection, code, day_start, day_end))
            if table.num_rows == 0:
                continue
            table = table.take(canonical.sort_order(table))
            prints.append(_prints(table, key))
            batch_ids.append(np.asarray(table.column("batch_id").to_numpy(), dtype=np.int64))
            out = _to_parquet_table(table)
            if writer is None:
                metadata = {b"auditd": f"{FORMAT};municipality={code};month={month:%Y-%m}".encode()}
                writer = pq.ParquetWriter(partial, out.schema.with_metadata(metadata), compression="zstd")
            writer.write_table(out)
            written += out.num_rows
    finally:
        if writer is not None:
            writer.close()
    try:
        ours = np.concatenate(prints) if prints else np.zeros(0, dtype=np.uint64)
        _check_file(partial, key, ours, stored, code, month)
        slices = _slices(connection, key, code, month, np.concatenate(batch_ids), ours)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
    sha = file_sha256(path)
    ids = [s["batch_id"] for s in slices]
    archive_id = repo.add_archive(
        connection,
        municipality_code=code,
        month=month,
        path=str(path),
        rows=written,
        sha256=sha,
        batches=len(slices),
        first_batch_id=min(ids) if ids else None,
        last_batch_id=max(ids) if ids else None,
        created_by=actor[:64],
        created_at=datetime.now(UTC),
        mac=archive_mac(key, code, month, written, sha),
    )
    for item in slices:
        item["archive_id"] = archive_id
    repo.add_archive_batches(connection, slices)
    record_trail(
        connection,
        code,
        actor,
        "archive_events",
        "event_archive",
        str(archive_id),
        {"month": f"{month:%Y-%m}", "rows": written, "sha256": sha, "file": str(path), "batches": len(slices)},
    )
    return ArchivedFile(code, month, path, written, sha, archive_id)


def _check_file(
    path: Path, key: bytes, expected: np.ndarray[Any, np.dtype[np.uint64]], stored: int, code: str, month: date
) -> None:
    """The file holds exactly the stored events: same count, same keyed fingerprints."""
    parquet = pq.ParquetFile(path)
    meta_rows = parquet.metadata.num_rows
    # one row group (a day) at a time: a month of a large city does not fit in memory at once
    groups = [_prints(_from_parquet_table(parquet.read_row_group(i)), key) for i in range(parquet.num_row_groups)]
    back = np.concatenate(groups) if groups else np.zeros(0, dtype=np.uint64)
    if meta_rows != stored or len(back) != stored or len(expected) != stored:
        raise Conflict(
            f"archive of {code} {month:%Y-%m}: the file holds {meta_rows:,} rows but the store {stored:,} events",
            hint="events arrived while archiving? run the command again",
        )
    if not np.array_equal(np.sort(back), np.sort(expected)):
        raise Conflict(f"archive of {code} {month:%Y-%m}: the file read back differs from the stored events")


def _slices(
    connection: Connection,
    key: bytes,
    code: str,
    month: date,
    batch_ids: np.ndarray[Any, np.dtype[np.int64]],
    prints: np.ndarray[Any, np.dtype[np.uint64]],
) -> list[dict[str, Any]]:
    """Per batch, where its events of the month are in its seal; refuses events that do not match it."""
    order = np.argsort(batch_ids, kind="stable")
    ids, starts = np.unique(batch_ids[order], return_index=True)
    bounds = [*starts.tolist(), len(order)]
    seals = repo.seal_fingerprints(connection, ids.tolist())
    rows = []
    for i, batch_id in enumerate(ids.tolist()):
        mine = prints[order[bounds[i] : bounds[i + 1]]]
        sealed_bytes = seals.get(int(batch_id))
        first_index: int | None = None
        part = b""
        if sealed_bytes is not None:
            sealed = np.frombuffer(sealed_bytes, dtype="<u8")
            where = np.flatnonzero(np.isin(sealed, mine))
            contiguous = len(where) == len(mine) and (len(where) == 0 or where[-1] - where[0] + 1 == len(where))
            if not contiguous or not np.array_equal(np.sort(sealed[where]), np.sort(mine)):
                raise Conflict(
                    f"batch #{batch_id}: its events of {month:%Y-%m} ({code}) are not those its seal holds; "
                    "nothing was archived",
                    hint="run `auditd verify`: archiving refuses events that were altered since ingest",
                )
            first_index = int(where[0]) if len(where) else None
            part = sealed[where].astype("<u8").tobytes()
        rows.append(
            {
                "municipality_code": code,
                "batch_id": int(batch_id),
                "first_index": first_index,
                "events": len(mine),
                "mac": slice_mac(key, code, month, int(batch_id), first_index, len(mine), part),
            }
        )
    return rows


def _detach(
    connection: Connection, settings: Settings, key: bytes, result: MonthResult, actor: str, drop: bool
) -> None:
    """PostgreSQL: take the month's partition out of ``events`` once every event in it is archived."""
    month, name = result.month, partition_name(result.month)
    archived = sum(f.rows for f in result.files if f.archive_id is not None)
    total = int(connection.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())
    if total != archived:
        raise Conflict(
            f"{name} holds {total:,} events but {archived:,} were archived: the partition was not detached",
            hint="events of a municipality without a batch record? run `auditd verify`",
        )
    connection.execute(text(f"ALTER TABLE events DETACH PARTITION {name}"))
    result.detached = name
    actions = ["detach"]
    if drop:
        connection.execute(text(f"DROP TABLE {name}"))
        result.dropped = True
        actions.append("drop")
    for item in result.files:
        if item.archive_id is None:
            continue
        for action in actions:
            _record_action(
                connection,
                key,
                item.municipality_code,
                item.archive_id,
                month,
                action,
                "archive",
                item.rows,
                item.sha256,
                actor,
            )


def _record_action(
    connection: Connection,
    key: bytes,
    code: str,
    archive_id: int,
    month: date,
    action: str,
    reason: str,
    rows: int,
    sha256: str,
    actor: str,
) -> None:
    action_id = repo.add_action(
        connection,
        municipality_code=code,
        archive_id=archive_id,
        month=month,
        action=action,
        reason=reason,
        rows=rows,
        actor=actor[:64],
        at=datetime.now(UTC),
        mac=action_mac(key, code, archive_id, month, action, rows, sha256),
    )
    record_trail(
        connection,
        code,
        actor,
        {"delete": "purge_events", "drop": "purge_events", "detach": "detach_events", "restore": "restore_events"}[
            action
        ],
        "event_archive",
        str(archive_id),
        {"month": f"{month:%Y-%m}", "action": action, "reason": reason, "rows": rows, "record": action_id},
    )


# -- checking archive files --------------------------------------------------------------------------


@dataclass
class FileCheck:
    archive: dict[str, Any]
    ok: bool
    problem: str | None = None


def check_archive(archive: dict[str, Any], key: bytes) -> FileCheck:
    """The record's MAC, then the file: present, the recorded SHA-256, the recorded row count."""
    code, month = archive["municipality_code"], archive["month"]
    if not _same(archive["mac"], archive_mac(key, code, month, int(archive["rows"]), archive["sha256"])):
        return FileCheck(archive, False, "the archive record was altered (its MAC does not match)")
    path = Path(archive["path"])
    if not path.is_file():
        return FileCheck(archive, False, f"the file {path} is missing")
    sha = file_sha256(path)
    if sha != archive["sha256"]:
        return FileCheck(archive, False, f"the file {path} was altered: SHA-256 {sha}, recorded {archive['sha256']}")
    try:
        rows = pq.ParquetFile(path).metadata.num_rows
    except (OSError, pa.ArrowException) as exc:  # pragma: no cover - a file with the right hash reads
        return FileCheck(archive, False, f"the file {path} cannot be read: {exc}")
    if rows != int(archive["rows"]):
        return FileCheck(archive, False, f"the file {path} holds {rows:,} rows, recorded {archive['rows']:,}")
    return FileCheck(archive, True)


def check_archives(connection: Connection, settings: Settings, municipality_code: str | None = None) -> list[FileCheck]:
    key = settings.secret("chain_key")
    return [check_archive(a, key) for a in repo.archives(connection, municipality_code)]


# -- retention ---------------------------------------------------------------------------------------


@dataclass
class PurgeItem:
    month: date
    municipality_code: str
    archive: dict[str, Any]
    rows: int


@dataclass
class RetentionPlan:
    cutoff: date
    items: list[PurgeItem] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    partitions: dict[date, str] = field(default_factory=dict)  # PostgreSQL: the table to drop per month

    @property
    def rows(self) -> int:
        return sum(i.rows for i in self.items)

    @property
    def months(self) -> list[date]:
        return sorted({i.month for i in self.items} | set(self.partitions))


def plan_retention(
    connection: Connection, settings: Settings, years: int, now: datetime | None = None
) -> RetentionPlan:
    """What a purge would remove, and the months it must refuse (no archive, or a bad one)."""
    cutoff = retention_cutoff(now or datetime.now(UTC), years)
    plan = RetentionPlan(cutoff)
    key = settings.secret("chain_key")
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        attached = set(list_event_partitions(connection))
        detached = set(detached_partitions(connection))
        months = sorted({_month_of(n) for n in attached | detached if _month_of(n) < cutoff})
    else:
        months = months_before(connection, cutoff)
    for month in months:
        name = partition_name(month)
        start, end = partition_bounds(month)
        if postgres and name in attached:
            if repo.count_events(connection, None, start, end, name) == 0:
                plan.partitions[month] = name  # an empty partition: nothing to archive
                continue
            plan.refused.append(f"{month:%Y-%m}: not archived (partition {name} still holds its events)")
            continue
        table = name if postgres else "events"
        codes = repo.municipalities_between(connection, start, end)
        month_items, month_refused = [], []
        for code in codes:
            stored = repo.count_events(connection, code, start, end, table)
            if stored == 0:
                continue
            item, problem = _purgeable(connection, key, code, month, start, end, stored, postgres)
            if item is not None:
                month_items.append(item)
            else:
                month_refused.append(f"{month:%Y-%m} {code}: {problem}")
        if postgres and not month_refused:
            total = repo.count_events(connection, None, start, end, name)
            if total != sum(i.rows for i in month_items):
                month_refused.append(f"{month:%Y-%m}: {name} holds events that no archive covers")
        if month_refused:
            plan.refused.extend(month_refused)
        else:
            plan.items.extend(month_items)
            if postgres:
                plan.partitions[month] = name
    return plan


def _month_of(name: str) -> date:
    return date(int(name[-6:-2]), int(name[-2:]), 1)


def _purgeable(
    connection: Connection,
    key: bytes,
    code: str,
    month: date,
    start: datetime,
    end: datetime,
    stored: int,
    postgres: bool,
) -> tuple[PurgeItem | None, str]:
    candidates = [a for a in repo.archives(connection, code, month) if int(a["rows"]) == stored]
    if not candidates:
        return (
            None,
            f"no archive holds its {stored:,} events: run `auditd db archive --before {next_month(month):%Y-%m}`",
        )
    problems = []
    for archive in candidates:
        checked = check_archive(archive, key)
        if not checked.ok:
            problems.append(str(checked.problem))
            continue
        if not postgres:  # the rows to delete are, batch by batch, those the archive recorded
            recorded = {
                int(b["batch_id"]): int(b["events"]) for b in repo.archive_batches(connection, int(archive["id"]))
            }
            if recorded != repo.counts_by_batch(connection, code, start, end):
                problems.append(f"archive #{archive['id']} does not hold the same batches as the store")
                continue
        return PurgeItem(month, code, archive, stored), ""
    return None, "; ".join(problems)


def purge(
    connection: Connection, settings: Settings, plan: RetentionPlan, *, actor: str, reason: str = "retention"
) -> int:
    """Remove what ``plan`` holds (refuses a plan with refusals). Returns the events removed."""
    if plan.refused:
        raise Conflict(
            "retention refused: " + "; ".join(plan.refused),
            hint="only months with a verified archive are purged; archive them first (`auditd db archive`)",
        )
    key = settings.secret("chain_key")
    removed = 0
    if connection.dialect.name == "postgresql":
        attached = set(list_event_partitions(connection))
        for month, name in sorted(plan.partitions.items()):
            items = [i for i in plan.items if i.month == month]
            if name in attached:
                connection.execute(text(f"ALTER TABLE events DETACH PARTITION {name}"))
                for item in items:
                    _record_action(
                        connection,
                        key,
                        item.municipality_code,
                        int(item.archive["id"]),
                        month,
                        "detach",
                        reason,
                        item.rows,
                        item.archive["sha256"],
                        actor,
                    )
            connection.execute(text(f"DROP TABLE {name}"))
            for item in items:
                _record_action(
                    connection,
                    key,
                    item.municipality_code,
                    int(item.archive["id"]),
                    month,
                    "drop",
                    reason,
                    item.rows,
                    item.archive["sha256"],
                    actor,
                )
                removed += item.rows
        return removed
    connection.exec_driver_sql("DROP TRIGGER trg_events_no_delete")
    for item in plan.items:
        start, end = partition_bounds(item.month)
        deleted = int(
            connection.exec_driver_sql(
                "DELETE FROM events WHERE municipality_code = ? AND ts >= ? AND ts < ?",
                (item.municipality_code, repo._instant(connection, start), repo._instant(connection, end)),
            ).rowcount
        )
        if deleted != item.rows:  # the transaction is rolled back by the caller: the trigger comes back
            raise Conflict(
                f"{item.month:%Y-%m} {item.municipality_code}: {deleted:,} rows matched, {item.rows:,} archived"
            )
        _record_action(
            connection,
            key,
            item.municipality_code,
            int(item.archive["id"]),
            item.month,
            "delete",
            reason,
            deleted,
            item.archive["sha256"],
            actor,
        )
        removed += deleted
    connection.exec_driver_sql(sqlite_trigger("events", "DELETE"))
    return removed


# -- restoring ---------------------------------------------------------------------------------------


def restore_file(connection: Connection, settings: Settings, path: Path, *, actor: str) -> tuple[dict[str, Any], int]:
    """Load an archived month back into ``events`` for an investigation. The file must be one this
    store recorded, unchanged (its SHA-256). Rows already stored are skipped; rollups are not touched
    (they kept counting the month). Returns the archive record and the rows loaded."""
    if not path.is_file():
        raise NotFound(f"no file {path}")
    sha = file_sha256(path)
    archive = repo.archive_by_sha256(connection, sha)
    if archive is None:
        raise NotFound(
            f"{path} is not an archive this store recorded (SHA-256 {sha})", hint="`auditd db archives` lists them"
        )
    key = settings.secret("chain_key")
    checked = check_archive({**archive, "path": str(path)}, key)
    if not checked.ok:
        raise Conflict(f"archive #{archive['id']}: {checked.problem}")
    month = archive["month"]
    table = pq.read_table(path)
    # plain Python values: a nullable integer column must not come back as floats (1.0 is not 1)
    frame = pd.DataFrame({name: pd.Series(table.column(name).to_pylist(), dtype=object) for name in canonical.COLUMNS})
    frame["ts"] = pd.to_datetime(table.column("ts").to_pandas(), utc=True)
    frame["event_id"] = [bytes.fromhex(v.replace("-", "")) for v in frame["event_id"]]
    if connection.dialect.name == "postgresql":
        name = partition_name(month)
        if name in detached_partitions(connection):
            start, end = partition_bounds(month)
            connection.execute(
                text(
                    f"ALTER TABLE events ATTACH PARTITION {name} "
                    f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
                )
            )
    loaded = events_repo.insert_events(connection, frame)
    _record_action(
        connection,
        key,
        archive["municipality_code"],
        int(archive["id"]),
        month,
        "restore",
        "investigation",
        len(frame),
        sha,
        actor,
    )
    return archive, loaded
