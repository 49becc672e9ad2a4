"""Reference data (PRODUCT.md, 'Reference data'). Residents appear only as pseudonyms (``*_hash``).

Reference feeds are replaced or versioned by their importers; validity is expressed with
``valid_from`` / ``valid_to`` (``valid_to`` exclusive, NULL for open-ended) so a late event is
judged by the facts of its own time.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import Boolean, Date, Index, Integer, String, Text, Time
from sqlalchemy.orm import Mapped, mapped_column

from auditd.store.base import Base, MunicipalityScoped, UTCDateTime


class Municipality(Base):
    """A 市区町村 served by this deployment (a consortium has several)."""

    __tablename__ = "municipalities"

    municipality_code: Mapped[str] = mapped_column(String(6), primary_key=True, sort_order=-100)
    name: Mapped[str] = mapped_column(String(64))
    prefecture: Mapped[str | None] = mapped_column(String(16))
    population: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Section(MunicipalityScoped, Base):
    """A 所属 (課・係). Business hours are NULL where the municipality default applies."""

    __tablename__ = "sections"

    section_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    municipality_code: Mapped[str] = mapped_column(String(6), primary_key=True, sort_order=-100)
    name: Mapped[str] = mapped_column(String(64))
    parent_code: Mapped[str | None] = mapped_column(String(32))
    hours_start: Mapped[time | None] = mapped_column(Time)
    hours_end: Mapped[time | None] = mapped_column(Time)
    weekend_counter: Mapped[bool] = mapped_column(Boolean, default=False)


class Staff(MunicipalityScoped, Base):
    """A person on the personnel register (職員, 会計年度任用職員, or a contractor's operator)."""

    __tablename__ = "staff"

    staff_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    municipality_code: Mapped[str] = mapped_column(String(6), primary_key=True, sort_order=-100)
    name: Mapped[str] = mapped_column(String(64))
    name_kana: Mapped[str | None] = mapped_column(String(64))
    employment: Mapped[str] = mapped_column(String(16), default="regular")  # regular|temporary|contractor
    contractor: Mapped[str | None] = mapped_column(String(128))
    pledge_date: Mapped[date | None] = mapped_column(Date)
    hired_on: Mapped[date | None] = mapped_column(Date)
    retired_on: Mapped[date | None] = mapped_column(Date)
    resident_hash: Mapped[str | None] = mapped_column(String(32))  # the staff member as a resident
    household_hash: Mapped[str | None] = mapped_column(String(32))
    home_area: Mapped[str | None] = mapped_column(String(32))


class StaffAssignment(MunicipalityScoped, Base):
    """Which section a person belongs to over time: a transfer (異動) closes one row and opens another."""

    __tablename__ = "staff_assignments"
    __table_args__ = (Index("ix_staff_assignments_staff", "municipality_code", "staff_id", "valid_from"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    staff_id: Mapped[str] = mapped_column(String(32))
    section_code: Mapped[str] = mapped_column(String(32))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    position: Mapped[str | None] = mapped_column(String(32))


class Account(MunicipalityScoped, Base):
    """An operator account (the ``user_id`` in logs). Personal accounts belong to exactly one person."""

    __tablename__ = "accounts"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    municipality_code: Mapped[str] = mapped_column(String(6), primary_key=True, sort_order=-100)
    staff_id: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16), default="personal")  # personal|batch|admin|temporary
    created_on: Mapped[date | None] = mapped_column(Date)
    disabled_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)


class Grant(MunicipalityScoped, Base):
    """An access right: an account holds a role from ``valid_from`` until ``valid_to`` (exclusive)."""

    __tablename__ = "grants"
    __table_args__ = (Index("ix_grants_user", "municipality_code", "user_id", "valid_from"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    approver: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active|suspended|revoked
    origin: Mapped[str] = mapped_column(String(16), default="ledger")  # ledger|api
    #: The day a suspension or revocation took effect (the grant held until then): events from before it,
    #: decided later, are still judged under the grant. Empty for a grant ended without a known day.
    ended_on: Mapped[date | None] = mapped_column(Date)


class Terminal(MunicipalityScoped, Base):
    """A registered terminal, its owning section and network segment (三層の対策)."""

    __tablename__ = "terminals"

    terminal_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    municipality_code: Mapped[str] = mapped_column(String(6), primary_key=True, sort_order=-100)
    section_code: Mapped[str | None] = mapped_column(String(32))
    segment: Mapped[str] = mapped_column(String(16), default="mynumber")  # mynumber|lgwan|internet
    kind: Mapped[str] = mapped_column(String(16), default="desktop")  # desktop|counter|server|mobile
    registered_on: Mapped[date | None] = mapped_column(Date)
    retired_on: Mapped[date | None] = mapped_column(Date)


class CalendarDay(MunicipalityScoped, Base):
    """One day of the municipal calendar: open (開庁日) or closed (閉庁日) and why."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    municipality_code: Mapped[str] = mapped_column(String(6), primary_key=True, sort_order=-100)
    is_open: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str | None] = mapped_column(String(64))


class Overtime(MunicipalityScoped, Base):
    """Approved overtime (時間外勤務命令) for one person on one day."""

    __tablename__ = "overtime"
    __table_args__ = (Index("ix_overtime_staff_day", "municipality_code", "staff_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    staff_id: Mapped[str] = mapped_column(String(32))
    day: Mapped[date] = mapped_column(Date)
    start: Mapped[time] = mapped_column(Time)
    end: Mapped[time] = mapped_column(Time)
    approver: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)


class BusinessCase(MunicipalityScoped, Base):
    """A 案件 that explains looking at a resident: an assessment, a delinquency case, a reception."""

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_subject", "municipality_code", "subject_hash", "opened_at"),)

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    municipality_code: Mapped[str] = mapped_column(String(6), primary_key=True, sort_order=-100)
    jimu: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))  # assessment|delinquency|application|reception|inquiry
    subject_hash: Mapped[str] = mapped_column(String(32))
    section_code: Mapped[str | None] = mapped_column(String(32))
    assignee: Mapped[str | None] = mapped_column(String(32))  # staff_id
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutputApproval(MunicipalityScoped, Base):
    """A prior approval (出力承認) for a bulk print, export or extraction, with its limit."""

    __tablename__ = "output_approvals"

    approval_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    municipality_code: Mapped[str] = mapped_column(String(6), primary_key=True, sort_order=-100)
    staff_id: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(64))  # an account without a person (a batch job)
    jimu: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))  # print|export|link_inquiry
    max_count: Mapped[int | None] = mapped_column(Integer)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_to: Mapped[datetime] = mapped_column(UTCDateTime)
    approver: Mapped[str | None] = mapped_column(String(32))
    purpose: Mapped[str | None] = mapped_column(Text)


class WatchlistEntry(MunicipalityScoped, Base):
    """A resident whose records need a reason every time (DV等支援措置, public figure, staff member)."""

    __tablename__ = "watchlist"
    __table_args__ = (Index("ix_watchlist_subject", "municipality_code", "subject_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_hash: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(32))  # dv_support|public_figure|staff|other
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)


class Resident(MunicipalityScoped, Base):
    """The resident master reduced to what detection needs; no name, no address, no number."""

    __tablename__ = "residents"
    __table_args__ = (Index("ix_residents_household", "municipality_code", "household_hash"),)

    subject_hash: Mapped[str] = mapped_column(String(32), primary_key=True)
    municipality_code: Mapped[str] = mapped_column(String(6), primary_key=True, sort_order=-100)
    household_hash: Mapped[str | None] = mapped_column(String(32))
    area_code: Mapped[str | None] = mapped_column(String(32))
    surname_kana: Mapped[str | None] = mapped_column(String(64))


class ReferenceGeneration(Base):
    """Bumped by every write of reference data, so caches of it know when to reload."""

    __tablename__ = "reference_generations"

    municipality_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
