"""Alert e-mail: routing notices to recipients, rendering messages, queueing them, delivering them.

Queueing (``enqueue_*``) happens in the caller's transaction, so a message is queued if and only if
what caused it commits; a dedupe key per municipality makes queueing the same thing twice a no-op.
Delivery (:func:`deliver`) works through the outbox one message at a time: a short transaction claims
it (``sending``, until a lease expires), the SMTP conversation runs outside any transaction, and a
second short transaction records the outcome. A sender that dies between the two leaves the claim to
expire, and the message is tried again; its ``Message-ID`` is derived from the dedupe key, so a
receiving server or mail client can recognise the repeat.

Messages never carry resident identifiers, staff names or account ids: the notices given here have
none (alert and case numbers, rule code and title, severity, section code, time), and the templates
show nothing else. A reader follows the link to the dashboard, which checks who they are.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import Connection, Engine

from auditd.alerts.models import SEVERITIES, SEVERITY_JA
from auditd.errors import NotFound, ValidationFailed
from auditd.mail import repository as repo
from auditd.mail.smtp import SendError, SmtpTransport
from auditd.settings import Settings
from auditd.store.partitions import JST
from auditd.trail.service import record

#: How long a claimed message stays ``sending`` before another run may take it (the sender died).
SENDING_LEASE = timedelta(minutes=10)
#: Longest wait between two attempts, however many failed before.
MAX_BACKOFF = timedelta(hours=6)
#: Severities that are mailed at once (the others wait for the digest).
IMMEDIATE_SEVERITIES = ("critical", "high")

SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}  # critical = 0
_ADDRESS = re.compile(r"^[^@\s<>,;:\"()\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class AlertNotice:
    """What a mail may say about one alert. No resident identifiers, no names, no account ids."""

    alert_id: int
    case_id: int | None
    rule: str
    title: str
    severity: str
    section: str | None
    detected_at: datetime


@dataclass(frozen=True)
class Reminder:
    """A case that needs action: open for ``days`` (``case_open``), or ``days`` left before a breach
    report is due (``breach_*``; negative = overdue)."""

    kind: Literal["case_open", "breach_preliminary", "breach_final"]
    case_id: int
    section: str | None
    severity: str
    due: date | None
    days: int


@dataclass(frozen=True)
class ReportNotice:
    """A scheduled report made: its title and period as people read them, and (format, report id) of
    each file. ``key`` names it for deduplication (e.g. ``monthly:2026-10``)."""

    key: str
    title: str
    period: str
    files: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class PiaReminder:
    """A 評価書 whose yearly review or five-year re-assessment is due in ``days`` (negative: overdue).
    Its title and 事務 are public (the PPC publishes them); nothing else is said."""

    kind: Literal["review", "reassessment"]
    title: str
    jimu: str
    due: date
    days: int


@dataclass(frozen=True)
class Recipient:
    id: int
    address: str
    label: str | None
    sections: tuple[str, ...] | None
    min_severity: str
    immediate: bool
    digest: bool
    reminders: bool
    active: bool
    created_at: datetime
    created_by: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Recipient:
        sections = None if row["sections"] is None else tuple(json.loads(row["sections"]))
        return cls(
            id=row["id"],
            address=row["address"],
            label=row["label"],
            sections=sections,
            min_severity=row["min_severity"],
            immediate=bool(row["immediate"]),
            digest=bool(row["digest"]),
            reminders=bool(row["reminders"]),
            active=bool(row["active"]),
            created_at=row["created_at"],
            created_by=row["created_by"],
        )

    def covers(self, section: str | None) -> bool:
        """All sections when ``sections`` is unset; something of no section only then."""
        if self.sections is None:
            return True
        return section is not None and section in self.sections

    def admits(self, severity: str) -> bool:
        return SEVERITY_RANK.get(severity, len(SEVERITIES)) <= SEVERITY_RANK[self.min_severity]

    def routes(self, section: str | None, severity: str) -> bool:
        return self.covers(section) and self.admits(severity)


@dataclass
class DeliveryResult:
    """What one :func:`deliver` run did. ``stopped``: why it ended before the due messages were all
    tried (the server cannot be reached, authentication failed …); ``configured`` is False when no
    SMTP server is set, and then nothing was tried."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    configured: bool = True
    stopped: str | None = None
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if not self.configured:
            return "mail not configured (AUDITD_SMTP_HOST): messages stay queued"
        text = f"{self.sent} sent, {self.retrying} retrying, {self.failed} failed"
        return text if self.stopped is None else f"{text}; stopped: {self.stopped}"


# -- recipients ---------------------------------------------------------------------------------------


def check_address(address: str) -> str:
    value = address.strip()
    if len(value) > 254 or not _ADDRESS.match(value):
        raise ValidationFailed(f"{address!r} is not an e-mail address", hint="e.g. joho-seisaku@city.example.lg.jp")
    return value


def add_recipient(
    connection: Connection,
    municipality_code: str,
    address: str,
    *,
    sections: Sequence[str] | None = None,
    min_severity: str = "high",
    immediate: bool = True,
    digest: bool = True,
    reminders: bool = True,
    label: str | None = None,
    actor: str,
    now: datetime,
    client: str | None = None,
) -> Recipient:
    """Add a recipient (recorded in the trail). ``sections`` empty or None = every section."""
    value = check_address(address)
    if min_severity not in SEVERITY_RANK:
        raise ValidationFailed(f"unknown severity {min_severity!r}", hint=f"one of {', '.join(SEVERITIES)}")
    codes = sorted({s.strip() for s in sections or () if s.strip()}) or None
    if label is not None and len(label) > 128:
        raise ValidationFailed("the label is longer than 128 characters")
    recipient_id = repo.add_recipient(
        connection,
        municipality_code=municipality_code,
        address=value,
        label=label or None,
        sections=None if codes is None else json.dumps(codes, ensure_ascii=False),
        min_severity=min_severity,
        immediate=immediate,
        digest=digest,
        reminders=reminders,
        active=True,
        created_at=now,
        created_by=actor[:64],
    )
    record(
        connection,
        municipality_code,
        actor,
        "mail_recipient_added",
        "mail_recipient",
        str(recipient_id),
        {
            "address": value,
            "sections": codes,
            "min_severity": min_severity,
            "immediate": immediate,
            "digest": digest,
            "reminders": reminders,
        },
        client=client,
    )
    row = repo.recipient_by_id(connection, municipality_code, recipient_id)
    assert row is not None
    return Recipient.from_row(row)


def list_recipients(connection: Connection, municipality_code: str, *, active_only: bool = True) -> list[Recipient]:
    return [Recipient.from_row(row) for row in repo.recipients(connection, municipality_code, active_only=active_only)]


def remove_recipient(
    connection: Connection, municipality_code: str, recipient_id: int, *, actor: str, client: str | None = None
) -> Recipient:
    """Deactivate a recipient (kept, so the trail and old outbox rows still make sense)."""
    row = repo.recipient_by_id(connection, municipality_code, recipient_id)
    if row is None or not row["active"]:
        raise NotFound(f"no active mail recipient #{recipient_id}", hint="see `auditd mail recipients list`")
    repo.deactivate_recipient(connection, municipality_code, recipient_id)
    record(
        connection,
        municipality_code,
        actor,
        "mail_recipient_removed",
        "mail_recipient",
        str(recipient_id),
        {"address": row["address"]},
        client=client,
    )
    return Recipient.from_row({**row, "active": False})


# -- rendering ----------------------------------------------------------------------------------------

_text_env = Environment(
    loader=FileSystemLoader(_TEMPLATES),
    autoescape=False,  # noqa: S701 - plain-text bodies; the HTML environment below escapes
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_html_env = Environment(
    loader=FileSystemLoader(_TEMPLATES),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

_SUBJECT = {
    "ja": {
        "alert": "[auditd][{severity}] アラート #{alert_id} {rule} {title}",
        "digest": "[auditd] アラート日次まとめ {day}（{count} 件）",
        "reminder": "[auditd] 対応が必要な事案 {day}（{count} 件{overdue}）",
        "overdue": "、期限超過 {n} 件",
        "test": "[auditd] テストメール",
        "report": "[auditd] {title}（{period}）を作成しました",
        "pia": "[auditd] 評価書の見直し・再評価 {day}（{count} 件{overdue}）",
    },
    "en": {
        "alert": "[auditd][{severity}] Alert #{alert_id} {rule} {title}",
        "digest": "[auditd] Daily alert digest {day} ({count})",
        "reminder": "[auditd] Cases needing action {day} ({count}{overdue})",
        "overdue": ", {n} overdue",
        "test": "[auditd] Test message",
        "report": "[auditd] Report ready: {title} ({period})",
        "pia": "[auditd] PIA reviews and re-assessments {day} ({count}{overdue})",
    },
}
_REMINDER_KIND = {
    "ja": {
        "case_open": "未完了の事案",
        "breach_preliminary": "漏えい等報告（速報）",
        "breach_final": "漏えい等報告（確報）",
    },
    "en": {
        "case_open": "Open case",
        "breach_preliminary": "Breach report (preliminary)",
        "breach_final": "Breach report (final)",
    },
}


_PIA_KIND = {
    "ja": {"review": "年次の見直し", "reassessment": "5年ごとの再評価"},
    "en": {"review": "Yearly review", "reassessment": "Five-year re-assessment"},
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def dashboard_base(settings: Settings) -> str:
    url = settings.dashboard_url
    return url if url.endswith("/") else url + "/"


def severity_label(settings: Settings, severity: str) -> str:
    return SEVERITY_JA.get(severity, severity) if settings.language == "ja" else severity


def _when(value: datetime) -> str:
    return value.astimezone(JST).strftime("%Y-%m-%d %H:%M JST")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _render(settings: Settings, municipality_code: str, kind: str, subject: str, **context: Any) -> Rendered:
    lang = settings.language
    context.update(lang=lang, subject=_one_line(subject), municipality_code=municipality_code)
    context.update(dashboard_url=dashboard_base(settings))
    text = _text_env.get_template(f"{kind}.{lang}.txt.j2").render(**context)
    html = _html_env.get_template(f"{kind}.{lang}.html.j2").render(**context)
    return Rendered(_one_line(subject), text, html)


def _alert_item(settings: Settings, notice: AlertNotice) -> dict[str, Any]:
    base = dashboard_base(settings)
    return {
        "notice": notice,
        "severity_label": severity_label(settings, notice.severity),
        "detected": _when(notice.detected_at),
        "alert_url": f"{base}alerts/{notice.alert_id}",
        "case_url": None if notice.case_id is None else f"{base}cases/{notice.case_id}",
    }


def render_alert(settings: Settings, municipality_code: str, notice: AlertNotice) -> Rendered:
    item = _alert_item(settings, notice)
    subject = _SUBJECT[settings.language]["alert"].format(
        severity=item["severity_label"], alert_id=notice.alert_id, rule=notice.rule, title=notice.title
    )
    return _render(settings, municipality_code, "alert", subject, **item)


def render_digest(settings: Settings, municipality_code: str, day: date, notices: Sequence[AlertNotice]) -> Rendered:
    ordered = sorted(notices, key=lambda n: (SEVERITY_RANK.get(n.severity, 99), n.detected_at, n.alert_id))
    items = [_alert_item(settings, n) for n in ordered]
    counts = [
        (severity_label(settings, s), sum(1 for n in notices if n.severity == s))
        for s in SEVERITIES
        if any(n.severity == s for n in notices)
    ]
    subject = _SUBJECT[settings.language]["digest"].format(day=day.isoformat(), count=len(items))
    return _render(settings, municipality_code, "digest", subject, day=day.isoformat(), items=items, counts=counts)


def _reminder_status(settings: Settings, reminder: Reminder) -> str:
    ja = settings.language == "ja"
    if reminder.kind == "case_open":
        return f"{reminder.days} 日経過" if ja else f"open {reminder.days} days"
    if reminder.days < 0:
        return f"期限を {-reminder.days} 日超過" if ja else f"{-reminder.days} days overdue"
    if reminder.days == 0:
        return "本日が期限" if ja else "due today"
    return f"期限まで {reminder.days} 日" if ja else f"{reminder.days} days left"


def render_reminders(settings: Settings, municipality_code: str, day: date, reminders: Sequence[Reminder]) -> Rendered:
    base = dashboard_base(settings)
    ordered = sorted(reminders, key=lambda r: (r.kind == "case_open", r.days if r.kind != "case_open" else -r.days))
    items = [
        {
            "reminder": r,
            "kind_label": _REMINDER_KIND[settings.language][r.kind],
            "severity_label": severity_label(settings, r.severity),
            "status": _reminder_status(settings, r),
            "overdue": r.kind != "case_open" and r.days < 0,
            "case_url": f"{base}cases/{r.case_id}",
        }
        for r in ordered
    ]
    overdue = sum(1 for item in items if item["overdue"])
    words = _SUBJECT[settings.language]
    subject = words["reminder"].format(
        day=day.isoformat(), count=len(items), overdue=words["overdue"].format(n=overdue) if overdue else ""
    )
    return _render(settings, municipality_code, "reminder", subject, day=day.isoformat(), items=items, overdue=overdue)


def _days_status(settings: Settings, days: int) -> str:
    ja = settings.language == "ja"
    if days < 0:
        return f"期限を {-days} 日超過" if ja else f"{-days} days overdue"
    if days == 0:
        return "本日が期限" if ja else "due today"
    return f"期限まで {days} 日" if ja else f"{days} days left"


def render_pia_reminders(
    settings: Settings, municipality_code: str, day: date, reminders: Sequence[PiaReminder]
) -> Rendered:
    ordered = sorted(reminders, key=lambda r: (r.days, r.title, r.kind))
    items = [
        {
            "reminder": r,
            "kind_label": _PIA_KIND[settings.language][r.kind],
            "status": _days_status(settings, r.days),
            "overdue": r.days < 0,
        }
        for r in ordered
    ]
    overdue = sum(1 for item in items if item["overdue"])
    words = _SUBJECT[settings.language]
    subject = words["pia"].format(
        day=day.isoformat(), count=len(items), overdue=words["overdue"].format(n=overdue) if overdue else ""
    )
    return _render(
        settings,
        municipality_code,
        "pia",
        subject,
        day=day.isoformat(),
        items=items,
        overdue=overdue,
        register_url=f"{dashboard_base(settings)}reports#pia",
    )


def render_test(settings: Settings, municipality_code: str, now: datetime) -> Rendered:
    return _render(settings, municipality_code, "test", _SUBJECT[settings.language]["test"], sent=_when(now))


def render_report(settings: Settings, municipality_code: str, report: ReportNotice) -> Rendered:
    subject = _SUBJECT[settings.language]["report"].format(title=report.title, period=report.period)
    links = [(fmt, f"{dashboard_base(settings)}api/v1/reports/{run_id}/file") for fmt, run_id in report.files]
    return _render(
        settings, municipality_code, "report", subject, title=report.title, period=report.period, links=links
    )


# -- queueing -----------------------------------------------------------------------------------------


def message_id_for(settings: Settings, municipality_code: str, dedupe_key: str) -> str:
    """The same dedupe key always gives the same Message-ID (a resend after a crash is recognisable)."""
    digest = hashlib.sha256(f"{municipality_code}:{dedupe_key}".encode()).hexdigest()[:32]
    domain = settings.smtp_from.rpartition("@")[2].strip(" >") or "localhost"
    return f"<{digest}.{municipality_code}@{domain}>"


def _row(
    settings: Settings,
    municipality_code: str,
    kind: str,
    dedupe_key: str,
    address: str,
    rendered: Rendered,
    now: datetime,
) -> dict[str, Any]:
    return {
        "municipality_code": municipality_code,
        "dedupe_key": dedupe_key,
        "recipient": address,
        "kind": kind,
        "subject": rendered.subject,
        "body_text": rendered.text,
        "body_html": rendered.html,
        "status": "queued",
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": None,
        "created_at": now,
        "sent_at": None,
        "message_id": message_id_for(settings, municipality_code, dedupe_key),
    }


def _by_address(recipients: Iterable[Recipient]) -> dict[str, list[Recipient]]:
    """Recipients grouped by address (one address listed twice receives one mail)."""
    grouped: dict[str, list[Recipient]] = {}
    for recipient in recipients:
        grouped.setdefault(recipient.address, []).append(recipient)
    return grouped


def enqueue_alerts(
    connection: Connection,
    settings: Settings,
    municipality_code: str,
    notices: Sequence[AlertNotice],
    *,
    now: datetime,
) -> int:
    """Queue an immediate mail per high or critical notice to each ``immediate`` recipient it routes to
    (sections and ``min_severity``). Dedupe key ``alert:{alert_id}:{address}``: a notice queued before
    is skipped. Returns the rows queued."""
    urgent = [n for n in notices if n.severity in IMMEDIATE_SEVERITIES]
    if not urgent:
        return 0
    grouped = _by_address(r for r in list_recipients(connection, municipality_code) if r.immediate)
    rows: dict[str, dict[str, Any]] = {}
    for notice in urgent:
        rendered: Rendered | None = None
        for address, entries in grouped.items():
            if not any(r.routes(notice.section, notice.severity) for r in entries):
                continue
            key = f"alert:{notice.alert_id}:{address}"
            rendered = rendered or render_alert(settings, municipality_code, notice)
            rows[key] = _row(settings, municipality_code, "alert", key, address, rendered, now)
    return repo.enqueue(connection, list(rows.values()))


def enqueue_digest(
    connection: Connection,
    settings: Settings,
    municipality_code: str,
    day: date,
    notices: Sequence[AlertNotice],
    *,
    now: datetime,
) -> int:
    """Queue one digest per ``digest`` recipient listing the notices routed to them (any severity their
    ``min_severity`` admits); none for a recipient with nothing routed. Dedupe ``digest:{day}:{address}``."""
    grouped = _by_address(r for r in list_recipients(connection, municipality_code) if r.digest)
    rows = []
    for address, entries in grouped.items():
        mine = [n for n in notices if any(r.routes(n.section, n.severity) for r in entries)]
        if not mine:
            continue
        key = f"digest:{day.isoformat()}:{address}"
        rendered = render_digest(settings, municipality_code, day, mine)
        rows.append(_row(settings, municipality_code, "digest", key, address, rendered, now))
    return repo.enqueue(connection, rows)


def _reminder_routes(recipient: Recipient, reminder: Reminder) -> bool:
    # a breach report has a legal deadline for the whole municipality: everyone on reminders hears of it
    if reminder.kind != "case_open":
        return True
    return recipient.routes(reminder.section, reminder.severity)


def enqueue_reminders(
    connection: Connection,
    settings: Settings,
    municipality_code: str,
    day: date,
    reminders: Sequence[Reminder],
    *,
    now: datetime,
) -> int:
    """Queue one reminder mail per ``reminders`` recipient listing the reminders routed to them (open
    cases by section and severity; breach-report deadlines to every such recipient, whatever their
    sections and ``min_severity``). Dedupe ``reminder:{day}:{address}``."""
    grouped = _by_address(r for r in list_recipients(connection, municipality_code) if r.reminders)
    rows = []
    for address, entries in grouped.items():
        mine = [x for x in reminders if any(_reminder_routes(r, x) for r in entries)]
        if not mine:
            continue
        key = f"reminder:{day.isoformat()}:{address}"
        rendered = render_reminders(settings, municipality_code, day, mine)
        rows.append(_row(settings, municipality_code, "reminder", key, address, rendered, now))
    return repo.enqueue(connection, rows)


def enqueue_pia_reminders(
    connection: Connection,
    settings: Settings,
    municipality_code: str,
    day: date,
    reminders: Sequence[PiaReminder],
    *,
    now: datetime,
) -> int:
    """Queue one mail per ``reminders`` recipient listing the 評価書 whose review or re-assessment is
    due soon or overdue (titles and dates only); nothing when none is. Dedupe ``pia:{day}:{address}``."""
    if not reminders:
        return 0
    addresses = _by_address(r for r in list_recipients(connection, municipality_code) if r.reminders)
    if not addresses:
        return 0
    rendered = render_pia_reminders(settings, municipality_code, day, reminders)
    rows = [
        _row(settings, municipality_code, "pia", f"pia:{day.isoformat()}:{address}", address, rendered, now)
        for address in addresses
    ]
    return repo.enqueue(connection, rows)


def enqueue_report(
    connection: Connection, settings: Settings, municipality_code: str, report: ReportNotice, *, now: datetime
) -> int:
    """Queue one mail per ``digest`` recipient saying a scheduled report is ready, with a link to each of
    its files (the mail carries no figures and no personal data). Dedupe ``report:{key}:{address}``."""
    recipients = _by_address(r for r in list_recipients(connection, municipality_code) if r.digest)
    if not recipients:
        return 0
    rendered = render_report(settings, municipality_code, report)
    rows = []
    for address in recipients:
        key = f"report:{report.key}:{address}"
        rows.append(_row(settings, municipality_code, "report", key, address, rendered, now))
    return repo.enqueue(connection, rows)


def enqueue_test(
    connection: Connection,
    settings: Settings,
    municipality_code: str,
    address: str,
    *,
    now: datetime,
    actor: str,
    client: str | None = None,
) -> int:
    """Queue a test message to ``address`` (recorded in the trail); returns its outbox id."""
    value = check_address(address)
    key = f"test:{now.astimezone(UTC).isoformat()}:{value}"
    rendered = render_test(settings, municipality_code, now)
    repo.enqueue(connection, [_row(settings, municipality_code, "test", key, value, rendered, now)])
    message_id = repo.message_id_by_key(connection, municipality_code, key)
    assert message_id is not None
    record(
        connection,
        municipality_code,
        actor,
        "mail_test_queued",
        "mail_outbox",
        str(message_id),
        {"address": value},
        client=client,
    )
    return message_id


# -- delivery -----------------------------------------------------------------------------------------


def build_message(settings: Settings, row: dict[str, Any]) -> EmailMessage:
    """The MIME message of an outbox row: multipart/alternative, plain text first, then HTML."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = row["recipient"]
    message["Subject"] = _one_line(row["subject"])
    message["Date"] = format_datetime(row["created_at"].astimezone(JST))
    message["Message-ID"] = row["message_id"]
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auditd-Kind"] = row["kind"]
    message.set_content(row["body_text"], subtype="plain", charset="utf-8")
    message.add_alternative(row["body_html"], subtype="html", charset="utf-8")
    return message


def backoff(settings: Settings, attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failed attempt: the base, doubled each time, at most 6 hours."""
    seconds = settings.mail_retry_base_seconds * 2 ** max(attempts - 1, 0)
    return min(timedelta(seconds=seconds), MAX_BACKOFF)


def deliver(
    engine: Engine,
    settings: Settings,
    *,
    limit: int = 100,
    now: datetime | None = None,
    ids: Sequence[int] | None = None,
) -> DeliveryResult:
    """Send the due messages of ``settings.municipality_code`` (at most ``limit``; only ``ids`` if given).

    Per message: claim it in one transaction, send, record the outcome in another. On failure it goes
    back to ``queued`` with ``last_error`` and an exponential backoff, or to ``failed`` after
    ``mail_retry_max`` attempts or when the server refused it for good. A configuration problem
    (authentication, an untrusted certificate) counts as an attempt but never fails a message: it is
    sent once the setting is fixed. When the server cannot be reached the run stops, leaving the other
    messages queued as they were. Without ``AUDITD_SMTP_HOST`` nothing is tried.
    """
    result = DeliveryResult()
    if not settings.smtp_host:
        result.configured = False
        return result
    code = settings.municipality_code
    started = now or datetime.now(UTC)
    with engine.connect() as connection:
        candidates = repo.due(connection, code, started, limit=limit, ids=ids)
    with SmtpTransport(settings) as transport:
        for candidate in candidates:
            current = now or datetime.now(UTC)
            lease_until = current + SENDING_LEASE
            with engine.begin() as connection:
                row = repo.claim(
                    connection,
                    code,
                    candidate["id"],
                    status=candidate["status"],
                    next_attempt_at=candidate["next_attempt_at"],
                    lease_until=lease_until,
                )
            if row is None:  # another sender took it first
                continue
            try:
                transport.send(build_message(settings, row), row["recipient"])
            except SendError as exc:
                outcome = _failure(settings, row, exc, current)
                with engine.begin() as connection:
                    repo.settle(connection, code, row["id"], lease_until=lease_until, **outcome)
                result.errors.append(f"#{row['id']} {row['recipient']}: {exc}")
                if outcome["status"] == "failed":
                    result.failed += 1
                else:
                    result.retrying += 1
                if exc.connection:
                    result.stopped = str(exc)
                    break
                continue
            with engine.begin() as connection:
                repo.settle(
                    connection,
                    code,
                    row["id"],
                    lease_until=lease_until,
                    status="sent",
                    sent_at=now or datetime.now(UTC),
                    last_error=None,
                )
            result.sent += 1
    return result


def _failure(settings: Settings, row: dict[str, Any], exc: SendError, now: datetime) -> dict[str, Any]:
    attempts = int(row["attempts"])
    error = str(exc)[:2000]
    if exc.permanent or (attempts >= settings.mail_retry_max and not exc.config):
        return {"status": "failed", "last_error": error, "next_attempt_at": now}
    return {"status": "queued", "last_error": error, "next_attempt_at": now + backoff(settings, attempts)}


def outbox(
    connection: Connection, municipality_code: str, *, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The latest outbox messages (without their bodies), newest first."""
    return repo.outbox(connection, municipality_code, status=status, limit=limit)
