"""Every report made, with its file: so reports can be listed, downloaded again and proven unchanged
(SHA-256), and so a scheduled report that already exists is not made twice."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from auditd.store.base import Base, MunicipalityScoped, UTCDateTime

TRIGGERS = ("cli", "api", "dashboard", "schedule")


class ReportRun(MunicipalityScoped, Base):
    __tablename__ = "report_runs"
    __table_args__ = (Index("ix_report_runs_kind", "municipality_code", "kind", "period_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # annual | monthly | disclosure | a plug-in's name
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # inclusive
    format: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(200))
    trigger: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    #: A disclosure report's resident, as the pseudonym (never the 宛名番号): who may see it is narrower.
    subject_hash: Mapped[str | None] = mapped_column(String(32))
    summary: Mapped[str | None] = mapped_column(Text)  # JSON: the figures the trail recorded
    content: Mapped[bytes] = mapped_column(LargeBinary)
