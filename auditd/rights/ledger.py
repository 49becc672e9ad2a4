"""The 権限管理表 (rights ledger) as a CSV file: export for Excel, import from Excel.

A municipality keeps its ledger in Excel; this module reads it (CP932 as Excel saves "CSV", or UTF-8
with or without a BOM) and writes it back (UTF-8 with a BOM so Excel opens it as UTF-8, or CP932).

Columns have Japanese headers; the English names are accepted as aliases (see :data:`COLUMNS`).
Dates may be ``2025-04-01``, ``2025/4/1``, ``2025年4月1日`` or 和暦 (``令和7年4月1日``, ``R07.04.01``).

The import is **all or nothing**: every row is checked first and every bad row is reported with its
line number (the header is line 1) and the reason; when any row is bad nothing is applied, so a
half-imported ledger never exists and the person fixes the file and imports it again. ``dry_run``
checks and reports without applying. A row is keyed by (account, role, start): a row matching a
stored grant changes nothing (so re-importing a file is a no-op), a row with another end changes
that grant's end ("amended"), a new row issues a grant with origin ``ledger`` (one ``grant_events``
row, action ``issued``). Grants missing from the file are left as they are: ending a right is a
revocation with a reason (the 権限管理 page or the API), not a line deleted from a spreadsheet.

An account named for the first time is created for the person in 職員番号; an existing account
held by another person is refused (one account, one person, as ``POST /api/v1/rights/accounts``).
A contractor's grant must have a contract and a pledge (誓約書) and ends with the contract
(:func:`auditd.rights.contracts.cap`). The import is one trail entry (the file's SHA-256 and counts).

CP932 cannot hold every character (e.g. 𠮷, ①-style characters outside NEC's set, emoji): on a
CP932 export such a character is written as 〓 (geta, the customary mark for a missing glyph) and
the number of cells changed is returned, so the caller says so; UTF-8 loses nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Connection

from auditd.auth.schemas import Principal
from auditd.errors import ValidationFailed
from auditd.jp.wareki import parse_wareki_date
from auditd.privacy.mynumber import mask_text
from auditd.rights import contracts, repository
from auditd.rights.schemas import LedgerImportResult, LedgerRowError
from auditd.rights.service import RoleCatalog, _event
from auditd.trail.service import record

Encoding = Literal["auto", "cp932", "utf-8"]

#: Column → (Japanese header written on export, accepted aliases). Order is the export's.
COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "staff_id": ("職員番号", ("職員id", "職員コード", "staff")),
    "name": ("氏名", ("名前",)),
    "user_id": ("アカウント", ("操作者id", "ユーザid", "ユーザーid", "account", "user")),
    "kind": ("区分", ("アカウント区分", "account_kind")),
    "role": ("ロール", ("役割", "権限")),
    "valid_from": ("開始日", ("付与日", "有効開始日", "from", "start")),
    "valid_to": ("終了日", ("有効終了日", "to", "end")),
    "section_code": ("所属", ("所属コード", "section")),
    "temporary": ("一時", ("臨時", "temp")),
    "status": ("状態", ()),
    "approver": ("承認者", ()),
    "note": ("備考", ("メモ", "comment")),
}
REQUIRED = ("user_id", "role", "valid_from")
#: Columns written on export that the import reads for information only.
INFORMATIONAL = ("name", "section_code", "status")
MISSING_GLYPH = "〓"
TRUE_WORDS = {"1", "true", "yes", "y", "○", "〇", "◯", "はい", "有", "あり", "一時", "臨時"}
FALSE_WORDS = {"", "0", "false", "no", "n", "×", "いいえ", "無", "なし", "-"}
KINDS = {"personal": "personal", "個人": "personal", "temporary": "temporary", "臨時": "temporary",
         "一時": "temporary", "admin": "admin", "管理者": "admin"}  # fmt: skip
MAX_CELL = 2000


def _header_key(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lstrip("\ufeff").lower().replace(" ", "_")


_ALIASES: dict[str, str] = {}
for _name, (_ja, _more) in COLUMNS.items():
    for _alias in (_name, _ja, *_more):
        _ALIASES[_header_key(_alias)] = _name

_ISO_LIKE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?$")


def parse_day(text: str) -> date | None:
    """A ledger date: ``2025-04-01``, ``2025/4/1`` (Excel may add `` 0:00``), ``2025年4月1日``, or
    和暦 through :func:`auditd.jp.wareki.parse_wareki_date`; full-width digits are accepted. None
    when the text is none of these or not a day of the calendar."""
    value = unicodedata.normalize("NFKC", text).strip()
    match = _ISO_LIKE.match(value)
    if match:
        try:
            return date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return None
    return parse_wareki_date(value)


def _flag(text: str) -> bool | None:
    value = unicodedata.normalize("NFKC", text).strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    return None


def decode(data: bytes, encoding: Encoding) -> tuple[str, str]:
    """The text of an uploaded file and the encoding it was read in. ``auto``: UTF-8 (a BOM is
    skipped) when the bytes are valid UTF-8, else CP932 (what Excel writes as "CSV")."""
    tries = ("utf-8", "cp932") if encoding == "auto" else (encoding,)
    for name in tries:
        try:
            return data.decode("utf-8-sig" if name == "utf-8" else name), name
        except UnicodeDecodeError:
            continue
    raise ValidationFailed(
        f"the file is not {' or '.join(tries)} text / 文字コードを判別できません",
        hint="save it from Excel as 'CSV (コンマ区切り)' (CP932) or 'CSV UTF-8'",
    )


# -- export -------------------------------------------------------------------------------------------


@dataclass
class Export:
    data: bytes
    rows: int
    replaced: int = field(default=0)  # cells with characters CP932 lacks, written with 〓


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def export(
    connection: Connection,
    principal: Principal,
    *,
    encoding: Literal["cp932", "utf-8"],
    on: date | None,
    today: date,
    client: str | None = None,
) -> Export:
    """The 権限管理表 as CSV bytes (CRLF lines, as Excel writes them). Recorded in the trail: the file
    names the staff and their rights."""
    mc = principal.municipality_code
    rows = repository.ledger_rows(connection, mc, on, today)
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([ja for ja, _ in COLUMNS.values()])
    replaced = 0
    for row in rows:
        cells = {
            **{name: _cell(row.get(name)) for name in COLUMNS},
            "temporary": "1" if row["kind"] == "temporary" else "",
        }
        line = []
        for name in COLUMNS:
            text = cells[name]
            if encoding == "cp932":
                fitted = text.encode("cp932", errors="replace").decode("cp932")
                if fitted != text:
                    replaced += 1
                    text = "".join(ch if ch.encode("cp932", errors="ignore") else MISSING_GLYPH for ch in text)
            line.append(text)
        writer.writerow(line)
    text = out.getvalue()
    data = text.encode("cp932") if encoding == "cp932" else text.encode("utf-8-sig")
    record(
        connection,
        mc,
        principal.username,
        "rights_ledger_exported",
        "grants",
        None,
        {"rows": len(rows), "on": on, "encoding": encoding, "replaced": replaced},
        client,
    )
    return Export(data=data, rows=len(rows), replaced=replaced)


# -- import -------------------------------------------------------------------------------------------


@dataclass
class _Row:
    line: int
    user_id: str
    role: str
    valid_from: date
    valid_to: date | None
    staff_id: str | None
    kind: str | None
    temporary: bool
    approver: str | None
    note: str | None


def _read(text: str, errors: list[LedgerRowError], warnings: list[str]) -> tuple[list[_Row], int]:
    """The good rows, and how many data rows there were; bad rows are added to ``errors``."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ValidationFailed("the file is empty / ファイルが空です") from None
    except csv.Error as exc:
        raise ValidationFailed(f"line 1: not CSV ({exc}) / CSVとして読めません") from exc
    columns: dict[int, str] = {}
    for index, title in enumerate(header):
        name = _ALIASES.get(_header_key(title))
        if name is None:
            if title.strip():
                warnings.append(f"column {title.strip()!r} is not a ledger column and was ignored / 対象外の列です")
            continue
        if name in columns.values():
            raise ValidationFailed(f"line 1: column {title!r} appears twice / 列が重複しています")
        columns[index] = name
    missing = [COLUMNS[name][0] + "/" + name for name in REQUIRED if name not in columns.values()]
    if missing:
        raise ValidationFailed(
            f"line 1: the header lacks {', '.join(missing)} / 必須の列がありません",
            hint="the header names are those of an export: 職員番号, アカウント, ロール, 開始日, 終了日 …",
        )
    rows: list[_Row] = []
    total = 0
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue  # Excel leaves empty lines at the end
            total += 1
            row = _row(line, {name: (cells[i] if i < len(cells) else "") for i, name in columns.items()}, errors)
            if row is not None:
                rows.append(row)
    except csv.Error as exc:
        errors.append(LedgerRowError(line=reader.line_num, reason=f"not CSV: {exc} / CSVとして読めません"))
    return rows, total


def _row(line: int, cells: dict[str, str], errors: list[LedgerRowError]) -> _Row | None:
    before = len(errors)

    def bad(column: str | None, reason: str) -> None:
        errors.append(LedgerRowError(line=line, column=column, reason=reason))

    values = {name: unicodedata.normalize("NFKC", text).strip() for name, text in cells.items()}
    for name, text in values.items():
        if len(text) > MAX_CELL or any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in text):
            bad(name, "control characters or an over-long cell / 制御文字または長すぎる値")
            values[name] = ""
    for name in REQUIRED:
        if not values.get(name):
            bad(name, f"{COLUMNS[name][0]} is empty / 必須の値がありません")
    for name in ("user_id", "role", "staff_id", "approver"):
        if len(values.get(name, "")) > 64:
            bad(name, "longer than 64 characters / 64文字を超えています")
    valid_from = valid_to = None
    if values.get("valid_from"):
        valid_from = parse_day(values["valid_from"])
        if valid_from is None:
            bad("valid_from", f"{values['valid_from']!r} is not a date / 日付として読めません")
    if values.get("valid_to"):
        valid_to = parse_day(values["valid_to"])
        if valid_to is None:
            bad("valid_to", f"{values['valid_to']!r} is not a date / 日付として読めません")
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        bad("valid_to", "the end must be after the start (終了日は開始日より後) / valid_to must be after valid_from")
    for day, name in ((valid_from, "valid_from"), (valid_to, "valid_to")):
        if day is not None and not date(1900, 1, 1) <= day <= date(2999, 12, 31):
            bad(name, "the date is out of range / 日付が範囲外です")
    temporary = _flag(values.get("temporary", ""))
    if temporary is None:
        bad("temporary", f"{values.get('temporary')!r} is not yes/no (1/0, ○/×) / 一時の値が不正です")
    kind = None
    if values.get("kind"):
        kind = KINDS.get(values["kind"].lower())
        if kind is None:
            bad("kind", f"{values['kind']!r} is not personal, temporary or admin / 区分が不正です")
    if len(errors) > before:
        return None
    assert valid_from is not None
    return _Row(
        line=line,
        user_id=values["user_id"],
        role=values["role"],
        valid_from=valid_from,
        valid_to=valid_to,
        staff_id=values.get("staff_id") or None,
        kind=kind,
        temporary=bool(temporary),
        approver=values.get("approver") or None,
        note=mask_text(values["note"])[0] if values.get("note") else None,
    )


def import_ledger(
    connection: Connection,
    principal: Principal,
    roles: RoleCatalog,
    data: bytes,
    *,
    encoding: Encoding = "auto",
    dry_run: bool = False,
    filename: str | None = None,
    now: datetime,
    client: str | None = None,
) -> LedgerImportResult:
    """Check every row of a 権限管理表 and, when all are good and this is no dry run, apply them (see
    the module's docstring). Refusals of the whole file (not text, no header) raise
    :class:`ValidationFailed`; a bad row is reported in ``errors`` and nothing is applied."""
    mc = principal.municipality_code
    text, used = decode(data, encoding)
    errors: list[LedgerRowError] = []
    warnings: list[str] = []
    rows, total = _read(text, errors, warnings)
    accounts = repository.accounts_of(connection, mc, [r.user_id for r in rows])
    staff = repository.staff_of(connection, mc, [r.staff_id for r in rows if r.staff_id])
    stored = repository.grants_of(connection, mc, [r.user_id for r in rows])
    by_key = {(g["user_id"], g["role"], g["valid_from"]): g for g in stored}

    holder: dict[str, str] = {}  # account → person, as the file and the store say
    holder_line: dict[str, int] = {}
    seen: dict[tuple[str, str, date], _Row] = {}
    new_accounts: dict[str, _Row] = {}
    to_issue: list[tuple[_Row, date | None]] = []
    to_amend: list[tuple[_Row, dict[str, Any], date | None]] = []
    unchanged = 0
    for row in rows:

        def bad(column: str | None, reason: str, line: int = row.line) -> None:
            errors.append(LedgerRowError(line=line, column=column, reason=reason))

        key = (row.user_id, row.role, row.valid_from)
        if key in seen:
            first = seen[key]
            if (first.valid_to, first.staff_id) != (row.valid_to, row.staff_id):
                bad(None, f"the same grant as line {first.line} with other values / {first.line}行目と矛盾します")
            continue
        seen[key] = row
        account = accounts.get(row.user_id)
        person = row.staff_id or (account or {}).get("staff_id")
        if account is not None and account["staff_id"] and row.staff_id and account["staff_id"] != row.staff_id:
            bad(
                "staff_id",
                f"操作者ID {row.user_id} は別の職員（{account['staff_id']}）に割り当て済みです。IDの共用はできません"
                f" / account {row.user_id} belongs to another person; accounts are never shared",
            )
            continue
        if person is None:
            bad("staff_id", f"a new account {row.user_id} needs 職員番号 / 新しいアカウントには職員番号が必要です")
            continue
        if row.user_id in holder and holder[row.user_id] != person:
            bad(
                "staff_id",
                f"account {row.user_id} is given to {holder[row.user_id]} on line {holder_line[row.user_id]}: "
                "accounts are never shared / IDの共用はできません",
            )
            continue
        holder.setdefault(row.user_id, person)
        holder_line.setdefault(row.user_id, row.line)
        who = staff.get(person)
        if account is None or account["staff_id"] is None:
            if who is None:
                bad("staff_id", f"no staff member {person!r} on the personnel register / 職員名簿にない職員です")
                continue
            new_accounts.setdefault(row.user_id, row)
        if row.role not in roles:
            bad("role", f"unknown role {row.role!r}: not in the policy in force / ポリシーにない役割です")
            continue
        kind = row.kind or (account or {}).get("kind") or ("temporary" if row.temporary else "personal")
        if (row.temporary or kind == "temporary") and row.valid_to is None:
            bad("valid_to", "a temporary grant must end / 臨時の権限には終了日が必要です")
            continue
        disabled = (account or {}).get("disabled_on")
        if disabled is not None and disabled <= row.valid_from:
            bad("user_id", f"account {row.user_id} is disabled from {disabled} / 無効化済みのIDです")
            continue
        end, refusal = contracts.cap(connection, mc, person, row.valid_from, row.valid_to)
        if refusal:
            bad("staff_id", refusal)
            continue
        if end != row.valid_to:
            warnings.append(f"line {row.line}: the grant ends with the contract on {end} / 契約終了日で終了します")
        grant = by_key.get(key)
        if grant is None:
            to_issue.append((row, end))
        elif grant["status"] == "revoked":
            warnings.append(f"line {row.line}: grant #{grant['id']} was revoked; it is not issued again / 取消済み")
            unchanged += 1
        elif grant["valid_to"] != end:
            to_amend.append((row, grant, end))
        else:
            unchanged += 1

    applied = not errors and not dry_run
    if applied:
        _apply(connection, principal, new_accounts, holder, to_issue, to_amend, now=now, client=client)
        record(
            connection,
            mc,
            principal.username,
            "rights_ledger_imported",
            "grants",
            None,
            {
                "file": filename,
                "sha256": hashlib.sha256(data).hexdigest(),
                "encoding": used,
                "rows": len(rows),
                "accounts_created": sorted(new_accounts),
                "issued": len(to_issue),
                "amended": len(to_amend),
                "unchanged": unchanged,
            },
            client,
        )
    errors.sort(key=lambda e: e.line)
    return LedgerImportResult(
        applied=applied,
        dry_run=dry_run,
        encoding=used,
        rows=total,
        accounts_created=sorted(new_accounts),
        issued=len(to_issue),
        amended=len(to_amend),
        unchanged=unchanged,
        errors=errors,
        warnings=warnings,
    )


def _apply(
    connection: Connection,
    principal: Principal,
    new_accounts: dict[str, _Row],
    holder: dict[str, str],
    to_issue: Iterable[tuple[_Row, date | None]],
    to_amend: Iterable[tuple[_Row, dict[str, Any], date | None]],
    *,
    now: datetime,
    client: str | None,
) -> None:
    mc = principal.municipality_code
    actor = principal.username[:64]
    for user_id, row in sorted(new_accounts.items()):
        if repository.account(connection, mc, user_id) is None:
            repository.insert_account(
                connection,
                municipality_code=mc,
                user_id=user_id,
                staff_id=holder[user_id],
                kind=row.kind or ("temporary" if row.temporary else "personal"),
                created_on=row.valid_from,
            )
        else:  # an account known without its person: the ledger names them
            repository.update_account(connection, mc, user_id, staff_id=holder[user_id])
        record(
            connection,
            mc,
            principal.username,
            "rights_account_created",
            "account",
            user_id,
            {"staff_id": holder[user_id], "origin": "ledger"},
            client,
        )
    events = []
    for row, end in to_issue:
        grant_id = repository.add_grant(
            connection,
            municipality_code=mc,
            user_id=row.user_id,
            role=row.role,
            valid_from=row.valid_from,
            valid_to=end,
            approver=(row.approver or actor)[:64],
            status="active",
            origin="ledger",
        )
        events.append(
            _event(
                actor,
                mc,
                "issued",
                row.user_id,
                now=now,
                grant_id=grant_id,
                effective_on=row.valid_from,
                reason=row.note,
                detail={"origin": "ledger", "role": row.role, "valid_to": end, "line": row.line},
            )
        )
    for row, grant, end in to_amend:
        repository.set_grant_end(connection, mc, int(grant["id"]), end)
        events.append(
            _event(
                actor,
                mc,
                "amended",
                row.user_id,
                now=now,
                grant_id=int(grant["id"]),
                effective_on=end,
                reason=row.note,
                detail={"origin": "ledger", "role": row.role, "valid_to": end, "was": grant["valid_to"]},
            )
        )
    repository.add_events(connection, events)


def result_summary(result: LedgerImportResult) -> str:
    """One line for a shell or a flash message."""
    return json.dumps(
        {
            "applied": result.applied,
            "issued": result.issued,
            "amended": result.amended,
            "unchanged": result.unchanged,
            "errors": len(result.errors),
        }
    )
