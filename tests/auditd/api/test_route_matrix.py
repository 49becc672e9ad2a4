"""Every route of the real application × every kind of caller, against an explicit table.

The routes are read from the application itself (``app.routes``, with the routers plugins register),
so a new route that is not in ``EXPECTED`` fails :func:`test_every_route_is_in_the_table`: its author
must decide who may call it. A caller the table admits must not get 401/403; any other must get
401/403 (429 would also be a refusal, but the limits here are set high enough never to answer it).

Only the login flow, ``/healthz``, static files and the log-source push route (which has its own
token) are reachable without a session or an API token.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.routing import Mount

from auditd.auth import tokens
from auditd.auth.models import PlatformRole
from auditd.auth.testing import add_user, csrf_of, log_in
from auditd.settings import Settings
from collectors.push import service as push_service

# -- who calls ---------------------------------------------------------------------------------------

ANONYMOUS = "anonymous"
OFFICER, AUDITOR, SECTION_HEAD, ADMIN = "officer", "auditor", "section_head", "admin"
API_TOKEN = "api token (all scopes)"
API_TOKEN_NO_SCOPES = "api token (no scopes)"
OFFICER_TOKEN = "officer's own token (all scopes)"

PEOPLE = frozenset({OFFICER, AUDITOR, SECTION_HEAD, ADMIN})
TOKENS = frozenset({API_TOKEN, API_TOKEN_NO_SCOPES, OFFICER_TOKEN})
CALLERS = frozenset({ANONYMOUS}) | PEOPLE | TOKENS
#: The login flow: anyone with a browser; a bearer token on a dashboard page is refused.
LOGIN_FLOW = frozenset({ANONYMOUS}) | PEOPLE
#: Routes that check a log source's push token (``adt_…``) themselves: every caller here is refused,
#: and the source's own token is admitted (checked separately).
PUSH_TOKEN = frozenset[str]()

#: Who reads alerts and cases.
CASE_READERS = frozenset({OFFICER, AUDITOR, SECTION_HEAD, API_TOKEN, OFFICER_TOKEN})

# -- the table ---------------------------------------------------------------------------------------

EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    # public
    ("GET", "/healthz"): CALLERS,
    ("GET", "/static"): CALLERS,
    ("GET", "/login"): LOGIN_FLOW,
    ("POST", "/login"): LOGIN_FLOW,
    ("GET", "/login/totp"): LOGIN_FLOW,
    ("POST", "/login/totp"): LOGIN_FLOW,
    ("POST", "/logout"): LOGIN_FLOW,  # ends the session there is, if any; shows and changes nothing else
    ("POST", "/api/v1/ingest/{source}"): PUSH_TOKEN,
    # dashboard pages: people only
    ("GET", "/"): PEOPLE,
    ("GET", "/account/password"): PEOPLE,
    ("POST", "/account/password"): PEOPLE,
    ("GET", "/api/docs"): PEOPLE,
    # the API
    ("GET", "/api/openapi.json"): PEOPLE | TOKENS,
    ("GET", "/api/v1/me"): PEOPLE | TOKENS,
    ("POST", "/api/v1/import/{kind}"): frozenset({OFFICER, ADMIN}),
    ("GET", "/api/v1/ingest/runs"): frozenset({OFFICER, ADMIN, AUDITOR}),
    ("GET", "/api/v1/ingest/sources"): frozenset({OFFICER, ADMIN, AUDITOR}),
    ("GET", "/api/v1/quarantine"): frozenset({OFFICER, ADMIN, AUDITOR}),
    ("GET", "/api/v1/events/{event_id}/decision"): frozenset({OFFICER, AUDITOR, SECTION_HEAD}),
    ("GET", "/api/v1/policy"): frozenset({OFFICER, AUDITOR, SECTION_HEAD, ADMIN}),
    # the rights lifecycle: deciding is a person's act (no token); systems request, revoke and read
    ("POST", "/api/v1/rights/requests"): frozenset({OFFICER, SECTION_HEAD, API_TOKEN, OFFICER_TOKEN}),
    ("GET", "/api/v1/rights/requests"): frozenset({OFFICER, SECTION_HEAD, AUDITOR, API_TOKEN, OFFICER_TOKEN}),
    ("POST", "/api/v1/rights/requests/{request_id}/approve"): frozenset({OFFICER, SECTION_HEAD}),
    ("POST", "/api/v1/rights/requests/{request_id}/reject"): frozenset({OFFICER, SECTION_HEAD}),
    ("GET", "/api/v1/rights/grants"): frozenset({OFFICER, SECTION_HEAD, AUDITOR, API_TOKEN, OFFICER_TOKEN}),
    ("GET", "/api/v1/rights/grants/without-expiry"): frozenset(
        {OFFICER, SECTION_HEAD, AUDITOR, API_TOKEN, OFFICER_TOKEN}
    ),
    ("GET", "/api/v1/rights/grants/{grant_id}/events"): frozenset(
        {OFFICER, SECTION_HEAD, AUDITOR, API_TOKEN, OFFICER_TOKEN}
    ),
    ("POST", "/api/v1/rights/grants/{grant_id}/revoke"): frozenset({OFFICER, SECTION_HEAD, API_TOKEN, OFFICER_TOKEN}),
    ("POST", "/api/v1/rights/accounts"): frozenset({OFFICER, ADMIN, API_TOKEN, OFFICER_TOKEN}),
    ("POST", "/api/v1/rights/personnel/apply"): frozenset({OFFICER, API_TOKEN, OFFICER_TOKEN}),
    ("GET", "/api/v1/rights/revocation-lag"): frozenset({OFFICER, AUDITOR, API_TOKEN, OFFICER_TOKEN}),
    ("GET", "/api/v1/rights/dormant"): frozenset({OFFICER, AUDITOR, API_TOKEN, OFFICER_TOKEN}),
    # 権限表の見直し (recertification campaigns): read as the grants (section heads: their items); run by
    # an officer in person; decided by a person (section head of the section, or an officer); the report
    # for officers and auditors (and systems reading rights)
    ("POST", "/api/v1/rights/campaigns"): frozenset({OFFICER}),
    ("GET", "/api/v1/rights/campaigns"): frozenset({OFFICER, SECTION_HEAD, AUDITOR, API_TOKEN, OFFICER_TOKEN}),
    ("GET", "/api/v1/rights/campaigns/{campaign_id}"): frozenset(
        {OFFICER, SECTION_HEAD, AUDITOR, API_TOKEN, OFFICER_TOKEN}
    ),
    ("POST", "/api/v1/rights/campaigns/{campaign_id}/items/{item_id}/decision"): frozenset({OFFICER, SECTION_HEAD}),
    ("POST", "/api/v1/rights/campaigns/{campaign_id}/remind"): frozenset({OFFICER}),
    ("POST", "/api/v1/rights/campaigns/{campaign_id}/close"): frozenset({OFFICER}),
    ("GET", "/api/v1/rights/campaigns/{campaign_id}/report"): frozenset({OFFICER, AUDITOR, API_TOKEN, OFFICER_TOKEN}),
    ("GET", "/api/v1/rights/campaigns/{campaign_id}/report.csv"): frozenset(
        {OFFICER, AUDITOR, API_TOKEN, OFFICER_TOKEN}
    ),
    # 権限表の見直し — end
    # alerts and cases: read by all who audit (section heads: their section); comments also from systems
    # (ticketing); handling a case and suppressing is an officer's act in person (no token)
    **{("GET", path): CASE_READERS for path in ("/api/v1/alerts", "/api/v1/alerts/{alert_id}", "/api/v1/cases")},
    ("GET", "/api/v1/cases/{case_id}"): CASE_READERS,
    ("POST", "/api/v1/cases/{case_id}/comments"): frozenset({OFFICER, SECTION_HEAD, API_TOKEN, OFFICER_TOKEN}),
    **{
        (method, path): frozenset({OFFICER})
        for method, path in (
            ("GET", "/api/v1/cases/{case_id}/attachments/{attachment_id}"),
            ("GET", "/api/v1/cases/{case_id}/breach"),
            ("PUT", "/api/v1/cases/{case_id}/breach"),
            ("POST", "/api/v1/cases/{case_id}/breach/reported"),
            ("POST", "/api/v1/cases/{case_id}/assign"),
            ("POST", "/api/v1/cases/{case_id}/status"),
            ("POST", "/api/v1/cases/{case_id}/close"),
            ("POST", "/api/v1/cases/{case_id}/reopen"),
            ("POST", "/api/v1/cases/{case_id}/evidence"),
            ("GET", "/api/v1/suppressions"),
            ("POST", "/api/v1/suppressions"),
            ("POST", "/api/v1/suppressions/{suppression_id}/revoke"),
        )
    },
    # reports: officers and auditors, and tokens with reports:read / reports:write (a disclosure report
    # is refused to all but an officer in person by the route itself, tested in tests/reports)
    ("POST", "/api/v1/reports"): frozenset({OFFICER, AUDITOR, API_TOKEN, OFFICER_TOKEN}),
    **{
        ("GET", path): frozenset({OFFICER, AUDITOR, API_TOKEN, OFFICER_TOKEN})
        for path in ("/api/v1/reports", "/api/v1/reports/{report_id}", "/api/v1/reports/{report_id}/file")
    },
    ("GET", "/reports"): frozenset({OFFICER, AUDITOR}),
    ("POST", "/reports"): frozenset({OFFICER, AUDITOR}),
    # the PIA register and the attestations: read like the reports; adding, reviewing and attesting
    # are an officer's acts in person (no token), on the API and on the レポート page
    **{
        ("GET", path): frozenset({OFFICER, AUDITOR, API_TOKEN, OFFICER_TOKEN})
        for path in (
            "/api/v1/pia",
            "/api/v1/pia/{pia_id}",
            "/api/v1/attestations",
            "/api/v1/attestations/{attestation_id}/evidence",
        )
    },
    **{
        ("POST", path): frozenset({OFFICER})
        for path in (
            "/api/v1/pia",
            "/api/v1/pia/{pia_id}/reviews",
            "/api/v1/attestations",
            "/reports/attest",
            "/reports/pia",
            "/reports/pia/{pia_id}/review",
        )
    },
    # the same on the dashboard's pages and forms (a person's session only)
    **{("GET", path): PEOPLE - {ADMIN} for path in ("/cases", "/cases/{case_id}", "/alerts/{alert_id}")},
    ("POST", "/cases/{case_id}/comment"): frozenset({OFFICER, SECTION_HEAD}),
    **{
        ("POST", f"/cases/{{case_id}}/{action}"): frozenset({OFFICER})
        for action in ("assign", "investigate", "close", "reopen", "evidence", "breach/reported")
    },
    # 抑制 and the breach checklist on the dashboard (auditd/dashboard/router.py): officers, as the API
    ("POST", "/cases/{case_id}/breach"): frozenset({OFFICER}),
    ("GET", "/suppressions"): frozenset({OFFICER}),
    ("POST", "/suppressions"): frozenset({OFFICER}),
    ("POST", "/suppressions/{suppression_id}/revoke"): frozenset({OFFICER}),
    # 職員 and 権限管理 pages (auditd/rights/pages.py): read as GET /api/v1/rights/grants by people
    # (section heads: their section; administrators see no resident data); deciding as the API's approve
    **{
        ("GET", path): frozenset({OFFICER, AUDITOR, SECTION_HEAD}) for path in ("/staff", "/staff/{user_id}", "/rights")
    },
    ("POST", "/rights/requests/{request_id}/approve"): frozenset({OFFICER, SECTION_HEAD}),
    ("POST", "/rights/requests/{request_id}/reject"): frozenset({OFFICER, SECTION_HEAD}),
    # 権限表の見直し pages: read as the campaigns API by people; run by officers; decided as the API
    ("GET", "/rights/campaigns/{campaign_id}"): frozenset({OFFICER, AUDITOR, SECTION_HEAD}),
    ("POST", "/rights/campaigns"): frozenset({OFFICER}),
    ("POST", "/rights/campaigns/{campaign_id}/remind"): frozenset({OFFICER}),
    ("POST", "/rights/campaigns/{campaign_id}/close"): frozenset({OFFICER}),
    ("POST", "/rights/campaigns/{campaign_id}/items/{item_id}/decide"): frozenset({OFFICER, SECTION_HEAD}),
    # 権限表の見直し pages — end
    # 権限管理表 (ledger CSV), 委託契約 (contractor roster), 取消 and アカウント forms (auditd/rights/router.py,
    # auditd/rights/pages.py): the ledger file is exported by officers and auditors and imported by an
    # officer, in person; contracts read as the grants' audit (no section heads), recorded by officers
    # (and systems); the pages as the API by people; accounts by officers and administrators (no resident data)
    ("GET", "/api/v1/rights/ledger.csv"): frozenset({OFFICER, AUDITOR}),
    ("POST", "/api/v1/rights/ledger"): frozenset({OFFICER}),
    **{
        ("GET", path): frozenset({OFFICER, AUDITOR, API_TOKEN, OFFICER_TOKEN})
        for path in ("/api/v1/rights/contracts", "/api/v1/rights/contracts/{contract_id}")
    },
    **{
        ("POST", path): frozenset({OFFICER, API_TOKEN, OFFICER_TOKEN})
        for path in ("/api/v1/rights/contracts", "/api/v1/rights/contracts/{contract_id}/operators")
    },
    ("POST", "/rights/grants/{grant_id}/revoke"): frozenset({OFFICER, SECTION_HEAD}),
    ("GET", "/rights/ledger"): frozenset({OFFICER, AUDITOR}),
    ("POST", "/rights/ledger"): frozenset({OFFICER}),
    ("GET", "/rights/contracts"): frozenset({OFFICER, AUDITOR}),
    ("POST", "/rights/contracts"): frozenset({OFFICER}),
    ("POST", "/rights/contracts/{contract_id}/operators"): frozenset({OFFICER}),
    **{
        (method, path): frozenset({OFFICER, ADMIN})
        for method, path in (
            ("GET", "/rights/accounts"),
            ("POST", "/rights/accounts"),
            ("POST", "/rights/accounts/{user_id}/disable"),
        )
    },
    # 権限管理表, 委託契約, 取消 and アカウント — end
    # 住民アクセス履歴 (reports/resident_pages.py): personal data, an officer in person only (as a
    # disclosure report); 監査証跡 (auditd/trail/pages.py): officers and auditors
    **{
        (method, path): frozenset({OFFICER})
        for method, path in (
            ("GET", "/residents"),
            ("POST", "/residents"),
            ("GET", "/residents/{pseudonym}"),
            ("POST", "/residents/{pseudonym}/reveal"),
            ("POST", "/residents/{pseudonym}/report"),
        )
    },
    ("GET", "/trail"): frozenset({OFFICER, AUDITOR}),
    # 取込 (collectors/pages.py): the readers of GET /api/v1/ingest/runs (administrators configure ingest;
    # the raw quarantined text is an officer's only, tested in tests/collectors); ポリシー (policies/pages.py):
    # the readers of GET /api/v1/policy and administrators, who maintain the policy files
    **{("GET", path): frozenset({OFFICER, AUDITOR, ADMIN}) for path in ("/ingest", "/ingest/quarantine")},
    **{("GET", path): PEOPLE for path in ("/policy", "/policy/diff")},
}

#: Values for path parameters: a known one where the route needs it, else something harmless.
PATH_VALUES = {
    "source": "welfare-push",
    "kind": "staff",
    "event_id": "019c2a3b-4c5d-7e6f-8a9b-0c1d2e3f4a5b",
}
STATIC_FILE = "/static/auditd.css"


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as declared, with {parameters}

    def url(self) -> str:
        if self.path == "/static":
            return STATIC_FILE
        return re.sub(r"{(\w+)(?::\w+)?}", lambda m: PATH_VALUES.get(m.group(1), "1"), self.path)

    @property
    def is_form(self) -> bool:
        """A dashboard form post (CSRF token in the body), as opposed to an API call."""
        return self.method in {"POST", "PUT", "PATCH", "DELETE"} and not self.path.startswith("/api/")


def routes_of(app: FastAPI) -> Iterator[Route]:
    """Every (method, path) the application answers, plugins' routers included."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, Mount):
            yield Route("GET", context.path)
            continue
        for method in sorted(context.methods or ()):
            if method != "HEAD":
                yield Route(method, context.path)


# -- the callers -------------------------------------------------------------------------------------


@dataclass
class Caller:
    name: str
    client: TestClient
    headers: dict[str, str]

    def csrf(self) -> str:
        # a token's client gets one from the login page (without its token), so a refusal of a form it
        # posts is about the token, not a missing CSRF token
        page = "/account/password" if self.name in PEOPLE else "/login"
        return csrf_of(self.client.get(page).text)

    def logged_in(self) -> bool:
        return self.client.get("/api/v1/me", headers=self.headers).status_code == 200


@pytest.fixture
def callers(app: FastAPI, engine: Engine, settings: Settings) -> dict[str, Caller]:
    people = {role.value: add_user(engine, settings, role) for role in PlatformRole if role is not PlatformRole.API}
    made: dict[str, Caller] = {ANONYMOUS: Caller(ANONYMOUS, TestClient(app), {})}
    for name, user in people.items():
        client = TestClient(app)
        assert log_in(client, user).status_code == 303, name
        made[name] = Caller(name, client, {})
    with engine.begin() as conn:
        for name, scopes, owner in (
            (API_TOKEN, tokens.SCOPES, None),
            (API_TOKEN_NO_SCOPES, (), None),
            (OFFICER_TOKEN, tokens.SCOPES, people[OFFICER].username),
        ):
            token = tokens.create_token(
                conn,
                settings.municipality_code,
                re.sub(r"\W+", "-", name).strip("-"),
                scopes=scopes,
                owner=owner,
                actor="test",
            ).token
            made[name] = Caller(name, TestClient(app), {"Authorization": f"Bearer {token}"})
    return made


def call(caller: Caller, route: Route) -> int:
    """Call ``route`` as ``caller``: a form carries the caller's CSRF token, so what is measured is
    who may call, not whether the form was filled in; an API call sends an empty body."""
    kwargs: dict[str, object] = {"headers": caller.headers, "follow_redirects": False}
    if route.is_form:
        kwargs["data"] = {"csrf": caller.csrf()}
    return caller.client.request(route.method, route.url(), **kwargs).status_code  # type: ignore[arg-type]


# -- the tests ---------------------------------------------------------------------------------------


def test_every_route_is_in_the_table(app: FastAPI):
    found = {(r.method, r.path) for r in routes_of(app)}
    missing = sorted(found - EXPECTED.keys())
    assert not missing, f"routes nobody decided about (add them to EXPECTED with who may call them): {missing}"
    gone = sorted(EXPECTED.keys() - found)
    assert not gone, f"routes in the table that the application no longer has: {gone}"


def test_every_route_answers_every_caller_as_the_table_says(app: FastAPI, callers: dict[str, Caller]):
    # logging out ends the caller's session, so it goes last
    ordered = sorted(routes_of(app), key=lambda r: r.path == "/logout")
    wrong = []
    for route in ordered:
        allowed = EXPECTED.get((route.method, route.path))
        if allowed is None:
            continue  # reported by test_every_route_is_in_the_table
        for name, caller in callers.items():
            status = call(caller, route)
            refused = status in (401, 403)
            if refused == (name in allowed):
                wrong.append(f"{route.method} {route.path} as {name}: {status}")
            if name in PEOPLE and route.path != "/logout":
                assert caller.logged_in(), f"{route.method} {route.path} ended the session of {name}"
    assert not wrong, "answers that differ from the table:\n" + "\n".join(wrong)


def test_the_push_route_admits_its_source_s_token(app: FastAPI, engine: Engine, settings: Settings):
    with engine.begin() as conn:
        issued = push_service.add_source(conn, settings.municipality_code, "welfare-push", "demo-welfare", actor="test")
    response = TestClient(app).post(
        "/api/v1/ingest/welfare-push", content=b"", headers={"Authorization": f"Bearer {issued.token}"}
    )
    assert response.status_code == 200, response.text


def test_every_form_refuses_a_post_without_the_csrf_token(app: FastAPI, callers: dict[str, Caller]):
    forms = [r for r in routes_of(app) if r.is_form]
    assert {r.path for r in forms} >= {"/login", "/login/totp", "/logout", "/account/password"}
    for route in forms:
        for name in (ANONYMOUS, OFFICER):
            caller = callers[name]
            status = caller.client.request(route.method, route.url(), data={}, follow_redirects=False).status_code
            assert status == 403, f"{route.method} {route.path} without a CSRF token as {name}: {status}"
            forged = caller.client.request(
                route.method, route.url(), data={"csrf": "forged"}, follow_redirects=False
            ).status_code
            assert forged == 403, f"{route.method} {route.path} with a forged CSRF token as {name}: {forged}"
    assert callers[OFFICER].logged_in()
