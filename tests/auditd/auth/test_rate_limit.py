"""Rate limits on the login and second-factor steps (per client address and per username), and on
refused API tokens: 429 with Retry-After, recorded in the trail once per refusal."""

from __future__ import annotations

from auth_support import MakeClient, actions, trail
from sqlalchemy import Engine

from auditd.api.ratelimit import RateLimiter, SlidingWindow
from auditd.auth.testing import TestUser, csrf_of


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def attempt(client, username: str, password: str = "wrong password!"):  # type: ignore[no-untyped-def]
    csrf = csrf_of(client.get("/login").text)
    return client.post(
        "/login", data={"csrf": csrf, "username": username, "password": password}, follow_redirects=False
    )


def test_a_sliding_window_admits_the_limit_then_refuses_until_the_oldest_attempt_leaves_it():
    clock = FakeClock()
    window = SlidingWindow(3, 60, clock=clock)
    limiter = RateLimiter(clock)
    for second in (0, 10, 20):
        clock.now = 1000 + second
        assert limiter.hit([(window, "k")]).allowed
    clock.now = 1030
    refused = limiter.hit([(window, "k")])
    assert not refused.allowed and refused.retry_after == 30 and refused.first_refusal
    assert not limiter.hit([(window, "k")]).first_refusal  # recorded once, not per request
    clock.now = 1060.5  # the first attempt has left the window: one more fits, no burst of three
    assert limiter.hit([(window, "k")]).allowed
    assert not limiter.hit([(window, "k")]).allowed
    assert limiter.hit([(window, "other")]).allowed


def test_a_refused_attempt_is_not_counted_in_the_other_windows():
    clock = FakeClock()
    per_ip, per_user = SlidingWindow(2, 60, clock=clock), SlidingWindow(100, 60, clock=clock)
    limiter = RateLimiter(clock)
    for _ in range(5):
        limiter.hit([(per_ip, "ip"), (per_user, "u")])
    assert limiter.peek(per_user, "u").allowed and len(per_user._hits["u"]) == 2


def test_the_number_of_keys_kept_is_bounded():
    window = SlidingWindow(1, 60, clock=FakeClock(), max_keys=100)
    limiter = RateLimiter(FakeClock())
    for n in range(1000):
        limiter.hit([(window, f"user{n}")])
    assert len(window._hits) == 100


def test_login_attempts_on_one_username_are_limited(make_client: MakeClient, officer: TestUser, engine: Engine):
    client = make_client(login_rate_per_user=3, login_rate_window_seconds=600)
    for _ in range(3):
        assert attempt(client, "sato").status_code == 401
    for _ in range(3):
        refused = attempt(client, "sato", officer.password)  # even the right password waits
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 500
        assert "試行回数が多すぎます" in refused.text
    limited = [e for e in trail(engine) if e["action"] == "login_rate_limited"]
    assert len(limited) == 1 and limited[0]["detail"]["by"] == "user" and limited[0]["client"] == "testclient"
    assert attempt(client, "someone-else").status_code == 401  # other accounts are not affected


def test_login_attempts_from_one_address_are_limited(make_client: MakeClient, engine: Engine):
    client = make_client(login_rate_per_ip=4, login_rate_per_user=100)
    statuses = [attempt(client, f"user{n}").status_code for n in range(6)]
    assert statuses == [401, 401, 401, 401, 429, 429]
    assert [e["detail"]["by"] for e in trail(engine) if e["action"] == "login_rate_limited"] == ["ip"]


def test_second_factor_attempts_are_limited_too(make_client: MakeClient, officer: TestUser, engine: Engine):
    client = make_client(login_rate_per_user=3)
    csrf = csrf_of(client.get("/login").text)
    client.post("/login", data={"csrf": csrf, "username": "sato", "password": officer.password})
    statuses = []
    for _ in range(3):
        page = client.get("/login/totp")
        statuses.append(client.post("/login/totp", data={"csrf": csrf_of(page.text), "code": "000000"}).status_code)
    assert statuses[-1] == 429
    assert [e["detail"]["step"] for e in trail(engine) if e["action"] == "login_rate_limited"] == ["totp"]


def test_an_address_that_keeps_presenting_bad_tokens_is_slowed_down(make_client: MakeClient, engine: Engine):
    client = make_client(token_failures_per_ip=3)
    bad = {"Authorization": "Bearer aut_not-a-real-token"}
    assert [client.get("/api/v1/me", headers=bad).status_code for _ in range(5)] == [401, 401, 401, 429, 429]
    response = client.get("/api/v1/me", headers=bad)
    assert response.json()["error"] == "too_many_requests" and int(response.headers["retry-after"]) >= 1
    assert actions(engine).count("token_refused") == 3 and actions(engine).count("token_rate_limited") == 1
