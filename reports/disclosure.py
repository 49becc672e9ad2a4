"""The access-record disclosure report (アクセス記録開示報告書): every access to one resident's records
in a period, for answering a resident's request (開示請求).

The resident is found by the pseudonym the collectors store (HMAC of the 宛名番号 with the
``pseudonym_key``, scoped to the municipality), never by the number itself: the number is hashed here
and then forgotten. It appears nowhere in the document, the trail or the logs — not even masked: the
officer answering the request holds the request form, and a partial number would add nothing a
resident needs while still being a fragment of an identifier. The trail records the pseudonym.

Each access is shown with the section of the account's person on that Japan day, the business
(事務), the system, the action, and the staff member's name only where the request or the setting
says names are disclosed. Whether the policy engine found a violation is shown per access.

The reading is public (:func:`accesses`, :func:`access_overview`, :func:`alerts_on`) so the
dashboard's 住民アクセス履歴 page shows what this report would say; a page that knows only the
pseudonym (a case shows no number) asks for the report with a :class:`SubjectRequest`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Connection, and_, select

from auditd.alerts.models import Alert
from auditd.cases.evidence import ACTION_JA
from auditd.decisions.models import Violation
from auditd.errors import ValidationFailed
from auditd.events.models import Event
from auditd.privacy.pseudonym import Pseudonymiser
from auditd.reference.models import Account, Section, Staff, StaffAssignment
from auditd.settings import Settings
from auditd.store import bulk
from auditd.store.base import table_of
from policies.engine import section_on_day
from policies.rules import BY_KEY
from reports.base import ReportRequest, municipality_name
from reports.document import Bars, Document, Facts, Paragraph, Table

JST = ZoneInfo("Asia/Tokyo")
WITHHELD = "（非開示）"
UNKNOWN_SECTION = "（所属不明）"
_CHUNK = 500  # keys per IN list: far below SQLite's parameter limit
_EVENT_COLUMNS = ("ts", "event_id", "system", "user_id", "jimu", "action", "result")


@dataclass(frozen=True)
class SubjectRequest(ReportRequest):
    """A disclosure request that names the resident by pseudonym: from a page that never held the
    宛名番号 (a case's resident), or that forgot it after hashing it."""

    subject: str = ""


def pseudonym_of(settings: Settings, municipality_code: str, resident: str) -> str:
    """The pseudonym the collectors store for the 宛名番号 ``resident`` (zero-padding and full-width
    digits as the collectors normalise them)."""
    return Pseudonymiser(settings.secret("pseudonym_key"), municipality_code).one(resident)


def period_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """The Japan days ``first`` … ``last`` (inclusive) as the UTC instants ``[start, end)``."""
    return _midnight(first), _midnight(last + timedelta(days=1))


def build(connection: Connection, settings: Settings, request: ReportRequest, actor: str) -> Document:
    """The アクセス記録開示報告書 of the resident ``request.resident`` over ``request.start`` …
    ``request.end`` (Japan days, inclusive)."""
    code = request.municipality_code
    if isinstance(request, SubjectRequest) and request.subject:
        subject = request.subject
    elif not request.resident or not request.resident.strip():
        raise ValidationFailed("no resident given", hint="--resident 宛名番号")
    else:
        subject = pseudonym_of(settings, code, request.resident)
    show_staff = settings.report_show_staff if request.show_staff is None else request.show_staff
    start_at, end_at = period_bounds(request.start, request.end)

    found = accesses(connection, code, subject, start_at, end_at, show_staff)
    now = datetime.now(UTC)
    document = Document(
        kind="disclosure",
        title="アクセス記録開示報告書",
        municipality_code=code,
        municipality_name=municipality_name(connection, code),
        period_start=request.start,
        period_end=request.end,
        generated_at=now,
        generated_by=actor,
        subtitle=f"{request.start:%Y年%m月%d日}〜{request.end:%Y年%m月%d日}のアクセス記録",
        sign_off=["作成者", "個人情報保護責任者"],
        trail_detail={"subject": subject, "accesses": len(found), "show_staff": show_staff},
    )
    _summary(document, found, show_staff)
    _breakdown(document, found, request.start, request.end)
    _detail(document, found)
    _notes(document, show_staff)
    return document


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), JST).astimezone(UTC)


# -- reading -------------------------------------------------------------------------------------------------------


def accesses(
    connection: Connection,
    code: str,
    subject: str,
    start_at: datetime,
    end_at: datetime,
    show_staff: bool,
    *,
    newest: int | None = None,
) -> pd.DataFrame:
    """One row per event about ``subject`` in ``[start_at, end_at)``, oldest first, with ``local`` (JST),
    ``section`` (name), ``staff`` (name or withheld) and ``violations`` (rule codes and titles).

    ``newest``: only the newest that many events (a page's bound), newest first; read backwards along
    the resident's index, so the bound is also the cost."""
    events = table_of(Event)
    where = (
        events.c.municipality_code == code,
        events.c.subject_hash == subject,
        events.c.ts >= start_at,
        events.c.ts < end_at,
    )
    # Ordered by time alone: the resident's index (municipality, subject, ts) gives that order, whereas
    # adding event_id makes the primary key (municipality, ts, event_id) look better to a planner, which
    # then reads every event of the period. Ties are broken by event_id below, in the frame.
    stmt = select(*(events.c[c] for c in _EVENT_COLUMNS)).where(*where)
    stmt = stmt.order_by(events.c.ts) if newest is None else stmt.order_by(events.c.ts.desc()).limit(newest)
    frame = bulk.read_frame(connection, stmt, _EVENT_COLUMNS)
    if frame.empty:
        return frame.assign(local=[], section=[], staff=[], violations=[])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame = frame.sort_values(["ts", "event_id"], ascending=newest is None, kind="stable", ignore_index=True)
    frame["local"] = frame["ts"].dt.tz_convert(JST)
    person, frame["section"] = _people_and_sections(connection, code, frame)

    if show_staff:
        staff_ids = [s for s in person.dropna().unique() if isinstance(s, str) and s]
        staff = _rows(connection, Staff, code, "staff_id", staff_ids, ("staff_id", "name"))
        staff_names = dict(zip(staff["staff_id"], staff["name"], strict=True))
        frame["staff"] = [_staff_label(p, staff_names) for p in person]
    else:
        frame["staff"] = WITHHELD

    # with a bound, only the violations of the rows read (from the oldest of them on)
    since = start_at if newest is None else frame["ts"].min().to_pydatetime()
    found = _violations(connection, code, subject, since, end_at)
    frame["violations"] = [found.get(str(e), []) for e in frame["event_id"]]
    return frame


def _people_and_sections(connection: Connection, code: str, frame: pd.DataFrame) -> tuple[pd.Series, list[str]]:
    """The staff id behind each row's account (``user_id``) and that person's section label on the row's
    Japan day (``local``)."""
    day = frame["local"].dt.tz_localize(None).dt.floor("D")
    accounts = _rows(connection, Account, code, "user_id", frame["user_id"], ("user_id", "staff_id"))
    staff_of = dict(zip(accounts["user_id"], accounts["staff_id"], strict=True))
    staff_ids = [s for s in staff_of.values() if isinstance(s, str) and s]
    assignments = _rows(
        connection, StaffAssignment, code, "staff_id", staff_ids, ("staff_id", "section_code", "valid_from", "valid_to")
    )
    for column in ("valid_from", "valid_to"):
        assignments[column] = pd.to_datetime(assignments[column], errors="coerce")
    person = frame["user_id"].map(staff_of)
    section_code = section_on_day(pd.DataFrame({"staff_id": person, "day": day}), assignments)
    sections = _rows(connection, Section, code, "section_code", section_code.dropna(), ("section_code", "name"))
    names = dict(zip(sections["section_code"], sections["name"], strict=True))
    return person, [_section_label(c, names) for c in section_code]


def access_overview(
    connection: Connection, code: str, subject: str, start_at: datetime, end_at: datetime
) -> pd.DataFrame:
    """Every access to ``subject`` in ``[start_at, end_at)`` reduced to what a summary counts: ``local``
    (JST), ``user_id`` and ``section`` (label, :data:`UNKNOWN_SECTION` for accounts without a person).
    Two columns of the resident's events, along the resident's index."""
    events = table_of(Event)
    stmt = select(events.c.ts, events.c.user_id).where(
        events.c.municipality_code == code,
        events.c.subject_hash == subject,
        events.c.ts >= start_at,
        events.c.ts < end_at,
    )
    frame = bulk.read_frame(connection, stmt, ("ts", "user_id"))
    if frame.empty:
        return pd.DataFrame({"local": [], "user_id": [], "section": []})
    frame["local"] = pd.to_datetime(frame["ts"], utc=True).dt.tz_convert(JST)
    _, frame["section"] = _people_and_sections(connection, code, frame)
    return frame[["local", "user_id", "section"]]


def alerts_on(connection: Connection, code: str, frame: pd.DataFrame) -> dict[str, list[tuple[int, int | None]]]:
    """Event id → the alerts that name it, as ``(alert id, case id or None)``, for the events of
    ``frame`` (columns ``event_id``, ``user_id``, ``ts``). Read along the alerts' account index: the
    alerts of those accounts whose story overlaps the events' span."""
    if frame.empty:
        return {}
    table = table_of(Alert)
    wanted = {str(e) for e in frame["event_id"]}
    first = pd.to_datetime(frame["ts"], utc=True).min().to_pydatetime()
    last = pd.to_datetime(frame["ts"], utc=True).max().to_pydatetime()
    users = sorted({u for u in frame["user_id"] if isinstance(u, str) and u})
    found: dict[str, list[tuple[int, int | None]]] = defaultdict(list)
    for chunk in range(0, len(users), _CHUNK):
        stmt = (
            select(table.c.id, table.c.case_id, table.c.event_ids)
            .where(
                table.c.municipality_code == code,
                table.c.user_id.in_(users[chunk : chunk + _CHUNK]),
                table.c.start <= last,
                table.c.end >= first,
            )
            .order_by(table.c.id)
        )
        for alert_id, case_id, event_ids in connection.execute(stmt):
            try:
                named = json.loads(event_ids or "[]")
            except ValueError:
                continue
            for event_id in wanted.intersection(str(e) for e in named):
                found[event_id].append((int(alert_id), None if case_id is None else int(case_id)))
    return dict(found)


def _rows(
    connection: Connection, model: Any, code: str, column: str, keys: Iterable[Any], columns: Sequence[str]
) -> pd.DataFrame:
    """Rows of a reference table whose ``column`` is one of ``keys``, a few queries for any number."""
    table = table_of(model)
    wanted = sorted({k for k in keys if isinstance(k, str) and k})
    rows: list[Any] = []
    for first in range(0, len(wanted), _CHUNK):
        stmt = select(*(table.c[c] for c in columns)).where(
            table.c.municipality_code == code, table.c[column].in_(wanted[first : first + _CHUNK])
        )
        rows.extend(tuple(r) for r in connection.execute(stmt))
    return pd.DataFrame(rows, columns=list(columns))


def _violations(
    connection: Connection, code: str, subject: str, start_at: datetime, end_at: datetime
) -> dict[str, list[str]]:
    """Event id → the rules it broke (``P04 業務時間外・閉庁日``), for the resident's events: one join on
    the violations' key (municipality, ts, event id), so the range of the resident's index drives it."""
    events, violations = table_of(Event), table_of(Violation)
    stmt = (
        select(violations.c.event_id, violations.c.rule)
        .select_from(
            events.join(
                violations,
                and_(
                    violations.c.municipality_code == events.c.municipality_code,
                    violations.c.ts == events.c.ts,
                    violations.c.event_id == events.c.event_id,
                ),
            )
        )
        .where(
            events.c.municipality_code == code,
            events.c.subject_hash == subject,
            events.c.ts >= start_at,
            events.c.ts < end_at,
        )
    )
    found: dict[str, set[str]] = defaultdict(set)
    for event_id, key in connection.execute(stmt):
        rule = BY_KEY.get(str(key))
        found[str(event_id)].add(f"{rule.code} {rule.title_ja}" if rule else str(key))
    return {event_id: sorted(rules) for event_id, rules in found.items()}


def _section_label(code: Any, names: dict[str, str]) -> str:
    if not isinstance(code, str) or not code or code in ("nan", "<NA>"):
        return UNKNOWN_SECTION
    return str(names.get(code, code))


def _staff_label(staff_id: Any, names: dict[str, str]) -> str:
    if not isinstance(staff_id, str) or not staff_id:
        return "（職員の登録のないアカウント）"
    return str(names.get(staff_id, staff_id))


def _action(action: Any, result: Any) -> str:
    text = ACTION_JA.get(str(action), str(action))
    return f"{text}（失敗）" if str(result) == "failure" else text


# -- the document ----------------------------------------------------------------------------------------------------


def _summary(document: Document, accesses: pd.DataFrame, show_staff: bool) -> None:
    section = document.section("概要")
    count = len(accesses)
    first = accesses["local"].iloc[0].strftime("%Y年%m月%d日 %H:%M") if count else "—"
    last = accesses["local"].iloc[-1].strftime("%Y年%m月%d日 %H:%M") if count else "—"
    # accounts without a person (batch jobs) have no section: not counted as one
    sections = sorted(set(accesses["section"]) - {UNKNOWN_SECTION}) if count else []
    flagged = int(sum(1 for v in accesses["violations"] if v)) if count else 0
    section.add(
        Facts(
            [
                ("対象者", "開示請求のあった住民（宛名番号は本書に記載しません）"),
                ("対象期間", f"{document.period_label}（日本時間）"),
                ("アクセス件数", f"{count:,} 件"),
                ("アクセスした所属", f"{len(sections)} 所属（{'、'.join(sections)}）" if sections else "なし"),
                ("最初のアクセス", first),
                ("最後のアクセス", last),
                ("規程違反と判定されたアクセス", f"{flagged:,} 件"),
                ("職員名", "記載する" if show_staff else "記載しない（所属のみ）"),
            ]
        )
    )
    if count:
        section.add(
            Paragraph(
                f"対象期間中に、この住民の記録へのアクセスが {count:,} 件（{len(sections)} 所属）ありました。"
                "各アクセスの日時・所属・事務・操作は「アクセスの明細」のとおりです。"
            )
        )
    else:
        section.add(
            Paragraph(
                f"対象期間（{document.period_label}）中に、この住民の記録へのアクセスはありませんでした。"
                "（住民を個別に記録しない一括処理については「留意事項」を参照してください。）"
            )
        )


def _breakdown(document: Document, accesses: pd.DataFrame, first: date, last: date) -> None:
    section = document.section("所属・事務別の件数")
    rows: list[list[Any]] = []
    if len(accesses):
        jimu = accesses["jimu"].fillna("—").astype(str)
        grouped = accesses.assign(jimu=jimu).groupby(["section", "jimu"], sort=True)["local"]
        for (name, business), times in grouped:
            rows.append(
                [name, business, len(times), times.min().strftime("%Y-%m-%d"), times.max().strftime("%Y-%m-%d")]
            )
    section.add(
        Table(
            ["所属", "事務", "件数", "最初の日", "最後の日"],
            rows,
            title="所属・事務別のアクセス件数",
            numeric=(2,),
            widths=(2, 2.5, 0.8, 1.2, 1.2),
            empty="対象期間中のアクセスはありません。",
        )
    )
    months = _months(first, last)
    counts = accesses["local"].dt.strftime("%Y-%m").value_counts() if len(accesses) else pd.Series(dtype=int)
    section.add(
        Bars(
            "月別のアクセス件数",
            [f"{m[:4]}年{int(m[5:])}月" for m in months],
            {"アクセス件数": [float(counts.get(m, 0)) for m in months]},
        )
    )


def _months(first: date, last: date) -> list[str]:
    months, year, number = [], first.year, first.month
    while (year, number) <= (last.year, last.month):
        months.append(f"{year:04d}-{number:02d}")
        year, number = year + (number == 12), number % 12 + 1
    return months


def _detail(document: Document, accesses: pd.DataFrame) -> None:
    rows: list[list[Any]] = [
        [
            local.strftime("%Y-%m-%d %H:%M"),
            section,
            jimu if isinstance(jimu, str) and jimu else "—",
            system,
            _action(action, result),
            staff,
            "あり（" + "、".join(found) + "）" if found else "なし",
        ]
        for local, section, jimu, system, action, result, staff, found in zip(
            accesses["local"],
            accesses["section"],
            accesses["jimu"],
            accesses["system"],
            accesses["action"],
            accesses["result"],
            accesses["staff"],
            accesses["violations"],
            strict=True,
        )
    ]
    document.section("アクセスの明細").add(
        Table(
            ["日時（日本時間）", "所属", "事務", "システム", "操作", "職員", "規程違反の判定"],
            rows,
            title=f"アクセスの明細（{len(rows):,} 件、古い順）",
            widths=(1.5, 1.4, 1.5, 1.1, 0.9, 1.2, 2),
            empty="対象期間中のアクセスはありません。",
        )
    )


def _notes(document: Document, show_staff: bool) -> None:
    notes = [
        "日時は日本時間です。対象期間は初日の 0 時から末日の 24 時までです。",
        "所属は、アクセスした職員のその日の所属（人事異動を反映）です。職員として登録のないアカウント"
        "（バッチ処理など）によるアクセスは「（所属不明）」と記載しています。",
        "住民を個別に記録しない一括処理（複数の住民をまとめて出力・更新する処理で、ログに個々の住民が"
        "記録されないもの）は、特定の住民へのアクセスとして特定できないため、本書には含まれていません。",
        "「規程違反の判定」は、アクセス管理の規程（ポリシー）に基づく自動判定の結果です。「あり」は点検の対象と"
        "なったことを示し、直ちに不適切な利用であったことを意味するものではありません。",
    ]
    if not show_staff:
        notes.append("職員の氏名は記載せず、所属のみを記載しています。")
    document.section("留意事項").add(*(Paragraph(text) for text in notes))
