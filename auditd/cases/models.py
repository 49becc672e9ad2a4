"""Tables of the response side: cases (事案) that group alerts into one story, their append-only
history (every change, comment and export: who and when), evidence exports attached to them,
suppressions (patterns an officer marked legitimate) and the breach-report (漏えい等報告) checklist
that opens when a case is confirmed 不適切 or 不正."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from auditd.store.base import Base, MunicipalityScoped, UTCDateTime

#: The workflow: 新規 → 調査中 → 対応済 (a closed case can be reopened, with a reason).
CASE_STATUSES = ("new", "investigating", "closed")
STATUS_JA = {"new": "新規", "investigating": "調査中", "closed": "対応済", "suppressed": "抑止"}
#: What the officer concluded; required to close.
DISPOSITIONS = ("legitimate", "inappropriate", "fraud", "false_positive")
DISPOSITION_JA = {"legitimate": "正当業務", "inappropriate": "不適切", "fraud": "不正", "false_positive": "誤検知"}
#: Dispositions that open the breach-report checklist.
CONFIRMED = ("inappropriate", "fraud")
#: What a ``case_events`` row says happened.
CASE_ACTIONS = (
    "opened",
    "alert_added",
    "assigned",
    "status",
    "comment",
    "closed",
    "reopened",
    "evidence",
    "breach_opened",
    "breach_updated",
    "breach_reported",
)


class Case(MunicipalityScoped, Base):
    """One story for an officer: the alerts about one account (or one resident) close in time."""

    __tablename__ = "alert_cases"
    __table_args__ = (
        Index("ix_alert_cases_status", "municipality_code", "status", "opened_at"),
        Index("ix_alert_cases_user", "municipality_code", "user_id"),
        Index("ix_alert_cases_section", "municipality_code", "section", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(String(64))  # the operator account the story is about
    section: Mapped[str | None] = mapped_column(String(32))  # that account's section (section heads see theirs)
    severity: Mapped[str] = mapped_column(String(16))  # the highest of its alerts
    status: Mapped[str] = mapped_column(String(16), default="new")  # CASE_STATUSES
    assignee: Mapped[str | None] = mapped_column(String(64))  # platform username
    disposition: Mapped[str | None] = mapped_column(String(16))  # DISPOSITIONS
    disposition_reason: Mapped[str | None] = mapped_column(Text)
    subjects: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of resident pseudonyms
    first_start: Mapped[datetime] = mapped_column(UTCDateTime)
    last_end: Mapped[datetime] = mapped_column(UTCDateTime)
    alert_count: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(64))


class CaseEvent(MunicipalityScoped, Base):
    """One change to a case: who, when, what (and the comment's text). Append-only (triggers)."""

    __tablename__ = "alert_case_events"
    __table_args__ = (Index("ix_alert_case_events_case", "municipality_code", "case_id", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(Integer)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(24))  # CASE_ACTIONS
    body: Mapped[str | None] = mapped_column(Text)  # a comment, a reason
    detail: Mapped[str | None] = mapped_column(Text)  # JSON: from/to, alert ids, attachment …


class CaseAttachment(MunicipalityScoped, Base):
    """An evidence export kept with the case (CSV or PDF), with its digest."""

    __tablename__ = "alert_case_attachments"
    __table_args__ = (Index("ix_alert_case_attachments_case", "municipality_code", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Suppression(MunicipalityScoped, Base):
    """A pattern an officer marked legitimate: alerts matching every field given (rule, account,
    resident pseudonym, section) until ``expires_on`` are stored as ``suppressed``, not put in a case."""

    __tablename__ = "suppressions"
    __table_args__ = (Index("ix_suppressions_expiry", "municipality_code", "expires_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule: Mapped[str | None] = mapped_column(String(8))
    user_id: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(64))  # a resident's pseudonym
    section: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    expires_on: Mapped[date] = mapped_column(Date)  # the last day it applies (Japan time)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BreachReport(MunicipalityScoped, Base):
    """The 漏えい等報告 checklist of a confirmed case: whether it must be reported to the PPC under the
    My Number Act (番号法第29条の4 and the PPC rules), and the deadlines of the 速報 and the 確報."""

    __tablename__ = "breach_reports"
    __table_args__ = (Index("uq_breach_reports_case", "municipality_code", "case_id", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(Integer)
    discovered_on: Mapped[date] = mapped_column(Date)  # 事態を知った日: the deadlines count from it
    mynumber_system: Mapped[bool] = mapped_column(Boolean)  # from a 個人番号利用事務 system
    wrongful_purpose: Mapped[bool] = mapped_column(Boolean)  # 不正の目的をもって行われたおそれ
    over_100: Mapped[bool] = mapped_column(Boolean)  # more than 100 people's 個人番号
    public_exposure: Mapped[bool] = mapped_column(Boolean)  # 不特定多数に閲覧されたおそれ
    reportable: Mapped[bool] = mapped_column(Boolean)
    preliminary_due: Mapped[date] = mapped_column(Date)
    final_due: Mapped[date] = mapped_column(Date)
    preliminary_reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    final_reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
