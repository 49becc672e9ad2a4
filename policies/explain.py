"""The 「なぜ」 view: the reasoning behind one event's decision, step by step, in Japanese and English.

It runs the very evaluation the decide step ran (same code, same policy version), on that one event
and only that account's reference data, and formats the facts. It never reads a resident identifier.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import Connection, select

from auditd.decisions import repository as decisions_repo
from auditd.errors import NotFound, ValidationFailed
from auditd.events import repository as events_repo
from auditd.events.models import IngestBatch, IngestRun
from auditd.store.base import table_of
from collectors.pipeline import millisecond_of
from policies.engine import RULE_COLUMNS, weekdays_text
from policies.rules import BY_KEY
from policies.service import Version, current_policy, decide_events, ensure_version, load_versions

LOCAL_TZ = "Asia/Tokyo"


@dataclass
class Step:
    key: str
    title_ja: str
    title_en: str
    ok: bool
    detail_ja: str
    detail_en: str
    rules: list[str] = field(default_factory=list)


@dataclass
class Explanation:
    event: dict[str, Any]
    policy_version: dict[str, Any]
    allowed: bool
    steps: list[Step]
    violations: list[dict[str, str]]
    decided: bool
    stored_rules: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _text(value: Any) -> str:
    if value is None or (not isinstance(value, str | list) and pd.isna(value)):
        return "—"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return str(value)


def _clock(seconds: Any) -> str:
    value = int(seconds)
    return f"{value // 3600:02d}:{value % 3600 // 60:02d}:{value % 60:02d}"


def _broken(facts: pd.Series, *rules: str) -> list[str]:
    return [rule for rule in rules if bool(facts[f"v_{rule}"])]


def explain_event(connection: Connection, settings: Any, municipality_code: str, event_id: str) -> Explanation:
    """Why event ``event_id`` was (or would be) allowed or not."""
    try:
        millisecond = millisecond_of(event_id)
    except ValueError as exc:
        raise ValidationFailed(f"{event_id!r} is not an event id (32 hexadecimal digits)") from exc
    events = events_repo.event_by_id(connection, municipality_code, event_id, millisecond)
    if events.empty:
        raise NotFound(f"no event {event_id} in municipality {municipality_code}")
    versions = load_versions(connection, municipality_code)
    if not versions:
        ensure_version(connection, municipality_code, current_policy(settings))
        versions = load_versions(connection, municipality_code)
    user = str(events["user_id"].iloc[0])
    facts_all, found = decide_events(connection, municipality_code, events, versions, user_id=user, with_roles=True)
    event, facts = events.iloc[0], facts_all.iloc[0]
    version = next(v for v in versions if v.id == int(facts["policy_version_id"]))
    steps = _steps(event, facts, list(facts["roles"]), version)
    broken = [column[2:] for column in RULE_COLUMNS if bool(facts[column])]
    reasons = found.to_dict("records") if not found.empty else []
    violations = []
    for row in reasons:
        rule = BY_KEY[row["rule"]]
        evidence = json.loads(row["evidence"])
        violations.append(
            {
                "rule": rule.key,
                "code": rule.code,
                "title_ja": rule.title_ja,
                "title_en": rule.title_en,
                "reason_ja": rule.reason(evidence, "ja"),
                "reason_en": rule.reason(evidence, "en"),
                "control": rule.control,
            }
        )
    ts = pd.Timestamp(event["ts"])
    stored = decisions_repo.violations_of_event(connection, municipality_code, event_id, ts.to_pydatetime())
    return Explanation(
        event={
            "event_id": event_id,
            "ts": ts.tz_convert(LOCAL_TZ).isoformat(),
            "user_id": event["user_id"],
            "terminal_id": _text(event["terminal_id"]),
            "system": event["system"],
            "jimu": _text(event["jimu"]),
            "action": event["action"],
            "subject_count": int(event["subject_count"]),
            "section": None if pd.isna(facts["section"]) else str(facts["section"]),
            "subject": "pseudonymised" if isinstance(event["subject_hash"], str) else "—",
            "raw_ref": f"{_raw_ref(connection, int(event['batch_id']))}:{int(event['raw_pos'])}",
        },
        policy_version={
            "id": version.id,
            "name": version.policy.meta.name,
            "valid_from": version.valid_from.isoformat(),
        },
        allowed=not broken,
        steps=steps,
        violations=violations,
        decided=_decided(connection, int(event["batch_id"])),
        stored_rules=sorted({str(v["rule"]) for v in stored}),
    )


def _decided(connection: Connection, batch_id: int) -> bool:
    table = table_of(IngestBatch)
    return connection.execute(select(table.c.decided_version_id).where(table.c.id == batch_id)).scalar() is not None


def _raw_ref(connection: Connection, batch_id: int) -> str:
    batches, runs = table_of(IngestBatch), table_of(IngestRun)
    stmt = (
        select(runs.c.input)
        .select_from(batches.join(runs, runs.c.id == batches.c.run_id))
        .where(batches.c.id == batch_id)
    )
    found = connection.execute(stmt).scalar()
    return str(found) if found else "—"


def _contract_terms(facts: pd.Series) -> tuple[str, str] | None:
    """The contract a contractor's operator worked under that day, in words (Japanese, English): its
    number and its work window (作業時間) and days, or only its days when it sets no window."""
    number = facts.get("contract_number")
    if not isinstance(number, str):
        return None
    days = _text(facts["contract_days"]).replace("—", "")
    days_ja, days_en = weekdays_text(days, "ja"), weekdays_text(days, "en")
    hours = facts["contract_hours"]
    if isinstance(hours, str):
        return (
            f"委託契約 {number} の作業時間 {hours}（{days_ja}）",
            f"contract {number}'s work window {hours} ({days_en})",
        )
    return f"委託契約 {number} の作業日（{days_ja}）", f"contract {number}'s working days ({days_en})"


def _steps(event: pd.Series, facts: pd.Series, roles: list[str], version: Version) -> list[Step]:
    policy = version.policy
    steps: list[Step] = []
    user = event["user_id"]

    # account and person
    rules = _broken(facts, "unknown_account", "account_disabled", "after_retirement", "contractor_without_pledge")
    if not facts["account_known"]:
        ja, en = f"アカウント {user} は操作者ID台帳にありません。", f"Account {user} is not in the account ledger."
    else:
        kind = _text(facts["account_kind"])
        staff = _text(facts["staff_id"])
        section = _text(facts["section"])
        ja = f"アカウント {user}（{kind}）、職員 {staff}、この日の所属 {section}。"
        en = f"Account {user} ({kind}), staff {staff}, section on that day {section}."
        if rules:
            ja += " " + "／".join(BY_KEY[r].title_ja for r in rules)
            en += " " + "; ".join(BY_KEY[r].title_en for r in rules)
    steps.append(Step("account", "アカウント・職員", "Account and person", not rules, ja, en, rules))

    # rights
    rules = _broken(facts, "no_grant", "out_of_scope", "mynumber_display", "terminal_not_allowed", "after_transfer")
    what = f"{event['system']}・{_text(event['jimu'])}・{event['action']}"
    held = "、".join(f"{r}（{policy.roles[r].title}）" if r in policy.roles else r for r in roles) or "なし"
    if not rules:
        ja = f"この日に有効な役割: {held}。{what} はその権限の範囲内です。"
        en = f"Roles valid that day: {', '.join(roles) or 'none'}. {what} is within them."
    else:
        ja = f"この日に有効な役割: {held}。" + "／".join(BY_KEY[r].title_ja for r in rules) + f"（{what}）。"
        en = (
            f"Roles valid that day: {', '.join(roles) or 'none'}. " + "; ".join(BY_KEY[r].title_en for r in rules) + "."
        )
    steps.append(Step("rights", "権限", "Rights", not rules, ja, en, rules))

    # terminal
    rules = _broken(facts, "unregistered_terminal", "retired_terminal", "wrong_segment", "foreign_terminal")
    terminal = _text(event["terminal_id"])
    segment, owner = _text(facts["terminal_segment"]), _text(facts["terminal_section"])
    ja = f"端末 {terminal}（区分 {segment}、所属 {owner}）。"
    en = f"Terminal {terminal} (segment {segment}, section {owner})."
    if rules:
        ja += " " + "／".join(BY_KEY[r].title_ja for r in rules)
        en += " " + "; ".join(BY_KEY[r].title_en for r in rules)
    steps.append(Step("terminal", "端末", "Terminal", not rules, ja, en, rules))

    # time
    rules = _broken(facts, "off_hours")
    day_kind = (
        "開庁日" if facts["day_open"] else (_text(facts["day_name"]) if _text(facts["day_name"]) != "—" else "閉庁日")
    )
    hours = f"{_clock(facts['hours_start'])[:5]}–{_clock(facts['hours_end'])[:5]}"
    extras = []
    if facts["overtime"]:
        extras.append(("時間外勤務命令あり", "approved overtime"))
    if facts["counter_open"]:
        extras.append(("休日窓口の開設時間内", "within a counter opening"))
    ja = f"{_text(facts['day'])}（{day_kind}）{_clock(facts['seconds'])}、業務時間 {hours}"
    en = f"{_text(facts['day'])} ({day_kind}) at {_clock(facts['seconds'])}, business hours {hours}"
    contract = _contract_terms(facts)
    outside = contract is not None and bool(facts["contract_outside"])
    if contract is not None and not (rules and outside):
        ja += f"、{contract[0]}" + ("の外" if outside else "内")
        en += f", {'outside' if outside else 'within'} {contract[1]}"
    if extras:
        ja += "、" + "、".join(x[0] for x in extras)
        en += ", " + ", ".join(x[1] for x in extras)
    if rules and contract is not None and outside:  # the contract, not the office's hours, excluded it
        ja += f"。{contract[0]}の外です。"
        en += f". Outside {contract[1]}."
    else:
        ja += "。" + ("時間内です。" if not rules else "業務時間外で、時間外勤務命令もありません。")
        en += ". " + ("Within hours." if not rules else "Outside hours, without approved overtime.")
    steps.append(Step("time", "日時", "Time", not rules, ja, en, rules))

    # authentication
    rules = _broken(facts, "no_session", "missing_factors")
    if pd.isna(facts["session_login"]):
        ja, en = "この操作を含むログイン記録が見つかりません。", "No login covering this operation was found."
    else:
        login = pd.Timestamp(facts["session_login"]).tz_convert(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")
        factors = _text(facts["session_factors"])
        ja = f"{login} のログイン（認証要素: {factors}）で操作。" + (
            "要件を満たします。" if not rules else "要件を満たしません。"
        )
        en = f"Within the login of {login} (factors: {factors}). " + (
            "Meets the requirement." if not rules else "Does not meet the requirement."
        )
    if event["action"] not in ("login", "logout", "login_fail"):
        steps.append(Step("authentication", "認証", "Authentication", not rules, ja, en, rules))

    # outputs
    if bool(facts["bulk"]):
        rules = _broken(facts, "bulk_without_approval")
        count = int(facts["subject_count"])
        approval = _text(facts["approval_id"])
        ja = f"{count} 人分の一括出力。" + (
            f"出力承認 {approval} の範囲内です。" if not rules else "有効な出力承認がありません。"
        )
        en = f"Bulk output of {count} residents. " + (
            f"Covered by approval {approval}." if not rules else "No valid output approval."
        )
        steps.append(Step("output", "出力承認", "Output approval", not rules, ja, en, rules))
    return steps
