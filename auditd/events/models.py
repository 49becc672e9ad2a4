"""The canonical operation event and the bookkeeping of how events arrived.

``events`` is append-only (triggers refuse UPDATE and DELETE on both backends) and, on PostgreSQL,
range-partitioned by month on ``ts``; partitions are created as data arrives
(:mod:`auditd.store.partitions`).

Its primary key is ``(municipality_code, ts, event_id)``: a partitioned table's unique keys must
contain the partition key, and time right after the municipality makes the key grow at its end
(ingest appends) and serve every "this municipality, this window" read, so no separate time index is
needed (and no planner is tempted by another index that merely starts with the municipality).
``event_id`` is derived from the source record, whose timestamp never changes, so the key is as unique
as the id alone; its first 48 bits are the millisecond of ``ts``, so a lookup by id alone is a narrow
range of the primary key.

Where an event came from is ``batch_id`` → batch → run (the file or stream) plus ``raw_pos`` (the line
in the file, or the message number in the stream): the path is stored once per run, not per event.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from auditd.store.base import Base, EventId, MunicipalityScoped, UTCDateTime

#: Canonical actions (the policy engine and detectors know these; profiles map vendor codes to them).
ACTIONS = (
    "view", "search", "update", "create", "delete", "print", "export", "show_mynumber",
    "link_inquiry", "link_provide", "link_code_request", "login", "logout", "login_fail",
    "admin", "media_write", "file_copy", "audit_config", "batch",
)  # fmt: skip
RESULTS = ("success", "failure")


#: Login events: covered by a partial index holding what the policy engine reads of them.
SESSION_ACTIONS_SQL = "action IN ('login', 'logout')"
SESSION_INDEX_COLUMNS = (
    "municipality_code", "ts", "user_id", "terminal_id", "session_id", "action", "result", "auth_factors",
)  # fmt: skip


class Event(MunicipalityScoped, Base):
    """One operation on a business system by one account (see PRODUCT.md, canonical event)."""

    __tablename__ = "events"
    __table_args__ = (
        PrimaryKeyConstraint("municipality_code", "ts", "event_id"),
        Index("ix_events_user_ts", "municipality_code", "user_id", "ts"),
        Index(
            "ix_events_subject_ts",
            "municipality_code",
            "subject_hash",
            "ts",
            postgresql_where=text("subject_hash IS NOT NULL"),
            sqlite_where=text("subject_hash IS NOT NULL"),
        ),
        Index(  # the logins and logouts operations are joined to, read without scanning every event
            "ix_events_sessions",
            *SESSION_INDEX_COLUMNS,
            postgresql_where=text(SESSION_ACTIONS_SQL),
            sqlite_where=text(SESSION_ACTIONS_SQL),
        ),
        {"postgresql_partition_by": "RANGE (ts)"},
    )

    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    event_id: Mapped[str] = mapped_column(EventId)
    source: Mapped[str] = mapped_column(String(64))
    system: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    terminal_id: Mapped[str | None] = mapped_column(String(64))
    session_id: Mapped[str | None] = mapped_column(String(128))
    jimu: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    screen: Mapped[str | None] = mapped_column(String(128))
    function: Mapped[str | None] = mapped_column(String(128))
    subject_hash: Mapped[str | None] = mapped_column(String(32))
    subject_count: Mapped[int] = mapped_column(Integer, default=1)
    result: Mapped[str] = mapped_column(String(16), default="success")
    auth_factors: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    seq: Mapped[int | None] = mapped_column(BigInteger)
    pii_masked: Mapped[bool] = mapped_column(Boolean, default=False)
    batch_id: Mapped[int] = mapped_column(Integer)
    raw_pos: Mapped[int] = mapped_column(BigInteger)


class Source(MunicipalityScoped, Base):
    """A log source: one collector profile feeding one system, with what is expected of it."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    profile: Mapped[str] = mapped_column(String(128))
    system: Mapped[str | None] = mapped_column(String(64))
    expected_max_silence_hours: Mapped[int | None] = mapped_column(Integer)
    push_token_hash: Mapped[str | None] = mapped_column(String(128))
    last_event_ts: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("uq_sources_name", "municipality_code", "name", unique=True),)


class IngestRun(MunicipalityScoped, Base):
    """One ingest of one input (a file, a drop-folder file, a listener session), with its counts.

    ``position``/``line``/``identity_window`` are the checkpoint: the byte offset and line reached,
    and the state of the record-identity window, committed in the same transaction as the events,
    so an interrupted run resumes exactly there and gives the same event ids.
    """

    __tablename__ = "ingest_runs"
    __table_args__ = (Index("ix_ingest_runs_fingerprint", "municipality_code", "source", "fingerprint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    profile: Mapped[str] = mapped_column(String(128))
    input: Mapped[str] = mapped_column(String(1024))
    fingerprint: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    records_read: Mapped[int] = mapped_column(BigInteger, default=0)
    accepted: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicates: Mapped[int] = mapped_column(BigInteger, default=0)
    quarantined: Mapped[int] = mapped_column(BigInteger, default=0)
    masked: Mapped[int] = mapped_column(BigInteger, default=0)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    line: Mapped[int] = mapped_column(BigInteger, default=0)
    identity_window: Mapped[bytes | None] = mapped_column(LargeBinary)  # see collectors.pipeline.RecordIdentity
    error: Mapped[str | None] = mapped_column(Text)


class IngestBatch(MunicipalityScoped, Base):
    """The events stored by one transaction of a run: the unit of the tamper-evident chain."""

    __tablename__ = "ingest_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("ingest_runs.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_count: Mapped[int] = mapped_column(Integer)
    min_ts: Mapped[datetime | None] = mapped_column(UTCDateTime)
    max_ts: Mapped[datetime | None] = mapped_column(UTCDateTime)
    digest: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    prev_digest: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    decided_version_id: Mapped[int | None] = mapped_column(Integer)  # policy version that judged its events
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class QuarantinedRecord(MunicipalityScoped, Base):
    """A record that could not become an event, kept with why (its text masked like any event)."""

    __tablename__ = "quarantine"
    __table_args__ = (
        Index("ix_quarantine_run", "municipality_code", "run_id"),
        # The same bad record quarantined twice (a file re-ingested) is kept once.
        Index("uq_quarantine_record", "municipality_code", "record_key", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_key: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_runs.id"))
    source: Mapped[str] = mapped_column(String(64))
    raw_ref: Mapped[str] = mapped_column(String(512))
    reason_code: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    raw_text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EventHour(MunicipalityScoped, Base):
    """Events of one Japan-time hour with the same source, system, 事務, action, result and factors.

    A rollup maintained at ingest (:mod:`auditd.events.rollup`), so a year is summarised from a few
    hundred thousand rows instead of tens of millions of events. Key columns that events may leave
    NULL (``jimu``, ``factors``) hold ``''``, so the primary key can hold them.
    """

    __tablename__ = "event_hours"
    __table_args__ = (
        PrimaryKeyConstraint(
            "municipality_code", "day", "hour", "source", "system", "jimu", "action", "result", "factors"
        ),
    )

    day: Mapped[date] = mapped_column(Date)  # Japan time
    hour: Mapped[int] = mapped_column(Integer)  # 0–23, Japan time
    source: Mapped[str] = mapped_column(String(64))
    system: Mapped[str] = mapped_column(String(64))
    jimu: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    result: Mapped[str] = mapped_column(String(16))
    factors: Mapped[str] = mapped_column(String(64))  # auth_factors, parts sorted, comma-separated
    events: Mapped[int] = mapped_column(BigInteger)
    subjects: Mapped[int] = mapped_column(BigInteger)  # residents touched: subject_count of rows naming one, or many
    masked: Mapped[int] = mapped_column(BigInteger)  # rows flagged pii_masked


class AccountDay(MunicipalityScoped, Base):
    """One account's Japan-time day in counts: a rollup maintained at ingest (see :class:`EventHour`)."""

    __tablename__ = "account_days"
    __table_args__ = (
        PrimaryKeyConstraint("municipality_code", "day", "user_id"),
        # one account's days (the pages' accounts shown, a section's peers, an account's last login):
        # a seek per account, never the whole municipality's days
        Index("ix_account_days_user_day", "municipality_code", "user_id", "day"),
    )

    day: Mapped[date] = mapped_column(Date)
    user_id: Mapped[str] = mapped_column(String(64))
    events: Mapped[int] = mapped_column(BigInteger)
    outputs: Mapped[int] = mapped_column(BigInteger)  # print and export
    subjects: Mapped[int] = mapped_column(BigInteger)
    logins: Mapped[int] = mapped_column(BigInteger)  # successful logins
    # of those, with two factors or more (the overview's two-factor coverage)
    strong_logins: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    auth_events: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # logins and logouts
    first_ts: Mapped[datetime] = mapped_column(UTCDateTime)
    last_ts: Mapped[datetime] = mapped_column(UTCDateTime)
