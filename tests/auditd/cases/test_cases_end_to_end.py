"""End to end: a planted incident of the demo city becomes an alert, an e-mail received by a real
SMTP server on loopback, and a case an officer takes to a disposition through the API; confirmed, it
opens the breach checklist with its deadlines, and the evidence export is kept with the case."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from auditd.alerts import repository as alerts_repo
from auditd.auth.models import PlatformRole
from auditd.auth.testing import add_user, log_in
from auditd.cases import service as cases
from auditd.mail import service as mail
from auditd.settings import Settings
from collectors.service import collect
from detectors.service import detect_pending
from policies.service import decide_pending


@dataclass
class Inbox:
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def test_planted_incident_to_mail_case_disposition_and_breach_deadlines(
    engine: Engine, settings: Settings, app: FastAPI, small_city: Any, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    conf = settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_security": "none",
            "smtp_from": "auditd@city.example.lg.jp",
            "base_url": "https://auditd.city.example.lg.jp/",
        }
    )
    code = conf.municipality_code
    with engine.begin() as connection:
        mail.add_recipient(connection, code, "security@city.example.lg.jp", actor="test", now=datetime.now(UTC))

    collect(engine, conf, small_city.inputs)
    decide_pending(engine, conf)
    summary = detect_pending(engine, conf)
    assert summary.new_alerts > 0 and summary.cases_opened > 0 and summary.mails_queued > 0

    # a planted incident, found by one of the detectors meant for it, at high severity or above
    truth = json.loads((small_city.out_dir / "truth.json").read_text(encoding="utf-8"))
    with engine.connect() as connection:
        alerts = alerts_repo.alerts_frame(connection, code)
    planted = [
        (incident, alert)
        for incident in truth["incidents"]
        for alert in alerts.to_dict("records")
        if alert["rule"] in incident["detectors"]
        and alert["user_id"] in incident["users"]
        and alert["severity"] in ("critical", "high")
    ]
    assert planted, "no planted incident raised a high-severity alert"
    incident, alert = planted[0]
    assert alert["status"] == "new" and alert["case_id"] > 0  # grouped into a case
    case_id = int(alert["case_id"])

    # the e-mail: delivered to the real SMTP server, naming the alert, the rule and a link, no identifiers
    result = mail.deliver(engine, conf, limit=10_000)
    assert result.sent == summary.mails_queued and result.failed == 0
    subjects = {m["Subject"]: m for m in inbox.messages}
    about = [m for s, m in subjects.items() if f"#{alert['id']}" in s]
    assert len(about) == 1, sorted(subjects)[:5]
    message = about[0]
    text = message.get_body(("plain",))
    assert text is not None
    body = text.get_content()
    assert alert["rule"] in str(message["Subject"]) and f"alerts/{alert['id']}" in body
    for secret in [alert["user_id"], *json.loads(alert["subjects"]), *incident["subjects"]]:
        assert secret not in body and secret not in str(message["Subject"])
    assert mail.deliver(engine, conf).sent == 0  # delivered once: nothing is sent twice

    # the officer takes the case to a disposition through the API
    officer = TestClient(app)  # the app of the test's settings, served on http://testserver
    assert log_in(officer, add_user(engine, settings, PlatformRole.OFFICER, "sato")).status_code == 303
    case = officer.get(f"/api/v1/cases/{case_id}").json()
    assert alert["id"] in [a["id"] for a in case["alerts"]] and case["status"] == "new"
    assert officer.post(f"/api/v1/cases/{case_id}/assign", json={"assignee": "sato"}).status_code == 200

    exported = officer.post(f"/api/v1/cases/{case_id}/evidence")
    assert exported.status_code == 201, exported.text
    files = {a["filename"].rsplit(".", 1)[1]: a for a in exported.json()}
    download = officer.get(f"/api/v1/cases/{case_id}/attachments/{files['csv']['id']}")
    assert download.status_code == 200 and download.headers["x-content-sha256"] == files["csv"]["sha256"]
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert len(rows) - 1 == len({e for a in case["alerts"] for e in a["event_ids"]})
    pdf = officer.get(f"/api/v1/cases/{case_id}/attachments/{files['pdf']['id']}")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    closed = officer.post(
        f"/api/v1/cases/{case_id}/close", json={"disposition": "inappropriate", "reason": "業務外の閲覧を本人が認めた"}
    )
    assert closed.status_code == 200, closed.text
    breach = closed.json()["breach"]
    discovered = breach["discovered_on"]
    assert breach["reportable"] and not breach["wrongful_purpose"]
    assert breach["preliminary_due"] == _plus(discovered, 5) and breach["final_due"] == _plus(discovered, 30)
    assert [h["action"] for h in closed.json()["history"]][-2:] == ["closed", "breach_opened"]

    # the reminders that count the deadlines down reach the same recipient by e-mail
    with engine.begin() as connection:
        today = cases.today_in(conf)
        items = cases.reminders(connection, conf, code, today)
        assert {r.kind for r in items if r.case_id == case_id} == {"breach_preliminary", "breach_final"}
        assert mail.enqueue_reminders(connection, conf, code, today, items, now=datetime.now(UTC)) == 1
    before = len(inbox.messages)
    assert mail.deliver(engine, conf).sent == 1
    reminder = inbox.messages[before].get_body(("plain",))
    assert reminder is not None and f"#{case_id}" in reminder.get_content()


def _plus(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()
