"""What the dashboard pages show, computed from the store through the domains' repositories."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pandas as pd
from sqlalchemy import Connection, select

from auditd.alerts.models import SEVERITIES
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.cases import repository as cases_repo
from auditd.cases import service as cases_service
from auditd.cases.models import CASE_STATUSES
from auditd.cases.schemas import CaseEventOut, CaseOut
from auditd.errors import Forbidden
from auditd.events import repository as events_repo
from auditd.events import rollup
from auditd.reference.models import Municipality
from auditd.rights import campaigns
from auditd.rights import repository as rights_repo
from auditd.rights import service as rights_service
from auditd.rights.schemas import LagSummary
from auditd.settings import Settings
from reports import jobs as report_jobs
from reports import pia

JST = timezone(timedelta(hours=9), "JST")
EARLIEST_DAY, LATEST_DAY = date(1900, 1, 1), date(2999, 12, 31)  # every day a store can hold
SILENT_AFTER = timedelta(hours=26)  # a daily file that is a few hours late is not yet silent


@dataclass
class Overview:
    municipality_name: str
    totals: dict[str, int]
    quarantined: int
    daily: list[tuple[str, int]]
    hourly: list[tuple[int, int]]
    systems: list[tuple[str, int]]
    sources: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    quarantine_reasons: list[tuple[str, str, int]] = field(default_factory=list)
    as_of: datetime | None = None


def municipality_name(connection: Connection, code: str) -> str:
    name = connection.execute(select(Municipality.name).where(Municipality.municipality_code == code)).scalar()
    return str(name) if name else code


def _every_day(counts: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Fill the days without events with zero, so a weekend or an outage shows as a gap in the chart."""
    if not counts:
        return counts
    known = dict(counts)
    days = pd.date_range(counts[0][0], counts[-1][0], freq="D").strftime("%Y-%m-%d")
    return [(day, known.get(day, 0)) for day in days]


def _every_hour(counts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    known = dict(counts)
    return [(hour, known.get(hour, 0)) for hour in range(24)] if counts else counts


def overview(connection: Connection, municipality_code: str, *, window_days: int = 28) -> Overview:
    """Figures for the overview page, over the last ``window_days`` Japan days of data (not of the wall
    clock: a demo or an imported archive shows its own recent weeks).

    Read from the rollups maintained at ingest (``event_hours``, ``account_days``): their size follows the
    days and the kinds of work, not the events, so the page stays fast on years of a large city. Hence
    "residents" is the number of resident records read (one resident read twice counts twice): distinct
    residents do not add up across hours, and counting them would mean reading a week of events."""
    latest = events_repo.latest_event_ts(connection, municipality_code)
    as_of = latest or datetime.now(UTC)
    last_day = as_of.astimezone(JST).date()
    first_day = last_day - timedelta(days=window_days - 1)
    week_day = last_day - timedelta(days=6)
    sources = events_repo.list_sources(connection, municipality_code)
    for source in sources:
        last = source.get("last_event_ts")
        source["silent"] = last is None or as_of - last > SILENT_AFTER
    daily = rollup.hour_totals(connection, municipality_code, first_day, last_day, ["day"]).sort_values("day")
    hourly = rollup.hour_totals(connection, municipality_code, first_day, last_day, ["hour"]).sort_values("hour")
    systems = rollup.hour_totals(connection, municipality_code, first_day, last_day, ["system"])
    systems = systems.sort_values(["events", "system"], ascending=[False, True])
    week = rollup.hour_totals(connection, municipality_code, week_day, last_day, [])
    ever = rollup.hour_totals(connection, municipality_code, EARLIEST_DAY, LATEST_DAY, [])
    totals = {
        "total": _total(ever, "events"),
        "recent": _total(week, "events"),
        "users": rollup.active_accounts(connection, municipality_code, week_day, last_day),
        "subjects": _total(week, "subjects"),
        "masked": _total(week, "masked"),
    }
    return Overview(
        municipality_name=municipality_name(connection, municipality_code),
        totals=totals,
        quarantined=events_repo.quarantine_count(connection, municipality_code),
        daily=_every_day([(f"{d:%Y-%m-%d}", int(n)) for d, n in zip(daily["day"], daily["events"], strict=True)]),
        hourly=_every_hour([(int(h), int(n)) for h, n in zip(hourly["hour"], hourly["events"], strict=True)]),
        systems=[(str(s), int(n)) for s, n in zip(systems["system"], systems["events"], strict=True)],
        sources=sources,
        runs=events_repo.recent_runs(connection, municipality_code),
        quarantine_reasons=events_repo.quarantine_by_reason(connection, municipality_code),
        as_of=latest,
    )


def _total(frame: pd.DataFrame, figure: str) -> int:
    return int(frame[figure].sum()) if not frame.empty else 0


# -- alerts and cases (事案) ---------------------------------------------------------------------------

#: The same role rules as ``auditd.cases.router``: all who audit read, officers and section heads
#: comment, officers handle. System administrators see no case (cases carry resident pseudonyms).
CASE_READERS = frozenset({PlatformRole.OFFICER, PlatformRole.AUDITOR, PlatformRole.SECTION_HEAD})
CASE_COMMENTERS = frozenset({PlatformRole.OFFICER, PlatformRole.SECTION_HEAD})
CASE_HANDLERS = frozenset({PlatformRole.OFFICER})
#: The list filter "open": every case not yet closed.
OPEN = "open"
CASE_LIST_LIMIT = 200

Translate = Callable[[str], str]


def reads_cases(principal: Principal) -> bool:
    return principal.role in CASE_READERS


def list_cases(
    connection: Connection, principal: Principal, *, status: str | None, severity: str | None
) -> list[CaseOut]:
    """The cases page: newest first, filtered by status (or every open one) and severity. Section heads
    get their section's, administrators a Forbidden (from the cases service)."""
    wanted: str | tuple[str, ...] | None = ("new", "investigating") if status == OPEN else status
    if isinstance(wanted, str) and wanted not in CASE_STATUSES:
        wanted = None
    return cases_service.list_cases(
        connection, principal, limit=CASE_LIST_LIMIT, status=wanted, severity=severity
    ).items


@dataclass(frozen=True)
class Countdown:
    """How a deadline reads: ``css`` is ``done``, ``overdue``, ``soon`` (two days or less) or ``ok``."""

    css: str
    text: str


def countdown(days_left: int | None, t: Translate) -> Countdown:
    """``None`` (the report is made) → 報告済; negative → N 日超過; otherwise 残り N 日."""
    if days_left is None:
        return Countdown("done", t("reported"))
    if days_left < 0:
        return Countdown("overdue", t("days_overdue").replace("{n}", str(-days_left)))
    return Countdown("soon" if days_left <= 2 else "ok", t("days_left").replace("{n}", str(days_left)))


@dataclass(frozen=True)
class Deadline:
    """A breach report (速報 or 確報) not yet made."""

    case_id: int
    section: str | None
    severity: str
    stage: str  # preliminary | final
    due: date
    days_left: int


@dataclass
class CaseWork:
    """The overview's card "対応が必要な事案": open cases by severity and the breach reports due."""

    by_severity: list[tuple[str, int, int]]  # (severity, new, investigating), most severe first
    open_total: int
    deadlines: list[Deadline]


def case_work(
    connection: Connection, settings: Settings, principal: Principal, *, today: date | None = None
) -> CaseWork | None:
    """What needs handling in the caller's view (section heads: their section), or None for a role
    that sees no case (or a section head without a section)."""
    if not reads_cases(principal):
        return None
    try:
        section = cases_service.scope(principal)
    except Forbidden:
        return None
    code = principal.municipality_code
    counts = cases_repo.open_case_counts(connection, code, section=section)
    by_severity = [
        (name, counts.get((name, "new"), 0), counts.get((name, "investigating"), 0))
        for name in SEVERITIES
        if counts.get((name, "new"), 0) or counts.get((name, "investigating"), 0)
    ]
    today = today or cases_service.today_in(settings)
    deadlines = [
        Deadline(
            case_id=r.case_id,
            section=r.section,
            severity=r.severity,
            stage="preliminary" if r.kind == "breach_preliminary" else "final",
            due=r.due or today,
            days_left=r.days,
        )
        for r in cases_service.breach_deadlines(connection, code, today, section=section)
    ]
    return CaseWork(by_severity=by_severity, open_total=sum(counts.values()), deadlines=deadlines)


@dataclass(frozen=True)
class HistoryItem:
    ts: datetime
    actor: str
    action: str
    label: str
    summary: str
    body: str | None


def _label(t: Translate, prefix: str, value: Any) -> str:
    return "—" if value is None else t(f"{prefix}_{value}")


def _summary(event: CaseEventOut, t: Translate) -> str:
    detail = event.detail or {}
    action = event.action
    if action in ("opened", "alert_added"):
        alerts = detail.get("alerts") or []
        return t("history_alerts").replace("{n}", str(len(alerts))) + ": " + ", ".join(f"#{a}" for a in alerts)
    if action == "assigned":
        return f"{detail.get('from') or t('unassigned')} → {detail.get('to') or '—'}"
    if action == "status":
        return f"{_label(t, 'status', detail.get('from'))} → {_label(t, 'status', detail.get('to'))}"
    if action == "closed":
        return f"{t('disposition')}: {_label(t, 'disposition', detail.get('disposition'))}"
    if action == "reopened":
        previous = detail.get("previous_disposition")
        return "" if previous is None else f"{t('disposition')}: {_label(t, 'disposition', previous)} →"
    if action == "evidence":
        return t("history_events").replace("{n}", str(detail.get("events", 0)))
    if action == "breach_opened":
        return (
            f"{t('stage_preliminary')} {t('due')} {detail.get('preliminary_due', '—')} / "
            f"{t('stage_final')} {t('due')} {detail.get('final_due', '—')}"
        )
    if action == "breach_reported":
        return _label(t, "stage", detail.get("stage"))
    return ""


def history(events: Iterable[CaseEventOut], t: Translate) -> list[HistoryItem]:
    """A case's history as the timeline shows it: who, when, what, and the comment or reason."""
    return [
        HistoryItem(
            ts=e.ts,
            actor=e.actor,
            action=e.action,
            label=t(f"action_{e.action}"),
            summary=_summary(e, t),
            body=e.body,
        )
        for e in events
    ]


# -- the overview's tiles: second factors, revocation lag, deadlines ----------------------------------

#: The window of the two-factor coverage (Japan days, ending on the day of the newest event).
COVERAGE_DAYS = 30
#: Roles that read the revocation lag (as ``auditd.rights.router`` does: ``CanAudit`` and section heads
#: for their own section; administrators see no grant of a person on the overview).
LAG_READERS = frozenset({PlatformRole.OFFICER, PlatformRole.AUDITOR, PlatformRole.SECTION_HEAD})
#: Roles that read the reports, the PIA register and the report schedule (``reports.pages``).
REPORT_READERS = frozenset({PlatformRole.OFFICER, PlatformRole.AUDITOR})


@dataclass(frozen=True)
class Share:
    covered: int
    total: int

    @property
    def percent(self) -> float | None:
        return None if not self.total else 100.0 * self.covered / self.total


@dataclass(frozen=True)
class TwoFactor:
    """Two-factor coverage over ``first_day``–``last_day``: of successful logins (sessions), of the
    accounts used (every login of the window with two factors or more), and of the operations of those
    accounts (an operation is done in a session: an account that always logs in with two factors works
    under two factors; an account with one weak login counts as not covered, so this is a lower bound).
    ``section``: the figures are of that section's accounts only (a section head's view)."""

    first_day: date
    last_day: date
    sessions: Share
    accounts: Share
    operations: Share
    section: str | None


def two_factor_coverage(
    connection: Connection, principal: Principal, as_of: datetime, *, today: date, days: int = COVERAGE_DAYS
) -> TwoFactor:
    """Read from the ``account_days`` rollup alone (its successful logins, those with two factors or
    more, its logins and logouts per account and day): the page never reads the events."""
    code = principal.municipality_code
    last_day = as_of.astimezone(JST).date()
    first_day = last_day - timedelta(days=days - 1)
    section: str | None = None
    members: list[str] | None = None
    if principal.is_section_scoped:
        section = principal.section_code
        members = list(rights_repo.section_accounts(connection, code, section, today)) if section else []
    # covered: an account that logged in, every time with two factors; operations: an account's events
    # of the window less its logins and logouts
    figures = rollup.login_coverage(connection, code, first_day, last_day, members)
    return TwoFactor(
        first_day=first_day,
        last_day=last_day,
        sessions=Share(figures["strong_logins"], figures["logins"]),
        accounts=Share(figures["covered"], figures["accounts"]),
        operations=Share(figures["covered_operations"], figures["operations"]),
        section=section,
    )


def revocation_lag(
    connection: Connection, settings: Settings, principal: Principal, *, today: date
) -> LagSummary | None:
    """The rights service's revocation lag (median and maximum days, and the lags still running), in the
    caller's scope (a section head: their section's grants); None for a role that does not read it."""
    if principal.role not in LAG_READERS:
        return None
    return rights_service.revocation_lag(connection, settings, principal, today=today).summary


@dataclass(frozen=True)
class Due:
    """One upcoming deadline of the overview: what (``kind``, ``label``), when, and the page to act on it."""

    kind: str  # breach_preliminary | breach_final | pia_review | pia_reassessment | report_monthly | …
    label: str
    due: date
    days_left: int
    href: str
    section: str | None = None


def recertification_deadlines(connection: Connection, principal: Principal, today: date) -> list[Due]:
    """The open recertification campaigns (権限表の見直し) with grants the caller may see still undecided:
    one deadline each, labelled with how many are left (a section head: their own section's)."""
    if principal.role not in LAG_READERS:
        return []
    open_now = campaigns.list_campaigns(connection, principal, status="open").campaigns
    return [
        Due(
            kind="recertification",
            label=f"{c.title}（{c.items - c.decided}/{c.items}）",
            due=c.deadline,
            days_left=(c.deadline - today).days,
            href=f"/rights/campaigns/{c.id}",
            section=principal.section_code if principal.is_section_scoped else None,
        )
        for c in open_now
        if c.decided < c.items
    ]


def deadlines(
    connection: Connection, settings: Settings, principal: Principal, work: CaseWork | None, *, today: date
) -> list[Due] | None:
    """The overview's 期限 card, soonest first: breach reports not yet made (from ``work``, already in the
    caller's scope), PIA reviews and re-assessments due within ``pia_reminder_days`` or overdue, the next
    scheduled monthly and annual reports (as ``reports.jobs`` makes them) and the recertification
    campaigns. None for a role that sees none of these (administrators)."""
    if work is None and principal.role not in REPORT_READERS | LAG_READERS:
        return None
    items = [
        Due(
            kind=f"breach_{d.stage}",
            label=f"#{d.case_id}",
            due=d.due,
            days_left=d.days_left,
            href=f"/cases/{d.case_id}#breach",
            section=d.section,
        )
        for d in (work.deadlines if work is not None else [])
    ]
    if principal.role in REPORT_READERS:
        code = principal.municipality_code
        for p in pia.register(connection, code, today):
            for kind, due in (("pia_review", p.review_due), ("pia_reassessment", p.reassessment_due)):
                if (due - today).days <= settings.pia_reminder_days:
                    items.append(Due(kind, p.title, due, (due - today).days, f"/reports#pia-{p.id}"))
        month, monthly_on = report_jobs.next_monthly(connection, code, today)
        fiscal, annual_on = report_jobs.next_annual(settings, today)
        items.append(Due("report_monthly", month, monthly_on, (monthly_on - today).days, "/reports#schedule"))
        items.append(Due("report_annual", str(fiscal), annual_on, (annual_on - today).days, "/reports#schedule"))
    items.extend(recertification_deadlines(connection, principal, today))
    return sorted(items, key=lambda d: (d.due, d.kind, d.label))
