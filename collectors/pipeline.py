"""Ingest: read an input in chunks, map, mask, pseudonymise, give deterministic ids, store.

Guarantees (each tested):

- **Nothing twice.** An event's id is a hash of the municipality, the source, the record's own text
  and its rank among identical texts in its chunk, so ingesting the same input again stores nothing
  new and two sources with identical lines do not collide.
- **Nothing lost.** A record that cannot be read or mapped goes to the quarantine with the reason.
- **Resumable.** Each chunk commits its events, quarantine rows and the run's checkpoint (byte offset)
  in one transaction; a run killed at any point restarts from the last checkpoint.
- **No 個人番号 stored.** Every text field and every quarantined text is masked first.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine

from auditd import registry
from auditd.errors import ValidationFailed
from auditd.events import repository as events_repo
from auditd.privacy.mynumber import mask_frame, mask_series, valid_mask
from auditd.privacy.pseudonym import Pseudonymiser
from auditd.privacy.vault import Vault
from auditd.settings import Settings
from auditd.trail.service import record as record_trail
from collectors.formats.base import RawChunk, Reader
from collectors.mapping import map_event_chunk
from collectors.profile import Profile

FINGERPRINT_BYTES = 65536
#: Canonical text fields that are masked (``subject`` is never stored in clear anyway).
MASKED_FIELDS = [
    "system",
    "user_id",
    "terminal_id",
    "session_id",
    "jimu",
    "screen",
    "function",
    "auth_factors",
    "detail",
]

Progress = Callable[[int], None]


class RecordIdentity:
    """Deterministic event ids: a record's source, its own text, and its rank among identical texts in
    the previous :attr:`WINDOW` records of the same input.

    The rank keeps two genuinely identical records (same second, same everything) apart, whatever the
    chunking; the window bounds memory. Its state is saved with every checkpoint, so a run resumed
    after a crash gives exactly the ids of an uninterrupted run.
    """

    WINDOW = 65_536
    KEY_BYTES = 8

    def __init__(self, municipality_code: str, source: str, state: bytes | None = None) -> None:
        self._prefix = f"{municipality_code}\x1f{source}\x1f".encode()
        self._window: deque[bytes] = deque()
        self._counts: dict[bytes, int] = {}
        if state:
            for i in range(0, len(state), self.KEY_BYTES):
                self._push(state[i : i + self.KEY_BYTES])

    def _push(self, key: bytes) -> int:
        rank = self._counts.get(key, 0)
        self._counts[key] = rank + 1
        self._window.append(key)
        if len(self._window) > self.WINDOW:
            old = self._window.popleft()
            left = self._counts[old] - 1
            if left:
                self._counts[old] = left
            else:
                del self._counts[old]
        return rank

    def ids(self, texts: Iterable[str]) -> list[str]:
        out = []
        for text in texts:
            digest = hashlib.blake2b(self._prefix + text.encode(), digest_size=16).digest()
            rank = self._push(digest[: self.KEY_BYTES])
            if rank:
                digest = hashlib.blake2b(digest + rank.to_bytes(4, "big"), digest_size=16).digest()
            out.append(digest.hex())
        return out

    def state(self) -> bytes:
        return b"".join(self._window)


def record_ids(municipality_code: str, source: str, texts: Iterable[str]) -> list[str]:
    """Ids for a self-contained set of records (quarantine keys, one-off imports)."""
    return RecordIdentity(municipality_code, source).ids(texts)


def fingerprint(path: Path, length: int = FINGERPRINT_BYTES) -> str:
    """Identity of an input: ``<n>:<sha256 of its first n bytes>``, n at most 64 KiB.

    A log that grows keeps its first bytes, so a later run recognises it (even renamed, once it is
    64 KiB long) and continues from the checkpoint instead of reading it all again.
    """
    with path.open("rb") as handle:
        head = handle.read(length)
    return f"{len(head)}:{hashlib.sha256(head).hexdigest()}"


def resume_point(conn: Connection, municipality_code: str, source: str, path: Path) -> tuple[int, int, bytes | None]:
    """(byte offset, line, identity window) to continue ``path`` from: the latest run of the same input."""
    size = path.stat().st_size
    candidates = events_repo.runs_of_input(conn, municipality_code, source, str(path)[:1024], fingerprint(path))
    for run in candidates:
        length, _, _digest = str(run["fingerprint"] or "").partition(":")
        if not length.isdigit() or int(length) > size or run["position"] > size:
            continue
        if fingerprint(path, int(length)) == run["fingerprint"]:
            return int(run["position"]), int(run["line"]), run["identity_window"]
    return 0, 0, None


def reader_for(profile: Profile) -> Reader:
    fmt = "csv" if profile.format == "tsv" else profile.format
    try:
        cls = registry.load("formats", fmt)
    except KeyError as exc:
        raise ValidationFailed(f"profile {profile.name}: no reader installed for format {profile.format!r}") from exc
    reader: Reader = cls(profile)
    return reader


@dataclass
class IngestSummary:
    """What one ingest did; printed by the CLI and returned by the API."""

    source: str
    input: str
    run_id: int = 0
    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    masked: int = 0
    seconds: float = 0.0
    started_at_position: int = 0
    skipped: bool = False
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "input": self.input,
            "run_id": self.run_id,
            "read": self.read,
            "accepted": self.accepted,
            "duplicate": self.duplicates,
            "quarantined": self.quarantined,
            "masked": self.masked,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.rate),
            "resumed_at_byte": self.started_at_position,
            "skipped": self.skipped,
            "quarantine_reasons": dict(self.reasons),
        }


class Ingestor:
    """Stores canonical events for one municipality. One instance per process is enough."""

    def __init__(self, engine: Engine, settings: Settings, municipality_code: str | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.municipality_code = municipality_code or settings.municipality_code
        self.pseudonymiser = Pseudonymiser(settings.secret("pseudonym_key"), self.municipality_code)
        self.vault = Vault(settings.secret("encryption_key"))
        self._stored_subjects: set[str] = set()

    # -- files ------------------------------------------------------------------------------------

    def ingest_file(
        self,
        path: Path,
        profile: Profile,
        *,
        full: bool = False,
        progress: Progress | None = None,
        actor: str = "system",
        complete_only: bool = False,
    ) -> IngestSummary:
        """Ingest one file. Continues after the last checkpoint of the same input unless ``full``.

        ``complete_only`` leaves an unterminated last line for a later run (a file still being written).
        """
        if not path.is_file():
            raise ValidationFailed(f"{path}: no such file")
        if profile.kind != "events":
            raise ValidationFailed(
                f"profile {profile.name} is for {profile.kind} feeds: use `auditd import {profile.kind}`"
            )
        source = profile.source_name
        summary = IngestSummary(source=source, input=str(path))
        started = time.perf_counter()
        print_ = fingerprint(path)
        size = path.stat().st_size
        with self.engine.begin() as conn:
            position, line, window = (0, 0, None) if full else resume_point(conn, self.municipality_code, source, path)
            summary.run_id = events_repo.create_run(
                conn,
                municipality_code=self.municipality_code,
                source=source,
                profile=profile.name,
                input=str(path)[:1024],
                fingerprint=print_,
                status="running",
                started_at=_now(),
                position=position,
                line=line,
                identity_window=window,
            )
        summary.started_at_position = position
        if position >= size and size > 0:
            summary.skipped = True
            self._finish(summary, "completed", started)
            return summary
        try:
            identity = RecordIdentity(self.municipality_code, source, window)
            with path.open("rb") as stream:
                self._ingest_stream(stream, profile, summary, identity, position, line, progress, complete_only)
        except BaseException as exc:
            self._finish(summary, "failed", started, error=f"{type(exc).__name__}: {exc}")
            raise
        self._finish(summary, "completed", started)
        with self.engine.begin() as conn:
            record_trail(
                conn,
                self.municipality_code,
                actor,
                "ingest",
                "ingest_run",
                str(summary.run_id),
                {k: v for k, v in summary.as_dict().items() if k != "input"},
            )
        return summary

    def _ingest_stream(
        self,
        stream: BinaryIO,
        profile: Profile,
        summary: IngestSummary,
        identity: RecordIdentity,
        position: int,
        line: int,
        progress: Progress | None,
        complete_only: bool = False,
    ) -> None:
        reader = reader_for(profile)
        rows = self.settings.ingest_chunk_rows
        for chunk in reader.chunks(
            stream, start_position=position, start_line=line, chunk_rows=rows, complete_only=complete_only
        ):
            self.store_chunk(chunk, profile, summary, identity)
            if progress is not None:
                progress(chunk.end_position)

    def _finish(self, summary: IngestSummary, status: str, started: float, error: str | None = None) -> None:
        summary.seconds = time.perf_counter() - started
        with self.engine.begin() as conn:
            events_repo.update_run(conn, summary.run_id, status=status, finished_at=_now(), error=error)

    # -- one chunk ----------------------------------------------------------------------------------

    def store_chunk(
        self,
        chunk: RawChunk,
        profile: Profile,
        summary: IngestSummary,
        identity: RecordIdentity,
        *,
        framed: bool = False,
    ) -> None:
        """Map, protect and store one chunk, with the run's checkpoint, in one transaction.

        ``framed``: the records arrived one by one (listener, push), so a bad record is known by its text
        and rank in the batch, not by a line number that a retry would change.
        """
        source = profile.source_name
        events, rejected = map_event_chunk(chunk, profile)
        masked = self._protect(events)
        events["event_id"] = identity.ids(events["_text"].tolist())
        events["municipality_code"] = self.municipality_code
        events["source"] = source
        events["raw_ref"] = _refs(summary.input, events["_line"])
        quarantine = self._quarantine_frame(chunk, rejected, source, summary, framed=framed)
        new_subjects = self._vault_rows(events)

        with self.engine.begin() as conn:
            batch_id = events_repo.create_batch(
                conn,
                municipality_code=self.municipality_code,
                run_id=summary.run_id,
                created_at=_now(),
                event_count=0,
            )
            events["batch_id"] = batch_id
            inserted = events_repo.insert_events(conn, events)
            if inserted:
                events_repo.update_batch(
                    conn,
                    batch_id,
                    event_count=inserted,
                    min_ts=events["ts"].min().to_pydatetime(),
                    max_ts=events["ts"].max().to_pydatetime(),
                )
            else:
                events_repo.delete_empty_batch(conn, batch_id)
            events_repo.insert_quarantine(conn, quarantine)
            events_repo.insert_subjects(conn, new_subjects)
            events_repo.add_to_run(
                conn,
                summary.run_id,
                records_read=chunk.size,
                accepted=inserted,
                duplicates=len(events) - inserted,
                quarantined=len(quarantine),
                masked=masked,
            )
            events_repo.update_run(
                conn,
                summary.run_id,
                position=chunk.end_position,
                line=chunk.end_line,
                identity_window=identity.state(),
            )
            if len(events):
                events_repo.touch_source(
                    conn,
                    self.municipality_code,
                    source,
                    profile.name,
                    str(events["system"].mode().iloc[0]),
                    events["ts"].max().to_pydatetime(),
                    _now(),
                )
        self._stored_subjects.update(str(row["subject_hash"]) for row in new_subjects)
        summary.read += chunk.size
        summary.accepted += inserted
        summary.duplicates += len(events) - inserted
        summary.quarantined += len(quarantine)
        summary.masked += masked
        summary.reasons.update(quarantine["reason_code"].tolist())

    def _protect(self, events: pd.DataFrame) -> int:
        """Mask 個人番号 in text fields; pseudonymise the subject. Returns how many records were flagged."""
        flags = mask_frame(events, MASKED_FIELDS)
        subject = events["subject"]
        is_number = np.zeros(len(events), dtype=bool)
        present = subject.notna().to_numpy()
        if present.any():
            digits = subject.str.replace(r"[-－ 　]", "", regex=True).str.translate(_FULLWIDTH)
            candidate = present & digits.str.fullmatch(r"\d{12}", na=False).to_numpy()
            if candidate.any():
                is_number[candidate] = valid_mask(digits[candidate])
        events["subject_hash"] = self.pseudonymiser.series(subject)
        events["_subject_is_mynumber"] = is_number
        flags |= is_number
        events["pii_masked"] = flags
        return int(flags.sum())

    def _vault_rows(self, events: pd.DataFrame) -> list[dict[str, object]]:
        """Vault entries for pseudonyms not stored yet (sealed unless the identifier is a 個人番号)."""
        present = events[events["subject_hash"].notna()]
        if present.empty:
            return []
        firsts = present.drop_duplicates("subject_hash")
        firsts = firsts[~firsts["subject_hash"].isin(self._stored_subjects)]
        if firsts.empty:
            return []
        with self.engine.connect() as conn:
            already = events_repo.known_subjects(conn, self.municipality_code, firsts["subject_hash"].tolist())
        self._stored_subjects.update(already)
        firsts = firsts[~firsts["subject_hash"].isin(already)]
        now = _now()
        rows: list[dict[str, object]] = []
        for pseudonym, identifier, is_number in zip(
            firsts["subject_hash"], firsts["subject"], firsts["_subject_is_mynumber"], strict=True
        ):
            sealed = None if is_number else self.vault.seal(self.municipality_code, pseudonym, identifier.strip())
            rows.append(
                {
                    "municipality_code": self.municipality_code,
                    "subject_hash": pseudonym,
                    "sealed": sealed,
                    "is_mynumber": bool(is_number),
                    "first_seen": now,
                }
            )
        return rows

    def _quarantine_frame(
        self, chunk: RawChunk, rejected: pd.DataFrame, source: str, summary: IngestSummary, *, framed: bool = False
    ) -> pd.DataFrame:
        lines = [r.line for r in chunk.rejects] + rejected["_line"].tolist()
        texts = [r.text for r in chunk.rejects] + rejected["_text"].tolist()
        frame = pd.DataFrame(
            {
                "raw_text": pd.array(texts, dtype="str"),
                "reason_code": [r.reason_code for r in chunk.rejects] + rejected["reason_code"].tolist(),
                "reason": pd.array([r.reason for r in chunk.rejects] + rejected["reason"].tolist(), dtype="str"),
                "_line": lines,
            }
        )
        if frame.empty:
            return frame.assign(municipality_code=[], record_key=[], run_id=[], source=[], raw_ref=[], created_at=[])
        frame["raw_text"], _ = mask_series(frame["raw_text"])
        frame["reason"], _ = mask_series(frame["reason"])
        keys = texts if framed else [f"{line}\x1f{text}" for line, text in zip(lines, texts, strict=True)]
        frame["record_key"] = record_ids(self.municipality_code, source + "\x1fquarantine", keys)
        frame["municipality_code"] = self.municipality_code
        frame["run_id"] = summary.run_id
        frame["source"] = source
        frame["raw_ref"] = _refs(summary.input, frame["_line"])
        frame["created_at"] = pd.Timestamp(_now())
        return frame


class StreamIngest:
    """Ingest records that arrive already framed (a syslog listener, an HTTP push) as one run.

    Each :meth:`ingest` call is one transaction and one batch. Ids rank identical texts within the
    batch only, so a sender that retries a batch (after a timeout, a reconnect) stores nothing twice;
    identical records in one batch stay distinct. Records are referenced as ``<input>:<n>``, ``n``
    counting from 1 over the run.
    """

    def __init__(self, ingestor: Ingestor, profile: Profile, input_name: str, *, actor: str = "system") -> None:
        if profile.kind != "events":
            raise ValidationFailed(f"profile {profile.name} is for {profile.kind} feeds, not operation logs")
        self.ingestor = ingestor
        self.profile = profile
        self.reader = reader_for(profile)
        self.actor = actor
        self.total = IngestSummary(source=profile.source_name, input=input_name)
        self._started = time.perf_counter()
        self._next_line = 1
        with ingestor.engine.begin() as conn:
            self.total.run_id = events_repo.create_run(
                conn,
                municipality_code=ingestor.municipality_code,
                source=profile.source_name,
                profile=profile.name,
                input=input_name[:1024],
                fingerprint=None,
                status="running",
                started_at=_now(),
            )

    @property
    def run_id(self) -> int:
        return self.total.run_id

    def ingest(self, texts: Sequence[str]) -> IngestSummary:
        """Store one batch of framed records; returns this batch's counts (the run's totals add up)."""
        batch = IngestSummary(source=self.total.source, input=self.total.input, run_id=self.total.run_id)
        if not texts:
            return batch
        started = time.perf_counter()
        chunk = self.reader.records(texts, first_line=self._next_line)
        self._next_line += len(texts)
        chunk.end_line = self._next_line - 1
        chunk.end_position = chunk.end_line
        identity = RecordIdentity(self.ingestor.municipality_code, self.total.source)
        self.ingestor.store_chunk(chunk, self.profile, batch, identity, framed=True)
        batch.seconds = time.perf_counter() - started
        for name in ("read", "accepted", "duplicates", "quarantined", "masked"):
            setattr(self.total, name, getattr(self.total, name) + getattr(batch, name))
        self.total.reasons.update(batch.reasons)
        return batch

    def close(self, status: str = "completed", error: str | None = None) -> IngestSummary:
        self.ingestor._finish(self.total, status, self._started, error=error)
        with self.ingestor.engine.begin() as conn:
            detail = {k: v for k, v in self.total.as_dict().items() if k != "input"}
            record_trail(
                conn, self.ingestor.municipality_code, self.actor, "ingest", "ingest_run", str(self.run_id), detail
            )
        return self.total


_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def _refs(input_name: str, lines: pd.Series) -> pd.Series:
    prefix = f"{input_name[-480:]}:"
    return prefix + lines.astype("str")


def _now() -> datetime:
    return datetime.now(UTC)
