"""Stored findings (alerts) and detection runs.

An alert is identified by a fingerprint of the detector and what it is about (user, residents, day …),
so running the detectors again over the same window finds the same fingerprints and stores nothing
twice. Residents appear only as pseudonyms (``subject_hash``), never in clear.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, Index, Integer, PrimaryKeyConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from auditd.store.base import Base, MunicipalityScoped, UTCDateTime

SEVERITIES = ("critical", "high", "medium", "low")
SEVERITY_JA = {"critical": "重大", "high": "高", "medium": "中", "low": "低"}


class Alert(MunicipalityScoped, Base):
    """One finding of one detector: who, which residents (pseudonymised), when, which events, and why."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("uq_alerts_fingerprint", "municipality_code", "fingerprint", unique=True),
        Index("ix_alerts_start", "municipality_code", "start"),
        Index("ix_alerts_user", "municipality_code", "user_id", "start"),
        Index("ix_alerts_case", "municipality_code", "case_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(8))  # the detector's code, D01 … D21
    severity: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str | None] = mapped_column(String(64))
    terminal_id: Mapped[str | None] = mapped_column(String(64))
    subjects: Mapped[str] = mapped_column(Text)  # JSON list of subject hashes
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    event_ids: Mapped[str] = mapped_column(Text)  # JSON list
    event_count: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(128))
    explanation: Mapped[str] = mapped_column(Text)
    explanation_en: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text)  # JSON
    status: Mapped[str] = mapped_column(String(16), default="new")  # its case's status, or suppressed
    section: Mapped[str | None] = mapped_column(String(32))  # the account's section that day
    case_id: Mapped[int | None] = mapped_column(Integer)  # the case (事案) it was grouped into
    suppression_id: Mapped[int | None] = mapped_column(Integer)  # the suppression that matched it
    run_id: Mapped[int | None] = mapped_column(Integer)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DetectionRun(MunicipalityScoped, Base):
    """One run of the detectors over a window: what ran, how long, how many findings were new."""

    __tablename__ = "detection_runs"
    __table_args__ = (Index("ix_detection_runs_end", "municipality_code", "window_end"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    detectors: Mapped[str] = mapped_column(Text)  # JSON: code -> findings, seconds
    events: Mapped[int] = mapped_column(Integer, default=0)
    findings: Mapped[int] = mapped_column(Integer, default=0)
    new_alerts: Mapped[int] = mapped_column(Integer, default=0)
    actor: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="running")
    error: Mapped[str | None] = mapped_column(Text)


class UserDay(MunicipalityScoped, Base):
    """What one account did on one Japan day, in figures (no residents): the history the anomaly model
    compares a day with, kept as the days are detected so it never re-reads weeks of events."""

    __tablename__ = "user_days"
    __table_args__ = (
        PrimaryKeyConstraint("municipality_code", "day", "user_id"),
        Index("ix_user_days_user", "municipality_code", "user_id", "day"),
    )

    day: Mapped[date] = mapped_column(Date)
    user_id: Mapped[str] = mapped_column(String(64))
    section: Mapped[str | None] = mapped_column(String(32))
    lookups: Mapped[float] = mapped_column(Float)
    residents: Mapped[float] = mapped_column(Float)
    hours: Mapped[float] = mapped_column(Float)
    systems: Mapped[float] = mapped_column(Float)
    actions: Mapped[float] = mapped_column(Float)
    outputs: Mapped[float] = mapped_column(Float)
    first_hour: Mapped[float] = mapped_column(Float)
    last_hour: Mapped[float] = mapped_column(Float)
    no_case_share: Mapped[float] = mapped_column(Float)
