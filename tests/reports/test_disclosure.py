"""The disclosure report (アクセス記録開示報告書) of one resident, on each backend: found by the
collectors' pseudonym, bounded by Japan days, other residents and municipalities left out, staff names
shown or withheld, and the 宛名番号 never written anywhere (document, file, trail, output)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from cli_support import auditd
from reports_support import (
    CODE,
    OTHER,
    event,
    facts,
    store_events,
    store_town,
    store_violations,
    table,
    xlsx_numbers,
)
from sqlalchemy import Connection, Engine, select

from auditd.privacy.pseudonym import Pseudonymiser
from auditd.settings import Settings
from auditd.store.base import table_of
from auditd.trail.models import TrailEntry
from reports.base import ReportRequest
from reports.disclosure import WITHHELD, build
from reports.document import Bars, Document, Paragraph
from reports.render import render

RESIDENT = "0000123456"  # as typed at the counter (zero-padded, as some systems print it)
OTHER_RESIDENT = "0000999999"
SINCE, UNTIL = date(2026, 1, 1), date(2026, 2, 28)


def story(conn: Connection, settings: Settings) -> str:
    """The resident's accesses in January–February 2026 and around them; returns their pseudonym."""
    me = Pseudonymiser(settings.secret("pseudonym_key"), CODE).one(RESIDENT)
    other = Pseudonymiser(settings.secret("pseudonym_key"), CODE).one(OTHER_RESIDENT)
    store_town(conn)
    store_town(conn, OTHER)
    mine = [
        event("2025-12-31 23:59:59", subject_hash=me),  # the day before: outside
        event("2026-01-01 00:00:00", subject_hash=me),  # first instant of the period in Japan (Dec 31 in UTC)
        event("2026-01-20 10:00", subject_hash=me, user_id="u2"),  # 鈴木 still in 市民税課
        event("2026-02-03 22:10", subject_hash=me),  # at night: the policy engine found a violation
        event("2026-02-05 10:00", subject_hash=me, user_id="u2", system="国保", jimu="国民健康保険", action="update"),
        event("2026-02-10 03:00", subject_hash=me, user_id="batch_tax", action="print"),
        event("2026-02-28 23:59:59", subject_hash=me, action="search"),  # last second of the period
        event("2026-03-01 00:00:00", subject_hash=me),  # outside
    ]
    others = [
        event("2026-01-15 10:00", subject_hash=other, user_id="u5"),
        event("2026-01-16 10:00", subject_hash=None, subject_count=120, action="export"),  # a bulk output
    ]
    ids = store_events(conn, mine + others)
    store_violations(conn, [(ids[3], mine[3]["ts"].to_pydatetime(), "u1", "off_hours")])
    # another municipality holding the same hash string (its pseudonyms differ: this must not be found)
    store_events(conn, [event("2026-01-10 10:00", subject_hash=me, user_id="u5")], code=OTHER)
    return me


def _build(conn: Connection, settings: Settings, show_staff: bool | None) -> Document:
    request = ReportRequest("disclosure", CODE, SINCE, UNTIL, RESIDENT, show_staff)
    return build(conn, settings, request, "tester")


def test_every_access_of_the_resident_and_only_those(db: Connection, conf: Settings) -> None:
    me = story(db, conf)
    document = _build(db, conf, show_staff=True)

    assert document.title == "アクセス記録開示報告書" and document.sign_off == ["作成者", "個人情報保護責任者"]
    assert document.trail_detail == {"subject": me, "accesses": 6, "show_staff": True}
    rows = table(document, "アクセスの明細").rows
    assert [r[0] for r in rows] == [
        "2026-01-01 00:00",
        "2026-01-20 10:00",
        "2026-02-03 22:10",
        "2026-02-05 10:00",
        "2026-02-10 03:00",
        "2026-02-28 23:59",
    ]
    # the section on the day: 鈴木 moved from 市民税課 to 国保年金課 on 2026-02-01
    assert [r[1] for r in rows] == ["市民税課", "市民税課", "市民税課", "国保年金課", "（所属不明）", "市民税課"]
    assert [r[4] for r in rows] == ["照会", "照会", "照会", "更新", "印刷", "検索"]
    assert [r[5] for r in rows] == [
        "山田太郎",
        "鈴木花子",
        "山田太郎",
        "鈴木花子",
        "（職員の登録のないアカウント）",
        "山田太郎",
    ]
    assert [r[6] for r in rows] == ["なし", "なし", "あり（P04 業務時間外・閉庁日）", "なし", "なし", "なし"]
    assert rows[3][2:4] == ["国民健康保険", "国保"]

    summary = facts(document, "概要")
    assert summary["アクセス件数"] == "6 件"
    assert summary["アクセスした所属"] == "2 所属（国保年金課、市民税課）"
    assert summary["最初のアクセス"] == "2026年01月01日 00:00" and summary["最後のアクセス"] == "2026年02月28日 23:59"
    assert summary["規程違反と判定されたアクセス"] == "1 件"
    by_section = {(r[0], r[1]): r[2] for r in table(document, "所属・事務別").rows}
    assert by_section == {
        ("市民税課", "個人住民税"): 4,
        ("国保年金課", "国民健康保険"): 1,
        ("（所属不明）", "個人住民税"): 1,
    }
    bars = next(b for s in document.sections for b in s.blocks if isinstance(b, Bars))
    assert bars.labels == ["2026年1月", "2026年2月"] and bars.series["アクセス件数"] == [2.0, 4.0]
    notes = " ".join(b.text for s in document.sections for b in s.blocks if isinstance(b, Paragraph))
    assert "一括処理" in notes and "特定できない" in notes

    html = render(document, "html").decode("utf-8")
    assert RESIDENT not in html and RESIDENT.lstrip("0") not in html


def test_staff_names_are_withheld_unless_asked_for(db: Connection, conf: Settings) -> None:
    story(db, conf)
    hidden = render(_build(db, conf, show_staff=False), "html").decode("utf-8")
    assert "山田太郎" not in hidden and "鈴木花子" not in hidden and WITHHELD in hidden
    assert "市民税課" in hidden  # the section is always given
    by_default = _build(db, conf, show_staff=None)  # the setting report_show_staff, off by default
    assert by_default.trail_detail["show_staff"] is False
    assert "山田太郎" not in render(by_default, "html").decode("utf-8")
    named = conf.model_copy(update={"report_show_staff": True})
    assert "山田太郎" in render(_build(db, named, show_staff=None), "html").decode("utf-8")


def test_a_resident_never_accessed_gets_a_clear_answer(db: Connection, conf: Settings) -> None:
    story(db, conf)
    request = ReportRequest("disclosure", CODE, SINCE, UNTIL, "0000555555", None)
    document = build(db, conf, request, "tester")
    assert document.trail_detail["accesses"] == 0
    assert table(document, "アクセスの明細").rows == [] and table(document, "所属・事務別").rows == []
    text = " ".join(b.text for s in document.sections for b in s.blocks if isinstance(b, Paragraph))
    assert "この住民の記録へのアクセスはありませんでした" in text
    for fmt in ("html", "pdf", "xlsx"):
        assert render(document, fmt)


def test_pdf_and_xlsx(db: Connection, conf: Settings) -> None:
    story(db, conf)
    document = _build(db, conf, show_staff=False)
    assert render(document, "pdf").startswith(b"%PDF")
    numbers = xlsx_numbers(render(document, "xlsx"))
    assert 4 in numbers  # 市民税課 × 個人住民税, a number in the sheet


def test_the_command_writes_the_report_and_trails_the_pseudonym_only(
    engine: Engine, settings: Settings, env_for_cli: dict[str, str], tmp_path: Path
) -> None:
    with engine.begin() as conn:
        me = story(conn, settings)
    out = tmp_path / "disclosure.html"
    args = ("report", "disclosure", "--resident", RESIDENT, "--since", "2026-01-01", "--until", "2026-02-28")
    done = auditd(env_for_cli, *args, "--format", "html", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    html = out.read_text(encoding="utf-8")
    for heading in (
        "アクセス記録開示報告書",
        "概要",
        "所属・事務別の件数",
        "アクセスの明細",
        "留意事項",
        "個人情報保護責任者",
    ):
        assert heading in html, heading
    assert "山田太郎" not in html and WITHHELD in html  # report_show_staff is off
    assert RESIDENT.lstrip("0") not in html + done.stdout + done.stderr

    shown = tmp_path / "shown.html"
    assert auditd(env_for_cli, *args, "--show-staff", "--format", "html", "--out", str(shown)).returncode == 0
    assert "山田太郎" in shown.read_text(encoding="utf-8")

    with engine.connect() as conn:
        trail = table_of(TrailEntry)
        entries = conn.execute(
            select(trail.c.action, trail.c.detail, trail.c.target_id).where(trail.c.action == "report.generate")
        ).all()
        everything = " ".join(str(v) for row in conn.execute(select(trail)) for v in row)
    assert len(entries) == 2
    detail = json.loads(entries[0].detail)
    assert detail["subject"] == me and detail["accesses"] == 6 and detail["show_staff"] is False
    assert entries[0].target_id == "disclosure"
    assert json.loads(entries[1].detail)["show_staff"] is True
    assert RESIDENT.lstrip("0") not in everything
