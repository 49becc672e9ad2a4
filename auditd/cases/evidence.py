"""Evidence of an investigation case (事案): the case's events with what explains them, as a CSV for
spreadsheets and a PDF for the file, the two tied together by the CSV's SHA-256 printed on every page.

For each event asked for, the export gathers in bulk (a few queries per 500 events, no ORM rows):

- the event itself and whether its batch was decided (``ingest_batches.decided_version_id``) — an event
  of a decided batch without a violation row was allowed (see :mod:`auditd.decisions.models`);
- the policy violations stored for it: rule code and title, the reason in Japanese filled from the
  stored evidence (the rule catalogue :mod:`policies.rules`, as the 「なぜ」 view does), the evidence;
- the reference data that explains it, as of the event's Japan day: the account (kind, person), the
  person's section that day (:func:`policies.engine.section_on_day`), the grants held that day (role,
  valid from / to), the terminal (registered that day or not, its section, its network segment).

Residents appear only as the pseudonyms stored with the events (``subject_hash``); the store never
holds a 個人番号 in clear, and nothing here looks one up.

CSV columns (UTF-8 with BOM so Excel reads it, CRLF, one row per event found, ordered by time). The
header row is Japanese; these English keys are stable (:data:`CSV_COLUMNS`) for whoever reads the file
by position or maps it back:

====================  ==================  ===========================================================
key                   header              content
====================  ==================  ===========================================================
``ts``                日時(JST)           event time in ``settings.tz``, ``YYYY-MM-DD HH:MM:SS.mmm``
``event_id``          イベントID          the stored event id
``user_id``           利用者ID            operator account
``account_kind``      アカウント種別      個人 / バッチ / 管理者 / 臨時, or 台帳になし (unknown account)
``person``            職員                staff id and name of the account's person
``section``           所属                the person's section on the event's day (code and name)
``terminal_id``       端末                terminal id
``terminal_segment``  端末区分            the terminal's network segment (個人番号利用事務系 …)
``terminal_section``  端末の所属          the terminal's owning section
``terminal_status``   端末登録            登録済 / 未登録 / 登録前 / 廃止後, as of the event's day
``system``            システム            business system
``jimu``              事務                事務 (the procedure)
``action``            操作                canonical action and its Japanese name
``result``            結果                success / failure
``subject_hash``      住民(仮名)          resident pseudonym as stored (never a number in clear)
``subject_count``     件数                residents touched by the operation
``decision``          判定                違反 / 許可 / 未判定 (batch not decided yet)
``rules``             違反ルール          broken rules, ``P04 業務時間外・閉庁日`` joined with `` / ``
``reasons``           理由                the Japanese reason of each broken rule, same order
``grants``            権限                roles held that day, ``role（from〜to）`` (``to`` exclusive, as
                                          in the ledger; empty ``to``: open-ended)
``policy_version``    判定ポリシー版      id of the policy version whose violations are shown
``raw_ref``           出典                the input and position the event was read from
====================  ==================  ===========================================================

The PDF (A4 landscape, the vendored IPAexGothic embedded as a subset) has a header block with the
case, its alerts and their explanations, the event table (header repeated on every page), the
violations explained one by one, and a footer with the page number and the CSV's SHA-256.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from fpdf.enums import WrapMode, XPos, YPos
from sqlalchemy import Connection, String, cast, select

from auditd.alerts.models import SEVERITY_JA
from auditd.cases.models import DISPOSITION_JA, STATUS_JA
from auditd.decisions.models import Violation
from auditd.events import repository as events_repo
from auditd.events.models import Event, IngestBatch, IngestRun
from auditd.fonts import JAPANESE_FONT_NAME
from auditd.fonts.pdf import GREY, JapanesePdf, Table, heading
from auditd.reference.models import Account, Grant, Section, Staff, StaffAssignment, Terminal
from auditd.settings import Settings
from auditd.store.base import Base, table_of
from policies.engine import section_on_day
from policies.rules import BY_KEY

#: (stable key, Japanese header) of every CSV column, in order.
CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ts", "日時(JST)"),
    ("event_id", "イベントID"),
    ("user_id", "利用者ID"),
    ("account_kind", "アカウント種別"),
    ("person", "職員"),
    ("section", "所属"),
    ("terminal_id", "端末"),
    ("terminal_segment", "端末区分"),
    ("terminal_section", "端末の所属"),
    ("terminal_status", "端末登録"),
    ("system", "システム"),
    ("jimu", "事務"),
    ("action", "操作"),
    ("result", "結果"),
    ("subject_hash", "住民(仮名)"),
    ("subject_count", "件数"),
    ("decision", "判定"),
    ("rules", "違反ルール"),
    ("reasons", "理由"),
    ("grants", "権限"),
    ("policy_version", "判定ポリシー版"),
    ("raw_ref", "出典"),
)
#: Columns of the PDF's event table and their widths in mm (they fill the 277 mm of A4 landscape).
PDF_COLUMNS: tuple[tuple[str, float], ...] = (
    ("ts", 27),
    ("user_id", 15),
    ("section", 23),
    ("terminal_id", 12),
    ("terminal_segment", 23),
    ("terminal_status", 12),
    ("system", 15),
    ("jimu", 20),
    ("action", 18),
    ("subject_hash", 33),
    ("decision", 10),
    ("rules", 35),
    ("grants", 34),
)

DECISION_VIOLATION, DECISION_ALLOWED, DECISION_UNDECIDED = "違反", "許可", "未判定"
ACCOUNT_KIND_JA = {"personal": "個人", "batch": "バッチ", "admin": "管理者", "temporary": "臨時"}
SEGMENT_JA = {"mynumber": "個人番号利用事務系", "lgwan": "LGWAN接続系", "internet": "インターネット接続系"}
ACTION_JA = {
    "view": "照会", "search": "検索", "update": "更新", "create": "登録", "delete": "削除", "print": "印刷",
    "export": "出力", "show_mynumber": "個人番号表示", "link_inquiry": "情報照会", "link_provide": "情報提供",
    "link_code_request": "符号要求", "login": "ログイン", "logout": "ログアウト", "login_fail": "ログイン失敗",
    "admin": "管理操作", "media_write": "媒体書込", "file_copy": "ファイル複写", "audit_config": "監査設定変更",
    "batch": "バッチ処理",
}  # fmt: skip

_CHUNK = 500  # ids per query: far below SQLite's parameter limit, large enough to keep queries few
_SEPARATOR = " / "
_LAST_MILLISECOND = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp() * 1000)


@dataclass(frozen=True)
class CaseSummary:
    """What the export says about the case itself (the caller reads it from the case workflow).

    ``alerts``: the case's alerts, each a dict with ``id``, ``rule``, ``title``, ``severity``, ``start``,
    ``end`` (aware datetimes) and ``explanation``."""

    case_id: int
    title: str
    status: str
    severity: str
    user_id: str | None
    section: str | None
    opened_at: datetime
    disposition: str | None
    alerts: list[dict[str, Any]]


@dataclass(frozen=True)
class Evidence:
    """The two files of an export, how many events they hold and their SHA-256 (hex)."""

    csv: bytes
    pdf: bytes
    event_count: int
    sha256_csv: str
    sha256_pdf: str


def case_evidence(
    connection: Connection,
    settings: Settings,
    municipality_code: str,
    case: CaseSummary,
    event_ids: Sequence[str],
    *,
    generated_by: str,
    now: datetime,
) -> Evidence:
    """Export the events ``event_ids`` of ``case`` with their decisions and reference data, as CSV and PDF.

    Ids not in the store (or not event ids at all) give no row; an id given twice gives one. The output
    depends only on the store, the arguments and ``now`` (the PDF's creation date), so exporting again
    gives the same bytes. Reads only; the caller records the export in the case's history."""
    rows = evidence_rows(connection, settings, municipality_code, event_ids)
    csv_bytes = render_csv(rows)
    sha_csv = hashlib.sha256(csv_bytes).hexdigest()
    pdf_bytes = render_pdf(
        settings, municipality_code, case, rows, requested=len(set(event_ids)), generated_by=generated_by, now=now,
        sha256_csv=sha_csv,
    )  # fmt: skip
    return Evidence(
        csv=csv_bytes,
        pdf=pdf_bytes,
        event_count=len(rows),
        sha256_csv=sha_csv,
        sha256_pdf=hashlib.sha256(pdf_bytes).hexdigest(),
    )


# -- reads (all SQL of the export; bulk, by chunks of ids) ---------------------------------------------------------


def _parse_ids(event_ids: Iterable[str]) -> list[tuple[int, str]]:
    """(millisecond, canonical id) of each well-formed id, sorted and without duplicates.

    An event id's first 48 bits are its millisecond (see ``collectors.pipeline.event_ids``), so a chunk of
    ids sorted by time is a narrow range of the events' primary key (and of few monthly partitions)."""
    parsed: set[tuple[int, str]] = set()
    for value in event_ids:
        try:
            canonical = uuid.UUID(str(value).strip())
        except ValueError:
            continue  # cannot be in the store
        millisecond = int(canonical.hex[:12], 16)
        if millisecond < _LAST_MILLISECOND:  # beyond: not an id the collectors made (a random UUID)
            parsed.add((millisecond, str(canonical)))
    return sorted(parsed)


def _chunks(parsed: list[tuple[int, str]]) -> Iterable[tuple[datetime, datetime, list[str]]]:
    for start in range(0, len(parsed), _CHUNK):
        chunk = parsed[start : start + _CHUNK]
        first = datetime.fromtimestamp(chunk[0][0] / 1000, UTC)
        last = datetime.fromtimestamp(chunk[-1][0] / 1000, UTC) + timedelta(milliseconds=1)
        yield first, last, [i for _, i in chunk]


EVENT_READ_COLUMNS = ("event_id", "ts", "user_id", "terminal_id", "system", "jimu", "action", "result",
                      "subject_hash", "subject_count", "batch_id")  # fmt: skip


def events_by_ids(connection: Connection, municipality_code: str, event_ids: Sequence[str]) -> pd.DataFrame:
    """The events with the given ids (those stored), with the policy version that decided their batch
    (``decided_version_id``, empty if not decided yet) and their ``raw_ref``; ``ts`` aware UTC."""
    events, batches, runs = table_of(Event), table_of(IngestBatch), table_of(IngestRun)
    dialect = connection.dialect.name
    joined = events.outerjoin(
        batches, (batches.c.id == events.c.batch_id) & (batches.c.municipality_code == events.c.municipality_code)
    ).outerjoin(runs, runs.c.id == batches.c.run_id)
    names = [*EVENT_READ_COLUMNS, "decided_version_id", "raw_ref"]
    frames = []
    for first, last, ids in _chunks(_parse_ids(event_ids)):
        stmt = (
            select(
                *events_repo.raw_columns(dialect, EVENT_READ_COLUMNS),
                batches.c.decided_version_id,
                (runs.c.input + ":" + cast(events.c.raw_pos, String)).label("raw_ref"),
            )
            .select_from(joined)
            .where(
                events.c.municipality_code == municipality_code,
                events.c.ts >= first,
                events.c.ts < last,
                events.c.event_id.in_(ids),
            )
        )
        frames.append(events_repo.frame_of(connection, stmt, names))
    found = [f for f in frames if len(f)]
    if not found:
        return pd.DataFrame(columns=names)
    frame = pd.concat(found, ignore_index=True)
    frame["event_id"] = [str(uuid.UUID(bytes=bytes(raw))) for raw in frame["event_id"]]
    return frame


def violations_by_ids(connection: Connection, municipality_code: str, event_ids: Sequence[str]) -> pd.DataFrame:
    """Stored violations of the given events: ``event_id``, ``rule`` (key), ``policy_version_id``, ``evidence``
    (decoded JSON)."""
    table = table_of(Violation)
    columns = ["event_id", "rule", "policy_version_id", "evidence"]
    rows: list[Any] = []
    for first, last, ids in _chunks(_parse_ids(event_ids)):
        stmt = select(*(table.c[c] for c in columns)).where(
            table.c.municipality_code == municipality_code,
            table.c.ts >= first,
            table.c.ts < last,
            table.c.event_id.in_(ids),
        )
        rows.extend(connection.execute(stmt).all())
    frame = pd.DataFrame([tuple(r) for r in rows], columns=columns)
    frame["evidence"] = [json.loads(e) if e else {} for e in frame["evidence"]]
    return frame


def reference_rows(
    connection: Connection, model: type[Base], municipality_code: str, column: str, keys: Iterable[Any]
) -> pd.DataFrame:
    """Rows of a reference table whose ``column`` is one of ``keys`` (without ``municipality_code``)."""
    table = table_of(model)
    selected = [c for c in table.c if c.name != "municipality_code"]
    wanted = sorted({k for k in keys if isinstance(k, str) and k})
    rows: list[Any] = []
    for start in range(0, len(wanted), _CHUNK):
        stmt = select(*selected).where(
            table.c.municipality_code == municipality_code, table.c[column].in_(wanted[start : start + _CHUNK])
        )
        rows.extend(connection.execute(stmt).all())
    return pd.DataFrame([tuple(r) for r in rows], columns=[c.name for c in selected])


# -- assembling the rows -------------------------------------------------------------------------------------------


def _days(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], errors="coerce")
    return frame


def _iso(value: Any) -> str:
    return "" if value is None or pd.isna(value) else pd.Timestamp(value).date().isoformat()


def _text(value: Any) -> str:
    if value is None or (not isinstance(value, list | dict) and pd.isna(value)):
        return ""
    return str(value)


def _labelled(code: Any, names: dict[str, str]) -> str:
    """``code name`` (``1101 市民税課``), the code alone when it has no name, empty when missing."""
    text = _text(code)
    return f"{text} {names[text]}" if text in names else text


def evidence_rows(
    connection: Connection, settings: Settings, municipality_code: str, event_ids: Sequence[str]
) -> list[dict[str, Any]]:
    """One dict per stored event (ordered by time), with the :data:`CSV_COLUMNS` keys as text plus
    ``violations``: a list of ``{code, title, reason, control, evidence, policy_version}``."""
    events = events_by_ids(connection, municipality_code, event_ids)
    if events.empty:
        return []
    events = events.sort_values(["ts", "event_id"], kind="stable").reset_index(drop=True)
    local = events["ts"].dt.tz_convert(settings.tz)
    day = local.dt.tz_localize(None).dt.floor("D")

    accounts = reference_rows(connection, Account, municipality_code, "user_id", events["user_id"])
    accounts = accounts.drop_duplicates("user_id").set_index("user_id")
    staff_ids = accounts["staff_id"].dropna().unique()
    staff = reference_rows(connection, Staff, municipality_code, "staff_id", staff_ids).drop_duplicates("staff_id")
    staff = staff.set_index("staff_id")
    assignments = _days(
        reference_rows(connection, StaffAssignment, municipality_code, "staff_id", staff_ids), "valid_from", "valid_to"
    )
    grants = _days(
        reference_rows(connection, Grant, municipality_code, "user_id", events["user_id"]),
        "valid_from",
        "valid_to",
        "ended_on",
    )
    terminals = reference_rows(connection, Terminal, municipality_code, "terminal_id", events["terminal_id"])
    terminals = _days(terminals.drop_duplicates("terminal_id"), "registered_on", "retired_on").set_index("terminal_id")

    staff_of = events["user_id"].map(accounts["staff_id"]) if len(accounts) else pd.Series(np.nan, index=events.index)
    section = section_on_day(pd.DataFrame({"staff_id": staff_of, "day": day}), assignments)
    terminal_section = events["terminal_id"].map(terminals["section_code"]) if len(terminals) else None
    section_codes = set(section.dropna()) | (set(terminal_section.dropna()) if terminal_section is not None else set())
    sections = reference_rows(connection, Section, municipality_code, "section_code", section_codes)
    section_names = {str(k): str(v) for k, v in zip(sections["section_code"], sections["name"], strict=True)}

    held = _grants_held(events["user_id"], day, grants)
    violations = _violations_by_event(
        violations_by_ids(connection, municipality_code, list(events["event_id"])), events
    )

    rows: list[dict[str, Any]] = []
    for i, event in enumerate(events.itertuples(index=False)):
        user = str(event.user_id)
        account = accounts.loc[user] if user in accounts.index else None
        staff_id = _text(account["staff_id"]) if account is not None else ""
        person = f"{staff_id} {_text(staff.loc[staff_id, 'name'])}" if staff_id in staff.index else staff_id
        terminal = _text(event.terminal_id)
        found = violations.get(str(event.event_id), [])
        if found:
            decision = DECISION_VIOLATION
        elif _text_int(event.decided_version_id):
            decision = DECISION_ALLOWED
        else:
            decision = DECISION_UNDECIDED
        versions = sorted({v["policy_version"] for v in found})
        version = _SEPARATOR.join(str(v) for v in versions) if found else _text_int(event.decided_version_id)
        action = _text(event.action)
        rows.append(
            {
                "ts": local.iloc[i].strftime("%Y-%m-%d %H:%M:%S.") + f"{local.iloc[i].microsecond // 1000:03d}",
                "event_id": str(event.event_id),
                "user_id": user,
                "account_kind": ACCOUNT_KIND_JA.get(_text(account["kind"]), _text(account["kind"]))
                if account is not None
                else "台帳になし",
                "person": person,
                "section": _labelled(section.iloc[i], section_names),
                "terminal_id": terminal,
                "terminal_segment": _segment(terminals, terminal),
                "terminal_section": _labelled(terminals.loc[terminal, "section_code"], section_names)
                if terminal in terminals.index
                else "",
                "terminal_status": _terminal_status(terminals, terminal, day.iloc[i]),
                "system": _text(event.system),
                "jimu": _text(event.jimu),
                "action": f"{action}（{ACTION_JA[action]}）" if action in ACTION_JA else action,
                "result": _text(event.result),
                "subject_hash": _text(event.subject_hash),
                "subject_count": _text_int(event.subject_count),
                "decision": decision,
                "rules": _SEPARATOR.join(f"{v['code']} {v['title']}" for v in found),
                "reasons": _SEPARATOR.join(v["reason"] for v in found),
                "grants": _SEPARATOR.join(held.get(i, [])) or "なし",
                "policy_version": version,
                "raw_ref": _text(event.raw_ref),
                "violations": found,
            }
        )
    return rows


def _text_int(value: Any) -> str:
    return "" if value is None or pd.isna(value) else str(int(value))


def _segment(terminals: pd.DataFrame, terminal: str) -> str:
    if terminal not in terminals.index:
        return ""
    segment = _text(terminals.loc[terminal, "segment"])
    return SEGMENT_JA.get(segment, segment)


def _terminal_status(terminals: pd.DataFrame, terminal: str, day: pd.Timestamp) -> str:
    """As the policy engine judges it: in the registry, registered by that day and not yet retired."""
    if not terminal:
        return ""
    if terminal not in terminals.index:
        return "未登録"
    registered: Any = terminals.loc[terminal, "registered_on"]
    retired: Any = terminals.loc[terminal, "retired_on"]
    if pd.notna(registered) and registered > day:
        return "登録前"
    if pd.notna(retired) and retired <= day:
        return "廃止後"
    return "登録済"


def _grants_held(users: pd.Series, day: pd.Series, grants: pd.DataFrame) -> dict[int, list[str]]:
    """For each event (by position), the grants its account held on its day, as ``role（from〜to）``.

    Held as the policy engine holds them: an active grant, or a suspended / revoked one until the day
    it ended (``ended_on``); a grant ended without a known day never counts."""
    if grants.empty:
        return {}
    status = grants["status"].fillna("active")
    held = (status == "active") | grants["ended_on"].notna()
    ends = grants["valid_to"].where(
        grants["ended_on"].isna() | (grants["valid_to"] < grants["ended_on"]), grants["ended_on"]
    )
    active = grants[held].assign(until=ends[held])
    pairs = pd.DataFrame({"pos": np.arange(len(users)), "user_id": users.to_numpy(), "day": day.to_numpy()})
    joined = pairs.merge(active[["user_id", "role", "valid_from", "until", "status"]], on="user_id")
    valid = (joined["valid_from"].isna() | (joined["valid_from"] <= joined["day"])) & (
        joined["until"].isna() | (joined["day"] < joined["until"])
    )
    joined = joined[valid].sort_values(["pos", "role", "valid_from"])
    out: dict[int, list[str]] = {}
    for pos, role, start, until, grant_status in joined[["pos", "role", "valid_from", "until", "status"]].itertuples(
        index=False
    ):
        note = "" if grant_status in (None, "active") or pd.isna(grant_status) else f"・{grant_status}"
        label = f"{role}（{_iso(start)}〜{_iso(until)}{note}）"
        if label not in out.setdefault(int(pos), []):
            out[int(pos)].append(label)
    return out


def _violations_by_event(violations: pd.DataFrame, events: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Each event's broken rules, explained. Where several policy versions judged an event, the version
    that decided its batch is shown (the others are history); without it, the latest of each rule."""
    if violations.empty:
        return {}
    decided = dict(zip(events["event_id"], events["decided_version_id"], strict=True))
    out: dict[str, list[dict[str, Any]]] = {}
    ordered = violations.sort_values(["event_id", "rule", "policy_version_id"])
    for event_id, group in ordered.groupby("event_id", sort=False):
        version = decided.get(str(event_id))
        if version is not None and pd.notna(version) and (group["policy_version_id"] == int(version)).any():
            group = group[group["policy_version_id"] == int(version)]
        group = group.drop_duplicates("rule", keep="last")
        explained = []
        for rule_key, version_id, evidence in group[["rule", "policy_version_id", "evidence"]].itertuples(index=False):
            rule = BY_KEY.get(str(rule_key))
            explained.append(
                {
                    "code": rule.code if rule else str(rule_key),
                    "title": rule.title_ja if rule else str(rule_key),
                    "reason": rule.reason(evidence, "ja") if rule else "",
                    "control": rule.control if rule else "",
                    "evidence": evidence,
                    "policy_version": int(version_id),
                }
            )
        out[str(event_id)] = sorted(explained, key=lambda v: str(v["code"]))
    return out


# -- CSV -----------------------------------------------------------------------------------------------------------


def render_csv(rows: Sequence[dict[str, Any]]) -> bytes:
    """The CSV export: UTF-8 with BOM, CRLF, Japanese header, one row per event."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([header for _, header in CSV_COLUMNS])
    for row in rows:
        writer.writerow([row[key] for key, _ in CSV_COLUMNS])
    return buffer.getvalue().encode("utf-8-sig")


# -- PDF -----------------------------------------------------------------------------------------------------------

_MARGIN = 10.0
_BODY_PT = 9.0


class _EvidencePdf(JapanesePdf):
    """A4 landscape with the case named on every page and a footer tying it to the CSV."""

    def __init__(self, case_id: int, sha256_csv: str) -> None:
        super().__init__(orientation="L", margin=_MARGIN, body_pt=_BODY_PT)
        self.case_id = case_id
        self.sha256_csv = sha256_csv

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(JAPANESE_FONT_NAME, size=7)
        self.set_text_color(90, 90, 90)
        self.cell(
            0,
            4,
            f"証拠資料（事案 #{self.case_id}）  CSV SHA-256: {self.sha256_csv}",
            new_x=XPos.LMARGIN,
            new_y=YPos.TOP,
        )
        self.cell(0, 4, f"{self.page_no()} / {{nb}} ページ", align="R")
        self.set_text_color(0, 0, 0)


def _jst(value: Any, settings: Settings) -> str:
    if value is None or (not isinstance(value, datetime) and pd.isna(value)):
        return ""
    instant = pd.Timestamp(value)
    if instant.tzinfo is None:
        instant = instant.tz_localize(UTC)
    return instant.tz_convert(settings.tz).strftime("%Y-%m-%d %H:%M")


def render_pdf(
    settings: Settings,
    municipality_code: str,
    case: CaseSummary,
    rows: Sequence[dict[str, Any]],
    *,
    requested: int,
    generated_by: str,
    now: datetime,
    sha256_csv: str,
) -> bytes:
    """The PDF export (see the module's docstring for its parts)."""
    pdf = _EvidencePdf(case.case_id, sha256_csv)
    pdf.set_creation_date(now.astimezone(UTC))
    pdf.set_title(f"証拠資料（事案 #{case.case_id}）{case.title}")
    pdf.set_author(generated_by)
    pdf.set_subject(f"{municipality_code} 事案 #{case.case_id}")
    pdf.add_page()
    width = pdf.epw

    pdf.set_font(size=16)
    pdf.cell(0, 9, f"証拠資料（事案 #{case.case_id}）", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(size=_BODY_PT)
    status = STATUS_JA.get(case.status, case.status)
    disposition = DISPOSITION_JA.get(case.disposition, case.disposition) if case.disposition else "（未判断）"
    facts = [
        ("件名", case.title),
        ("状態", status),
        ("重大度", SEVERITY_JA.get(case.severity, case.severity)),
        ("処理結果", disposition),
        ("利用者", case.user_id or "—"),
        ("所属", case.section or "—"),
        ("事案の登録", _jst(case.opened_at, settings)),
        ("団体コード", municipality_code),
        ("作成日時", _jst(now, settings) + f"（{settings.timezone}）"),
        ("作成者", generated_by),
        ("収録イベント", f"{len(rows):,} 件（指定 {requested:,} 件）"),
        ("CSV SHA-256", sha256_csv),
    ]
    for label, value in facts:
        pdf.set_fill_color(*GREY)
        pdf.cell(32, 5.5, label, border=1, fill=True)
        pdf.multi_cell(width - 32, 5.5, value, border=1, new_x=XPos.LMARGIN, new_y=YPos.NEXT, wrapmode=WrapMode.CHAR)

    heading(pdf, f"アラート（{len(case.alerts)} 件）")
    if not case.alerts:
        pdf.multi_cell(width, 5, "この事案にアラートはありません。", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for alert in case.alerts:
        severity = SEVERITY_JA.get(str(alert.get("severity")), str(alert.get("severity", "")))
        line = (
            f"#{alert.get('id', '')}  {alert.get('rule', '')} {alert.get('title', '')}  重大度: {severity}  "
            f"期間: {_jst(alert.get('start'), settings)} 〜 {_jst(alert.get('end'), settings)}"
        )
        pdf.set_fill_color(240, 240, 240)
        pdf.multi_cell(width, 5, line, fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT, wrapmode=WrapMode.CHAR)
        pdf.multi_cell(
            width, 5, _text(alert.get("explanation")), new_x=XPos.LMARGIN, new_y=YPos.NEXT, wrapmode=WrapMode.CHAR
        )
        pdf.ln(1)

    heading(pdf, f"操作記録（{len(rows):,} 件、日時は日本時間）")
    if rows:
        headers = dict(CSV_COLUMNS)
        Table(pdf, [headers[key] for key, _ in PDF_COLUMNS], [w for _, w in PDF_COLUMNS]).draw(
            [row[key][:-4] if key == "ts" else row[key] for key, _ in PDF_COLUMNS] for row in rows
        )
    else:
        pdf.multi_cell(width, 5, "指定されたイベントは保存されていません。", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    violating = [r for r in rows if r["violations"]]
    heading(pdf, f"違反の説明（{len(violating):,} 件のイベント）")
    if not violating:
        pdf.multi_cell(width, 5, "収録したイベントに違反の判定はありません。", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for row in violating:
        # keep an event's explanation on one page (about four lines per rule)
        if pdf.will_page_break(5 + 4.6 * 4 * len(row["violations"])):
            pdf.add_page()
        pdf.set_fill_color(240, 240, 240)
        pdf.multi_cell(
            width,
            5,
            f"{row['ts']}  {row['user_id']}  端末 {row['terminal_id'] or '—'}  {row['system']} {row['jimu']} "
            f"{row['action']}  住民(仮名) {row['subject_hash'] or '—'}  イベントID {row['event_id']}",
            fill=True,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
            wrapmode=WrapMode.CHAR,
        )
        for violation in row["violations"]:
            evidence = "、".join(f"{k}: {_evidence_value(v)}" for k, v in violation["evidence"].items())
            text = (
                f"{violation['code']} {violation['title']}（ポリシー版 {violation['policy_version']}）\n"
                f"理由: {violation['reason']}\n"
                + (f"根拠: {violation['control']}\n" if violation["control"] else "")
                + (f"証跡: {evidence}" if evidence else "")
            )
            pdf.set_x(_MARGIN + 4)
            pdf.multi_cell(
                width - 4, 4.6, text.rstrip("\n"), new_x=XPos.LMARGIN, new_y=YPos.NEXT, wrapmode=WrapMode.CHAR
            )
        pdf.ln(1.5)
    return bytes(pdf.output())


def _evidence_value(value: Any) -> str:
    if isinstance(value, list):
        return "・".join(str(v) for v in value) or "なし"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)
