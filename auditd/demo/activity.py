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


def _iso(when: datetime | pd.Timestamp) -> str:
    return pd.Timestamp(when).strftime("%Y-%m-%dT%H:%M:%S") + "+09:00"


def _lookalike(
    kind: str,
    users: list[str],
    subjects: list[str],
    start: datetime | pd.Timestamp,
    end: datetime | pd.Timestamp,
    must_not: list[str],
    note: str = "",
    **extra: object,
) -> dict[str, object]:
    """A planted legitimate pattern: the detectors listed in ``must_not`` must not flag it."""
    return {
        "kind": kind,
        "users": users,
        "subjects": subjects,
        "start": _iso(start),
        "end": _iso(end),
        "must_not": must_not,
        "note": note,
        **extra,
    }


def _event_row(
    when: datetime,
    system: str,
    user: str,
    terminal: str,
    session: str,
    jimu: str,
    action: str,
    subject: str | None,
    *,
    count: int = 1,
    detail: str | None = None,
    screen: str | None = None,
) -> dict[str, object]:
    return {
        "ts": when,
        "source": system,
        "user_id": user,
        "terminal_id": terminal,
        "session_id": session,
        "jimu": jimu,
        "action": action,
        "screen": screen or SCREENS[action],
        "subject": subject,
        "subject_count": count,
        "result": "success",
        "auth_factors": None,
        "detail": detail,
    }


def _session_row(user: str, terminal: str, start: datetime, end: datetime, factors: str, session: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "user_id": user,
                "terminal_id": terminal,
                "start": np.datetime64(start),
                "end": np.datetime64(end),
                "factors": factors,
                "source": "auth",
                "session_id": session,
            }
        ]
    )


def _at(day: object, hours: float) -> datetime:
    return datetime.combine(day, datetime.min.time()) + timedelta(seconds=int(hours * 3600))  # type: ignore[arg-type]


def batch_and_admin(world: World, activity: Activity) -> None:
    """Legitimate look-alikes, each recorded in ``activity.lookalikes`` with the detectors that must not
    flag it: nightly batch printing under approvals, bulk printing by clerks under approvals, approved
    overtime in tax season, repeated lookups inside an open delinquency case by its assignee, counter
    lookups explained by a reception, administrators maintaining accounts; and the linkage inquiries
    behind open cases."""
    rng = world.rng
    days = world.open_days()
    n = max(1, world.config.incidents_per_kind)
    rows: list[dict[str, object]] = []
    taken: set[str] = set()  # a person shows one planted look-alike pattern

    # nightly batch: notice printing (納税通知書) on a few nights, each under an output approval, on the
    # designated batch server
    nights = sorted(rng.choice(len(days), size=min(len(days), n), replace=False).tolist())
    for k, index in enumerate(nights):
        day = days[index]
        when = _at(day, 1 + float(rng.uniform(0, 2.5)))
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
        session = f"B{day:%Y%m%d}"
        rows.append(
            _event_row(
                when, "tax", "batch_tax", "SV-BATCH-01", session, "収納・滞納", "print", None,
                count=count, detail="納税通知書一括印刷", screen="B0301",
            )
        )  # fmt: skip
        activity.sessions.append(
            _session_row(
                "batch_tax", "SV-BATCH-01", when - timedelta(minutes=2), when + timedelta(minutes=40), "certificate",
                session,
            )
        )  # fmt: skip
        activity.lookalikes.append(
            _lookalike(
                "night_batch_with_approval",
                ["batch_tax"],
                [],
                when,
                when,
                ["D01", "D14", "D19"],
                "夜間バッチ（出力承認あり、指定サーバー）",
                user="batch_tax",
                days=[str(day)],
                approval_id=approval_id,
                count=count,
            )
        )

    # clerks of 資産税課 / 納税課 print notices in bulk under an output approval
    printers = world.staff[
        world.staff["section_code"].isin(["1102", "1103"]) & (world.staff["employment"] != "contractor")
    ]
    picks = rng.choice(len(printers), size=min(n, max(1, len(world.staff) // 40), len(printers)), replace=False)
    for k, i in enumerate(picks):
        clerk = printers.iloc[int(i)]
        taken.add(str(clerk["user_id"]))
        day = days[int(rng.integers(0, len(days)))]
        when = _at(day, float(rng.uniform(9.5, 16.5)))
        count = int(rng.integers(800, 3000))
        spec = SECTION_BY_CODE[str(clerk["section_code"])]
        approval_id = f"OA-{clerk['section_code']}-{k + 1:03d}"
        activity.approvals.append(
            {
                "approval_id": approval_id,
                "staff_id": clerk["staff_id"],
                "jimu": spec.jimu,
                "action": "print",
                "max_count": count + 300,
                "valid_from": when - timedelta(hours=6),
                "valid_to": when + timedelta(hours=6),
                "approver": f"{clerk['section_code']}-head",
                "purpose": "課税明細書の再印刷" if spec.code == "1102" else "督促状の一括印刷",
                "user_id": clerk["user_id"],
            }
        )
        rows.append(
            _event_row(
                when, "tax", str(clerk["user_id"]), str(clerk["terminal_id"]),
                f"S{day:%Y-%m-%d}-{clerk['user_id']}", spec.jimu, "print", None,
                count=count, detail="一括印刷", screen="K0302",
            )
        )  # fmt: skip
        activity.sessions.append(
            _session_row(
                str(clerk["user_id"]), str(clerk["terminal_id"]), when - timedelta(minutes=4),
                when + timedelta(minutes=15), FACTORS["tax"], f"S{day:%Y-%m-%d}-{clerk['user_id']}",
            )
        )  # fmt: skip
        activity.lookalikes.append(
            _lookalike(
                "bulk_print_with_approval",
                [str(clerk["user_id"])],
                [],
                when,
                when,
                ["D14"],
                "出力承認の範囲内の一括印刷",
                user=str(clerk["user_id"]),
                day=str(day),
                approval_id=approval_id,
                count=count,
            )
        )

    # the patterns that occupy a person: fewer in a small town, whose staff the incidents also need
    per_person = min(n, max(1, len(world.staff) // 40))
    _approved_overtime(world, activity, rows, taken, per_person)
    _repeated_inside_case(world, activity, rows, taken, per_person)
    _counter_receptions(world, activity, n)

    # administrators: account maintenance with their privileged IDs, in office hours, no resident data
    admins = world.accounts[world.accounts["kind"] == "admin"]
    maintained: dict[str, list[datetime]] = {}
    for day in days:
        for admin in admins.itertuples():
            if rng.random() < 0.6:
                session = f"A{day:%Y%m%d}-{admin.user_id}"
                for _ in range(int(rng.integers(1, 5))):
                    when = _at(day, float(rng.uniform(9.2, 16.8)))
                    system = "tax" if rng.random() < 0.5 else "welfare"
                    rows.append(
                        _event_row(
                            when, system, str(admin.user_id), "T9101-01", session, "システム管理", "admin", None,
                            count=0, detail="利用者ID保守",
                        )
                    )  # fmt: skip
                    maintained.setdefault(str(admin.user_id), []).append(when)
                activity.sessions.append(
                    _session_row(str(admin.user_id), "T9101-01", _at(day, 9), _at(day, 17), "password,vein", session)
                )
    for user, stamps in maintained.items():
        activity.lookalikes.append(
            _lookalike(
                "admin_account_maintenance",
                [user],
                [],
                min(stamps),
                max(stamps),
                ["D15"],
                "特権IDによる利用者ID保守（住民データなし、勤務時間内）",
                events=len(stamps),
            )
        )

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


def _approved_overtime(
    world: World, activity: Activity, rows: list[dict[str, object]], taken: set[str], n: int
) -> None:
    """Tax season: 市民税課 clerks processing returns until nearly 21:00 under a 時間外勤務命令 that day."""
    rng = world.rng
    days = world.open_days()
    clerks = world.staff[(world.staff["section_code"] == "1101") & (world.staff["employment"] != "contractor")]
    clerks = clerks[~clerks["user_id"].isin(taken)]
    cases = world.cases.loc[world.cases["section_code"] == "1101", "subject"].to_numpy()
    if clerks.empty or not len(cases):
        return
    overtime = world.overtime
    for i in rng.choice(len(clerks), size=min(n, len(clerks)), replace=False):
        clerk = clerks.iloc[int(i)]
        user, staff_id, terminal = str(clerk["user_id"]), str(clerk["staff_id"]), str(clerk["terminal_id"])
        taken.add(user)
        day = days[int(rng.integers(0, len(days)))]
        same = (overtime["staff_id"] == staff_id) & (overtime["day"] == day)
        overtime = overtime[~same]
        overtime = pd.concat(
            [
                overtime,
                pd.DataFrame(
                    [
                        {
                            "staff_id": staff_id,
                            "day": day,
                            "start": "17:15",
                            "end": "21:00",
                            "approver": "1101-head",
                            "reason": "住民税当初賦課（申告書処理・繁忙期）",
                        }
                    ]
                ),
            ],
            ignore_index=True,
        )
        first = _at(day, float(rng.uniform(17.5, 17.9)))
        session = f"OT{day:%Y%m%d}-{user}"
        subjects = cases[rng.integers(0, len(cases), int(rng.integers(8, 20)))]
        stamps = np.sort(rng.uniform(0, (20.75 * 3600) - (first - _at(day, 0)).total_seconds(), len(subjects)))
        when = first
        for subject, offset in zip(subjects, stamps, strict=True):
            when = first + timedelta(seconds=int(offset))
            rows.append(_event_row(when, "tax", user, terminal, session, "個人住民税", "search", str(subject)))
            rows.append(
                _event_row(
                    when + timedelta(seconds=30), "tax", user, terminal, session, "個人住民税", "view", str(subject)
                )
            )
        activity.sessions.append(
            _session_row(user, terminal, first - timedelta(minutes=4), _at(day, 20.95), FACTORS["tax"], session)
        )
        activity.lookalikes.append(
            _lookalike(
                "approved_overtime",
                [user],
                [str(s) for s in dict.fromkeys(subjects)],
                first,
                when + timedelta(seconds=30),
                ["D01"],
                "時間外勤務命令（17:15–21:00）の範囲内の夜間処理",
                day=str(day),
            )
        )
    world.overtime = overtime.sort_values(["day", "staff_id"], kind="stable").reset_index(drop=True)


def _repeated_inside_case(
    world: World, activity: Activity, rows: list[dict[str, object]], taken: set[str], n: int
) -> None:
    """納税課: the assignee of an open delinquency case opens that resident's record again and again."""
    rng = world.rng
    days = world.open_days()
    cases = world.cases[(world.cases["kind"] == "delinquency") & world.cases["assignee"].notna()]
    user_of = dict(zip(world.staff["staff_id"], world.staff["user_id"], strict=True))
    terminal_of = dict(zip(world.staff["staff_id"], world.staff["terminal_id"], strict=True))
    cases = cases[~cases["assignee"].map(user_of).isin(taken)].drop_duplicates("assignee")
    if cases.empty:
        return
    for i in rng.choice(len(cases), size=min(n, len(cases)), replace=False):
        case = cases.iloc[int(i)]
        user, terminal = user_of[case["assignee"]], str(terminal_of[case["assignee"]])
        taken.add(user)
        count = int(rng.integers(6, 13))
        first_index = int(rng.integers(0, max(1, len(days) - 3)))
        window = days[first_index : first_index + int(rng.integers(3, 9))]
        chosen = sorted(window[int(k)] for k in rng.integers(0, len(window), count))
        stamps = []
        for k, day in enumerate(chosen):
            when = _at(day, float(rng.uniform(9.0, 16.5)))
            session = f"DQ{day:%Y%m%d}-{user}-{k}"
            rows.append(_event_row(when, "tax", user, terminal, session, "収納・滞納", "view", str(case["subject"])))
            activity.sessions.append(
                _session_row(
                    user, terminal, when - timedelta(minutes=2), when + timedelta(minutes=6), FACTORS["tax"], session
                )
            )
            stamps.append(when)
        activity.lookalikes.append(
            _lookalike(
                "repeated_with_open_case",
                [user],
                [str(case["subject"])],
                min(stamps),
                max(stamps),
                ["D06", "D03"],
                "担当する滞納整理案件（未完結）の住民を繰り返し照会",
                case_id=str(case["case_id"]),
                lookups=count,
            )
        )


def _counter_receptions(world: World, activity: Activity, n: int) -> None:
    """A sample of the counter lookups, each explained by its reception case (窓口受付)."""
    receptions = pd.DataFrame(activity.extra_cases)
    if receptions.empty:
        return
    user_of = dict(zip(world.staff["staff_id"], world.staff["user_id"], strict=True))
    sample = receptions.drop_duplicates("assignee")
    for i in world.rng.choice(len(sample), size=min(len(sample), 2 * n), replace=False):
        case = sample.iloc[int(i)]
        activity.lookalikes.append(
            _lookalike(
                "counter_with_reception",
                [user_of[case["assignee"]]],
                [str(case["subject"])],
                case["opened_at"].replace(tzinfo=None),
                case["closed_at"].replace(tzinfo=None),
                ["D03"],
                "窓口受付（受付記録あり）に伴う照会",
                case_id=str(case["case_id"]),
            )
        )


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
