"""Several weeks of work in the demo municipality, as events in local time (JST, naive).

Built with numpy over whole arrays (a benchmark city has millions of events): user-days → work
items (one resident each) → events (search, views, updates, prints …). Every legitimate lookup is
explained by a case, a reception, a batch job or an administrator's duty, except a small share of
quick inquiries (電話照会) that real offices also make without opening a case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from auditd.demo.world import SECTION_BY_CODE, World

EVENT_FIELDS = [
    "ts",
    "source",
    "user_id",
    "terminal_id",
    "session_id",
    "jimu",
    "action",
    "screen",
    "subject",
    "subject_count",
    "result",
    "auth_factors",
    "detail",
]
SCREENS = {
    "search": "K0001", "view": "K0101", "update": "K0201", "print": "K0301", "export": "K0401",
    "show_mynumber": "K0501", "admin": "K9001", "audit_config": "K9901",
}  # fmt: skip
FACTORS = {"tax": "password,vein", "welfare": "password,ic_card"}
UNEXPLAINED_SHARE = 0.004  # quick inquiries without a case: legitimate, and the detectors' hardest noise


@dataclass
class Activity:
    events: list[pd.DataFrame] = field(default_factory=list)
    sessions: list[pd.DataFrame] = field(default_factory=list)  # user, terminal, start, end, factors, source
    extra_cases: list[dict[str, object]] = field(default_factory=list)
    approvals: list[dict[str, object]] = field(default_factory=list)
    lookalikes: list[dict[str, object]] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        frame = pd.concat([e[EVENT_FIELDS] for e in self.events if len(e)], ignore_index=True)
        return frame.sort_values("ts", kind="stable").reset_index(drop=True)


def _seconds(day: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Local datetime64[s] from day (datetime64[D]) and seconds after midnight."""
    stamps: np.ndarray = day.astype("datetime64[s]") + seconds.astype("timedelta64[s]")
    return stamps


def business_activity(world: World, activity: Activity) -> None:
    rng, config = world.rng, world.config
    days = np.array(world.open_days(), dtype="datetime64[D]")
    workers = world.staff[world.staff["section_code"].map(lambda c: SECTION_BY_CODE[c].system != "")].reset_index(
        drop=True
    )
    overtime = {
        (str(staff_id), np.datetime64(str(day), "D"))
        for staff_id, day in zip(world.overtime["staff_id"].tolist(), world.overtime["day"].tolist(), strict=True)
    }
    case_pool = dict(list(world.cases.groupby("section_code")))

    # user-days: everyone works every open day except ~5 % leave
    ud_user = np.repeat(np.arange(len(workers)), len(days))
    ud_day = np.tile(days, len(workers))
    present = rng.random(len(ud_user)) >= 0.05
    ud_user, ud_day = ud_user[present], ud_day[present]
    section = workers["section_code"].to_numpy()[ud_user]
    rate = np.array([SECTION_BY_CODE[c].items_per_day for c in section]) * config.activity
    counter_duty = _counter_duty(rng, workers, ud_user, ud_day)
    terminal = np.where(counter_duty != "", counter_duty, workers["terminal_id"].to_numpy()[ud_user])
    has_overtime = np.array([(workers.at[u, "staff_id"], d) in overtime for u, d in zip(ud_user, ud_day, strict=True)])

    items = rng.poisson(rate)
    it_ud = np.repeat(np.arange(len(ud_user)), items)
    n_items = len(it_ud)
    # start times: office hours with a lunch dip; overtime users also work the evening
    start = rng.uniform(8.6 * 3600, 17.0 * 3600, n_items)
    # most of the lunch hour is spent away from the desk: that work happens in the afternoon instead
    lunch = (start > 12 * 3600) & (start < 13 * 3600) & (rng.random(n_items) < 0.7)
    start[lunch] = rng.uniform(13.0 * 3600, 17.0 * 3600, lunch.sum())
    evening = has_overtime[it_ud] & (rng.random(n_items) < 0.25)
    start[evening] = rng.uniform(17.4 * 3600, 19.7 * 3600, evening.sum())

    # the resident of each item: from the section's cases (delinquency: the assignee's own cases)
    it_section = section[it_ud]
    subject = np.empty(n_items, dtype=object)
    is_reception = np.zeros(n_items, dtype=bool)
    for code in np.unique(it_section):
        mask = it_section == code
        spec = SECTION_BY_CODE[code]
        if spec.case_kind == "reception":
            subject[mask] = world.residents["atena"].to_numpy()[rng.integers(0, len(world.residents), mask.sum())]
            is_reception[mask] = True
            continue
        pool = case_pool[code]
        if spec.case_kind in ("delinquency", "casework"):
            own = {sid: g["subject"].to_numpy() for sid, g in pool.groupby("assignee")}
            staff_of_item = workers["staff_id"].to_numpy()[ud_user[it_ud[mask]]]
            everyone = pool["subject"].to_numpy()
            picks = [
                (
                    own[s][rng.integers(0, len(own[s]))]
                    if s in own and rng.random() < 0.9
                    else everyone[rng.integers(0, len(everyone))]
                )
                for s in staff_of_item
            ]
            subject[mask] = picks
        else:
            subject[mask] = pool["subject"].to_numpy()[rng.integers(0, len(pool), mask.sum())]
    # a few quick inquiries about someone without a case
    unexplained = (~is_reception) & (rng.random(n_items) < UNEXPLAINED_SHARE)
    subject[unexplained] = world.residents["atena"].to_numpy()[rng.integers(0, len(world.residents), unexplained.sum())]

    # events per item: search, 1–3 views, then sometimes update / print / show the number
    views = rng.integers(1, 4, n_items)
    updates = (rng.random(n_items) < 0.3).astype(int)
    prints = (rng.random(n_items) < 0.08).astype(int)
    shows = np.array([SECTION_BY_CODE[c].shows_mynumber for c in it_section]) & (rng.random(n_items) < 0.06)
    per_item = 1 + views + updates + prints + shows.astype(int)
    ev_item = np.repeat(np.arange(n_items), per_item)
    offset = np.arange(len(ev_item)) - np.repeat(np.cumsum(per_item) - per_item, per_item)
    action = np.where(offset == 0, "search", "view").astype(object)
    k_upd = 1 + views[ev_item]
    action[(offset >= k_upd) & (offset < k_upd + updates[ev_item])] = "update"
    k_prn = k_upd + updates[ev_item]
    action[(offset >= k_prn) & (offset < k_prn + prints[ev_item])] = "print"
    last_show = shows[ev_item] & (offset == per_item[ev_item] - 1)
    action[last_show] = "show_mynumber"
    gaps = rng.exponential(35.0, len(ev_item)) + 3
    gaps[offset == 0] = 0
    elapsed = pd.Series(gaps).groupby(ev_item).cumsum().to_numpy()
    seconds = (start[ev_item] + elapsed).astype(np.int64)

    ud_of_event = it_ud[ev_item]
    users = workers["user_id"].to_numpy()[ud_user][ud_of_event]
    codes = section[ud_of_event]
    system = np.array([SECTION_BY_CODE[c].system for c in codes], dtype=object)
    jimu = np.array([SECTION_BY_CODE[c].jimu for c in codes], dtype=object)
    day = ud_day[ud_of_event]
    ts = _seconds(day, seconds)
    session = np.char.add(
        np.char.add("S", np.datetime_as_string(day, unit="D").astype(str)),
        np.char.add("-", users.astype(str)),
    )
    detail = np.full(len(ev_item), None, dtype=object)
    searches = action == "search"
    detail[searches] = "宛名番号指定"
    events = pd.DataFrame(
        {
            "ts": ts,
            "source": system,
            "user_id": users,
            "terminal_id": terminal[ud_of_event],
            "session_id": session,
            "jimu": jimu,
            "action": action,
            "screen": [SCREENS[a] for a in action],
            "subject": subject[ev_item],
            "subject_count": 1,
            "result": "success",
            "auth_factors": None,
            "detail": detail,
        }
    )
    _plant_mynumber_searches(rng, events)
    activity.events.append(events)

    # counter receptions explain the counter lookups: opened a little before, closed a little after
    rec_items = np.flatnonzero(is_reception)
    if len(rec_items):
        first = pd.Series(seconds).groupby(ev_item).min()
        last = pd.Series(seconds).groupby(ev_item).max()
        for i in rec_items:
            d = ud_day[it_ud[i]]
            opened = _to_dt(d, int(first[i]) - 120)
            closed = _to_dt(d, int(last[i]) + 300)
            activity.extra_cases.append(
                {
                    "case_id": f"2101-REC-{len(activity.extra_cases) + 1:07d}",
                    "jimu": "国民健康保険",
                    "kind": "reception",
                    "subject": subject[i],
                    "section_code": "2101",
                    "assignee": workers.at[ud_user[it_ud[i]], "staff_id"],
                    "opened_at": opened,
                    "closed_at": closed,
                }
            )

    # sessions: one per user-day on the day's terminal, from before the first to after the last event
    frame = pd.DataFrame({"ud": ud_of_event, "ts": ts})
    bounds = frame.groupby("ud")["ts"].agg(["min", "max"])
    ud_idx = bounds.index.to_numpy()
    login = bounds["min"].to_numpy() - (rng.integers(60, 900, len(ud_idx))).astype("timedelta64[s]")
    logout = bounds["max"].to_numpy() + (rng.integers(60, 1200, len(ud_idx))).astype("timedelta64[s]")
    sess_users = workers["user_id"].to_numpy()[ud_user[ud_idx]]
    sess_system = np.array([SECTION_BY_CODE[c].system for c in section[ud_idx]], dtype=object)
    activity.sessions.append(
        pd.DataFrame(
            {
                "user_id": sess_users,
                "terminal_id": terminal[ud_idx],
                "start": login,
                "end": logout,
                "factors": [FACTORS[s] for s in sess_system],
                "source": "auth",
                "session_id": np.char.add(
                    np.char.add("S", np.datetime_as_string(ud_day[ud_idx], unit="D").astype(str)),
                    np.char.add("-", sess_users.astype(str)),
                ),
            }
        )
    )
    world.notes["user_days"] = len(ud_idx)


def _counter_duty(
    rng: np.random.Generator, workers: pd.DataFrame, ud_user: np.ndarray, ud_day: np.ndarray
) -> np.ndarray:
    """Up to two 国保年金課 staff a day sit at the two counter terminals (one each)."""
    duty = np.full(len(ud_user), "", dtype=object)
    nhi = workers["section_code"].to_numpy()[ud_user] == "2101"
    for day in np.unique(ud_day):
        candidates = np.flatnonzero(nhi & (ud_day == day))
        if len(candidates) < 4:
            continue
        chosen = rng.choice(candidates, size=2, replace=False)
        duty[chosen[0]], duty[chosen[1]] = "C2101-01", "C2101-02"
    return duty


def _plant_mynumber_searches(rng: np.random.Generator, events: pd.DataFrame) -> None:
    """Some clerks type a 個人番号 into the search box: the collector must mask it."""
    from auditd.privacy.mynumber import check_digit

    searches = np.flatnonzero(events["action"].to_numpy() == "search")
    if not len(searches):
        return
    chosen = rng.choice(searches, size=max(1, len(searches) // 500), replace=False)
    for i in chosen:
        first = "".join(str(d) for d in rng.integers(0, 10, 11))
        events.at[i, "detail"] = f"個人番号={first}{check_digit(first)}"


def _to_dt(day: np.datetime64, seconds: int) -> datetime:
    base = datetime.fromisoformat(str(np.datetime_as_string(day, unit="D")))
    return (base + timedelta(seconds=seconds)).replace(tzinfo=_JST)


def batch_and_admin(world: World, activity: Activity) -> None:
    """Legitimate look-alikes: nightly batch printing under approvals, bulk printing by a clerk under an
    approval, administrators maintaining accounts, and the linkage inquiries behind open cases."""
    rng = world.rng
    days = world.open_days()
    rows = []
    # nightly batch: notice printing (納税通知書) on three nights, each under an output approval
    for k, day in enumerate(days[2:5]):
        when = datetime.combine(day, datetime.min.time()) + timedelta(hours=1, minutes=int(rng.integers(0, 30)))
        count = int(rng.integers(3000, 8000))
        approval_id = f"OA-BATCH-{k + 1:03d}"
        activity.approvals.append(
            {
                "approval_id": approval_id,
                "staff_id": None,
                "jimu": "収納・滞納",
                "action": "print",
                "max_count": count + 500,
                "valid_from": when - timedelta(hours=12),
                "valid_to": when + timedelta(hours=12),
                "approver": "1103-head",
                "purpose": "納税通知書一括印刷（夜間バッチ）",
                "user_id": "batch_tax",
            }
        )
        rows.append(
            {
                "ts": when,
                "source": "tax",
                "user_id": "batch_tax",
                "terminal_id": "SV-BATCH-01",
                "session_id": f"B{day:%Y%m%d}",
                "jimu": "収納・滞納",
                "action": "print",
                "screen": "B0301",
                "subject": None,
                "subject_count": count,
                "result": "success",
                "auth_factors": None,
                "detail": "納税通知書一括印刷",
            }
        )
        activity.sessions.append(
            pd.DataFrame(
                [
                    {
                        "user_id": "batch_tax",
                        "terminal_id": "SV-BATCH-01",
                        "start": np.datetime64(when - timedelta(minutes=2)),
                        "end": np.datetime64(when + timedelta(minutes=40)),
                        "factors": "certificate",
                        "source": "auth",
                        "session_id": f"B{day:%Y%m%d}",
                    }
                ]
            )
        )
    activity.lookalikes.append(
        {"kind": "night_batch_with_approval", "user": "batch_tax", "days": [str(d) for d in days[2:5]]}
    )

    # a clerk of 資産税課 prints 1,200 notices under an approval
    clerk = world.staff[world.staff["section_code"] == "1102"].iloc[0]
    day = days[min(6, len(days) - 1)]
    when = datetime.combine(day, datetime.min.time()) + timedelta(hours=15, minutes=5)
    activity.approvals.append(
        {
            "approval_id": "OA-1102-001",
            "staff_id": clerk["staff_id"],
            "jimu": "固定資産税",
            "action": "print",
            "max_count": 1500,
            "valid_from": when - timedelta(hours=6),
            "valid_to": when + timedelta(hours=6),
            "approver": "1102-head",
            "purpose": "課税明細書の再印刷",
            "user_id": clerk["user_id"],
        }
    )
    rows.append(
        {
            "ts": when,
            "source": "tax",
            "user_id": clerk["user_id"],
            "terminal_id": clerk["terminal_id"],
            "session_id": f"S{day:%Y-%m-%d}-{clerk['user_id']}",
            "jimu": "固定資産税",
            "action": "print",
            "screen": "K0302",
            "subject": None,
            "subject_count": 1200,
            "result": "success",
            "auth_factors": None,
            "detail": "一括印刷",
        }
    )
    activity.lookalikes.append({"kind": "bulk_print_with_approval", "user": clerk["user_id"], "day": str(day)})

    # administrators: account maintenance with their privileged IDs, in office hours, no resident data
    admins = world.accounts[world.accounts["kind"] == "admin"]
    for day in days:
        for admin in admins.itertuples():
            if rng.random() < 0.6:
                for _ in range(int(rng.integers(1, 5))):
                    when = datetime.combine(day, datetime.min.time()) + timedelta(
                        seconds=int(rng.uniform(9.2 * 3600, 16.8 * 3600))
                    )
                    system = "tax" if rng.random() < 0.5 else "welfare"
                    rows.append(
                        {
                            "ts": when,
                            "source": system,
                            "user_id": admin.user_id,
                            "terminal_id": "T9101-01",
                            "session_id": f"A{day:%Y%m%d}-{admin.user_id}",
                            "jimu": "システム管理",
                            "action": "admin",
                            "screen": SCREENS["admin"],
                            "subject": None,
                            "subject_count": 0,
                            "result": "success",
                            "auth_factors": None,
                            "detail": "利用者ID保守",
                        }
                    )
                activity.sessions.append(
                    pd.DataFrame(
                        [
                            {
                                "user_id": admin.user_id,
                                "terminal_id": "T9101-01",
                                "start": np.datetime64(datetime.combine(day, datetime.min.time()) + timedelta(hours=9)),
                                "end": np.datetime64(datetime.combine(day, datetime.min.time()) + timedelta(hours=17)),
                                "factors": "password,vein",
                                "source": "auth",
                                "session_id": f"A{day:%Y%m%d}-{admin.user_id}",
                            }
                        ]
                    )
                )
    activity.lookalikes.append({"kind": "admin_account_maintenance", "users": admins["user_id"].tolist()})

    # 中間サーバー inquiries by linkage-entitled staff about residents of their open cases, made while
    # they are logged in (inside that day's session, on its terminal)
    linkers = set(world.grants.loc[world.grants["role"] == "linkage", "user_id"])
    sessions = activity.sessions[0]
    sessions = sessions[sessions["user_id"].isin(linkers)]
    section_of = dict(zip(world.staff["user_id"], world.staff["section_code"], strict=True))
    pools = dict(list(world.cases.groupby("section_code")))
    for user, terminal, start, end in zip(
        sessions["user_id"], sessions["terminal_id"], sessions["start"], sessions["end"], strict=True
    ):
        pool = pools.get(section_of.get(user, ""))
        if pool is None or pool.empty or rng.random() >= 0.5:
            continue
        case = pool.iloc[int(rng.integers(0, len(pool)))]
        span = (pd.Timestamp(end) - pd.Timestamp(start)).total_seconds()
        offset = pd.Timedelta(seconds=float(rng.uniform(0.1, 0.9)) * span).floor("us")  # datetimes hold µs
        when = (pd.Timestamp(start) + offset).to_pydatetime()
        rows.append(
            {
                "ts": when,
                "source": "linkage",
                "user_id": user,
                "terminal_id": terminal,
                "session_id": None,
                "jimu": case["jimu"],
                "action": "link_inquiry",
                "screen": "INQ",
                "subject": case["subject"],
                "subject_count": 1,
                "result": "success",
                "auth_factors": None,
                "detail": "地方税関係情報",
            }
        )
    activity.events.append(pd.DataFrame(rows))


def login_events(activity: Activity, rng: np.random.Generator) -> None:
    """The authentication server's view of every session: a login with its factors and a logout, and
    now and then a mistyped password first."""
    sessions = pd.concat(activity.sessions, ignore_index=True)
    n = len(sessions)
    login = pd.DataFrame(
        {
            "ts": sessions["start"].to_numpy(),
            "source": "auth",
            "user_id": sessions["user_id"],
            "terminal_id": sessions["terminal_id"],
            "session_id": sessions["session_id"],
            "jimu": None,
            "action": "login",
            "screen": None,
            "subject": None,
            "subject_count": 0,
            "result": "success",
            "auth_factors": sessions["factors"],
            "detail": None,
        }
    )
    logout = login.copy()
    logout["ts"] = sessions["end"].to_numpy()
    logout["action"] = "logout"
    fails = login[rng.random(n) < 0.02].copy()
    fails["ts"] = fails["ts"] - np.timedelta64(40, "s")
    fails["action"] = "login_fail"
    fails["result"] = "failure"
    fails["session_id"] = None
    activity.events.extend([login, logout, fails])


_JST = pd.Timestamp("2026-01-01", tz="Asia/Tokyo").tzinfo
