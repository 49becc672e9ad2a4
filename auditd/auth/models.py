"""Users of auditd itself (not the operator accounts in the logs: those are ``reference.Account``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
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
    # The TOTP secret, sealed with the vault (AES-256-GCM bound to the user's row); never in clear.
    totp_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The last RFC 6238 time step accepted: a code of this step or an earlier one is a replay.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Sessions are signed cookies held by the browser; each carries the epoch it was opened in, and
    # raising the epoch (logout, password change) ends every copy of every session of the user.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ApiToken(MunicipalityScoped, Base):
    """A bearer token for ``/api/v1`` routes: a system's (role ``api``, no owner) or a person's (their
    scripts act as them, narrowed to the token's scopes). Only the SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        Index("uq_api_tokens_name", "municipality_code", "name", unique=True),
        Index("uq_api_tokens_token_hash", "token_hash", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(16))  # "api" for a system; the owner's role when issued otherwise
    user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("platform_users.id"))
    scopes: Mapped[str] = mapped_column(Text)  # space-separated, sorted
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
