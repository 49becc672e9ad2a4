"""The dashboard's 住民アクセス履歴 page: every access to one resident in a period, for the officer who
answers a resident's question or looks into a case (officers only: only an officer sees personal data,
as for the disclosure report).

The 宛名番号 never travels in a URL (access logs, browser history): the officer types it into a POST
form, it is hashed to the collectors' pseudonym exactly as the disclosure report hashes it
(:func:`reports.disclosure.pseudonym_of`) and forgotten, and the browser is sent on to
``/residents/{pseudonym}`` — the same page a case's resident (a pseudonym only) links to. Every view
of a history is trailed (``resident.lookup``, with the pseudonym). The number itself is shown only
when the officer asks for it (「宛名番号を表示」, a POST): it is opened from the vault
(:mod:`auditd.privacy.vault`, sealed at ingest), shown in that one response, and the reveal is trailed
(``resident.reveal``). A 個人番号 is never sealed, so never shown.

The page reads the resident's index only: the newest :data:`SHOWN` accesses in full, and two columns of
every access in the period for the summary and the monthly chart."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection, select

from auditd.api.deps import DbSession, SettingsDep, VaultDep, client_address, require, verify_csrf
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.cases.evidence import ACTION_JA
from auditd.dashboard.charts import bar_chart
from auditd.dashboard.i18n import translator
from auditd.dashboard.router import flash, render, take_flash
from auditd.errors import ConfigError, Forbidden, NotFound, ValidationFailed
from auditd.privacy.models import Subject
from auditd.privacy.pseudonym import PSEUDONYM_HEX_CHARS
from auditd.privacy.vault import Vault
from auditd.settings import Settings
from auditd.store.base import table_of
from auditd.trail.service import record
from policies.rules import BY_CODE
from reports import disclosure
from reports import service as reports_service
from reports.base import EARLIEST, LATEST, generate
from reports.render import FORMATS

router = APIRouter(include_in_schema=False)
Officer = Annotated[Principal, Depends(require(PlatformRole.OFFICER))]

#: Accesses listed in full, newest first (the summary and the chart count them all).
SHOWN = 500
_PSEUDONYM = re.compile(rf"^[0-9a-f]{{{PSEUDONYM_HEX_CHARS}}}$")
_NUMBER = re.compile(r"^[0-9０-９]{1,32}$")

#: The formats of the disclosure report's form, PDF first (the one selected): the format an officer
#: hands or sends to the resident.
DISCLOSURE_FORMATS = ("pdf", *(f for f in FORMATS if f != "pdf"))


# -- the period ---------------------------------------------------------------------------------------


def _today(settings: Settings) -> date:
    return datetime.now(UTC).astimezone(settings.tz).date()


def default_period(today: date) -> tuple[date, date]:
    """The last 12 months, Japan days: from the day after the same day a year ago, to today."""
    try:
        year_ago = today.replace(year=today.year - 1)
    except ValueError:  # 29 February
        year_ago = today.replace(year=today.year - 1, day=28)
    return year_ago + timedelta(days=1), today


def _period(settings: Settings, since: str | None, until: str | None) -> tuple[date, date]:
    """The period asked for (blank: the default's end), or ValidationFailed saying what is wrong."""
    first, last = default_period(_today(settings))
    try:
        first = date.fromisoformat(since.strip()) if since and since.strip() else first
        last = date.fromisoformat(until.strip()) if until and until.strip() else last
    except ValueError as exc:
        raise ValidationFailed("a day is not YYYY-MM-DD / 日付は YYYY-MM-DD で入力してください") from exc
    if first > last:
        raise ValidationFailed(f"the period ends before it starts / 期間の終了日が開始日より前です ({first} > {last})")
    if first < EARLIEST or last > LATEST:
        raise ValidationFailed(f"the period must lie within {EARLIEST} – {LATEST} / 期間が範囲外です")
    return first, last


def _subject(pseudonym: str) -> str:
    """A pseudonym from a path: anything else is not found (and says nothing more)."""
    if not _PSEUDONYM.match(pseudonym):
        raise NotFound("no such resident page / 該当するページはありません")
    return pseudonym


def _back_to(pseudonym: str, first: date, last: date) -> str:
    return f"/residents/{pseudonym}?since={first.isoformat()}&until={last.isoformat()}"


# -- reading ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """One row of the list."""

    when: datetime
    account: str
    staff: str
    section: str
    jimu: str
    system: str
    action: str
    failed: bool
    violations: list[str]
    alerts: list[tuple[int, int | None]]  # (alert id, case id or None)


@dataclass(frozen=True)
class History:
    subject: str
    first: date
    last: date
    total: int
    accounts: int
    sections: list[str]
    flagged: int  # of the listed rows
    first_access: datetime | None
    last_access: datetime | None
    months: list[tuple[str, int]]
    rows: list[Access]

    @property
    def more(self) -> int:
        return self.total - len(self.rows)


def _months(first: date, last: date) -> list[str]:
    months, year, number = [], first.year, first.month
    while (year, number) <= (last.year, last.month):
        months.append(f"{year:04d}-{number:02d}")
        year, number = year + (number == 12), number % 12 + 1
    return months


def _text(value: Any) -> str:
    return value if isinstance(value, str) and value else "—"


def history(connection: Connection, code: str, subject: str, first: date, last: date) -> History:
    """What the page shows of ``subject`` over the Japan days ``first`` … ``last``."""
    start_at, end_at = disclosure.period_bounds(first, last)
    overview = disclosure.access_overview(connection, code, subject, start_at, end_at)
    shown = disclosure.accesses(connection, code, subject, start_at, end_at, True, newest=SHOWN)
    alerts = disclosure.alerts_on(connection, code, shown)
    counts = overview["local"].dt.strftime("%Y-%m").value_counts() if len(overview) else pd.Series(dtype=int)
    rows = [
        Access(
            when=local.to_pydatetime(),
            account=_text(account),
            staff=_text(staff),
            section=_text(section),
            jimu=_text(jimu),
            system=_text(system),
            action=str(action),
            failed=str(result) == "failure",
            violations=[str(v) for v in found],
            alerts=alerts.get(str(event_id), []),
        )
        for local, account, staff, section, jimu, system, action, result, found, event_id in zip(
            shown["local"], shown["user_id"], shown["staff"], shown["section"], shown["jimu"], shown["system"],
            shown["action"], shown["result"], shown["violations"], shown["event_id"], strict=True,
        )
    ]  # fmt: skip
    return History(
        subject=subject,
        first=first,
        last=last,
        total=len(overview),
        accounts=int(overview["user_id"].nunique()) if len(overview) else 0,
        sections=sorted(set(overview["section"]) - {disclosure.UNKNOWN_SECTION}) if len(overview) else [],
        flagged=sum(1 for r in rows if r.violations),
        first_access=overview["local"].min().to_pydatetime() if len(overview) else None,
        last_access=overview["local"].max().to_pydatetime() if len(overview) else None,
        months=[(m, int(counts.get(m, 0))) for m in _months(first, last)],
        rows=rows,
    )


def sealed_identifier(connection: Connection, code: str, subject: str) -> bytes | None:
    """The vault's sealed 宛名番号 of ``subject``; None when the vault holds none (never seen, or a
    個人番号, which is never sealed)."""
    table = table_of(Subject)
    stmt = select(table.c.sealed).where(table.c.municipality_code == code, table.c.subject_hash == subject)
    found = connection.execute(stmt).scalar_one_or_none()
    return bytes(found) if found else None


def reveal(connection: Connection, vault: Vault, principal: Principal, subject: str, client: str | None) -> str | None:
    """The 宛名番号 behind ``subject``, from the vault, or None; the attempt is trailed either way
    (``resident.reveal``: the pseudonym and whether a number was shown, never the number)."""
    code = principal.municipality_code
    sealed = sealed_identifier(connection, code, subject)
    number: str | None = None
    outcome = "none"
    if sealed is not None:
        try:
            number = vault.open(code, subject, sealed)
            outcome = "shown"
        except ConfigError:
            outcome = "undecryptable"
    record(connection, code, principal.username, "resident.reveal", "resident", subject, {"outcome": outcome}, client)
    return number


def _rule_en(label: str) -> str:
    """``P04 業務時間外・閉庁日`` (as the disclosure report words it) in English."""
    code = label.partition(" ")[0]
    rule = BY_CODE.get(code)
    return f"{code} {rule.title_en}" if rule else label


# -- the pages ----------------------------------------------------------------------------------------


def _page(
    request: Request,
    settings: Settings,
    principal: Principal,
    *,
    found: History | None = None,
    first: date | None = None,
    last: date | None = None,
    error: str | None = None,
    revealed: str | None = None,
    reveal_failed: bool = False,
) -> HTMLResponse:
    t = translator(settings.language)
    if first is None or last is None:
        first, last = default_period(_today(settings))
    chart = None
    if found is not None and found.months:
        chart = bar_chart(
            [(m[2:] if len(found.months) > 12 else m[5:], n) for m, n in found.months],
            width=560,
            height=160,
            label_every=max(1, len(found.months) // 12),
            title=t("res_by_month"),
            language=settings.language,
        )
    return render(
        request,
        "residents.html",
        settings,
        principal=principal,
        found=found,
        first=first,
        last=last,
        error=error,
        revealed=revealed,
        reveal_failed=reveal_failed,
        chart=chart,
        shown_limit=SHOWN,
        formats=DISCLOSURE_FORMATS,
        action_label=(lambda a: ACTION_JA.get(a, a)) if settings.language == "ja" else (lambda a: a),
        rule_label=(lambda v: v) if settings.language == "ja" else _rule_en,
        flash=take_flash(request),
        page="residents",
    )


@router.get("/residents", response_class=HTMLResponse)
def residents_form(request: Request, settings: SettingsDep, principal: Officer) -> Response:
    """The lookup form. A query string is ignored: a 宛名番号 is only taken from the POST form."""
    return _page(request, settings, principal)


@router.post("/residents", dependencies=[Depends(verify_csrf)])
def look_up(
    request: Request,
    settings: SettingsDep,
    principal: Officer,
    resident: Annotated[str, Form(max_length=200)] = "",
    since: Annotated[str, Form(max_length=32)] = "",
    until: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Hash the 宛名番号 and go on to the pseudonym's page (where the view is trailed). A bad input is
    said on the form, which comes back empty: the number is not echoed."""
    number = resident.strip()
    try:
        first, last = _period(settings, since, until)
        if not _NUMBER.match(number):
            raise ValidationFailed("the 宛名番号 is digits only / 宛名番号は数字で入力してください")
    except ValidationFailed as exc:
        response = _page(request, settings, principal, error=exc.message)
        response.status_code = 422
        return response
    # the number is forgotten here: only its pseudonym goes on (into the URL, the trail, the page)
    pseudonym = disclosure.pseudonym_of(settings, principal.municipality_code, number)
    return RedirectResponse(_back_to(pseudonym, first, last), status_code=303)


def _history_page(
    request: Request,
    settings: Settings,
    db: DbSession,
    principal: Principal,
    subject: str,
    first: date,
    last: date,
    **extra: Any,
) -> HTMLResponse:
    connection = db.connection()
    found = history(connection, principal.municipality_code, subject, first, last)
    detail = {"since": first.isoformat(), "until": last.isoformat(), "accesses": found.total}
    record(
        connection, principal.municipality_code, principal.username, "resident.lookup", "resident", subject,
        detail, client_address(request),
    )  # fmt: skip
    return _page(request, settings, principal, found=found, first=first, last=last, **extra)


@router.get("/residents/{pseudonym}", response_class=HTMLResponse)
def resident_history(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: Officer,
    pseudonym: str,
    since: Annotated[str | None, Query(max_length=32)] = None,
    until: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """The history of the resident ``pseudonym`` (a case links here). Trailed: ``resident.lookup``."""
    subject = _subject(pseudonym)
    try:
        first, last = _period(settings, since, until)
    except ValidationFailed as exc:
        response = _page(request, settings, principal, error=exc.message)
        response.status_code = 422
        return response
    return _history_page(request, settings, db, principal, subject, first, last)


@router.post("/residents/{pseudonym}/reveal", dependencies=[Depends(verify_csrf)])
def reveal_number(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    vault: VaultDep,
    principal: Officer,
    pseudonym: str,
    since: Annotated[str, Form(max_length=32)] = "",
    until: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """「宛名番号を表示」: the number from the vault, in this response only (no redirect, no flash: it is
    kept nowhere). Trailed: ``resident.reveal``, and the history shown with it as ``resident.lookup``."""
    subject = _subject(pseudonym)
    try:
        first, last = _period(settings, since, until)
    except ValidationFailed:
        first, last = default_period(_today(settings))
    number = reveal(db.connection(), vault, principal, subject, client_address(request))
    return _history_page(
        request, settings, db, principal, subject, first, last, revealed=number, reveal_failed=number is None
    )


@router.post("/residents/{pseudonym}/report", dependencies=[Depends(verify_csrf)])
def disclosure_report(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: Officer,
    pseudonym: str,
    since: Annotated[str, Form(max_length=32)] = "",
    until: Annotated[str, Form(max_length=32)] = "",
    format: Annotated[str, Form(max_length=16)] = "pdf",
    show_staff: Annotated[str | None, Form(max_length=1)] = None,
) -> Response:
    """The アクセス記録開示報告書 of this resident and period, made as the レポート page makes it (stored,
    trailed as ``report.generate`` with the pseudonym): the officer finds it first in the list there."""
    subject = _subject(pseudonym)
    if not reports_service.may_see_personal(principal):  # the rule of reports.service.make
        raise Forbidden("a disclosure report is made by an officer in person / 開示報告書は職員本人のみ作成できます")
    try:
        first, last = _period(settings, since, until)
        request_ = disclosure.SubjectRequest(
            "disclosure", principal.municipality_code, first, last, None, True if show_staff else None, subject=subject
        )
        made = generate(db.connection(), settings, request_, format, principal.username, "dashboard")
    except ValidationFailed as exc:
        db.rollback()
        flash(request, "error", "error_input", exc.message)
        return RedirectResponse(f"/residents/{subject}", status_code=303)
    flash(request, "ok", "report_made", f"#{made.run_id} {made.document.title}")
    return RedirectResponse("/reports", status_code=303)
