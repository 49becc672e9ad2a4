"""The record of archived months of events and of what left the ``events`` table (all append-only).

- ``event_archives``: one Parquet file of one municipality's events of one Japan month, with its row
  count and SHA-256, checked against the database before the record was written.
- ``event_archive_batches``: per ingest batch with events in that month, where those events sit in
  the batch's seal (a contiguous range of its fingerprints: the seal is in time order). This is
  what lets ``auditd verify`` tell "archived and removed under a record" from "deleted".
- ``event_archive_actions``: what was done to the month's events in the store after archiving:
  ``detach`` (PostgreSQL: the partition left ``events``), ``drop`` (its table dropped), ``delete``
  (SQLite: the rows deleted), ``restore`` (loaded back for an investigation).

Every row carries a MAC under the chain key: someone who can write to the database but has not the
key cannot make a deletion look like an archived month.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, Integer, LargeBinary, PrimaryKeyConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from auditd.store.base import Base, MunicipalityScoped, UTCDateTime


class EventArchive(MunicipalityScoped, Base):
    """One month of one municipality's events written to one Parquet file and verified."""

    __tablename__ = "event_archives"
    __table_args__ = (Index("ix_event_archives_month", "municipality_code", "month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    month: Mapped[date] = mapped_column(Date)  # first day of the Japan month
    path: Mapped[str] = mapped_column(Text)  # absolute path of the file when written
    rows: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))  # of the file, hex
    batches: Mapped[int] = mapped_column(Integer)  # ingest batches with events in the month
    first_batch_id: Mapped[int | None] = mapped_column(Integer)
    last_batch_id: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    mac: Mapped[bytes] = mapped_column(LargeBinary(32))


class EventArchiveBatch(MunicipalityScoped, Base):
    """The events of one batch that an archive holds: ``events`` seal fingerprints from ``first_index``."""

    __tablename__ = "event_archive_batches"
    __table_args__ = (
        PrimaryKeyConstraint("archive_id", "batch_id"),
        Index("ix_event_archive_batches_batch", "municipality_code", "batch_id"),
    )

    archive_id: Mapped[int] = mapped_column(Integer)
    batch_id: Mapped[int] = mapped_column(Integer)
    first_index: Mapped[int | None] = mapped_column(BigInteger)  # None: a batch stored before the chain existed
    events: Mapped[int] = mapped_column(BigInteger)
    mac: Mapped[bytes] = mapped_column(LargeBinary(32))


class EventArchiveAction(MunicipalityScoped, Base):
    """What was done to an archived month's events in the store, by whom, when and why."""

    __tablename__ = "event_archive_actions"
    __table_args__ = (Index("ix_event_archive_actions_archive", "municipality_code", "archive_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    archive_id: Mapped[int] = mapped_column(Integer)
    month: Mapped[date] = mapped_column(Date)
    action: Mapped[str] = mapped_column(String(16))  # detach | drop | delete | restore
    reason: Mapped[str] = mapped_column(String(16))  # archive | retention | investigation
    rows: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    mac: Mapped[bytes] = mapped_column(LargeBinary(32))
