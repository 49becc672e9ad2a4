"""The annual self-inspection report (自己点検結果報告書) for one fiscal year.

It follows the outline in DOMAIN.md and computes every figure from the store. Event figures come from
the rollups maintained at ingest (``event_hours``, ``account_days``), never from a scan of the year's
raw events, so a year of a large city is reported in seconds; alerts, cases, grants and accounts are
small tables read directly. Items no log can show (physical measures, training, audits) are stated as
such, to be answered by attestation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Connection, func, select

from auditd.alerts.models import SEVERITY_JA, Alert, DetectionRun
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.cases.models import CONFIRMED, DISPOSITION_JA, STATUS_JA, BreachReport, Case
from auditd.decisions.models import Violation
from auditd.events import rollup
from auditd.events.models import Source
from auditd.reference.models import Account, CalendarDay, Grant, Staff
from auditd.reports import repository as reports_repo
from auditd.reports.models import ATTESTATION_ITEMS, ATTESTATION_RESULTS, PIA_KINDS
from auditd.rights import service as rights
from auditd.settings import Settings
from auditd.store import bulk
from auditd.store.base import table_of
from policies.rules import BY_KEY
from reports.base import ReportRequest, municipality_name, reiwa
from reports.document import (
    DONE,
    NOT_DONE,
    PARTLY,
    Bars,
    Document,
    Facts,
    Heatmap,
    Paragraph,
    Section,
    Table,
    figure,
    percent,
)

JST = ZoneInfo("Asia/Tokyo")
WEEKDAYS = ["月", "火", "水", "木", "金", "土", "日"]
OUTPUT_ACTIONS = ("print", "export")
MEDIA_ACTIONS = ("media_write", "file_copy")
LOOKUP_ACTIONS = ("view", "search", "show_mynumber", "print", "export", "link_inquiry")
SIGN_OFF = ["点検者", "保護責任者", "最高情報セキュリティ責任者（CISO）"]
UNATTESTED = "未確認（証跡の登録待ち）"
UNCONFIRMED = "未確認"
HUMAN_ITEMS = ("training",)
PHYSICAL_ITEMS = ("physical_entry", "physical_devices")
AUDIT_ITEMS = ("audit_internal", "audit_external", "previous_findings")
#: What the report needs of the events besides time: everything but the day and the hour.
MIX = ("system", "source", "jimu", "action", "result", "factors")
FINISHED = ("finished",)  # a detection run that covered its window (a partial one did not)


@dataclass
class Year:
    """What the report reads, loaded once: the rollups and the small tables of the fiscal year."""

    request: ReportRequest
    hours: pd.DataFrame  # the year's events by system, source, 事務, action, result and factors (no time)
    daily: pd.DataFrame  # events by day and system
    hourly: pd.DataFrame  # events by day and hour
    activity: pd.DataFrame  # per account: days active, events, the last day with a successful login
    alerts: pd.DataFrame
    cases: pd.DataFrame
    breaches: pd.DataFrame
    violations: pd.DataFrame  # rule, events (distinct) per rule
    violating_events: int
    runs: pd.DataFrame
    sources: pd.DataFrame
    open_days: list[date]
    accounts: pd.DataFrame
    grants: pd.DataFrame
    staff: pd.DataFrame
    monthly_reviews: set[str]  # YYYY-MM of months with a monthly review record made
    attestations: dict[str, dict[str, Any]]  # item → the latest attestation of the fiscal year
    pias: list[dict[str, Any]]  # the PIA register (active 評価書)

    def attested(self, *items: str) -> list[tuple[str, str]]:
        """Label → answer of attestation items, or 未確認 where none was given."""
        rows = []
        for item in items:
            found = self.attestations.get(item)
            label = ATTESTATION_ITEMS.get(item, item)
            if found is None:
                rows.append((label, UNATTESTED))
                continue
            answer = ATTESTATION_RESULTS.get(str(found["result"]), str(found["result"]))
            parts = [answer, str(found.get("statement") or "").strip()]
            if found.get("evidence_name"):
                parts.append(f"証跡: {found['evidence_name']}（SHA-256 {str(found['evidence_sha256'])[:16]}…）")
            parts.append(f"{found['attested_by']} {_jst_day(found['attested_at'])}")
            rows.append((label, "\n".join(p for p in parts if p)))
        return rows

    @property
    def events(self) -> int:
        return int(self.hours["events"].sum()) if len(self.hours) else 0

    def action_total(self, actions: Iterable[str], column: str = "events") -> int:
        if self.hours.empty:
            return 0
        return int(self.hours.loc[self.hours["action"].isin(list(actions)), column].sum())


def _bounds(request: ReportRequest) -> tuple[datetime, datetime]:
    start = datetime.combine(request.start, time(0), tzinfo=JST).astimezone(UTC)
    end = datetime.combine(request.end + timedelta(days=1), time(0), tzinfo=JST).astimezone(UTC)
    return start, end


def _frame(connection: Connection, statement: Any, columns: list[str]) -> pd.DataFrame:
    return bulk.read_frame(connection, statement, columns)


def load(connection: Connection, request: ReportRequest) -> Year:
    code = request.municipality_code
    start, end = _bounds(request)
    alerts_t, cases_t = table_of(Alert), table_of(Case)
    alerts = pd.DataFrame(
        connection.execute(
            select(alerts_t.c.id, alerts_t.c.rule, alerts_t.c.title, alerts_t.c.severity, alerts_t.c.start)
            .add_columns(alerts_t.c.status, alerts_t.c.case_id)
            .where(alerts_t.c.municipality_code == code, alerts_t.c.start >= start, alerts_t.c.start < end)
        ).all(),
        columns=["id", "rule", "title", "severity", "start", "status", "case_id"],
    )
    cases = pd.DataFrame(
        connection.execute(
            select(
                cases_t.c.id,
                cases_t.c.title,
                cases_t.c.severity,
                cases_t.c.status,
                cases_t.c.disposition,
                cases_t.c.section,
                cases_t.c.assignee,
                cases_t.c.opened_at,
                cases_t.c.closed_at,
            ).where(
                cases_t.c.municipality_code == code,
                cases_t.c.first_start < end,
                cases_t.c.last_end >= start,
            )
        ).all(),
        columns=["id", "title", "severity", "status", "disposition", "section", "assignee", "opened_at", "closed_at"],
    )
    breach_t = table_of(BreachReport)
    breaches = pd.DataFrame(
        connection.execute(
            select(
                breach_t.c.case_id,
                breach_t.c.reportable,
                breach_t.c.preliminary_due,
                breach_t.c.final_due,
                breach_t.c.preliminary_reported_at,
                breach_t.c.final_reported_at,
            ).where(breach_t.c.municipality_code == code, breach_t.c.opened_at >= start, breach_t.c.opened_at < end)
        ).all(),
        columns=["case_id", "reportable", "preliminary_due", "final_due", "preliminary_at", "final_at"],
    )
    viol_t = table_of(Violation)
    in_year = (viol_t.c.municipality_code == code, viol_t.c.ts >= start, viol_t.c.ts < end)
    violations = pd.DataFrame(
        connection.execute(
            select(viol_t.c.rule, func.count(func.distinct(viol_t.c.event_id))).where(*in_year).group_by(viol_t.c.rule)
        ).all(),
        columns=["rule", "events"],
    )
    distinct_events = select(viol_t.c.event_id).where(*in_year).distinct().subquery()
    violating = int(connection.execute(select(func.count()).select_from(distinct_events)).scalar_one())
    runs_t = table_of(DetectionRun)
    runs = pd.DataFrame(
        connection.execute(
            select(runs_t.c.window_start, runs_t.c.window_end, runs_t.c.status).where(
                runs_t.c.municipality_code == code, runs_t.c.window_end > start, runs_t.c.window_start < end
            )
        ).all(),
        columns=["window_start", "window_end", "status"],
    )
    src_t = table_of(Source)
    sources = pd.DataFrame(
        connection.execute(
            select(src_t.c.name, src_t.c.system, src_t.c.last_event_ts, src_t.c.expected_max_silence_hours).where(
                src_t.c.municipality_code == code
            )
        ).all(),
        columns=["name", "system", "last_event_ts", "expected_max_silence_hours"],
    )
    cal_t = table_of(CalendarDay)
    open_days = [
        row[0]
        for row in connection.execute(
            select(cal_t.c.day).where(
                cal_t.c.municipality_code == code,
                cal_t.c.is_open.is_(True),
                cal_t.c.day >= request.start,
                cal_t.c.day <= request.end,
            )
        )
    ]
    acc_t, grant_t, staff_t = table_of(Account), table_of(Grant), table_of(Staff)
    accounts = pd.DataFrame(
        connection.execute(
            select(acc_t.c.user_id, acc_t.c.staff_id, acc_t.c.kind, acc_t.c.created_on, acc_t.c.disabled_on).where(
                acc_t.c.municipality_code == code
            )
        ).all(),
        columns=["user_id", "staff_id", "kind", "created_on", "disabled_on"],
    )
    grants = pd.DataFrame(
        connection.execute(
            select(
                grant_t.c.id,
                grant_t.c.user_id,
                grant_t.c.role,
                grant_t.c.valid_from,
                grant_t.c.valid_to,
                grant_t.c.status,
                grant_t.c.ended_on,
            ).where(grant_t.c.municipality_code == code)
        ).all(),
        columns=["id", "user_id", "role", "valid_from", "valid_to", "status", "ended_on"],
    )
    staff = pd.DataFrame(
        connection.execute(
            select(
                staff_t.c.staff_id,
                staff_t.c.employment,
                staff_t.c.contractor,
                staff_t.c.pledge_date,
                staff_t.c.retired_on,
            ).where(staff_t.c.municipality_code == code)
        ).all(),
        columns=["staff_id", "employment", "contractor", "pledge_date", "retired_on"],
    )
    reviews = {
        f"{row['period_start']:%Y-%m}"
        for row in reports_repo.runs(connection, code, kinds=("monthly",), limit=10_000)
        if request.start <= row["period_start"] <= request.end
    }
    return Year(
        request=request,
        hours=rollup.hour_totals(connection, code, request.start, request.end, MIX),
        daily=rollup.hour_totals(connection, code, request.start, request.end, ("day", "system")),
        hourly=rollup.hour_totals(connection, code, request.start, request.end, ("day", "hour")),
        activity=rollup.account_activity(connection, code, request.start, request.end),
        alerts=alerts,
        cases=cases,
        breaches=breaches,
        violations=violations,
        violating_events=violating,
        runs=runs,
        sources=sources,
        open_days=open_days,
        accounts=accounts,
        grants=grants,
        staff=staff,
        monthly_reviews=reviews,
        attestations=reports_repo.attestations_for(connection, code, request.start.year),
        pias=reports_repo.pia_register(connection, code),
    )


# ---------------------------------------------------------------- figures


def _months(request: ReportRequest) -> list[str]:
    months, day = [], request.start.replace(day=1)
    while day <= request.end:
        months.append(f"{day:%Y-%m}")
        day = (day + timedelta(days=32)).replace(day=1)
    return months


def _gap_days(year: Year) -> pd.DataFrame:
    """Per system: open days (開庁日) of the year, up to the last rollup day, on which it sent nothing."""
    if year.daily.empty or not year.open_days:
        return pd.DataFrame(columns=["system", "days", "gaps", "first_gap"])
    last_seen = max(year.daily["day"])
    open_days = [d for d in year.open_days if d <= last_seen]
    rows = []
    for system, part in year.daily.groupby("system"):
        seen = set(part["day"])
        first = min(part["day"])
        missing = sorted(d for d in open_days if d >= first and d not in seen)
        rows.append([system, len(seen), len(missing), missing[0].isoformat() if missing else "—"])
    return pd.DataFrame(rows, columns=["system", "days", "gaps", "first_gap"])


def _uncovered_days(year: Year) -> int:
    """Days with recorded events that no finished detection run covered."""
    if year.daily.empty:
        return 0
    covered: set[date] = set()
    done = year.runs[year.runs["status"].isin(FINISHED)] if len(year.runs) else year.runs
    for first, last in zip(done.get("window_start", []), done.get("window_end", []), strict=False):
        day = _jst_day(first)
        # a window ends at midnight: the day it ends on is not covered
        stop = _jst_day(pd.Timestamp(last) - pd.Timedelta(microseconds=1))
        while day <= stop:
            covered.add(day)
            day += timedelta(days=1)
    return sum(1 for d in set(year.daily["day"]) if d not in covered)


def _jst_day(value: Any) -> date:
    instant = pd.Timestamp(value)
    if instant.tzinfo is None:
        instant = instant.tz_localize(UTC)
    return instant.tz_convert(JST).date()


def _two_factor(hours: pd.DataFrame) -> pd.DataFrame:
    """Successful logins per system and how many used two or more factors."""
    logins = hours[(hours["action"] == "login") & (hours["result"] == "success")] if len(hours) else hours
    if logins.empty:
        return pd.DataFrame(columns=["system", "logins", "two_factor"])
    strong = logins["factors"].fillna("").map(lambda f: len({x for x in str(f).split(",") if x.strip()}) >= 2)
    frame = logins.assign(two=logins["events"].where(strong, 0))
    return frame.groupby("system", as_index=False).agg(logins=("events", "sum"), two_factor=("two", "sum"))


def _lag(connection: Connection, settings: Settings, request: ReportRequest, actor: str) -> tuple[Any, list[float]]:
    principal = Principal(None, actor, actor, PlatformRole.OFFICER, request.municipality_code)
    lag = rights.revocation_lag(connection, settings, principal, today=request.end)
    in_year = [g.lag_days for g in lag.grants if request.start <= g.effective_on <= request.end]
    return lag.summary, in_year


def _rows(frame: pd.DataFrame) -> list[Any]:
    """A frame's rows as named tuples (typed loosely: the columns are known by name)."""
    return list(frame.itertuples(index=False))


def _status(ok: bool, some: bool = False) -> str:
    return DONE if ok else (PARTLY if some else NOT_DONE)


# ---------------------------------------------------------------- the document


def build(connection: Connection, settings: Settings, request: ReportRequest, actor: str) -> Document:
    """The report for ``request`` (its start and end are the fiscal year's 1 April and 31 March)."""
    year = load(connection, request)
    fiscal = request.start.year
    doc = Document(
        kind="annual",
        title="自己点検結果報告書",
        subtitle=f"{reiwa(fiscal)}（{fiscal}年度）特定個人情報の取扱い",
        municipality_code=request.municipality_code,
        municipality_name=municipality_name(connection, request.municipality_code),
        period_start=request.start,
        period_end=request.end,
        generated_at=datetime.now(UTC),
        generated_by=actor,
        sign_off=list(SIGN_OFF),
    )
    summary = doc.section("概要")
    lag_summary, lags = _lag(connection, settings, request, actor)
    gaps = _gap_days(year)
    factors = _two_factor(year.hours)
    items = _items(year, gaps, factors, lags)
    findings = _findings(year, gaps, factors, lags)
    summary.add(
        Facts(
            [
                ("対象年度", f"{reiwa(fiscal)}（{request.start:%Y年%m月%d日}〜{request.end:%Y年%m月%d日}）"),
                ("記録された操作", figure(year.events, " 件")),
                ("アラート", figure(len(year.alerts), " 件")),
                ("事案", figure(len(year.cases), " 件")),
                (
                    "点検項目の結果",
                    "、".join(f"{k} {v} 項目" for k, v in pd.Series([i[1] for i in items]).value_counts().items()),
                ),
                ("是正を要する事項", figure(len(findings), " 件")),
            ]
        ),
        Table(["点検項目", "結果", "根拠"], [list(i) for i in items], title="点検項目ごとの結果", widths=(3, 1, 6)),
        Paragraph(_key_findings(findings)),
    )
    _scope(doc.section("対象範囲"), year)
    _organisational(doc.section("組織的安全管理措置（記録・分析・事案対応）"), year, gaps)
    doc.section("人的安全管理措置").add(
        Paragraph("研修の実施と受講状況は、ダッシュボードで登録した回答と証跡によります。"),
        Facts(year.attested(*HUMAN_ITEMS)),
    )
    doc.section("物理的安全管理措置").add(
        Paragraph("入退室管理、端末・媒体の保管などはログで確認できないため、登録した回答と証跡によります。"),
        Facts(year.attested(*PHYSICAL_ITEMS)),
    )
    _technical(doc.section("技術的安全管理措置"), year, factors, lag_summary, lags)
    _contractors(doc.section("委託先の監督"), year)
    _pia(doc.section("評価書（PIA）との整合性"), year, gaps, factors, lags)
    doc.section("監査").add(
        Paragraph("内部監査・外部監査の結果と前年度指摘事項のフォローアップは、登録した回答と証跡によります。"),
        Facts(year.attested(*AUDIT_ITEMS)),
    )
    doc.section("所見と是正計画").add(
        Table(
            ["所見", "重要度", "担当", "期限", "状態"],
            findings,
            widths=(6, 1, 1.5, 1.5, 1),
            empty="是正を要する事項はありません。",
        )
    )
    _ppc(doc.section("個人情報保護委員会への定期的な報告（事務別）"), year)
    doc.trail_detail = {"events": year.events, "alerts": len(year.alerts), "cases": len(year.cases)}
    return doc


def _items(year: Year, gaps: pd.DataFrame, factors: pd.DataFrame, lags: list[float]) -> list[tuple[str, str, str]]:
    months = _months(year.request)
    reviewed = len(year.monthly_reviews)
    live = int((gaps["days"] > 0).sum()) if len(gaps) else 0
    gap_total = int(gaps["gaps"].sum()) if len(gaps) else 0
    open_cases = int((year.cases["status"] != "closed").sum()) if len(year.cases) else 0
    logins = int(factors["logins"].sum()) if len(factors) else 0
    strong = int(factors["two_factor"].sum()) if len(factors) else 0
    late = sum(1 for lag in lags if lag > 1.0)
    return [
        (
            "アクセス記録の取得",
            _status(live > 0 and gap_total == 0, live > 0),
            f"記録のある系統 {live}、欠測日 {gap_total}",
        ),
        (
            "記録の定期的な点検",
            _status(reviewed >= len(months), reviewed > 0),
            f"月次点検記録 {reviewed}/{len(months)} か月",
        ),
        (
            "検知結果への対応",
            _status(open_cases == 0, len(year.cases) > 0),
            f"事案 {len(year.cases)} 件のうち未完了 {open_cases} 件",
        ),
        ("二要素認証", _status(logins > 0 and strong == logins, strong > 0), f"ログイン {percent(strong, logins)}"),
        ("異動・退職時の権限失効", _status(late == 0, len(lags) > late), f"失効 {len(lags)} 件のうち 1 日超 {late} 件"),
        _attested_item(year),
    ]


def _attested_item(year: Year) -> tuple[str, str, str]:
    """The items answered by attestation, as one line: done when every item is, 未確認 when none was."""
    items = (*HUMAN_ITEMS, *PHYSICAL_ITEMS, *AUDIT_ITEMS, "contractor_check")
    results = [str(year.attestations[i]["result"]) for i in items if i in year.attestations]
    answered = f"回答 {len(results)}/{len(items)} 項目"
    if not results:
        return ("研修・物理的措置・監査", UNCONFIRMED, "証跡による回答待ち")
    if len(results) == len(items) and all(r in ("done", "not_applicable") for r in results):
        return ("研修・物理的措置・監査", DONE, answered)
    return ("研修・物理的措置・監査", PARTLY if "done" in results else NOT_DONE, answered)


def _findings(year: Year, gaps: pd.DataFrame, factors: pd.DataFrame, lags: list[float]) -> list[list[Any]]:
    """Things to correct, each from the data: confirmed cases, gaps in recording and review, weak logins."""
    rows: list[list[Any]] = []
    if len(year.cases):
        confirmed = year.cases[year.cases["disposition"].isin(CONFIRMED)]
        for case in _rows(confirmed):
            label = DISPOSITION_JA.get(str(case.disposition), str(case.disposition))
            rows.append(
                [
                    f"事案 #{case.id}（{label}）: {case.title}",
                    SEVERITY_JA.get(case.severity, case.severity),
                    case.assignee or "未割当",
                    "—",
                    STATUS_JA.get(case.status, case.status),
                ]
            )
        still_open = year.cases[year.cases["status"] != "closed"]
        if len(still_open):
            rows.append([f"未完了の事案が {len(still_open)} 件あります", "中", "保護責任者", "—", "未完了"])
    for gap in _rows(gaps) if len(gaps) else []:
        if gap.gaps:
            rows.append(
                [
                    f"{gap.system} の記録が開庁日 {gap.gaps} 日欠測（最初 {gap.first_gap}）",
                    "高",
                    "システム所管課",
                    "—",
                    "未完了",
                ]
            )
    missing = len(_months(year.request)) - len(year.monthly_reviews)
    if missing > 0:
        rows.append([f"月次のアクセスログ点検記録が {missing} か月分ありません", "中", "保護責任者", "—", "未完了"])
    for row in _rows(factors) if len(factors) else []:
        if row.two_factor < row.logins:
            weak = int(row.logins - row.two_factor)
            rows.append([f"{row.system} で二要素でないログインが {weak:,} 件", "高", "システム所管課", "—", "未完了"])
    late = sum(1 for lag in lags if lag > 1.0)
    if late:
        rows.append([f"異動・退職後 1 日を超えて失効した権限が {late} 件", "中", "人事・所属長", "—", "未完了"])
    for pia in year.pias:
        state = _pia_state(pia, year.request.end)
        if state != "期限内":
            rows.append(
                [f"評価書「{pia['title']}」: {state}", "中", "保護責任者", _text_day(pia["review_due"]), "未完了"]
            )
    return rows


def _key_findings(findings: list[list[Any]]) -> str:
    if not findings:
        return "ログから確認できる範囲で、是正を要する事項はありませんでした。"
    head = "、".join(str(row[0]) for row in findings[:3])
    more = f"ほか {len(findings) - 3} 件" if len(findings) > 3 else ""
    return f"主な所見: {head}{more}。詳細は「所見と是正計画」を参照してください。"


def _scope(section: Section, year: Year) -> None:
    hours = year.hours
    by_system = (
        hours.groupby(["system"], as_index=False)
        .agg(events=("events", "sum"), sources=("source", "nunique"), jimu=("jimu", "nunique"))
        .sort_values("events", ascending=False)
        if len(hours)
        else pd.DataFrame(columns=["system", "events", "sources", "jimu"])
    )
    section.add(
        Table(
            ["システム", "操作件数", "ログ取得元", "事務の数"],
            by_system[["system", "events", "sources", "jimu"]].values.tolist(),
            title="システムとログ取得元",
            numeric=(1, 2, 3),
        )
    )
    jimu = (
        hours[hours["jimu"] != ""]
        .groupby("jimu", as_index=False)
        .agg(events=("events", "sum"))
        .sort_values("events", ascending=False)
        if len(hours)
        else pd.DataFrame(columns=["jimu", "events"])
    )
    section.add(Table(["事務", "操作件数"], jimu.values.tolist(), title="事務", numeric=(1,)))
    sources = year.sources.assign(
        last=year.sources["last_event_ts"].map(
            lambda t: (
                ""
                if t is None or pd.isna(t)
                else pd.Timestamp(t).tz_convert(JST).strftime("%Y-%m-%d %H:%M")
                if pd.Timestamp(t).tzinfo
                else str(t)
            )
        )
    )
    section.add(
        Table(
            ["ログ取得元", "システム", "最終受信"],
            sources[["name", "system", "last"]].values.tolist(),
            title="登録されたログ取得元",
        ),
        _pia_register(year),
    )


def _pia_state(pia: dict[str, Any], as_of: date) -> str:
    """Where a PIA stands on ``as_of`` (規則第15条: reviewed yearly, re-assessed within five years)."""
    late = []
    if pia["review_due"] is not None and pia["review_due"] < as_of:
        late.append(f"見直し期限超過（{pia['review_due']}）")
    if pia["reassessment_due"] is not None and pia["reassessment_due"] < as_of:
        late.append(f"再評価期限超過（{pia['reassessment_due']}）")
    return "、".join(late) or "期限内"


def _pia_register(year: Year) -> Table:
    rows = [
        [
            p["title"],
            p["jimu"],
            PIA_KINDS.get(str(p["kind"]), str(p["kind"])),
            _text_day(p["published_on"]),
            _text_day(p["last_reviewed_on"]),
            _text_day(p["review_due"]),
            _text_day(p["reassessment_due"]),
            _pia_state(p, year.request.end),
        ]
        for p in year.pias
    ]
    return Table(
        ["評価書", "事務", "種類", "公表日", "直近の見直し", "見直し期限", "再評価期限", f"{year.request.end} 時点"],
        rows,
        title="特定個人情報保護評価書（台帳）",
        widths=(3, 1.5, 1.2, 1.2, 1.2, 1.2, 1.2, 2),
        empty="評価書台帳に登録がありません（auditd pia add または ダッシュボードのレポート画面で登録）。",
    )


def _text_day(value: Any) -> str:
    return "—" if value is None or (not isinstance(value, date) and pd.isna(value)) else str(value)


def _organisational(section: Section, year: Year, gaps: pd.DataFrame) -> None:
    request = year.request
    hours = year.hours
    masked = int(hours["masked"].sum()) if len(hours) else 0
    section.add(
        Facts(
            [
                ("記録された操作", figure(year.events, " 件")),
                ("記録のあった日数", figure(year.daily["day"].nunique() if len(year.daily) else 0, " 日")),
                ("開庁日のうち記録が欠けた日（延べ）", figure(int(gaps["gaps"].sum()) if len(gaps) else 0, " 日")),
                ("取込時に個人番号を伏字化した記録", figure(masked, " 件（記録に個人番号は保存されていません）")),
            ],
            title="アクセス記録の取得と保存",
        ),
        Table(
            ["システム", "記録のあった日", "開庁日の欠測", "最初の欠測日"],
            gaps.values.tolist(),
            title="欠測（開庁日に記録がない日）",
            numeric=(1, 2),
        ),
    )
    months = _months(request)
    done = year.runs[year.runs["status"].isin(FINISHED)] if len(year.runs) else year.runs
    section.add(
        Facts(
            [
                ("検知の実行", figure(len(done), " 回")),
                ("記録のある日のうち検知が実行されなかった日", figure(_uncovered_days(year), " 日")),
                ("月次点検記録", f"{len(year.monthly_reviews)} / {len(months)} か月"),
                ("未作成の月", "、".join(m for m in months if m not in year.monthly_reviews) or "なし"),
            ],
            title="記録の分析（点検）",
        )
    )
    alerts = year.alerts
    per_month = (
        alerts.assign(month=pd.to_datetime(alerts["start"], utc=True).dt.tz_convert(JST).dt.strftime("%Y-%m"))
        .groupby("month")
        .size()
        if len(alerts)
        else pd.Series(dtype=int)
    )
    section.add(Bars("アラートの月別推移", months, {"アラート": [float(per_month.get(m, 0)) for m in months]}))
    by_rule = (
        alerts.groupby(["rule", "title"], as_index=False).size().sort_values("rule")
        if len(alerts)
        else pd.DataFrame(columns=["rule", "title", "size"])
    )
    section.add(
        Table(
            ["検知", "内容", "件数"],
            by_rule.values.tolist(),
            title="検知ごとのアラート",
            numeric=(2,),
            widths=(1, 6, 1),
        )
    )
    cases = year.cases
    dispositions = cases["disposition"].fillna("").value_counts() if len(cases) else pd.Series(dtype=int)
    section.add(
        Facts(
            [
                ("事案", figure(len(cases), " 件")),
                ("対応済", figure(int((cases["status"] == "closed").sum()) if len(cases) else 0, " 件")),
                ("未完了", figure(int((cases["status"] != "closed").sum()) if len(cases) else 0, " 件")),
                *[
                    (f"処理結果: {DISPOSITION_JA[d]}", figure(int(dispositions.get(d, 0)), " 件"))
                    for d in DISPOSITION_JA
                ],
            ],
            title="事案の対応",
        )
    )
    breaches = year.breaches
    rows = []
    for b in _rows(breaches) if len(breaches) else []:
        rows.append(
            [
                f"#{b.case_id}",
                "要" if b.reportable else "不要",
                str(b.preliminary_due),
                _on_time(b.preliminary_at, b.preliminary_due),
                str(b.final_due),
                _on_time(b.final_at, b.final_due),
            ]
        )
    section.add(
        Table(
            ["事案", "報告", "速報期限", "速報", "確報期限", "確報"],
            rows,
            title="漏えい等報告の期限",
            empty="漏えい等報告の対象となった事案はありません。",
        )
    )


def _on_time(done: Any, due: date) -> str:
    if done is None or pd.isna(done):
        return "未報告"
    day = _jst_day(done)
    return f"{day}（{'期限内' if day <= due else '期限超過'}）"


def _technical(section: Section, year: Year, factors: pd.DataFrame, lag_summary: Any, lags: list[float]) -> None:
    events = year.events
    section.add(
        Facts(
            [
                ("照会・出力などの操作", figure(year.action_total(LOOKUP_ACTIONS), " 件")),
                ("ポリシー違反と判定された操作", figure(year.violating_events, " 件")),
                ("権限の範囲内の操作の割合", percent(events - year.violating_events, events)),
            ],
            title="アクセス制御",
        ),
        Table(
            ["規則", "内容", "違反した操作"],
            _violation_rows(year.violations),
            title="ポリシー違反（規則別）",
            numeric=(2,),
            widths=(1, 6, 1.5),
            empty="違反はありません。",
        ),
    )
    rows = [[r.system, int(r.logins), int(r.two_factor), percent(r.two_factor, r.logins)] for r in _rows(factors)]
    alerts = year.alerts
    shared = int(alerts["rule"].isin(["D10", "D11"]).sum()) if len(alerts) else 0
    temporary = int((year.accounts["kind"] == "temporary").sum()) if len(year.accounts) else 0
    section.add(
        Table(["システム", "ログイン", "二要素", "割合"], rows, title="識別と認証（二要素認証の適用）", numeric=(1, 2)),
        Facts(
            [
                ("共用・なりすましの疑い（D10・D11）", figure(shared, " 件")),
                ("臨時アカウント", figure(temporary, " 件")),
            ]
        ),
    )
    request = year.request
    grants = year.grants
    issued = int(grants["valid_from"].between(request.start, request.end).sum()) if len(grants) else 0
    ended = int(grants["ended_on"].dropna().between(request.start, request.end).sum()) if len(grants) else 0
    active = grants[grants["status"] == "active"] if len(grants) else grants
    no_expiry = int(active["valid_to"].isna().sum()) if len(active) else 0
    privileged = int((year.accounts["kind"] == "admin").sum()) if len(year.accounts) else 0
    dormant = _dormant(year)
    section.add(
        Facts(
            [
                ("付与した権限", figure(issued, " 件")),
                ("停止・失効した権限", figure(ended, " 件")),
                ("失効までの日数（中央値）", figure(pd.Series(lags).median() if lags else None, " 日")),
                ("失効までの日数（最大）", figure(max(lags) if lags else None, " 日")),
                ("失効が未処理の権限（現時点）", figure(lag_summary.flagged_open, " 件")),
                ("休眠アカウント（90日ログインなし）", figure(dormant, " 件")),
                ("期限のない有効な権限", figure(no_expiry, " 件")),
                ("特権アカウント", figure(privileged, " 件")),
            ],
            title="権限の管理",
        ),
    )
    if lags:
        labels = ["当日", "1日", "2–7日", "8–30日", "31日超"]
        section.add(Bars("失効までの日数の分布", labels, {"権限": _lag_buckets(lags)}, unit="件"))
    else:
        section.add(Paragraph("この年度に異動・退職などで停止・失効した権限はありません。"))
    outputs = year.hours[year.hours["action"].isin(OUTPUT_ACTIONS)] if len(year.hours) else year.hours
    section.add(
        Facts(
            [
                ("印刷・データ出力", figure(int(outputs["events"].sum()) if len(outputs) else 0, " 件")),
                ("出力された住民（延べ）", figure(int(outputs["subjects"].sum()) if len(outputs) else 0, " 人")),
                ("外部媒体への書き込み・ファイル複製", figure(year.action_total(MEDIA_ACTIONS), " 件")),
                ("大量出力の検知（D14）", figure(int((alerts["rule"] == "D14").sum()) if len(alerts) else 0, " 件")),
            ],
            title="漏えい防止",
        ),
        _heatmap(year.hourly),
    )


def _violation_rows(violations: pd.DataFrame) -> list[list[Any]]:
    rows = []
    for rule, count in zip(violations.get("rule", []), violations.get("events", []), strict=False):
        known = BY_KEY.get(str(rule))
        rows.append([known.code if known else str(rule), known.title_ja if known else str(rule), int(count)])
    return sorted(rows)


def _lag_buckets(lags: list[float]) -> list[float]:
    edges = [(0, 1), (1, 2), (2, 8), (8, 31), (31, float("inf"))]
    return [float(sum(1 for lag in lags if low <= lag < high)) for low, high in edges]


def _dormant(year: Year) -> int:
    """Accounts in use at the end of the year with no successful login in its last 90 days."""
    if year.accounts.empty:
        return 0
    since = year.request.end - timedelta(days=89)
    active = year.activity
    recent = set(active.loc[active["last_login"].notna() & (active["last_login"] >= since), "user_id"])
    in_use = year.accounts[year.accounts["disabled_on"].isna() | (year.accounts["disabled_on"] > year.request.end)]
    return int((~in_use["user_id"].isin(recent)).sum())


def _heatmap(hours: pd.DataFrame) -> Heatmap:
    values = [[0.0] * 24 for _ in WEEKDAYS]
    if len(hours):
        weekday = pd.to_datetime(hours["day"]).dt.day_of_week
        grid = hours.assign(weekday=weekday).groupby(["weekday", "hour"])["events"].sum()
        for key, count in grid.items():
            day, hour = cast(tuple[int, int], key)
            values[int(day)][int(hour)] = float(count)
    return Heatmap("曜日・時間帯別の操作件数", WEEKDAYS, [str(h) for h in range(24)], values)


def _contractors(section: Section, year: Year) -> None:
    staff = year.staff[year.staff["employment"] == "contractor"] if len(year.staff) else year.staff
    accounts = year.accounts[year.accounts["staff_id"].isin(staff["staff_id"])] if len(staff) else year.accounts[:0]
    per_account = year.activity[["user_id", "days", "events"]]
    by_staff = accounts.merge(staff, on="staff_id").merge(per_account, on="user_id", how="left")
    rows = [
        [
            r.contractor or "—",
            r.user_id,
            "有" if r.pledge_date is not None and not pd.isna(r.pledge_date) else "無",
            int(0 if pd.isna(r.days) else r.days),
            int(0 if pd.isna(r.events) else r.events),
        ]
        for r in _rows(by_staff)
    ]
    no_pledge = sum(1 for r in rows if r[2] == "無")
    section.add(
        Facts(
            [
                ("委託先の作業者", figure(len(staff), " 人")),
                ("委託先のアカウント", figure(len(accounts), " 件")),
                ("誓約書の提出がない作業者のアカウント", figure(no_pledge, " 件")),
                *year.attested("contractor_check"),
            ]
        ),
        Table(
            ["委託先", "アカウント", "誓約書", "作業日数", "操作件数"],
            rows,
            title="委託先アカウントの活動",
            numeric=(3, 4),
            empty="委託先のアカウントはありません。",
        ),
    )


def _pia(section: Section, year: Year, gaps: pd.DataFrame, factors: pd.DataFrame, lags: list[float]) -> None:
    alerts = year.alerts

    def count(*rules: str) -> int:
        return int(alerts["rule"].isin(rules).sum()) if len(alerts) else 0

    logins = int(factors["logins"].sum()) if len(factors) else 0
    strong = int(factors["two_factor"].sum()) if len(factors) else 0
    gap_total = int(gaps["gaps"].sum()) if len(gaps) else 0
    late = sum(1 for lag in lags if lag > 1.0)
    controls = [
        (
            "個人ごとにユーザIDを発行し、共用IDは発行しない",
            f"共用・なりすましの疑い {count('D10', 'D11')} 件",
            count("D10", "D11"),
        ),
        (
            "異動・退職時に速やかにIDを失効",
            f"失効 {len(lags)} 件、1 日超 {late} 件、異動・退職後の利用 {count('D13')} 件",
            late + count("D13"),
        ),
        (
            "二要素認証",
            f"ログインの {percent(strong, logins)} が二要素、要素不足 {count('D12')} 件",
            logins - strong + count("D12"),
        ),
        ("登録された端末のみ使用", f"未登録端末 {count('D19')} 件、他所属の端末 {count('D11')} 件", count("D19")),
        (
            "アクセスログを記録し定期的に解析",
            f"欠測 {gap_total} 日、月次点検 {len(year.monthly_reviews)} か月、停止した取得元 {count('D18')} 件",
            gap_total + count("D18"),
        ),
        (
            "業務外・目的外の使用の禁止",
            f"権限外 {count('D02')} 件、案件なし {count('D03')} 件、本人・親族 {count('D04')} 件",
            count("D02", "D03", "D04"),
        ),
        ("個人番号は利用事務実施者のみ参照", f"権限外の個人番号表示 {count('D20')} 件", count("D20")),
        ("データ出力は事前に承認", f"承認のない大量出力 {count('D14')} 件", count("D14")),
        (
            "外部媒体への書き込み制限",
            f"媒体書き込み・複製 {year.action_total(MEDIA_ACTIONS):,} 件",
            year.action_total(MEDIA_ACTIONS),
        ),
        ("中間サーバーの照会は上長承認と案件に基づく", f"案件のない照会 {count('D17')} 件", count("D17")),
        (
            "特権IDの最小化と監視",
            f"特権の不適切な使用 {count('D15')} 件、ログ設定の変更 {count('D16')} 件",
            count("D15", "D16"),
        ),
    ]
    common = [[name, fact, "あり" if gap else "なし"] for name, fact, gap in controls]
    headers = ["評価書の措置", "ログで確認した事実", "乖離"]
    if not year.pias:
        section.add(
            Paragraph("評価書台帳に登録がないため、評価書に共通の措置について記録との整合を示します。"),
            Table(headers, common, widths=(4, 6, 1)),
        )
        return
    for pia in year.pias:
        section.add(Table(headers, [*_pia_rows(year, pia), *common], title=f"{pia['title']}（{pia['jimu']}）",
                          widths=(4, 6, 1)))  # fmt: skip


def _pia_rows(year: Year, pia: dict[str, Any]) -> list[list[Any]]:
    """What is particular to one PIA: its own review and re-assessment, and its 事務's operations."""
    state = _pia_state(pia, year.request.end)
    hours = year.hours[year.hours["jimu"] == pia["jimu"]] if len(year.hours) else year.hours
    events = int(hours["events"].sum()) if len(hours) else 0
    outputs = int(hours.loc[hours["action"].isin(OUTPUT_ACTIONS), "events"].sum()) if len(hours) else 0
    shown = int(hours.loc[hours["action"] == "show_mynumber", "events"].sum()) if len(hours) else 0
    return [
        ["評価書の毎年の見直し・5年以内の再評価", f"見直し期限 {_text_day(pia['review_due'])}、{state}",
         "なし" if state == "期限内" else "あり"],
        ["この事務の操作の記録", f"操作 {events:,} 件（個人番号の表示 {shown:,} 件、印刷・出力 {outputs:,} 件）",
         "なし" if events else "あり"],
    ]  # fmt: skip


def _ppc(section: Section, year: Year) -> None:
    hours = year.hours
    if hours.empty:
        section.add(Table(["事務", "操作件数"], [], empty="記録がありません。"))
        return
    by_jimu = hours[hours["jimu"] != ""].groupby("jimu")
    rows: list[list[Any]] = []
    for jimu, part in by_jimu:
        outputs = int(part.loc[part["action"].isin(OUTPUT_ACTIONS), "events"].sum())
        mynumber = int(part.loc[part["action"] == "show_mynumber", "events"].sum())
        failures = int(part.loc[part["result"] == "failure", "events"].sum())
        rows.append([jimu, int(part["events"].sum()), mynumber, outputs, failures])
    rows.sort(key=lambda r: -r[1])
    section.add(
        Paragraph("番号法第29条の3に基づく定期的な報告に転記するため、事務ごとに主な数値をまとめています。"),
        Table(["事務", "操作件数", "個人番号の表示", "印刷・出力", "失敗した操作"], rows, numeric=(1, 2, 3, 4)),
    )
