"""Sessions: the cookie's flags, a new session at login, idle and absolute timeouts, logout and
password changes that end every copy of a session; CSRF on the forms."""

from __future__ import annotations

import pytest
from auth_support import MakeClient, actions, trail, user_row
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from auditd.api.app import create_app
from auditd.auth.service import MAX_FAILED_LOGINS
from auditd.auth.testing import TestUser, csrf_of, log_in
from auditd.settings import Settings


class Clock:
    """Stands in for the ``time`` module of :mod:`auditd.api.deps`, ``ahead`` seconds in the future."""

    def __init__(self) -> None:
        import time

        self._real = time.time
        self.ahead = 0.0

    def time(self) -> float:
        return self._real() + self.ahead


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    from auditd.api import deps

    fake = Clock()
    monkeypatch.setattr(deps, "time", fake)
    return fake


def session_cookie_header(response) -> str:  # type: ignore[no-untyped-def]
    return next(v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("auditd_session="))


def test_the_cookie_is_httponly_and_samesite_strict_and_secure_behind_https(
    client: TestClient, auditor: TestUser, engine: Engine, settings: Settings
):
    cookie = session_cookie_header(log_in(client, auditor)).lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    behind_https = TestClient(
        create_app(settings.model_copy(update={"base_url": "https://audit.example.lg.jp/"}), engine),
        base_url="https://testserver",
    )
    cookie = session_cookie_header(behind_https.get("/login")).lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie


def test_login_starts_a_new_session(client: TestClient, auditor: TestUser):
    before = csrf_of(client.get("/login").text)
    planted = client.cookies.get("auditd_session")
    log_in(client, auditor)
    assert client.cookies.get("auditd_session") != planted
    after = csrf_of(client.get("/account/password").text)
    assert after != before  # the CSRF token of the anonymous session is worth nothing now


def test_an_idle_session_ends(make_client: MakeClient, auditor: TestUser, clock: Clock):
    client = make_client(session_idle_minutes=30)
    log_in(client, auditor)
    clock.ahead = 29 * 60
    assert client.get("/api/v1/me").status_code == 200  # used: the idle time starts again
    clock.ahead = 29 * 60 + 29 * 60
    assert client.get("/api/v1/me").status_code == 200
    clock.ahead += 31 * 60
    assert client.get("/api/v1/me").status_code == 401


def test_a_session_ends_after_the_absolute_timeout_even_when_used(
    make_client: MakeClient, auditor: TestUser, clock: Clock
):
    client = make_client(session_idle_minutes=60, session_absolute_hours=2)
    log_in(client, auditor)
    for minutes in range(50, 120, 50):
        clock.ahead = minutes * 60
        assert client.get("/api/v1/me").status_code == 200
    clock.ahead = 2 * 3600 + 1
    assert client.get("/api/v1/me").status_code == 401


def test_logout_ends_every_copy_of_the_session(client: TestClient, auditor: TestUser, engine: Engine):
    log_in(client, auditor)
    stolen = dict(client.cookies)
    page = client.get("/account/password")
    out = client.post("/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    replay = TestClient(client.app, cookies=stolen)
    assert replay.get("/api/v1/me").status_code == 401
    assert actions(engine, "suzuki")[-1] == "logout" and trail(engine)[-1]["client"] == "testclient"


def test_a_person_changes_the_password_and_other_sessions_end(
    make_client: MakeClient, auditor: TestUser, engine: Engine
):
    here, elsewhere = make_client(), make_client()
    log_in(here, auditor)
    log_in(elsewhere, auditor)
    page = here.get("/account/password")
    assert page.status_code == 200 and 'autocomplete="new-password"' in page.text
    new = "a much longer passphrase 2026"
    done = here.post(
        "/account/password",
        data={"csrf": csrf_of(page.text), "current": auditor.password, "new": new, "confirm": new},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/account/password?changed=true"
    assert "パスワードを変更しました" in here.get(done.headers["location"]).text  # this session goes on
    assert elsewhere.get("/api/v1/me").status_code == 401
    assert actions(engine, "suzuki")[-1] == "password_changed"
    assert user_row(engine, "suzuki")["password_changed_at"] is not None
    assert log_in(make_client(), TestUser("suzuki", new, auditor.role)).status_code == 303


@pytest.mark.parametrize(
    ("current", "new", "confirm", "problem"),
    [
        ("correct horse battery", "short", "short", "12文字以上"),
        ("correct horse battery", "a long new password", "another long password", "一致しません"),
        ("correct horse battery", "suzuki", "suzuki", "12文字以上"),
        ("correct horse battery", "correct horse battery", "correct horse battery", "現在のものと同じ"),
        ("not my password at all", "a long new password", "a long new password", "現在のパスワードが違います"),
    ],
)
def test_a_password_change_that_cannot_be_done_says_why(
    client: TestClient, auditor: TestUser, current: str, new: str, confirm: str, problem: str
):
    log_in(client, auditor)
    page = client.get("/account/password")
    response = client.post(
        "/account/password",
        data={"csrf": csrf_of(page.text), "current": current, "new": new, "confirm": confirm},
    )
    assert response.status_code == 422 and problem in response.text


def test_guessing_the_current_password_in_an_open_session_locks_the_account(
    client: TestClient, auditor: TestUser, engine: Engine
):
    log_in(client, auditor)
    for _ in range(MAX_FAILED_LOGINS):
        page = client.get("/account/password")
        client.post(
            "/account/password",
            data={"csrf": csrf_of(page.text), "current": "guess guess guess", "new": "x" * 20, "confirm": "x" * 20},
        )
    assert user_row(engine, "suzuki")["locked_until"] is not None
    assert actions(engine, "suzuki").count("password_change_failed") == MAX_FAILED_LOGINS
    assert "account_locked" in actions(engine, "suzuki")


def test_forms_without_the_csrf_token_are_refused(client: TestClient, auditor: TestUser):
    log_in(client, auditor)
    for path, data in (
        ("/account/password", {"current": auditor.password, "new": "y" * 20, "confirm": "y" * 20}),
        ("/logout", {}),
        ("/login/totp", {"code": "123456"}),
    ):
        assert client.post(path, data=data).status_code == 403, path
        assert client.post(path, data={**data, "csrf": "ｘ" * 43}).status_code == 403, path  # not even a 500
    assert client.get("/api/v1/me").status_code == 200  # still logged in: nothing happened
