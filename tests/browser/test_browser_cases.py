"""Triage in a real browser: an officer takes a case from the queue through the case page's forms
(investigate, assign, comment, close with a disposition); the store and the page's timeline show each
step; the other roles see what they may."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from browser_support import LiveServer, Pages, case_row, expect

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

COMMENT = "本人に確認した。窓口での照会記録と一致しない閲覧がある。"
REASON = "業務上の必要がない照会を2件確認した（所属長に報告済）。"


def open_case_of(live: LiveServer, section: str, severity: str = "high") -> int:
    """A new case of ``section`` that no other browser test changes (the lowest id)."""
    case_id = live.scalar(
        "SELECT min(id) FROM alert_cases WHERE status = 'new' AND section = :s AND severity = :v AND assignee IS NULL",
        s=section,
        v=severity,
    )
    assert case_id is not None, f"the demo has no new {severity} case in {section}"
    return int(case_id)


def flash(page: Page) -> Locator:
    return page.locator("#flash")


def test_an_officer_triages_a_case_from_the_queue_to_a_disposition(pages: Pages, live_server: LiveServer) -> None:
    officer = live_server.users["officer"].username
    case_id = open_case_of(live_server, "1101")
    page = pages.new("officer")

    # the queue, filtered with its (plain GET) form
    page.goto("/")
    page.locator("nav.mainnav").get_by_role("link", name="事案", exact=True).click()
    expect(page.locator("h1")).to_have_text("事案一覧")
    filters = page.locator("#case-filters")
    filters.locator('select[name="status"]').select_option("new")
    filters.locator('select[name="severity"]').select_option("high")
    filters.get_by_role("button").click()
    expect(page).to_have_url(re.compile(r"/cases\?status=new&severity=high$"))
    rows = page.locator("#cases tbody tr")
    expect(rows.first).to_be_visible()
    assert set(rows.locator("td:nth-child(2)").all_inner_texts()) == {"新規"}
    assert set(rows.locator("td:nth-child(3)").all_inner_texts()) == {"高"}
    row = rows.filter(has=page.locator(f'a[href="/cases/{case_id}"]'))
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(4)).to_have_text("1101")
    expect(row.locator("td").nth(7)).to_have_text("未割当")

    # the case page
    row.get_by_role("link", name=f"#{case_id}").click()
    expect(page).to_have_url(f"{live_server.url}/cases/{case_id}")
    expect(page.locator("h1")).to_contain_text(f"事案 #{case_id}")
    expect(page.locator("#case-status")).to_have_text("新規")
    expect(page.locator("#alerts article.alert-item").first).to_be_visible()

    page.locator("#form-investigate").get_by_role("button").click()
    expect(flash(page)).to_have_text("調査を開始しました。")
    expect(page.locator("#case-status")).to_have_text("調査中")
    expect(page.locator("#form-investigate")).to_have_count(0)

    assign = page.locator("#form-assign")
    assign.get_by_role("textbox").fill(officer)
    assign.get_by_role("button").click()
    expect(flash(page)).to_have_text("担当者を割り当てました。")
    expect(page.locator("#assignee")).to_have_text(officer)

    comment = page.locator("#form-comment")
    comment.get_by_role("textbox").fill(COMMENT)
    comment.get_by_role("button").click()
    expect(page).to_have_url(f"{live_server.url}/cases/{case_id}#history")
    expect(flash(page)).to_have_text("コメントを追加しました。")

    # closing without a disposition is stopped by the browser (the field is required): nothing is sent
    close = page.locator("#form-close")
    close.get_by_role("button").click()
    assert close.locator("select").evaluate("e => e.validity.valueMissing") is True
    assert case_row(live_server, case_id).status == "investigating"

    close.locator("select").select_option(label="不適切")
    close.get_by_role("textbox").fill(REASON)
    close.get_by_role("button").click()
    expect(flash(page)).to_have_text("事案を対応済にしました。")
    expect(page.locator("#case-status")).to_have_text("対応済")
    expect(page.locator("#disposition")).to_have_text("不適切")
    expect(page.locator("#summary")).to_contain_text(REASON)
    expect(page.locator("#breach")).to_be_visible()  # 不適切 opens the breach checklist
    expect(page.locator("#form-close")).to_have_count(0)
    expect(page.locator("#form-reopen")).to_be_visible()

    # the store
    stored = case_row(live_server, case_id)
    assert (stored.status, stored.disposition, stored.assignee) == ("closed", "inappropriate", officer)
    assert stored.disposition_reason == REASON and stored.closed_by == officer
    history = live_server.rows(
        "SELECT actor, action, body FROM alert_case_events WHERE case_id = :c ORDER BY id", c=case_id
    )
    mine = [(h.action, h.body) for h in history if h.actor == officer]
    assert [a for a, _ in mine][:4] == ["status", "assigned", "comment", "closed"], mine
    assert ("comment", COMMENT) in mine

    # the timeline on the page, oldest first, as the store has it
    timeline = page.locator("#history ol.timeline > li")
    expect(timeline).to_have_count(len(history))
    expect(page.locator("#history li.ev-status").last).to_contain_text("新規 → 調査中")
    expect(page.locator("#history li.ev-assigned").last).to_contain_text(f"未割当 → {officer}")
    expect(page.locator("#history li.ev-comment").last).to_contain_text(COMMENT)
    closed = page.locator("#history li.ev-closed").last
    expect(closed).to_contain_text("判定: 不適切")
    expect(closed).to_contain_text(officer)
    expect(timeline.last).to_have_class(re.compile(r"\bev-(closed|breach_opened)\b"))

    # an auditor reads the outcome and has no form
    auditor = pages.new("auditor")
    auditor.goto(f"/cases/{case_id}")
    expect(auditor.locator("#case-status")).to_have_text("対応済")
    expect(auditor.locator("#disposition")).to_have_text("不適切")
    expect(auditor.locator("#history li.ev-comment").last).to_contain_text(COMMENT)
    expect(auditor.locator("#read-only")).to_be_visible()
    expect(auditor.locator("#actions form")).to_have_count(0)


def test_a_section_head_sees_the_cases_of_their_section_only(section_head_page: Page, live_server: LiveServer) -> None:
    page = section_head_page
    page.goto("/cases")
    sections = set(page.locator("#cases tbody tr td:nth-child(5)").all_inner_texts())
    assert sections == {"1101"}, sections
    expected = live_server.scalar("SELECT count(*) FROM alert_cases WHERE section = '1101'")
    expect(page.locator("#cases tbody tr")).to_have_count(expected)

    other = live_server.scalar("SELECT min(id) FROM alert_cases WHERE section = '2101'")
    answer = page.goto(f"/cases/{other}")
    assert answer is not None and answer.status == 404
    expect(page.locator("main")).to_contain_text("見つかりません")
