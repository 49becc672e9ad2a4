"""Planted misuse, modelled on the incidents in DOMAIN.md, with the ground truth the detectors are
measured against. Each planter adds events (and the sessions behind them) and truth records.

Every kind is planted ``CityConfig.incidents_per_kind`` times (``silent_source``: once, a source can
fall silent only once). Each instance draws its own person, section, day, hour and residents from the
world's seeded generator, so two seeds give two different cities. A person serves one incident only;
when a city has too few staff left for an instance, that instance is skipped (small test cities)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd

from auditd.demo.activity import FACTORS, SCREENS, Activity
from auditd.demo.world import RETIRED_TERMINAL, SECTION_BY_CODE, SECTIONS, World

#: sections whose staff work in a source system (tax or welfare)
WORKING = tuple(s.code for s in SECTIONS if s.system)
#: sections with standing cases in world.cases (国保年金課 works from counter receptions instead)
WITH_CASES = tuple(s.code for s in SECTIONS if s.system and s.case_kind and s.case_kind != "reception")
#: kinds that exist once per city whatever ``incidents_per_kind`` says
SINGLE_KINDS = frozenset({"silent_source"})


class NoOneLeft(Exception):
    """No unused person (or resident, or day) fits this instance: it is skipped."""


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
    """Shared helpers: pick people, days and residents, add events inside a proper session."""

    def __init__(self, world: World, activity: Activity) -> None:
        self.world = world
        self.activity = activity
        self.rng = world.rng
        config = world.config
        self.per_kind = max(1, config.incidents_per_kind)
        self.days = world.open_days()
        period = [config.start + timedelta(days=i) for i in range(config.days)]
        open_set = set(self.days)
        self.closed_days = [d for d in period if d not in open_set]
        self.incidents: list[Incident] = []
        self.rows: list[dict[str, object]] = []
        self.sessions: list[dict[str, object]] = []
        self.drop: list[tuple[str, datetime, datetime | None]] = []  # (user, from, to): generated events removed
        self.gaps: list[tuple[datetime, datetime]] = []  # welfare log records lost
        self._used: set[str] = set()
        self._subjects: set[str] = set()  # residents already in an incident
        self._mark = 0
        self.flip = int(self.rng.integers(0, 2))  # which variant of a two-way kind comes first in this city
        staff = world.staff
        self.staff = staff.set_index("user_id", drop=False)
        # residents with any matter (standing cases and the day's counter receptions)
        self.case_subjects = set(world.cases["subject"]) | {str(c["subject"]) for c in activity.extra_cases}
        self.watched = set(world.watchlist["subject"].astype(str)) if len(world.watchlist) else set()
        self._free = ~world.residents["atena"].isin(self.case_subjects | self.watched).to_numpy()
        self.receptions = pd.DataFrame(activity.extra_cases)
        if not self.receptions.empty:
            closed = pd.to_datetime(self.receptions["closed_at"], utc=True).dt.tz_convert("Asia/Tokyo")
            self.receptions["closed_local"] = closed.dt.tz_localize(None)
        # the planted look-alikes keep their people: an incident does not reuse them
        for look in activity.lookalikes:
            if look.get("kind") in ("approved_overtime", "bulk_print_with_approval", "repeated_with_open_case"):
                self._used.update(str(u) for u in look.get("users", []))  # type: ignore[attr-defined]
        # 国保年金課 staff on counter duty work at a counter terminal that day
        self.counter: dict[tuple[str, date], str] = {}
        if activity.sessions:
            base = activity.sessions[0]
            on_counter = base[base["terminal_id"].astype(str).str.startswith("C")]
            for user, terminal, start in zip(
                on_counter["user_id"], on_counter["terminal_id"], on_counter["start"], strict=True
            ):
                self.counter[(str(user), pd.Timestamp(start).date())] = str(terminal)
        # the linkage log falls silent for the last four open days (see silent_source)
        self.silent_from = self.day(len(self.days) - 4)
        overtime = world.overtime
        self.overtime = {
            (str(s), d) for s, d in zip(overtime.get("staff_id", []), overtime.get("day", []), strict=True)
        }

    # -- choosing ---------------------------------------------------------------------------------------

    def person(
        self,
        sections: str | Iterable[str] | None = None,
        *,
        lives_here: bool = False,
        exclude_contractor: bool = True,
        among: Iterable[str] | None = None,
    ) -> pd.Series:
        """An unused member of one of the sections (default: any section working in a system)."""
        codes = [sections] if isinstance(sections, str) else list(sections or WORKING)
        pool = self.staff[self.staff["section_code"].isin(codes) & ~self.staff["user_id"].isin(self._used)]
        if exclude_contractor:
            pool = pool[pool["employment"] != "contractor"]
        if lives_here:
            pool = pool[pool["resident"].notna()]
        if among is not None:
            pool = pool[pool["user_id"].isin(set(among))]
        if pool.empty:
            raise NoOneLeft(f"no unused person in {codes}")
        chosen = pool.iloc[int(self.rng.integers(0, len(pool)))]
        self._used.add(str(chosen["user_id"]))
        return chosen

    def admin(self) -> pd.Series:
        accounts = self.world.accounts
        pool = accounts[(accounts["kind"] == "admin") & ~accounts["user_id"].isin(self._used)]
        if pool.empty:
            raise NoOneLeft("no unused administrator")
        chosen = pool.iloc[int(self.rng.integers(0, len(pool)))]
        self._used.add(str(chosen["user_id"]))
        return chosen

    def section_choice(self, codes: Iterable[str]) -> str:
        options = list(codes)
        return options[int(self.rng.integers(0, len(options)))]

    def residents_without_case(self, n: int, *, area: str | None = None, exclude: set[str] | None = None) -> list[str]:
        """Residents no section has a case with, not on the watchlist, not yet in another incident."""
        residents = self.world.residents
        pool = residents[self._free & ~residents["atena"].isin(self._subjects | (exclude or set())).to_numpy()]
        if area is not None:
            pool = pool[pool["area_code"] == area]
        n = min(n, len(pool))
        if n <= 0:
            raise NoOneLeft("no resident left")
        chosen = [str(a) for a in pool["atena"].to_numpy()[self.rng.choice(len(pool), size=n, replace=False)]]
        self._subjects.update(chosen)
        return chosen

    def case_subjects_of(self, section: str, n: int, *, assignee: str | None = None) -> list[str]:
        cases = self.world.cases
        pool = cases[cases["section_code"] == section]
        if assignee is not None and (pool["assignee"] == assignee).any():
            pool = pool[pool["assignee"] == assignee]
        subjects = pool["subject"].drop_duplicates().to_numpy()
        if not len(subjects):
            raise NoOneLeft(f"no case in {section}")
        picks = self.rng.choice(len(subjects), size=min(n, len(subjects)), replace=False)
        return [str(subjects[int(i)]) for i in picks]

    def day(self, index: int) -> date:
        return self.days[max(0, min(index, len(self.days) - 1))]

    def pick_index(self, lo: float = 0.0, hi: float = 1.0, *, before: date | None = None) -> int:
        """A random open day between the fractions ``lo`` and ``hi`` of the period (and before ``before``)."""
        n = len(self.days)
        first, last = int(lo * n), max(int(lo * n) + 1, int(np.ceil(hi * n)))
        options = [i for i in range(first, min(last, n)) if before is None or self.days[i] < before]
        if not options:
            raise NoOneLeft("no day fits")
        return options[int(self.rng.integers(0, len(options)))]

    def pick_day(self, lo: float = 0.0, hi: float = 1.0, *, before: date | None = None) -> date:
        return self.days[self.pick_index(lo, hi, before=before)]

    def days_between(self, first: date, last: date) -> list[date]:
        return [d for d in self.days if first <= d <= last]

    def hour(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def count(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi] (both included)."""
        return int(self.rng.integers(lo, hi + 1))

    def at(self, day: date, hour: float) -> datetime:
        return datetime.combine(day, time(0)) + timedelta(seconds=int(hour * 3600))

    def terminal(self, person: pd.Series, day: date) -> str:
        """The terminal the person works at that day (a counter when on counter duty)."""
        return self.counter.get((str(person["user_id"]), day), str(person["terminal_id"]))

    def has_overtime(self, person: pd.Series, day: date) -> bool:
        return (str(person["staff_id"]), day) in self.overtime

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
        if system == "welfare" and any(start < when < end for start, end in self.gaps):
            raise NoOneLeft("inside a welfare log gap")  # the records would be lost: try another draw
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
        user: str | None = None,
    ) -> tuple[datetime, datetime]:
        """Look residents up in a session of the person's own (or the given) terminal; returns the time span."""
        spec = SECTION_BY_CODE[str(person["section_code"])]
        system = system or spec.system or "tax"
        jimu = jimu or spec.jimu
        terminal = terminal or self.terminal(person, day)
        user = user or str(person["user_id"])
        start = self.at(day, hour)
        when = start
        session = self.session(
            user,
            terminal,
            start - timedelta(minutes=3),
            start + timedelta(minutes=5 + 2 * len(subjects) * len(actions)),
            factors or FACTORS.get(system, "password,vein"),
        )
        for subject in subjects:
            for action in actions:
                when += timedelta(seconds=int(self.rng.integers(20, 90)))
                self.event(when, user, terminal, session, system, jimu, action, subject)
        return start, when

    def record(
        self,
        kind: str,
        detectors: list[str],
        title: str,
        users: list[str],
        subjects: list[str],
        start: datetime | None = None,
        end: datetime | None = None,
        events: int | None = None,
        note: str = "",
        **extra: object,
    ) -> Incident:
        """One truth record; start, end and events default to the rows added for this instance."""
        added = self.rows[self._mark :]
        stamps = [r["ts"] for r in added]
        start = start or min(stamps)  # type: ignore[type-var,assignment]
        end = end or max(stamps)  # type: ignore[type-var,assignment]
        assert start is not None and end is not None
        incident = Incident(
            id=f"INC-{len(self.incidents) + 1:03d}",
            kind=kind,
            detectors=detectors,
            title_ja=title,
            users=users,
            subjects=subjects,
            start=start.isoformat(timespec="seconds") + "+09:00",
            end=end.isoformat(timespec="seconds") + "+09:00",
            events=len(added) if events is None else events,
            note=note,
            extra=dict(extra),
        )
        self.incidents.append(incident)
        return incident

    # -- one instance, all or nothing --------------------------------------------------------------------

    def attempt(self, plant_one: Callable[[Planter, int], None], k: int, tries: int = 3) -> bool:
        """Plant one instance; on a dead end undo what it added and draw again (``tries`` times)."""
        return any(self._attempt_once(plant_one, k) for _ in range(tries))

    def _attempt_once(self, plant_one: Callable[[Planter, int], None], k: int) -> bool:
        saved = (
            len(self.rows),
            len(self.sessions),
            len(self.drop),
            len(self.gaps),
            len(self.incidents),
            set(self._used),
            set(self._subjects),
        )
        self._mark = len(self.rows)
        try:
            plant_one(self, k)
        except NoOneLeft:
            rows, sessions, drop, gaps, incidents, used, subjects = saved
            del self.rows[rows:], self.sessions[sessions:], self.drop[drop:], self.gaps[gaps:]
            del self.incidents[incidents:]
            self._used, self._subjects = used, subjects
            return False
        return True


def _uid(person: pd.Series) -> str:
    return str(person["user_id"])


# -- the incidents ------------------------------------------------------------------------------------------


def curiosity_cluster(p: Planter, k: int) -> None:
    """横手市 2020: staff of several sections open the record of a resident in the news, within a day or two."""
    if k == 0:
        target, detectors = str(p.world.notes["public_figure"]), ["D07", "D08", "D03"]
    else:
        target, detectors = p.residents_without_case(1)[0], ["D07", "D03"]
    n_sections = min(p.count(2, 4), len(WORKING))
    sections = [str(s) for s in p.rng.choice(WORKING, size=n_sections, replace=False)]
    people = []
    for j in range(p.count(3, 7)):
        try:
            people.append(p.person(sections[j % len(sections)]))
        except NoOneLeft:
            try:
                people.append(p.person(sections))
            except NoOneLeft:
                break
    if len(people) < 3:
        raise NoOneLeft("too few people for a cluster")
    index = p.pick_index(0.1, 0.9)
    two_days = p.rng.random() < 0.5 and index + 1 < len(p.days)
    for person in people:
        day = p.day(index + (1 if two_days and p.rng.random() < 0.5 else 0))
        p.lookups(person, day, p.hour(8.8, 16.8), [target])
    p.record(
        "curiosity_cluster",
        detectors,
        "話題の住民を複数課の職員が業務外に閲覧",
        [_uid(x) for x in people],
        [target],
        sections=sorted({str(x["section_code"]) for x in people}),
    )


def relatives(p: Planter, k: int) -> None:
    """所沢市 2023 / 大阪市生野区: a clerk looks up relatives — the household, or the same surname in the same
    area — shows their numbers and prints them."""
    residents = p.world.residents
    living = p.staff[p.staff["resident"].notna() & p.staff["section_code"].isin(WORKING)]
    by_household = residents.groupby("household")["atena"].count()
    variant = "household" if (k + p.flip) % 2 == 0 else "surname_area"  # both kinds of relative
    if variant == "surname_area":
        key = residents["surname_kana"] + "|" + residents["area_code"]
        households_per_key = residents.groupby(key)["household"].nunique()
        living_keys = living["name_kana"].str.split(" ").str[0] + "|" + living["home_area"].astype(str)
        fits = living_keys.map(households_per_key).fillna(0) >= 2
        candidates = living[fits.to_numpy()]
    else:
        candidates = living[living["household"].map(by_household).fillna(0).to_numpy() >= 2]
    if candidates.empty:
        variant = "household"
        candidates = living[living["household"].map(by_household).fillna(0).to_numpy() >= 2]
    person = p.person(list(WORKING), lives_here=True, among=candidates["user_id"])
    if variant == "household":
        family = residents.loc[residents["household"] == person["household"], "atena"].astype(str).tolist()
        title = "職員が同一世帯の家族の情報を照会・個人番号表示・印刷"
    else:
        surname = str(person["name_kana"]).split(" ")[0]
        same = residents[
            (residents["surname_kana"] == surname)
            & (residents["area_code"] == person["home_area"])
            & (residents["household"] != person["household"])
        ]
        family = same["atena"].astype(str).tolist()
        family = [
            family[int(i)] for i in p.rng.choice(len(family), size=min(len(family), p.count(2, 5)), replace=False)
        ]
        title = "職員が同姓・同地区の親族（別世帯）の情報を照会・印刷"
    spec = SECTION_BY_CODE[str(person["section_code"])]
    actions = ("search", "view", "show_mynumber") if spec.shows_mynumber else ("search", "view")
    index = p.pick_index(0.0, 0.85)
    p.lookups(person, p.day(index), p.hour(9.0, 16.5), family, actions=actions)
    later = p.day(index + p.count(1, 3))
    p.lookups(person, later, p.hour(9.0, 16.5), family[: p.count(1, 2)], actions=("view", "print"))
    p._subjects.update(family)
    p.record("relatives", ["D04", "D03"], title, [_uid(person)], family, relation=variant)


def off_hours(p: Planter, k: int) -> None:
    """Browsing late in the evening, or on a 閉庁日 morning, with no overtime approved."""
    variant = "evening" if (k + p.flip) % 2 == 0 or not p.closed_days else "closed_day"  # alternate
    person = p.person()
    subjects = p.residents_without_case(p.count(2, 5))
    if variant == "evening":
        days = [d for d in p.days if not p.has_overtime(person, d)]
        if not days:
            raise NoOneLeft("always on overtime")
        day = days[int(p.rng.integers(0, len(days)))]
        p.lookups(person, day, p.hour(19.5, 22.5), subjects, terminal=str(person["terminal_id"]))
        title = "時間外命令のない夜間の閲覧"
    else:
        day = p.closed_days[int(p.rng.integers(0, len(p.closed_days)))]
        p.lookups(person, day, p.hour(8.5, 11.5), subjects, terminal=str(person["terminal_id"]))
        title = "閉庁日（休日）の午前中の閲覧"
    p.record("off_hours", ["D01", "D03"], title, [_uid(person)], subjects, variant=variant, day=str(day))


def after_transfer(p: Planter, k: int) -> None:
    """A transferred clerk keeps using the old section's system (grant not revoked on the transfer date)."""
    old = p.section_choice(WORKING)
    person = p.person(old)
    new = p.section_choice([c for c in WORKING if c != old])
    index = p.pick_index(0.3, 0.7)
    if index + 2 >= len(p.days):
        raise NoOneLeft("no days after the transfer")
    transfer = p.day(index)
    subjects = p.residents_without_case(p.count(2, 5))
    cut = p.count(1, len(subjects) - 1)
    p.lookups(person, p.day(index + p.count(1, 2)), p.hour(9.2, 16.5), subjects[:cut])
    p.lookups(person, p.day(index + p.count(3, 5)), p.hour(9.2, 16.5), subjects[cut:])
    world = p.world
    sid = str(person["staff_id"])
    world.assignments.loc[world.assignments["staff_id"] == sid, "valid_to"] = transfer.isoformat()
    new_assignment = {
        "staff_id": sid,
        "section_code": new,
        "valid_from": transfer.isoformat(),
        "valid_to": None,
        "position": None,
    }
    world.assignments = pd.concat([world.assignments, pd.DataFrame([new_assignment])], ignore_index=True)
    new_grant = {
        "user_id": person["user_id"],
        "role": SECTION_BY_CODE[new].role,
        "valid_from": transfer,
        "valid_to": date(2026, 4, 1),
        "approver": f"{new}-head",
        "status": "active",
    }
    world.grants = pd.concat([world.grants, pd.DataFrame([new_grant])], ignore_index=True)
    p.drop.append((_uid(person), datetime.combine(transfer, time(0)), None))
    p.record(
        "after_transfer",
        ["D13", "D02", "D03"],
        f"異動後も旧所属（{SECTION_BY_CODE[old].name}）のシステムで照会（権限未失効）",
        [_uid(person)],
        subjects,
        transfer_date=transfer.isoformat(),
        from_section=old,
        to_section=new,
    )


def after_retirement(p: Planter, k: int) -> None:
    """A retired clerk's ID is still used a few days after the retirement date."""
    person = p.person()
    index = p.pick_index(0.25, 0.75)
    if index + 1 >= len(p.days):
        raise NoOneLeft("no days after the retirement")
    retire = p.day(index)
    subjects = p.residents_without_case(p.count(2, 5))
    p.lookups(person, p.day(index + p.count(1, 4)), p.hour(9.0, 16.5), subjects, terminal=str(person["terminal_id"]))
    p.world.staff.loc[p.world.staff["user_id"] == person["user_id"], "retired_on"] = retire.isoformat()
    p.drop.append((_uid(person), datetime.combine(retire, time(0)), None))
    p.record(
        "after_retirement", ["D13", "D03"], "退職後のIDが使用された", [_uid(person)], subjects,
        retired_on=retire.isoformat(),
    )  # fmt: skip


def bulk_export(p: Planter, k: int) -> None:
    """岩手県の事例: hundreds or thousands of residents exported (or printed) with no output approval."""
    person = p.person()
    section = str(person["section_code"])
    spec = SECTION_BY_CODE[section]
    action = "export" if section in ("1102", "1103") else "print"
    count = p.count(800, 5000)
    day = p.pick_day()
    when = p.at(day, p.hour(9.3, 16.9))
    terminal = p.terminal(person, day)
    session = p.session(
        _uid(person), terminal, when - timedelta(minutes=5), when + timedelta(minutes=10), FACTORS[spec.system]
    )
    detail = "一覧 CSV出力" if action == "export" else "一覧 一括印刷"
    p.event(when, _uid(person), terminal, session, spec.system, spec.jimu, action, None, count=count, detail=detail)
    p.record(
        "bulk_export",
        ["D14"],
        f"出力承認のない{count:,}人分の{'CSV出力' if action == 'export' else '一括印刷'}",
        [_uid(person)],
        [],
        count=count,
        action=action,
    )


def shared_id(p: Planter, k: int) -> None:
    """船橋市: an account signed in on two terminals at once; the second is a colleague's."""
    section = p.section_choice(WITH_CASES)
    person = p.person(section)
    colleague = p.person(section)
    subjects = p.case_subjects_of(section, p.count(4, 8))
    day = p.pick_day()
    hour = p.hour(9.0, 16.0)
    cut = len(subjects) // 2
    p.lookups(person, day, hour, subjects[:cut], terminal=str(person["terminal_id"]))
    p.lookups(person, day, hour + p.hour(0.05, 0.2), subjects[cut:], terminal=str(colleague["terminal_id"]))
    p.record(
        "shared_id",
        ["D10", "D11"],
        "同一IDが2台の端末で同時に使用された",
        [_uid(person)],
        subjects,
        terminals=[str(person["terminal_id"]), str(colleague["terminal_id"])],
    )


def other_section_terminal(p: Planter, k: int) -> None:
    """鴨川市: an account used from a terminal of another section."""
    section = p.section_choice(WITH_CASES)
    person = p.person(section)
    others = p.staff[p.staff["section_code"].isin([c for c in WORKING if c != section])]
    foreign = others.iloc[int(p.rng.integers(0, len(others)))]
    subjects = p.case_subjects_of(section, p.count(2, 6))
    p.lookups(person, p.pick_day(), p.hour(9.0, 16.5), subjects, terminal=str(foreign["terminal_id"]))
    p.record(
        "other_section_terminal",
        ["D11"],
        "他課の端末から自課のIDで照会",
        [_uid(person)],
        subjects,
        terminal=str(foreign["terminal_id"]),
    )


def neighbourhood(p: Planter, k: int) -> None:
    """印西市: a clerk looks up several residents of the clerk's own 町丁目, with no case."""
    person = p.person(lives_here=True)
    area = str(person["home_area"])
    household = set(p.world.residents.loc[p.world.residents["household"] == person["household"], "atena"])
    subjects = p.residents_without_case(p.count(3, 6), area=area, exclude=household)
    if len(subjects) < 3:
        raise NoOneLeft("too few neighbours")
    index = p.pick_index(0.0, 0.8)
    spread = p.count(1, 3)
    for j, subject in enumerate(subjects):
        p.lookups(person, p.day(index + j % spread), p.hour(9.0, 16.8), [subject])
    p.record(
        "neighbourhood", ["D05", "D03"], "自宅と同じ地区の住民を業務外に照会", [_uid(person)], subjects, area=area,
    )  # fmt: skip


def repetition(p: Planter, k: int) -> None:
    """四日市市 / 仙台市: one resident looked up again and again over days, with no case."""
    person = p.person()
    target = p.residents_without_case(1)
    first = p.pick_day(0.0, 0.8)
    window = p.days_between(first, first + timedelta(days=p.count(2, 10)))
    if len(window) < 2:
        window = p.days[p.days.index(first) : p.days.index(first) + 2]
    lookups = p.count(4, 9)
    # the first and last day of the window, and the other lookups anywhere in it (some days twice)
    days = sorted([window[0], window[-1]] + [window[int(i)] for i in p.rng.integers(0, len(window), lookups - 2)])
    for j, day in enumerate(days):
        p.lookups(person, day, p.hour(8.8, 16.9), target, actions=("search", "view") if j == 0 else ("view",))
    p.record(
        "repetition", ["D06", "D03"], "同一住民を案件なしで繰り返し照会", [_uid(person)], target,
        lookups=len(days), days=len({*days}),
    )  # fmt: skip


def watchlist_dv(p: Planter, k: int) -> None:
    """DV等支援措置: the record of a protected resident opened without a case."""
    protected = list(p.world.notes["dv_support"])  # type: ignore[call-overload]
    target = [str(protected[k % len(protected)])]
    # a clerk of a section with no case on that resident: a colleague's open case would explain the look
    cases = p.world.cases
    busy = set(cases.loc[cases["subject"].astype(str) == target[0], "section_code"].astype(str))
    person = p.person([c for c in WORKING if c not in busy])
    index = p.pick_index()
    for j in range(p.count(1, 3)):
        p.lookups(person, p.day(index + j), p.hour(9.0, 16.8), target)
    p.record("watchlist_dv", ["D08", "D03"], "DV等支援措置対象者の記録を案件なしで照会", [_uid(person)], target)


def privileged(p: Planter, k: int) -> None:
    """沼津市: an administrator's privileged ID used to look at residents' records."""
    admin = p.admin()
    terminal = str(p.world.staff.loc[p.world.staff["staff_id"] == admin["staff_id"], "terminal_id"].iloc[0])
    evening = p.rng.random() < 0.6
    system = "tax" if p.rng.random() < 0.5 else "welfare"
    jimu = "個人住民税" if system == "tax" else "国民健康保険"
    subjects = p.residents_without_case(p.count(3, 10))
    day = p.pick_day()
    start = p.at(day, p.hour(18.0, 20.5) if evening else p.hour(9.5, 16.0))
    session = p.session(
        str(admin["user_id"]), terminal, start - timedelta(minutes=4), start + timedelta(minutes=45), "password,vein"
    )
    when = start
    for subject in subjects:
        when += timedelta(seconds=int(p.rng.integers(30, 200)))
        p.event(when, str(admin["user_id"]), terminal, session, system, jimu, "view", subject)
    p.record(
        "privileged",
        ["D15", "D01", "D02"] if evening else ["D15", "D02"],
        "特権IDで住民の" + ("課税情報" if system == "tax" else "国保情報") + "を閲覧",
        [str(admin["user_id"])],
        subjects,
    )


def linkage_without_case(p: Planter, k: int) -> None:
    """番号法第23条: 中間サーバー inquiries about residents with no case behind them."""
    linkers = p.world.grants.loc[p.world.grants["role"] == "linkage", "user_id"].tolist()
    person = p.person(among=linkers)
    subjects = p.residents_without_case(p.count(1, 4))
    day = p.pick_day(before=p.silent_from)
    terminal = p.terminal(person, day)
    start = p.at(day, p.hour(9.0, 16.3))
    session = p.session(
        _uid(person), terminal, start - timedelta(minutes=3), start + timedelta(minutes=4 * len(subjects) + 5),
        FACTORS[SECTION_BY_CODE[str(person["section_code"])].system],
    )  # fmt: skip
    when = start
    for subject in subjects:
        when += timedelta(minutes=int(p.rng.integers(1, 4)))
        p.event(
            when, _uid(person), terminal, session, "linkage", SECTION_BY_CODE[str(person["section_code"])].jimu,
            "link_inquiry", subject, detail="地方税関係情報",
        )  # fmt: skip
    p.record("linkage_without_case", ["D17"], "案件のない中間サーバー照会", [_uid(person)], subjects)


def retired_terminal(p: Planter, k: int) -> None:
    """A 生活福祉課 PC retired in December is switched on again and used."""
    person = p.person("2103")
    subjects = p.case_subjects_of("2103", p.count(2, 5), assignee=str(person["staff_id"]))
    p.lookups(person, p.pick_day(), p.hour(9.0, 16.5), subjects, terminal=RETIRED_TERMINAL)
    p.record(
        "retired_terminal", ["D19"], "廃止済み端末からの操作", [_uid(person)], subjects, terminal=RETIRED_TERMINAL,
    )  # fmt: skip


def missing_second_factor(p: Planter, k: int) -> None:
    """A session on a マイナンバー利用事務系 terminal with the password only."""
    section = p.section_choice(WITH_CASES)
    person = p.person(section)
    subjects = p.case_subjects_of(section, p.count(2, 5), assignee=str(person["staff_id"]))
    p.lookups(person, p.pick_day(), p.hour(8.7, 16.5), subjects, factors="password")
    p.record(
        "missing_second_factor",
        ["D12"],
        "二要素認証なし（パスワードのみ）でマイナンバー利用事務系端末を使用",
        [_uid(person)],
        subjects,
    )


def mynumber_out_of_role(p: Planter, k: int) -> None:
    """個人番号の表示 by a role that does not use the number (資産税課, 納税課)."""
    section = p.section_choice(c for c in WITH_CASES if not SECTION_BY_CODE[c].shows_mynumber)
    person = p.person(section)
    subjects = p.case_subjects_of(section, p.count(1, 4), assignee=str(person["staff_id"]))
    p.lookups(person, p.pick_day(), p.hour(9.0, 16.5), subjects, actions=("view", "show_mynumber"))
    p.record(
        "mynumber_out_of_role", ["D20"], "個人番号を利用しない役割での個人番号表示", [_uid(person)], subjects,
    )  # fmt: skip


def after_case(p: Planter, k: int) -> None:
    """姫路市 2017: a counter clerk looks the customer up again days after the reception closed."""
    receptions = p.receptions
    if receptions.empty:
        raise NoOneLeft("no receptions")
    user_of = dict(zip(p.staff["staff_id"], p.staff["user_id"], strict=True))
    receptions = receptions.assign(user=receptions["assignee"].map(user_of))
    receptions = receptions[~receptions["user"].isin(p._used) & ~receptions["subject"].isin(p._subjects)]
    standing = set(p.world.cases["subject"])  # a resident with an open matter elsewhere would blur the story
    receptions = receptions[~receptions["subject"].isin(standing | p.watched)]
    closed = receptions["closed_local"]
    receptions = receptions[(closed.dt.normalize() + pd.Timedelta(days=2)) <= pd.Timestamp(p.days[-1])]
    if receptions.empty:
        raise NoOneLeft("no closed reception early enough")
    case = receptions.iloc[int(p.rng.integers(0, len(receptions)))]
    person = p.person(among=[str(case["user"])])
    closed_at = pd.Timestamp(case["closed_at"]).tz_localize(None).to_pydatetime()
    later = p.days_between(closed_at.date() + timedelta(days=2), closed_at.date() + timedelta(days=10))
    if not later:
        raise NoOneLeft("no day after the case")
    subject = str(case["subject"])
    p._subjects.add(subject)
    visits = sorted({later[int(i)] for i in p.rng.integers(0, len(later), p.count(1, 3))})
    for j, day in enumerate(visits):
        p.lookups(person, day, p.hour(9.0, 16.8), [subject], actions=("search", "view") if j == 0 else ("view",))
    p.record(
        "after_case",
        ["D09", "D03"],
        "窓口で対応した住民を受付完了後に再び照会",
        [_uid(person)],
        [subject],
        case_id=str(case["case_id"]),
        case_closed_at=closed_at.isoformat(timespec="seconds") + "+09:00",
        days_after=(visits[0] - closed_at.date()).days,
    )


def temporary_card(p: Planter, k: int) -> None:
    """仙台市 2022: a temporary card not tied to a person used to find one resident, on two terminals."""
    section = p.section_choice(WORKING)
    operator = p.person(section)  # who really used it: not in the logs, so free for another incident
    p._used.discard(_uid(operator))
    others = p.staff[(p.staff["section_code"] == section) & (p.staff["user_id"] != operator["user_id"])]
    if others.empty:
        raise NoOneLeft("no second terminal")
    second = str(others.iloc[int(p.rng.integers(0, len(others)))]["terminal_id"])
    account = f"tmp{section}{k + 1:02d}"
    target = p.residents_without_case(1)
    index = p.pick_index(0.0, 0.8)
    window = p.days_between(p.day(index), p.day(index) + timedelta(days=p.count(2, 6)))
    if len(window) < 2:
        window = [p.day(index), p.day(index + 1)]
    lookups = p.count(4, 8)
    days = sorted([window[0], window[-1]] + [window[int(i)] for i in p.rng.integers(0, len(window), lookups - 2)])
    terminal = str(operator["terminal_id"])
    for j, day in enumerate(days):
        hour = p.hour(9.0, 16.5)
        p.lookups(operator, day, hour, target, actions=("search", "view"), terminal=terminal, user=account)
        if j == 0:  # the card is passed on: the same ID signed in at a colleague's terminal at the same time
            p.lookups(
                operator, day, hour + p.hour(0.02, 0.08), target, actions=("view",), terminal=second, user=account
            )
    world = p.world
    spec = SECTION_BY_CODE[section]
    if not (world.accounts["user_id"] == account).any():
        world.accounts = pd.concat(
            [
                world.accounts,
                pd.DataFrame(
                    [
                        {
                            "user_id": account,
                            "staff_id": None,
                            "kind": "temporary",
                            "created_on": "2025-04-01",
                            "disabled_on": None,
                            "note": f"臨時カード（{spec.name}・個人に紐付かない）",
                        }
                    ]
                ),
            ],
            ignore_index=True,
        )
        grant = {
            "user_id": account,
            "role": spec.role,
            "valid_from": date(2025, 4, 1),
            "valid_to": date(2026, 4, 1),
            "approver": f"{section}-head",
            "status": "active",
        }
        world.grants = pd.concat([world.grants, pd.DataFrame([grant])], ignore_index=True)
    p.record(
        "temporary_card",
        ["D06", "D10", "D03"],
        "個人に紐付かない臨時カードで特定の住民を繰り返し照会",
        [account],
        target,
        note="臨時IDの実際の使用者はログに現れない（真の使用者は extra.operated_by）",
        operated_by=_uid(operator),
        terminals=[terminal, second],
        lookups=len(days),
    )


def dormant_reactivated(p: Planter, k: int) -> None:
    """An ID silent for weeks is suddenly used at night from another section's terminal."""
    person = p.person()
    config = p.world.config
    quiet_until = config.start + timedelta(days=21 if config.days >= 28 else max(1, (2 * config.days) // 3))
    later = [d for d in p.days if d >= quiet_until]
    if not later:
        raise NoOneLeft("period too short for a dormant ID")
    day = later[int(p.rng.integers(0, len(later)))]
    section = str(person["section_code"])
    others = p.staff[p.staff["section_code"].isin([c for c in WORKING if c != section])]
    foreign = str(others.iloc[int(p.rng.integers(0, len(others)))]["terminal_id"])
    subjects = p.residents_without_case(p.count(2, 5))
    p.lookups(person, day, p.hour(20.0, 22.8), subjects, terminal=foreign)
    p.drop.append((_uid(person), datetime.combine(config.start, time(0)), datetime.combine(day, time(0))))
    p.record(
        "dormant_reactivated",
        ["D13"],
        "長期間使われていなかったIDが夜間に他課の端末で使用された",
        [_uid(person)],
        subjects,
        note=(
            f"The demo period ({config.days} days) cannot hold 60 idle days: the owner is on leave (no events "
            f"at all) from {config.start} until {day}, then the ID is used at night from another section's "
            "terminal. It also looks like D01 / D11 / D03."
        ),
        idle_from=config.start.isoformat(),
        idle_to=day.isoformat(),
        terminal=foreign,
        also=["D01", "D11", "D03"],
    )


def usb_copy(p: Planter, k: int) -> None:
    """鴨川市 2022–23: someone at another section's desk uses a colleague's account to export residents."""
    section = p.section_choice(WORKING)
    owner = p.person(section)
    others = p.staff[p.staff["section_code"].isin([c for c in WORKING if c != section])]
    foreign = str(others.iloc[int(p.rng.integers(0, len(others)))]["terminal_id"])
    spec = SECTION_BY_CODE[section]
    day = p.pick_day()
    start = p.at(day, p.hour(12.05, 12.7))  # the owner is away at lunch
    session = p.session(
        _uid(owner), foreign, start - timedelta(minutes=2), start + timedelta(minutes=25), FACTORS[spec.system]
    )
    total = 0
    when = start
    for j in range(p.count(1, 2)):
        count = p.count(800, 5000)
        total += count
        when += timedelta(minutes=int(p.rng.integers(2, 9)))
        action = "export" if j == 0 else "print"
        p.event(
            when, _uid(owner), foreign, session, spec.system, spec.jimu, action, None, count=count,
            detail="外部媒体（USB）へ出力" if action == "export" else "一覧 一括印刷",
        )  # fmt: skip
    p.record(
        "usb_copy",
        ["D14", "D11"],
        f"他課の端末から他人のIDで{total:,}人分を出力（USB）",
        [_uid(owner)],
        [],
        count=total,
        terminal=foreign,
    )


def anomaly(p: Planter, k: int) -> None:
    """A day unlike the user's own history and peers: several times the usual volume of views of many
    residents without a case, in office hours, on the user's own terminal — no single rule broken."""
    section = p.section_choice(WITH_CASES)
    person = p.person(section)
    spec = SECTION_BY_CODE[section]
    usual = max(4.0, spec.items_per_day * p.world.config.activity)
    factor = p.hour(4.0, 6.0)
    subjects = p.residents_without_case(round(usual * (factor - 1)))
    day = p.pick_day(0.5, 1.0)
    terminal = p.terminal(person, day)
    start, end = p.at(day, 9.0), p.at(day, 17.0)
    session = p.session(
        _uid(person), terminal, start - timedelta(minutes=6), end + timedelta(minutes=6), FACTORS[spec.system]
    )
    offsets = np.sort(p.rng.uniform(0, 8 * 3600 - 120, len(subjects)))
    for subject, offset in zip(subjects, offsets, strict=True):
        when = start + timedelta(seconds=int(offset))
        p.event(when, _uid(person), terminal, session, spec.system, spec.jimu, "search", subject)
        p.event(
            when + timedelta(seconds=int(p.rng.integers(10, 60))),
            _uid(person),
            terminal,
            session,
            spec.system,
            spec.jimu,
            "view",
            subject,
        )
    p.record(
        "anomaly",
        ["D21", "D03"],
        "普段の数倍の件数を案件なしで閲覧（単独のルール違反なし）",
        [_uid(person)],
        subjects,
        usual_items_per_day=usual,
        factor=round(factor, 2),
    )


def audit_tampering(p: Planter, k: int) -> None:
    """岩手県の事例: an administrator switches the welfare inquiry log off in the evening and on again the
    next working morning: the records in between are lost, and the sequence numbers show the gap."""
    admin = p.admin()
    terminal = str(p.world.staff.loc[p.world.staff["staff_id"] == admin["staff_id"], "terminal_id"].iloc[0])
    planted_welfare = [r["ts"] for r in p.rows if r["source"] == "welfare"]
    for _ in range(20):
        index = p.pick_index(0.1, 1.0)
        if index + 1 >= len(p.days):
            continue
        off = p.at(p.day(index), p.hour(18.3, 20.5))
        on = p.at(p.day(index + 1), p.hour(9.6, 11.5))
        clash = any(off <= t <= on for t in planted_welfare)  # type: ignore[operator]
        overlap = any(not (on < a or b < off) for a, b in p.gaps)
        if not clash and not overlap:
            break
    else:
        raise NoOneLeft("no free window for a gap")
    user = str(admin["user_id"])
    for when, detail in (
        (off, "操作ログ出力設定変更（照会ログ出力=無効）"),
        (on, "操作ログ出力設定変更（照会ログ出力=有効）"),
    ):
        session = p.session(user, terminal, when - timedelta(minutes=3), when + timedelta(minutes=12), "password,vein")
        p.event(when, user, terminal, session, "welfare", "システム管理", "audit_config", None, count=0, detail=detail)
    p.gaps.append((off, on))
    tampering = p.record(
        "audit_tampering",
        ["D16", "D01"],
        "時間外の操作ログ設定変更と福祉システムログの欠落",
        [user],
        [],
        gap_source="welfare",
        gap_from=off.isoformat(),
        gap_to=on.isoformat(),
    )
    p.record(
        "sequence_gap",
        ["D16"],
        "福祉システム操作ログの連番の欠落",
        [],
        [],
        off,
        on,
        0,
        note="Records between the two settings changes were never written; seq_from..seq_to are missing.",
        source="welfare",
        seq_from=None,  # filled in by the generator when the welfare log is written
        seq_to=None,
        cause=tampering.id,
    )


def silent_source(p: Planter, k: int) -> None:
    """The 中間サーバー log stops arriving for the last four open days."""
    if k > 0:
        return
    last = p.day(len(p.days) - 1)
    start = datetime.combine(p.silent_from, time(0))
    p.record(
        "silent_source", ["D18"], "中間サーバーのログが途絶", [], [], start, datetime.combine(last, time(23, 59)), 0,
        source="linkage",
    )  # fmt: skip


#: every planter, in the order of a round: first the kinds that need people of one section (or the
#: administrators), so that a small town still gets one of each; the cluster takes who is left
PLANTERS: list[Callable[[Planter, int], None]] = [
    retired_terminal, mynumber_out_of_role, after_case, off_hours, after_transfer, after_retirement,
    bulk_export, other_section_terminal, privileged, audit_tampering, linkage_without_case,
    missing_second_factor, relatives, neighbourhood, shared_id, repetition, watchlist_dv, temporary_card,
    dormant_reactivated, usb_copy, anomaly, curiosity_cluster, silent_source,
]  # fmt: skip
#: every kind that appears in truth.json (a sequence gap is recorded with each audit tampering)
KINDS: tuple[str, ...] = (*(plant_one.__name__ for plant_one in PLANTERS), "sequence_gap")


def _drop(frame: pd.DataFrame, column: str, drops: list[tuple[str, datetime, datetime | None]]) -> pd.DataFrame:
    if not drops or frame.empty:
        return frame
    keep = np.ones(len(frame), dtype=bool)
    users = frame["user_id"].to_numpy()
    stamps = frame[column].to_numpy().astype("datetime64[s]")
    for user, since, until in drops:
        gone = (users == user) & (stamps >= np.datetime64(since))
        if until is not None:
            gone &= stamps < np.datetime64(until)
        keep &= ~gone
    return frame[keep].reset_index(drop=True)


def plant(world: World, activity: Activity) -> list[Incident]:
    """Plant every incident kind (``incidents_per_kind`` rounds, one instance of each kind per round);
    adjust generated activity (transfers, retirements, leave, gaps, silence)."""
    planter = Planter(world, activity)
    rounds = planter.per_kind
    for k in range(rounds):
        for plant_one in PLANTERS:
            planter.attempt(plant_one, k)
    activity.events[0] = _drop(activity.events[0], "ts", planter.drop)
    activity.sessions[0] = _drop(activity.sessions[0], "start", planter.drop)
    # the other generated streams (linkage inquiries, look-alikes) of people who are gone or away
    for i in range(1, len(activity.events)):
        if "user_id" in activity.events[i]:
            activity.events[i] = _drop(activity.events[i], "ts", planter.drop)
    for i in range(1, len(activity.sessions)):
        activity.sessions[i] = _drop(activity.sessions[i], "start", planter.drop)
    activity.events.append(pd.DataFrame(planter.rows))
    activity.sessions.append(pd.DataFrame(planter.sessions))
    world.notes["incidents"] = planter.incidents
    world.notes["gaps"] = planter.gaps
    return planter.incidents
