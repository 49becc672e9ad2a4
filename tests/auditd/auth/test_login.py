"""Logging in through the dashboard: password, then the TOTP second factor for officers and
administrators; enrolment at the first login; replays, wrong codes, lockout; what a half-done login
can reach. Everything through HTTP on the real application, on both backends."""

from __future__ import annotations

import re

import pyotp
import pytest
from argon2 import PasswordHasher
from auth_support import MakeClient, actions, trail, user_row
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from auditd.auth import passwords, totp
from auditd.auth.models import PlatformRole
from auditd.auth.service import MAX_FAILED_LOGINS
from auditd.auth.testing import DEFAULT_PASSWORD, TestUser, add_user, csrf_of, log_in
from auditd.settings import Settings
from auditd.store.db import make_session_factory, session_scope


def password_step(client: TestClient, user: TestUser, password: str | None = None):  # type: ignore[no-untyped-def]
    csrf = csrf_of(client.get("/login").text)
    return client.post(
        "/login",
        data={"csrf": csrf, "username": user.username, "password": password or user.password, "next": "/"},
        follow_redirects=False,
    )


def code_step(client: TestClient, code: str):  # type: ignore[no-untyped-def]
    csrf = csrf_of(client.get("/login/totp").text)
    return client.post("/login/totp", data={"csrf": csrf, "code": code}, follow_redirects=False)


def wrong_code(user: TestUser) -> str:
    assert user.totp_secret
    right = {pyotp.TOTP(user.totp_secret).generate_otp(totp.current_step() + d) for d in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in right)


def test_an_officer_logs_in_with_password_then_code(client: TestClient, officer: TestUser, engine: Engine):
    first = password_step(client, officer)
    assert first.status_code == 303 and first.headers["location"] == "/login/totp"
    page = client.get("/login/totp")
    assert page.status_code == 200 and 'autocomplete="one-time-code"' in page.text
    assert officer.totp_secret not in page.text  # an enrolled secret is never shown again
    done = code_step(client, officer.next_code())
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert client.get("/").status_code == 200
    assert actions(engine, "sato") == ["login_password_ok", "login"]
    assert trail(engine)[-1]["detail"] == {"factors": "password,totp"}


def test_roles_without_a_required_factor_log_in_with_the_password(client: TestClient, auditor: TestUser):
    response = password_step(client, auditor)
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert client.get("/api/v1/me").json()["role"] == "auditor"


def test_a_setting_requires_the_second_factor_of_every_role(
    make_client: MakeClient, engine: Engine, settings: Settings
):
    head = add_user(engine, settings, PlatformRole.SECTION_HEAD, "tanaka")
    client = make_client(totp_all_roles=True)
    first = password_step(client, head)
    assert first.headers["location"] == "/login/totp"
    assert '<code id="totp-secret">' in client.get("/login/totp").text  # none yet: enrol now
    assert log_in(make_client(totp_all_roles=True), head).status_code == 303


def test_a_person_who_enrolled_voluntarily_is_always_asked(client: TestClient, engine: Engine, settings: Settings):
    auditor = add_user(engine, settings, PlatformRole.AUDITOR, "ito", with_totp=True)
    assert password_step(client, auditor).headers["location"] == "/login/totp"


def test_between_password_and_code_nothing_is_reachable(client: TestClient, officer: TestUser):
    password_step(client, officer)
    assert client.get("/", headers={"accept": "application/json"}).status_code == 401
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/ingest/runs").status_code == 401
    assert client.get("/account/password", headers={"accept": "application/json"}).status_code == 401


def test_the_code_step_expires(make_client: MakeClient, officer: TestUser, monkeypatch: pytest.MonkeyPatch):
    from auditd.api import deps

    client = make_client(login_pending_seconds=60)
    password_step(client, officer)
    real = deps.time.time
    monkeypatch.setattr(deps, "time", type("Later", (), {"time": staticmethod(lambda: real() + 61)}))
    expired = client.get("/login/totp", follow_redirects=False)
    assert expired.status_code == 303 and expired.headers["location"] == "/login"


def test_a_code_is_accepted_once(make_client: MakeClient, officer: TestUser, engine: Engine):
    first = make_client()
    code = officer.next_code()
    password_step(first, officer)
    assert code_step(first, code).status_code == 303
    second = make_client()  # someone who saw the code, within its 30 seconds
    password_step(second, officer)
    replay = code_step(second, code)
    assert replay.status_code == 401 and "確認コードが違います" in replay.text
    refused = [e for e in trail(engine) if e["action"] == "totp_failed"]
    assert refused[-1]["detail"]["reason"] == "totp_replayed" and refused[-1]["client"] == "testclient"


def test_a_code_of_the_next_step_is_accepted_as_clock_drift(client: TestClient, officer: TestUser):
    assert officer.totp_secret
    password_step(client, officer)
    drift = pyotp.TOTP(officer.totp_secret).generate_otp(totp.current_step() + 1)
    assert code_step(client, drift).status_code == 303


def test_codes_typed_with_spaces_or_full_width_digits_are_read(client: TestClient, officer: TestUser):
    code = officer.next_code()
    password_step(client, officer)
    typed = code[:3] + " " + "".join(chr(ord("０") + int(d)) for d in code[3:])
    assert code_step(client, typed).status_code == 303


def test_wrong_codes_count_towards_the_lockout(client: TestClient, officer: TestUser, engine: Engine):
    password_step(client, officer)
    for _ in range(MAX_FAILED_LOGINS - 1):
        assert code_step(client, wrong_code(officer)).status_code == 401
    locked = code_step(client, wrong_code(officer))
    assert locked.status_code == 401 and "ロック" in locked.text
    assert client.get("/login/totp", follow_redirects=False).headers["location"] == "/login"  # login over
    assert user_row(engine, "sato")["locked_until"] is not None
    assert actions(engine, "sato").count("totp_failed") == MAX_FAILED_LOGINS
    assert "account_locked" in actions(engine, "sato")
    # even the right password and a right code get nowhere now
    assert "ロック" in password_step(client, officer).text


def test_the_password_does_not_reset_the_count_of_wrong_codes(client: TestClient, officer: TestUser, engine: Engine):
    for _ in range(MAX_FAILED_LOGINS - 1):
        password_step(client, officer)
        code_step(client, wrong_code(officer))
    assert user_row(engine, "sato")["failed_logins"] == MAX_FAILED_LOGINS - 1
    password_step(client, officer)
    assert "ロック" in code_step(client, wrong_code(officer)).text


def test_an_officer_without_a_factor_enrols_at_the_first_login(client: TestClient, engine: Engine, settings: Settings):
    officer = add_user(engine, settings, PlatformRole.OFFICER, "kato", with_totp=False)
    password_step(client, officer)
    page = client.get("/login/totp")
    secret = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page.text)
    uri = re.search(r'id="totp-uri" readonly value="([^"]+)"', page.text)
    assert secret and uri
    plain = secret.group(1).replace(" ", "")
    assert uri.group(1).startswith("otpauth://totp/") and f"secret={plain}" in uri.group(1)
    assert re.findall(r'(?:src|href)="(https?://[^"]+)"', page.text) == []  # no outside QR service
    assert client.get("/login/totp").text.count(secret.group(1)) == 1  # the same secret until confirmed
    assert user_row(engine, "kato")["totp_sealed"] is None  # nothing stored before a code proves it
    done = code_step(client, pyotp.TOTP(plain).now())
    assert done.status_code == 303
    sealed = user_row(engine, "kato")["totp_sealed"]
    assert sealed is not None and plain.encode() not in bytes(sealed)
    assert actions(engine, "kato") == ["login_password_ok", "totp_enrolled", "login"]


def test_enrolment_at_login_can_be_switched_off(make_client: MakeClient, engine: Engine, settings: Settings):
    officer = add_user(engine, settings, PlatformRole.OFFICER, "kato", with_totp=False)
    response = password_step(make_client(totp_enrol_at_login=False), officer)
    assert response.status_code == 401 and "auditd user totp" in response.text
    assert trail(engine)[-1]["detail"] == {"reason": "totp_not_enrolled"}


def test_api_accounts_never_log_in_interactively(client: TestClient, engine: Engine, settings: Settings):
    system = add_user(engine, settings, PlatformRole.API, "jinji")
    response = password_step(client, system)
    assert response.status_code == 401 and "ユーザー名またはパスワードが違います" in response.text
    assert trail(engine)[-1]["detail"] == {"reason": "api_role"}


def test_an_unknown_user_costs_a_real_argon2_verification(
    client: TestClient, officer: TestUser, monkeypatch: pytest.MonkeyPatch
):
    seen: list[str] = []
    real = passwords._hasher

    class Spy:
        def verify(self, hash: str, password: str) -> bool:
            seen.append(hash)
            return real.verify(hash, password)

        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

    monkeypatch.setattr(passwords, "_hasher", Spy())
    password_step(client, TestUser("nobody", DEFAULT_PASSWORD, PlatformRole.OFFICER))
    password_step(client, officer, "wrong password!")
    assert len(seen) == 2 and all(h.startswith("$argon2id$") for h in seen)
    assert seen[0] == passwords._DUMMY_HASH and seen[1] != passwords._DUMMY_HASH


def test_a_hash_with_old_parameters_is_replaced_at_login(client: TestClient, auditor: TestUser, engine: Engine):
    from auditd.auth import repository

    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(auditor.password)
    with session_scope(make_session_factory(engine)) as session:
        user = repository.by_username(session, user_row(engine, "suzuki")["municipality_code"], "suzuki")
        assert user is not None
        repository.set_login_state(session, user.id, password_hash=weak)
    assert password_step(client, auditor).status_code == 303
    stored = user_row(engine, "suzuki")["password_hash"]
    assert stored != weak and not passwords.needs_rehash(stored)


def test_open_redirects_are_refused_after_the_second_factor_too(client: TestClient, officer: TestUser):
    csrf = csrf_of(client.get("/login").text)
    client.post(
        "/login",
        data={"csrf": csrf, "username": "sato", "password": officer.password, "next": "/\\evil.example"},
        follow_redirects=False,
    )
    assert code_step(client, officer.next_code()).headers["location"] == "/"


def test_a_local_next_page_is_kept_through_both_steps(client: TestClient, officer: TestUser):
    assert log_in(client, officer, next="/account/password").headers["location"] == "/account/password"
