"""The case page's forms that were in the API only, in a real browser: an officer suppresses the pattern
of a case's alerts (the choices are the alerts' own values), finds it in the list of suppressions and
ends it; an officer closes a case as 不適切 and answers the breach checklist (the deadlines follow). The
store shows each step; a screenshot of each page is kept."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from browser_support import LiveServer, Pages, case_row, expect, save_screenshot

if TYPE_CHECKING:
    from pathlib import Path

REASON = "毎月の一括照会（総務課の定例作業）として確認済み。"


def own_case(live: LiveServer) -> int:
    """A new, unassigned case outside 1101 that no other browser test changes (the highest id)."""
    case_id = live.scalar(
        "SELECT max(id) FROM alert_cases WHERE status = 'new' AND assignee IS NULL AND section <> '1101' "
        "AND severity <> 'critical'"
    )
    assert case_id is not None, "the demo has no new case outside 1101"
    return int(case_id)


def test_an_officer_suppresses_a_case_s_pattern_and_ends_it(
    pages: Pages, live_server: LiveServer, screenshots: Path
) -> None:
    case_id = own_case(live_server)
    rule = live_server.scalar("SELECT min(rule) FROM alerts WHERE case_id = :c", c=case_id)
    page = pages.new("officer")
    page.goto(f"/cases/{case_id}")
    form = page.locator("#form-suppress")
    expect(form).to_be_visible()
    # the choices are the values of this case's alerts
    offered = form.locator('select[name="rule"] option').all_inner_texts()
    assert rule in offered and offered[0] == "指定しない"
    form.locator('select[name="rule"]').select_option(rule)
    until = date.today() + timedelta(days=90)
    form.locator('input[name="expires_on"]').fill(until.isoformat())
    form.locator('textarea[name="reason"]').fill(REASON)
    save_screenshot(page, screenshots, f"case-{case_id}-suppress-form")
    form.get_by_role("button", name="抑制する").click()

    expect(page).to_have_url(f"{live_server.url}/cases/{case_id}#suppress")
    expect(page.locator("#flash")).to_have_text("抑制を登録しました。")
    stored = live_server.rows(
        "SELECT id, rule, user_id, subject, section, expires_on FROM suppressions WHERE reason = :r", r=REASON
    )
    assert len(stored) == 1
    sid = stored[0].id
    assert stored[0].rule == rule and stored[0].user_id is None and stored[0].subject is None
    assert str(stored[0].expires_on)[:10] == until.isoformat()

    page.locator("#suppress").get_by_role("link", name="抑制の一覧").click()
    expect(page.locator("h1")).to_contain_text("抑制")
    row = page.locator(f"#sup-{sid}")
    expect(row).to_contain_text(REASON)
    expect(row).to_contain_text("有効")
    save_screenshot(page, screenshots, "suppressions")
    row.get_by_role("button", name="終了する").click()
    expect(page.locator("#flash")).to_have_text("抑制を終了しました。")
    expect(page.locator(f"#sup-{sid}")).to_contain_text("終了")
    expect(page.locator(f"#sup-{sid}").get_by_role("button")).to_have_count(0)
    assert live_server.scalar("SELECT revoked_at IS NOT NULL FROM suppressions WHERE id = :s", s=sid)
    assert pages.errors(page) == []


def test_an_officer_answers_the_breach_checklist(pages: Pages, live_server: LiveServer, screenshots: Path) -> None:
    case_id = own_case(live_server)
    page = pages.new("officer")
    page.goto(f"/cases/{case_id}")
    close = page.locator("#form-close")
    close.locator('select[name="disposition"]').select_option("inappropriate")
    close.locator('textarea[name="reason"]').fill("業務上の必要がない照会を確認した。")
    close.get_by_role("button").click()
    expect(page.locator("#breach")).to_be_visible()

    checklist = page.locator("#breach-checklist")
    checklist.locator("summary").click()
    form = page.locator("#form-breach")
    expect(form).to_be_visible()
    expect(form.locator('input[name="mynumber_system"]')).to_be_checked()  # as the checklist opened
    form.locator('input[name="mynumber_system"]').uncheck()
    form.locator('input[name="wrongful_purpose"]').check()
    discovered = date.today() - timedelta(days=2)
    form.locator('input[name="discovered_on"]').fill(discovered.isoformat())
    form.locator('textarea[name="note"]').fill("委託先にも照会の記録を確認中。")
    save_screenshot(page, screenshots, f"case-{case_id}-breach-form")
    form.get_by_role("button", name="回答を保存").click()

    expect(page).to_have_url(f"{live_server.url}/cases/{case_id}#breach")
    expect(page.locator("#flash")).to_contain_text("チェックリストを保存しました")
    final_due = discovered + timedelta(days=60)  # a wrongful purpose: the 確報 within 60 days
    expect(page.locator("#breach-deadlines")).to_contain_text(final_due.isoformat())
    expect(page.locator("#breach")).to_contain_text("委託先にも照会の記録を確認中。")
    save_screenshot(page, screenshots, f"case-{case_id}-breach-answered")
    breach = live_server.rows("SELECT * FROM breach_reports WHERE case_id = :c", c=case_id)[0]
    assert not breach.mynumber_system and breach.wrongful_purpose and str(breach.final_due)[:10] == str(final_due)
    assert case_row(live_server, case_id).disposition == "inappropriate"
    assert pages.errors(page) == []
