"""Users of auditd itself (not the operator accounts in the logs: those are ``reference.Account``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from auditd.store.base import Base, MunicipalityScoped, UTCDateTime


class PlatformRole(StrEnum):
    OFFICER = "officer"  # 情報セキュリティ責任者 / 保護責任者: everything in their municipality
    AUDITOR = "auditor"  # 監査担当: read-only, reports and trails
    SECTION_HEAD = "section_head"  # 所属長: their own section only
    ADMIN = "admin"  # システム管理者: configuration, no resident data
    API = "api"  # another system calling the API

    @property
    def label_ja(self) -> str:
        return _LABELS_JA[self]


_LABELS_JA = {
    PlatformRole.OFFICER: "セキュリティ責任者",
    PlatformRole.AUDITOR: "監査担当",
    PlatformRole.SECTION_HEAD: "所属長",
    PlatformRole.ADMIN: "システム管理者",
    PlatformRole.API: "APIクライアント",
}


class PlatformUser(MunicipalityScoped, Base):
    __tablename__ = "platform_users"
    __table_args__ = (Index("uq_platform_users_username", "municipality_code", "username", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    section_code: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(256))
    totp_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
