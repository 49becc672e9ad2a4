"""Tamper evidence over stored events: sealing each ingest batch into a chain, and verifying it.

**Sealing** (:func:`seal_batch`, called by ingest in the transaction that stores the batch)::

    digest = HMAC-SHA256(chain_key, prev_digest ‖ message)
    message = "auditd-chain-v1" ␟ municipality ␟ batch id ␟ run id ␟ position ␟ event count ␟ SHA-256(events)

``SHA-256(events)`` is over the canonical form of the batch's events (:mod:`auditd.integrity.canonical`);
``prev_digest`` is the digest of the municipality's previous batch (32 zero bytes for the first);
``position`` is the batch's place in that chain. The key (``chain_key``) lives outside the
database: someone who can write to the database but not read the key file cannot make an altered
batch, or a re-linked chain, verify again.

**Verifying** (:func:`verify_chain`) walks the chain in order, one query per batch, recomputes every
digest from what the database holds, and says what is wrong, batch by batch:

- ``altered``: the events of a batch are not those sealed (edited, added or deleted), with the
  events named where the per-event fingerprints of the seal allow it;
- ``removed``: a batch's record is gone, or a link points to a digest no stored batch has
  ("batch(es) between #a and #b removed");
- ``reordered``: links or digests moved between batches;
- ``truncated``: the chain ends before its head (or before the end an earlier check saw);
- ``record``: a batch's own record (digest, link, counts, run) no longer fits its unchanged events;
- ``unsealed`` / ``uncovered``: batches or events the chain does not cover.

Events archived to Parquet and taken out of ``events`` under a record (``auditd db archive`` on
PostgreSQL, ``auditd db retention``: :mod:`auditd.archive.service`) are not reported as deleted: a
batch whose missing events are exactly the ranges of its seal that authenticated archive records name
is checked against its seal's hash, and one ``archived`` note (not tampering) says how many events
are held in archives. Events missing anywhere else are still ``altered``.

Nothing here commits: ingest seals inside its own transaction, ``auditd verify`` records the check
in its own.
"""

from __future__ import annotations

import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from auditd.archive import repository as archive_repo
from auditd.archive import service as archive_service
from auditd.integrity import canonical
from auditd.integrity import repository as repo
from auditd.settings import Settings
from auditd.store.base import from_micros
from auditd.store.partitions import JST
from auditd.trail.service import record as record_trail

CHAIN_FORMAT = "auditd-chain-v1"
GENESIS = repo.GENESIS
#: Events named in one finding at most (the count is always given).
MAX_NAMED_EVENTS = 20

Progress = Callable[[int], None]


def batch_message(
    municipality_code: str, batch_id: int, run_id: int, position: int, event_count: int, events_sha256: bytes
) -> bytes:
    """What a batch's digest signs besides the previous digest (see the module docstring)."""
    parts = (CHAIN_FORMAT, municipality_code, str(batch_id), str(run_id), str(position), str(event_count))
    return "\x1f".join(parts).encode() + b"\x1f" + events_sha256


def chain_digest(key: bytes, prev_digest: bytes, message: bytes) -> bytes:
    return hmac.digest(key, prev_digest + message, sha256)


def key_check(key: bytes) -> bytes:
    """16 bytes that tell which key sealed a chain, without revealing it."""
    return hmac.digest(key, b"auditd-chain-key-check", sha256)[:16]


# -- sealing ---------------------------------------------------------------------------------------


def seal_batch(
    connection: Connection,
    settings: Settings,
    municipality_code: str,
    batch_id: int,
    run_id: int,
    events: pd.DataFrame,
    stored: int,
) -> bytes:
    """Chain a batch just stored: its digest, its seal, the municipality's head. Returns the digest.

    Called inside the transaction that stored the batch, after its events, so the batch and its link
    commit together or not at all. ``events`` is the frame given to the insert (``batch_id`` set);
    ``stored`` how many of its rows were new. When some were already stored (a re-read file), the
    batch's rows are read back instead, because the frame then holds events of earlier batches.

    The canonical digest is computed before the head is locked, so concurrent ingests of one
    municipality wait for each other only for three small writes.
    """
    key = settings.secret("chain_key")
    if stored == len(events):
        table = canonical.from_frame(events)
    else:
        first, last = events["ts"].min().to_pydatetime(), events["ts"].max().to_pydatetime()
        table = canonical.normalise(repo.batch_events(connection, batch_id, first, last))
    order, columns = canonical.sort_order(table), canonical.inspect_columns(table)
    digest = canonical.digest_events(table, order, columns)
    prints = canonical.fingerprints(table, order, key, columns)
    now = datetime.now(UTC)
    head = repo.lock_head(connection, municipality_code, now, key_check(key))
    position = int(head["batches"]) + 1
    prev = bytes(head["last_digest"])
    message = batch_message(municipality_code, batch_id, run_id, position, digest.count, digest.sha256)
    chained = chain_digest(key, prev, message)
    repo.set_batch_digest(connection, batch_id, chained, prev)
    repo.add_seal(
        connection,
        municipality_code=municipality_code,
        batch_id=batch_id,
        position=position,
        event_count=digest.count,
        events_sha256=digest.sha256,
        fingerprints=prints,
        sealed_at=now,
    )
    repo.advance_head(connection, municipality_code, batch_id, chained, digest.count, now)
    return chained


# -- verifying ---------------------------------------------------------------------------------------


@dataclass
class Finding:
    """One thing wrong with the chain (or, with ``tampering`` false, a note such as legacy batches)."""

    kind: str
    message: str
    batch_id: int | None = None
    position: int | None = None
    input: str | None = None
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    event_ids: list[str] = field(default_factory=list)
    tampering: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "batch_id": self.batch_id,
            "position": self.position,
            "input": self.input,
            "first_ts": None if self.first_ts is None else self.first_ts.isoformat(),
            "last_ts": None if self.last_ts is None else self.last_ts.isoformat(),
            "event_ids": self.event_ids,
            "tampering": self.tampering,
        }


@dataclass
class VerifyReport:
    """The result of one verification: what was checked and what was found."""

    municipality_code: str
    started_at: datetime
    since: datetime | None = None
    first_position: int | None = None
    last_position: int | None = None
    batches: int = 0
    events: int = 0
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)
    head_position: int | None = None
    head_digest: bytes | None = None
    check_id: int | None = None

    @property
    def intact(self) -> bool:
        return not any(f.tampering for f in self.findings)

    @property
    def outcome(self) -> str:
        return "intact" if self.intact else "tampered"

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "municipality_code": self.municipality_code,
            "outcome": self.outcome,
            "check_id": self.check_id,
            "since": None if self.since is None else self.since.isoformat(),
            "first_position": self.first_position,
            "last_position": self.last_position,
            "batches_checked": self.batches,
            "events_checked": self.events,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events_per_second),
            "head_position": self.head_position,
            "head_digest": None if self.head_digest is None else self.head_digest.hex(),
            "findings": [f.as_dict() for f in self.findings],
        }


def verify_chain(
    connection: Connection,
    settings: Settings,
    municipality_code: str,
    *,
    since: datetime | None = None,
    progress: Progress | None = None,
) -> VerifyReport:
    """Recompute the municipality's chain from the database and report every break.

    ``since``: only batches sealed from then on (the chain is in ingest order), linked to the one
    before; the end of the chain is always checked. Run it in one transaction so it sees one state of
    the store while ingest goes on (a snapshot on both backends).
    """
    walk = _Walk(connection, settings.secret("chain_key"), municipality_code)
    report = walk.report
    report.since = since
    started = time.perf_counter()
    first = 1
    if since is not None:
        found = repo.first_position_since(connection, municipality_code, since)
        first = found if found is not None else _end_of_chain(connection, municipality_code) + 1
    if not walk.key_fits():
        report.seconds = time.perf_counter() - started
        return report
    walk.load_archived()
    walk.start(first)
    for row in repo.chain_from(connection, municipality_code, first):
        walk.step(row)
        if progress is not None:
            progress(int(row["sealed_count"]))
    walk.finish(full=since is None)
    report.seconds = time.perf_counter() - started
    return report


def _end_of_chain(connection: Connection, municipality_code: str) -> int:
    head = repo.get_head(connection, municipality_code)
    return int(head["batches"]) if head else 0


class _Walk:
    """The state of one walk along the chain (see :func:`verify_chain`)."""

    def __init__(self, connection: Connection, key: bytes, municipality_code: str) -> None:
        self.connection = connection
        self.key = key
        self.municipality_code = municipality_code
        self.report = VerifyReport(municipality_code=municipality_code, started_at=datetime.now(UTC))
        self.expected_position = 1
        self.expected_prev: bytes | None = GENESIS
        self.previous: dict[str, Any] | None = None
        self.record_mismatches: list[tuple[dict[str, Any], bytes]] = []  # (row, recomputed digest)
        self.link_findings: list[tuple[Finding, int | None]] = []  # (finding, previous batch id)
        self.covered_events = 0
        self.pending_gap: Finding | None = None
        self.archived: dict[int, list[dict[str, Any]]] = {}  # batch id → its ranges archived and removed
        self.archived_events = 0
        self.archived_batches = 0
        self.archive_ids: set[int] = set()

    def key_fits(self) -> bool:
        """Whether this is the key that sealed the chain. When the head's key check differs and the
        first batch does not verify under this key either, nothing can be checked: say so once,
        instead of reporting every batch as altered."""
        head = repo.get_head(self.connection, self.municipality_code)
        if head is None or hmac.compare_digest(bytes(head["key_check"]), key_check(self.key)):
            return True
        first = repo.seal_at(self.connection, self.municipality_code, 1)
        if first is not None and first["digest"] is not None and first["batch_row"] is not None:
            columns = (
                repo.batch_events(self.connection, int(first["batch_id"]), first["min_ts"], first["max_ts"])
                if first["min_ts"] is not None and first["max_ts"] is not None
                else {name: [] for name in canonical.COLUMNS}
            )
            digest = canonical.digest_events(canonical.normalise(columns))
            message = batch_message(
                str(first["batch_municipality"]),
                int(first["batch_id"]),
                int(first["run_id"]),
                1,
                int(first["event_count"]),
                digest.sha256,
            )
            if hmac.compare_digest(chain_digest(self.key, GENESIS, message), bytes(first["digest"])):
                self._add(Finding("record", "the chain head's key check was altered (the chain's key is right)"))
                return True
        self._add(
            Finding(
                "key",
                "the chain cannot be checked with this chain_key: it is not the key that sealed the chain. If the "
                "store was restored or moved, restore <data_dir>/keys/chain_key (or AUDITD_CHAIN_KEY) from the same "
                "backup; otherwise the chain's head was altered",
            )
        )
        return False

    def load_archived(self) -> None:
        """The archive records of events taken out of ``events``; records whose MAC fails are reported
        (and then count for nothing: the events they name are reported as deleted)."""
        bad: set[tuple[str, int]] = set()
        for row in archive_repo.removed_slices(self.connection, self.municipality_code):
            month, archive_id = row["month"], int(row["archive_id"])
            archive_ok = hmac.compare_digest(
                bytes(row["archive_mac"]),
                archive_service.archive_mac(
                    self.key, self.municipality_code, month, int(row["rows"]), str(row["sha256"])
                ),
            )
            action_ok = row["action_month"] == month and hmac.compare_digest(
                bytes(row["action_mac"]),
                archive_service.action_mac(
                    self.key,
                    self.municipality_code,
                    archive_id,
                    month,
                    str(row["action"]),
                    int(row["action_rows"]),
                    str(row["sha256"]),
                ),
            )
            if not archive_ok or not action_ok:
                what = ("archive", archive_id) if not archive_ok else ("action", int(row["action_id"]))
                if what not in bad:
                    bad.add(what)
                    self._add(
                        Finding(
                            "record",
                            f"the {what[0]} record #{what[1]} of the archive of {month:%Y-%m} was altered (its MAC "
                            "does not match): the events it names are not accepted as archived",
                        )
                    )
                continue
            ranges = self.archived.setdefault(int(row["batch_id"]), [])
            if not any(int(r["archive_id"]) == archive_id for r in ranges):
                ranges.append(row)

    def start(self, first: int) -> None:
        self.expected_position = first
        if first > 1:
            before = repo.seal_at(self.connection, self.municipality_code, first - 1)
            self.previous = before
            self.expected_prev = None if before is None or before["digest"] is None else bytes(before["digest"])

    # -- one batch ---------------------------------------------------------------------------------

    def step(self, row: dict[str, Any]) -> None:
        report = self.report
        position, batch_id = int(row["position"]), int(row["batch_id"])
        if report.first_position is None:
            report.first_position = position
        report.last_position = position
        report.batches += 1
        if self.pending_gap is not None:
            self.pending_gap.message = self.pending_gap.message.replace("#?", f"#{batch_id}")
            self.pending_gap = None
        if position != self.expected_position:
            missing = position - self.expected_position
            after = f"#{self.previous['batch_id']}" if self.previous else "the start of the chain"
            self._add(
                Finding(
                    "removed",
                    f"batch(es) between {after} and #{batch_id} removed: {missing} position(s) of the chain "
                    f"({self.expected_position}–{position - 1}) have no batch",
                    batch_id=batch_id,
                    position=position,
                )
            )
            self.expected_prev = None
        if row["batch_row"] is None:
            self._removed_record(row)
        else:
            self._check_batch(row)
        self.previous = row
        self.expected_position = position + 1

    def _removed_record(self, row: dict[str, Any]) -> None:
        batch_id = int(row["batch_id"])
        remaining = repo.count_batch_events(self.connection, batch_id)
        self.covered_events += remaining
        after = f"#{self.previous['batch_id']}" if self.previous else "the start of the chain"
        left = f"; {remaining:,} of its events are still stored" if remaining else "; its events are gone too"
        finding = Finding(
            "removed",
            f"batch(es) between {after} and #? removed: batch #{batch_id} (position {row['position']}, "
            f"{int(row['sealed_count']):,} events sealed at {_when(row['sealed_at'])}) has no record any more{left}",
            batch_id=batch_id,
            position=int(row["position"]),
        )
        self._add(finding)
        self.pending_gap = finding
        self.expected_prev = None

    def _check_batch(self, row: dict[str, Any]) -> None:
        report = self.report
        batch_id, position = int(row["batch_id"]), int(row["position"])
        if row["min_ts"] is None or row["max_ts"] is None:
            columns: dict[str, list[Any]] = {name: [] for name in canonical.COLUMNS}
        else:
            columns = repo.batch_events(self.connection, batch_id, row["min_ts"], row["max_ts"])
        table = canonical.normalise(columns)
        order = canonical.sort_order(table)
        digest = canonical.digest_events(table, order)
        report.events += digest.count
        self.covered_events += digest.count
        events_sha256 = digest.sha256
        archived = False
        if batch_id in self.archived and digest.sha256 != bytes(row["events_sha256"]):
            archived = self._archived_rest(row, table, order)
            if archived:  # the events present are as sealed: the seal's hash stands for the whole batch
                events_sha256 = bytes(row["events_sha256"])
        stored = None if row["digest"] is None else bytes(row["digest"])
        prev = b"" if row["prev_digest"] is None else bytes(row["prev_digest"])
        message = batch_message(
            str(row["batch_municipality"]),
            batch_id,
            int(row["run_id"]),
            position,
            int(row["event_count"]),
            events_sha256,
        )
        recomputed = chain_digest(self.key, prev, message)
        broken = stored is None or not hmac.compare_digest(recomputed, stored)
        if broken and (archived or not self._content_findings(row, table, order, digest)):
            self.record_mismatches.append((row, recomputed))
        if self.expected_prev is not None and prev != self.expected_prev:
            self._link_finding(row, prev)
        self.expected_prev = stored

    def _archived_rest(self, row: dict[str, Any], table: Any, order: Any) -> bool:
        """Whether the batch's events still stored are as sealed and every missing one lies in a range
        of its seal that an authenticated archive record took out of ``events``."""
        sealed = np.frombuffer(bytes(row["fingerprints"] or b""), dtype="<u8")
        if len(sealed) != int(row["sealed_count"]):
            return False
        allowed = np.zeros(len(sealed), dtype=bool)
        for item in self.archived[int(row["batch_id"])]:
            first, count = item["first_index"], int(item["events"])
            if first is None or int(first) + count > len(sealed):
                continue
            part = sealed[int(first) : int(first) + count].astype("<u8").tobytes()
            expected = archive_service.slice_mac(
                self.key, self.municipality_code, item["month"], int(row["batch_id"]), int(first), count, part
            )
            if hmac.compare_digest(bytes(item["slice_mac"]), expected):
                allowed[int(first) : int(first) + count] = True
        current = np.frombuffer(canonical.fingerprints(table, order, self.key), dtype="<u8")
        present = np.isin(sealed, current)
        if np.isin(current, sealed, invert=True).any() or (~present & ~allowed).any():
            return False
        if len(current) != int(present.sum()):  # an event stored twice, or one the seal does not hold
            return False
        missing = int((~present).sum())
        if missing:
            self.archived_events += missing
            self.archived_batches += 1
            self.archive_ids.update(int(i["archive_id"]) for i in self.archived[int(row["batch_id"])])
        return True

    def _content_findings(self, row: dict[str, Any], table: Any, order: Any, digest: canonical.EventsDigest) -> bool:
        """Report the events of the batch that differ from its seal; False if the events are as sealed."""
        sealed = np.frombuffer(bytes(row["fingerprints"] or b""), dtype="<u8")
        current = np.frombuffer(canonical.fingerprints(table, order, self.key), dtype="<u8")
        same_hash = digest.sha256 == bytes(row["events_sha256"])
        if same_hash and digest.count == int(row["sealed_count"]) and np.array_equal(sealed, current):
            return False
        base = self._batch_finding(row, "altered", "")
        if len(sealed) != int(row["sealed_count"]):
            base.message = (
                f"batch #{row['batch_id']}{self._where(row)}: its events do not match the seal, and the seal's "
                "fingerprints were altered too, so the changed events cannot be named"
            )
            self._add(base)
            return True
        new = ~np.isin(current, sealed)
        gone = ~np.isin(sealed, current)
        ids = digest.event_ids.to_pylist()
        named = [_uuid(ids[i]) for i in np.flatnonzero(new)[:MAX_NAMED_EVENTS]]
        changed, added, deleted = (
            min(new.sum(), gone.sum()),
            max(0, new.sum() - gone.sum()),
            max(0, gone.sum() - new.sum()),
        )
        parts = []
        if changed:
            parts.append(f"{changed} event(s) edited")
        if added:
            parts.append(f"{added} event(s) added")
        if deleted:
            parts.append(f"{deleted} event(s) deleted{self._neighbours(sealed, current, gone, ids)}")
        if not parts:  # same fingerprints, different hash: only the order or the seal's hash was touched
            parts.append("the events or the seal's hash were altered")
        what = ", ".join(parts)
        naming = f": {', '.join(named)}" if named else ""
        more = f" (first {MAX_NAMED_EVENTS} named)" if int(new.sum()) > MAX_NAMED_EVENTS else ""
        base.message = (
            f"batch #{row['batch_id']}{self._where(row)} altered: {what} "
            f"({digest.count:,} events now, {int(row['sealed_count']):,} sealed){naming}{more}"
        )
        base.event_ids = named
        if named:
            stamps = table.column("ts").take(order).to_numpy(zero_copy_only=False)[np.flatnonzero(new)]
            base.first_ts = from_micros(int(stamps.min()))
            base.last_ts = from_micros(int(stamps.max()))
        self._add(base)
        return True

    @staticmethod
    def _neighbours(sealed: Any, current: Any, gone: Any, ids: list[str]) -> str:
        """Where the first deleted event was: between which surviving events, by id."""
        where = int(np.flatnonzero(gone)[0])
        index = {int(v): i for i, v in enumerate(current.tolist())}
        before = next((index.get(int(sealed[i])) for i in range(where - 1, -1, -1) if not gone[i]), None)
        after = next((index.get(int(sealed[i])) for i in range(where + 1, len(sealed)) if not gone[i]), None)
        if before is None and after is None:
            return ""
        left = "the start of the batch" if before is None else _uuid(ids[before])
        right = "the end of the batch" if after is None else _uuid(ids[after])
        return f" (the first between {left} and {right})"

    def _link_finding(self, row: dict[str, Any], prev: bytes) -> None:
        batch_id = int(row["batch_id"])
        previous_id = None if self.previous is None else int(self.previous["batch_id"])
        after = f"#{previous_id}" if previous_id is not None else "the start of the chain"
        holders = [b for b in repo.batches_with_digest(self.connection, prev) if b != previous_id] if prev else []
        if holders:
            finding = Finding(
                "reordered",
                f"batch #{batch_id} is chained to batch #{holders[0]}, but follows {after}: the chain's order was "
                "altered",
                batch_id=batch_id,
                position=int(row["position"]),
            )
        else:
            finding = Finding(
                "removed",
                f"batch(es) between {after} and #{batch_id} removed: #{batch_id} links to a digest that no stored "
                "batch has",
                batch_id=batch_id,
                position=int(row["position"]),
            )
        self.link_findings.append((finding, previous_id))

    # -- the end -------------------------------------------------------------------------------------

    def finish(self, *, full: bool) -> None:
        if self.pending_gap is not None:  # the batch whose record is gone was the last: the end was cut
            gap = self.pending_gap
            gap.kind = "truncated"
            gap.message = "the chain was truncated: " + gap.message.split(" removed: ", 1)[1]
            self.pending_gap = None
        swapped = self._swaps()
        for finding, previous_id in self.link_findings:
            if finding.batch_id in swapped or previous_id in swapped:
                continue  # explained by the exchange of digests already reported
            self._add(finding)
        for row, _recomputed in self.record_mismatches:
            if int(row["batch_id"]) in swapped:
                continue
            self._add(
                self._batch_finding(
                    row,
                    "record",
                    f"batch #{row['batch_id']}{self._where(row)}: its events are as sealed, but its record (digest, "
                    "link, event count, run or municipality) was altered",
                )
            )
        self._check_end()
        self._check_unsealed()
        if full:
            self._check_uncovered()
        if self.archived_events:
            ids = sorted(self.archive_ids)
            self._add(
                Finding(
                    "archived",
                    f"{self.archived_events:,} event(s) of {self.archived_batches:,} batch(es) are no longer in the "
                    f"store: archived to Parquet and removed under archive record(s) #{', #'.join(map(str, ids))} "
                    "(`auditd db archives` lists the files and their SHA-256)",
                    tampering=False,
                )
            )

    def _swaps(self) -> set[int]:
        """Batches whose stored digests were exchanged with each other's: a reordering of the chain."""
        by_recomputed = {recomputed: row for row, recomputed in self.record_mismatches}
        swapped: set[int] = set()
        for row, recomputed in self.record_mismatches:
            stored = row["digest"]
            other = by_recomputed.get(bytes(stored)) if stored is not None else None
            if other is None or other is row or int(row["batch_id"]) in swapped:
                continue
            if other["digest"] is not None and bytes(other["digest"]) == recomputed:
                a, b = sorted((int(row["batch_id"]), int(other["batch_id"])))
                swapped.update((a, b))
                self._add(
                    Finding(
                        "reordered",
                        f"batches #{a} and #{b} exchanged their digests: the chain's order was altered "
                        f"(positions {row['position']} and {other['position']})",
                        batch_id=a,
                        position=int(row["position"]),
                    )
                )
        return swapped

    def _check_end(self) -> None:
        """The chain's end against its head, and against the end the last check saw."""
        report, connection = self.report, self.connection
        head = repo.get_head(connection, self.municipality_code)
        last = self.previous
        last_position = 0 if last is None else int(last["position"])
        report.head_position = last_position or None
        report.head_digest = None if last is None or last["digest"] is None else bytes(last["digest"])
        if head is None:
            if last is not None:
                self._add(Finding("truncated", "the chain's head record is missing: its end cannot be confirmed"))
            return
        recorded = int(head["batches"])
        if recorded > last_position:
            self._add(
                Finding(
                    "truncated",
                    f"the chain was truncated: its head records {recorded:,} batches ending with batch "
                    f"#{head['last_batch_id']}, but it ends at position {last_position:,}"
                    + (f" (batch #{last['batch_id']})" if last else "")
                    + f": the last {recorded - last_position:,} batch(es) were removed",
                    batch_id=None if head["last_batch_id"] is None else int(head["last_batch_id"]),
                    position=recorded,
                )
            )
        elif recorded < last_position:
            self._add(
                Finding(
                    "truncated",
                    f"the chain's head records {recorded:,} batches but the chain has {last_position:,}: the head "
                    "was set back",
                    position=recorded,
                )
            )
        elif last is not None and (
            head["last_batch_id"] != last["batch_id"]
            or (last["digest"] is not None and bytes(head["last_digest"]) != bytes(last["digest"]))
        ):
            self._add(
                Finding(
                    "truncated",
                    f"the chain's head names batch #{head['last_batch_id']} and a digest that batch "
                    f"#{last['batch_id']} at its end does not have: the end of the chain was replaced",
                    batch_id=int(last["batch_id"]),
                    position=last_position,
                )
            )
        sealed_batches, sealed_events = repo.chain_totals(connection, self.municipality_code, 1)
        if recorded == sealed_batches and int(head["events"]) != sealed_events:
            self._add(
                Finding(
                    "truncated",
                    f"the chain's head counts {int(head['events']):,} events, its seals {sealed_events:,}",
                )
            )
        earlier = repo.last_check_with_head(connection, self.municipality_code)
        if earlier is None or earlier["head_position"] is None:
            return
        seen = int(earlier["head_position"])
        when = _when(earlier["started_at"])
        if seen > last_position:
            self._add(
                Finding(
                    "truncated",
                    f"the chain is shorter than when check #{earlier['id']} ran ({when}): it had {seen:,} batches "
                    f"then, {last_position:,} now",
                    position=seen,
                )
            )
            return
        at = repo.seal_at(connection, self.municipality_code, seen)
        then = None if earlier["head_digest"] is None else bytes(earlier["head_digest"])
        now = None if at is None or at["digest"] is None else bytes(at["digest"])
        if then is not None and now is not None and then != now:
            self._add(
                Finding(
                    "truncated",
                    f"position {seen:,} of the chain no longer holds the batch check #{earlier['id']} saw there "
                    f"({when}): the chain was cut and rebuilt from there",
                    batch_id=None if at is None else int(at["batch_id"]),
                    position=seen,
                )
            )

    def _check_unsealed(self) -> None:
        unsealed = repo.unsealed_batches(self.connection, self.municipality_code)
        if not unsealed:
            return
        sealed_ids = self._first_sealed_id()
        legacy = [b for b in unsealed if b["digest"] is None and (sealed_ids is None or int(b["id"]) < sealed_ids)]
        for batch in unsealed:
            if batch in legacy:
                continue
            self._add(
                Finding(
                    "unsealed",
                    f"batch #{batch['id']} ({_where_text(batch['input'], batch['min_ts'], batch['max_ts'])}) is not "
                    f"in the chain: {int(batch['event_count']):,} events stored outside the ingest pipeline",
                    batch_id=int(batch["id"]),
                    input=batch["input"],
                    first_ts=batch["min_ts"],
                    last_ts=batch["max_ts"],
                )
            )
        if legacy:
            self.covered_events += sum(int(b["event_count"]) for b in legacy)
            self._add(
                Finding(
                    "legacy",
                    f"{len(legacy):,} batch(es) (#{legacy[0]['id']}–#{legacy[-1]['id']}, "
                    f"{sum(int(b['event_count']) for b in legacy):,} events) were stored before the chain existed "
                    "and are not covered by it",
                    tampering=False,
                )
            )

    def _first_sealed_id(self) -> int | None:
        first = repo.seal_at(self.connection, self.municipality_code, 1)
        return None if first is None else int(first["batch_id"])

    def _check_uncovered(self) -> None:
        total = repo.count_events(self.connection, self.municipality_code)
        if total > self.covered_events:
            self._add(
                Finding(
                    "uncovered",
                    f"{total - self.covered_events:,} event(s) are in no batch of the chain: added to the events "
                    "table outside the ingest pipeline (or moved out of their batch's time range)",
                )
            )

    # -- helpers ---------------------------------------------------------------------------------------

    def _add(self, finding: Finding) -> None:
        self.report.findings.append(finding)

    def _batch_finding(self, row: dict[str, Any], kind: str, message: str) -> Finding:
        return Finding(
            kind,
            message,
            batch_id=int(row["batch_id"]),
            position=int(row["position"]),
            input=row["input"],
            first_ts=row["min_ts"],
            last_ts=row["max_ts"],
        )

    @staticmethod
    def _where(row: dict[str, Any]) -> str:
        return f" ({_where_text(row['input'], row['min_ts'], row['max_ts'])})"


def _where_text(source: str | None, first: datetime | None, last: datetime | None) -> str:
    span = f"{_when(first)} – {_when(last)}" if first is not None and last is not None else "no time range"
    return f"{source or 'input unknown'}, events {span}"


def _when(value: datetime | None) -> str:
    if value is None:
        return "?"
    return value.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S JST")


def _uuid(hex_id: str) -> str:
    try:
        return str(uuid.UUID(hex=hex_id))
    except ValueError:
        return hex_id


# -- recording a check --------------------------------------------------------------------------------


def record_check(connection: Connection, report: VerifyReport, actor: str) -> int:
    """Store the check in ``integrity_checks`` and the platform trail (same transaction)."""
    check_id = repo.add_check(
        connection,
        municipality_code=report.municipality_code,
        started_at=report.started_at,
        finished_at=datetime.now(UTC),
        actor=actor[:64],
        since=report.since,
        first_position=report.first_position,
        last_position=report.last_position,
        batches_checked=report.batches,
        events_checked=report.events,
        outcome=report.outcome,
        findings=json.dumps([f.as_dict() for f in report.findings], ensure_ascii=False),
        head_position=report.head_position if report.intact else None,
        head_digest=report.head_digest if report.intact else None,
    )
    report.check_id = check_id
    record_trail(
        connection,
        report.municipality_code,
        actor,
        "verify_chain",
        "integrity_check",
        str(check_id),
        {
            "outcome": report.outcome,
            "batches": report.batches,
            "events": report.events,
            "since": None if report.since is None else report.since.isoformat(),
            "findings": len([f for f in report.findings if f.tampering]),
            "kinds": sorted({f.kind for f in report.findings if f.tampering}),
        },
    )
    return check_id


def run_check(
    engine_connection: Connection,
    settings: Settings,
    municipality_code: str,
    *,
    actor: str,
    since: datetime | None = None,
    progress: Progress | None = None,
) -> VerifyReport:
    """Verify in one snapshot, then record the check. ``engine_connection`` is not in a transaction."""
    with engine_connection.begin():
        if engine_connection.dialect.name == "postgresql":
            engine_connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        report = verify_chain(engine_connection, settings, municipality_code, since=since, progress=progress)
    with engine_connection.begin():
        record_check(engine_connection, report, actor)
    return report
