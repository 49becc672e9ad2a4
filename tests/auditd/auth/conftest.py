"""Fixtures for the platform's own security: the real application on the test's database, with
security settings a test can tighten, and people of each role (second factor enrolled where due)."""

from __future__ import annotations

import pytest
from auth_support import MakeClient
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from auditd.api.app import create_app
from auditd.auth.models import PlatformRole
from auditd.auth.settings import SecuritySettings
from auditd.auth.testing import TestUser, add_user
from auditd.settings import Settings


@pytest.fixture
def make_client(engine: Engine, settings: Settings) -> MakeClient:
    """A client of a new application; keyword arguments set its security settings."""

    def make(**security: object) -> TestClient:
        chosen = SecuritySettings(_env_file=None, **security)
        return TestClient(create_app(settings, engine, security=chosen))

    return make


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()


@pytest.fixture
def officer(engine: Engine, settings: Settings) -> TestUser:
    return add_user(engine, settings, PlatformRole.OFFICER, "sato")


@pytest.fixture
def auditor(engine: Engine, settings: Settings) -> TestUser:
    return add_user(engine, settings, PlatformRole.AUDITOR, "suzuki")
