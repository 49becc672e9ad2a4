"""Stored decisions.

Only violations are rows: an event of a decided batch (``ingest_batches.decided_version_id``) with no
violation row was allowed. That keeps "every event has a decision" without a second table as large
as ``events``. Violations are append-only in spirit (a new policy version adds rows of its own).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, PrimaryKeyConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from auditd.store.base import Base, EventId, MunicipalityScoped, UTCDateTime


class PolicyVersion(MunicipalityScoped, Base):
    """A policy as it was when it judged events: its canonical JSON and fingerprint."""

    __tablename__ = "policy_versions"
    __table_args__ = (Index("uq_policy_versions_digest", "municipality_code", "digest", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sources: Mapped[str] = mapped_column(Text)  # JSON list of files
    content: Mapped[str] = mapped_column(Text)  # canonical JSON


class Violation(MunicipalityScoped, Base):
    """One rule an event broke, under one policy version, with the evidence (no resident identifiers)."""

    __tablename__ = "violations"
    __table_args__ = (
        PrimaryKeyConstraint("municipality_code", "ts", "event_id", "rule", "policy_version_id"),
        Index("ix_violations_rule_ts", "municipality_code", "rule", "ts"),
        Index("ix_violations_user_ts", "municipality_code", "user_id", "ts"),
    )

    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    event_id: Mapped[str] = mapped_column(EventId)
    rule: Mapped[str] = mapped_column(String(32))
    policy_version_id: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[str] = mapped_column(String(64))
    evidence: Mapped[str | None] = mapped_column(Text)  # JSON
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
