"""Tables of alert e-mail: who receives what (recipients) and the outbox delivery works through.

A message is written to the outbox in the transaction that decides it (with a dedupe key, unique per
municipality), and sent later by :func:`auditd.mail.service.deliver`, one transaction per message.
Neither table holds resident identifiers, staff names or account ids: messages carry alert and case
numbers, rule codes and section codes only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from auditd.store.base import Base, MunicipalityScoped, UTCDateTime

#: Outbox statuses. ``sending`` is a claim: it expires (see ``service.SENDING_LEASE``) if the sender died.
OUTBOX_STATUSES = ("queued", "sending", "sent", "failed")
#: What an outbox message is.
MAIL_KINDS = ("alert", "digest", "reminder", "test", "report", "pia")


class MailRecipient(MunicipalityScoped, Base):
    """An address that receives alert mail, with what it receives: sections (``None`` = all), the lowest
    severity, and which kinds (immediate alerts, the daily digest, reminders). Deactivated, not deleted."""

    __tablename__ = "mail_recipients"
    __table_args__ = (Index("ix_mail_recipients_active", "municipality_code", "active"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(String(254))
    label: Mapped[str | None] = mapped_column(String(128))  # a role, e.g. 情報政策課 セキュリティ担当; no names
    sections: Mapped[str | None] = mapped_column(Text)  # JSON list of section codes; NULL = every section
    min_severity: Mapped[str] = mapped_column(String(16), default="high")  # auditd.alerts.models.SEVERITIES
    immediate: Mapped[bool] = mapped_column(Boolean, default=True)
    digest: Mapped[bool] = mapped_column(Boolean, default=True)
    reminders: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))


class MailOutbox(MunicipalityScoped, Base):
    """One message to one address, rendered when queued, sent (at most once per dedupe key) later."""

    __tablename__ = "mail_outbox"
    __table_args__ = (
        Index("uq_mail_outbox_dedupe", "municipality_code", "dedupe_key", unique=True),
        Index("ix_mail_outbox_due", "municipality_code", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(200))  # alert:{id}:{address}, digest:{day}:{address} …
    recipient: Mapped[str] = mapped_column(String(254))
    kind: Mapped[str] = mapped_column(String(16))  # MAIL_KINDS
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # OUTBOX_STATUSES
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # when it may next be tried; while ``sending``, when the claim expires
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[str] = mapped_column(String(255))  # derived from the dedupe key: a resend is recognisable
