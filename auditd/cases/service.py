"""The response side: alerts grouped into cases (事案), the workflow 新規 → 調査中 → 対応済 with a
required disposition, comments, evidence exports, suppressions, and the breach-report (漏えい等報告)
checklist with its deadlines. Services never commit: the request, the job or the command does.

Every change is one ``case_events`` row (append-only) and one trail entry, in the caller's
transaction. Section heads see and comment on their own section's cases; only officers handle them
(assign, close, reopen, suppress, breach), and a disposition is a person's act: no API token gives it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection
from sqlalchemy.engine import RowMapping

from auditd.alerts.models import SEVERITIES
from auditd.auth import repository as auth_repository
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.cases import repository
from auditd.cases.models import CONFIRMED, DISPOSITION_JA, STATUS_JA
from auditd.cases.schemas import (
    AlertList,
    AlertOut,
    AttachmentOut,
    BreachIn,
    BreachOut,
    CaseDetail,
    CaseEventOut,
    CaseList,
    CaseOut,
    SuppressionIn,
    SuppressionList,
    SuppressionOut,
)
from auditd.errors import Conflict, Forbidden, NotFound, ValidationFailed
from auditd.mail.service import AlertNotice, Reminder
from auditd.settings import Settings
from auditd.trail.service import record

#: Higher is more severe.
SEVERITY_RANK = {name: len(SEVERITIES) - i for i, name in enumerate(SEVERITIES)}


def today_in(settings: Settings, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(settings.tz).date()


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def _loads(value: Any, default: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return default
    return json.loads(value)


def _ts(value: Any) -> pd.Timestamp:
    return pd.Timestamp(value).tz_convert("UTC") if pd.Timestamp(value).tzinfo else pd.Timestamp(value, tz="UTC")


# -- triage: alerts into cases ------------------------------------------------------------------------


@dataclass
class TriageResult:
    cases_opened: int = 0
    grouped: int = 0
    suppressed: int = 0
    notices: list[AlertNotice] = field(default_factory=list)


@dataclass
class _OpenCase:
    id: int
    user_id: str | None
    section: str | None
    severity: str
    first_start: pd.Timestamp
    last_end: pd.Timestamp
    subjects: set[str]
    rules: set[str]
    alert_count: int
    title: str
    added: list[int] = field(default_factory=list)
    is_new: bool = False


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA else str(value)


def _matches(suppression: Mapping[Any, Any], alert: Mapping[Any, Any], subjects: set[str]) -> bool:
    """Every field the suppression gives must match the alert."""
    for column in ("rule", "user_id", "section"):
        wanted = _text(suppression[column])
        if wanted is not None and wanted != _text(alert[column]):
            return False
    subject = _text(suppression["subject"])
    return subject is None or subject in subjects


def _related(case: _OpenCase, alert: Mapping[Any, Any], subjects: set[str], gap: timedelta) -> int:
    """How strongly an alert belongs to an open case: 3 same account, 2 a shared resident in the same
    section, 1 the same rule about no account (a source, a terminal); 0 unrelated or too far in time."""
    start, end = _ts(alert["start"]), _ts(alert["end"])
    if case.last_end + gap < start or end + gap < case.first_start:
        return 0
    user = _text(alert["user_id"])
    if user is not None and case.user_id == user:
        return 3
    if subjects & case.subjects and case.section == _text(alert["section"]):
        return 2
    if user is None and case.user_id is None and str(alert["rule"]) in case.rules:
        return 1
    return 0


def _index(
    index: dict[tuple[str, str | None], list[_OpenCase]], case: _OpenCase, subjects: set[str], *rules: str
) -> None:
    """Where an alert looks for the cases it may join: by account, by resident, by rule (no account)."""
    keys: list[tuple[str, str | None]] = [("subject", s) for s in subjects]
    keys += [("user", case.user_id)] if case.user_id is not None else [("rule", r) for r in rules]
    for key in keys:
        found = index.setdefault(key, [])
        if not any(c is case for c in found):
            found.append(case)


def triage(
    connection: Connection, settings: Settings, municipality_code: str, *, now: datetime, actor: str = "system"
) -> TriageResult:
    """Put every alert not yet triaged into a case, or mark it suppressed when a suppression in force
    matches it. An alert joins the open case it relates to most (same account, else a shared resident
    in the same section, else the same rule about no account) when their stories are at most
    ``case_gap_days`` apart; otherwise it opens a case. Returns the notices for the e-mails."""
    result = TriageResult()
    alerts = repository.ungrouped_alerts(connection, municipality_code)
    if alerts.empty:
        return result
    suppressions = repository.active_suppressions(connection, municipality_code, today_in(settings, now))
    suppression_rows = suppressions.to_dict("records")
    frame = repository.open_cases(connection, municipality_code)
    rules = repository.case_rules(connection, municipality_code, [int(i) for i in frame["id"]])
    cases = [
        _OpenCase(
            id=int(row["id"]),
            user_id=_text(row["user_id"]),
            section=_text(row["section"]),
            severity=str(row["severity"]),
            first_start=_ts(row["first_start"]),
            last_end=_ts(row["last_end"]),
            subjects=set(_loads(row["subjects"], [])),
            rules=rules.get(int(row["id"]), set()),
            alert_count=int(row["alert_count"]),
            title=str(row["title"]),
        )
        for row in frame.to_dict("records")
    ]
    gap = timedelta(days=settings.case_gap_days)
    index: dict[tuple[str, str | None], list[_OpenCase]] = {}
    for case in cases:
        _index(index, case, case.subjects, *case.rules)
    updates: list[dict[str, Any]] = []
    for alert in alerts.to_dict("records"):
        alert_id = int(alert["id"])
        subjects = set(_loads(alert["subjects"], []))
        suppression = next((s for s in suppression_rows if _matches(s, alert, subjects)), None)
        if suppression is not None:
            updates.append(
                {"alert_id": alert_id, "case_id": None, "status": "suppressed", "suppression_id": suppression["id"]}
            )
            result.suppressed += 1
            continue
        candidates = index.get(("user", _text(alert["user_id"])), []) + [
            c for subject in subjects for c in index.get(("subject", subject), [])
        ]
        if _text(alert["user_id"]) is None:
            candidates += index.get(("rule", str(alert["rule"])), [])
        scored = [(_related(c, alert, subjects, gap), c.last_end, c) for c in candidates]
        best = max(((s, t, c) for s, t, c in scored if s), key=lambda x: (x[0], x[1]), default=None)
        start, end = _ts(alert["start"]), _ts(alert["end"])
        if best is None:
            case_id = repository.insert_case(
                connection,
                municipality_code=municipality_code,
                title=f"{alert['rule']} {alert['title']}"[:200],
                user_id=_text(alert["user_id"]),
                section=_text(alert["section"]),
                severity=str(alert["severity"]),
                status="new",
                subjects=_json(sorted(subjects)),
                first_start=start.to_pydatetime(),
                last_end=end.to_pydatetime(),
                alert_count=0,
                opened_at=now,
                updated_at=now,
            )
            case = _OpenCase(
                case_id,
                _text(alert["user_id"]),
                _text(alert["section"]),
                str(alert["severity"]),
                start,
                end,
                set(),
                set(),
                0,
                f"{alert['rule']} {alert['title']}",
                is_new=True,
            )
            cases.append(case)
            result.cases_opened += 1
        else:
            case = best[2]
        if SEVERITY_RANK.get(str(alert["severity"]), 0) > SEVERITY_RANK.get(case.severity, 0):
            case.severity = str(alert["severity"])
            case.title = f"{alert['rule']} {alert['title']}"
        case.first_start, case.last_end = min(case.first_start, start), max(case.last_end, end)
        case.subjects |= subjects
        case.rules.add(str(alert["rule"]))
        _index(index, case, subjects, str(alert["rule"]))
        case.alert_count += 1
        case.added.append(alert_id)
        updates.append({"alert_id": alert_id, "case_id": case.id, "status": "new", "suppression_id": None})
        result.grouped += 1
        result.notices.append(
            AlertNotice(
                alert_id=alert_id,
                case_id=case.id,
                rule=str(alert["rule"]),
                title=str(alert["title"]),
                severity=str(alert["severity"]),
                section=_text(alert["section"]),
                detected_at=_ts(alert["detected_at"]).to_pydatetime(),
            )
        )
    repository.set_alerts(connection, updates)
    events = []
    for case in (c for c in cases if c.added):
        base_title = case.title.split(" ほか ")[0]
        repository.update_case(
            connection,
            municipality_code,
            case.id,
            title=(base_title + (f" ほか {case.alert_count - 1} 件" if case.alert_count > 1 else ""))[:200],
            severity=case.severity,
            subjects=_json(sorted(case.subjects)),
            first_start=case.first_start.to_pydatetime(),
            last_end=case.last_end.to_pydatetime(),
            alert_count=case.alert_count,
            updated_at=now,
        )
        events.append(
            _event(
                municipality_code,
                case.id,
                actor,
                "opened" if case.is_new else "alert_added",
                now=now,
                detail={"alerts": case.added},
            )
        )
    repository.add_events(connection, events)
    return result


# -- reading ------------------------------------------------------------------------------------------


def scope(principal: Principal) -> str | None:
    """The section a caller is limited to (section heads), or None for the whole municipality."""
    if principal.role is PlatformRole.ADMIN:
        raise Forbidden("system administrators do not see alerts or cases (they carry resident data)")
    if principal.is_section_scoped:
        if not principal.section_code:
            raise Forbidden("a section head with no section sees no case", hint="set the user's section")
        return principal.section_code
    return None


def alert_out(row: Mapping[Any, Any], *, full: bool = False) -> AlertOut:
    values = {k: row[k] for k in AlertOut.model_fields if k in row and k not in ("subjects", "event_ids", "evidence")}
    values["subjects"] = _loads(row["subjects"], [])
    if full:
        values["event_ids"] = _loads(row.get("event_ids"), [])
        values["evidence"] = _loads(row.get("evidence"), {})
    return AlertOut(**values)


def case_out(row: Mapping[Any, Any]) -> CaseOut:
    values = {k: row[k] for k in CaseOut.model_fields if k in row and k != "subjects"}
    values["subjects"] = _loads(row["subjects"], [])
    values["status_ja"] = STATUS_JA[str(row["status"])]
    values["disposition_ja"] = DISPOSITION_JA.get(str(row["disposition"])) if row["disposition"] else None
    return CaseOut(**values)


def list_alerts(connection: Connection, principal: Principal, *, limit: int = 200, **filters: Any) -> AlertList:
    section = scope(principal)
    if section is not None:
        filters["section"] = section
    rows = repository.list_alerts(connection, principal.municipality_code, limit=limit, **filters)
    return AlertList(items=[alert_out(r) for r in rows])


def get_alert(connection: Connection, principal: Principal, alert_id: int, *, client: str | None) -> AlertOut:
    section = scope(principal)
    row = repository.get_alert(connection, principal.municipality_code, alert_id)
    if row is None or (section is not None and row["section"] != section):
        raise NotFound(f"no alert #{alert_id}")
    record(
        connection, principal.municipality_code, principal.username, "alert_view", "alert", str(alert_id), None, client
    )
    return alert_out(row, full=True)


def list_cases(connection: Connection, principal: Principal, *, limit: int = 200, **filters: Any) -> CaseList:
    section = scope(principal)
    if section is not None:
        filters["section"] = section
    rows = repository.list_cases(connection, principal.municipality_code, limit=limit, **filters)
    return CaseList(items=[case_out(r) for r in rows])


def _case(connection: Connection, principal: Principal, case_id: int) -> RowMapping:
    section = scope(principal)
    row = repository.get_case(connection, principal.municipality_code, case_id)
    if row is None or (section is not None and row["section"] != section):
        raise NotFound(f"no case #{case_id}")
    return row


def breach_out(row: Mapping[Any, Any], today: date) -> BreachOut:
    values = {k: row[k] for k in BreachOut.model_fields if k in row}
    values["preliminary_days_left"] = None if row["preliminary_reported_at"] else (row["preliminary_due"] - today).days
    values["final_days_left"] = None if row["final_reported_at"] else (row["final_due"] - today).days
    return BreachOut(**values)


def case_detail(
    connection: Connection, settings: Settings, principal: Principal, case_id: int, *, client: str | None
) -> CaseDetail:
    row = _case(connection, principal, case_id)
    code = principal.municipality_code
    history = [
        CaseEventOut(
            id=e["id"],
            ts=e["ts"],
            actor=e["actor"],
            action=e["action"],
            body=e["body"],
            detail=_loads(e["detail"], None),
        )
        for e in repository.case_events(connection, code, case_id)
    ]
    breach = repository.get_breach(connection, code, case_id)
    record(connection, code, principal.username, "case_view", "case", str(case_id), None, client)
    return CaseDetail(
        **case_out(row).model_dump(),
        alerts=[alert_out(a, full=True) for a in repository.case_alerts(connection, code, case_id)],
        history=history,
        attachments=[AttachmentOut(**dict(a)) for a in repository.attachments(connection, code, case_id)],
        breach=None if breach is None else breach_out(breach, today_in(settings)),
    )


# -- changes ------------------------------------------------------------------------------------------


def _event(
    municipality_code: str,
    case_id: int,
    actor: str,
    action: str,
    *,
    now: datetime,
    body: str | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "municipality_code": municipality_code,
        "case_id": case_id,
        "ts": now,
        "actor": actor[:64],
        "action": action,
        "body": body,
        "detail": None if detail is None else _json(detail),
    }


def _step(
    connection: Connection,
    principal: Principal,
    case_id: int,
    action: str,
    *,
    now: datetime,
    client: str | None,
    body: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Store one change: a ``case_events`` row and a trail entry, together."""
    code = principal.municipality_code
    repository.add_events(
        connection, [_event(code, case_id, principal.username, action, now=now, body=body, detail=detail)]
    )
    record(connection, code, principal.username, f"case_{action}", "case", str(case_id), detail, client)


def _open(connection: Connection, principal: Principal, case_id: int) -> RowMapping:
    row = _case(connection, principal, case_id)
    if row["status"] == "closed":
        raise Conflict(f"case #{case_id} is closed (対応済)", hint="reopen it first, with the reason")
    return row


def _set_status(
    connection: Connection, principal: Principal, row: RowMapping, status: str, *, now: datetime, client: str | None
) -> None:
    code, case_id = principal.municipality_code, int(row["id"])
    repository.update_case(connection, code, case_id, status=status, updated_at=now)
    repository.set_case_alerts_status(connection, code, case_id, status)
    _step(
        connection, principal, case_id, "status", now=now, client=client, detail={"from": row["status"], "to": status}
    )


def assign(
    connection: Connection, principal: Principal, case_id: int, assignee: str, *, now: datetime, client: str | None
) -> None:
    """Give the case to an officer (an active platform user of that role); a new case becomes 調査中."""
    row = _open(connection, principal, case_id)
    user = auth_repository.user_row_by_name(connection, principal.municipality_code, assignee)
    if user is None or user["disabled"] or user["role"] != PlatformRole.OFFICER.value:
        raise ValidationFailed(
            f"{assignee!r} is not an active officer of this municipality",
            hint="a case is investigated by a platform user of role officer (auditd user list)",
        )
    repository.update_case(connection, principal.municipality_code, case_id, assignee=assignee, updated_at=now)
    _step(
        connection,
        principal,
        case_id,
        "assigned",
        now=now,
        client=client,
        detail={"from": row["assignee"], "to": assignee},
    )
    if row["status"] == "new":
        _set_status(connection, principal, row, "investigating", now=now, client=client)


def start_investigation(
    connection: Connection, principal: Principal, case_id: int, *, now: datetime, client: str | None
) -> None:
    row = _open(connection, principal, case_id)
    if row["status"] != "new":
        raise Conflict(f"case #{case_id} is already {STATUS_JA[str(row['status'])]}")
    _set_status(connection, principal, row, "investigating", now=now, client=client)


def comment(
    connection: Connection, principal: Principal, case_id: int, body: str, *, now: datetime, client: str | None
) -> None:
    _case(connection, principal, case_id)
    repository.update_case(connection, principal.municipality_code, case_id, updated_at=now)
    _step(connection, principal, case_id, "comment", now=now, client=client, body=body)


def close(
    connection: Connection,
    settings: Settings,
    principal: Principal,
    case_id: int,
    disposition: str,
    reason: str,
    *,
    now: datetime,
    client: str | None,
) -> None:
    """Close with a disposition and its reason; 不適切 or 不正 opens the breach-report checklist."""
    row = _open(connection, principal, case_id)
    code = principal.municipality_code
    repository.update_case(
        connection,
        code,
        case_id,
        status="closed",
        disposition=disposition,
        disposition_reason=reason,
        closed_at=now,
        closed_by=principal.username[:64],
        updated_at=now,
    )
    repository.set_case_alerts_status(connection, code, case_id, "closed")
    _step(
        connection,
        principal,
        case_id,
        "closed",
        now=now,
        client=client,
        body=reason,
        detail={"from": row["status"], "disposition": disposition},
    )
    if disposition in CONFIRMED and repository.get_breach(connection, code, case_id) is None:
        _open_breach(connection, settings, principal, row, disposition, now=now, client=client)


def reopen(
    connection: Connection, principal: Principal, case_id: int, reason: str, *, now: datetime, client: str | None
) -> None:
    row = _case(connection, principal, case_id)
    if row["status"] != "closed":
        raise Conflict(f"case #{case_id} is not closed")
    code = principal.municipality_code
    repository.update_case(
        connection,
        code,
        case_id,
        status="investigating",
        disposition=None,
        closed_at=None,
        closed_by=None,
        updated_at=now,
    )
    repository.set_case_alerts_status(connection, code, case_id, "investigating")
    _step(
        connection,
        principal,
        case_id,
        "reopened",
        now=now,
        client=client,
        body=reason,
        detail={"previous_disposition": row["disposition"]},
    )


# -- breach reports -----------------------------------------------------------------------------------


def deadlines(settings: Settings, discovered_on: date, wrongful_purpose: bool) -> tuple[date, date]:
    """速報 within about 3–5 days (``breach_preliminary_days``); 確報 within 30 days, 60 when the leak may
    have been for a wrongful purpose (PPC rules under 番号法第29条の4), both from discovery."""
    return (
        discovered_on + timedelta(days=settings.breach_preliminary_days),
        discovered_on + timedelta(days=60 if wrongful_purpose else 30),
    )


def _open_breach(
    connection: Connection,
    settings: Settings,
    principal: Principal,
    case: Mapping[Any, Any],
    disposition: str,
    *,
    now: datetime,
    client: str | None,
) -> None:
    """The checklist starts from what the store knows: the audited systems are 個人番号利用事務 systems
    (the officer unticks it otherwise), 不正 means a wrongful purpose, and the residents of the case
    count towards the 100-person threshold."""
    discovered = today_in(settings, now)
    wrongful = disposition == "fraud"
    flags = {
        "mynumber_system": True,
        "wrongful_purpose": wrongful,
        "over_100": len(_loads(case["subjects"], [])) > 100,
        "public_exposure": False,
    }
    preliminary, final = deadlines(settings, discovered, wrongful)
    repository.add_breach(
        connection,
        municipality_code=principal.municipality_code,
        case_id=int(case["id"]),
        discovered_on=discovered,
        **flags,
        reportable=any(flags.values()),
        preliminary_due=preliminary,
        final_due=final,
        opened_at=now,
        updated_at=now,
    )
    _step(
        connection,
        principal,
        int(case["id"]),
        "breach_opened",
        now=now,
        client=client,
        detail={**flags, "preliminary_due": preliminary, "final_due": final},
    )


def _breach(connection: Connection, principal: Principal, case_id: int) -> RowMapping:
    _case(connection, principal, case_id)
    row = repository.get_breach(connection, principal.municipality_code, case_id)
    if row is None:
        raise NotFound(
            f"case #{case_id} has no breach-report checklist (it opens when a case is closed 不適切 or 不正)"
        )
    return row


def get_breach(connection: Connection, settings: Settings, principal: Principal, case_id: int) -> BreachOut:
    return breach_out(_breach(connection, principal, case_id), today_in(settings))


def update_breach(
    connection: Connection,
    settings: Settings,
    principal: Principal,
    case_id: int,
    answers: BreachIn,
    *,
    now: datetime,
    client: str | None,
) -> BreachOut:
    row = dict(_breach(connection, principal, case_id))
    changes = answers.model_dump(exclude_none=True)
    row.update(changes)
    flags = ("mynumber_system", "wrongful_purpose", "over_100", "public_exposure")
    row["reportable"] = any(bool(row[f]) for f in flags)
    row["preliminary_due"], row["final_due"] = deadlines(settings, row["discovered_on"], bool(row["wrongful_purpose"]))
    values = {k: row[k] for k in (*flags, "reportable", "discovered_on", "preliminary_due", "final_due", "note")}
    repository.update_breach(connection, principal.municipality_code, case_id, **values, updated_at=now)
    _step(
        connection,
        principal,
        case_id,
        "breach_updated",
        now=now,
        client=client,
        detail={**changes, "reportable": row["reportable"]},
    )
    return get_breach(connection, settings, principal, case_id)


def breach_reported(
    connection: Connection,
    settings: Settings,
    principal: Principal,
    case_id: int,
    stage: str,
    *,
    now: datetime,
    client: str | None,
) -> BreachOut:
    row = _breach(connection, principal, case_id)
    column = f"{stage}_reported_at"
    if row[column] is not None:
        raise Conflict(f"the {'速報' if stage == 'preliminary' else '確報'} of case #{case_id} is already recorded")
    repository.update_breach(connection, principal.municipality_code, case_id, **{column: now}, updated_at=now)
    _step(connection, principal, case_id, "breach_reported", now=now, client=client, detail={"stage": stage})
    return get_breach(connection, settings, principal, case_id)


# -- suppressions -------------------------------------------------------------------------------------


def _suppression_out(row: Mapping[Any, Any], matched: Mapping[int, int]) -> SuppressionOut:
    return SuppressionOut(
        **{k: row[k] for k in SuppressionOut.model_fields if k in row}, matched=matched.get(int(row["id"]), 0)
    )


def create_suppression(
    connection: Connection, principal: Principal, body: SuppressionIn, *, now: datetime, client: str | None
) -> SuppressionOut:
    """Mark a pattern legitimate until ``expires_on``: alerts triaged from now on that match it are
    stored as suppressed (and counted in reports), not put in a case."""
    code = principal.municipality_code
    values = body.model_dump()
    sid = repository.add_suppression(
        connection, municipality_code=code, **values, created_by=principal.username[:64], created_at=now
    )
    record(connection, code, principal.username, "suppression_create", "suppression", str(sid), values, client)
    row = repository.get_suppression(connection, code, sid)
    assert row is not None
    return _suppression_out(row, {})


def list_suppressions(
    connection: Connection, principal: Principal, *, active_on: date | None, limit: int = 500
) -> SuppressionList:
    """All suppressions, or those in force on ``active_on``."""
    code = principal.municipality_code
    rows = repository.list_suppressions(connection, code, active_on=active_on, limit=limit)
    matched = repository.suppressed_counts(connection, code)
    return SuppressionList(items=[_suppression_out(r, matched) for r in rows])


def revoke_suppression(
    connection: Connection, principal: Principal, suppression_id: int, *, now: datetime, client: str | None
) -> SuppressionOut:
    code = principal.municipality_code
    row = repository.get_suppression(connection, code, suppression_id)
    if row is None:
        raise NotFound(f"no suppression #{suppression_id}")
    if row["revoked_at"] is not None:
        raise Conflict(f"suppression #{suppression_id} is already revoked")
    repository.revoke_suppression(connection, code, suppression_id, by=principal.username[:64], at=now)
    record(connection, code, principal.username, "suppression_revoke", "suppression", str(suppression_id), None, client)
    updated = repository.get_suppression(connection, code, suppression_id)
    assert updated is not None
    return _suppression_out(updated, repository.suppressed_counts(connection, code))


# -- notices for the e-mails --------------------------------------------------------------------------


def digest_notices(connection: Connection, settings: Settings, municipality_code: str, day: date) -> list[AlertNotice]:
    """The alerts stored on one Japan day that went into a case."""
    start = datetime.combine(day, datetime.min.time(), settings.tz)
    frame = repository.alerts_detected(connection, municipality_code, start, start + timedelta(days=1))
    return [
        AlertNotice(
            alert_id=int(a["id"]),
            case_id=int(a["case_id"]),
            rule=str(a["rule"]),
            title=str(a["title"]),
            severity=str(a["severity"]),
            section=_text(a["section"]),
            detected_at=_ts(a["detected_at"]).to_pydatetime(),
        )
        for a in frame.to_dict("records")
    ]


def breach_deadlines(
    connection: Connection, municipality_code: str, day: date, *, section: str | None = None
) -> list[Reminder]:
    """Each 速報 and 確報 not yet made of a reportable breach, with its due date and the days left on
    ``day`` (negative: overdue), soonest first; only ``section``'s cases if given."""
    items = [
        Reminder(
            kind="breach_preliminary" if stage == "preliminary" else "breach_final",
            case_id=int(b["case_id"]),
            section=b["section"],
            severity=str(b["severity"]),
            due=b[f"{stage}_due"],
            days=(b[f"{stage}_due"] - day).days,
        )
        for b in repository.breaches_due(connection, municipality_code, section=section)
        for stage in ("preliminary", "final")
        if b[f"{stage}_reported_at"] is None
    ]
    return sorted(items, key=lambda r: (r.due or day, r.case_id))


def reminders(connection: Connection, settings: Settings, municipality_code: str, day: date) -> list[Reminder]:
    """Cases left open longer than ``case_reminder_days`` and breach reports not yet made."""
    now = datetime.combine(day, datetime.min.time(), settings.tz)
    items = [
        Reminder(
            kind="case_open",
            case_id=int(c["id"]),
            section=c["section"],
            severity=str(c["severity"]),
            due=None,
            days=(day - c["opened_at"].astimezone(settings.tz).date()).days,
        )
        for c in repository.cases_open_since(
            connection, municipality_code, now - timedelta(days=settings.case_reminder_days)
        )
    ]
    items.extend(breach_deadlines(connection, municipality_code, day))
    return items


def summary_for_export(
    connection: Connection, principal: Principal, case_id: int
) -> tuple[RowMapping, list[RowMapping]]:
    row = _case(connection, principal, case_id)
    return row, repository.case_alerts(connection, principal.municipality_code, case_id)


def export_evidence(
    connection: Connection,
    settings: Settings,
    principal: Principal,
    case_id: int,
    *,
    now: datetime,
    client: str | None,
) -> list[AttachmentOut]:
    """Export the events of the case with the decisions and the reference data that explain them, as
    CSV and PDF; both are kept with the case and the export is recorded."""
    from auditd.cases.evidence import CaseSummary, case_evidence

    row, alerts = summary_for_export(connection, principal, case_id)
    event_ids = sorted({e for a in alerts for e in _loads(a["event_ids"], [])})
    summary = CaseSummary(
        case_id=case_id,
        title=str(row["title"]),
        status=str(row["status"]),
        severity=str(row["severity"]),
        user_id=row["user_id"],
        section=row["section"],
        opened_at=row["opened_at"],
        disposition=row["disposition"],
        alerts=[{k: a[k] for k in ("id", "rule", "title", "severity", "start", "end", "explanation")} for a in alerts],
    )
    evidence = case_evidence(
        connection, settings, principal.municipality_code, summary, event_ids, generated_by=principal.username, now=now
    )
    stamp = now.astimezone(settings.tz).strftime("%Y%m%dT%H%M%S")
    stored = []
    for ext, media, content, digest in (
        ("csv", "text/csv; charset=utf-8", evidence.csv, evidence.sha256_csv),
        ("pdf", "application/pdf", evidence.pdf, evidence.sha256_pdf),
    ):
        values = {
            "municipality_code": principal.municipality_code,
            "case_id": case_id,
            "filename": f"case-{case_id}-evidence-{stamp}.{ext}",
            "media_type": media,
            "size": len(content),
            "sha256": digest,
            "content": content,
            "created_by": principal.username[:64],
            "created_at": now,
        }
        attachment_id = repository.add_attachment(connection, **values)
        stored.append(
            AttachmentOut(id=attachment_id, **{k: v for k, v in values.items() if k in AttachmentOut.model_fields})
        )
    _step(
        connection,
        principal,
        case_id,
        "evidence",
        now=now,
        client=client,
        detail={
            "events": evidence.event_count,
            "attachments": [a.id for a in stored],
            "sha256_csv": evidence.sha256_csv,
        },
    )
    return stored


def attachment(
    connection: Connection, principal: Principal, case_id: int, attachment_id: int, *, client: str | None
) -> RowMapping:
    _case(connection, principal, case_id)
    row = repository.get_attachment(connection, principal.municipality_code, case_id, attachment_id)
    if row is None:
        raise NotFound(f"case #{case_id} has no attachment #{attachment_id}")
    record(
        connection,
        principal.municipality_code,
        principal.username,
        "case_attachment_download",
        "case",
        str(case_id),
        {"attachment": attachment_id, "sha256": row["sha256"]},
        client,
    )
    return row
