"""Tables of the rights lifecycle. Grants themselves are ``reference.Grant`` (origin ``api`` when
issued here); this module adds the requests that lead to them and the append-only history of every
step taken on them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from auditd.store.base import Base, MunicipalityScoped, UTCDateTime

#: Request statuses: a request is decided once.
REQUEST_STATUSES = ("pending", "approved", "rejected")
#: What a ``grant_events`` row says happened.
GRANT_EVENT_ACTIONS = ("requested", "approved", "rejected", "revoked", "suspended", "flagged")


class GrantRequest(MunicipalityScoped, Base):
    """A request that an account be granted a role (権限付与申請), decided by the 所属長 or an officer."""

    __tablename__ = "grant_requests"
    __table_args__ = (
        Index("ix_grant_requests_status", "municipality_code", "status", "requested_at"),
        Index("ix_grant_requests_user", "municipality_code", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(64))  # the operator account (reference.Account)
    role: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)  # exclusive, like grants
    temporary: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|approved|rejected
    requested_by: Mapped[str] = mapped_column(String(64))  # platform username (or api:<token>)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    grant_id: Mapped[int | None] = mapped_column(Integer)  # the grant issued on approval


class GrantEvent(MunicipalityScoped, Base):
    """One step in the life of a request or a grant: who, when, what, why. Append-only (triggers)."""

    __tablename__ = "grant_events"
    __table_args__ = (
        Index("ix_grant_events_grant", "municipality_code", "grant_id", "ts"),
        Index("ix_grant_events_ts", "municipality_code", "ts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # GRANT_EVENT_ACTIONS
    user_id: Mapped[str] = mapped_column(String(64))  # the account concerned
    request_id: Mapped[int | None] = mapped_column(Integer)
    grant_id: Mapped[int | None] = mapped_column(Integer)
    effective_on: Mapped[date | None] = mapped_column(Date)  # the day the change takes effect (異動日, 退職日 …)
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)  # JSON: cause, sections, role …
