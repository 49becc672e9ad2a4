"""Planted misuse, modelled on the incidents in DOMAIN.md, with the ground truth the detectors are
measured against. Each planter adds events (and the sessions behind them) and one truth record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd

from auditd.demo.activity import FACTORS, SCREENS, Activity
from auditd.demo.world import RETIRED_TERMINAL, SECTION_BY_CODE, World


@dataclass
class Incident:
    id: str
    kind: str
    detectors: list[str]
    title_ja: str
    users: list[str]
    subjects: list[str]
    start: str
    end: str
    events: int
    note: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class Planter:
    """Shared helpers: pick people and residents, add events inside a proper session."""

    def __init__(self, world: World, activity: Activity) -> None:
        self.world = world
        self.activity = activity
        self.rng = world.rng
        self.days = world.open_days()
        self.incidents: list[Incident] = []
        self.rows: list[dict[str, object]] = []
        self.sessions: list[dict[str, object]] = []
        self.drop: list[tuple[str, datetime]] = []  # (user, from) whose generated events end there
        self._used: set[str] = set()
        staff = world.staff
        self.staff = staff.set_index("user_id", drop=False)
        self.case_subjects = set(world.cases["subject"])

    # -- choosing ---------------------------------------------------------------------------------------

    def person(self, section: str, *, lives_here: bool = False, exclude_contractor: bool = True) -> pd.Series:
        pool = self.staff[(self.staff["section_code"] == section) & (~self.staff["user_id"].isin(self._used))]
        if exclude_contractor:
            pool = pool[pool["employment"] != "contractor"]
        if lives_here:
            pool = pool[pool["resident"].notna()]
        if pool.empty:
            pool = self.staff[self.staff["section_code"] == section]
        chosen = pool.iloc[int(self.rng.integers(0, len(pool)))]
        self._used.add(str(chosen["user_id"]))
        return chosen

    def residents_without_case(self, n: int, *, area: str | None = None, exclude: set[str] | None = None) -> list[str]:
        residents = self.world.residents
        pool = residents[~residents["atena"].isin(self.case_subjects | (exclude or set()))]
        if area is not None:
            pool = pool[pool["area_code"] == area]
        n = min(n, len(pool))
        chosen = pool["atena"].to_numpy()[self.rng.choice(len(pool), size=n, replace=False)]
        return [str(a) for a in chosen]

    def day(self, index: int) -> date:
        return self.days[max(0, min(index, len(self.days) - 1))]

    def at(self, day: date, hour: float) -> datetime:
        return datetime.combine(day, time(0)) + timedelta(seconds=int(hour * 3600))

    # -- adding -----------------------------------------------------------------------------------------

    def session(self, user: str, terminal: str, start: datetime, end: datetime, factors: str) -> str:
        session_id = f"X{start:%Y%m%d%H%M}-{user}-{len(self.sessions)}"
        self.sessions.append(
            {
                "user_id": user,
                "terminal_id": terminal,
                "start": np.datetime64(start),
                "end": np.datetime64(end),
                "factors": factors,
                "source": "auth",
                "session_id": session_id,
            }
        )
        return session_id

    def event(
        self,
        when: datetime,
        user: str,
        terminal: str | None,
        session: str | None,
        system: str,
        jimu: str,
        action: str,
        subject: str | None,
        *,
        count: int = 1,
        detail: str | None = None,
    ) -> None:
        self.rows.append(
            {
                "ts": when,
                "source": system,
                "user_id": user,
                "terminal_id": terminal,
                "session_id": session,
                "jimu": jimu,
                "action": action,
                "screen": SCREENS.get(action, "INQ"),
                "subject": subject,
                "subject_count": count,
                "result": "success",
                "auth_factors": None,
                "detail": detail,
            }
        )

    def lookups(
        self,
        person: pd.Series,
        day: date,
        hour: float,
        subjects: list[str],
        *,
        actions: tuple[str, ...] = ("search", "view"),
        terminal: str | None = None,
        factors: str | None = None,
        system: str | None = None,
        jimu: str | None = None,
    ) -> tuple[datetime, datetime]:
        """Look residents up in a session of the person's own (or the given) terminal; returns the time span."""
        spec = SECTION_BY_CODE[str(person["section_code"])]
        system = system or spec.system or "tax"
        jimu = jimu or spec.jimu
        terminal = terminal or str(person["terminal_id"])
        start = self.at(day, hour)
        when = start
        session = self.session(
            str(person["user_id"]),
            terminal,
            start - timedelta(minutes=3),
            start + timedelta(minutes=5 + 3 * len(subjects) * len(actions)),
            factors or FACTORS.get(system, "password,vein"),
        )
        for subject in subjects:
            for action in actions:
                when += timedelta(seconds=int(self.rng.integers(20, 90)))
                self.event(when, str(person["user_id"]), terminal, session, system, jimu, action, subject)
        return start, when

    def record(
        self,
        kind: str,
        detectors: list[str],
        title: str,
        users: list[str],
        subjects: list[str],
        start: datetime,
        end: datetime,
        events: int,
        note: str = "",
        **extra: object,
    ) -> None:
        self.incidents.append(
            Incident(
                id=f"INC-{len(self.incidents) + 1:03d}",
                kind=kind,
                detectors=detectors,
                title_ja=title,
                users=users,
                subjects=subjects,
                start=start.isoformat(timespec="seconds") + "+09:00",
                end=end.isoformat(timespec="seconds") + "+09:00",
                events=events,
                note=note,
                extra=dict(extra),
            )
        )


# -- the incidents ------------------------------------------------------------------------------------------


def curiosity_cluster(p: Planter) -> None:
    """横手市 2020: staff of several sections open the record of a resident in the news."""
    target = str(p.world.notes["public_figure"])
    day = p.day(len(p.days) // 2)
    users, first, last, n = [], None, None, len(p.rows)
    for k, section in enumerate(("1101", "2101", "2101", "2102", "1103")):
        person = p.person(section)
        start, end = p.lookups(person, day if k < 3 else p.day(len(p.days) // 2 + 1), 10.0 + 1.3 * k, [target])
        users.append(str(person["user_id"]))
        first, last = first or start, end
    p.record(
        "curiosity_cluster",
        ["D07", "D08", "D03"],
        "話題の住民を複数課の職員が業務外に閲覧",
        users,
        [target],
        first or datetime.min,
        last or datetime.min,
        len(p.rows) - n,
    )


def relatives(p: Planter) -> None:
    """所沢市 2023: a tax clerk looks up the household's records, shows their numbers and prints them."""
    residents = p.world.residents
    sizes = residents.groupby("household")["atena"].count()
    staff = p.staff[
        (p.staff["section_code"] == "1101")
        & p.staff["household"].isin(sizes[sizes >= 3].index)
        & (p.staff["employment"] != "contractor")
    ]
    if staff.empty:
        return
    person = staff.iloc[0]
    p._used.add(str(person["user_id"]))
    family = residents.loc[residents["household"] == person["household"], "atena"].tolist()
    n = len(p.rows)
    start, _ = p.lookups(person, p.day(3), 12.4, family, actions=("search", "view", "show_mynumber"))
    _, end = p.lookups(person, p.day(4), 16.6, family[:2], actions=("view", "print"))
    p.record(
        "relatives",
        ["D04", "D03", "D20"],
        "職員が同一世帯の家族の情報を照会・個人番号表示・印刷",
        [str(person["user_id"])],
        family,
        start,
        end,
        len(p.rows) - n,
    )


def off_hours(p: Planter) -> None:
    """Browsing late in the evening and on a Sunday, with no overtime approved."""
    person = p.person("2103")
    subjects = p.residents_without_case(5)
    n = len(p.rows)
    start, _ = p.lookups(person, p.day(8), 21.2, subjects[:3])
    sundays = [d for d in pd.date_range(p.day(8), p.day(len(p.days) - 1) + timedelta(days=1)).date if d.weekday() == 6]
    end = start
    if sundays:
        _, end = p.lookups(person, sundays[0], 14.0, subjects[3:])
    p.record(
        "off_hours",
        ["D01", "D03"],
        "時間外命令のない夜間・休日の閲覧",
        [str(person["user_id"])],
        subjects,
        start,
        end,
        len(p.rows) - n,
    )


def after_transfer(p: Planter) -> None:
    """A transferred clerk keeps using the old section's system (grant not revoked on the transfer date)."""
    person = p.person("2101")
    transfer = p.day(len(p.days) // 2)
    world = p.world
    sid = str(person["staff_id"])
    world.assignments.loc[world.assignments["staff_id"] == sid, "valid_to"] = transfer.isoformat()
    world.assignments = pd.concat(
        [
            world.assignments,
            pd.DataFrame(
                [
                    {
                        "staff_id": sid,
                        "section_code": "2102",
                        "valid_from": transfer.isoformat(),
                        "valid_to": None,
                        "position": None,
                    }
                ]
            ),
        ],
        ignore_index=True,
    )
    world.grants = pd.concat(
        [
            world.grants,
            pd.DataFrame(
                [
                    {
                        "user_id": person["user_id"],
                        "role": "care",
                        "valid_from": transfer,
                        "valid_to": date(2026, 4, 1),
                        "approver": "2102-head",
                        "status": "active",
                    }
                ]
            ),
        ],
        ignore_index=True,
    )
    p.drop.append((str(person["user_id"]), datetime.combine(transfer, time(0))))
    subjects = p.residents_without_case(4)
    n = len(p.rows)
    start, _ = p.lookups(person, p.day(len(p.days) // 2 + 2), 10.5, subjects[:2])
    _, end = p.lookups(person, p.day(len(p.days) // 2 + 4), 14.2, subjects[2:])
    p.record(
        "after_transfer",
        ["D13", "D02", "D03"],
        "異動後も旧所属の国保システムで照会（権限未失効）",
        [str(person["user_id"])],
        subjects,
        start,
        end,
        len(p.rows) - n,
        transfer_date=transfer.isoformat(),
    )


def after_retirement(p: Planter) -> None:
    person = p.person("1103")
    retire = p.day(len(p.days) // 3)
    p.world.staff.loc[p.world.staff["user_id"] == person["user_id"], "retired_on"] = retire.isoformat()
    p.drop.append((str(person["user_id"]), datetime.combine(retire, time(0))))
    subjects = p.residents_without_case(3)
    n = len(p.rows)
    start, end = p.lookups(person, p.day(len(p.days) // 3 + 3), 9.8, subjects)
    p.record(
        "after_retirement",
        ["D13", "D03"],
        "退職後のIDが使用された",
        [str(person["user_id"])],
        subjects,
        start,
        end,
        len(p.rows) - n,
        retired_on=retire.isoformat(),
    )


def bulk_export(p: Planter) -> None:
    person = p.person("1103")
    day = p.day(len(p.days) - 6)
    when = p.at(day, 16.85)
    session = p.session(
        str(person["user_id"]),
        str(person["terminal_id"]),
        when - timedelta(minutes=5),
        when + timedelta(minutes=10),
        "password,vein",
    )
    p.event(
        when,
        str(person["user_id"]),
        str(person["terminal_id"]),
        session,
        "tax",
        "収納・滞納",
        "export",
        None,
        count=2400,
        detail="滞納者一覧 CSV出力",
    )
    p.record(
        "bulk_export",
        ["D14"],
        "出力承認のない2,400人分のCSV出力",
        [str(person["user_id"])],
        [],
        when,
        when,
        1,
        count=2400,
    )


def shared_id(p: Planter) -> None:
    """船橋市: an account signed in on two terminals at once; the second is a colleague's."""
    person = p.person("1101")
    colleague = p.person("1101")
    cases = p.world.cases[p.world.cases["section_code"] == "1101"]["subject"].tolist()
    subjects = [cases[int(i)] for i in p.rng.integers(0, len(cases), 6)]
    day = p.day(10)
    n = len(p.rows)
    start, _ = p.lookups(person, day, 10.0, subjects[:3])
    _, end = p.lookups(person, day, 10.1, subjects[3:], terminal=str(colleague["terminal_id"]))
    p.record(
        "shared_id",
        ["D10", "D11"],
        "同一IDが2台の端末で同時に使用された",
        [str(person["user_id"])],
        subjects,
        start,
        end,
        len(p.rows) - n,
        terminals=[str(person["terminal_id"]), str(colleague["terminal_id"])],
    )


def other_section_terminal(p: Planter) -> None:
    """鴨川市: an account used from a terminal of another section."""
    person = p.person("2102")
    foreign = p.staff[p.staff["section_code"] == "1103"].iloc[-1]
    cases = p.world.cases[p.world.cases["section_code"] == "2102"]["subject"].tolist()
    subjects = cases[:4]
    n = len(p.rows)
    start, end = p.lookups(person, p.day(12), 13.5, subjects, terminal=str(foreign["terminal_id"]))
    p.record(
        "other_section_terminal",
        ["D11"],
        "他課の端末から自課のIDで照会",
        [str(person["user_id"])],
        subjects,
        start,
        end,
        len(p.rows) - n,
        terminal=str(foreign["terminal_id"]),
    )


def neighbourhood(p: Planter) -> None:
    """印西市: a clerk looks up several residents of the clerk's own 町丁目, with no case."""
    person = p.person("1102", lives_here=True)
    area = person["home_area"]
    subjects = p.residents_without_case(
        6,
        area=area,
        exclude=set(p.world.residents.loc[p.world.residents["household"] == person["household"], "atena"]),
    )
    n = len(p.rows)
    start, _ = p.lookups(person, p.day(5), 11.2, subjects[:2])
    p.lookups(person, p.day(6), 15.1, subjects[2:4])
    _, end = p.lookups(person, p.day(8), 9.4, subjects[4:])
    p.record(
        "neighbourhood",
        ["D05", "D03"],
        "自宅と同じ地区の住民を業務外に照会",
        [str(person["user_id"])],
        subjects,
        start,
        end,
        len(p.rows) - n,
        area=str(area),
    )


def repetition(p: Planter) -> None:
    """仙台市 2022: one resident looked up again and again, with no case."""
    person = p.person("2101")
    target = p.residents_without_case(1)
    n = len(p.rows)
    spans = [p.lookups(person, p.day(2 + k), 9.0 + (k * 1.7) % 7, target, actions=("view",)) for k in range(12)]
    p.record(
        "repetition",
        ["D06", "D03"],
        "同一住民を案件なしで繰り返し照会",
        [str(person["user_id"])],
        target,
        spans[0][0],
        spans[-1][1],
        len(p.rows) - n,
    )


def watchlist_dv(p: Planter) -> None:
    person = p.person("1102")
    target = [str(p.world.notes["dv_support"][0])]  # type: ignore[index]
    n = len(p.rows)
    start, end = p.lookups(person, p.day(14), 11.0, target)
    p.record(
        "watchlist_dv",
        ["D08", "D03"],
        "DV等支援措置対象者の記録を案件なしで照会",
        [str(person["user_id"])],
        target,
        start,
        end,
        len(p.rows) - n,
    )


def privileged(p: Planter) -> None:
    """沼津市: an administrator's privileged ID used to look at residents' tax records."""
    admin = p.world.accounts[p.world.accounts["kind"] == "admin"].iloc[0]
    subjects = p.residents_without_case(8)
    n = len(p.rows)
    day = p.day(9)
    when = p.at(day, 18.3)
    session = p.session(
        str(admin["user_id"]),
        "T9101-01",
        when - timedelta(minutes=4),
        when + timedelta(minutes=40),
        "password,vein",
    )
    for subject in subjects:
        when += timedelta(seconds=int(p.rng.integers(30, 120)))
        p.event(when, str(admin["user_id"]), "T9101-01", session, "tax", "個人住民税", "view", subject)
    p.record(
        "privileged",
        ["D15", "D01", "D02"],
        "特権IDで住民の課税情報を閲覧",
        [str(admin["user_id"])],
        subjects,
        p.at(day, 18.3),
        when,
        len(p.rows) - n,
    )


def linkage_without_case(p: Planter) -> None:
    linkers = p.world.grants[p.world.grants["role"] == "linkage"]["user_id"].tolist()
    if not linkers:
        return
    person = p.staff.loc[linkers[0]]
    subjects = p.residents_without_case(2)
    n = len(p.rows)
    when = p.at(p.day(11), 14.4)
    for subject in subjects:
        when += timedelta(minutes=3)
        p.event(
            when,
            str(person["user_id"]),
            str(person["terminal_id"]),
            None,
            "linkage",
            SECTION_BY_CODE[str(person["section_code"])].jimu,
            "link_inquiry",
            subject,
            detail="地方税関係情報",
        )
    p.record(
        "linkage_without_case",
        ["D17"],
        "案件のない中間サーバー照会",
        [str(person["user_id"])],
        subjects,
        p.at(p.day(11), 14.4),
        when,
        len(p.rows) - n,
    )


def retired_terminal(p: Planter) -> None:
    person = p.person("2103")
    cases = p.world.cases[p.world.cases["section_code"] == "2103"]["subject"].tolist()
    subjects = cases[:3]
    n = len(p.rows)
    start, end = p.lookups(person, p.day(13), 10.2, subjects, terminal=RETIRED_TERMINAL)
    p.record(
        "retired_terminal",
        ["D19"],
        "廃止済み端末からの操作",
        [str(person["user_id"])],
        subjects,
        start,
        end,
        len(p.rows) - n,
        terminal=RETIRED_TERMINAL,
    )


def missing_second_factor(p: Planter) -> None:
    person = p.person("2102")
    cases = p.world.cases[p.world.cases["section_code"] == "2102"]["subject"].tolist()
    subjects = cases[5:8]
    n = len(p.rows)
    start, end = p.lookups(person, p.day(15), 9.1, subjects, factors="password")
    p.record(
        "missing_second_factor",
        ["D12"],
        "二要素認証なし（パスワードのみ）でマイナンバー利用事務系端末を使用",
        [str(person["user_id"])],
        subjects,
        start,
        end,
        len(p.rows) - n,
    )


def mynumber_out_of_role(p: Planter) -> None:
    person = p.person("1102")
    cases = p.world.cases[p.world.cases["section_code"] == "1102"]["subject"].tolist()
    subjects = cases[10:13]
    n = len(p.rows)
    start, end = p.lookups(person, p.day(16), 14.0, subjects, actions=("view", "show_mynumber"))
    p.record(
        "mynumber_out_of_role",
        ["D20"],
        "個人番号を利用しない役割での個人番号表示",
        [str(person["user_id"])],
        subjects,
        start,
        end,
        len(p.rows) - n,
    )


def audit_tampering(p: Planter) -> None:
    """岩手県の事例: log settings changed after hours, and a stretch of the welfare log goes missing."""
    admin = p.world.accounts[p.world.accounts["kind"] == "admin"].iloc[-1]
    day = p.day(len(p.days) - 8)
    when = p.at(day, 19.6)
    session = p.session(
        str(admin["user_id"]),
        "T9101-01",
        when - timedelta(minutes=3),
        when + timedelta(minutes=20),
        "password,vein",
    )
    p.event(
        when,
        str(admin["user_id"]),
        "T9101-01",
        session,
        "welfare",
        "システム管理",
        "audit_config",
        None,
        count=0,
        detail="操作ログ出力設定変更（照会ログ出力=無効）",
    )
    p.record(
        "audit_tampering",
        ["D16", "D01"],
        "時間外の操作ログ設定変更と福祉システムログの欠落",
        [str(admin["user_id"])],
        [],
        when,
        when + timedelta(hours=2),
        1,
        gap_source="welfare",
        gap_from=when.isoformat(),
        gap_to=(when + timedelta(hours=2)).isoformat(),
    )


def silent_source(p: Planter) -> None:
    """The 中間サーバー log stops arriving for the last four days."""
    last = p.day(len(p.days) - 1)
    start = datetime.combine(p.day(len(p.days) - 4), time(0))
    p.record(
        "silent_source",
        ["D18"],
        "中間サーバーのログが途絶",
        [],
        [],
        start,
        datetime.combine(last, time(23, 59)),
        0,
        source="linkage",
    )


PLANTERS: list[Callable[[Planter], None]] = [
    curiosity_cluster, relatives, off_hours, after_transfer, after_retirement, bulk_export, shared_id,
    other_section_terminal, neighbourhood, repetition, watchlist_dv, privileged, linkage_without_case,
    retired_terminal, missing_second_factor, mynumber_out_of_role, audit_tampering, silent_source,
]  # fmt: skip


def plant(world: World, activity: Activity) -> list[Incident]:
    """Plant every incident kind; adjust generated activity (transfers, retirements, gaps, silence)."""
    planter = Planter(world, activity)
    for plant_one in PLANTERS:
        plant_one(planter)
    base = activity.events[0]
    keep = np.ones(len(base), dtype=bool)
    for user, since in planter.drop:
        keep &= ~((base["user_id"].to_numpy() == user) & (base["ts"].to_numpy() >= np.datetime64(since)))
    activity.events[0] = base[keep].reset_index(drop=True)
    sessions = activity.sessions[0]
    s_keep = np.ones(len(sessions), dtype=bool)
    for user, since in planter.drop:
        s_keep &= ~((sessions["user_id"].to_numpy() == user) & (sessions["start"].to_numpy() >= np.datetime64(since)))
    activity.sessions[0] = sessions[s_keep].reset_index(drop=True)
    activity.events.append(pd.DataFrame(planter.rows))
    activity.sessions.append(pd.DataFrame(planter.sessions))
    world.notes["incidents"] = planter.incidents
    return planter.incidents
