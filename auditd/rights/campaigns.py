"""Recertification campaigns (権限表の見直し): every active grant is reviewed, once a year after the
April transfers or on demand, by the 所属長 of its holder's section, with the account's actual use
over the last months next to it (from the ``account_days`` rollup; an unused grant is highlighted).

- **open**: every grant active on the day is snapshotted into an item, with the holder's section that
  day (the reviewer) and the account's use over ``usage_months`` before it. One campaign at a time.
- **decide**: keep (nothing changes), revoke (through :func:`auditd.rights.service.revoke_grant`, so
  the grant's status, ``grant_events`` and the revocation lag stay right), or change. A change revokes
  the grant and *requests* the new role through :func:`auditd.rights.service.create_request` rather
  than issuing it: the new role then passes the checks of any request (it is in the policy, a
  temporary account's grant ends) and is approved by someone other than the person who asked —
  a recertification must not become a way round the approval of grants. Until it is approved the
  holder has the least privilege, which is what a review errs towards.
- **remind**: section heads with undecided items are mailed ``recert_remind_days`` before the deadline
  (once per section by the job; on demand at most once a day).
- **flag**: the day after the deadline, the items left undecided are flagged (kept in the report).
- **escalate**: ``recert_escalate_days`` after the deadline, the sections that did not respond are
  reported to the officers, who may decide for them.
- **close** and **report**: counts by section of reviewed, kept, revoked, changed, unreviewed, unused.

Who is mailed: a section head has no e-mail field, so a reminder goes to the enabled platform users of
role section_head of that section whose username is an e-mail address, and to the mail recipients
(reminders on) listed for exactly that section; an escalation to the officers whose username is an
address and to the mail recipients of every section (reminders on). Mails carry the campaign, section
codes and counts only — no account ids or names.

Every step is a ``recert_events`` row (append-only) and a trail entry, in the caller's transaction.
Services never commit.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from markupsafe import escape
from sqlalchemy import Connection

from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.errors import Conflict, NotFound, ValidationFailed
from auditd.mail import repository as mail_repo
from auditd.mail import service as mail_service
from auditd.rights import campaign_repository as repo
from auditd.rights import service
from auditd.rights.schemas import (
    CampaignDetail,
    CampaignIn,
    CampaignList,
    CampaignOut,
    CampaignReport,
    CampaignRunResult,
    CampaignSectionCounts,
    GrantRequestIn,
    RecertDecisionIn,
    RecertDecisionOut,
    RecertItemOut,
    RevokeIn,
)
from auditd.settings import Settings
from auditd.trail.service import record

SCHEDULER = "scheduler"
REPORT_COLUMNS = (
    "section_code", "items", "reviewed", "kept", "revoked", "changed", "unreviewed", "flagged", "unused", "unused_kept",
)  # fmt: skip


def months_before(day: date, months: int) -> date:
    """The same day ``months`` earlier (the month's last day when it has fewer days)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    for candidate in range(day.day, 27, -1):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    return date(year, month, min(day.day, 28))


def _log(
    connection: Connection,
    municipality_code: str,
    campaign_id: int,
    action: str,
    actor: str,
    now: datetime,
    *,
    item_id: int | None = None,
    section_code: str | None = None,
    on_day: date | None = None,
    detail: dict[str, Any] | None = None,
    client: str | None = None,
    trail: bool = True,
) -> None:
    """One ``recert_events`` row and (unless told not to) one trail entry."""
    repo.add_event(
        connection,
        municipality_code=municipality_code,
        campaign_id=campaign_id,
        item_id=item_id,
        ts=now,
        actor=actor[:64],
        action=action,
        section_code=section_code,
        on_day=on_day,
        detail=None if detail is None else json.dumps(detail, ensure_ascii=False, default=str, sort_keys=True),
    )
    if trail:
        record(
            connection,
            municipality_code,
            actor,
            f"recert_{action}",
            "recert_campaign" if item_id is None else "recert_item",
            str(campaign_id if item_id is None else item_id),
            {"campaign_id": campaign_id, "section_code": section_code, "on_day": on_day, **(detail or {})},
            client,
        )


# -- reading ------------------------------------------------------------------------------------------


def _campaign_out(row: dict[str, Any], figures: dict[str, int] | None) -> CampaignOut:
    return CampaignOut.model_validate({**row, **(figures or {})})


def _item_out(row: dict[str, Any]) -> RecertItemOut:
    return RecertItemOut.model_validate({**row, "unused": row["lookups"] == 0})


def _campaign_row(connection: Connection, principal: Principal, campaign_id: int) -> dict[str, Any]:
    row = repo.campaign(connection, principal.municipality_code, campaign_id)
    if row is None:
        raise NotFound(f"no campaign {campaign_id} / 見直しがありません")
    return row


def get_campaign(connection: Connection, principal: Principal, campaign_id: int) -> CampaignOut:
    row = _campaign_row(connection, principal, campaign_id)
    return _campaign_out(row, repo.progress(connection, principal, [campaign_id]).get(campaign_id))


def list_campaigns(
    connection: Connection, principal: Principal, *, status: str | None = None, limit: int = 100
) -> CampaignList:
    """Campaigns, newest first, each with the progress of the items ``principal`` may see."""
    rows = repo.campaigns(connection, principal.municipality_code, status=status, limit=limit)
    figures = repo.progress(connection, principal, [r["id"] for r in rows])
    return CampaignList(campaigns=[_campaign_out(r, figures.get(r["id"])) for r in rows])


def campaign_detail(
    connection: Connection,
    principal: Principal,
    campaign_id: int,
    *,
    section_code: str | None = None,
    undecided: bool = False,
) -> CampaignDetail:
    """A campaign and the items ``principal`` may see (a section head: their own section's)."""
    campaign = get_campaign(connection, principal, campaign_id)
    rows = repo.items(connection, principal, campaign_id, section_code=section_code, undecided=undecided)
    return CampaignDetail(campaign=campaign, items=[_item_out(r) for r in rows])


# -- opening ------------------------------------------------------------------------------------------


def open_campaign(
    connection: Connection,
    settings: Settings,
    municipality_code: str,
    wanted: CampaignIn,
    *,
    actor: str,
    trigger: str = "manual",
    now: datetime,
    today: date,
    client: str | None = None,
) -> CampaignOut:
    """Open a campaign today: every grant active today becomes an item with its use over the last
    ``usage_months`` (``account_days``: the events are never scanned). One open campaign at a time."""
    if repo.campaigns(connection, municipality_code, status="open", limit=1):
        raise Conflict(
            "a recertification campaign is already open / 実施中の見直しがあります",
            hint="close it first (auditd rights campaign close ID)",
        )
    deadline = wanted.deadline or today + timedelta(days=settings.recert_days)
    if deadline < today:
        raise ValidationFailed(f"the deadline {deadline} is in the past / 期限が過去の日付です")
    months = wanted.usage_months or settings.recert_usage_months
    usage_from = months_before(today, months)
    campaign_id = repo.add_campaign(
        connection,
        municipality_code=municipality_code,
        title=wanted.title or f"権限表の見直し {today.isoformat()}",
        trigger=trigger,
        status="open",
        starts_on=today,
        deadline=deadline,
        usage_months=months,
        usage_from=usage_from,
        usage_to=today,
        created_by=actor[:64],
        created_at=now,
    )
    grants = repo.grants_under_review(connection, municipality_code, today)
    used = repo.usage(connection, municipality_code, [g["user_id"] for g in grants], usage_from, today)
    empty = {"lookups": 0, "active_days": 0, "last_used": None}
    repo.add_items(
        connection,
        [
            {"municipality_code": municipality_code, "campaign_id": campaign_id, **g, **used.get(g["user_id"], empty)}
            for g in grants
        ],
    )
    unused = sum(1 for g in grants if not used.get(g["user_id"], empty)["lookups"])
    _log(
        connection,
        municipality_code,
        campaign_id,
        "opened",
        actor,
        now,
        on_day=today,
        detail={"trigger": trigger, "deadline": deadline, "items": len(grants), "unused": unused},
        client=client,
    )
    row = repo.campaign(connection, municipality_code, campaign_id)
    assert row is not None
    return _campaign_out(row, {"items": len(grants), "decided": 0, "unused": unused})


# -- deciding -----------------------------------------------------------------------------------------


def decide(
    connection: Connection,
    settings: Settings,
    principal: Principal,
    campaign_id: int,
    item_id: int,
    wanted: RecertDecisionIn,
    *,
    now: datetime,
    today: date,
    client: str | None = None,
) -> RecertDecisionOut:
    """Decide one item of an open campaign: a section head their own section's, an officer any (after
    an escalation, for instance). Decided once; another section's item is 404 like a missing one."""
    mc = principal.municipality_code
    campaign = _campaign_row(connection, principal, campaign_id)
    row = repo.item(connection, principal, campaign_id, item_id)
    if row is None:
        raise NotFound(f"no item {item_id} in campaign {campaign_id} / 対象がありません")
    if campaign["status"] != "open":
        raise Conflict(f"campaign {campaign_id} is closed / この見直しは終了しています")
    if row["decision"] is not None:
        raise Conflict(f"item {item_id} is already decided ({row['decision']}) / 判断済みです")
    grant = request = None
    reason = wanted.reason or None
    if wanted.decision in ("revoke", "change"):
        assert reason is not None  # the schema requires it
        why = f"権限表の見直し #{campaign_id}: {reason}"
        grant = service.revoke_grant(
            connection, principal, row["grant_id"], RevokeIn(reason=why), now=now, today=today, client=client
        ).grant
    if wanted.decision == "change":
        assert wanted.new_role is not None and reason is not None
        request = service.create_request(
            connection,
            principal,
            service.role_catalog(settings),
            GrantRequestIn(
                user_id=row["user_id"],
                role=wanted.new_role,
                valid_from=today,
                valid_to=wanted.new_valid_to or row["valid_to"],
                reason=f"権限表の見直し #{campaign_id}（{row['role']} から変更）: {reason}",
            ),
            now=now,
            today=today,
            client=client,
        )
    if not repo.decide_item(
        connection,
        mc,
        item_id,
        decision=wanted.decision,
        new_role=wanted.new_role,
        new_valid_to=request.valid_to if request else None,
        new_request_id=request.id if request else None,
        reason=reason,
        decided_by=principal.username[:64],
        decided_at=now,
    ):
        raise Conflict(f"item {item_id} was decided meanwhile / 判断済みです")
    _log(
        connection,
        mc,
        campaign_id,
        "decided",
        principal.username,
        now,
        item_id=item_id,
        section_code=row["section_code"],
        on_day=today,
        detail={
            "grant_id": row["grant_id"],
            "user_id": row["user_id"],
            "role": row["role"],
            "decision": wanted.decision,
            "new_role": wanted.new_role,
            "reason": reason,
            "late": today > campaign["deadline"],
        },
        client=client,
    )
    decided = repo.item(connection, principal, campaign_id, item_id)
    assert decided is not None
    return RecertDecisionOut(item=_item_out(decided), grant=grant, request=request)


# -- reminders, escalation, flags -----------------------------------------------------------------------


def _addresses(candidates: Iterable[str]) -> set[str]:
    found = set()
    for value in candidates:
        try:
            found.add(mail_service.check_address(value))
        except ValidationFailed:
            continue
    return found


def head_addresses(connection: Connection, municipality_code: str, section_code: str | None) -> set[str]:
    """Where a section's reminder goes: its section heads whose username is an address, and the mail
    recipients listed for that very section. Items of no section have no head: the officers are told."""
    if section_code is None:
        return officer_addresses(connection, municipality_code)
    heads = repo.platform_users(connection, municipality_code, PlatformRole.SECTION_HEAD, section_code)
    listed = [
        a for a, s in repo.reminder_recipients(connection, municipality_code) if s and section_code in json.loads(s)
    ]
    return _addresses([*heads, *listed])


def officer_addresses(connection: Connection, municipality_code: str) -> set[str]:
    """Where an escalation goes: officers whose username is an address and the recipients of every section."""
    officers = repo.platform_users(connection, municipality_code, PlatformRole.OFFICER)
    everyone = [a for a, s in repo.reminder_recipients(connection, municipality_code) if s is None]
    return _addresses([*officers, *everyone])


def _mail(
    connection: Connection,
    settings: Settings,
    municipality_code: str,
    key: str,
    addresses: Iterable[str],
    subject: str,
    lines: list[str],
    link: str,
    now: datetime,
) -> int:
    text = "\n".join([*lines, "", link, ""])
    html = "".join(f"<p>{escape(line)}</p>" for line in lines) + f'<p><a href="{escape(link)}">{escape(link)}</a></p>'
    rows = [
        {
            "municipality_code": municipality_code,
            "dedupe_key": f"{key}:{address}"[:200],
            "recipient": address,
            "kind": "reminder",
            "subject": subject,
            "body_text": text,
            "body_html": html,
            "status": "queued",
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": None,
            "created_at": now,
            "sent_at": None,
            "message_id": mail_service.message_id_for(settings, municipality_code, f"{key}:{address}"),
        }
        for address in sorted(addresses)
    ]
    return mail_repo.enqueue(connection, rows)


def _link(settings: Settings, campaign_id: int) -> str:
    return f"{mail_service.dashboard_base(settings)}rights/campaigns/{campaign_id}"


def remind(
    connection: Connection,
    settings: Settings,
    municipality_code: str,
    campaign_id: int,
    *,
    actor: str,
    now: datetime,
    today: date,
    once: bool = False,
    client: str | None = None,
) -> CampaignRunResult:
    """Mail the heads of every section with undecided items of an open campaign. At most once a day per
    section; with ``once`` (the job), at most once per campaign."""
    campaign = repo.campaign(connection, municipality_code, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id} / 見直しがありません")
    result = CampaignRunResult(day=today)
    if campaign["status"] != "open":
        return result
    ja = settings.language == "ja"
    for section, undecided in sorted(
        repo.undecided_by_section(connection, municipality_code, campaign_id).items(), key=str
    ):
        already = repo.has_event(
            connection, municipality_code, campaign_id, "reminded", section_code=section, on_day=None if once else today
        )
        if section is None or already:
            continue  # items of no section are the officers': the escalation tells them
        days = (campaign["deadline"] - today).days
        subject = (
            f"[auditd] 権限表の見直し #{campaign_id}: 未判断 {undecided} 件（期限 {campaign['deadline']}）"
            if ja
            else f"[auditd] Access recertification #{campaign_id}: {undecided} undecided (due {campaign['deadline']})"
        )
        lines = (
            [
                f"{campaign['title']}",
                f"所属 {section} の未判断の権限が {undecided} 件あります。期限まで {days} 日です。",
            ]
            if ja
            else [f"{campaign['title']}", f"Section {section} has {undecided} grants to decide; {days} days left."]
        )
        mails = _mail(
            connection,
            settings,
            municipality_code,
            f"recert:{campaign_id}:remind:{section}:{today.isoformat()}",
            head_addresses(connection, municipality_code, section),
            subject,
            lines,
            _link(settings, campaign_id),
            now,
        )
        _log(
            connection,
            municipality_code,
            campaign_id,
            "reminded",
            actor,
            now,
            section_code=section,
            on_day=today,
            detail={"undecided": undecided, "mails": mails, "deadline": campaign["deadline"]},
            client=client,
        )
        result.reminded.append(section)
        result.mails += mails
    return result


def _flag(
    connection: Connection, municipality_code: str, campaign: dict[str, Any], actor: str, now: datetime, today: date
) -> int:
    ids = repo.flag_undecided(connection, municipality_code, campaign["id"], now)
    repo.update_campaign(connection, municipality_code, campaign["id"], flagged_at=now)
    _log(
        connection,
        municipality_code,
        campaign["id"],
        "flagged",
        actor,
        now,
        on_day=today,
        detail={"items": ids, "deadline": campaign["deadline"]},
    )
    return len(ids)


def _escalate(
    connection: Connection,
    settings: Settings,
    municipality_code: str,
    campaign: dict[str, Any],
    actor: str,
    now: datetime,
    today: date,
) -> tuple[list[str], int]:
    pending = repo.undecided_by_section(connection, municipality_code, campaign["id"])
    if not pending:
        return [], 0
    ja = settings.language == "ja"
    sections = sorted(pending.items(), key=lambda item: str(item[0]))
    shown = [f"{s or '-'}: {n}" for s, n in sections]
    subject = (
        f"[auditd] 権限表の見直し #{campaign['id']}: 期限超過の未判断 {sum(pending.values())} 件（{len(pending)} 所属）"
        if ja
        else f"[auditd] Access recertification #{campaign['id']}: {sum(pending.values())} overdue "
        f"({len(pending)} sections)"
    )
    intro = (
        f"期限 {campaign['deadline']} までに判断されなかった所属（所属: 件数）:"
        if ja
        else f"Sections that did not decide by {campaign['deadline']} (section: items):"
    )
    mails = _mail(
        connection,
        settings,
        municipality_code,
        f"recert:{campaign['id']}:escalate",
        officer_addresses(connection, municipality_code),
        subject,
        [campaign["title"], intro, *shown],
        _link(settings, campaign["id"]),
        now,
    )
    repo.update_campaign(connection, municipality_code, campaign["id"], escalated_at=now)
    for section, undecided in sections:
        _log(
            connection,
            municipality_code,
            campaign["id"],
            "escalated",
            actor,
            now,
            section_code=section,
            on_day=today,
            detail={"undecided": undecided, "mails": mails},
        )
    return [s or "-" for s, _ in sections], mails


def _scheduled_open_day(settings: Settings, today: date) -> date | None:
    if not settings.recert_open_on:
        return None
    month, day = (int(part) for part in settings.recert_open_on.split("-"))
    try:
        return date(today.year, month, day)
    except ValueError:  # 02-29 in a common year
        return date(today.year, month, 28)


def run_day(
    connection: Connection,
    settings: Settings,
    municipality_code: str,
    *,
    today: date,
    now: datetime,
    actor: str = SCHEDULER,
) -> CampaignRunResult:
    """One pass of the daily job, as of ``today``: open the yearly campaign from ``recert_open_on``
    (until its would-be deadline, so a server down that day still opens it, but not months late), then
    for each open campaign remind, flag and escalate as due. Running it again the same day does nothing."""
    result = CampaignRunResult(day=today)
    opens = _scheduled_open_day(settings, today)
    if (
        opens is not None
        and opens <= today < opens + timedelta(days=settings.recert_days)
        and not repo.scheduled_since(connection, municipality_code, opens)
        and not repo.campaigns(connection, municipality_code, status="open", limit=1)
    ):
        title = (
            f"権限表の見直し {today.year}年度" if settings.language == "ja" else f"Access recertification {today.year}"
        )
        opened = open_campaign(
            connection,
            settings,
            municipality_code,
            CampaignIn(title=title, deadline=opens + timedelta(days=settings.recert_days)),
            actor=actor,
            trigger="scheduled",
            now=now,
            today=today,
        )
        result.opened = opened.id
    for campaign in repo.campaigns(connection, municipality_code, status="open"):
        deadline = campaign["deadline"]
        if deadline - timedelta(days=settings.recert_remind_days) <= today <= deadline:
            done = remind(
                connection, settings, municipality_code, campaign["id"], actor=actor, now=now, today=today, once=True
            )
            result.reminded += done.reminded
            result.mails += done.mails
        if today > deadline and campaign["flagged_at"] is None:
            result.flagged += _flag(connection, municipality_code, campaign, actor, now, today)
        if today > deadline + timedelta(days=settings.recert_escalate_days) and campaign["escalated_at"] is None:
            sections, mails = _escalate(connection, settings, municipality_code, campaign, actor, now, today)
            result.escalated += sections
            result.mails += mails
    return result


def close_campaign(
    connection: Connection,
    principal: Principal,
    campaign_id: int,
    *,
    now: datetime,
    today: date,
    client: str | None = None,
) -> CampaignOut:
    """Close an open campaign; items still undecided are flagged now if the deadline did not flag them."""
    mc = principal.municipality_code
    campaign = _campaign_row(connection, principal, campaign_id)
    if campaign["status"] != "open":
        raise Conflict(f"campaign {campaign_id} is already closed / この見直しは終了しています")
    flagged = 0
    if campaign["flagged_at"] is None:
        flagged = _flag(connection, mc, campaign, principal.username, now, today)
    if not repo.update_campaign(
        connection, mc, campaign_id, status="closed", closed_by=principal.username[:64], closed_at=now
    ):
        raise Conflict(f"campaign {campaign_id} was closed meanwhile / この見直しは終了しています")
    _log(
        connection,
        mc,
        campaign_id,
        "closed",
        principal.username,
        now,
        on_day=today,
        detail={"flagged": flagged},
        client=client,
    )
    return get_campaign(connection, principal, campaign_id)


# -- the report ---------------------------------------------------------------------------------------


def report(connection: Connection, principal: Principal, campaign_id: int) -> CampaignReport:
    """Counts by reviewing section (and in total) of the items ``principal`` may see."""
    campaign = get_campaign(connection, principal, campaign_id)
    sections = [
        CampaignSectionCounts.model_validate(r) for r in repo.section_counts(connection, principal, campaign_id)
    ]
    figures = {name: sum(getattr(s, name) for s in sections) for name in REPORT_COLUMNS[1:]}
    total = CampaignSectionCounts.model_validate({"section_code": None, **figures})
    return CampaignReport(campaign=campaign, sections=sections, total=total)


def report_csv(
    connection: Connection,
    principal: Principal,
    campaign_id: int,
    *,
    now: datetime,
    client: str | None = None,
    language: str = "ja",
) -> tuple[str, bytes]:
    """The report as CSV (UTF-8 with BOM, for Excel): one row per section and a total; recorded."""
    built = report(connection, principal, campaign_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(REPORT_COLUMNS)
    for counts in [*built.sections, built.total]:
        row = counts.model_dump()
        label = row["section_code"] if counts is not built.total else ("合計" if language == "ja" else "total")
        writer.writerow([label or "", *(row[name] for name in REPORT_COLUMNS[1:])])
    _log(
        connection,
        principal.municipality_code,
        campaign_id,
        "report",
        principal.username,
        now,
        detail={"format": "csv", "sections": len(built.sections)},
        client=client,
    )
    return f"recertification-{campaign_id}.csv", ("\ufeff" + buffer.getvalue()).encode("utf-8")
