"""The monthly log-review record (アクセスログ点検記録) over a hand-made October 2026, on each backend:
the figures of every section, the JST month boundary, the other municipality left out, the three
formats, and the command an officer runs."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from cli_support import auditd
from reports_support import (
    CODE,
    OTHER,
    add_alert,
    add_run,
    add_source,
    event,
    facts,
    jst,
    store_calendar,
    store_events,
    store_town,
    store_violations,
    table,
    xlsx_numbers,
)
from sqlalchemy import Connection, Engine, select

from auditd.alerts.models import Alert
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.cases import service
from auditd.cases.schemas import SuppressionIn
from auditd.jp.calendar import calendar_frame
from auditd.settings import Settings
from auditd.store.base import table_of
from auditd.trail.models import TrailEntry
from reports.base import ReportRequest, month
from reports.document import Bars, Document, Paragraph
from reports.monthly import build
from reports.render import render

OCTOBER = month("2026-10")
FOUNDATION_DAY = date(2026, 10, 30)  # a Friday the town is closed (its own calendar)
GAP_DAY = date(2026, 10, 15)  # the tax system sent nothing that open day


@pytest.fixture(autouse=True)
def after_november(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock in December 2026, so October and November are over whatever day the tests run
    (the command's subprocess keeps the real clock; its assertions do not depend on it)."""
    monkeypatch.setattr("reports.monthly._now", lambda: jst("2026-12-05 09:00"))


def _open_days() -> list[date]:
    frame = calendar_frame(*OCTOBER)
    return [d for d, is_open in zip(frame["day"], frame["is_open"], strict=True) if is_open and d != FOUNDATION_DAY]


def _alert_case(conn: Connection, rule: str) -> int:
    alerts = table_of(Alert)
    found = conn.execute(select(alerts.c.case_id).where(alerts.c.municipality_code == CODE, alerts.c.rule == rule))
    return int(found.scalar_one())


def october(conn: Connection, settings: Settings) -> None:
    """The story of the month (see the assertions for what each piece is for)."""
    store_town(conn)
    store_town(conn, OTHER)
    store_calendar(conn, date(2026, 9, 1), date(2026, 11, 30), {FOUNDATION_DAY: "開庁記念日"})
    add_source(conn, "tax", "税務", "2026-01-01 00:00")
    add_source(conn, "nhi", "国保", "2026-01-01 00:00")
    add_source(conn, "idou", "住記", "2026-10-01 00:00")  # registered, never sent anything

    tax = [event(f"{d} 10:00") for d in _open_days() if d != GAP_DAY]
    nhi = [event(f"{d} 11:00", source="nhi", system="国保", user_id="u5", jimu="国民健康保険") for d in _open_days()]
    edges = [
        event("2026-09-30 23:59:59"),  # the last second of September in Japan — outside
        event("2026-10-01 00:00:00"),  # the first instant of October in Japan (Sept 30 in UTC) — inside
        event("2026-10-31 23:59:59"),  # the last second of October (a Saturday) — inside
        event("2026-11-01 00:00:00"),  # outside
    ]
    ids = store_events(conn, tax + nhi + edges)
    # another municipality: its tax system did send on the gap day, and broke a rule
    (other_id,) = store_events(conn, [event(f"{GAP_DAY} 10:00")], code=OTHER)
    night = tax[3]["ts"].to_pydatetime()
    store_violations(
        conn,
        [
            (ids[3], night, "u1", "off_hours"),
            (ids[4], tax[4]["ts"].to_pydatetime(), "u1", "off_hours"),
            (ids[len(tax)], nhi[0]["ts"].to_pydatetime(), "u5", "foreign_terminal"),
            (ids[len(tax) + len(nhi)], jst("2026-09-30 23:59:59"), "u1", "off_hours"),  # September
        ],
    )
    store_violations(conn, [(other_id, jst(f"{GAP_DAY} 10:00"), "u1", "off_hours")], code=OTHER)

    # detection: whole days, except the 20th (never run), the 21st (run, a detector failed), the 22nd (half)
    for d in (date(2026, 9, 30) + timedelta(days=n) for n in range(33)):
        if d in (date(2026, 10, 20), date(2026, 10, 21), date(2026, 10, 22)):
            continue
        add_run(conn, f"{d} 00:00", f"{d + timedelta(days=1)} 00:00")
    add_run(conn, "2026-10-21 00:00", "2026-10-22 00:00", status="partial")
    add_run(conn, "2026-10-22 00:00", "2026-10-22 12:00")
    add_run(conn, "2026-10-20 00:00", "2026-10-21 00:00", code=OTHER)

    officer = Principal(1, "sato", "佐藤", PlatformRole.OFFICER, CODE)
    # a case of September, closed in September: not part of October
    add_alert(conn, rule="D13", start="2026-09-01 10:00", user_id="u2")
    service.triage(conn, settings, CODE, now=jst("2026-09-02 09:00"))
    service.close(
        conn,
        settings,
        officer,
        _alert_case(conn, "D13"),
        "legitimate",
        "確認済み",
        now=jst("2026-09-05 09:00"),
        client=None,
    )
    # a case opened in September, closed in October as a false positive
    add_alert(conn, rule="D02", start="2026-09-28 10:00", user_id="u5", section="2101")
    service.triage(conn, settings, CODE, now=jst("2026-09-29 09:00"))
    service.close(
        conn,
        settings,
        officer,
        _alert_case(conn, "D02"),
        "false_positive",
        "端末の時計のずれ",
        now=jst("2026-10-02 09:00"),
        client=None,
    )
    # October: a night lookup found legitimate, a critical alert left open, a suppressed counter pattern
    add_alert(conn, rule="D01", start="2026-10-05 22:00")
    service.triage(conn, settings, CODE, now=jst("2026-10-06 09:00"))
    service.close(
        conn,
        settings,
        officer,
        _alert_case(conn, "D01"),
        "legitimate",
        "時間外勤務命令あり",
        now=jst("2026-10-10 09:00"),
        client=None,
    )
    service.create_suppression(
        conn,
        officer,
        SuppressionIn(rule="D06", section="2101", reason="窓口の定例業務", expires_on=date(2026, 12, 31)),
        now=jst("2026-10-01 09:00"),
        client=None,
    )
    add_alert(conn, rule="D04", start="2026-10-20 10:00", severity="critical", user_id="u2")
    add_alert(conn, rule="D06", start="2026-10-25 10:00", severity="medium", user_id="u5", section="2101")
    service.triage(conn, settings, CODE, now=jst("2026-10-26 09:00"))
    # another municipality's alert of October
    add_alert(conn, rule="D05", start="2026-10-10 10:00", code=OTHER)
    service.triage(conn, settings, OTHER, now=jst("2026-10-11 09:00"))


def _build(conn: Connection, settings: Settings) -> Document:
    return build(conn, settings, ReportRequest("monthly", CODE, *OCTOBER), "tester")


def test_scope_counts_sources_days_and_finds_the_silent_open_days(db: Connection, conf: Settings) -> None:
    october(db, conf)
    document = _build(db, conf)

    assert (document.title, document.subtitle, document.municipality_name) == (
        "アクセスログ点検記録",
        "2026年10月分",
        "テスト町",
    )
    assert [s.title for s in document.sections] == ["点検の範囲", "検知の実施", "検知結果", "事案と処理結果", "所見"]
    assert document.sign_off == ["点検者", "保護責任者（情報セキュリティ責任者）"]
    open_days = _open_days()
    assert len(open_days) == 20  # 22 weekdays, スポーツの日 (10/12) and the town's own closed day
    by_source = {row[0]: row for row in table(document, "収集元・システム別").rows}
    # tax: 19 open days, plus 00:00:00 on the 1st and 23:59:59 on the 31st (JST); not 9/30 23:59:59, 11/1 00:00
    assert by_source["tax"][1:4] == ["税務", 21, 20]
    assert by_source["nhi"][1:4] == ["国保", 20, 20]
    assert by_source["idou"][1:4] == ["住記", 0, 0]
    assert facts(document, "点検の範囲")["記録件数"] == "41 件"

    gaps = {row[0]: row for row in table(document, "開庁日に記録のない").rows}
    assert set(gaps) == {"tax", "idou"}
    assert gaps["tax"][2] == 1 and gaps["tax"][3] == "10/15（木）"
    assert gaps["idou"][2] == 20  # every open day; not the weekends, 10/12 or the town's closed 10/30
    assert "10/30" not in gaps["idou"][3] and "10/12" not in gaps["idou"][3]

    bars = next(b for b in document.sections[0].blocks if isinstance(b, Bars))
    per_day = dict(zip(bars.labels, bars.series["記録件数"], strict=True))
    assert len(per_day) == 31 and per_day["1"] == 3 and per_day["15"] == 1 and per_day["31"] == 1


def test_detection_coverage_findings_and_cases(db: Connection, conf: Settings) -> None:
    october(db, conf)
    document = _build(db, conf)

    uncovered = table(document, "検知が完了していない日").rows
    assert uncovered == [
        ["2026-10-20（火）", "未実施"],
        ["2026-10-21（水）", "未実施"],
        ["2026-10-22（木）", "一部のみ"],
    ]
    problems = table(document, "失敗・中断した検知").rows
    assert len(problems) == 1 and problems[0][3] == "一部の検知が失敗" and problems[0][4] == "D06: boom"
    detection = facts(document, "検知の実施")
    assert detection["検知の対象となった日"] == "28 日 / 31 日"
    assert detection["失敗・中断"] == "1 回"

    by_rule = {row[0]: row for row in table(document, "検知ルール・重要度別").rows}
    assert set(by_rule) == {"D01", "D04", "D06"}  # not September's D02/D13, not the other town's D05
    assert by_rule["D04"] == ["D04", "D04 の検知名", "重大", 1, 1, 0, 0]
    assert by_rule["D01"] == ["D01", "D01 の検知名", "高", 1, 0, 1, 0]
    assert by_rule["D06"] == ["D06", "D06 の検知名", "中", 1, 0, 0, 1]
    assert table(document, "検知ルール・重要度別").rows[0][0] == "D04"  # the most severe first
    violations = {row[0]: row for row in table(document, "規則別のポリシー違反").rows}
    assert violations["P04"][2:] == [2, 1]  # two October events of u1, not the September one
    assert violations["P08"][2:] == [1, 1]
    assert set(violations) == {"P04", "P08"}

    cases = {row[1].split(" ")[0]: row for row in table(document, "事案の一覧").rows}
    assert set(cases) == {"D02", "D01", "D04"}  # September's closed D13 case is not in October
    assert cases["D01"][3:7] == ["対応済", "正当業務", "時間外勤務命令あり", "未割当"]
    assert cases["D02"][4:6] == ["誤検知", "端末の時計のずれ"] and cases["D02"][8] == "2026-10-02"
    assert cases["D04"][2:5] == ["重大", "新規", "—"]
    summary = facts(document, "事案と処理結果")
    assert summary["新規に開始"] == "2 件"
    assert summary["対応済（終結）"] == "2 件（正当業務 1 件、誤検知 1 件）"
    assert summary["月末時点で未了"] == "1 件"
    assert summary["抑止されたアラート"] == "1 件"
    (suppressed,) = table(document, "抑止されたアラート").rows
    assert suppressed[1:3] == ["D06", "窓口の定例業務"] and suppressed[4] == 1

    findings = " ".join(b.text for b in document.sections[4].blocks if isinstance(b, Paragraph))
    assert "未処理の事案が 1 件あります（うち重要度が重大・高のもの 1 件）" in findings
    assert "idou、tax" in findings and "延べ 21 日" in findings
    assert "検知が完了していない日が 3 日" in findings
    assert "対応が必要な事項はありません" not in findings
    assert document.trail_detail == {"alerts": 3, "cases": 3}


def test_a_quiet_month_says_nothing_needs_doing(db: Connection, conf: Settings) -> None:
    november = month("2026-11")
    store_town(db)
    store_calendar(db, *november, {})
    add_source(db, "tax", "税務", "2026-01-01 00:00")
    frame = calendar_frame(*november)
    store_events(
        db, [event(f"{d} 10:00") for d, is_open in zip(frame["day"], frame["is_open"], strict=True) if is_open]
    )
    add_run(db, "2026-11-01 00:00", "2026-12-01 00:00")
    document = build(db, conf, ReportRequest("monthly", CODE, *november), "tester")
    findings = [b.text for b in document.sections[4].blocks if isinstance(b, Paragraph)]
    assert len(findings) == 1 and "対応が必要な事項はありません" in findings[0], findings
    assert table(document, "開庁日に記録のない").rows == []
    assert table(document, "検知が完了していない日").rows == []


def test_every_format_renders_with_figures_as_numbers(db: Connection, conf: Settings) -> None:
    october(db, conf)
    document = _build(db, conf)
    assert render(document, "pdf").startswith(b"%PDF")
    numbers = xlsx_numbers(render(document, "xlsx"))
    assert 21 in numbers and 20 in numbers  # the tax and nhi counts, as numbers
    html = render(document, "html").decode("utf-8")
    assert "アクセスログ点検記録" in html and "10/15（木）" in html


def test_the_command_writes_the_record_and_the_trail(
    engine: Engine, settings: Settings, env_for_cli: dict[str, str], tmp_path: Path
) -> None:
    with engine.begin() as conn:
        october(conn, settings)
    out = tmp_path / "monthly.html"
    done = auditd(env_for_cli, "report", "monthly", "--month", "2026-10", "--format", "html", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    html = out.read_text(encoding="utf-8")
    for heading in (
        "アクセスログ点検記録",
        "2026年10月分",
        "点検の範囲",
        "検知の実施",
        "検知結果",
        "事案と処理結果",
        "所見",
        "点検者",
        "時間外勤務命令あり",
    ):
        assert heading in html, heading
    with engine.connect() as conn:
        trail = table_of(TrailEntry)
        (detail,) = conn.execute(select(trail.c.detail).where(trail.c.action == "report.generate")).scalars()
    assert '"alerts": 3' in detail and '"kind": "monthly"' in detail

    xlsx = tmp_path / "monthly.xlsx"
    assert auditd(env_for_cli, "report", "monthly", "-m", "2026-10", "-f", "xlsx", "-o", str(xlsx)).returncode == 0
    assert 21 in xlsx_numbers(xlsx.read_bytes())
