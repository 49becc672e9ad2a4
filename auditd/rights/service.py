"""The rights lifecycle: request → approval by the 所属長 (or an officer) → grant; rejection;
revocation; one account per person; suspension of grants the personnel register makes lapse; and the
measures an auditor asks for. Services never commit: the request, or the CLI command, does.

Every step is one ``grant_events`` row (append-only) and one trail entry, in the caller's transaction.
Authorisation beyond the role (whose section, who asked) is decided by functions that return the
reason for a refusal, which is what the caller is told.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import pandas as pd
from sqlalchemy import Connection

from auditd import registry
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.errors import ConfigError, Conflict, Forbidden, NotFound, ValidationFailed
from auditd.rights import contracts, repository
from auditd.rights.schemas import (
    AccountIn,
    AccountOut,
    DormantAccount,
    DormantList,
    GrantDecision,
    GrantEventOut,
    GrantHistory,
    GrantList,
    GrantOut,
    GrantRequestIn,
    GrantRequestList,
    GrantRequestOut,
    LagItem,
    LagSummary,
    LapsedGrant,
    PersonnelResult,
    RevocationLag,
    RevokeIn,
)
from auditd.settings import Settings
from auditd.trail.service import record

#: The days of the ``account_days`` rollup are Japan days (UTC+9, no daylight saving).
ROLLUP_TZ = timezone(timedelta(hours=9))

#: Role name → sections whose staff may hold it (empty: any section).
RoleCatalog = Mapping[str, tuple[str, ...]]


def role_catalog(settings: Settings) -> dict[str, tuple[str, ...]]:
    """The roles of the policy in force, from whatever is registered under ``auditd.roles`` (the
    built-in policies package), merged in name order."""
    providers = registry.load_all("roles")
    if not providers:
        raise ConfigError(
            "no role catalogue is installed (entry point group auditd.roles)",
            hint="install auditd with its policies package: pip install -e .",
        )
    catalog: dict[str, tuple[str, ...]] = {}
    for provider in providers.values():
        catalog.update(provider(settings))
    return catalog


def today_in(settings: Settings, now: datetime | None = None) -> date:
    """The day it is for people (Japan time by default)."""
    return (now or datetime.now(UTC)).astimezone(settings.tz).date()


def _event(
    principal_name: str,
    municipality_code: str,
    action: str,
    user_id: str,
    *,
    now: datetime,
    request_id: int | None = None,
    grant_id: int | None = None,
    effective_on: date | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "municipality_code": municipality_code,
        "ts": now,
        "actor": principal_name[:64],
        "action": action,
        "user_id": user_id,
        "request_id": request_id,
        "grant_id": grant_id,
        "effective_on": effective_on,
        "reason": reason,
        "detail": None if detail is None else json.dumps(detail, ensure_ascii=False, default=str, sort_keys=True),
    }


def _step(
    connection: Connection,
    principal: Principal,
    action: str,
    user_id: str,
    *,
    now: datetime,
    client: str | None,
    **values: Any,
) -> GrantEventOut:
    """Store one step: a ``grant_events`` row and a trail entry, together."""
    row = _event(principal.username, principal.municipality_code, action, user_id, now=now, **values)
    repository.add_events(connection, [row])
    target = ("grant", values["grant_id"]) if values.get("grant_id") else ("grant_request", values.get("request_id"))
    record(
        connection,
        principal.municipality_code,
        principal.username,
        f"rights_{action}",
        target[0],
        None if target[1] is None else str(target[1]),
        {
            "user_id": user_id,
            "reason": values.get("reason"),
            "effective_on": values.get("effective_on"),
            **(values.get("detail") or {}),
        },
        client,
    )
    return GrantEventOut.model_validate(
        repository.last_event(connection, principal.municipality_code, action=action, user_id=user_id)
    )


# -- authorisation beyond the role --------------------------------------------------------------------


def refusal_to_act_for(
    connection: Connection, principal: Principal, user_id: str, days: tuple[date, ...]
) -> str | None:
    """Why ``principal`` may not act on the account ``user_id`` (None: they may). A section head acts
    for the people of their own section on one of ``days``; officers and systems for everyone."""
    if not principal.is_section_scoped:
        return None
    sections = {repository.section_on(connection, principal.municipality_code, user_id, day) for day in days}
    if principal.section_code is not None and principal.section_code in sections:
        return None
    shown = ", ".join(sorted(s for s in sections if s)) or "none"
    return (
        f"所属長は自所属の職員についてのみ操作できます（この職員の所属: {shown}） / a section head acts only for "
        f"the staff of their own section ({principal.section_code}); this account's holder is in: {shown}"
    )


def refusal_to_approve(connection: Connection, principal: Principal, request: Mapping[str, Any]) -> str | None:
    """Why ``principal`` may not decide ``request`` (None: they may): nobody decides their own
    request, and a section head decides for the section the holder belongs to on ``valid_from``."""
    if request["requested_by"] == principal.username:
        return "自分の申請は承認できません / you cannot decide a request you made yourself"
    if principal.role is PlatformRole.OFFICER:
        return None
    return refusal_to_act_for(connection, principal, request["user_id"], (request["valid_from"],))


# -- requests -----------------------------------------------------------------------------------------


def create_request(
    connection: Connection,
    principal: Principal,
    roles: RoleCatalog,
    wanted: GrantRequestIn,
    *,
    now: datetime,
    today: date,
    client: str | None = None,
) -> GrantRequestOut:
    """Record a request (pending). The role must exist in the policy in force, the account must exist
    and be in use, and a temporary grant (the flag, or an account of kind ``temporary``) must end."""
    mc = principal.municipality_code
    if wanted.role not in roles:
        raise ValidationFailed(
            f"unknown role {wanted.role!r}: not in the policy in force / ポリシーにない役割です",
            hint="the roles are listed by GET /api/v1/policy (roles)",
        )
    account = repository.account(connection, mc, wanted.user_id)
    if account is None:
        raise ValidationFailed(
            f"no account {wanted.user_id!r} / 操作者IDがありません",
            hint="create it first: POST /api/v1/rights/accounts (or import the accounts feed)",
        )
    if account["disabled_on"] is not None and account["disabled_on"] <= wanted.valid_from:
        raise ValidationFailed(
            f"account {wanted.user_id!r} is disabled from {account['disabled_on']} / 無効化済みのIDです"
        )
    temporary = wanted.temporary or account["kind"] == "temporary"
    if temporary and wanted.valid_to is None:
        raise ValidationFailed(
            f"account {wanted.user_id!r} is temporary: the grant must end (valid_to) / 臨時IDの権限には終了日が必要です"
        )
    refusal = refusal_to_act_for(connection, principal, wanted.user_id, (wanted.valid_from, today))
    if refusal:
        raise Forbidden(refusal)
    request_id = repository.add_request(
        connection,
        municipality_code=mc,
        user_id=wanted.user_id,
        role=wanted.role,
        valid_from=wanted.valid_from,
        valid_to=wanted.valid_to,
        temporary=temporary,
        reason=wanted.reason,
        status="pending",
        requested_by=principal.username[:64],
        requested_at=now,
    )
    _step(
        connection,
        principal,
        "requested",
        wanted.user_id,
        now=now,
        client=client,
        request_id=request_id,
        effective_on=wanted.valid_from,
        reason=wanted.reason,
        detail={"role": wanted.role, "valid_to": wanted.valid_to, "temporary": temporary},
    )
    return _request_out(connection, mc, request_id)


def _request_out(connection: Connection, municipality_code: str, request_id: int) -> GrantRequestOut:
    row = repository.request_by_id(connection, municipality_code, request_id)
    assert row is not None
    return GrantRequestOut.model_validate(row)


def _grant_out(connection: Connection, municipality_code: str, grant_id: int) -> GrantOut:
    row = repository.grant_by_id(connection, municipality_code, grant_id)
    assert row is not None
    return GrantOut.model_validate(row)


def _pending_request(connection: Connection, principal: Principal, request_id: int) -> dict[str, Any]:
    request = repository.request_by_id(connection, principal.municipality_code, request_id)
    if request is None:
        raise NotFound(f"no grant request {request_id} / 申請がありません")
    if request["status"] != "pending":
        raise Conflict(f"request {request_id} is already {request['status']} / この申請は処理済みです")
    refusal = refusal_to_approve(connection, principal, request)
    if refusal:
        raise Forbidden(refusal)
    return request


def approve_request(
    connection: Connection,
    principal: Principal,
    roles: RoleCatalog,
    request_id: int,
    *,
    comment: str | None = None,
    now: datetime,
    client: str | None = None,
) -> GrantDecision:
    """Approve a pending request and issue its grant (origin ``api``, the approver named on it)."""
    mc = principal.municipality_code
    request = _pending_request(connection, principal, request_id)
    if request["role"] not in roles:
        raise Conflict(
            f"role {request['role']!r} is no longer in the policy in force / 役割がポリシーから削除されています",
            hint="reject the request and ask again with a current role",
        )
    # -- contractors: a contractor's grant needs a contract and a pledge, and ends with the contract
    valid_to, refusal = contracts.cap_for_account(
        connection, mc, request["user_id"], request["valid_from"], request["valid_to"]
    )
    if refusal:
        raise Conflict(refusal, hint="record the contract and the pledge: auditd rights contract add / assign")
    # -- end contractors
    grant_id = repository.add_grant(
        connection,
        municipality_code=mc,
        user_id=request["user_id"],
        role=request["role"],
        valid_from=request["valid_from"],
        valid_to=valid_to,
        approver=principal.username[:64],
        status="active",
        origin="api",
    )
    if not repository.decide_request(
        connection,
        mc,
        request_id,
        status="approved",
        decided_by=principal.username[:64],
        decided_at=now,
        decision_reason=comment,
        grant_id=grant_id,
    ):
        raise Conflict(f"request {request_id} was decided meanwhile / この申請は処理済みです")
    event = _step(
        connection,
        principal,
        "approved",
        request["user_id"],
        now=now,
        client=client,
        request_id=request_id,
        grant_id=grant_id,
        effective_on=request["valid_from"],
        reason=comment,
        detail={"role": request["role"], "requested_by": request["requested_by"]},
    )
    return GrantDecision(
        request=_request_out(connection, mc, request_id), grant=_grant_out(connection, mc, grant_id), event=event
    )


def reject_request(
    connection: Connection,
    principal: Principal,
    request_id: int,
    reason: str,
    *,
    now: datetime,
    client: str | None = None,
) -> GrantDecision:
    """Reject a pending request, with the reason."""
    mc = principal.municipality_code
    request = _pending_request(connection, principal, request_id)
    if not repository.decide_request(
        connection,
        mc,
        request_id,
        status="rejected",
        decided_by=principal.username[:64],
        decided_at=now,
        decision_reason=reason,
    ):
        raise Conflict(f"request {request_id} was decided meanwhile / この申請は処理済みです")
    event = _step(
        connection,
        principal,
        "rejected",
        request["user_id"],
        now=now,
        client=client,
        request_id=request_id,
        reason=reason,
        detail={"role": request["role"]},
    )
    return GrantDecision(request=_request_out(connection, mc, request_id), event=event)


def list_requests(
    connection: Connection, principal: Principal, *, status: str | None, user_id: str | None, today: date, limit: int
) -> GrantRequestList:
    rows = repository.requests(connection, principal, status=status, user_id=user_id, today=today, limit=limit)
    return GrantRequestList(requests=[GrantRequestOut.model_validate(r) for r in rows])


# -- grants -------------------------------------------------------------------------------------------


def revoke_grant(
    connection: Connection,
    principal: Principal,
    grant_id: int,
    wanted: RevokeIn,
    *,
    now: datetime,
    today: date,
    client: str | None = None,
) -> GrantDecision:
    """Revoke a grant (active or suspended), effective ``wanted.effective_on``; by default the day the
    personnel register made it lapse (when it was flagged or suspended), else today."""
    mc = principal.municipality_code
    grant = repository.grant_by_id(connection, mc, grant_id)
    if grant is None:
        raise NotFound(f"no grant {grant_id} / 権限がありません")
    refusal = refusal_to_act_for(connection, principal, grant["user_id"], (grant["valid_from"], today))
    if refusal:
        raise Forbidden(refusal)
    if grant["status"] == "revoked":
        raise Conflict(f"grant {grant_id} is already revoked / 既に取り消されています")
    # Without a day given, a grant the personnel register flagged or suspended ended on that day.
    effective_on = wanted.effective_on or repository.lapse_day(connection, mc, grant_id) or today
    if not repository.set_grant_status(
        connection, mc, {grant_id: effective_on}, "revoked", was=("active", "suspended")
    ):
        raise Conflict(f"grant {grant_id} was revoked meanwhile / 既に取り消されています")
    event = _step(
        connection,
        principal,
        "revoked",
        grant["user_id"],
        now=now,
        client=client,
        grant_id=grant_id,
        effective_on=effective_on,
        reason=wanted.reason,
        detail={"role": grant["role"], "was": grant["status"]},
    )
    return GrantDecision(grant=_grant_out(connection, mc, grant_id), event=event)


def list_grants(
    connection: Connection,
    principal: Principal,
    *,
    user_id: str | None,
    status: str | None,
    today: date,
    without_expiry: bool = False,
    limit: int,
) -> GrantList:
    rows = repository.grants(
        connection, principal, user_id=user_id, status=status, today=today, without_expiry=without_expiry, limit=limit
    )
    return GrantList(grants=[GrantOut.model_validate(r) for r in rows])


def grant_history(connection: Connection, principal: Principal, grant_id: int, *, today: date) -> GrantHistory:
    rows = repository.history(connection, principal, grant_id, today)
    if rows is None:
        raise NotFound(f"no grant {grant_id} / 権限がありません")
    return GrantHistory(grant_id=grant_id, events=[GrantEventOut.model_validate(r) for r in rows])


# -- accounts -----------------------------------------------------------------------------------------


def save_account(
    connection: Connection, principal: Principal, wanted: AccountIn, *, client: str | None = None
) -> AccountOut:
    """Create an account for one person, or update it. An account belongs to one person for its whole
    life: giving an existing account to another person is refused (409), as a shared ID (共用ID)
    would make every operation under it unattributable."""
    mc = principal.municipality_code
    if not repository.staff_exists(connection, mc, wanted.staff_id):
        raise ValidationFailed(
            f"no staff member {wanted.staff_id!r} on the personnel register / 職員名簿にない職員です",
            hint="import the staff feed first (POST /api/v1/import/staff)",
        )
    existing = repository.account(connection, mc, wanted.user_id)
    values = wanted.model_dump(exclude={"user_id"}, exclude_unset=True)
    if existing is None:
        repository.insert_account(
            connection, municipality_code=mc, user_id=wanted.user_id, **wanted.model_dump(exclude={"user_id"})
        )
        created = True
    else:
        if existing["staff_id"] is not None and existing["staff_id"] != wanted.staff_id:
            raise Conflict(
                f"操作者ID {wanted.user_id} は別の職員（{existing['staff_id']}）に割り当て済みです。"
                f"IDの共用はできません / account {wanted.user_id} belongs to another person "
                f"({existing['staff_id']}); accounts are never shared",
                hint="create a new account for this person",
            )
        repository.update_account(connection, mc, wanted.user_id, **values)
        created = False
    record(
        connection,
        mc,
        principal.username,
        "rights_account_created" if created else "rights_account_updated",
        "account",
        wanted.user_id,
        {"staff_id": wanted.staff_id, "kind": wanted.kind},
        client,
    )
    row = repository.account(connection, mc, wanted.user_id)
    assert row is not None
    return AccountOut.model_validate({**row, "created": created})


# -- the personnel register -----------------------------------------------------------------------------


def lapsed_grants(
    grants: pd.DataFrame,
    retirements: pd.DataFrame,
    assignments: pd.DataFrame,
    roles: RoleCatalog,
    contract_ends: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Which active grants the personnel register makes lapse, from when and why (vectorised).

    - a retirement (``staff.retired_on``): from the retirement day;
    - a transfer: the holder's current assignment is in a section the role does not list (roles that
      list no section are held anywhere), from the day of that assignment (or the grant's start, if
      later: a grant given to someone already elsewhere lapses at once).
    - a contract's end (``contract_ends``: staff_id, ended_on, the roster's people without a
      contract in force), from the day it ended (or the grant's start, if later).
    Where several apply, the earlier day counts.
    """
    columns = ["grant_id", "user_id", "role", "staff_id", "cause", "effective_on", "section_code"]
    if grants.empty:
        return pd.DataFrame(columns=columns)
    found = []
    retired = grants.merge(retirements, on="staff_id")
    if not retired.empty:
        found.append(retired.assign(cause="retirement", effective_on=retired["retired_on"], section_code=None))
    current = assignments.drop_duplicates("staff_id", keep="first")  # the latest assignment valid on the day
    placed = grants.merge(current, on="staff_id")
    allowed = pd.DataFrame(
        [(role, section) for role, sections in roles.items() for section in sections], columns=["role", "allowed"]
    )
    restricted = placed[placed["role"].isin(allowed["role"])]
    matched = restricted.merge(
        allowed, left_on=["role", "section_code"], right_on=["role", "allowed"], how="left", indicator=True
    )
    moved = matched[matched["_merge"] == "left_only"]
    if not moved.empty:
        effective = moved[["assigned_from", "valid_from"]].max(axis=1)
        found.append(moved.assign(cause="transfer", effective_on=effective))
    # -- contractors
    if contract_ends is not None and not contract_ends.empty:
        ended = grants.merge(contract_ends, on="staff_id")
        if not ended.empty:
            effective = pd.concat([ended["ended_on"], ended["valid_from"]], axis=1).max(axis=1)
            found.append(ended.assign(cause="contract_end", effective_on=effective, section_code=None))
    # -- end contractors
    if not found:
        return pd.DataFrame(columns=columns)
    lapsed = pd.concat([f[columns] for f in found], ignore_index=True)
    lapsed = lapsed.sort_values(["grant_id", "effective_on", "cause"]).drop_duplicates("grant_id", keep="first")
    return lapsed.reset_index(drop=True)


def apply_personnel(
    connection: Connection,
    settings: Settings,
    municipality_code: str,
    roles: RoleCatalog,
    *,
    on: date,
    actor: str,
    now: datetime,
    client: str | None = None,
) -> PersonnelResult:
    """Suspend (or, with ``AUDITD_RIGHTS_PERSONNEL_ACTION=flag``, only flag) the active grants that
    the personnel register as of ``on`` makes lapse: transfers out of the role's sections,
    retirements, and contracts ended (the contractor roster). Each is one ``grant_events`` row with
    the effective day; the run is one trail entry. Running it again changes nothing: suspended
    grants are no longer active, flagged ones are not flagged twice for the same day."""
    mode = settings.rights_personnel_action
    grants = repository.active_grants_frame(connection, municipality_code, on)
    lapsed = lapsed_grants(
        grants,
        repository.retirements_frame(connection, municipality_code, on),
        repository.assignments_on_frame(connection, municipality_code, on),
        roles,
        repository.contract_ends_frame(connection, municipality_code, on),  # -- contractors
    )
    action = "suspended" if mode == "suspend" else "flagged"
    if mode == "flag" and not lapsed.empty:
        done = repository.flagged(connection, municipality_code, [int(g) for g in lapsed["grant_id"]])
        keep = [(int(g), d) not in done for g, d in zip(lapsed["grant_id"], lapsed["effective_on"], strict=True)]
        lapsed = lapsed[keep]
    items = [
        LapsedGrant.model_validate(
            {
                **row,
                "section_code": None if pd.isna(row["section_code"]) else row["section_code"],
                "action": action,
            }
        )
        for row in lapsed.to_dict("records")
    ]
    if mode == "suspend":
        repository.set_grant_status(
            connection, municipality_code, {i.grant_id: i.effective_on for i in items}, "suspended", was=("active",)
        )
    reasons = {
        "transfer": "異動により役割の所属外 / transferred out of the role's sections",
        "retirement": "退職 / retired",
        "contract_end": "委託契約の終了 / the contract ended",  # -- contractors
    }
    repository.add_events(
        connection,
        [
            _event(
                actor,
                municipality_code,
                action,
                i.user_id,
                now=now,
                grant_id=i.grant_id,
                effective_on=i.effective_on,
                reason=reasons[i.cause],
                detail={"cause": i.cause, "role": i.role, "staff_id": i.staff_id, "section_code": i.section_code},
            )
            for i in items
        ],
    )
    record(
        connection,
        municipality_code,
        actor,
        "rights_personnel_applied",
        "grants",
        None,
        {"on": on, "mode": mode, "checked": len(grants), action: [i.grant_id for i in items]},
        client,
    )
    return PersonnelResult(on=on, mode=mode, checked=len(grants), lapsed=items)


# -- measures -----------------------------------------------------------------------------------------


def revocation_lag(connection: Connection, settings: Settings, principal: Principal, *, today: date) -> RevocationLag:
    """Per grant, the time from the start of the day its right should have ended (Japan time) to the
    moment it was suspended or revoked, and the median and maximum over all of them."""
    items = []
    for row in repository.lag_rows(connection, principal.municipality_code, principal, today):
        start = datetime.combine(row["effective_on"], time(0), tzinfo=settings.tz)
        lag = (row["done_at"] - start) / timedelta(days=1)
        items.append(LagItem(**row, lag_days=round(lag, 3)))
    lags = [i.lag_days for i in items]
    summary = LagSummary(
        flagged_open=repository.flagged_open(connection, principal, today),
        count=len(lags),
        median_days=round(statistics.median(lags), 3) if lags else None,
        max_days=max(lags) if lags else None,
    )
    return RevocationLag(summary=summary, grants=items)


def dormant(
    connection: Connection, principal: Principal, *, days: int, now: datetime, today: date, limit: int
) -> DormantList:
    """Accounts in use without a successful login in the last ``days`` days (last login before
    ``now - days``), the longest idle first.

    Read from the ``account_days`` rollup rather than by grouping every login event ever stored: an
    account whose last login day is before the Japan day of ``since`` is idle, one whose last login
    day is later is not, and only those whose last login fell on that very day are decided by their
    events of that day (``ix_events_user_ts``). ``last_login`` is then the exact instant, read the
    same way from the last login day of each account listed. The answer is what grouping the login
    events gives (:func:`repository.dormant_accounts`), at a cost bounded by the accounts."""
    mc = principal.municipality_code
    since = now - timedelta(days=days)
    since_day = since.astimezone(ROLLUP_TZ).date()
    fetch = limit
    while True:
        rows = repository.dormant_accounts_by_day(connection, mc, since_day, today, fetch)
        last = repository.last_logins_on(
            connection, mc, [(r["user_id"], r["last_login"]) for r in rows if r["last_login"] is not None], ROLLUP_TZ
        )
        kept = []
        for row in rows:
            exact = last.get(row["user_id"]) if row["last_login"] is not None else None
            if row["last_login"] is not None and (exact is None or exact >= since):
                continue  # its last login day is that of ``since`` but the login came after it (or no event)
            kept.append({**row, "last_login": exact})
        if len(kept) >= limit or len(rows) < fetch:
            break
        fetch *= 2  # some of the day of ``since`` were not idle: read further
    return DormantList(days=days, since=since, accounts=[DormantAccount.model_validate(r) for r in kept[:limit]])


# -- reads of the dashboard's 職員 page ---------------------------------------------------------------------

#: Figures compared with the section's peers: per day the account was used (account_days).
PEER_FIGURES = ("events", "subjects", "outputs")


def weekday_hour_grid(cells: list[tuple[str, int, str, int]]) -> tuple[list[list[int]], dict[str, int]]:
    """Counts by (day, hour, system) as a 7 × 24 grid, Monday first, and the total per system (most
    used first)."""
    grid = [[0] * 24 for _ in range(7)]
    systems: dict[str, int] = {}
    for day, hour, system, n in cells:
        grid[date.fromisoformat(day).weekday()][hour] += n
        systems[system] = systems.get(system, 0) + n
    return grid, dict(sorted(systems.items(), key=lambda item: (-item[1], item[0])))


def peer_comparison(
    totals: Mapping[str, Mapping[str, int]], user_id: str, peers: list[str]
) -> dict[str, dict[str, float | None]]:
    """The account's figures per day of use next to the median of its peers' (the other accounts of
    its section used in the same window); None where there is nothing to compare."""

    def rates(figures: Mapping[str, int] | None) -> dict[str, float] | None:
        if not figures or not figures.get("days"):
            return None
        return {name: figures[name] / figures["days"] for name in PEER_FIGURES}

    own = rates(totals.get(user_id))
    others = [r for r in (rates(totals.get(p)) for p in peers if p != user_id) if r is not None]
    compared: dict[str, dict[str, float | None]] = {}
    for name in PEER_FIGURES:
        median = statistics.median(r[name] for r in others) if others else None
        value = own[name] if own else None
        ratio = value / median if value is not None and median else None
        compared[name] = {"value": value, "median": median, "ratio": ratio}
    return compared
