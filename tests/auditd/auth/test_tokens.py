"""API tokens: `auditd token` made, listed and revoked from the command line; bearer tokens resolved to a
principal by the same `require(...)` as sessions, with scopes, expiry, revocation, the trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from auth_support import actions, token_row, trail
from cli_support import auditd
from fastapi import Depends
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from auditd.api.app import create_app
from auditd.api.deps import require
from auditd.auth import tokens
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.auth.testing import TestUser, add_user, log_in
from auditd.errors import ValidationFailed
from auditd.settings import Settings


def make_token(engine: Engine, settings: Settings, name: str, *scopes: str, owner: str | None = None, expires="90d"):  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        return tokens.create_token(
            conn, settings.municipality_code, name, scopes=scopes, owner=owner, expires=expires, actor="cli:test"
        ).token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_cli_creates_lists_and_revokes_a_token(env_for_cli: dict[str, str], engine: Engine):
    made = auditd(
        env_for_cli,
        "token",
        "create",
        "jinji-system",
        "--role",
        "api",
        "--scopes",
        "rights:write,events:read",
        "--expires",
        "90d",
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("aut_") and len(token) == 4 + 43
    row = token_row(engine, "jinji-system")
    assert row["token_hash"] == tokens.token_hash(token) and token not in str(row)  # only the hash is kept
    assert row["scopes"] == "events:read rights:write" and row["role"] == "api" and row["user_id"] is None
    assert timedelta(days=89) < row["expires_at"] - datetime.now(UTC) <= timedelta(days=90)

    listed = auditd(env_for_cli, "token", "list")
    assert listed.returncode == 0 and "jinji-system" in listed.stdout and "active" in listed.stdout
    assert token not in listed.stdout

    revoked = auditd(env_for_cli, "token", "revoke", "jinji-system")
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert "revoked" in auditd(env_for_cli, "token", "list").stdout
    assert actions(engine) == ["token_created", "token_revoked"]
    assert trail(engine)[0]["actor"].startswith("cli:")


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("--scopes", "events:raed"), "unknown scope"),
        (("--expires", "400d"), "366 days"),
        (("--expires", "soon"), "neither a duration nor a date"),
        (("--role", "officer"), "must belong to a person"),
        (("--user", "nobody"), "no active platform user"),
    ],
)
def test_the_cli_refuses_bad_tokens_with_a_reason(env_for_cli: dict[str, str], args: tuple[str, ...], problem: str):
    done = auditd(env_for_cli, "token", "create", "t1", *args)
    assert done.returncode == 2 and problem in done.stderr and "Traceback" not in done.stderr


def test_a_system_token_calls_the_api(engine: Engine, settings: Settings):
    token = make_token(engine, settings, "jinji-system", "rights:write")
    client = TestClient(create_app(settings, engine))
    me = client.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json() | {"token_expires_at": None} == {
        "username": "api:jinji-system",
        "display_name": "jinji-system",
        "role": "api",
        "municipality_code": settings.municipality_code,
        "section_code": None,
        "authenticated_by": "token",
        "token_name": "jinji-system",
        "scopes": ["rights:write"],
        "token_expires_at": None,
    }
    assert token_row(engine, "jinji-system")["last_used_at"] is not None


def test_a_person_s_token_acts_as_the_person_narrowed_to_its_scopes(engine: Engine, settings: Settings):
    add_user(engine, settings, PlatformRole.OFFICER, "sato")
    token = make_token(engine, settings, "sato-script", "events:read", owner="sato")
    me = TestClient(create_app(settings, engine)).get("/api/v1/me", headers=bearer(token)).json()
    assert (me["username"], me["role"], me["scopes"]) == ("sato", "officer", ["events:read"])


def scoped_app(settings: Settings, engine: Engine):  # type: ignore[no-untyped-def]
    """The real application plus three routes declaring what they admit, as another package's would."""
    app = create_app(settings, engine)

    @app.get("/api/v1/test/events")
    def events(p: Principal = Depends(require(PlatformRole.OFFICER, PlatformRole.API, scopes=("events:read",)))):
        return {"who": p.username}

    @app.get("/api/v1/test/rights")
    def rights(p: Principal = Depends(require(PlatformRole.API, scopes=("rights:read", "rights:write")))):
        return {"who": p.username}

    @app.get("/api/v1/test/people-only")
    def people(p: Principal = Depends(require(PlatformRole.OFFICER, PlatformRole.API))):
        return {"who": p.username}

    return app


def test_require_checks_role_and_scopes_for_tokens_and_role_only_for_sessions(engine: Engine, settings: Settings):
    officer = add_user(engine, settings, PlatformRole.OFFICER, "sato")
    client = TestClient(scoped_app(settings, engine))
    reader = make_token(engine, settings, "reader", "events:read")
    writer = make_token(engine, settings, "writer", "rights:read", "rights:write")
    both = make_token(engine, settings, "both", *tokens.SCOPES)
    nothing = make_token(engine, settings, "nothing")
    personal = make_token(engine, settings, "sato-script", "events:read", owner="sato")

    def status(path: str, token: str) -> int:
        return client.get(path, headers=bearer(token)).status_code

    assert [status("/api/v1/test/events", t) for t in (reader, writer, both, nothing, personal)] == [
        200,
        403,
        200,
        403,
        200,
    ]
    assert [status("/api/v1/test/rights", t) for t in (reader, writer, both, nothing, personal)] == [
        403,
        200,
        200,
        403,
        403,
    ]
    # a route that names no scopes is for people: no token, however broad, opens it
    assert [status("/api/v1/test/people-only", t) for t in (both, personal)] == [403, 403]
    missing = client.get("/api/v1/test/rights", headers=bearer(reader)).json()
    assert missing["error"] == "forbidden" and "rights:read, rights:write" in missing["detail"]
    log_in(client, officer)
    assert client.get("/api/v1/test/people-only").status_code == 200  # a session: the role decides
    assert client.get("/api/v1/test/events").status_code == 200


def test_a_route_cannot_name_a_scope_that_does_not_exist():
    with pytest.raises(ValueError, match="unknown scope"):
        require(PlatformRole.API, scopes=("event:read",))


@pytest.mark.parametrize("state", ["unknown", "expired", "revoked", "owner_disabled", "not_an_api_token"])
def test_refused_tokens_are_401_and_recorded(engine: Engine, settings: Settings, state: str):
    from sqlalchemy import update

    from auditd.auth.models import ApiToken, PlatformUser

    add_user(engine, settings, PlatformRole.AUDITOR, "suzuki")
    token = make_token(engine, settings, "t1", "events:read", owner="suzuki")
    with engine.begin() as conn:
        if state == "unknown":
            token = tokens.new_token()
        elif state == "not_an_api_token":
            token = "adt_" + "x" * 43  # a log source's push token is not an API token
        elif state == "expired":
            conn.execute(update(ApiToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        elif state == "revoked":
            tokens.revoke_token(conn, settings.municipality_code, "t1", actor="cli:test")
        else:
            conn.execute(update(PlatformUser).values(disabled=True))
    response = TestClient(create_app(settings, engine)).get("/api/v1/me", headers=bearer(token))
    assert response.status_code == 401 and response.json()["error"] == "authentication_required"
    refused = trail(engine)[-1]
    assert refused["action"] == "token_refused" and refused["detail"]["reason"] == state
    assert refused["client"] == "testclient" and token not in str(refused)


def test_a_token_is_refused_on_dashboard_pages(engine: Engine, settings: Settings):
    token = make_token(engine, settings, "t1", *tokens.SCOPES)
    client = TestClient(create_app(settings, engine))
    for path in ("/", "/login", "/account/password", "/login/totp"):
        assert client.get(path, headers=bearer(token)).status_code == 403, path


def test_last_use_is_written_at_most_once_a_minute(engine: Engine, settings: Settings):
    token = make_token(engine, settings, "t1")
    client = TestClient(create_app(settings, engine))
    client.get("/api/v1/me", headers=bearer(token))
    first = token_row(engine, "t1")["last_used_at"]
    client.get("/api/v1/me", headers=bearer(token))
    assert token_row(engine, "t1")["last_used_at"] == first


def test_names_scopes_and_expiry_are_checked(engine: Engine, settings: Settings):
    with pytest.raises(ValidationFailed, match="cannot be a token name"):
        make_token(engine, settings, "has space")
    with pytest.raises(ValidationFailed, match="not in the future"):
        make_token(engine, settings, "t1", expires="2020-01-01")
    make_token(engine, settings, "t1", expires="2w")
    from auditd.errors import Conflict

    with pytest.raises(Conflict):
        make_token(engine, settings, "t1")


def test_a_person_s_token_follows_the_person_s_current_role(engine: Engine, settings: Settings):
    from sqlalchemy import update

    from auditd.auth.models import PlatformUser

    add_user(engine, settings, PlatformRole.OFFICER, "sato")
    token = make_token(engine, settings, "t1", "events:read", owner="sato")
    with engine.begin() as conn:
        conn.execute(update(PlatformUser).values(role="auditor"))
    me = TestClient(create_app(settings, engine)).get("/api/v1/me", headers=bearer(token)).json()
    assert me["role"] == "auditor"


def test_test_users_log_in(engine: Engine, settings: Settings):
    """The helpers other packages' tests use: every role logs in through the real forms."""
    client = TestClient(create_app(settings, engine))
    for role in (PlatformRole.OFFICER, PlatformRole.ADMIN, PlatformRole.AUDITOR, PlatformRole.SECTION_HEAD):
        user: TestUser = add_user(engine, settings, role)
        assert log_in(client, user).status_code == 303, role
        assert client.get("/api/v1/me").json()["role"] == role.value
