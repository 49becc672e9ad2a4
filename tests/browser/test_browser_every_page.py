"""A tour of every dashboard page in a real browser: for the officer, each page of the navigation and the
detail pages (a case, a staff account, a resident's history, the policy diff, the quarantine list)
answers 200 with its heading and its data, logs no console error or script error, and loads nothing
from outside the loopback host (no CDN, no web font); a full-page screenshot of each is kept on every
run. The other roles see their own navigation, open those pages, and are refused the others (403 or
404, never a server error)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from browser_support import LiveServer, Pages, Traffic, expect, save_screenshot, shot_name, watch_traffic

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Page

#: The navigation of each role (``base.html``), in its order.
NAV = {
    "officer": ["/", "/cases", "/reports", "/staff", "/rights", "/residents", "/trail", "/ingest", "/policy"],
    "auditor": ["/", "/cases", "/reports", "/staff", "/rights", "/trail", "/ingest", "/policy"],
    "section_head": ["/", "/cases", "/staff", "/rights", "/policy"],
    "admin": ["/", "/rights/accounts", "/ingest", "/policy"],
}
ALL_PAGES = [
    "/",
    "/cases",
    "/reports",
    "/staff",
    "/rights",
    "/rights/accounts",
    "/residents",
    "/trail",
    "/ingest",
    "/ingest/quarantine",
    "/policy",
]

#: Each page's main heading, and something of the demo's data (or the page's form) it must show.
HEADINGS = {
    "/": ("概要", "svg.chart rect.bar"),
    "/cases": ("事案一覧", "#cases tbody tr"),
    "/reports": ("レポート", "#make-monthly"),
    "/staff": ("職員", "#staff tbody tr"),
    "/rights": ("権限管理", "#grant-list tbody tr"),
    "/rights/accounts": ("操作者アカウント", "#accounts tbody tr"),
    "/residents": ("住民アクセス履歴", "#res-lookup"),
    "/trail": ("監査証跡", "#trail tbody tr"),
    "/ingest": ("取込", "#sources tbody tr"),
    "/ingest/quarantine": ("隔離された記録", "#quarantine-counts"),
    "/policy": ("アクセスポリシー", "#roles tbody tr"),
}
REFUSED_HEADING = "この操作はできませんでした"


@dataclass
class Visit:
    path: str
    status: int
    errors: list[str]
    outside: list[str]
    bad_answers: list[str]
    failed: list[str]


def visit(pages: Pages, page: Page, traffic: Traffic, path: str) -> Visit:
    """Open ``path`` and gather what went wrong on the way: console and script errors, requests
    leaving the loopback host, answers of 400 and more, failed requests."""
    seen = len(pages.console.get(id(page), []))
    traffic.clear()
    answer = page.goto(path)
    assert answer is not None, path
    page.wait_for_load_state("load")
    errors = [
        line for line in pages.console.get(id(page), [])[seen:] if line.startswith(("console.error", "pageerror"))
    ]
    return Visit(path, answer.status, errors, list(traffic.outside), list(traffic.bad_answers), list(traffic.failed))


def assert_clean(v: Visit) -> None:
    assert v.status == 200, f"{v.path}: {v.status}"
    assert v.errors == [], f"{v.path}: console or script errors {v.errors}"
    assert v.outside == [], f"{v.path}: requests leaving localhost {v.outside}"
    assert v.bad_answers == [], f"{v.path}: answers of 400 and more {v.bad_answers}"
    assert v.failed == [], f"{v.path}: failed requests {v.failed}"


def nav_links(page: Page) -> list[str]:
    return page.locator("nav.mainnav a").evaluate_all("links => links.map(a => a.getAttribute('href'))")


def check_styled(page: Page, path: str) -> None:
    """The stylesheet applies (an unstyled page has a white top bar in the default serif font)."""
    loaded = page.evaluate("() => [...document.styleSheets].filter(s => s.href && s.cssRules.length).length")
    assert loaded >= 1, f"{path}: no stylesheet applied"
    background = page.locator("header.topbar").evaluate("e => getComputedStyle(e).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)"), f"{path}: the top bar is unstyled"


def details(live: LiveServer) -> dict[str, tuple[str, str]]:
    """The detail pages of the tour, with their heading and the data they must show."""
    case_id = live.scalar("SELECT min(id) FROM alert_cases")
    account = live.scalar(
        "SELECT min(a.user_id) FROM accounts a JOIN staff_assignments s ON s.staff_id = a.staff_id "
        "AND s.municipality_code = a.municipality_code WHERE s.section_code = '1101'"
    )
    subject = live.scalar(
        "SELECT subject_hash FROM events WHERE subject_hash IS NOT NULL GROUP BY subject_hash "
        "ORDER BY count(*) DESC, subject_hash LIMIT 1"
    )
    version = live.scalar("SELECT max(id) FROM policy_versions")
    assert None not in (case_id, account, subject, version)
    return {
        f"/cases/{case_id}": (f"事案 #{case_id}", "#alerts article.alert-item"),
        f"/staff/{account}": (account, "#person dl"),
        f"/residents/{subject}": ("住民アクセス履歴", "#res-table tbody tr"),
        f"/policy/diff?a={version}&b={version}": ("ポリシーの版の差分", "#diff"),
        "/ingest/quarantine": HEADINGS["/ingest/quarantine"],
        "/rights/accounts": HEADINGS["/rights/accounts"],
        "/rights/ledger": ("権限管理表", "#export-form"),
        "/rights/contracts": ("委託契約と作業者", "#add-contract"),
        "/suppressions": ("抑制", "#suppressions"),
    }


def test_the_officer_opens_every_page_cleanly(pages: Pages, live_server: LiveServer, screenshots: Path) -> None:
    page = pages.new("officer")
    traffic = watch_traffic(page.context)
    page.goto("/")
    links = nav_links(page)
    assert links == NAV["officer"], links  # a new page in the navigation is added to the tour above
    tour = {path: HEADINGS[path] for path in links} | details(live_server)
    problems: list[str] = []
    for path, (heading, content) in tour.items():
        v = visit(pages, page, traffic, path)
        save_screenshot(page, screenshots, shot_name(path))
        try:
            assert_clean(v)
            expect(page.locator("main h1")).to_have_count(1)
            expect(page.locator("main h1")).to_contain_text(heading)
            expect(page.locator(content).first).to_be_visible()
            check_styled(page, path)
        except AssertionError as exc:  # go on with the tour: every broken page is named at once
            problems.append(f"{path}: {exc}")
    print(f"\nscreenshots of {len(tour)} pages: {screenshots}")
    assert problems == [], "\n".join(problems)
    assert traffic.urls, "no request was recorded"

    # the watch itself sees a request to another host (and stops it before it leaves): on a blank page,
    # as on the dashboard's the Content-Security-Policy stops it before it is even asked for
    traffic.clear()
    probe = page.context.new_page()
    probe.set_content('<link rel="stylesheet" href="https://fonts.example.invalid/css2?family=Noto+Sans+JP">')
    probe.close()
    assert traffic.outside == ["https://fonts.example.invalid/css2?family=Noto+Sans+JP"]


@pytest.mark.parametrize("role", ["auditor", "section_head", "admin"])
def test_each_role_sees_its_pages_and_is_refused_the_others(pages: Pages, live_server: LiveServer, role: str) -> None:
    page = pages.new(role)
    traffic = watch_traffic(page.context)
    page.goto("/")
    assert nav_links(page) == NAV[role]
    problems: list[str] = []
    for path in ALL_PAGES:
        v = visit(pages, page, traffic, path)
        try:
            if path in NAV[role] or (path == "/ingest/quarantine" and "/ingest" in NAV[role]):
                assert_clean(v)
                expect(page.locator("main h1")).to_contain_text(HEADINGS[path][0])
                expect(page.locator(HEADINGS[path][1]).first).to_be_visible()
            else:
                assert v.status == 403, f"{path}: {v.status} (refused expected)"
                expect(page.locator("main h1")).to_contain_text(REFUSED_HEADING)
                assert v.outside == [] and v.failed == [], (v.outside, v.failed)
                # the browser logs the refused document itself; nothing else may fail
                assert [e for e in v.errors if "403" not in e] == [], v.errors
        except AssertionError as exc:
            problems.append(f"{path}: {exc}")
    assert problems == [], "\n".join(problems)

    # detail pages: a section head reads an account of their section only; the others are refused
    inside = live_server.scalar(
        "SELECT min(a.user_id) FROM accounts a JOIN staff_assignments s ON s.staff_id = a.staff_id "
        "AND s.municipality_code = a.municipality_code WHERE s.section_code = '1101'"
    )
    outside = live_server.scalar(
        "SELECT min(a.user_id) FROM accounts a JOIN staff_assignments s ON s.staff_id = a.staff_id "
        "AND s.municipality_code = a.municipality_code WHERE s.section_code = '2101'"
    )
    subject = live_server.scalar("SELECT min(subject_hash) FROM events WHERE subject_hash IS NOT NULL")
    expected = {
        "auditor": {f"/staff/{inside}": 200, f"/staff/{outside}": 200, f"/residents/{subject}": 403},
        "section_head": {f"/staff/{inside}": 200, f"/staff/{outside}": 404, f"/residents/{subject}": 403},
        "admin": {f"/staff/{inside}": 403, f"/residents/{subject}": 403},
    }[role]
    answers = {path: visit(pages, page, traffic, path).status for path in expected}
    assert answers == expected
