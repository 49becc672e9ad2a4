"""Fixtures for alert e-mail: a real SMTP server (aiosmtpd) on loopback, plain, STARTTLS or implicit
TLS with a certificate from a throw-away CA, with or without authentication."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from mail_support import Inbox
from pydantic import SecretStr

from auditd.settings import Settings

USERNAME, PASSWORD = "auditd-relay", "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USERNAME.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="session")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


SmtpServer = Callable[..., tuple[Inbox, int]]


@pytest.fixture
def smtp_server(server_tls: ssl.SSLContext) -> Iterator[SmtpServer]:
    """Start an SMTP server: ``smtp_server(security="none"|"starttls"|"tls", auth=False, port=None)``
    returns its inbox and port. Stopped after the test."""
    controllers: list[Controller] = []

    def start(*, security: str = "none", auth: bool = False, port: int | None = None) -> tuple[Inbox, int]:
        inbox = Inbox()
        chosen = port or free_port()
        kwargs: dict[str, object] = {}
        if security == "starttls":
            kwargs.update(tls_context=server_tls, require_starttls=True)
        if security == "tls":
            kwargs.update(ssl_context=server_tls)
        if auth:
            kwargs.update(authenticator=_authenticator, auth_require_tls=True, auth_required=True)
        controller = Controller(inbox, hostname="127.0.0.1", port=chosen, **kwargs)
        controller.start()
        controllers.append(controller)
        return inbox, chosen

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def mail_settings(settings: Settings, ca_file: Path) -> Callable[..., Settings]:
    """The test's settings pointed at a local SMTP server."""

    def make(port: int, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_security": "none",
            "smtp_from": "auditd@city.example.lg.jp",
            "smtp_timeout": 5.0,
            "smtp_ca_file": ca_file,
            "base_url": "https://auditd.city.example.lg.jp/",
            "mail_retry_max": 3,
            "mail_retry_base_seconds": 60.0,
        }
        values.update(overrides)
        if isinstance(values.get("smtp_password"), str):
            values["smtp_password"] = SecretStr(str(values["smtp_password"]))
        return settings.model_copy(update=values)

    return make
