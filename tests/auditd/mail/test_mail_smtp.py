"""Delivery against a real SMTP server on loopback (aiosmtpd): plain, STARTTLS, implicit TLS, AUTH,
a server that is down and comes back, a sender that died, retries running out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from conftest import PASSWORD, USERNAME, SmtpServer, free_port
from mail_support import CODE, NOW, SUBJECT_HASH, USER_ID, notice, recipient
from sqlalchemy import Engine, select

from auditd.mail import repository as repo
from auditd.mail import service
from auditd.mail.models import MailOutbox
from auditd.settings import Settings

MailSettings = Callable[..., Settings]


def queue_alert(engine: Engine, conf: Settings, *alert_ids: int, **kw: Any) -> None:
    with engine.begin() as db:
        if not service.list_recipients(db, CODE):
            recipient(db, "security@city.example.lg.jp")
        service.enqueue_alerts(db, conf, CODE, [notice(i, **kw) for i in alert_ids or (123,)], now=NOW)


def outbox(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as db:
        return [dict(r) for r in db.execute(select(MailOutbox.__table__).order_by(MailOutbox.id)).mappings()]


def test_an_alert_mail_arrives_whole_in_japanese(engine: Engine, smtp_server: SmtpServer, mail_settings: MailSettings):
    inbox, port = smtp_server()
    conf = mail_settings(port)
    queue_alert(engine, conf, 123, case_id=45, severity="critical", title="同一住民の繰り返し照会")
    result = service.deliver(engine, conf, now=NOW)
    assert (result.sent, result.retrying, result.failed, result.stopped) == (1, 0, 0, None)

    (received,) = inbox.messages
    assert received.rcpt_tos == ["security@city.example.lg.jp"]
    assert received.mail_from == "auditd@city.example.lg.jp"
    message = received.message
    assert message["Subject"] == "[auditd][重大] アラート #123 D06 同一住民の繰り返し照会"
    assert message["From"] == "auditd@city.example.lg.jp"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
    assert list(parts) == ["text/plain", "text/html"]
    for body in parts.values():
        assert "アラート #123" in body and "事案 #45" in body and "重大" in body
        assert "https://auditd.city.example.lg.jp/alerts/123" in body
        assert "https://auditd.city.example.lg.jp/cases/45" in body
    raw = received.content.decode("ascii", "replace")
    for secret in (USER_ID, SUBJECT_HASH):
        assert secret not in raw and all(secret not in body for body in parts.values())
    (row,) = outbox(engine)
    assert row["status"] == "sent" and row["attempts"] == 1 and row["sent_at"] == NOW and row["last_error"] is None
    assert message["Message-ID"] == row["message_id"]
    assert message["Message-ID"] == service.message_id_for(conf, CODE, "alert:123:security@city.example.lg.jp")
    # a second run sends nothing again
    assert service.deliver(engine, conf, now=NOW + timedelta(hours=1)).sent == 0
    assert len(inbox.messages) == 1


def test_one_connection_carries_several_messages(engine: Engine, smtp_server: SmtpServer, mail_settings: MailSettings):
    inbox, port = smtp_server()
    conf = mail_settings(port)
    queue_alert(engine, conf, 1, 2, 3)
    assert service.deliver(engine, conf, now=NOW).sent == 3
    assert sorted(m.message["Subject"].split()[2] for m in inbox.messages) == ["#1", "#2", "#3"]
    assert len({m.peer for m in inbox.messages}) == 1  # same client port: one connection


def test_starttls_verifies_the_certificate_against_the_ca_file(
    engine: Engine, smtp_server: SmtpServer, mail_settings: MailSettings
):
    inbox, port = smtp_server(security="starttls")
    queue_alert(engine, mail_settings(port), 1)
    untrusted = mail_settings(port, smtp_security="starttls", smtp_ca_file=None)
    refused = service.deliver(engine, untrusted, now=NOW)
    assert refused.sent == 0 and refused.stopped and "not trusted" in refused.stopped
    (row,) = outbox(engine)
    assert row["status"] == "queued" and "AUDITD_SMTP_CA_FILE" in row["last_error"]
    plain = service.deliver(engine, mail_settings(port), now=row["next_attempt_at"])  # server requires STARTTLS
    assert plain.sent == 0 and inbox.messages == []

    trusted = mail_settings(port, smtp_security="starttls")
    later = outbox(engine)[0]["next_attempt_at"]
    assert service.deliver(engine, trusted, now=later).sent == 1
    assert len(inbox.messages) == 1
    assert outbox(engine)[0]["attempts"] == 3


def test_implicit_tls(engine: Engine, smtp_server: SmtpServer, mail_settings: MailSettings):
    inbox, port = smtp_server(security="tls")
    conf = mail_settings(port, smtp_security="tls")
    queue_alert(engine, conf, 1)
    assert service.deliver(engine, conf, now=NOW).sent == 1
    assert inbox.messages[0].message["Subject"].startswith("[auditd][高] アラート #1 ")


def test_authentication_success_and_failure(engine: Engine, smtp_server: SmtpServer, mail_settings: MailSettings):
    inbox, port = smtp_server(security="starttls", auth=True)
    queue_alert(engine, mail_settings(port), 1)

    wrong = mail_settings(
        port, smtp_security="starttls", smtp_username=USERNAME, smtp_password="wrong", mail_retry_max=1
    )
    result = service.deliver(engine, wrong, now=NOW)
    assert (result.sent, result.retrying, result.failed) == (0, 1, 0)
    assert result.stopped and "authentication refused" in result.stopped
    (row,) = outbox(engine)
    # a configuration problem: counted as an attempt, but kept queued (even past mail_retry_max)
    assert row["status"] == "queued" and row["attempts"] == 1 and row["next_attempt_at"] > NOW
    assert "authentication refused" in row["last_error"] and "wrong" not in row["last_error"]

    right = mail_settings(port, smtp_security="starttls", smtp_username=USERNAME, smtp_password=PASSWORD)
    assert service.deliver(engine, right, now=row["next_attempt_at"]).sent == 1
    assert len(inbox.messages) == 1


def test_no_auth_before_tls(engine: Engine, smtp_server: SmtpServer, mail_settings: MailSettings):
    _, port = smtp_server(auth=True)  # AUTH is only offered over TLS, and this server has none
    conf = mail_settings(port, smtp_username=USERNAME, smtp_password=PASSWORD)
    queue_alert(engine, conf, 1)
    result = service.deliver(engine, conf, now=NOW)
    assert result.sent == 0 and result.stopped and "AUDITD_SMTP_SECURITY" in result.stopped


def test_a_server_that_is_down_then_comes_back_gets_each_message_once(
    engine: Engine, smtp_server: SmtpServer, mail_settings: MailSettings
):
    port = free_port()  # nothing listens here yet
    conf = mail_settings(port)
    queue_alert(engine, conf, 1, 2)
    down = service.deliver(engine, conf, now=NOW)
    assert (down.sent, down.retrying, down.failed) == (0, 1, 0)
    assert down.stopped and "cannot reach" in down.stopped
    first, second = outbox(engine)
    assert first["status"] == "queued" and first["attempts"] == 1 and "cannot reach" in first["last_error"]
    assert first["next_attempt_at"] == NOW + timedelta(seconds=60)
    assert second["attempts"] == 0 and second["last_error"] is None  # the run stopped at the first failure

    inbox, _ = smtp_server(port=port)
    soon = service.deliver(engine, conf, now=NOW + timedelta(seconds=30))  # the first waits for its backoff
    assert soon.sent == 1
    back = service.deliver(engine, conf, now=NOW + timedelta(seconds=61))
    assert back.sent == 1
    assert service.deliver(engine, conf, now=NOW + timedelta(days=1)).sent == 0  # a restart sends nothing twice
    assert sorted(m.message["Subject"].split()[2] for m in inbox.messages) == ["#1", "#2"]
    assert [r["status"] for r in outbox(engine)] == ["sent", "sent"]


def test_a_message_left_sending_by_a_dead_sender_is_sent_after_its_lease(
    engine: Engine, smtp_server: SmtpServer, mail_settings: MailSettings
):
    inbox, port = smtp_server()
    conf = mail_settings(port)
    queue_alert(engine, conf, 1)
    (row,) = outbox(engine)
    with engine.begin() as db:  # claimed, then the process died before settling
        repo.claim(db, CODE, row["id"], status="queued", next_attempt_at=NOW, lease_until=NOW + service.SENDING_LEASE)
    assert service.deliver(engine, conf, now=NOW + timedelta(minutes=5)).sent == 0
    assert service.deliver(engine, conf, now=NOW + service.SENDING_LEASE).sent == 1
    (row,) = outbox(engine)
    assert row["status"] == "sent" and row["attempts"] == 2
    assert inbox.messages[0].message["Message-ID"] == row["message_id"]


def test_a_message_fails_after_mail_retry_max_attempts(engine: Engine, mail_settings: MailSettings):
    conf = mail_settings(free_port(), mail_retry_max=3, mail_retry_base_seconds=10)
    queue_alert(engine, conf, 1)
    when = NOW
    waits = []
    for _ in range(3):
        service.deliver(engine, conf, now=when)
        (row,) = outbox(engine)
        waits.append(row["next_attempt_at"] - when)
        when = row["next_attempt_at"]
    assert waits[:2] == [timedelta(seconds=10), timedelta(seconds=20)]  # exponential backoff
    assert row["status"] == "failed" and row["attempts"] == 3 and "cannot reach" in row["last_error"]
    assert service.deliver(engine, conf, now=when + timedelta(days=1)).failed == 0  # failed is final


def test_a_refused_recipient_fails_at_once_and_the_others_still_go(
    engine: Engine, smtp_server: SmtpServer, mail_settings: MailSettings
):
    inbox, port = smtp_server()
    conf = mail_settings(port)
    with engine.begin() as db:
        recipient(db, "nobody@city.example.lg.jp")
        recipient(db, "security@city.example.lg.jp")
    queue_alert(engine, conf, 1)
    result = service.deliver(engine, conf, now=NOW)
    assert (result.sent, result.retrying, result.failed, result.stopped) == (1, 0, 1, None)
    rows = {r["recipient"]: r for r in outbox(engine)}
    refused = rows["nobody@city.example.lg.jp"]
    assert refused["status"] == "failed" and refused["attempts"] == 1 and "550" in refused["last_error"]
    assert rows["security@city.example.lg.jp"]["status"] == "sent"
    assert [m.rcpt_tos for m in inbox.messages] == [["security@city.example.lg.jp"]]


def test_without_an_smtp_host_messages_wait(engine: Engine, settings: Settings):
    queue_alert(engine, settings, 1)
    result = service.deliver(engine, settings, now=NOW)
    assert not result.configured and "not configured" in result.summary()
    (row,) = outbox(engine)
    assert row["status"] == "queued" and row["attempts"] == 0


def test_the_deliver_job_is_installed_every_minute(
    engine: Engine, smtp_server: SmtpServer, mail_settings: MailSettings
):
    from auditd.scheduler.service import installed_jobs

    inbox, port = smtp_server()
    conf = mail_settings(port)
    queue_alert(engine, conf, 1)
    job = installed_jobs()["mail.deliver"]
    assert job.describe() == "cron minute=* (Asia/Tokyo)"
    assert job.run(conf, engine) == "1 sent, 0 retrying, 0 failed"
    assert len(inbox.messages) == 1
