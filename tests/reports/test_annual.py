"""The annual self-inspection report on a hand-made fiscal year: every figure checked against what was
stored, the fiscal year's Japan-time bounds, another municipality kept out, and the CLI."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pypdfium2 as pdfium
import pytest
from cli_support import auditd
from reports_support import (
    CODE,
    OTHER,
    add_alert,
    add_run,
    event,
    jst,
    store_calendar,
    store_events,
    store_town,
    store_violations,
    table,
)
from sqlalchemy import Connection, Engine, select

from auditd.alerts.models import Alert
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.cases import service as cases
from auditd.settings import Settings
from auditd.store.base import table_of
from reports.base import ReportRequest, fiscal_year, generate
from reports.document import Document, Facts, Heatmap, Table

START, END = fiscal_year(2025)


def _year(conn: Connection) -> list[str]:
    """FY2025 (令和7年度) of the test town; returns the ids of the stored events."""
    store_town(conn)
    store_town(conn, OTHER)
    store_calendar(conn, START, END, {})
    rows = [
        event("2025-03-31 23:59:59"),  # the day before the fiscal year: not counted
        event("2025-04-01 00:00:00"),  # its first instant
        event("2025-04-01 10:00", action="print", subject_hash=None, subject_count=50, jimu="固定資産税"),
        event("2025-04-02 09:00", source="welfare", system="福祉", jimu="生活保護", user_id="u5"),
        event("2025-04-02 09:05", action="media_write", subject_hash=None, subject_count=0, jimu=None),
        # logins on the authentication server: two with two factors, one with a password only
        event(
            "2025-04-01 08:30",
            source="auth",
            system="認証基盤",
            action="login",
            auth_factors="password,vein",
            subject_hash=None,
            jimu=None,
        ),
        event(
            "2025-04-02 08:31",
            source="auth",
            system="認証基盤",
            action="login",
            auth_factors="vein,password",
            subject_hash=None,
            jimu=None,
        ),
        event(
            "2025-04-03 08:32",
            source="auth",
            system="認証基盤",
            action="login",
            auth_factors="password",
            subject_hash=None,
            jimu=None,
            user_id="u2",
        ),
        event("2025-04-03 10:00", action="show_mynumber"),
        event("2026-03-31 23:59:59"),  # its last instant
        event("2026-04-01 00:00:00"),  # the next fiscal year
    ]
    ids = store_events(conn, rows)
    store_events(conn, [event("2025-06-01 10:00")] * 1, code=OTHER)
    store_violations(
        conn,
        [
            (ids[3], jst("2025-04-02 09:00"), "u5", "out_of_scope"),
            (ids[8], jst("2025-04-03 10:00"), "u1", "mynumber_display"),
            (ids[8], jst("2025-04-03 10:00"), "u1", "off_hours"),
        ],
    )
    add_alert(conn, rule="D02", start="2025-04-02 09:00", user_id="u5", section="2101")
    add_alert(conn, rule="D10", start="2025-07-01 10:00", severity="critical")
    add_alert(conn, rule="D02", start="2025-03-20 10:00")  # the previous year
    add_alert(conn, rule="D02", start="2025-05-01 10:00", code=OTHER)
    add_run(conn, "2025-04-01 00:00", "2025-04-03 00:00")  # the 3rd is not covered
    return ids


def _case_of(conn: Connection, rule: str) -> int:
    alerts = table_of(Alert)
    stmt = select(alerts.c.case_id).where(alerts.c.municipality_code == CODE, alerts.c.rule == rule)
    return int(conn.execute(stmt).scalar_one())


def _build(conn: Connection, settings: Settings) -> Document:
    rendered = generate(conn, settings, ReportRequest("annual", CODE, START, END), "html", "kato", "cli")
    return rendered.document


def _facts(doc: Document) -> dict[str, str]:
    """Every label → value of the report's facts (the labels are unique across its sections)."""
    return {k: v for s in doc.sections for b in s.blocks if isinstance(b, Facts) for k, v in b.rows}


def _section_table(doc: Document, section_title: str) -> Table:
    """The first table of a section."""
    section = next(s for s in doc.sections if s.title == section_title)
    return next(b for b in section.blocks if isinstance(b, Table))


def test_every_figure_comes_from_the_store(db: Connection, conf: Settings) -> None:
    _year(db)
    triaged = cases.triage(db, conf, CODE, now=jst("2025-07-02 09:00"))
    assert triaged.cases_opened == 3  # one of them about the previous year's alert
    officer = Principal(1, "sato", "佐藤", PlatformRole.OFFICER, CODE)
    case_d10 = _case_of(db, "D10")
    cases.close(db, conf, officer, case_d10, "fraud", "共用IDで私的に閲覧", now=jst("2025-07-10 09:00"), client="t")
    generate(db, conf, ReportRequest("monthly", CODE, date(2025, 10, 1), date(2025, 10, 31)), "html", "kato", "cli")

    doc = _build(db, conf)
    assert doc.title == "自己点検結果報告書" and doc.subtitle.startswith("令和7年度")
    assert doc.sections[0].title == "概要" and len(doc.sections) == 11
    assert doc.sign_off == ["点検者", "保護責任者", "最高情報セキュリティ責任者（CISO）"]
    figures = _facts(doc)
    assert figures["記録された操作"] == "9 件"  # 11 stored here: one the day before the year, one after it
    assert figures["アラート"] == "2 件" and figures["事案"] == "2 件"
    assert figures["処理結果: 不正"] == "1 件" and figures["未完了"] == "1 件"
    assert figures["ポリシー違反と判定された操作"] == "2 件"
    assert figures["権限の範囲内の操作の割合"] == "77.8%"
    assert figures["印刷・データ出力"] == "1 件" and figures["出力された住民（延べ）"] == "50 人"
    assert figures["外部媒体への書き込み・ファイル複製"] == "1 件"
    assert figures["月次点検記録"] == "1 / 12 か月"
    assert figures["記録のある日のうち検知が実行されなかった日"] == "2 日"  # 3 April and 31 March

    two_factor = table(doc, "識別と認証（二要素認証の適用）")
    assert two_factor.rows == [["認証基盤", 3, 2, "66.7%"]]
    violations = {row[0]: row[2] for row in table(doc, "ポリシー違反（規則別）").rows}
    assert violations == {"P02": 1, "P03": 1, "P04": 1}
    by_rule = {row[0]: row[2] for row in table(doc, "検知ごとのアラート").rows}
    assert by_rule == {"D02": 1, "D10": 1}

    pia = {row[0]: row[2] for row in _section_table(doc, "評価書（PIA）との整合性").rows}
    assert pia["二要素認証"] == "あり" and pia["外部媒体への書き込み制限"] == "あり"
    assert pia["中間サーバーの照会は上長承認と案件に基づく"] == "なし"
    findings = [row[0] for row in _section_table(doc, "所見と是正計画").rows]
    assert any("（不正）" in f for f in findings)
    assert "認証基盤 で二要素でないログインが 1 件" in findings
    assert "月次のアクセスログ点検記録が 11 か月分ありません" in findings
    items = {row[0]: row[1] for row in table(doc, "点検項目ごとの結果").rows}
    assert items["二要素認証"] == "一部" and items["記録の定期的な点検"] == "一部"

    ppc = {row[0]: row[1:] for row in _section_table(doc, "個人情報保護委員会への定期的な報告（事務別）").rows}
    assert ppc["個人住民税"] == [3, 1, 0, 0] and ppc["固定資産税"] == [1, 0, 1, 0] and ppc["生活保護"] == [1, 0, 0, 0]

    heatmap = next(b for s in doc.sections for b in s.blocks if isinstance(b, Heatmap))
    assert sum(map(sum, heatmap.values)) == 9
    assert heatmap.values[1][8] == 1  # Wednesday 2 April 08:31, the second login (weekday 2 = 水) …
    assert doc.trail_detail == {"events": 9, "alerts": 2, "cases": 2}


def test_the_rollup_figures_match_the_raw_events(db: Connection, conf: Settings) -> None:
    """The report reads rollups maintained at ingest; recounting the raw events gives the same."""
    _year(db)
    raw = pd.read_sql_query("SELECT ts, municipality_code FROM events", db)
    ts = (
        pd.to_datetime(raw["ts"], utc=True)
        if raw["ts"].dtype == object
        else pd.to_datetime(raw["ts"], unit="us", utc=True)
    )
    day = ts.dt.tz_convert("Asia/Tokyo").dt.date
    in_year = (raw["municipality_code"] == CODE) & (day >= START) & (day <= END)
    assert _facts(_build(db, conf))["記録された操作"] == f"{int(in_year.sum())} 件"


def test_an_empty_year_is_a_report_that_says_so(db: Connection, conf: Settings) -> None:
    store_town(db)
    doc = _build(db, conf)
    figures = _facts(doc)
    assert figures["記録された操作"] == "0 件" and figures["アラート"] == "0 件"
    assert table(doc, "ポリシー違反（規則別）").rows == []
    items = {row[0]: row[1] for row in table(doc, "点検項目ごとの結果").rows}
    assert items["アクセス記録の取得"] == "未実施" and items["記録の定期的な点検"] == "未実施"


@pytest.mark.slow
def test_the_command_writes_a_pdf_whose_headings_are_text(engine: Engine, env_for_cli: dict[str, str], tmp_path: Path):
    with engine.begin() as conn:
        _year(conn)
    out = tmp_path / "annual.pdf"
    done = auditd(env_for_cli, "report", "annual", "--fiscal-year", "2025", "--format", "pdf", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "自己点検結果報告書" in done.stdout
    document = pdfium.PdfDocument(out.read_bytes())
    text = "".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    flat = text.replace("\r", "").replace("\n", "")
    for heading in (
        "自己点検結果報告書",
        "組織的安全管理措置",
        "技術的安全管理措置",
        "評価書（PIA）との整合性",
        "確認・承認",
    ):
        assert heading in flat
    refused = auditd(env_for_cli, "report", "annual", "--fiscal-year", "1999")
    assert refused.returncode != 0 and "fiscal year 1999" in refused.stderr


def test_attestations_and_the_pia_register_answer_what_no_log_shows(db: Connection, conf: Settings) -> None:
    from reports import attest, pia
    from reports.schemas import PiaIn

    _year(db)
    now = jst("2026-04-10 09:00")
    pia.add(db, CODE, PiaIn(title="個人住民税 全項目評価書", jimu="個人住民税", kind="full",
                            published_on=date(2024, 3, 1)), actor="sato", client="t", now=now)  # fmt: skip
    attest.attest(db, conf, CODE, fiscal_year=2025, item="training", result="done", statement="全職員が受講",
                  evidence=None, actor="sato", client="t", now=now)  # fmt: skip
    doc = _build(db, conf)
    figures = _facts(doc)
    assert figures["研修の実施と受講状況"].startswith("実施済\n全職員が受講")
    assert figures["管理区域の入退室管理"] == "未確認（証跡の登録待ち）"
    register = table(doc, "特定個人情報保護評価書（台帳）")
    assert register.rows[0][:3] == ["個人住民税 全項目評価書", "個人住民税", "全項目評価"]
    assert register.rows[0][7].startswith("見直し期限超過（2025-03-01）")  # never reviewed: due a year after
    per_pia = table(doc, "個人住民税 全項目評価書（個人住民税）")
    assert per_pia.rows[0][2] == "あり" and per_pia.rows[1][1].startswith("操作 3 件")
    findings = [row[0] for row in _section_table(doc, "所見と是正計画").rows]
    assert any("評価書「個人住民税 全項目評価書」: 見直し期限超過" in f for f in findings)
    items = {row[0]: (row[1], row[2]) for row in table(doc, "点検項目ごとの結果").rows}
    assert items["研修・物理的措置・監査"] == ("一部", "回答 1/7 項目")
