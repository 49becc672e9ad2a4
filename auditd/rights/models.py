"""Tables of the rights lifecycle. Grants themselves are ``reference.Grant`` (origin ``api`` when
issued here); this module adds the requests that lead to them and the append-only history of every
step taken on them."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import BigInteger, Boolean, Date, Index, Integer, String, Text, Time
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


# -- recertification campaigns (権限表の見直し) ---------------------------------------------------------

#: Campaign statuses and how a campaign was started.
CAMPAIGN_STATUSES = ("open", "closed")
CAMPAIGN_TRIGGERS = ("manual", "scheduled")
#: What a section head may decide on a grant under review.
RECERT_DECISIONS = ("keep", "revoke", "change")
#: What a ``recert_events`` row says happened.
RECERT_EVENT_ACTIONS = ("opened", "decided", "reminded", "escalated", "flagged", "closed", "report")


class RecertCampaign(MunicipalityScoped, Base):
    """A recertification campaign: every active grant reviewed by its section head before ``deadline``."""

    __tablename__ = "recert_campaigns"
    __table_args__ = (
        Index("ix_recert_campaigns_status", "municipality_code", "status", "deadline"),
        Index("ix_recert_campaigns_starts", "municipality_code", "trigger", "starts_on"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    trigger: Mapped[str] = mapped_column(String(16), default="manual")  # CAMPAIGN_TRIGGERS
    status: Mapped[str] = mapped_column(String(16), default="open")  # CAMPAIGN_STATUSES
    starts_on: Mapped[date] = mapped_column(Date)
    deadline: Mapped[date] = mapped_column(Date)  # the last day to decide (inclusive)
    usage_months: Mapped[int] = mapped_column(Integer)
    usage_from: Mapped[date] = mapped_column(Date)  # the usage window, [from, to)
    usage_to: Mapped[date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # unreviewed items flagged
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # non-responders escalated
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RecertItem(MunicipalityScoped, Base):
    """One grant under review, with its usage over the campaign's window and the decision taken on it."""

    __tablename__ = "recert_items"
    __table_args__ = (
        Index("ix_recert_items_campaign", "municipality_code", "campaign_id", "section_code", "user_id"),
        Index("ix_recert_items_grant", "municipality_code", "grant_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(Integer)
    grant_id: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    section_code: Mapped[str | None] = mapped_column(String(32))  # the reviewing section (the staff's)
    lookups: Mapped[int] = mapped_column(BigInteger, default=0)  # events in the usage window
    active_days: Mapped[int] = mapped_column(Integer, default=0)
    last_used: Mapped[date | None] = mapped_column(Date)
    decision: Mapped[str | None] = mapped_column(String(16))  # RECERT_DECISIONS
    new_role: Mapped[str | None] = mapped_column(String(64))  # for change
    new_valid_to: Mapped[date | None] = mapped_column(Date)
    new_request_id: Mapped[int | None] = mapped_column(Integer)  # the grant request a change made
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # unreviewed at the deadline


class RecertEvent(MunicipalityScoped, Base):
    """One step of a campaign (opened, decided, reminded, escalated, flagged, closed). Append-only."""

    __tablename__ = "recert_events"
    __table_args__ = (Index("ix_recert_events_campaign", "municipality_code", "campaign_id", "action", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[int | None] = mapped_column(Integer)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # RECERT_EVENT_ACTIONS
    section_code: Mapped[str | None] = mapped_column(String(32))
    on_day: Mapped[date | None] = mapped_column(Date)  # the day the job acted for (idempotence)
    detail: Mapped[str | None] = mapped_column(Text)  # JSON


# -- end recertification campaigns


# -- contractors (委託業者の作業者名簿) -------------------------------------------------------------------


class Contract(MunicipalityScoped, Base):
    """A contract under which a contractor's operators work: its period (grants end with it), the
    work window (作業時間 and weekdays) and the sections it is for."""

    __tablename__ = "contracts"
    __table_args__ = (Index("ux_contracts_number", "municipality_code", "contract_number", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contractor: Mapped[str] = mapped_column(String(128))  # the company (委託業者名)
    contract_number: Mapped[str] = mapped_column(String(64))  # 契約番号
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)  # exclusive, like grants: the first day after the contract
    window_start: Mapped[time | None] = mapped_column(Time)  # Japan time
    window_end: Mapped[time | None] = mapped_column(Time)
    weekdays: Mapped[str] = mapped_column(String(7), default="12345")  # ISO weekday digits, 1 = Monday
    sections: Mapped[str | None] = mapped_column(Text)  # section codes, comma-separated
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ContractOperator(MunicipalityScoped, Base):
    """A person of the personnel register working under a contract, with the day they signed the
    pledge (誓約書) for it. A table rather than a column on ``staff``: one person works under
    successive contracts (renewed every fiscal year, each with its own pledge), and ``staff`` is
    replaced by the staff feed."""

    __tablename__ = "contract_operators"
    __table_args__ = (Index("ix_contract_operators_staff", "municipality_code", "staff_id"),)

    contract_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    pledge_date: Mapped[date | None] = mapped_column(Date)
    assigned_by: Mapped[str] = mapped_column(String(64))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime)


# -- end contractors
