"""Test helpers for alert e-mail: what the SMTP server received, and notices and recipients."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from sqlalchemy import Connection

from auditd.mail import service
from auditd.mail.service import AlertNotice

CODE = "999997"
NOW = datetime(2026, 4, 1, 0, 30, tzinfo=UTC)  # 09:30 JST
# identifiers that exist upstream of a notice and must never reach a message
USER_ID = "U7391-secret"
SUBJECT_HASH = "5f1c0a9e77d4b2c38e61f0a4d9b7c2e1"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    peer: Any

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Inbox:
    """An aiosmtpd handler keeping what it receives."""

    messages: list[Received] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:  # type: ignore[no-untyped-def]
        if address.startswith("nobody@"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, session.peer))
        return "250 OK"


def notice(alert_id: int = 123, *, severity: str = "high", section: str | None = "1101", **kw: Any) -> AlertNotice:
    values: dict[str, Any] = {
        "alert_id": alert_id,
        "case_id": None,
        "rule": "D06",
        "title": "同一住民の繰り返し照会",
        "severity": severity,
        "section": section,
        "detected_at": NOW,
    }
    values.update(kw)
    return AlertNotice(**values)


def recipient(connection: Connection, address: str, **kw: Any) -> service.Recipient:
    return service.add_recipient(connection, CODE, address, actor="tester", now=NOW, **kw)
