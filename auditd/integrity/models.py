"""The tamper-evident chain over ingest batches, and the record of every check of it.

A batch's ``digest`` and ``prev_digest`` live on ``ingest_batches`` (see
:class:`auditd.events.models.IngestBatch`). The tables here hold what the chain needs besides:

- ``chain_heads``: per municipality, the last sealed batch. Sealing locks this row, so batches of one
  municipality are chained one after another even when several ingests commit at once.
- ``batch_seals``: per batch, its position in the chain, the SHA-256 of its events and one
  fingerprint per event. The seal is deliberately not a foreign key of the batch: when someone
  deletes a batch, its seal stays and says exactly what went missing.
- ``integrity_checks``: each run of ``auditd verify`` (append-only, like the trail). The head it saw
  is kept, so a later check notices a chain cut short *and* a head rewritten to match.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from auditd.store.base import Base, MunicipalityScoped, UTCDateTime


class ChainHead(MunicipalityScoped, Base):
    """The end of a municipality's chain: what the next batch links to."""

    __tablename__ = "chain_heads"

    # municipality_code (from the mixin) is the primary key: one chain per municipality
    municipality_code: Mapped[str] = mapped_column(String(6), primary_key=True, sort_order=-100)
    last_batch_id: Mapped[int | None] = mapped_column(Integer)
    last_digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    batches: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # HMAC of a fixed text under the chain key: tells "this is not the key that sealed the chain"
    # (a store restored without its keys) apart from "every batch was altered"
    key_check: Mapped[bytes] = mapped_column(LargeBinary(16))


class BatchSeal(MunicipalityScoped, Base):
    """What sealing a batch computed: its place in the chain and the fingerprints of its events."""

    __tablename__ = "batch_seals"
    __table_args__ = (Index("uq_batch_seals_position", "municipality_code", "position", unique=True),)

    batch_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigInteger)  # 1, 2, 3 … within the municipality
    event_count: Mapped[int] = mapped_column(Integer)
    events_sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    fingerprints: Mapped[bytes] = mapped_column(LargeBinary)  # 8 bytes per event, canonical order
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IntegrityCheck(MunicipalityScoped, Base):
    """One verification of the chain (append-only: a check's verdict is evidence too)."""

    __tablename__ = "integrity_checks"
    __table_args__ = (Index("ix_integrity_checks_started", "municipality_code", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    since: Mapped[datetime | None] = mapped_column(UTCDateTime)  # batches sealed from then on; NULL: all
    first_position: Mapped[int | None] = mapped_column(BigInteger)
    last_position: Mapped[int | None] = mapped_column(BigInteger)
    batches_checked: Mapped[int] = mapped_column(BigInteger)
    events_checked: Mapped[int] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(16))  # intact | tampered
    findings: Mapped[str] = mapped_column(Text)  # JSON list, see auditd.integrity.service.Finding
    head_position: Mapped[int | None] = mapped_column(BigInteger)  # the chain's end as this check saw it
    head_digest: Mapped[bytes | None] = mapped_column(LargeBinary(32))
