"""The dashboard with JavaScript switched off: the pages are server-rendered HTML with inline SVG and plain
forms, so the overview, the case list and a case are readable, and the filter form works."""

from __future__ import annotations

import re

from browser_support import LiveServer, Pages, expect


def test_the_pages_are_readable_without_javascript(pages: Pages, live_server: LiveServer) -> None:
    page = pages.new("auditor", java_script_enabled=False)
    page.set_content("<title>before</title><script>document.title = 'a script ran'</script>")
    assert page.title() == "before"  # scripts really are off in this context
    page.goto("/")
    expect(page.locator("h1")).to_contain_text("概要")
    events = live_server.scalar("SELECT count(*) FROM events")
    expect(page.locator("#events-total")).to_have_text(f"{events:,}")
    expect(page.locator("svg.chart rect.bar").first).to_be_visible()
    expect(page.locator("#sources tbody tr").first).to_be_visible()

    page.locator("nav.mainnav").get_by_role("link", name="事案", exact=True).click()
    expect(page.locator("h1")).to_have_text("事案一覧")
    total = live_server.scalar("SELECT count(*) FROM alert_cases")
    expect(page.locator("#cases tbody tr")).to_have_count(total)

    # the filter is a GET form: it works without a script
    page.locator('#case-filters select[name="severity"]').select_option("critical")
    page.locator("#case-filters").get_by_role("button").click()
    expect(page).to_have_url(re.compile(r"/cases\?status=&severity=critical$"))
    critical = live_server.scalar("SELECT count(*) FROM alert_cases WHERE severity = 'critical'")
    rows = page.locator("#cases tbody tr")
    expect(rows).to_have_count(critical)
    assert set(rows.locator("td:nth-child(3)").all_inner_texts()) == {"重大"}

    case_id = live_server.scalar("SELECT min(id) FROM alert_cases WHERE severity = 'critical'")
    title = live_server.scalar("SELECT title FROM alert_cases WHERE id = :c", c=case_id)
    rows.get_by_role("link", name=f"#{case_id}", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/cases/{case_id}")
    expect(page.locator("h1")).to_contain_text(f"事案 #{case_id}")
    expect(page.locator("#summary h2")).to_have_text(title)
    alerts = live_server.scalar("SELECT count(*) FROM alerts WHERE case_id = :c", c=case_id)
    expect(page.locator("#alerts article.alert-item")).to_have_count(alerts)
    expect(page.locator("#alerts .explanation").first).not_to_be_empty()
    expect(page.locator("#history ol.timeline > li").first).to_contain_text("事案を作成")
