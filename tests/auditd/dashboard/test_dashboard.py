"""The dashboard through HTTP: login (argon2id, CSRF, lockout, trail), the overview, offline-only pages."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from auditd.api.app import create_app
from auditd.auth.models import PlatformRole
from auditd.auth.service import MAX_FAILED_LOGINS
from auditd.auth.testing import TestUser, add_user, log_in
from auditd.settings import Settings
from auditd.trail.models import TrailEntry

PASSWORD = "correct horse battery"


@pytest.fixture
def officer(engine: Engine, settings: Settings) -> TestUser:
    """An officer with a second factor enrolled (officers must have one)."""
    return add_user(engine, settings, PlatformRole.OFFICER, "officer", password=PASSWORD)


@pytest.fixture
def client(engine: Engine, settings: Settings, officer: TestUser) -> TestClient:
    return TestClient(create_app(settings, engine))


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "every form carries a CSRF token"
    return match.group(1)


def login(client: TestClient, password: str = PASSWORD, username: str = "officer"):  # type: ignore[no-untyped-def]
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login",
        data={"csrf": token, "username": username, "password": password, "next": "/"},
        follow_redirects=False,
    )


def trail(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [(r.actor, r.action) for r in conn.execute(select(TrailEntry).order_by(TrailEntry.id))]


def test_pages_redirect_to_login(client: TestClient):
    response = client.get("/", headers={"accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/"


def test_login_without_csrf_token_is_refused(client: TestClient):
    response = client.post("/login", data={"username": "officer", "password": PASSWORD})
    assert response.status_code == 403


def test_wrong_password_is_recorded_and_locks_after_repeated_failures(client: TestClient, engine: Engine):
    for _ in range(MAX_FAILED_LOGINS):
        response = login(client, "wrong password!")
        assert response.status_code == 401
        assert "ユーザー名またはパスワードが違います" in response.text
    locked = login(client)  # the right password, but locked now
    assert locked.status_code == 401 and "ロック" in locked.text
    actions = [a for _, a in trail(engine)]
    assert actions.count("login_failed") == MAX_FAILED_LOGINS + 1
    assert "login" not in actions


def test_unknown_user_gets_the_same_answer_and_is_recorded(client: TestClient, engine: Engine):
    response = login(client, username="nobody")
    assert response.status_code == 401 and "ユーザー名またはパスワードが違います" in response.text
    assert ("nobody", "login_failed") in trail(engine)


def test_login_then_overview_shows_the_store_and_logout(client: TestClient, engine: Engine, officer: TestUser):
    response = log_in(client, officer)
    assert response.status_code == 303 and response.headers["location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert "概要" in page.text and 'id="events-total">0<' in page.text
    assert "まだデータがありません" in page.text
    assert ("officer", "login") in trail(engine)
    out = client.post("/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/", headers={"accept": "text/html"}, follow_redirects=False).status_code == 303


def test_open_redirects_after_login_are_refused(client: TestClient, officer: TestUser):
    response = log_in(client, officer, next="//evil.example/")
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_pages_fetch_nothing_from_outside_and_send_security_headers(client: TestClient, officer: TestUser):
    assert log_in(client, officer).status_code == 303
    for path in ("/login", "/", "/static/auditd.css"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
        external = re.findall(r'(?:src|href)="(https?://[^"]+)"', response.text)
        assert external == [], f"{path} references outside resources: {external}"


def test_english_is_a_setting(engine: Engine, settings: Settings):
    english = settings.model_copy(update={"language": "en"})
    page = TestClient(create_app(english, engine)).get("/login")
    assert "Log in" in page.text and 'lang="en"' in page.text
