"""Every report made, with its file: so reports can be listed, downloaded again and proven unchanged
(SHA-256), and so a scheduled report that already exists is not made twice. Also what the annual
report needs and no log shows: the register of PIA reports (評価書) with their reviews, and people's
attestations (with evidence) of training, physical measures, audits and the contractors' check."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Index, Integer, LargeBinary, String, Text
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


# -- the PIA register (特定個人情報保護評価書の台帳) ----------------------------------------------------

#: The three kinds of 評価書 (規則第4条 …: threshold assessment decides which one a 事務 needs).
PIA_KINDS: dict[str, str] = {"basic": "基礎項目評価", "focused": "重点項目評価", "full": "全項目評価"}
#: What a ``pia_reviews`` row records: the yearly review (見直し) or a re-assessment (再評価), which is
#: also that year's review.
PIA_REVIEW_KINDS: dict[str, str] = {"review": "見直し", "reassessment": "再評価"}
#: 規則第15条: each 評価書 is reviewed at least once a year and re-assessed within five years.
REVIEW_YEARS, REASSESSMENT_YEARS = 1, 5


def add_years(day: date, years: int) -> date:
    """``day`` plus whole years. A 29 February lands on 28 February of a common year: a due date is
    never later than a year (or five) after the day it counts from (``2024-02-29`` → ``2025-02-28``)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February → a year without one
        return day.replace(year=day.year + years, day=28)


def review_due(published_on: date, last_reviewed_on: date | None, reassessed_on: date | None) -> date:
    """The next yearly review: a year after the latest of the publication, the last review and the last
    re-assessment (a re-assessment is also a review)."""
    latest = max(d for d in (published_on, last_reviewed_on, reassessed_on) if d is not None)
    return add_years(latest, REVIEW_YEARS)


def reassessment_due(published_on: date, reassessed_on: date | None) -> date:
    """The five-year re-assessment: five years after the last re-assessment, else the publication."""
    return add_years(reassessed_on or published_on, REASSESSMENT_YEARS)


class PiaReport(MunicipalityScoped, Base):
    """One 評価書 the municipality published. The review dates are kept current here (for listing and
    due dates); each review itself is a ``pia_reviews`` row, which is never changed."""

    __tablename__ = "pia_reports"
    __table_args__ = (Index("ix_pia_reports_active", "municipality_code", "active"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    jimu: Mapped[str] = mapped_column(String(100))  # the 事務 it covers, e.g. 個人住民税
    kind: Mapped[str] = mapped_column(String(16))  # PIA_KINDS
    published_on: Mapped[date] = mapped_column(Date)  # 公表日
    last_reviewed_on: Mapped[date | None] = mapped_column(Date)  # 直近の見直し日
    reassessed_on: Mapped[date | None] = mapped_column(Date)  # 再評価日
    note: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)  # False: withdrawn (事務の廃止など)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PiaReview(MunicipalityScoped, Base):
    """One review (見直し) or re-assessment (再評価) of a 評価書: when, who, what. Append-only (triggers)."""

    __tablename__ = "pia_reviews"
    __table_args__ = (Index("ix_pia_reviews_pia", "municipality_code", "pia_id", "reviewed_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pia_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # PIA_REVIEW_KINDS
    reviewed_on: Mapped[date] = mapped_column(Date)
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


# -- attestations (証跡による回答) --------------------------------------------------------------------

#: What no log can show, answered by a person with evidence (the annual report's 未確認 items).
ATTESTATION_ITEMS: dict[str, str] = {
    "training": "研修の実施と受講状況",
    "physical_entry": "管理区域の入退室管理",
    "physical_devices": "端末・媒体の盗難防止・保管",
    "audit_internal": "内部監査の実施",
    "audit_external": "外部監査の実施",
    "previous_findings": "前年度指摘事項のフォローアップ",
    "contractor_check": "委託先の年次確認",
}
ATTESTATION_RESULTS: dict[str, str] = {
    "done": "実施済",
    "partly": "一部",
    "not_done": "未実施",
    "not_applicable": "該当なし",
}


class Attestation(MunicipalityScoped, Base):
    """A person's answer to one item of one fiscal year, with an optional evidence file. The newest of a
    (fiscal year, item) is the answer; older ones are kept as given. Append-only (triggers)."""

    __tablename__ = "attestations"
    __table_args__ = (Index("ix_attestations_item", "municipality_code", "fiscal_year", "item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fiscal_year: Mapped[int] = mapped_column(Integer)
    item: Mapped[str] = mapped_column(String(32))  # ATTESTATION_ITEMS
    result: Mapped[str] = mapped_column(String(16))  # ATTESTATION_RESULTS
    statement: Mapped[str] = mapped_column(Text)
    evidence_name: Mapped[str | None] = mapped_column(String(200))
    evidence_media_type: Mapped[str | None] = mapped_column(String(100))
    evidence_size: Mapped[int | None] = mapped_column(Integer)
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    evidence: Mapped[bytes | None] = mapped_column(LargeBinary)
    attested_by: Mapped[str] = mapped_column(String(64))
    attested_at: Mapped[datetime] = mapped_column(UTCDateTime)
