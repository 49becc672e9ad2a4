"""住民アクセス履歴 in a real browser: an officer types a resident's 宛名番号 into the lookup form, reads
the access history (as the store has it), reveals the number, makes the disclosure report with the
page's form, finds it first in the レポート list and downloads it. The number never appears in a URL
the browser visits, nor in the trail (which records the pseudonym)."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from browser_support import LiveServer, Pages, expect, pdf_text, watch_traffic
from sqlalchemy import func, select

from auditd.events.models import Event
from auditd.store.base import table_of
from reports import disclosure

if TYPE_CHECKING:
    from pathlib import Path

JST = ZoneInfo("Asia/Tokyo")
TITLE = "アクセス記録開示報告書"


def city_folder(live: LiveServer) -> Path:
    """Where the harness generated the demo city (``auditd.demo.runner.run_demo``)."""
    return live.settings.data_dir / "demo" / "city"


def accesses(live: LiveServer, subject: str, first: date | None = None, last: date | None = None) -> list[datetime]:
    """The times of the events about ``subject`` (in the Japan days ``first`` … ``last`` when given)."""
    events = table_of(Event)
    stmt = select(events.c.ts).where(
        events.c.municipality_code == live.settings.municipality_code, events.c.subject_hash == subject
    )
    if first is not None and last is not None:
        start_at, end_at = disclosure.period_bounds(first, last)
        stmt = stmt.where(events.c.ts >= start_at, events.c.ts < end_at)
    with live.engine.connect() as conn:
        return list(conn.execute(stmt).scalars())


def accounts_of(live: LiveServer, subject: str, first: date, last: date) -> int:
    events = table_of(Event)
    start_at, end_at = disclosure.period_bounds(first, last)
    stmt = select(func.count(func.distinct(events.c.user_id))).where(
        events.c.municipality_code == live.settings.municipality_code,
        events.c.subject_hash == subject,
        events.c.ts >= start_at,
        events.c.ts < end_at,
    )
    with live.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def a_resident(live: LiveServer) -> tuple[str, str]:
    """A real 宛名番号 of the demo city and its pseudonym: a resident of a planted incident (the ground
    truth the generator writes, ``truth.json``) with several accesses, the last such one (the first
    ones are the page tour's)."""
    truth = json.loads((city_folder(live) / "truth.json").read_text(encoding="utf-8"))
    code = live.settings.municipality_code
    found: list[tuple[str, str]] = []
    for incident in truth["incidents"]:
        for number in incident["subjects"]:
            subject = disclosure.pseudonym_of(live.settings, code, number)
            if 3 <= len(accesses(live, subject)) <= 200:
                found.append((number, subject))
    assert found, "no resident of the demo's incidents has a few accesses"
    return found[-1]


def trail_since(live: LiveServer, since: int) -> list[tuple[str, str, str | None, str | None]]:
    rows = live.rows("SELECT actor, action, target_id, detail FROM trail WHERE id > :i ORDER BY id", i=since)
    return [(r.actor, r.action, r.target_id, r.detail) for r in rows]


def test_an_officer_looks_up_a_resident_and_makes_the_disclosure_report(pages: Pages, live_server: LiveServer) -> None:
    officer = live_server.users["officer"].username
    number, subject = a_resident(live_server)
    assert number.isdigit() and number not in subject
    trail_before = live_server.scalar("SELECT max(id) FROM trail")
    page = pages.new("officer")
    traffic = watch_traffic(page.context)
    visited: list[str] = []
    page.on("framenavigated", lambda frame: visited.append(frame.url) if frame == page.main_frame else None)

    # the lookup form: a POST, answered by a redirect to the pseudonym's page
    page.goto("/")
    page.locator("nav.mainnav").get_by_role("link", name="住民アクセス履歴").click()
    expect(page.locator("h1")).to_have_text("住民アクセス履歴")
    form = page.locator("#res-lookup")
    assert form.evaluate("f => f.method") == "post"
    first = date.fromisoformat(form.locator('input[name="since"]').input_value())
    last = date.fromisoformat(form.locator('input[name="until"]').input_value())
    form.locator('input[name="resident"]').fill(number)
    form.get_by_role("button", name="履歴を表示").click()
    expect(page).to_have_url(f"{live_server.url}/residents/{subject}?since={first}&until={last}")
    expect(page.locator("#res-subject")).to_have_text(subject)
    expect(page.locator('#res-lookup input[name="resident"]')).to_have_value("")  # not echoed

    # the history, as the store has it
    times = sorted(accesses(live_server, subject, first, last), reverse=True)
    assert times, f"no access to the resident in {first} – {last}"
    expect(page.locator("#res-total")).to_have_text(f"{len(times):,}")
    expect(page.locator("#res-accounts")).to_have_text(f"{accounts_of(live_server, subject, first, last):,}")
    rows = page.locator("#res-table tbody tr")
    expect(rows).to_have_count(min(len(times), 500))
    newest = times[0].astimezone(JST).strftime("%Y-%m-%d %H:%M:%S")
    expect(rows.first.locator("td").first).to_have_text(newest)
    expect(page.locator("#res-chart svg.chart")).to_be_visible()
    bars = page.locator("#res-chart svg.chart rect.bar title").all_text_contents()  # "26-01: 12"
    assert sum(int(b.rsplit(":", 1)[1].strip().replace(",", "")) for b in bars) == len(times), bars
    assert page.locator("#res-more").count() == (1 if len(times) > 500 else 0)
    assert pages.errors(page) == []

    # 宛名番号を表示: the number is shown in this one answer (a POST), never put in a URL
    page.locator("#res-reveal").get_by_role("button", name="宛名番号を表示").click()
    expect(page.locator("#res-revealed strong")).to_have_text(number)
    expect(page).to_have_url(f"{live_server.url}/residents/{subject}/reveal")

    # the disclosure report, made with the page's form: the レポート list shows it first
    report = page.locator("#res-report")
    report.locator('select[name="format"]').select_option("pdf")
    report.get_by_role("button", name="作成").click()
    expect(page).to_have_url(f"{live_server.url}/reports")
    expect(page.locator("#flash")).to_contain_text("レポートを作成しました。")
    expect(page.locator("#flash")).to_contain_text(TITLE)
    made = live_server.rows(
        "SELECT id, kind, format, subject_hash, requested_by, period_start, period_end FROM report_runs "
        "ORDER BY id DESC LIMIT 1"
    )[0]
    assert (made.kind, made.format, made.subject_hash, made.requested_by) == ("disclosure", "pdf", subject, officer)
    assert (str(made.period_start)[:10], str(made.period_end)[:10]) == (first.isoformat(), last.isoformat())
    row = page.locator("#reports tbody tr").first
    expect(row).to_contain_text(f"#{made.id}")
    expect(row).to_contain_text(TITLE)
    with page.expect_download() as download_info:
        row.get_by_role("link", name="ダウンロード").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".pdf"), download.suggested_filename
    assert number not in download.suggested_filename
    content = download.path().read_bytes()
    assert content.startswith(b"%PDF-")
    text = pdf_text(content)
    assert TITLE in text and "デモ市" in text, text[:500]
    assert re.search(rf"アクセスの明細（{len(times):,}\s*件", text), text[:2000]
    assert number not in text  # the report names the resident by nothing at all

    # the number never travelled in a URL: not the pages, not any request the browser made
    assert visited and traffic.urls
    assert [u for u in visited + traffic.urls if number in u] == []
    assert traffic.outside == []
    assert pages.errors(page) == []

    # the trail: the views with the pseudonym, the reveal, the report; never the number
    trail = trail_since(live_server, trail_before)
    mine = [(action, target) for actor, action, target, _ in trail if actor == officer]
    assert mine.count(("resident.lookup", subject)) == 2, mine  # the history, and again with the number shown
    assert ("resident.reveal", subject) in mine
    lookup = next(json.loads(d or "{}") for a, act, t, d in trail if act == "resident.lookup" and t == subject)
    assert lookup["accesses"] == len(times) and lookup["since"] == first.isoformat()
    assert any(act == "report.generate" and subject in (d or "") for _, act, _, d in trail), trail
    assert [entry for entry in trail if number in f"{entry[2]} {entry[3]}"] == []
    assert (
        live_server.scalar(
            "SELECT count(*) FROM trail WHERE target_id = :n OR detail LIKE :p", n=number, p=f"%{number}%"
        )
        == 0
    )
