"""``auditd source add | token | list`` run as an operator would (a subprocess), with the tokens they
print used against the real application, on both backends."""

from __future__ import annotations

import re
import subprocess

from cli_support import auditd
from fastapi.testclient import TestClient
from push_support import rows, trail, welfare_line
from sqlalchemy import Engine

from auditd.trail.service import cli_actor

TOKEN = re.compile(r"^adt_[A-Za-z0-9_-]{43}$", re.MULTILINE)


def token_of(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    found = TOKEN.findall(done.stdout)
    assert len(found) == 1, done.stdout
    return found[0]


def push(client: TestClient, token: str, minute: int = 1) -> int:
    response = client.post(
        "/api/v1/ingest/welfare-push",
        content=(welfare_line(minute) + "\n").encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
    )
    return response.status_code


def test_a_source_gets_a_token_once_and_a_rotated_token_replaces_it(
    env_for_cli: dict[str, str], app_client: TestClient, engine: Engine
):
    added = auditd(
        env_for_cli, "source", "add", "welfare-push", "--profile", "demo-welfare", "--system", "福祉",
        "--max-silence-hours", "6",
    )  # fmt: skip
    first = token_of(added)
    assert "/api/v1/ingest/welfare-push" in added.stdout
    [stored] = rows(engine, "SELECT profile, system, expected_max_silence_hours, push_token_hash FROM sources")
    assert (stored.profile, stored.system, stored.expected_max_silence_hours) == ("demo-welfare", "福祉", 6)
    assert first not in stored.push_token_hash and stored.push_token_hash.startswith("sha256:")
    assert push(app_client, first) == 200

    second = token_of(auditd(env_for_cli, "source", "token", "welfare-push"))
    assert second != first
    assert push(app_client, first, 2) == 401, "the old token stops working at once"
    assert push(app_client, second, 2) == 200

    listed = auditd(env_for_cli, "source", "list")
    assert listed.returncode == 0, listed.stderr
    line = next(ln for ln in listed.stdout.splitlines() if "welfare-push" in ln)
    assert "demo-welfare" in line and "福祉" in line and "2026-02-03 09:02" in line and "set" in line
    assert not TOKEN.search(listed.stdout), "a token is never shown again"

    actor = cli_actor()
    entries = trail(engine)
    assert (actor, "create_source", "welfare-push") in entries
    assert (actor, "rotate_push_token", "welfare-push") in entries
    assert [a for a, action, _ in entries if action == "ingest"] == ["source:welfare-push"] * 2
    assert ("source:welfare-push", "push_refused", "welfare-push") in entries
    assert not any(first in str(r) or second in str(r) for r in rows(engine, "SELECT * FROM trail"))


def test_source_commands_refuse_what_cannot_work_with_a_clear_error(env_for_cli: dict[str, str], engine: Engine):
    assert auditd(env_for_cli, "source", "add", "tax-push", "--profile", "demo-tax").returncode == 0
    cases = {
        ("source", "add", "tax-push", "--profile", "demo-tax"): "already exists",
        ("source", "add", "other", "--profile", "no-such-profile"): "no profile named",
        ("source", "add", "staff", "--profile", "standard-staff"): "not operation logs",
        ("source", "add", "bad name", "--profile", "demo-tax"): "cannot be a source name",
        ("source", "token", "nobody"): "no source named",
    }
    for args, message in cases.items():
        done = auditd(env_for_cli, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, args
    assert [r.name for r in rows(engine, "SELECT name FROM sources")] == ["tax-push"]
    assert [action for _, action, _ in trail(engine)] == ["create_source"]
