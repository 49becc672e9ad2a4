"""Fixtures for the rights lifecycle: the real application on the test's database, people of each
role logged in through the real login forms, and a small personnel register imported through the
real reference import route (``POST /api/v1/import/{kind}``)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from rights_support import STAFF_CSV, People, Register, assignments_csv, import_feed
from sqlalchemy import Engine

from auditd.auth.models import PlatformRole
from auditd.auth.testing import add_user, log_in
from auditd.settings import Settings


@pytest.fixture
def people(app: FastAPI, engine: Engine, settings: Settings) -> People:
    def logged_in(role: PlatformRole, username: str, section: str | None = None) -> TestClient:
        user = add_user(engine, settings, role, username, section_code=section)
        client = TestClient(app)
        assert log_in(client, user).status_code == 303, username
        return client

    return People(
        officer=logged_in(PlatformRole.OFFICER, "sato"),
        officer2=logged_in(PlatformRole.OFFICER, "ito"),
        head_1101=logged_in(PlatformRole.SECTION_HEAD, "head-1101", "1101"),
        head_1102=logged_in(PlatformRole.SECTION_HEAD, "head-1102", "1102"),
        auditor=logged_in(PlatformRole.AUDITOR, "kato"),
    )


@pytest.fixture
def register(people: People) -> Register:
    """The personnel register imported, and one personal account per person (u-s001 … u-s003)."""

    def load(assignments: str | None = None, staff: str = STAFF_CSV) -> None:
        import_feed(people.officer, "staff", staff)
        import_feed(people.officer, "assignments", assignments or assignments_csv())

    load()
    for n in (1, 2, 3):
        answer = people.officer.post("/api/v1/rights/accounts", json={"user_id": f"u-s00{n}", "staff_id": f"S00{n}"})
        assert answer.status_code == 200, answer.text
    return load
