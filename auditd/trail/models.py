"""Append-only record of what the platform's users (and its jobs) did. Triggers refuse edits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from auditd.store.base import Base, MunicipalityScoped, UTCDateTime


class TrailEntry(MunicipalityScoped, Base):
    __tablename__ = "trail"
    __table_args__ = (
        Index("ix_trail_ts", "municipality_code", "ts"),
        Index("ix_trail_actor", "municipality_code", "actor", "ts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))  # platform username, "cli:<os user>" or "system"
    action: Mapped[str] = mapped_column(String(64))  # e.g. login, login_failed, ingest, reveal_subject
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[str | None] = mapped_column(Text)  # JSON, never resident identifiers
    client: Mapped[str | None] = mapped_column(String(64))  # IP address or "cli"
