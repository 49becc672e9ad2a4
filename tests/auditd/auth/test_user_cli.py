"""The operator's commands for platform users, run as a person would: `auditd user password`,
`auditd user totp`, `auditd user list`, `auditd trail`."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

from auth_support import actions, user_row
from cli_support import auditd
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from auditd.api.app import create_app
from auditd.auth.models import PlatformRole
from auditd.auth.testing import TestUser, add_user, log_in
from auditd.settings import Settings


def test_user_password_sets_it_ends_sessions_and_lifts_a_lockout(
    env_for_cli: dict[str, str], engine: Engine, settings: Settings
):
    auditor = add_user(engine, settings, PlatformRole.AUDITOR, "suzuki")
    client = TestClient(create_app(settings, engine))
    log_in(client, auditor)
    done = auditd(env_for_cli, "user", "password", "suzuki", "--password-stdin", stdin="the new passphrase 2026\n")
    assert done.returncode == 0, done.stderr
    assert client.get("/api/v1/me").status_code == 401
    assert log_in(client, TestUser("suzuki", "the new passphrase 2026", PlatformRole.AUDITOR)).status_code == 303
    changed = [a for a in actions(engine) if a == "password_changed"]
    assert changed == ["password_changed"]
    short = auditd(env_for_cli, "user", "password", "suzuki", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "12" in short.stderr and "Traceback" not in short.stderr
    missing = auditd(env_for_cli, "user", "password", "nobody", "--password-stdin", stdin="long enough password\n")
    assert missing.returncode == 2 and "nobody" in missing.stderr


def test_user_totp_prints_the_secret_once_and_stores_it_sealed(
    env_for_cli: dict[str, str], engine: Engine, settings: Settings
):
    add_user(engine, settings, PlatformRole.OFFICER, "kato", with_totp=False)
    done = auditd(env_for_cli, "user", "totp", "kato")
    assert done.returncode == 0, done.stderr
    uri = next(line for line in done.stdout.splitlines() if line.startswith("otpauth://totp/"))
    secret = parse_qs(urlsplit(uri).query)["secret"][0]
    assert re.fullmatch(r"[A-Z2-7]{32}", secret) and secret in done.stdout.splitlines()
    assert "kato%40" in uri and parse_qs(urlsplit(uri).query)["issuer"] == ["auditd"]
    sealed = user_row(engine, "kato")["totp_sealed"]
    assert sealed is not None and secret.encode() not in bytes(sealed)

    again = auditd(env_for_cli, "user", "totp", "kato")
    assert again.returncode == 2 and "--reset" in again.stderr
    officer = TestUser("kato", "correct horse battery", PlatformRole.OFFICER, secret)
    assert log_in(TestClient(create_app(settings, engine)), officer).status_code == 303

    reset = auditd(env_for_cli, "user", "totp", "kato", "--reset")
    assert reset.returncode == 0
    new_secret = parse_qs(urlsplit(reset.stdout.splitlines()[-1]).query)["secret"][0]
    assert new_secret != secret
    assert [a for a in actions(engine) if a.startswith("totp_")] == ["totp_enrolled", "totp_reset"]
    listed = auditd(env_for_cli, "user", "list")
    assert listed.returncode == 0 and re.search(r"kato .* totp", listed.stdout)
    client = TestClient(create_app(settings, engine))
    assert log_in(client, TestUser("kato", "correct horse battery", PlatformRole.OFFICER, secret)).status_code == 401
    assert (
        log_in(client, TestUser("kato", "correct horse battery", PlatformRole.OFFICER, new_secret)).status_code == 303
    )


def test_trail_shows_what_happened_filtered_by_actor_and_time(
    env_for_cli: dict[str, str], engine: Engine, settings: Settings
):
    auditor = add_user(engine, settings, PlatformRole.AUDITOR, "suzuki")
    client = TestClient(create_app(settings, engine))
    log_in(client, TestUser("suzuki", "wrong password!!", PlatformRole.AUDITOR))
    log_in(client, auditor)
    table = auditd(env_for_cli, "trail")
    assert table.returncode == 0, table.stderr
    assert "login_failed" in table.stdout and "testclient" in table.stdout and "create_user" in table.stdout
    lines = auditd(env_for_cli, "trail", "--actor", "suzuki", "--since", "1h", "--json").stdout.splitlines()
    entries = [json.loads(line) for line in lines]
    assert [e["action"] for e in entries] == ["login", "login_failed"]  # newest first
    assert entries[1]["detail"] == {"failed_logins": 1, "reason": "password"} and entries[0]["client"] == "testclient"
    future = auditd(env_for_cli, "trail", "--since", "2099-01-01", "--json")
    assert future.returncode == 0 and future.stdout == ""
    bad = auditd(env_for_cli, "trail", "--since", "yesterday")
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_help_names_the_new_commands(tmp_path):  # type: ignore[no-untyped-def]
    env = {"AUDITD_DATA_DIR": str(tmp_path), "AUDITD_ENV": "test", "PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    top = auditd(env, "--help").stdout
    assert "token" in top and "trail" in top
    user = auditd(env, "user", "--help").stdout
    assert "password" in user and "totp" in user
    token = auditd(env, "token", "create", "--help").stdout
    assert "--scopes" in token and "rights:write" in token and "--expires" in token
