"""In-process sliding-window rate limits for the login, second-factor and API-token checks.

The lockout (5 failures → 15 minutes) protects one account; these limits protect the service and
every account at once: a client address, or a username, gets a fixed number of attempts in any
window of ``AUDITD_LOGIN_RATE_WINDOW_SECONDS`` and then ``429 Too Many Requests`` with
``Retry-After``. A sliding log (the instants of the attempts still in the window) has no edge at
which a burst of twice the limit gets through, as fixed windows do.

State is per process, which is what ``auditd serve`` runs; several workers behind a balancer each
keep their own count (so the effective limit is multiplied by the workers). Memory is bounded: at
most ``max_keys`` keys are kept, the least recently seen dropped first.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from auditd.auth.settings import SecuritySettings
from auditd.errors import AuditdError


class TooManyRequests(AuditdError):
    """Too many attempts from one client or at one account: wait ``Retry-After`` seconds."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


@dataclass(frozen=True)
class Verdict:
    """``allowed``, or refused for ``retry_after`` seconds because of ``key``. ``first_refusal`` is true
    for the first refusal of a key in a window: the moment worth recording, not every hammered request."""

    allowed: bool
    retry_after: int = 0
    key: str | None = None
    first_refusal: bool = False


class SlidingWindow:
    """Attempts per key in the last ``window`` seconds, at most ``limit``."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._refused: dict[str, float] = {}  # key → when its current refusal began

    def _current(self, key: str, now: float) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            hits = deque()
            self._hits[key] = hits
            while len(self._hits) > self._max_keys:
                old, _ = self._hits.popitem(last=False)
                self._refused.pop(old, None)
        else:
            self._hits.move_to_end(key)
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if not hits:
            self._refused.pop(key, None)
        return hits

    def check(self, key: str, now: float) -> Verdict:
        """Whether one more attempt of ``key`` fits (without counting it). Call under the owner's lock."""
        hits = self._current(key, now)
        if len(hits) < self.limit:
            return Verdict(True)
        retry_after = max(1, math.ceil(hits[0] + self.window - now))
        first = key not in self._refused
        self._refused.setdefault(key, now)
        return Verdict(False, retry_after, key, first)

    def add(self, key: str, now: float) -> None:
        self._current(key, now).append(now)


class RateLimiter:
    """Several sliding windows checked together: an attempt counts only if every window admits it, so
    a refused attempt does not push its client further into the future."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()

    def hit(self, checks: Sequence[tuple[SlidingWindow, str]]) -> Verdict:
        """Count one attempt against every (window, key) pair, unless one of them refuses it."""
        with self._lock:
            now = self._clock()
            for window, key in checks:
                verdict = window.check(key, now)
                if not verdict.allowed:
                    return verdict
            for window, key in checks:
                window.add(key, now)
            return Verdict(True)

    def peek(self, window: SlidingWindow, key: str) -> Verdict:
        """Whether ``key`` is refused now, without counting anything."""
        with self._lock:
            return window.check(key, self._clock())

    def add(self, window: SlidingWindow, key: str) -> Verdict:
        """Count one event (a failure) and say whether the key is refused from now on."""
        with self._lock:
            now = self._clock()
            window.add(key, now)
            return window.check(key, now)


class SecurityLimits:
    """The application's limits: login and second-factor attempts per client address and per
    username, and refused API tokens per client address."""

    def __init__(self, security: SecuritySettings, clock: Callable[[], float] = time.monotonic) -> None:
        window = float(security.login_rate_window_seconds)
        self.limiter = RateLimiter(clock)
        self.login_per_ip = SlidingWindow(security.login_rate_per_ip, window, clock=clock)
        self.login_per_user = SlidingWindow(security.login_rate_per_user, window, clock=clock)
        self.token_failures_per_ip = SlidingWindow(security.token_failures_per_ip, window, clock=clock)

    def login_attempt(self, client: str | None, username: str) -> Verdict:
        """Count a login or second-factor attempt of ``username`` from ``client``."""
        return self.limiter.hit(
            [
                (self.login_per_ip, f"ip:{client or '?'}"),
                (self.login_per_user, f"user:{username.strip().casefold()[:64]}"),
            ]
        )

    def token_refused_recently(self, client: str | None) -> Verdict:
        return self.limiter.peek(self.token_failures_per_ip, f"ip:{client or '?'}")

    def token_refused(self, client: str | None) -> Verdict:
        return self.limiter.add(self.token_failures_per_ip, f"ip:{client or '?'}")


def get_limits(request: Request) -> SecurityLimits:
    limits: SecurityLimits = request.app.state.security_limits
    return limits


LimitsDep = Annotated[SecurityLimits, Depends(get_limits)]


def refusal_message(verdict: Verdict, language: str = "ja") -> str:
    minutes = max(1, math.ceil(verdict.retry_after / 60))
    if language == "en":
        return f"Too many attempts. Try again in {minutes} minute(s)."
    return f"試行回数が多すぎます。{minutes}分後に再度お試しください。"
