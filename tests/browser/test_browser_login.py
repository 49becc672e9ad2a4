"""Logging in with a real browser: the password form, the TOTP form (a wrong code, then the right one),
the overview it lands on, logging out; and the same pages in English when that is the setting."""

from __future__ import annotations

import re

import pyotp
from browser_support import LiveServer, Pages, expect, log_in

from auditd.auth import totp
from auditd.auth.models import PlatformRole


def trail_of(live: LiveServer, actor: str) -> list[str]:
    return [row.action for row in live.rows("SELECT action FROM trail WHERE actor = :a ORDER BY id", a=actor)]


def a_wrong_code(secret: str) -> str:
    """Six digits that are not a valid code now (nor in the drift window around now)."""
    now = totp.current_step()
    valid = {pyotp.TOTP(secret).generate_otp(step) for step in range(now - 2, now + 3)}
    return next(code for code in ("000000", "111111", "222222", "333333", "444444", "555555") if code not in valid)


def test_password_then_code_lands_on_the_overview_and_logout_ends_the_session(
    pages: Pages, live_server: LiveServer
) -> None:
    user = live_server.new_user(PlatformRole.OFFICER)
    assert user.totp_secret is not None
    page = pages.new()

    page.goto("/")  # not logged in: sent to the login form, which will bring the user back here
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    expect(page.locator("h1")).to_have_text("ログイン")
    expect(page.locator("nav.mainnav")).to_have_count(0)

    page.locator('input[name="username"]').fill(user.username)
    page.locator('input[name="password"]').fill("not the password")
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("alert")).to_have_text("ユーザー名またはパスワードが違います。")
    expect(page.locator('input[name="username"]')).to_have_value(user.username)  # kept for the next try

    page.locator('input[name="password"]').fill(user.password)
    page.get_by_role("button", name="ログイン").click()
    expect(page).to_have_url(re.compile(r"/login/totp$"))
    expect(page.locator("h1")).to_have_text("二要素認証")

    page.get_by_label("確認コード").fill(a_wrong_code(user.totp_secret))
    page.get_by_role("button", name="確認").click()
    expect(page.get_by_role("alert")).to_contain_text("確認コードが違います")
    expect(page).to_have_url(re.compile(r"/login/totp$"))

    page.get_by_label("確認コード").fill(user.next_code())
    page.get_by_role("button", name="確認").click()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator("h1")).to_contain_text("概要")
    expect(page.locator("header .who")).to_contain_text(user.username)
    expect(page.locator('nav.mainnav a[aria-current="page"]')).to_have_text("概要")
    actions = trail_of(live_server, user.username)
    assert [a for a in actions if a in ("login_failed", "totp_failed", "login")] == [
        "login_failed",
        "totp_failed",
        "login",
    ], actions

    page.get_by_role("button", name="ログアウト").click()
    expect(page).to_have_url(f"{live_server.url}/login")
    expect(page.locator("h1")).to_have_text("ログイン")
    page.goto("/cases")  # the session is over: every page asks for a login again
    expect(page).to_have_url(re.compile(r"/login\?next=/cases$"))
    assert trail_of(live_server, user.username)[-1] == "logout"


def test_a_login_keeps_the_page_asked_for(pages: Pages, live_server: LiveServer) -> None:
    user = live_server.new_user(PlatformRole.AUDITOR)  # no second factor for an auditor
    page = pages.new()
    page.goto("/cases")
    expect(page).to_have_url(re.compile(r"/login\?next=/cases$"))
    page.locator('input[name="username"]').fill(user.username)
    page.locator('input[name="password"]').fill(user.password)
    page.get_by_role("button", name="ログイン").click()
    expect(page).to_have_url(f"{live_server.url}/cases")
    expect(page.locator("h1")).to_have_text("事案一覧")


def test_the_login_and_the_overview_speak_english_as_a_setting(pages: Pages, live_server: LiveServer) -> None:
    english = live_server.variant(language="en")
    user = live_server.new_user(PlatformRole.OFFICER)
    page = pages.new(live=english)

    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Log in")
    expect(page.get_by_label("Username")).to_be_visible()
    expect(page.get_by_label("Password")).to_be_visible()
    assert "ログイン" not in page.locator("main").inner_text()

    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("h1")).to_have_text("Two-factor authentication")
    page.get_by_label("Code").fill(user.next_code())
    page.get_by_role("button", name="Verify").click()

    expect(page).to_have_url(f"{english.url}/")
    expect(page.locator("h1")).to_contain_text("Overview")
    main = page.locator("main")
    for label in ("Stored operation events", "Events per day", "By hour of day", "Cases to handle"):
        expect(main).to_contain_text(label)
    expect(page.get_by_role("link", name="Cases", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    for japanese in ("概要", "保存済み操作ログ", "日別の操作件数"):
        assert japanese not in page.content(), japanese


def test_the_helper_logs_each_role_in(pages: Pages, live_server: LiveServer) -> None:
    """The shared users log in through the real forms (the ``pages.new(role)`` fixture relies on it)."""
    for role, shown, hidden in (
        ("officer", {"概要", "事案", "レポート"}, set()),
        ("auditor", {"概要", "事案", "レポート"}, set()),
        ("section_head", {"概要", "事案"}, {"レポート"}),
        ("admin", {"概要"}, {"事案", "レポート"}),
    ):
        page = pages.new(role)
        page.goto("/")
        expect(page.locator("h1")).to_contain_text("概要")
        expect(page.locator("header .who")).to_contain_text(live_server.users[role].username)
        links = set(page.locator("nav.mainnav a").all_inner_texts())
        assert shown <= links and not hidden & links, (role, links)


def test_log_in_helper_types_the_code(pages: Pages, live_server: LiveServer) -> None:
    user = live_server.new_user(PlatformRole.OFFICER)
    page = pages.new()
    log_in(page, live_server.url, user, next_path="/cases")
    expect(page).to_have_url(f"{live_server.url}/cases")
