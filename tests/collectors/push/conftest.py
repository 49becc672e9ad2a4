"""Fixtures for the HTTP side of collection: the real app on the test's database, logged-in people of
each role, and sources with push tokens."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from push_support import PASSWORD
from sqlalchemy import Engine

from auditd.api.app import create_app
from auditd.auth.models import PlatformRole
from auditd.auth.testing import add_user, log_in
from collectors.push import service


@pytest.fixture
def app_client(engine: Engine, settings) -> TestClient:  # type: ignore[no-untyped-def]
    """An anonymous client of the real application (senders push with a token, not a login)."""
    return TestClient(create_app(settings, engine))


@pytest.fixture
def add_source(engine: Engine, settings) -> Callable[..., str]:  # type: ignore[no-untyped-def]
    """Register a source and return its push token (the CLI does the same; it is tested on its own)."""

    def add(name: str, profile: str = "demo-welfare", municipality_code: str | None = None) -> str:
        with engine.begin() as conn:
            issued = service.add_source(
                conn, municipality_code or settings.municipality_code, name, profile, actor="cli:test"
            )
        return issued.token

    return add


@pytest.fixture
def login_as(engine: Engine, settings) -> Callable[[PlatformRole], TestClient]:  # type: ignore[no-untyped-def]
    """A client logged in through the real login form as a new user of ``role``."""

    def login(role: PlatformRole) -> TestClient:
        user = add_user(engine, settings, role, password=PASSWORD)
        client = TestClient(create_app(settings, engine))
        done = log_in(client, user)
        assert done.status_code == 303, done.text
        return client

    return login
