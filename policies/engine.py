"""The policy engine: for every event, the facts that decide it, and the rules it breaks.

One vectorised pass over a batch of events (pandas joins and masks, no loop per event):

1. account and person: is the account in the ledger, disabled, its person retired, a contractor
   without a pledge, in which section on that day;
2. rights: the grants valid that day and their roles; whether a role permits this system × 事務 ×
   action, from this terminal, for a holder still in the role's section;
3. terminal: registered, not retired, in the right network segment, of the user's own section;
4. time: the day of the municipal calendar, the section's hours, approved overtime, counter openings,
   or the hours of a role that has its own (a night batch); a contractor's operator also within the
   work window and weekdays of the contract in force that day (委託契約の作業時間), else the policy's
   hours for contractors;
5. authentication: the login session that covers the operation (by session id, else the latest login
   of that account on that terminal not yet logged out) and whether its factors meet the segment's rule;
6. outputs: a bulk print or export covered by a valid output approval.

:func:`evaluate` returns one row of facts per event with one boolean column per rule; decisions store
the violations (:func:`violations`), and the 「なぜ」 view formats the same facts for one event, so the
explanation can never disagree with the decision.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditd.events.models import ACTIONS
from policies.context import Context
from policies.model import AUTH_ACTIONS, WILDCARD, FactorRule, Policy, TimeWindow
from policies.rules import BY_KEY

LOCAL_TZ = "Asia/Tokyo"
RULE_COLUMNS = [f"v_{rule}" for rule in BY_KEY]
EVENT_INPUT = [
    "event_id",
    "ts",
    "user_id",
    "terminal_id",
    "session_id",
    "system",
    "jimu",
    "action",
    "subject_count",
    "auth_factors",
    "result",
]
_DAY_KIND_EN = {"開庁日": "business day", "土曜日": "Saturday", "日曜日": "Sunday", "年末年始": "year-end holiday"}
#: ISO weekday digit (1 = Monday) -> its name, for a contract's working days
WEEKDAY_JA = dict(zip("1234567", "月火水木金土日", strict=True))
WEEKDAY_EN = dict(zip("1234567", ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), strict=True))
#: Facts of a contractor's event about the contract in force that day (NA / False for everyone else):
#: its number, its window (``09:00–17:00``, NA when it sets none), its weekdays (``12345``), both as
#: text (``09:00–17:00 月火水木金``), and whether its window or weekdays exclude the event
CONTRACT_FACTS = ["contract_number", "contract_hours", "contract_days", "contract_window", "contract_outside"]


@dataclass(frozen=True)
class Tables:
    """Policy-derived lookup tables, built once per policy."""

    permitted_keys: frozenset[str]
    role_sections: dict[str, frozenset[str]]
    role_terminals: dict[str, frozenset[str]]
    role_hours: dict[str, tuple[TimeWindow, ...]]


def tables_for(policy: Policy, systems: set[str], jimu: set[str]) -> Tables:
    """Expand every role's permits to ``role|system|jimu|action`` keys (wildcards over the known values)."""
    all_systems = set(policy.systems) | systems
    all_jimu = set(policy.jimu) | jimu | {""}
    keys: set[str] = set()
    for name, role in policy.roles.items():
        for permit in role.permits:
            for system in all_systems if WILDCARD in permit.systems else permit.systems:
                for j in all_jimu if WILDCARD in permit.jimu else permit.jimu:
                    for action in ACTIONS if WILDCARD in permit.actions else permit.actions:
                        keys.add(f"{name}|{system}|{j}|{action}")
    return Tables(
        permitted_keys=frozenset(keys),
        role_sections={n: frozenset(r.sections) for n, r in policy.roles.items()},
        role_terminals={n: frozenset(r.terminals) for n, r in policy.roles.items()},
        role_hours={n: tuple(r.hours) for n, r in policy.roles.items()},
    )


def _seconds(value: Any) -> int:
    return int(value.hour) * 3600 + int(value.minute) * 60 + int(value.second)


def _in_window(seconds: pd.Series, day_open: pd.Series, weekday: pd.Series, window: TimeWindow) -> pd.Series:
    start, end = _seconds(window.start), _seconds(window.end)
    inside = (seconds >= start) & (seconds < end) if start < end else (seconds >= start) | (seconds < end)
    if window.days == "open":
        inside &= day_open
    elif window.days == "closed":
        inside &= ~day_open
    elif window.days == "weekdays":
        inside &= weekday < 5
    return inside


def _valid_on(day: pd.Series, start: pd.Series, end: pd.Series) -> pd.Series:
    """``start <= day < end`` with open ends (NaT)."""
    return (start.isna() | (start <= day)) & (end.isna() | (day < end))


def _factors_meet(factors: str, rule: FactorRule) -> bool:
    given = {x.strip() for x in factors.split(",") if x.strip()}
    return len(given) >= rule.min_factors and (not rule.one_of or bool(given & set(rule.one_of)))


def _factor_ok(factors: pd.Series, rule: FactorRule | None) -> pd.Series:
    if rule is None:
        return pd.Series(True, index=factors.index)
    codes, uniques = pd.factorize(factors.fillna(""))  # a handful of distinct factor sets: judge each once
    meets = np.array([_factors_meet(str(u), rule) for u in uniques] + [False], dtype=bool)
    return pd.Series(meets[codes], index=factors.index)


def _lookup(keys: pd.Series, table: pd.Series) -> pd.Series:
    """``table``'s value for each key (missing: NA), on ``keys``' index.

    The keys are factorised first (a batch names a few thousand accounts or terminals at most), so the
    table is searched once per distinct key; ``Series.map`` would also fail on an empty datetime table
    in pandas 3, and a person's own context is often empty (an unknown account)."""
    codes, uniques = pd.factorize(keys)
    found = table.reindex(uniques).array.take(codes, allow_fill=True)
    return pd.Series(found, index=keys.index)


def _pair_in(left: pd.Series, right: np.ndarray, allowed: dict[str, frozenset[str]]) -> np.ndarray:
    """For each (left, right) pair: ``left`` has no restriction in ``allowed``, or ``right`` is in it."""
    restricted = {k: v for k, v in allowed.items() if v}
    ok = ~left.isin(list(restricted)).to_numpy(dtype=bool)
    if restricted and not ok.all():
        keys = {f"{k}\x1f{v}" for k, values in restricted.items() for v in values}
        joined = left.astype("str") + "\x1f" + pd.Series(right, index=left.index).astype("str")
        ok |= joined.isin(keys).to_numpy(dtype=bool)
    return ok


def evaluate(
    events: pd.DataFrame, policy: Policy, context: Context, tables: Tables | None = None, *, with_roles: bool = False
) -> pd.DataFrame:
    """Facts and rule flags for each event (index preserved). ``events`` has :data:`EVENT_INPUT`.

    ``with_roles`` adds the roles held that day as a list (the 「なぜ」 view; costly on big batches).
    Columns are gathered in a dict and framed once: assigning them one by one to a DataFrame costs
    more than the work itself on a single event."""
    index = events.index
    f: dict[str, Any] = {}
    ts = pd.to_datetime(events["ts"], utc=True)
    local = ts.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
    f["day"] = local.dt.floor("D")
    f["seconds"] = (local - f["day"]).dt.total_seconds().astype("int64")
    f["weekday"] = f["day"].dt.day_of_week
    user = events["user_id"].astype("str")
    terminal = events["terminal_id"].astype("str")
    action = events["action"].astype("str")
    system = events["system"].astype("str")
    jimu = events["jimu"].astype("str").fillna("")
    is_auth = action.isin(AUTH_ACTIONS)
    is_login = action == "login"
    access = ~is_auth
    tables = tables or tables_for(policy, set(system.dropna()), set(jimu.dropna()))

    # 1. account and person --------------------------------------------------------------------------------
    accounts = context.accounts_by_user
    f["account_known"] = user.isin(accounts.index)
    f["account_kind"] = _lookup(user, accounts["kind"])
    f["staff_id"] = _lookup(user, accounts["staff_id"])
    f["disabled_on"] = _lookup(user, accounts["disabled_on"])
    staff = context.staff_by_id
    f["retired_on"] = _lookup(f["staff_id"], staff["retired_on"])
    f["employment"] = _lookup(f["staff_id"], staff["employment"])
    f["pledge_date"] = _lookup(f["staff_id"], staff["pledge_date"])
    f["section"] = section_on_day(pd.DataFrame({"staff_id": f["staff_id"], "day": f["day"]}), context.assignments)

    # 2. rights -----------------------------------------------------------------------------------------------
    f["terminal_section"] = _lookup(terminal, context.terminals_by_id["section_code"])
    pairs = _grants_on_day(pd.DataFrame({"day": f["day"]}), user, context.grants)
    key = system.fillna("") + "|" + jimu + "|" + action
    pairs["perm"] = (pairs["role"] + "|" + key.reindex(pairs["idx"]).to_numpy()).isin(tables.permitted_keys)
    pairs["fits_terminal"] = _pair_in(pairs["role"], terminal.reindex(pairs["idx"]).to_numpy(), tables.role_terminals)
    held_section = f["section"].reindex(pairs["idx"])
    pairs["fits_section"] = held_section.isna().to_numpy() | _pair_in(
        pairs["role"], held_section.to_numpy(), tables.role_sections
    )
    pairs["authorises"] = pairs["perm"] & pairs["fits_terminal"] & pairs["fits_section"]
    by_event = pairs.groupby("idx")
    has_grant = index.isin(pairs["idx"])
    permitted = _any(by_event["perm"], index)
    terminal_ok = _any(pairs[pairs["perm"]].groupby("idx")["fits_terminal"], index)
    authorised = _any(by_event["authorises"], index)
    f["has_grant"] = has_grant
    f["authorised"] = authorised

    # 3. terminal ---------------------------------------------------------------------------------------------
    terminals = context.terminals_by_id
    # through the index's hash table: Series.isin(an Index of Arrow strings) iterates the index in Python
    known_terminal = pd.Series(terminals.index.get_indexer(pd.Index(terminal)) >= 0, index=index)
    registered_on = _lookup(terminal, terminals["registered_on"])
    retired_terminal_on = _lookup(terminal, terminals["retired_on"])
    f["terminal_segment"] = _lookup(terminal, terminals["segment"])
    f["terminal_kind"] = _lookup(terminal, terminals["kind"])
    f["terminal_retired_on"] = retired_terminal_on
    has_terminal = events["terminal_id"].notna()
    system_segment = system.map({name: s.segment for name, s in policy.systems.items()})
    f["system_segment"] = system_segment

    # 4. time ---------------------------------------------------------------------------------------------------
    calendar = context.calendar_by_day
    f["day_open"] = _lookup(f["day"], calendar["is_open"]).fillna(f["weekday"] < 5).astype(bool)
    f["day_name"] = _lookup(f["day"], calendar["name"])
    hours_start = pd.Series(_seconds(policy.time.business_hours.start), index=index)
    hours_end = pd.Series(_seconds(policy.time.business_hours.end), index=index)
    for section, hours in policy.time.section_hours.items():
        mine = f["section"] == section
        hours_start[mine], hours_end[mine] = _seconds(hours.start), _seconds(hours.end)
    f["hours_start"], f["hours_end"] = hours_start, hours_end
    grace = policy.time.grace_minutes * 60
    in_business = f["day_open"] & (f["seconds"] >= hours_start) & (f["seconds"] < hours_end + grace)
    timing = pd.DataFrame({k: f[k] for k in ("staff_id", "day", "seconds", "section", "day_open", "weekday")})
    f["overtime"] = _overtime_covers(timing, context.overtime)
    f["counter_open"] = _counter_open(timing, policy)
    in_hours = in_business | f["overtime"] | f["counter_open"]
    # a contractor's operator: the staff feed says so, or the roster puts them under a contract
    contractor = (f["employment"] == "contractor").fillna(False).astype(bool)
    if len(context.contract_staff):
        contractor |= f["staff_id"].isin(context.contract_staff).fillna(False).astype(bool)
    contract = {column: pd.Series(pd.NA, index=index, dtype="str") for column in CONTRACT_FACTS[:-1]}
    contract["contract_outside"] = pd.Series(False, index=index)
    if contractor.any():  # a few people: the contracts are joined on their events only
        judged = _contractor_hours(timing[contractor], context.contracts, policy)
        for column in CONTRACT_FACTS:
            contract[column].loc[judged.index] = judged[column]
        in_hours.loc[judged.index] = in_hours.loc[judged.index] & judged["in_hours"]
    f.update(contract)
    role_hours_ok, role_without_hours = _role_hours(timing, pairs, tables)
    # permitted by a role with hours of its own (a night batch): those hours; by an ordinary role: business
    # hours, overtime or a counter opening; not permitted at all: business hours (the other rules apply)
    f["in_hours"] = np.where(permitted, (role_without_hours & in_hours) | role_hours_ok, in_hours)

    # 5. authentication -----------------------------------------------------------------------------------------
    session = _sessions(events, user, terminal, ts, context.sessions, policy.authentication.session_hours)
    f["session_login"] = session["login_ts"]
    f["session_factors"] = session["factors"]
    segment = f["terminal_segment"].fillna(system_segment)
    f["required_segment"] = segment
    ok = pd.Series(True, index=index)
    for name, rule in policy.authentication.segments.items():
        mine = segment == name
        ok[mine] = _factor_ok(f["session_factors"][mine], rule)
    for kind, rule in policy.authentication.account_kinds.items():
        mine = f["account_kind"] == kind
        ok[mine] = _factor_ok(f["session_factors"][mine], rule)
    f["factors_ok"] = ok

    # 6. outputs --------------------------------------------------------------------------------------------------
    count = pd.to_numeric(events["subject_count"], errors="coerce").fillna(1)
    f["subject_count"] = count
    bulk = action.isin(policy.outputs.bulk_actions) & (count >= policy.outputs.bulk_threshold)
    f["bulk"] = bulk
    f["approval_id"] = _approval(events, f["staff_id"], ts, count, bulk, context.approvals)

    # rules ---------------------------------------------------------------------------------------------------------
    known = f["account_known"]
    day = f["day"]
    f["v_unknown_account"] = (access | is_login) & ~known
    f["v_account_disabled"] = (access | is_login) & known & f["disabled_on"].notna() & (f["disabled_on"] <= day)
    f["v_after_retirement"] = (access | is_login) & f["retired_on"].notna() & (f["retired_on"] <= day)
    f["v_contractor_without_pledge"] = (
        access
        & policy.contractors.require_pledge
        & (f["employment"] == "contractor")
        & (f["pledge_date"].isna() | (f["pledge_date"] > day))
    )
    f["v_no_grant"] = access & known & ~has_grant
    show = action == "show_mynumber"
    f["v_mynumber_display"] = access & known & has_grant & ~permitted & show
    f["v_out_of_scope"] = access & known & has_grant & ~permitted & ~show
    f["v_terminal_not_allowed"] = access & permitted & ~terminal_ok
    f["v_after_transfer"] = access & permitted & terminal_ok & ~authorised
    f["v_unregistered_terminal"] = (
        (access | is_login) & has_terminal & (~known_terminal | (registered_on.notna() & (registered_on > day)))
    )
    f["v_retired_terminal"] = (access | is_login) & retired_terminal_on.notna() & (retired_terminal_on <= day)
    f["v_wrong_segment"] = (
        access & known_terminal & (system_segment == "mynumber") & (f["terminal_segment"] != "mynumber")
    )
    f["v_foreign_terminal"] = (
        access & f["section"].notna() & f["terminal_section"].notna() & (f["section"] != f["terminal_section"])
    )
    f["v_off_hours"] = access & ~f["in_hours"].astype(bool)
    f["v_no_session"] = access & f["session_login"].isna()
    f["v_missing_factors"] = access & f["session_login"].notna() & ~f["factors_ok"]
    f["v_bulk_without_approval"] = access & bulk & f["approval_id"].isna()
    for column in RULE_COLUMNS:
        f[column] = f[column].fillna(False).astype(bool)
    if with_roles:
        held = pairs.groupby("idx")["role"].agg(lambda roles: sorted(set(roles)))
        f["roles"] = held.reindex(index).map(lambda v: v if isinstance(v, list) else [])
    return pd.DataFrame(f, index=index)


def _any(grouped: Any, index: pd.Index) -> pd.Series:
    result = grouped.any()
    return result.reindex(index, fill_value=False).astype(bool) if len(result) else pd.Series(False, index=index)


def section_on_day(f: pd.DataFrame, assignments: pd.DataFrame) -> pd.Series:
    rows = f[["staff_id", "day"]].dropna(subset=["staff_id"]).reset_index(names="idx")
    if rows.empty or assignments.empty:
        return pd.Series(pd.NA, index=f.index, dtype="str")
    joined = rows.merge(assignments[["staff_id", "section_code", "valid_from", "valid_to"]], on="staff_id")
    joined = joined[_valid_on(joined["day"], joined["valid_from"], joined["valid_to"])]
    latest = joined.sort_values("valid_from").drop_duplicates("idx", keep="last").set_index("idx")["section_code"]
    return latest.reindex(f.index).astype("str")


def _grants_on_day(f: pd.DataFrame, user: pd.Series, grants: pd.DataFrame) -> pd.DataFrame:
    rows = pd.DataFrame({"idx": f.index, "user_id": user.to_numpy(), "day": f["day"].to_numpy()})
    # A suspended or revoked grant held until the day it ended: a late event from before then is judged
    # under it. Ended without a known day (a ledger saying only "revoked"), it never counts.
    ended = grants["ended_on"] if "ended_on" in grants else pd.Series(pd.NaT, index=grants.index)
    held = (grants["status"].fillna("active") == "active") | ended.notna()
    valid_to = grants["valid_to"].where(ended.isna() | (grants["valid_to"] < ended), ended)
    active = grants[held].assign(valid_to=valid_to[held])
    joined = rows.merge(active[["user_id", "role", "valid_from", "valid_to"]], on="user_id")
    joined = joined[_valid_on(joined["day"], joined["valid_from"], joined["valid_to"])]
    return joined[["idx", "role"]].reset_index(drop=True)


def _overtime_covers(f: pd.DataFrame, overtime: pd.DataFrame) -> pd.Series:
    rows = f[["staff_id", "day", "seconds"]].dropna(subset=["staff_id"]).reset_index(names="idx")
    if rows.empty or overtime.empty:
        return pd.Series(False, index=f.index)
    slots = overtime.assign(start_s=overtime["start"].map(_seconds), end_s=overtime["end"].map(_seconds))
    joined = rows.merge(slots[["staff_id", "day", "start_s", "end_s"]], on=["staff_id", "day"])
    covered = joined[(joined["seconds"] >= joined["start_s"]) & (joined["seconds"] < joined["end_s"])]["idx"]
    return pd.Series(f.index.isin(covered), index=f.index)


def _counter_open(f: pd.DataFrame, policy: Policy) -> pd.Series:
    result = pd.Series(False, index=f.index)
    for opening in policy.time.counter_openings:
        days = pd.to_datetime(pd.Series(opening.dates))
        mine = (f["section"] == opening.section) & f["day"].isin(days)
        mine &= (f["seconds"] >= _seconds(opening.start)) & (f["seconds"] < _seconds(opening.end))
        result |= mine.fillna(False)
    return result


def weekdays_text(weekdays: str, language: str = "ja") -> str:
    """A contract's working days for people: ``12345`` → 月〜金 / Mon–Fri, ``135`` → 月・水・金 / Mon, Wed, Fri."""
    names = WEEKDAY_JA if language == "ja" else WEEKDAY_EN
    days = sorted({d for d in weekdays if d in names})
    if not days:
        return "なし" if language == "ja" else "none"
    if len(days) >= 3 and int(days[-1]) - int(days[0]) == len(days) - 1:
        return f"{names[days[0]]}{'〜' if language == 'ja' else '–'}{names[days[-1]]}"
    return ("・" if language == "ja" else ", ").join(names[d] for d in days)


def _contract_on_day(f: pd.DataFrame, contracts: pd.DataFrame) -> pd.DataFrame:
    """The contract in force on each row's day (``staff_id``, ``day``), by row index; a row with none is
    absent. Two overlapping contracts (a renewal signed before the old one ended): the later start."""
    rows = f[["staff_id", "day"]].dropna(subset=["staff_id"]).reset_index(names="idx")
    if rows.empty or contracts.empty:
        return contracts.iloc[:0].assign(idx=pd.Series(dtype="int64")).set_index("idx")
    joined = rows.merge(contracts, on="staff_id")
    joined = joined[_valid_on(joined["day"], joined["valid_from"], joined["valid_to"])]
    latest = joined.sort_values(["valid_from", "contract_id"]).drop_duplicates("idx", keep="last")
    return latest.set_index("idx")


def _contract_terms(contracts: pd.DataFrame) -> pd.DataFrame:
    """Per contract (a few dozen, not per event): whether it sets a window, the window in seconds and as
    text, the weekdays as a bit mask (bit 1 = Monday … bit 7 = Sunday) and as digits, and both as text."""
    rows = []
    for start, end, weekdays in zip(
        contracts["window_start"], contracts["window_end"], contracts["weekdays"].fillna(""), strict=True
    ):
        window = start is not None and end is not None and not pd.isna(start) and not pd.isna(end)
        days = sorted({d for d in str(weekdays) if d in WEEKDAY_JA})
        lo, hi = (_seconds(start), _seconds(end)) if window else (-1, -1)
        hours = f"{_clock(lo)}–{_clock(hi)}" if window else None
        shown = " ".join(x for x in (hours, "".join(WEEKDAY_JA[d] for d in days)) if x)
        rows.append((window, lo, hi, sum(1 << int(d) for d in days), hours, "".join(days), shown))
    columns = ["has_window", "start_s", "end_s", "mask", "hours", "days", "shown"]
    return pd.DataFrame(rows, columns=columns, index=contracts.index)


def _contractor_hours(f: pd.DataFrame, contracts: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """For contractors' events (``f``: their rows of the timing frame): whether the contractor rules allow
    the time (``in_hours``), the contract in force (``contract_number``, ``contract_window`` as text) and
    whether that contract's window or weekdays exclude it (``contract_outside``).

    A contract with a window: within it on one of its weekdays (the contract is more specific than the
    policy's ``contractors.hours``, which it replaces). A contract without a window: on one of its
    weekdays, then the policy's hours for contractors. No contract in force that day: the policy's hours."""
    seconds, weekday = f["seconds"], f["weekday"]
    policy_ok = pd.Series(True, index=f.index)
    if policy.contractors.hours is not None:
        start, end = _seconds(policy.contractors.hours.start), _seconds(policy.contractors.hours.end)
        policy_ok = (seconds >= start) & (seconds < end)
    out = pd.DataFrame({column: pd.Series(pd.NA, index=f.index, dtype="str") for column in CONTRACT_FACTS[:-1]})
    out["contract_outside"] = False
    out["in_hours"] = policy_ok
    found = _contract_on_day(f, contracts)
    if found.empty:
        return out
    terms = _contract_terms(found.drop_duplicates("contract_id").set_index("contract_id"))
    cid = found["contract_id"]
    window = _lookup(cid, terms["has_window"]).astype(bool).to_numpy()
    lo = _lookup(cid, terms["start_s"]).astype("int64").to_numpy()
    hi = _lookup(cid, terms["end_s"]).astype("int64").to_numpy()
    secs = seconds.reindex(found.index).to_numpy()
    # a window may pass midnight (22:00–06:00), like a role's hours
    in_window = np.where(lo < hi, (secs >= lo) & (secs < hi), (secs >= lo) | (secs < hi))
    iso = weekday.reindex(found.index).to_numpy().astype("int64") + 1
    on_day = ((_lookup(cid, terms["mask"]).astype("int64").to_numpy() >> iso) & 1).astype(bool)
    allowed = np.where(window, in_window & on_day, on_day & policy_ok.reindex(found.index).to_numpy(dtype=bool))
    out.loc[found.index, "in_hours"] = allowed
    out.loc[found.index, "contract_number"] = found["contract_number"].astype("str")
    out.loc[found.index, "contract_hours"] = _lookup(cid, terms["hours"]).astype("str")
    out.loc[found.index, "contract_days"] = _lookup(cid, terms["days"]).astype("str")
    out.loc[found.index, "contract_window"] = _lookup(cid, terms["shown"]).astype("str")
    out.loc[found.index, "contract_outside"] = ~(on_day & np.where(window, in_window, True))
    return out


def _role_hours(f: pd.DataFrame, pairs: pd.DataFrame, tables: Tables) -> tuple[pd.Series, pd.Series]:
    """(inside the hours of a permitting role that has its own, permitted by a role without own hours).

    Permitting, not fully authorising: a night-batch account used from the wrong terminal at 01:00 is a
    terminal problem, not also an hours problem."""
    authorising = pairs[pairs["perm"]]
    has_hours = authorising["role"].isin([r for r, hours in tables.role_hours.items() if hours]).to_numpy(dtype=bool)
    with_hours = authorising[has_hours]
    without = pd.Series(f.index.isin(authorising.loc[~authorising.index.isin(with_hours.index), "idx"]), index=f.index)
    inside = pd.Series(False, index=f.index)
    for role in with_hours["role"].unique():
        idx = with_hours.loc[with_hours["role"] == role, "idx"]
        part = f.loc[idx]
        ok = pd.Series(False, index=part.index)
        for window in tables.role_hours[role]:
            ok |= _in_window(part["seconds"], part["day_open"], part["weekday"], window)
        inside.loc[ok[ok].index] = True
    return inside, without


def _sessions(
    events: pd.DataFrame, user: pd.Series, terminal: pd.Series, ts: pd.Series, auth: pd.DataFrame, session_hours: float
) -> pd.DataFrame:
    """The login covering each event: the same session id if the logs share one, otherwise the latest
    login of the account on the terminal within ``session_hours`` and not logged out since."""
    out = pd.DataFrame(
        {
            "login_ts": pd.Series(pd.NaT, index=events.index, dtype="datetime64[us, UTC]"),
            "factors": pd.Series(pd.NA, index=events.index, dtype="str"),
        }
    )
    if auth.empty:
        return out
    logins = auth[(auth["action"] == "login") & (auth["result"] == "success")]
    logouts = auth[auth["action"] == "logout"]
    sid = events["session_id"].astype("str")
    if logins["session_id"].notna().any():
        by_id = (
            logins.dropna(subset=["session_id"])
            .sort_values("ts")
            .drop_duplicates(["user_id", "session_id"], keep="last")
        )
        key = by_id["user_id"] + "\x1f" + by_id["session_id"]
        event_key = user + "\x1f" + sid
        login_ts = _lookup(event_key, pd.Series(by_id["ts"].to_numpy(), index=key))
        factors = _lookup(event_key, pd.Series(by_id["auth_factors"].to_numpy(), index=key))
        hit = login_ts.notna() & (login_ts <= ts)
        out.loc[hit, "login_ts"] = login_ts[hit]
        out.loc[hit, "factors"] = factors[hit]
    todo = out["login_ts"].isna() & terminal.notna()
    if not todo.any():
        return out
    left = pd.DataFrame({"ts": ts[todo], "key": (user + "\x1f" + terminal)[todo], "idx": events.index[todo]})
    left = left.sort_values("ts")
    right = logins.assign(key=logins["user_id"] + "\x1f" + logins["terminal_id"].astype("str"))
    right = (
        right.dropna(subset=["key"]).sort_values("ts")[["ts", "key", "auth_factors"]].rename(columns={"ts": "login_ts"})
    )
    found = pd.merge_asof(
        left,
        right,
        left_on="ts",
        right_on="login_ts",
        by="key",
        direction="backward",
        tolerance=pd.Timedelta(hours=session_hours),
    )
    outs = logouts.assign(key=logouts["user_id"] + "\x1f" + logouts["terminal_id"].astype("str"))
    outs = outs.dropna(subset=["key"]).sort_values("ts")[["ts", "key"]].rename(columns={"ts": "logout_ts"})
    found = pd.merge_asof(
        found.sort_values("ts"), outs, left_on="ts", right_on="logout_ts", by="key", direction="backward"
    )
    valid = found["login_ts"].notna() & (found["logout_ts"].isna() | (found["logout_ts"] < found["login_ts"]))
    found = found[valid].set_index("idx")
    out.loc[found.index, "login_ts"] = found["login_ts"]
    out.loc[found.index, "factors"] = found["auth_factors"]
    return out


def _approval(
    events: pd.DataFrame, staff_id: pd.Series, ts: pd.Series, count: pd.Series, bulk: pd.Series, approvals: pd.DataFrame
) -> pd.Series:
    result = pd.Series(pd.NA, index=events.index, dtype="str")
    if not bulk.any() or approvals.empty:
        return result
    rows = pd.DataFrame(
        {
            "idx": events.index[bulk],
            "ts": ts[bulk].to_numpy(),
            "count": count[bulk].to_numpy(),
            "action": events["action"][bulk].to_numpy(),
            "jimu": events["jimu"][bulk].to_numpy(),
            "user_id": events["user_id"][bulk].to_numpy(),
            "staff_id": staff_id[bulk].to_numpy(),
        }
    )
    columns = ["approval_id", "action", "jimu", "max_count", "valid_from", "valid_to"]
    by_user = rows.merge(
        approvals[[*columns, "user_id"]].dropna(subset=["user_id"]), on=["user_id", "action"], suffixes=("", "_a")
    )
    by_staff = rows.merge(
        approvals[[*columns, "staff_id"]].dropna(subset=["staff_id"]), on=["staff_id", "action"], suffixes=("", "_a")
    )
    joined = pd.concat([by_user, by_staff], ignore_index=True)
    ok = (joined["valid_from"] <= joined["ts"]) & (joined["ts"] < joined["valid_to"])
    ok &= joined["jimu_a"].isna() | (joined["jimu_a"] == joined["jimu"])
    ok &= joined["max_count"].isna() | (joined["count"] <= joined["max_count"])
    first = joined[ok].drop_duplicates("idx").set_index("idx")["approval_id"]
    result.loc[first.index] = first
    return result


# -- violations ------------------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "—"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return str(value)


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def evidence_for(event: pd.Series, facts: pd.Series, roles: list[str], policy: Policy, rule: str) -> dict[str, Any]:
    """The evidence of one violation: what a person needs to see why, and nothing about the resident."""
    day_kind = (
        "開庁日" if facts["day_open"] else (_text(facts["day_name"]) if _text(facts["day_name"]) != "—" else "閉庁日")
    )
    evidence: dict[str, Any] = {
        "user_id": event["user_id"],
        "day": _text(facts["day"]),
        "time": _clock(int(facts["seconds"])),
        "system": _text(event["system"]),
        "jimu": _text(event["jimu"]),
        "action": event["action"],
        "terminal_id": _text(event["terminal_id"]),
        "roles": ", ".join(roles) or "なし",
    }
    if rule == "off_hours":
        evidence.update(
            day_kind=day_kind,
            day_kind_en=_DAY_KIND_EN.get(day_kind, day_kind),
            hours=f"{_clock(int(facts['hours_start']))}–{_clock(int(facts['hours_end']))}",
        )
        if bool(facts.get("contract_outside", False)):  # the contract's window or days excluded it
            days = "".join(WEEKDAY_JA.get(d, "") for d in _text(facts["contract_days"]))
            window = facts["contract_hours"] if isinstance(facts["contract_hours"], str) else evidence["hours"]
            evidence.update(
                hours=f"{window} {days}".strip(),
                contract=_text(facts["contract_number"]),
                contract_window=_text(facts["contract_window"]),
            )
    elif rule in ("wrong_segment", "missing_factors"):
        segment = _text(facts["required_segment"])
        evidence.update(segment=segment, factors=_text(facts["session_factors"]))
        rule_for = policy.authentication.account_kinds.get(
            _text(facts["account_kind"])
        ) or policy.authentication.segments.get(segment)
        if rule_for is not None:
            evidence["required"] = f"{rule_for.min_factors}要素" + (
                f"（{'/'.join(rule_for.one_of)} を含む）" if rule_for.one_of else ""
            )
    elif rule == "foreign_terminal":
        evidence.update(section=_text(facts["section"]), terminal_section=_text(facts["terminal_section"]))
    elif rule == "retired_terminal":
        evidence["retired_on"] = _text(facts["terminal_retired_on"])
    elif rule == "after_retirement":
        evidence["retired_on"] = _text(facts["retired_on"])
    elif rule == "account_disabled":
        evidence["disabled_on"] = _text(facts["disabled_on"])
    elif rule == "bulk_without_approval":
        evidence.update(count=int(facts["subject_count"]), threshold=policy.outputs.bulk_threshold)
    elif rule == "after_transfer":
        evidence["section"] = _text(facts["section"])
        stale = [
            r
            for r in roles
            if policy.roles.get(r)
            and policy.roles[r].sections
            and _text(facts["section"]) not in policy.roles[r].sections
        ]
        if stale:
            evidence.update(role=stale[0], role_sections="・".join(policy.roles[stale[0]].sections))
    elif rule == "terminal_not_allowed":
        limited = [r for r in roles if policy.roles.get(r) and policy.roles[r].terminals]
        if limited:
            evidence.update(role=limited[0], allowed="・".join(policy.roles[limited[0]].terminals))
    return evidence


def violations(events: pd.DataFrame, facts: pd.DataFrame, policy: Policy, context: Context) -> pd.DataFrame:
    """One row per (event, broken rule): ``ts``, ``event_id``, ``user_id``, ``rule``, ``evidence`` (JSON)."""
    flags = facts[RULE_COLUMNS]
    hit = flags.any(axis=1)
    if not hit.any():
        return pd.DataFrame(columns=["ts", "event_id", "user_id", "rule", "evidence"])
    roles = roles_held(facts[hit], events.loc[hit, "user_id"], context.grants)
    rows = []
    flag_values = flags.to_numpy(dtype=bool)
    for position in (int(p) for p in np.flatnonzero(hit.to_numpy())):
        idx = events.index[position]
        event, fact = events.iloc[position], facts.iloc[position]
        for number, column in enumerate(RULE_COLUMNS):
            if flag_values[position, number]:
                rule = column[2:]
                evidence = evidence_for(event, fact, roles.get(idx, []), policy, rule)
                rows.append(
                    {
                        "ts": event["ts"],
                        "event_id": event["event_id"],
                        "user_id": event["user_id"],
                        "rule": rule,
                        "evidence": json.dumps(evidence, ensure_ascii=False, default=str),
                    }
                )
    return pd.DataFrame(rows)


def roles_held(facts: pd.DataFrame, users: pd.Series, grants: pd.DataFrame) -> dict[Any, list[str]]:
    """The roles each event's account held on its day (for evidence and the 「なぜ」 view)."""
    pairs = _grants_on_day(facts, users.astype("str"), grants)
    return {idx: sorted(set(group["role"])) for idx, group in pairs.groupby("idx")}
