"""The API fuzzed from its own OpenAPI document (schemathesis), on both backends.

Every operation of the document (plugins' included) is called with generated parameters and bodies:
anonymously, with an officer's API token, and with an officer's dashboard session. Whoever calls,
the answer is never a server error (5xx); anonymously, only ``/healthz`` answers anything but
401/403 (the push route wants its source's token, which it is given in the token run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from sqlalchemy import Engine

from auditd.api.app import create_app
from auditd.auth import tokens
from auditd.auth.models import PlatformRole
from auditd.auth.settings import SecuritySettings
from auditd.auth.testing import add_user, log_in
from auditd.settings import Settings
from collectors.push import service as push_service

pytestmark = pytest.mark.slow

#: Operations of the document that answer without a session or a token.
PUBLIC = {("GET", "/healthz")}
PUSH = ("POST", "/api/v1/ingest/{source}")
EXAMPLES = 50

fuzz = hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases on every run: a failure here is reproducible, not a flake
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@dataclass
class Api:
    app: FastAPI
    officer_token: str
    push_token: str
    session_cookies: dict[str, str]


@pytest.fixture
def api(engine: Engine, settings: Settings) -> Api:
    security = SecuritySettings(
        _env_file=None, login_rate_per_ip=100_000, login_rate_per_user=100_000, token_failures_per_ip=100_000
    )
    app = create_app(settings, engine, security=security)
    officer = add_user(engine, settings, PlatformRole.OFFICER, "sato")
    with engine.begin() as conn:
        token = tokens.create_token(
            conn, settings.municipality_code, "fuzz", scopes=tokens.SCOPES, owner="sato", actor="test"
        ).token
        push = push_service.add_source(conn, settings.municipality_code, "welfare-push", "demo-welfare", actor="test")
    browser = TestClient(app)
    assert log_in(browser, officer).status_code == 303
    return Api(app, token, push.token, dict(browser.cookies))


def operations(api: Api) -> list[Any]:
    """Every operation of the document, which is itself behind authentication like every route but
    the public ones. (schemathesis's own pytest plugin does not run under pytest 9.2, so each
    operation's cases are drawn here with Hypothesis directly.)"""
    schema = schemathesis.openapi.from_asgi(
        "/api/openapi.json", api.app, headers={"Authorization": f"Bearer {api.officer_token}"}
    )
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) >= 5
    return found


def fuzz_each(api: Api, check: Callable[[Any], None]) -> None:
    """Run ``check`` on generated cases of every operation, and fail once with every operation that
    failed and its smallest failing case (Hypothesis shrinks it and schemathesis prints a curl line)."""
    failures: list[str] = []
    for operation in operations(api):

        @fuzz
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            check(case)

        try:
            run()
        except Exception as exc:
            failures.append(f"--- {operation.label}\n{exc}")
    assert not failures, "\n".join(failures)


def _operation(case: Any) -> tuple[str, str]:
    return (case.method.upper(), case.path)


def test_anonymous_callers_get_no_server_error_and_nothing_but_the_public_routes(api: Api) -> None:
    def check(case: Any) -> None:
        response = case.call_and_validate(checks=[not_a_server_error])
        if _operation(case) not in PUBLIC:
            assert response.status_code in (401, 403), f"{case.method} {case.formatted_path}: {response.status_code}"

    fuzz_each(api, check)


def test_an_officer_s_token_gets_no_server_error(api: Api) -> None:
    def check(case: Any) -> None:
        token = api.officer_token
        if _operation(case) == PUSH:  # pushed as the source would, with its own token
            case.path_parameters = {"source": "welfare-push"}
            token = api.push_token
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error])

    fuzz_each(api, check)


def test_an_officer_s_session_gets_no_server_error(api: Api) -> None:
    def check(case: Any) -> None:
        if case.headers:  # generated credentials would be tried instead of the session (and refused)
            case.headers.pop("Authorization", None)
        case.call_and_validate(cookies=api.session_cookies, checks=[not_a_server_error])

    fuzz_each(api, check)
