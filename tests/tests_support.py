"""Helpers shared by test modules (importable because pytest puts ``tests/`` on the path)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from auditd.store.db import make_engine


@contextmanager
def pg_database() -> Iterator[str]:
    """An empty PostgreSQL database for the duration of the block (skips the test without PostgreSQL)."""
    url = os.environ.get("AUDITD_TEST_PG_URL")
    if not url:
        pytest.skip("AUDITD_TEST_PG_URL not set")
    name = f"auditd_e_{uuid.uuid4().hex[:12]}"
    admin = make_engine(make_url(url).set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
