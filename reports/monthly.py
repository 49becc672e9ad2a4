"""The monthly access-log review record (アクセスログ点検記録) for one calendar month.

What a security officer signs each month: what was reviewed (the sources and their silent open
days), whether detection ran over every day, what it found (alerts by detector, policy violations by
rule), what became of the cases (処理結果 and its reason) and the suppressed alerts, and a finding
written from those figures. Every figure comes from a handful of grouped queries (no ORM rows, no
per-event reads); days are Japan days, the month being ``[start 00:00 JST, end + 1 00:00 JST)``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, func, or_, select

from auditd.alerts.models import SEVERITIES, SEVERITY_JA, Alert, DetectionRun
from auditd.cases.models import DISPOSITION_JA, DISPOSITIONS, STATUS_JA, Case, Suppression
from auditd.decisions.models import Violation
from auditd.events import rollup
from auditd.events.models import Source
from auditd.jp.calendar import calendar_frame
from auditd.reference.models import CalendarDay
from auditd.settings import Settings
from auditd.store.base import table_of
from policies.rules import BY_KEY
from reports.base import ReportRequest, municipality_name
from reports.document import Bars, Document, Facts, Paragraph, Table, figure

JST = ZoneInfo("Asia/Tokyo")  # the Japan day of the rollups (auditd.events.rollup)
WEEKDAY_JA = "月火水木金土日"
#: A run still "running" this long after it started has died (the transaction that would finish it
#: rolled back, or the process was stopped).
_STALE_RUN = timedelta(hours=2)
_OPEN_STATUSES = ("new", "investigating")


def build(connection: Connection, settings: Settings, request: ReportRequest, actor: str) -> Document:
    """The アクセスログ点検記録 of ``request.start`` … ``request.end`` (a calendar month)."""
    now = _now()
    month = _Month(request.start, request.end, now)
    code = request.municipality_code
    document = Document(
        kind="monthly",
        title="アクセスログ点検記録",
        municipality_code=code,
        municipality_name=municipality_name(connection, code),
        period_start=request.start,
        period_end=request.end,
        generated_at=now,
        generated_by=actor,
        subtitle=_subtitle(request.start, request.end),
        sign_off=["点検者", "保護責任者（情報セキュリティ責任者）"],
    )
    scope = _scope(connection, code, month)
    detection = _detection(connection, code, month)
    found = _findings(connection, code, month)
    cases = _cases(connection, code, month)

    _scope_section(document, month, scope)
    _detection_section(document, month, detection)
    _findings_section(document, found)
    _cases_section(document, month, cases)
    document.section("所見").add(*(Paragraph(text) for text in _observations(month, scope, detection, found, cases)))
    document.trail_detail = {"alerts": found.alert_total, "cases": len(cases.rows)}
    return document


# -- the month -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Month:
    first: date
    last: date
    now: datetime

    @property
    def start_at(self) -> datetime:
        return _midnight(self.first)

    @property
    def end_at(self) -> datetime:
        return _midnight(self.last + timedelta(days=1))

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    @property
    def reviewable_last(self) -> date:
        """The last day that is over (a report of the current month stops at yesterday)."""
        yesterday = self.now.astimezone(JST).date() - timedelta(days=1)
        return min(self.last, yesterday)


def _now() -> datetime:
    """The clock (a function, so a test can hold it at a known instant)."""
    return datetime.now(UTC)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), JST).astimezone(UTC)


def _subtitle(first: date, last: date) -> str:
    if first.day == 1 and (last + timedelta(days=1)).day == 1 and (first.year, first.month) == (last.year, last.month):
        return f"{first.year}年{first.month}月分"
    return f"{first:%Y年%m月%d日}〜{last:%Y年%m月%d日}分"


def _md(day: date) -> str:
    return f"{day.month}/{day.day}（{WEEKDAY_JA[day.weekday()]}）"


def _jst(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(JST).strftime(fmt) if value is not None else "—"


# -- 1. 点検の範囲 ----------------------------------------------------------------------------------------------------


@dataclass
class _Scope:
    #: (source, system) → {day: events}
    counts: dict[tuple[str, str], dict[date, int]]
    #: source → the days it is expected from (registered before or sending in the month)
    expected_from: dict[str, date]
    systems_of: dict[str, str]
    open_days: list[date]
    closed_days: dict[date, str]
    calendar_registered: bool
    #: source → open days with nothing from it
    gaps: dict[str, list[date]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(sum(days.values()) for days in self.counts.values())

    def per_day(self, day: date) -> int:
        return sum(days.get(day, 0) for days in self.counts.values())


def _scope(connection: Connection, code: str, month: _Month) -> _Scope:
    # from the rollup maintained at ingest: a month of a large city is a few thousand rows, not millions
    totals = rollup.hour_totals(connection, code, month.first, month.last, ("source", "system", "day"))
    counts: dict[tuple[str, str], dict[date, int]] = defaultdict(dict)
    first_seen: dict[str, date] = {}
    for source, system, seen, n in zip(
        totals["source"], totals["system"], totals["day"], totals["events"], strict=True
    ):
        counts[(str(source), str(system))][seen] = int(n)
        first_seen[str(source)] = min(first_seen.get(str(source), seen), seen)

    sources = table_of(Source)
    registered = connection.execute(
        select(sources.c.name, sources.c.system, sources.c.created_at).where(
            sources.c.municipality_code == code, sources.c.created_at < month.end_at
        )
    ).all()
    expected_from = dict(first_seen)
    systems: dict[str, set[str]] = defaultdict(set)
    for source, system in counts:
        systems[source].add(system)
    systems_of = {source: "、".join(sorted(names)) for source, names in systems.items()}
    for name, system, created_at in registered:
        created = created_at.astimezone(JST).date()
        expected_from[str(name)] = min(expected_from.get(str(name), created), max(created, month.first))
        systems_of.setdefault(str(name), str(system or "—"))

    calendar = table_of(CalendarDay)
    rows: Sequence[Any] = connection.execute(
        select(calendar.c.day, calendar.c.is_open, calendar.c.name).where(
            calendar.c.municipality_code == code, calendar.c.day >= month.first, calendar.c.day <= month.last
        )
    ).all()
    registered_calendar = bool(rows)
    if not rows:  # no municipal calendar imported: the national one (weekends, holidays, 年末年始)
        frame = calendar_frame(month.first, month.last)
        rows = list(zip(frame["day"], frame["is_open"], frame["name"], strict=True))
    open_days = sorted(d for d, is_open, _ in rows if is_open)
    closed_days = {d: str(name or "閉庁日") for d, is_open, name in rows if not is_open}

    scope = _Scope(dict(counts), expected_from, systems_of, open_days, closed_days, registered_calendar)
    sent: dict[str, set[date]] = defaultdict(set)
    for (source, _system), days in counts.items():
        sent[source].update(days)
    for source, since in expected_from.items():
        missing = [d for d in open_days if since <= d <= month.reviewable_last and d not in sent[source]]
        if missing:
            scope.gaps[source] = missing
    return scope


def _scope_section(document: Document, month: _Month, scope: _Scope) -> None:
    section = document.section("点検の範囲")
    sources = sorted(scope.systems_of)
    gap_days = sum(len(days) for days in scope.gaps.values())
    calendar_note = (
        "市の暦（閉庁日の登録）による"
        if scope.calendar_registered
        else "市の暦が未登録のため、土日・祝日・年末年始を閉庁日とした"
    )
    facts = [
        ("対象期間", f"{month.first:%Y年%m月%d日} 〜 {month.last:%Y年%m月%d日}（日本時間）"),
        ("記録件数", figure(scope.total, " 件")),
        ("収集元", f"{len(sources)} 件（{'、'.join(sources) or 'なし'}）"),
        ("開庁日", f"{len(scope.open_days)} 日（{calendar_note}）"),
        ("記録のない開庁日", f"延べ {gap_days} 日（{len(scope.gaps)} 収集元）"),
    ]
    if month.reviewable_last < month.last:
        facts.append(
            ("注記", f"対象月が終わっていないため、記録のない日は {month.reviewable_last:%m月%d日} までで判定")
        )
    section.add(Facts(facts))
    rows: list[list[Any]] = []
    for (source, system), days in sorted(scope.counts.items()):
        seen = sorted(days)
        rows.append([source, system, sum(days.values()), len(seen), _md(seen[0]), _md(seen[-1])])
    for source in sources:
        if not any(key[0] == source for key in scope.counts):
            rows.append([source, scope.systems_of[source], 0, 0, "—", "—"])
    section.add(
        Table(
            ["収集元", "システム", "記録件数", "記録のあった日数", "最初の日", "最後の日"],
            rows,
            title="収集元・システム別の記録件数",
            numeric=(2, 3),
            widths=(2, 2, 1.2, 1.2, 1.2, 1.2),
            empty="対象月の記録はありません。",
        )
    )
    gap_rows: list[list[Any]] = [
        [source, scope.systems_of.get(source, "—"), len(days), "、".join(_md(d) for d in days)]
        for source, days in sorted(scope.gaps.items())
    ]
    section.add(
        Table(
            ["収集元", "システム", "日数", "記録のない開庁日"],
            gap_rows,
            title="開庁日に記録のない収集元",
            numeric=(2,),
            widths=(1.5, 1.5, 0.7, 5),
            empty="すべての収集元から、すべての開庁日に記録が届いています。",
        )
    )
    section.add(
        Bars(
            "日別の記録件数",
            [f"{d.day}" for d in month.days],
            {"記録件数": [float(scope.per_day(d)) for d in month.days]},
        )
    )


# -- 2. 検知の実施 ----------------------------------------------------------------------------------------------------


@dataclass
class _Detection:
    runs: int
    finished: int
    problems: list[list[Any]]  # runs that did not finish cleanly
    uncovered: list[tuple[date, str]]  # days not wholly covered by finished windows
    windows: int  # distinct windows run


def _detection(connection: Connection, code: str, month: _Month) -> _Detection:
    runs = table_of(DetectionRun)
    rows = connection.execute(
        select(
            runs.c.id,
            runs.c.window_start,
            runs.c.window_end,
            runs.c.started_at,
            runs.c.status,
            runs.c.error,
            runs.c.findings,
            runs.c.new_alerts,
        )
        .where(
            runs.c.municipality_code == code,
            runs.c.window_start < month.end_at,
            runs.c.window_end > month.start_at,
        )
        .order_by(runs.c.window_start, runs.c.id)
    ).all()
    finished = [r for r in rows if r.status == "finished"]
    problems = []
    for r in rows:
        if r.status == "finished" or (r.status == "running" and month.now - r.started_at < _STALE_RUN):
            continue
        state = "一部の検知が失敗" if r.status == "partial" else "中断（完了していない）"
        problems.append(
            [r.id, f"{_jst(r.window_start)} 〜 {_jst(r.window_end)}", _jst(r.started_at), state, r.error or "—"]
        )
    covered = _merge([(r.window_start, r.window_end) for r in finished])
    uncovered = []
    for day in month.days:
        if day > month.reviewable_last:
            break
        start, end = _midnight(day), _midnight(day + timedelta(days=1))
        inside = sum((min(b, end) - max(a, start)).total_seconds() for a, b in covered if a < end and b > start)
        if inside < (end - start).total_seconds():
            uncovered.append((day, "一部のみ" if inside > 0 else "未実施"))
    windows = len({(r.window_start, r.window_end) for r in rows})
    return _Detection(len(rows), len(finished), problems, uncovered, windows)


def _merge(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _detection_section(document: Document, month: _Month, detection: _Detection) -> None:
    section = document.section("検知の実施")
    reviewed = (month.reviewable_last - month.first).days + 1
    section.add(
        Facts(
            [
                ("検知の実行回数", f"{detection.runs:,} 回（対象とした期間 {detection.windows:,} 件）"),
                ("正常に完了", f"{detection.finished:,} 回"),
                ("失敗・中断", f"{len(detection.problems):,} 回"),
                (
                    "検知の対象となった日",
                    f"{max(reviewed, 0) - len(detection.uncovered)} 日 / {max(reviewed, 0)} 日",
                ),
            ]
        ),
        Table(
            ["日付", "状態"],
            [[f"{d:%Y-%m-%d}（{WEEKDAY_JA[d.weekday()]}）", state] for d, state in detection.uncovered],
            title="検知が完了していない日",
            widths=(1, 3),
            empty="対象月のすべての日について、検知が完了しています。",
        ),
        Table(
            ["実行番号", "対象期間", "開始日時", "状態", "エラー"],
            detection.problems,
            title="失敗・中断した検知",
            numeric=(0,),
            widths=(0.8, 3, 1.5, 1.5, 3),
            empty="失敗・中断した検知はありません。",
        ),
    )


# -- 3. 検知結果 ------------------------------------------------------------------------------------------------------


@dataclass
class _Findings:
    by_rule: list[list[Any]]
    alert_total: int
    by_severity: dict[str, int]
    violations: list[list[Any]]
    violation_total: int


def _findings(connection: Connection, code: str, month: _Month) -> _Findings:
    alerts = table_of(Alert)
    stmt = (
        select(alerts.c.rule, alerts.c.severity, alerts.c.status, func.min(alerts.c.title), func.count())
        .where(alerts.c.municipality_code == code, alerts.c.start >= month.start_at, alerts.c.start < month.end_at)
        .group_by(alerts.c.rule, alerts.c.severity, alerts.c.status)
    )
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    by_severity: dict[str, int] = defaultdict(int)
    for rule, severity, status, title, n in connection.execute(stmt):
        entry = grouped.setdefault((str(rule), str(severity)), {"title": str(title), "statuses": defaultdict(int)})
        entry["statuses"][str(status)] += int(n)
        by_severity[str(severity)] += int(n)
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    rows: list[list[Any]] = []
    for (rule, severity), entry in sorted(grouped.items(), key=lambda kv: (rank.get(kv[0][1], 9), kv[0][0])):
        statuses = entry["statuses"]
        rows.append(
            [
                rule,
                entry["title"],
                SEVERITY_JA.get(severity, severity),
                sum(statuses.values()),
                sum(statuses.get(s, 0) for s in _OPEN_STATUSES),
                statuses.get("closed", 0),
                statuses.get("suppressed", 0),
            ]
        )

    violations = table_of(Violation)
    stmt_v = (
        select(
            violations.c.rule,
            func.count(func.distinct(violations.c.event_id)),
            func.count(func.distinct(violations.c.user_id)),
        )
        .where(
            violations.c.municipality_code == code,
            violations.c.ts >= month.start_at,
            violations.c.ts < month.end_at,
        )
        .group_by(violations.c.rule)
    )
    v_rows: list[list[Any]] = []
    for key, events, users in connection.execute(stmt_v):
        rule = BY_KEY.get(str(key))
        v_rows.append([rule.code if rule else str(key), rule.title_ja if rule else str(key), int(events), int(users)])
    v_rows.sort(key=lambda r: str(r[0]))
    return _Findings(rows, sum(r[3] for r in rows), dict(by_severity), v_rows, sum(r[2] for r in v_rows))


def _findings_section(document: Document, found: _Findings) -> None:
    severities = "、".join(
        f"{SEVERITY_JA[s]} {found.by_severity[s]:,} 件" for s in SEVERITIES if found.by_severity.get(s)
    )
    document.section("検知結果").add(
        Facts(
            [
                ("アラート", f"{found.alert_total:,} 件" + (f"（{severities}）" if severities else "")),
                ("ポリシー違反", f"{found.violation_total:,} 件（{len(found.violations)} 規則）"),
            ]
        ),
        Table(
            ["検知ルール", "名称", "重要度", "件数", "未処理", "対応済", "抑止"],
            found.by_rule,
            title="検知ルール・重要度別のアラート（開始日時が対象月のもの）",
            numeric=(3, 4, 5, 6),
            widths=(1, 4, 0.8, 0.8, 0.8, 0.8, 0.8),
            empty="対象月のアラートはありません。",
        ),
        Table(
            ["規則", "名称", "違反件数", "利用者数"],
            found.violations,
            title="規則別のポリシー違反",
            numeric=(2, 3),
            widths=(0.8, 4, 1, 1),
            empty="対象月のポリシー違反はありません。",
        ),
    )


# -- 4. 事案と処理結果 ------------------------------------------------------------------------------------------------


@dataclass
class _Cases:
    rows: list[dict[str, Any]]
    suppressed: list[list[Any]]

    def opened(self, month: _Month) -> list[dict[str, Any]]:
        return [c for c in self.rows if month.start_at <= c["opened_at"] < month.end_at]

    def closed(self, month: _Month) -> list[dict[str, Any]]:
        return [c for c in self.rows if c["closed_at"] is not None and month.start_at <= c["closed_at"] < month.end_at]

    def open_at_end(self, month: _Month) -> list[dict[str, Any]]:
        return [
            c
            for c in self.rows
            if c["opened_at"] < month.end_at and (c["closed_at"] is None or c["closed_at"] >= month.end_at)
        ]


def _cases(connection: Connection, code: str, month: _Month) -> _Cases:
    alerts, cases, suppressions = table_of(Alert), table_of(Case), table_of(Suppression)
    in_month = select(alerts.c.case_id).where(
        alerts.c.municipality_code == code,
        alerts.c.start >= month.start_at,
        alerts.c.start < month.end_at,
        alerts.c.case_id.is_not(None),
    )
    stmt = (
        select(cases)
        .where(
            cases.c.municipality_code == code,
            or_(
                cases.c.id.in_(in_month),
                and_(
                    cases.c.opened_at < month.end_at,
                    or_(cases.c.closed_at.is_(None), cases.c.closed_at >= month.start_at),
                ),
            ),
        )
        .order_by(cases.c.id)
    )
    rows = [dict(r) for r in connection.execute(stmt).mappings()]
    stmt_s = (
        select(
            suppressions.c.id,
            alerts.c.rule,
            suppressions.c.reason,
            suppressions.c.expires_on,
            func.count(alerts.c.id),
        )
        .select_from(
            alerts.join(
                suppressions,
                and_(
                    suppressions.c.municipality_code == alerts.c.municipality_code,
                    suppressions.c.id == alerts.c.suppression_id,
                ),
                isouter=True,
            )
        )
        .where(
            alerts.c.municipality_code == code,
            alerts.c.status == "suppressed",
            alerts.c.start >= month.start_at,
            alerts.c.start < month.end_at,
        )
        .group_by(suppressions.c.id, alerts.c.rule, suppressions.c.reason, suppressions.c.expires_on)
        .order_by(suppressions.c.id, alerts.c.rule)
    )
    suppressed = [
        [
            f"#{sid}" if sid is not None else "—",
            rule,
            reason or "（抑止条件が見つかりません）",
            f"{expires}" if expires else "—",
            int(n),
        ]
        for sid, rule, reason, expires, n in connection.execute(stmt_s)
    ]
    return _Cases(rows, suppressed)


def _cases_section(document: Document, month: _Month, cases: _Cases) -> None:
    closed = cases.closed(month)
    by_disposition: dict[str, int] = defaultdict(int)
    for case in closed:
        by_disposition[case["disposition"]] += 1
    dispositions = "、".join(
        f"{DISPOSITION_JA[d]} {by_disposition[d]} 件" for d in DISPOSITIONS if by_disposition.get(d)
    )
    suppressed_total = sum(r[4] for r in cases.suppressed)
    section = document.section("事案と処理結果")
    section.add(
        Facts(
            [
                ("対象の事案", f"{len(cases.rows)} 件（対象月のアラートを含むもの、または対象月に未了だったもの）"),
                ("新規に開始", f"{len(cases.opened(month))} 件"),
                ("対応済（終結）", f"{len(closed)} 件" + (f"（{dispositions}）" if dispositions else "")),
                ("月末時点で未了", f"{len(cases.open_at_end(month))} 件"),
                ("抑止されたアラート", f"{suppressed_total} 件"),
            ]
        )
    )
    rows = []
    for case in cases.rows:
        rows.append(
            [
                case["id"],
                case["title"],
                SEVERITY_JA.get(case["severity"], case["severity"]),
                STATUS_JA.get(case["status"], case["status"]),
                DISPOSITION_JA.get(case["disposition"], case["disposition"] or "—"),
                case["disposition_reason"] or "—",
                case["assignee"] or "未割当",
                _jst(case["opened_at"], "%Y-%m-%d"),
                _jst(case["closed_at"], "%Y-%m-%d"),
            ]
        )
    section.add(
        Table(
            ["番号", "件名", "重要度", "状態", "処理結果", "理由", "担当者", "開始日", "終結日"],
            rows,
            title="事案の一覧（状態は作成時点）",
            numeric=(0,),
            widths=(0.6, 3.2, 0.7, 0.8, 1, 3, 1, 1.2, 1.2),
            empty="対象月の事案はありません。",
        ),
        Table(
            ["抑止条件", "検知ルール", "抑止の理由", "期限", "件数"],
            cases.suppressed,
            title="抑止されたアラート（抑止条件別）",
            numeric=(4,),
            widths=(0.8, 0.9, 4, 1.1, 0.7),
            empty="対象月に抑止されたアラートはありません。",
        ),
    )


# -- 5. 所見 ----------------------------------------------------------------------------------------------------------


def _observations(month: _Month, scope: _Scope, detection: _Detection, found: _Findings, cases: _Cases) -> list[str]:
    """Sentences written from the figures: what needs doing, or that nothing does."""
    notes = []
    if scope.total == 0:
        notes.append("対象月のアクセスログが 1 件もありません。収集の設定と収集元の稼働を確認してください。")
    if scope.gaps:
        days = sum(len(d) for d in scope.gaps.values())
        names = "、".join(sorted(scope.gaps))
        notes.append(
            f"開庁日にアクセスログが届いていない収集元があります（{names}、延べ {days} 日）。"
            "ログの出力・転送が止まっていないか、システム管理者に確認してください。"
        )
    if detection.uncovered:
        notes.append(
            f"検知が完了していない日が {len(detection.uncovered)} 日あります"
            f"（{'、'.join(_md(d) for d, _ in detection.uncovered[:10])}"
            f"{' ほか' if len(detection.uncovered) > 10 else ''}）。"
            "`auditd detect` で該当日の検知を実行してください。"
        )
    if detection.problems:
        notes.append(f"失敗または中断した検知が {len(detection.problems)} 回あります。エラーの内容を確認してください。")
    still_open = cases.open_at_end(month)
    if still_open:
        serious = sum(1 for c in still_open if c["severity"] in ("critical", "high"))
        notes.append(
            f"月末時点で未処理の事案が {len(still_open)} 件あります"
            + (f"（うち重要度が重大・高のもの {serious} 件）" if serious else "")
            + "。調査を進め、処理結果と理由を記録してください。"
        )
    confirmed = [c for c in cases.rows if c["disposition"] in ("inappropriate", "fraud")]
    if confirmed:
        numbers = "、".join(f"#{c['id']}" for c in confirmed)
        notes.append(
            f"不適切・不正と判断された事案が {len(confirmed)} 件あります（{numbers}）。"
            "漏えい等報告の要否と再発防止策を確認してください。"
        )
    critical = found.by_severity.get("critical", 0)
    if critical:
        notes.append(f"重要度「重大」のアラートが {critical} 件ありました。")
    if not notes:
        notes.append(
            f"対象月の記録 {scope.total:,} 件について、収集・検知とも欠けた日はなく、"
            f"アラート {found.alert_total:,} 件はすべて処理済みです。対応が必要な事項はありません。"
        )
    return notes
