"""What the browser tests are made of: the real application served over HTTP on a loopback port, a store
holding the demo municipality, users of each role, and logging in through the real forms in Chromium.

The fixtures in ``conftest.py`` of this folder wrap these; a test of a new page needs only those:

    def test_the_trail_page(pages: Pages, live_server: LiveServer) -> None:
        page = pages.new("auditor")          # a fresh context, already logged in as the auditor
        page.goto("/trail")                  # relative to the live server
        expect(page.locator("h1")).to_contain_text("証跡")
        assert live_server.scalar("SELECT count(*) FROM trail WHERE actor = 'b-auditor'") > 0
"""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from rich.console import Console
from sqlalchemy import Engine, text

from auditd.api.app import create_app
from auditd.auth.models import PlatformRole
from auditd.auth.settings import SecuritySettings
from auditd.auth.testing import TestUser, add_user
from auditd.demo.runner import run_demo
from auditd.demo.world import CityConfig
from auditd.settings import Settings

try:
    from playwright.sync_api import expect as expect
except ImportError:  # the ``browser`` fixture then skips the tests (fails them under CI=true), saying why
    expect = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

# The demo municipality the browser tests run on: small enough to build in a few seconds on each backend,
# big enough that every detector fires and the pages have something to show (about 6,600 events over one
# week of January 2026, ~50 alerts in ~30 cases, residents, grants, staff).
DEMO_CONFIG = CityConfig(residents=1500, days=7, seed=7)
DEMO_MONTH = "2026-01"

# The users every test may log in as (``pages.new(role)``); tests that change a user (logout moves the
# session epoch on, a wrong code counts towards the lockout) make their own with ``live_server.new_user``.
ROLE_USERS = {
    "officer": (PlatformRole.OFFICER, "b-officer", None),
    "auditor": (PlatformRole.AUDITOR, "b-auditor", None),
    "section_head": (PlatformRole.SECTION_HEAD, "b-head-1101", "1101"),
    "admin": (PlatformRole.ADMIN, "b-admin", None),
}

CHROMIUM_ENV = "AUDITD_CHROMIUM"
ARTIFACTS_ENV = "AUDITD_BROWSER_ARTIFACTS"


def find_chromium() -> str | None:
    """The Chromium to drive: ``$AUDITD_CHROMIUM`` if set (it must exist), else ``chromium`` on PATH
    (Debian's package). Playwright's own browser downloads are never used."""
    given = os.environ.get(CHROMIUM_ENV)
    if given:
        return given if Path(given).is_file() and os.access(given, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def font_config(folder: Path) -> Path:
    """A fontconfig file adding the font auditd ships (IPAex Gothic) to the system's, so that Japanese
    is drawn in the screenshots even where no CJK font is installed."""
    import auditd.fonts

    folder.mkdir(parents=True, exist_ok=True)
    fonts = Path(auditd.fonts.__file__).resolve().parent
    path = folder / "fonts.conf"
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n<fontconfig>\n'
        '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n'
        f"  <dir>{fonts}</dir>\n  <cachedir>{folder / 'cache'}</cachedir>\n</fontconfig>\n",
        encoding="utf-8",
    )
    return path


def in_ci() -> bool:
    """Under CI (``CI=true``, as CI services set it) a browser test that cannot run is a failure."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def lenient_security() -> SecuritySettings:
    """Login limits no test reaches (every test logs in from 127.0.0.1), and no idle timeout within a run:
    the pages of every test reuse the cookies of one login per role."""
    return SecuritySettings(
        _env_file=None, login_rate_per_ip=10_000, login_rate_per_user=10_000, session_idle_minutes=24 * 60
    )


def build_demo_store(settings: Settings, engine: Engine) -> None:
    """Generate the demo municipality and run the real pipeline (collect, decide, detect, triage) on it."""
    run_demo(settings, engine, DEMO_CONFIG, Console(file=io.StringIO(), width=120))


class ServerThread:
    """The real application served by uvicorn in a background thread on a free loopback port."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.app = create_app(settings, engine, security=lenient_security())
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=f"uvicorn-{self.port}", daemon=True
        )

    def start(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the test server on {self.url} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


@dataclass
class LiveServer:
    """The application on one backend's store, with the demo municipality and a user per role.

    ``url``: where the browser goes; ``engine`` and ``settings``: the same store, for the tests' own
    checks; ``users``: the shared users by role name (see ``ROLE_USERS``)."""

    url: str
    engine: Engine
    settings: Settings
    backend: str
    users: dict[str, TestUser]
    _servers: list[ServerThread] = field(default_factory=list)
    _variants: dict[tuple[tuple[str, Any], ...], LiveServer] = field(default_factory=dict)
    _states: dict[str, Any] = field(default_factory=dict)
    _made: int = 0

    def new_user(self, role: PlatformRole | str, *, section_code: str | None = None) -> TestUser:
        """A user of its own for a test that changes it (logs it out, types a wrong code, …)."""
        role = role if isinstance(role, PlatformRole) else ROLE_USERS[role][0]
        self._made += 1
        name = f"b-{role.value}-{self._made}"
        return add_user(self.engine, self.settings, role, name, section_code=section_code)

    def variant(self, **changes: Any) -> LiveServer:
        """The same store served with other settings (``variant(language="en")``), started once per session."""
        key = tuple(sorted(changes.items()))
        if key not in self._variants:
            server = ServerThread(self.settings.model_copy(update=changes), self.engine).start()
            self._servers.append(server)
            self._variants[key] = LiveServer(
                server.url, self.engine, server.app.state.settings, self.backend, self.users, self._servers
            )
        return self._variants[key]

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def stop(self) -> None:
        for server in self._servers:
            server.stop()


@contextmanager
def serving(settings: Settings, engine: Engine, backend: str) -> Iterator[LiveServer]:
    """Build the demo store, make the users, serve the application; stop it afterwards."""
    build_demo_store(settings, engine)
    users = {
        name: add_user(engine, settings, role, username, section_code=section)
        for name, (role, username, section) in ROLE_USERS.items()
    }
    server = ServerThread(settings, engine).start()
    live = LiveServer(server.url, engine, settings, backend, users, [server])
    try:
        yield live
    finally:
        live.stop()


# -- in the browser ------------------------------------------------------------------------------------


def log_in(page: Page, base_url: str, user: TestUser, *, next_path: str = "/", code: str | None = None) -> None:
    """Log ``user`` in through the login form and, when due, the TOTP form (typing ``code``, or the
    user's next valid code). Leaves the page where the login lands; asserts nothing about it."""
    page.goto(f"{base_url}/login?next={next_path}")
    form = page.locator('form[action="/login"]')
    form.locator('input[name="username"]').fill(user.username)
    form.locator('input[name="password"]').fill(user.password)
    with page.expect_navigation():
        form.locator('button[type="submit"]').click()
    if re.search(r"/login/totp$", page.url):
        submit_code(page, code if code is not None else user.next_code())


def submit_code(page: Page, code: str) -> None:
    """Type a code into the TOTP form and send it."""
    form = page.locator('form[action="/login/totp"]')
    form.locator('input[name="code"]').press_sequentially(code)
    with page.expect_navigation():
        form.locator('button[type="submit"]').click()


def storage_state_of(browser: Browser, live: LiveServer, role: str) -> Any:
    """The cookies of ``role``'s user logged in once through the real forms (kept per server), so each
    test starts a fresh context already logged in without typing a TOTP code again."""
    key = f"{live.url}|{role}"
    if key not in live._states:
        context = browser.new_context()
        try:
            page = context.new_page()
            log_in(page, live.url, live.users[role])
            if "/login" in page.url:
                raise AssertionError(f"{live.users[role].username} could not log in: {page.url}")
            live._states[key] = context.storage_state()
        finally:
            context.close()
    return live._states[key]


@dataclass
class Pages:
    """The browser contexts of one test: ``new(role)`` opens a page already logged in as ``role``
    (``None``: logged in as nobody). Everything is closed after the test; on a failure each open page's
    screenshot, HTML and console messages are saved first (see ``conftest.py``)."""

    browser: Browser
    live: LiveServer
    contexts: list[BrowserContext] = field(default_factory=list)
    console: dict[int, list[str]] = field(default_factory=dict)
    artifact_root: Path = Path("browser-failures")

    def new(self, role: str | None = None, *, live: LiveServer | None = None, **context_options: Any) -> Page:
        server = live or self.live
        options: dict[str, Any] = {"accept_downloads": True, "base_url": server.url, **context_options}
        if role is not None:
            options["storage_state"] = storage_state_of(self.browser, server, role)
        context = self.browser.new_context(**options)
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        page = context.new_page()
        self.watch(page)
        return page

    def watch(self, page: Page) -> None:
        """Keep the page's console messages and uncaught errors (a CSP violation is one)."""
        lines = self.console.setdefault(id(page), [])
        page.on("console", lambda m: lines.append(f"console.{m.type}: {m.text}"))
        page.on("pageerror", lambda e: lines.append(f"pageerror: {e}"))

    def errors(self, page: Page) -> list[str]:
        return [line for line in self.console.get(id(page), []) if line.startswith(("console.error", "pageerror"))]

    def open_pages(self) -> list[Page]:
        return [page for context in self.contexts for page in context.pages if not page.is_closed()]

    def save_artifacts(self, folder: Path) -> list[Path]:
        """Screenshot (full page), HTML and console of every open page into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        saved: list[Path] = []
        for n, page in enumerate(self.open_pages(), start=1):
            stem = folder / f"page{n}"
            try:
                page.screenshot(path=str(stem.with_suffix(".png")), full_page=True, timeout=5_000)
                saved.append(stem.with_suffix(".png"))
            except Exception as exc:  # a failed screenshot must not hide the failure
                (folder / f"page{n}.screenshot-error.txt").write_text(str(exc), encoding="utf-8")
            try:
                stem.with_suffix(".html").write_text(page.content(), encoding="utf-8")
                saved.append(stem.with_suffix(".html"))
            except Exception as exc:
                (folder / f"page{n}.html-error.txt").write_text(str(exc), encoding="utf-8")
            log = [f"url: {page.url}", *self.console.get(id(page), [])]
            stem.with_suffix(".console.txt").write_text("\n".join(log) + "\n", encoding="utf-8")
            saved.append(stem.with_suffix(".console.txt"))
        return saved

    def close(self) -> None:
        for context in self.contexts:
            with suppress(Exception):  # the browser may be gone already
                context.close()
        self.contexts.clear()


def artifact_folder(root: Path, nodeid: str) -> Path:
    """A folder name for a test's failure artifacts: its node id with the odd characters replaced."""
    return root / re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:150]


def pdf_text(content: bytes) -> str:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(content)
    try:
        return "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    finally:
        document.close()


def case_row(live: LiveServer, case_id: int) -> Any:
    """The case's row in the store (``status``, ``assignee``, ``disposition``, ``disposition_reason`` …)."""
    rows = live.rows("SELECT * FROM alert_cases WHERE id = :id", id=case_id)
    assert len(rows) == 1, f"no case #{case_id}"
    return rows[0]


# -- what a page loads, and its picture ------------------------------------------------------------------

#: The hosts a dashboard page may load anything from: the live server's loopback address only (no CDN,
#: no web font, no analytics: the dashboard runs on a closed network).
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})


@dataclass
class Traffic:
    """Every request a browser context made (``watch_traffic``): the URLs, those leaving the loopback
    host (refused before they leave), the answers of 400 and more, and the requests that failed."""

    urls: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    bad_answers: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.urls.clear()
        self.outside.clear()
        self.bad_answers.clear()
        self.failed.clear()


def is_local(url: str) -> bool:
    """A URL the page may load: on the loopback host, or inline (``data:``, ``blob:``, ``about:blank``)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.scheme in ("http", "https", "ws", "wss") and parts.hostname in LOCAL_HOSTS


def watch_traffic(context: BrowserContext) -> Traffic:
    """Record every request of ``context``; one to another host is recorded and aborted (so that a test
    fails on it instead of waiting for a network the test machine may not have)."""
    traffic = Traffic()

    def route(route: Any) -> None:
        url = route.request.url
        if is_local(url):
            route.continue_()
        else:
            traffic.outside.append(url)
            route.abort()

    context.route("**/*", route)
    context.on("request", lambda r: traffic.urls.append(r.url))
    context.on("response", lambda r: traffic.bad_answers.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    context.on("requestfailed", lambda r: traffic.failed.append(f"{r.url}: {r.failure}") if is_local(r.url) else None)
    return traffic


def shot_name(path: str) -> str:
    """A file name for a screenshot of the page at ``path`` ("/cases/12" → "cases-12")."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", path.split("#", 1)[0]).strip("-")
    return name or "overview"


def save_screenshot(page: Page, folder: Path, name: str) -> Path:
    """A full-page screenshot of ``page`` as ``folder/name.png`` (kept as a test artefact)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, timeout=15_000)
    return path
