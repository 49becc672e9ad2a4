"""Fixtures of the browser tests: Playwright driving Debian's Chromium (headless) against the real
application served on a loopback port, over the demo municipality, on each backend.

- ``browser``: one headless Chromium for the session. Missing Chromium or Playwright: the tests are
  skipped, except under ``CI=true`` where that is a failure (CI must never skip them silently).
- ``live_server``: the application on a store of its own per backend (ids ``[sqlite]``,
  ``[postgresql]``) holding the demo municipality and a user per role; ``.url``, ``.engine``,
  ``.settings``, ``.users``, ``.new_user(role)``, ``.variant(language="en")``.
- ``pages``: ``pages.new(role)`` opens a fresh context already logged in as ``"officer"``,
  ``"auditor"``, ``"section_head"`` or ``"admin"`` (``None``: nobody); ``officer_page``,
  ``auditor_page`` and ``section_head_page`` are the common cases.
- ``screenshots``: a folder of the test's own for screenshots kept on every run (the page tour's),
  under ``$AUDITD_BROWSER_ARTIFACTS/pages`` or ``browser-pages`` in pytest's temporary directory.

The store is shared by the tests of a backend: a test changing something picks what no other test reads
(its own case, its own user). On a failure, each open page's screenshot, HTML and console are saved
under ``$AUDITD_BROWSER_ARTIFACTS`` (default: ``browser-failures`` in pytest's temporary directory) and
the folder is named in the failure's report.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest
from browser_support import (
    ARTIFACTS_ENV,
    CHROMIUM_ENV,
    LiveServer,
    Pages,
    artifact_folder,
    find_chromium,
    font_config,
    in_ci,
    serving,
)

from auditd.settings import Settings
from auditd.store.db import make_engine

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PAGES_KEY = pytest.StashKey["Pages"]()
SAVED_KEY = pytest.StashKey[list[str]]()
SHOTS_KEY = pytest.StashKey[list[str]]()


def _unavailable(reason: str) -> NoReturn:
    if in_ci():
        pytest.fail(f"browser tests cannot run under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    executable = find_chromium()
    if executable is None:
        given = os.environ.get(CHROMIUM_ENV)
        _unavailable(
            f"{CHROMIUM_ENV}={given} is not an executable"
            if given
            else "no chromium on PATH (apt-get install chromium, or set AUDITD_CHROMIUM)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        try:
            fonts = font_config(tmp_path_factory.mktemp("fontconfig"))
            chromium = playwright.chromium.launch(
                executable_path=executable, headless=True, env={**os.environ, "FONTCONFIG_FILE": str(fonts)}
            )
        except Exception as exc:
            _unavailable(f"{executable} does not start under Playwright: {exc}")
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def live_server(template: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``template``: the migrated database of one backend (``tests/conftest.py``); a copy is the store."""
    folder = tmp_path_factory.mktemp(f"browser-{template.backend}")
    url = template.new_database()
    engine = make_engine(url)
    settings = Settings(env="test", data_dir=folder / "data", database_url=url)
    try:
        with serving(settings, engine, template.backend) as live:
            yield live
    finally:
        engine.dispose()
        template.drop(url)


@pytest.fixture
def pages(
    browser: Browser, live_server: LiveServer, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pages]:
    opened = Pages(browser, live_server)
    given = os.environ.get(ARTIFACTS_ENV)
    opened.artifact_root = Path(given) if given else tmp_path_factory.getbasetemp() / "browser-failures"
    request.node.stash[PAGES_KEY] = opened
    yield opened
    opened.close()


@pytest.fixture
def screenshots(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of the test's own for the screenshots it keeps on every run (not only on a failure):
    under ``$AUDITD_BROWSER_ARTIFACTS/pages`` when set, else ``browser-pages`` in pytest's temporary
    directory; named in the run's summary."""
    given = os.environ.get(ARTIFACTS_ENV)
    root = Path(given) / "pages" if given else tmp_path_factory.getbasetemp() / "browser-pages"
    folder = artifact_folder(root, request.node.nodeid)
    folder.mkdir(parents=True, exist_ok=True)
    request.config.stash.setdefault(SHOTS_KEY, []).append(f"{request.node.nodeid}: {folder}")
    return folder


@pytest.fixture
def officer_page(pages: Pages) -> Page:
    return pages.new("officer")


@pytest.fixture
def auditor_page(pages: Pages) -> Page:
    return pages.new("auditor")


@pytest.fixture
def section_head_page(pages: Pages) -> Page:
    return pages.new("section_head")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    """On a failure, while the pages are still open: save what each page shows, and say where."""
    report = yield
    opened = item.stash.get(PAGES_KEY, None)
    if report.failed and report.when in ("setup", "call") and opened is not None and opened.open_pages():
        folder = artifact_folder(opened.artifact_root, item.nodeid)
        saved = opened.save_artifacts(folder)
        lines = [f"screenshots, HTML and console of the open pages: {folder}", *(f"  {p.name}" for p in saved)]
        report.sections.append(("browser pages at the failure", "\n".join(lines)))
        item.config.stash.setdefault(SAVED_KEY, []).append(f"{item.nodeid}: {folder}")
    return report


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    shots = config.stash.get(SHOTS_KEY, [])
    if shots:
        terminalreporter.section("browser tests: page screenshots")
        for line in shots:
            terminalreporter.write_line(line)
    saved = config.stash.get(SAVED_KEY, [])
    if saved:
        terminalreporter.section("browser tests: pages saved at the failures")
        for line in saved:
            terminalreporter.write_line(line)
