"""The request's database session is committed before the answer leaves: a browser sent on by a 303
reads what the route wrote, and a client told 200 was told the truth. Driven at the ASGI level, where
the order of the commit and of the answer's first message can be seen."""

from __future__ import annotations

import asyncio
import threading
from typing import Any
from urllib.parse import urlencode

from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from auditd.api.app import create_app
from auditd.auth.models import PlatformRole
from auditd.auth.testing import add_user, csrf_of, log_in
from auditd.settings import Settings

#: What happened, in order: commits of the store and the first message of each answer.
ORDER: list[str] = []


def call(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    """One request through the application's ASGI interface; the status it answered."""
    status: list[int] = []
    inbox = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return inbox.pop(0) if inbox else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
            ORDER.append(f"answer {message['status']}")

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }  # fmt: skip
    failed: list[BaseException] = []

    def serve() -> None:  # a loop of its own, on a thread of its own: the test's thread may have one running
        try:
            asyncio.run(app(scope, receive, send))
        except BaseException as exc:  # handed to the test
            failed.append(exc)

    worker = threading.Thread(target=serve)
    worker.start()
    worker.join(60)
    assert not worker.is_alive() and failed == [], failed
    return status[0]


def test_a_route_s_writes_are_committed_before_its_answer_is_sent(engine: Engine, settings: Settings) -> None:
    app = create_app(settings, engine)
    client = TestClient(app)
    assert log_in(client, add_user(engine, settings, PlatformRole.OFFICER, "sato")).status_code == 303
    csrf = csrf_of(client.get("/").text)
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    headers = [
        (b"host", b"testserver"),
        (b"cookie", cookie.encode()),
        (b"content-type", b"application/x-www-form-urlencoded"),
    ]

    def committed(_connection: Any) -> None:
        ORDER.append("commit")

    ORDER.clear()
    event.listen(engine, "commit", committed)
    try:
        status = call(app, "POST", "/logout", headers, urlencode({"csrf": csrf}).encode())
    finally:
        event.remove(engine, "commit", committed)
    assert status == 303
    # the logout is recorded (the trail, the session epoch) and committed, then the answer goes
    assert "commit" in ORDER and ORDER.index("commit") < ORDER.index("answer 303"), ORDER
