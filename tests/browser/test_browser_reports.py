"""The overview's figures and charts, and the reports page in a real browser: a monthly report made with
its form and downloaded as a file."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from browser_support import DEMO_MONTH, LiveServer, Pages, expect, pdf_text

if TYPE_CHECKING:
    from playwright.sync_api import Page


def bar_values(page: Page, chart: str) -> list[int]:
    """The values of a chart's bars, from each bar's <title> ("01-05: 1,234")."""
    titles = page.locator(f'svg.chart[aria-label="{chart}"] rect.bar title').all_text_contents()
    return [int(t.rsplit(":", 1)[1].strip().replace(",", "")) for t in titles]


def test_the_overview_shows_the_figures_and_the_charts(pages: Pages, live_server: LiveServer) -> None:
    page = pages.new("officer")
    page.goto("/")
    expect(page.locator("h1")).to_contain_text("概要")
    expect(page.locator("h1 small")).to_contain_text("デモ市")
    code = live_server.settings.municipality_code

    events = live_server.scalar("SELECT count(*) FROM events WHERE municipality_code = :c", c=code)
    assert events > 1000
    expect(page.locator("#events-total")).to_have_text(f"{events:,}")
    expect(page.locator(".notice", has_text="まだデータがありません")).to_have_count(0)

    charts = page.locator("svg.chart")
    expect(charts).to_have_count(2)
    for n in range(2):
        expect(charts.nth(n)).to_be_visible()
        box = charts.nth(n).bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100, box  # drawn, not collapsed
    daily = bar_values(page, "日別の操作件数")
    hourly = bar_values(page, "時間帯別")
    assert len(daily) >= 7 and len(hourly) == 24
    assert sum(daily) == events and sum(hourly) == events  # the demo's week lies inside the 28-day window
    tallest = page.locator('svg.chart[aria-label="日別の操作件数"] rect.bar').nth(daily.index(max(daily)))
    height = tallest.bounding_box()
    assert height is not None and height["height"] > 50

    sources = live_server.scalar("SELECT count(*) FROM sources WHERE municipality_code = :c", c=code)
    expect(page.locator("#sources tbody tr")).to_have_count(sources)
    open_cases = live_server.scalar(
        "SELECT count(*) FROM alert_cases WHERE municipality_code = :c AND status IN ('new', 'investigating')", c=code
    )
    expect(page.locator("#case-work h3").first).to_contain_text(f"（{open_cases}）")
    assert pages.errors(page) == []  # nothing refused by the Content-Security-Policy, no script error


def test_a_monthly_report_is_made_with_the_form_and_downloaded(pages: Pages, live_server: LiveServer) -> None:
    page = pages.new("officer")
    page.goto("/")
    page.locator("nav.mainnav").get_by_role("link", name="レポート").click()
    expect(page.locator("h1")).to_have_text("レポート")
    before = live_server.scalar("SELECT count(*) FROM report_runs")

    form = page.locator("#make-monthly")
    form.locator('input[name="month"]').fill(DEMO_MONTH)
    form.locator('select[name="format"]').select_option("pdf")
    form.get_by_role("button").click()
    expect(page).to_have_url(f"{live_server.url}/reports")
    expect(page.locator("#flash")).to_contain_text("レポートを作成しました。")
    expect(page.locator("#flash")).to_contain_text("アクセスログ点検記録")

    made = live_server.rows(
        "SELECT id, kind, format, period_start, requested_by FROM report_runs ORDER BY id DESC LIMIT 1"
    )[0]
    assert live_server.scalar("SELECT count(*) FROM report_runs") == before + 1
    assert (made.kind, made.format, str(made.period_start)[:7]) == ("monthly", "pdf", DEMO_MONTH)
    assert made.requested_by == live_server.users["officer"].username

    row = page.locator("#reports tbody tr").filter(has_text=f"#{made.id}")
    expect(row).to_contain_text("アクセスログ点検記録")
    expect(row).to_contain_text(f"{DEMO_MONTH}-01")
    with page.expect_download() as download_info:
        row.get_by_role("link", name="ダウンロード").click()
    download = download_info.value
    assert re.fullmatch(rf"monthly-{DEMO_MONTH}-01-{DEMO_MONTH}-31\.pdf", download.suggested_filename)
    content = download.path().read_bytes()
    assert content.startswith(b"%PDF-")
    text = pdf_text(content)
    assert "アクセスログ点検記録" in text and "デモ市" in text, text[:500]
    downloads = live_server.scalar(
        "SELECT count(*) FROM trail WHERE action = 'report.download' AND target_id = :id", id=str(made.id)
    )
    assert downloads == 1
