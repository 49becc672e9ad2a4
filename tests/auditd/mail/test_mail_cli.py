"""``auditd mail …``: the operator's commands, run as subprocesses on the test's store and a real SMTP server."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import auditd
from conftest import SmtpServer
from sqlalchemy import Engine, select

from auditd.trail.models import TrailEntry


def test_recipients_outbox_send_and_test_from_the_command_line(
    engine: Engine, env_for_cli: dict[str, str], smtp_server: SmtpServer, ca_file: Path
):
    inbox, port = smtp_server(security="starttls")
    env = {
        **env_for_cli,
        "AUDITD_SMTP_HOST": "127.0.0.1",
        "AUDITD_SMTP_PORT": str(port),
        "AUDITD_SMTP_SECURITY": "starttls",
        "AUDITD_SMTP_CA_FILE": str(ca_file),
        "AUDITD_SMTP_FROM": "auditd@city.example.lg.jp",
        "AUDITD_SMTP_TIMEOUT": "5",
    }

    added = auditd(
        env, "mail", "recipients", "add", "security@city.example.lg.jp",
        "--section", "1101", "--section", "1102", "--min-severity", "medium", "--no-digest",
        "--label", "情報政策課 セキュリティ担当",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "recipient #1 added: security@city.example.lg.jp" in added.stdout
    assert auditd(env, "mail", "recipients", "add", "not-an-address").returncode != 0
    assert auditd(env, "mail", "recipients", "add", "x@city.example.lg.jp", "--min-severity", "urgent").returncode != 0

    listed = auditd(env, "mail", "recipients", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (entry,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert entry["sections"] == ["1101", "1102"] and entry["min_severity"] == "medium"
    assert (entry["immediate"], entry["digest"], entry["reminders"]) == (True, False, True)
    assert entry["label"] == "情報政策課 セキュリティ担当" and entry["created_by"].startswith("cli:")
    assert "security@city.example.lg.jp" in auditd(env, "mail", "recipients", "list").stdout

    tested = auditd(env, "mail", "test", "officer@city.example.lg.jp")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "sent to officer@city.example.lg.jp" in tested.stdout
    (received,) = inbox.messages
    assert received.message["Subject"] == "[auditd] テストメール"
    assert "テストメール" in received.message.get_body(preferencelist=("plain",)).get_content()

    shown = auditd(env, "mail", "outbox", "--json", "--status", "sent")
    assert shown.returncode == 0, shown.stderr
    (sent,) = [json.loads(line) for line in shown.stdout.splitlines()]
    assert sent["kind"] == "test" and sent["status"] == "sent" and sent["recipient"] == "officer@city.example.lg.jp"
    assert auditd(env, "mail", "outbox", "--status", "lost").returncode != 0
    assert "テストメール" in auditd(env, "mail", "outbox").stdout

    nothing = auditd(env, "mail", "send")
    assert nothing.returncode == 0, nothing.stderr
    assert "0 sent, 0 retrying, 0 failed" in nothing.stdout

    removed = auditd(env, "mail", "recipients", "remove", "1")
    assert removed.returncode == 0, removed.stderr
    assert auditd(env, "mail", "recipients", "list", "--json").stdout.strip() == ""
    assert auditd(env, "mail", "recipients", "remove", "1").returncode != 0

    unconfigured = {k: v for k, v in env.items() if k != "AUDITD_SMTP_HOST"}
    not_sent = auditd(unconfigured, "mail", "send")
    assert not_sent.returncode == 1 and "not configured" in not_sent.stdout

    with engine.connect() as conn:
        trail = conn.execute(select(TrailEntry.action, TrailEntry.actor)).all()
    actions = sorted(action for action, actor in trail if action.startswith("mail_") and actor.startswith("cli:"))
    assert actions == [
        "mail_delivered",
        "mail_delivered",
        "mail_recipient_added",
        "mail_recipient_removed",
        "mail_test_queued",
    ]
