"""Helpers for tests, of any package, that need a person logged in through the real login forms.

Officers and administrators log in with a second factor, so a test that logs one in needs their
TOTP secret and a fresh code; these helpers enrol the factor when the user is made and type the
code the way an authenticator app would. Only tests import this module.

    user = add_user(engine, settings, PlatformRole.OFFICER)
    client = TestClient(create_app(settings, engine))
    assert log_in(client, user).status_code == 303
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyotp
from sqlalchemy import Engine

from auditd.auth import service, totp
from auditd.auth.models import PlatformRole
from auditd.auth.settings import TOTP_REQUIRED_ROLES
from auditd.privacy.vault import Vault
from auditd.settings import Settings
from auditd.store.db import make_session_factory, session_scope

if TYPE_CHECKING:
    import httpx

DEFAULT_PASSWORD = "correct horse battery"  # noqa: S105 - a test fixture's password


@dataclass
class TestUser:
    """A platform user made for a test, with what logging in needs."""

    __test__ = False  # not a pytest test class

    username: str
    password: str
    role: PlatformRole
    totp_secret: str | None = None
    last_step: int | None = None  # the last step whose code was used (codes are accepted once)

    def next_code(self) -> str:
        """A code not used yet: the current step's, or the next step's (accepted as clock drift).

        More than two logins of one user within one 30-second step are impossible by design (a code
        is accepted once); make another user instead.
        """
        assert self.totp_secret is not None, f"{self.username} has no second factor"
        now = totp.current_step()
        step = now if self.last_step is None or self.last_step < now else self.last_step + 1
        if step > now + totp.DRIFT_STEPS:
            raise RuntimeError(f"{self.username} logged in too often within 30 seconds: use another user")
        self.last_step = step
        return pyotp.TOTP(self.totp_secret).generate_otp(step)


def add_user(
    engine: Engine,
    settings: Settings,
    role: PlatformRole,
    username: str | None = None,
    *,
    password: str = DEFAULT_PASSWORD,
    section_code: str | None = None,
    with_totp: bool | None = None,
) -> TestUser:
    """Make a user of ``role`` (a section head gets section 1101 unless given one). A second factor is
    enrolled for the roles that require one, or as ``with_totp`` says."""
    username = username or f"{role.value}-user"
    if role is PlatformRole.SECTION_HEAD and section_code is None:
        section_code = "1101"
    enrol = role in TOTP_REQUIRED_ROLES if with_totp is None else with_totp
    secret: str | None = None
    with session_scope(make_session_factory(engine)) as session:
        service.create_user(
            session, settings.municipality_code, username, password, role, section_code=section_code, actor="test"
        )
        if enrol:
            vault = Vault(settings.secret("encryption_key"))
            secret = service.enrol_totp(session, vault, settings.municipality_code, username, actor="test")
    return TestUser(username, password, role, secret)


def csrf_of(html: str) -> str:
    """The CSRF token of the (first) form on a page."""
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    if match is None:
        raise AssertionError("the page has no form with a CSRF token")
    return match.group(1)


def log_in(client: httpx.Client, user: TestUser, *, next: str = "/") -> httpx.Response:
    """Log ``user`` in through ``/login`` and ``/login/totp`` when due (enrolling the second factor if the
    page offers one). Returns the last answer: 303 to ``next`` when logged in."""
    csrf = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={"csrf": csrf, "username": user.username, "password": user.password, "next": next},
        follow_redirects=False,
    )
    if response.status_code == 303 and response.headers.get("location") == "/login/totp":
        page = client.get("/login/totp")
        offered = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page.text)
        if offered is not None:  # enrolment at the first login: take the secret as a person would
            user.totp_secret = offered.group(1).replace(" ", "")
        response = client.post(
            "/login/totp", data={"csrf": csrf_of(page.text), "code": user.next_code()}, follow_redirects=False
        )
    return response
