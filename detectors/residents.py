"""Resident-centred detectors: who looked at which resident, and was there a reason (D03–D09, D17).

Most misuse of 特定個人情報 in the incidents of DOMAIN.md was a lookup that broke no access rule: the
clerk had the right to the system and the 事務, at a normal hour, on their own terminal. What made it
misuse was the *resident*: nobody in the clerk's section had a matter with them (D03), they were the
clerk or a relative (D04, 所沢市), a neighbour (D05, 印西市), the same person again and again (D06,
仙台市), the person in the news that many colleagues opened (D07, 横手市), a protected person (D08,
DV等支援措置), a former counter customer (D09, 姫路市), or the subject of a 中間サーバー inquiry with no
basis (D17).

They share one notion, an **unexplained lookup**: a successful operation on one identified resident
with no case open for the user's section or assigned to the user (``has_case``), where

- a case that covered another lookup of the same resident by the same user on the same day explains
  the whole day's look (a search a minute before the counter reception is registered, the last view
  after it is closed);
- a case of the user's section (or assigned to the user) registered within ``case_grace_minutes``
  after the lookup explains it (the resident is searched first, the application recorded next).

The curiosity family (D03, D05, D06, D07, D09) looks at people, not machines: batch accounts run
jobs, and administrators touching resident data are D15's; 中間サーバー inquiries are D17's and
provisions answer another body's inquiry (the user did not choose the resident). Everyday quick
inquiries without a case (電話照会) are legitimate and common, so those detectors fire on a pattern
(several residents, several looks, several users) and only once per story: a "N in M days" rule fires
on the day the count *reaches* the threshold, not again every day it stays above it.

D04 and D08 fire on a single lookup: they are rare, and each one is serious.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, cast

import numpy as np
import pandas as pd
from pydantic import Field

from detectors.base import Detector, Finding, Thresholds, day_text, span
from detectors.window import LOCAL_TZ, Window, case_index, derive, lookup_columns

#: Accounts outside the curiosity family: jobs, and administrators (D15 watches those).
NOT_PEOPLE = ("batch", "admin")
#: Operations on a resident the user did not choose, or that D17 judges.
LINKAGE = ("link_inquiry", "link_provide")
#: Columns read from history: what :func:`derive` needs to tell whether a case explained a lookup.
HISTORY_COLUMNS = ("event_id", "ts", "source", "system", "user_id", "terminal_id", "jimu", "action",
                   "subject_hash", "result")  # fmt: skip
CATEGORY_JA = {"dv_support": "DV等支援措置対象者", "public_figure": "著名人等", "staff": "職員である住民"}
CATEGORY_EN = {"dv_support": "DV-support", "public_figure": "public-figure", "staff": "staff-member"}


class CaseParams(Thresholds):
    """What every detector of the family shares: how long after a lookup a new case still explains it."""

    case_grace_minutes: int = Field(
        60,
        ge=0,
        description="a case of the user's section registered within this many minutes after a lookup explains "
        "it: the resident is searched first and the reception or application recorded next, within the hour",
    )


# -- shared steps --------------------------------------------------------------------------------------------


def _utc(values: pd.Series) -> pd.Series:
    """Instants as UTC; naive values are Japan time."""
    stamps = pd.to_datetime(values, errors="coerce")
    if getattr(stamps.dt, "tz", None) is None:
        return stamps.dt.tz_localize(LOCAL_TZ).dt.tz_convert("UTC")
    return stamps.dt.tz_convert("UTC")


def _local_day(values: pd.Series) -> pd.Series:
    """Dates (naive or aware) as naive Japan midnights, comparable with ``events["day"]``."""
    stamps = pd.to_datetime(values, errors="coerce")
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
    return stamps.dt.floor("D")


def _day_start(instant: pd.Timestamp) -> pd.Timestamp:
    """The Japan midnight at or before ``instant``, as UTC."""
    return instant.tz_convert(LOCAL_TZ).floor("D").tz_convert("UTC")


def _mine(frame: pd.DataFrame) -> np.ndarray:
    """Rows of an events × cases merge where the case is the user's section's or assigned to the user."""
    section = (frame["section_code"].astype(str) == frame["section"].astype(str)).to_numpy()
    assignee = (frame["assignee"].astype(str) == frame["staff_id"].astype(str)).to_numpy()
    return np.asarray(section | assignee, dtype=bool)


def _explained(frame: pd.DataFrame, cases: pd.DataFrame, grace: timedelta) -> np.ndarray:
    """Per lookup of ``frame``: a case explains it (see the module docstring)."""
    if frame.empty:
        return np.zeros(0, dtype=bool)
    has: np.ndarray = frame["has_case"].fillna(False).to_numpy(dtype=bool)
    same_day = pd.Series(has, index=frame.index).groupby(
        [frame["user_id"], frame["subject_hash"], frame["day"]], dropna=False, observed=True
    )
    has = np.asarray(has | same_day.transform("any").to_numpy(dtype=bool), dtype=bool)
    rest = frame.loc[~has, ["subject_hash", "ts", "section", "staff_id"]].assign(pos=np.flatnonzero(~has))
    if rest.empty or cases.empty or grace <= timedelta(0):
        return has
    joined = case_index(cases).join(rest, ("section_code", "assignee", "opened_at"))
    soon = ((joined["opened_at"] > joined["ts"]) & (joined["opened_at"] <= joined["ts"] + grace)).to_numpy()
    has[joined.loc[_mine(joined) & soon, "pos"].to_numpy(dtype=int)] = True
    return has


def _with_reason(frame: pd.DataFrame, cases: pd.DataFrame, grace_minutes: int) -> pd.DataFrame:
    """The lookups of ``frame`` with an ``explained`` column."""
    lookups = frame[frame["is_lookup"].to_numpy(dtype=bool)]
    return lookups.assign(explained=_explained(lookups, cases, timedelta(minutes=grace_minutes)))


def _people(frame: pd.DataFrame) -> pd.DataFrame:
    """Lookups by people (not batch or administrator accounts) that are not 中間サーバー traffic."""
    keep = ~frame["account_kind"].isin(NOT_PEOPLE).to_numpy(dtype=bool) & ~frame["action"].isin(LINKAGE).to_numpy(
        dtype=bool
    )
    return frame[keep]


def _window_lookups(window: Window, grace_minutes: int) -> pd.DataFrame:
    """The window's lookups with ``explained``, computed once per window and grace."""
    name = f"residents.lookups.{grace_minutes}"
    if name not in window.cache:
        window.cache[name] = _with_reason(window.events, window.cases, grace_minutes)
    frame: pd.DataFrame = window.cache[name]
    return frame


def _with_history(
    window: Window,
    since: pd.Timestamp,
    grace_minutes: int,
    *,
    users: Sequence[str] | None = None,
    subjects: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Lookups of the window and of the history since ``since`` (narrowed), with ``explained`` judged on
    both together (so a case that covered a lookup before the window start still explains the day)."""
    past = window.history(since, users=users, subjects=subjects, columns=HISTORY_COLUMNS)
    if past.empty:
        return _window_lookups(window, grace_minutes)
    derived = derive(past, window.reference, window.cases)
    both = pd.concat([derived, window.events], ignore_index=True)
    return _with_reason(both, window.cases, grace_minutes)


def _elapsed(delta: pd.Timedelta) -> tuple[str, str]:
    hours = delta.total_seconds() / 3600
    if hours < 24:
        return f"{max(1, round(hours))}時間", f"{max(1, round(hours))} hour(s)"
    return f"{int(hours // 24)}日", f"{int(hours // 24)} day(s)"


def _crossings(
    points: pd.DataFrame, groups: list[str], days: int, reached: Any, window_days: pd.Series
) -> pd.DataFrame:
    """Days on which a trailing ``days``-day count per group *reaches* its threshold.

    ``points`` has ``groups``, ``day`` and ``item`` (what is counted); ``reached(items, n_days)`` says
    whether the distinct items and distinct days of a trailing period meet the threshold. A day fires
    when it meets it and the day before did not, and only days of the window are judged (earlier days
    fired, or not, in earlier windows). Returns ``groups`` + ``cross_day``, sorted."""
    firing_days = points.loc[points["day"].isin(window_days), [*groups, "day"]].drop_duplicates()
    if firing_days.empty:
        return pd.DataFrame(columns=[*groups, "cross_day"])
    today = firing_days.rename(columns={"day": "D"})
    evals = pd.concat([today, today.assign(D=today["D"] - pd.Timedelta(days=1))]).drop_duplicates()
    joined = evals.merge(points[[*groups, "day", "item"]], on=groups)
    inside = (joined["day"] <= joined["D"]) & (joined["day"] > joined["D"] - pd.Timedelta(days=days))
    counted = (
        joined[inside.to_numpy()]
        .groupby([*groups, "D"], observed=True)
        .agg(items=("item", "nunique"), n_days=("day", "nunique"))
        .reset_index()
    )
    met = counted[reached(counted["items"], counted["n_days"]).to_numpy(dtype=bool)]
    met_keys = met[[*groups, "D"]].assign(met=True)
    before = today.assign(D=today["D"] - pd.Timedelta(days=1)).merge(met_keys, on=[*groups, "D"], how="left")
    now = today.merge(met_keys, on=[*groups, "D"], how="left")
    fires = now["met"].fillna(False).to_numpy(dtype=bool) & ~before["met"].fillna(False).to_numpy(dtype=bool)
    out: pd.DataFrame = now.loc[fires, [*groups, "D"]].rename(columns={"D": "cross_day"})
    return out.sort_values([*groups, "cross_day"]).reset_index(drop=True)


def _stories(events: pd.DataFrame, fires: pd.DataFrame, groups: list[str], days: int) -> pd.DataFrame:
    """The events of each crossing: its group's from ``days`` before the crossing day until the day
    before the group's next crossing (or the end of the window)."""
    f = fires.copy()
    f["until"] = f.groupby(groups, observed=True)["cross_day"].shift(-1) - pd.Timedelta(days=1)
    joined = events.merge(f, on=groups)
    inside = (joined["day"] > joined["cross_day"] - pd.Timedelta(days=days)) & (
        joined["until"].isna() | (joined["day"] <= joined["until"])
    )
    return joined[inside.to_numpy()]


# -- D03 ------------------------------------------------------------------------------------------------------


class NoCase(Detector):
    """D03. Lookups of residents nobody in the user's section has a matter with (四日市市 2018–19).

    A few quick inquiries without a case are everyday work (a phone call, a colleague's question), so
    one account and day make a finding only when they reach ``min_residents`` distinct residents."""

    code = "D03"
    key = "no_case"
    severity = "medium"
    title_ja = "業務上の案件がない住民の照会"
    title_en = "Lookups of residents with no business case"
    control = "業務外・目的外の使用の禁止（R4, R12）"

    class Params(CaseParams):
        min_residents: int = Field(
            3,
            ge=1,
            description="distinct unexplained residents of one account in a day: quick inquiries without a case "
            "are about 0.4 % of items (well under one a day per clerk), three in one day is a pattern",
        )

    def detect(self, window: Window) -> list[Finding]:
        p = cast(NoCase.Params, self.params)
        lookups = _people(_window_lookups(window, p.case_grace_minutes))
        alone = lookups[~lookups["explained"].to_numpy(dtype=bool)]
        if alone.empty:
            return []
        residents = alone.groupby(["user_id", "day"], observed=True)["subject_hash"].transform("nunique")
        chosen = alone[residents.to_numpy() >= p.min_residents]

        def explain(row: pd.Series) -> tuple[str, str]:
            when = span(row["start"], row["end"])
            return (
                f"アカウント {row['user_id']} が {when} に、所属課の案件も本人担当の案件もない住民"
                f"{row['n_subjects']}人を照会しました（{row['n_events']}件）。",
                f"Account {row['user_id']} looked up {row['n_subjects']} residents with no case open in its "
                f"section or assigned to it ({row['n_events']} operations, {when}).",
            )

        return self.findings(
            chosen,
            ["user_id", "day"],
            explain,
            key=lambda row: f"{row['user_id']}|{day_text(row['day'])}",
            evidence=lambda row: {"residents": int(row["n_subjects"]), "threshold": p.min_residents},
        )


# -- D04 ------------------------------------------------------------------------------------------------------


class SelfOrRelative(Detector):
    """D04. The user's own record, their household's, or a same-surname resident of their own area
    (所沢市 2023, 大阪市生野区 2018).

    Self and household without a case are ``critical``. Inside a case it depends on whose case it is:

    - a case *assigned* to the user (or to a colleague) is flagged at ``medium``: a clerk should hand
      their own or their family's matter over (the 所沢市 clerk filed the false claims himself), and a
      colleague's matter gives the user no reason to open the record;
    - the section's unassigned work queue (an 当初賦課 assessment open for half the town) explains
      it: the clerk did not choose the record, it came up in the queue, and flagging it would make
      every clerk's own tax return an alert each spring.

    A same surname in the same area is only a hint of kinship (common surnames), so it is flagged
    without a case only, at ``high``."""

    code = "D04"
    key = "self_or_relative"
    severity = "critical"
    title_ja = "本人・親族の情報の照会"
    title_en = "Lookups of the user's own or relatives' records"
    control = "業務外・目的外の使用の禁止（本人・親族の情報）（R12）"
    Params = CaseParams

    def detect(self, window: Window) -> list[Finding]:
        p = cast(CaseParams, self.params)
        lookups = _window_lookups(window, p.case_grace_minutes)
        lookups = lookups[(lookups["account_kind"] != "batch").to_numpy(dtype=bool) & lookups["staff_id"].notna()]
        staff = window.reference.staff_by_id
        if lookups.empty or staff.empty:
            return []
        residents = window.residents_by_subject
        person = lookup_columns(lookups["staff_id"], staff, ("resident_hash", "household_hash", "home_area"))
        own, home = person["resident_hash"], person["household_hash"]
        own_record = lookup_columns(own, residents, ("surname_kana", "area_code"))
        own_surname, own_area = own_record["surname_kana"], own_record["area_code"].fillna(person["home_area"])
        subject = lookups["subject_hash"].astype(str)
        is_self = (own.notna() & (subject == own.astype(str))).to_numpy(dtype=bool)
        record = lookup_columns(subject, residents, ("household_hash", "surname_kana", "area_code"))
        household, surname, area = record["household_hash"], record["surname_kana"], record["area_code"]
        same_home = (household.notna() & home.notna() & (household.astype(str) == home.astype(str))).to_numpy(
            dtype=bool
        ) & ~is_self
        kin = (
            (
                surname.notna()
                & own_surname.notna()
                & (surname.astype(str) == own_surname.astype(str))
                & area.notna()
                & (area.astype(str) == own_area.astype(str))
            ).to_numpy(dtype=bool)
            & ~is_self
            & ~same_home
        )
        explained = lookups["explained"].to_numpy(dtype=bool)
        close = is_self | same_home
        queued = np.zeros(len(lookups), dtype=bool)
        queued[close] = _in_queue(lookups[close], window.cases)
        flag = (close & ~queued) | (kin & ~explained)
        relation = np.select([is_self, same_home], ["self", "household"], "surname_area")
        chosen = lookups[flag].assign(relation=relation[flag])
        if chosen.empty:
            return []
        by_id = chosen.set_index("event_id")
        relation_of, explained_of, subjects_of = by_id["relation"], by_id["explained"], by_id["subject_hash"]

        def parts(row: pd.Series) -> dict[str, Any]:
            rel = relation_of.reindex(row["events"])
            subjects = subjects_of.reindex(row["events"])
            people = {k: int(subjects[rel == k].nunique()) for k in ("self", "household", "surname_area")}
            inside = explained_of.reindex(row["events"]).to_numpy(dtype=bool)
            return {**people, "without_case": int((~inside).sum()), "events": len(inside)}

        def explain(row: pd.Series) -> tuple[str, str]:
            n = parts(row)
            ja, en = [], []
            if n["self"]:
                ja.append("職員本人の記録")
                en.append("the user's own record")
            if n["household"]:
                ja.append(f"同一世帯の住民{n['household']}人")
                en.append(f"{n['household']} member(s) of the user's household")
            if n["surname_area"]:
                ja.append(f"同姓で同じ地区の住民{n['surname_area']}人")
                en.append(f"{n['surname_area']} resident(s) of the same surname and area")
            when = span(row["start"], row["end"])
            return (
                f"アカウント {row['user_id']} が {when} に、{'・'.join(ja)}を照会しました"
                f"（{n['events']}件、うち案件なし{n['without_case']}件）。",
                f"Account {row['user_id']} looked up {', '.join(en)} at {when} "
                f"({n['events']} operations, {n['without_case']} without a case).",
            )

        def severity(row: pd.Series) -> str:
            n = parts(row)
            if n["self"] or n["household"]:
                return "critical" if n["without_case"] else "medium"
            return "high"

        return self.findings(
            chosen,
            ["user_id", "day"],
            explain,
            key=lambda row: f"{row['user_id']}|{day_text(row['day'])}",
            evidence=lambda row: {**parts(row), "actions": _actions(chosen, row)},
            severity=severity,
        )


def _in_queue(frame: pd.DataFrame, cases: pd.DataFrame) -> np.ndarray:
    """Per lookup: an unassigned case of the user's section was open then (the section's work queue)."""
    out = np.zeros(len(frame), dtype=bool)
    if frame.empty or cases.empty:
        return out
    rows = frame[["subject_hash", "ts", "section"]].assign(pos=np.arange(len(frame)))
    joined = case_index(cases).join(rows, ("section_code", "assignee", "opened_at", "closed_at"))
    open_then = (
        joined["assignee"].isna()
        & (joined["section_code"].astype(str) == joined["section"].astype(str))
        & (joined["opened_at"] <= joined["ts"])
        & (joined["closed_at"].isna() | (joined["closed_at"] >= joined["ts"]))
    )
    out[joined.loc[open_then.to_numpy(dtype=bool), "pos"].to_numpy(dtype=int)] = True
    return out


def _actions(frame: pd.DataFrame, row: pd.Series) -> dict[str, int]:
    actions = frame.set_index("event_id")["action"].reindex(row["events"]).value_counts()
    return {str(k): int(v) for k, v in actions.items()}


# -- D05 ------------------------------------------------------------------------------------------------------


class Neighbourhood(Detector):
    """D05. Several unexplained lookups of residents of the user's own address area (印西市 2021).

    Needs ``staff.home_area``; the user's own household is D04's and not counted here."""

    code = "D05"
    key = "neighbourhood"
    severity = "high"
    title_ja = "自宅周辺の住民の照会"
    title_en = "Lookups of the user's neighbours"
    control = "業務外・目的外の使用の禁止（R12）"

    class Params(CaseParams):
        min_residents: int = Field(
            3,
            ge=1,
            description="distinct unexplained neighbours within days: quick inquiries fall in the user's own area "
            "by chance a few times a year at most, three within two weeks is a pattern",
        )
        days: int = Field(14, ge=1, description="two weeks: long enough to join a habit spread over visits")

    @property
    def lookback(self) -> timedelta:
        return timedelta(days=cast(Neighbourhood.Params, self.params).days)

    def _neighbours(self, frame: pd.DataFrame, window: Window) -> pd.DataFrame:
        staff = window.reference.staff_by_id
        residents = window.residents_by_subject
        if frame.empty or staff.empty or residents.empty or "home_area" not in staff:
            return frame.iloc[0:0]
        alone = _people(frame)
        alone = alone[~alone["explained"].to_numpy(dtype=bool) & alone["staff_id"].notna()]
        person = lookup_columns(alone["staff_id"], staff, ("home_area", "household_hash", "resident_hash"))
        home_area, own_household, own = person["home_area"], person["household_hash"], person["resident_hash"]
        record = lookup_columns(alone["subject_hash"], residents, ("area_code", "household_hash"))
        area, household = record["area_code"], record["household_hash"]
        near = home_area.notna() & (area.astype(str) == home_area.astype(str))
        family = (household.notna() & (household.astype(str) == own_household.astype(str))) | (
            alone["subject_hash"].astype(str) == own.astype(str)
        )
        chosen = alone[(near & ~family).to_numpy(dtype=bool)]
        return chosen.assign(area=home_area[chosen.index])

    def detect(self, window: Window) -> list[Finding]:
        p = cast(Neighbourhood.Params, self.params)
        now = self._neighbours(_window_lookups(window, p.case_grace_minutes), window)
        if now.empty:
            return []
        since = _day_start(window.start) - pd.Timedelta(days=p.days)
        users = sorted(now["user_id"].astype(str).unique())
        frame = self._neighbours(_with_history(window, since, p.case_grace_minutes, users=users), window)
        frame = frame[frame["user_id"].astype(str).isin(users)]
        points = frame[["user_id", "day"]].assign(item=frame["subject_hash"].astype(str))
        fires = _crossings(
            points, ["user_id"], p.days, lambda items, _days: items >= p.min_residents, now["day"].drop_duplicates()
        )
        if fires.empty:
            return []
        chosen = _stories(frame, fires, ["user_id"], p.days)

        def explain(row: pd.Series) -> tuple[str, str]:
            when = span(row["start"], row["end"])
            return (
                f"アカウント {row['user_id']} が {when} に、職員の自宅と同じ地区の住民{row['n_subjects']}人を"
                f"案件なしで照会しました（{p.days}日間で{p.min_residents}人以上、{row['n_events']}件）。",
                f"Account {row['user_id']} looked up {row['n_subjects']} residents of its own home area with no "
                f"case at {when} (threshold {p.min_residents} in {p.days} days; {row['n_events']} operations).",
            )

        return self.findings(
            chosen,
            ["user_id", "cross_day"],
            explain,
            key=lambda row: f"{row['user_id']}|{day_text(row['cross_day'])}",
            evidence=lambda row: {
                "residents": int(row["n_subjects"]),
                "threshold": p.min_residents,
                "days": p.days,
            },
        )


# -- D06 ------------------------------------------------------------------------------------------------------


class Repetition(Detector):
    """D06. One account looks up one resident again and again with no case (仙台市 2022, 四日市市).

    Counted in *looks*, not events: a search and its views with less than ``look_gap_minutes``
    between them are one look, so one careful reading of a record is not a repetition."""

    code = "D06"
    key = "repetition"
    severity = "high"
    title_ja = "同一住民の繰り返し照会"
    title_en = "Repeated lookups of one resident"
    control = "業務外・目的外の使用の禁止（R12）"

    class Params(CaseParams):
        min_looks: int = Field(
            3,
            ge=2,
            description="separate looks at one resident without a case: a caller who rings back explains two, "
            "a third is a habit",
        )
        min_days: int = Field(2, ge=1, description="on at least this many days: several looks in one sitting are D03's")
        days: int = Field(14, ge=1, description="two weeks, the span over which a fixation shows")
        look_gap_minutes: int = Field(30, ge=1, description="operations closer than this are one look at a record")

    @property
    def lookback(self) -> timedelta:
        return timedelta(days=cast(Repetition.Params, self.params).days)

    def detect(self, window: Window) -> list[Finding]:
        p = cast(Repetition.Params, self.params)
        now = _people(_window_lookups(window, p.case_grace_minutes))
        now = now[~now["explained"].to_numpy(dtype=bool)]
        if now.empty:
            return []
        since = _day_start(window.start) - pd.Timedelta(days=p.days)
        subjects = sorted(now["subject_hash"].astype(str).unique())
        frame = _people(_with_history(window, since, p.case_grace_minutes, subjects=subjects))
        frame = frame[~frame["explained"].to_numpy(dtype=bool)]
        pairs = now[["user_id", "subject_hash"]].drop_duplicates()
        frame = frame.merge(pairs, on=["user_id", "subject_hash"]).sort_values(["user_id", "subject_hash", "ts"])
        gap = frame.groupby(["user_id", "subject_hash"], observed=True)["ts"].diff()
        new_look = (gap.isna() | (gap > pd.Timedelta(minutes=p.look_gap_minutes))).to_numpy(dtype=bool)
        frame = frame.assign(look=np.cumsum(new_look))
        look_day = frame.groupby("look")["day"].transform("first")
        points = pd.DataFrame(
            {"user_id": frame["user_id"], "subject_hash": frame["subject_hash"], "day": look_day, "item": frame["look"]}
        ).drop_duplicates()
        fires = _crossings(
            points,
            ["user_id", "subject_hash"],
            p.days,
            lambda items, n_days: (items >= p.min_looks) & (n_days >= p.min_days),
            now["day"].drop_duplicates(),
        )
        if fires.empty:
            return []
        chosen = _stories(frame.assign(day=look_day), fires, ["user_id", "subject_hash"], p.days)
        chosen = chosen.assign(resident=chosen["subject_hash"].astype(str))
        looks = (
            chosen.groupby(["user_id", "resident", "cross_day"], observed=True)
            .agg(looks=("look", "nunique"), n_days=("day", "nunique"))
            .reset_index()
        )
        looks_of = {
            (str(u), str(r), day_text(d)): (int(n), int(k))
            for u, r, d, n, k in looks[["user_id", "resident", "cross_day", "looks", "n_days"]].itertuples(index=False)
        }

        def counts(row: pd.Series) -> tuple[int, int]:
            return looks_of[(str(row["user_id"]), str(row["resident"]), day_text(row["cross_day"]))]

        def explain(row: pd.Series) -> tuple[str, str]:
            n, d = counts(row)
            when = span(row["start"], row["end"])
            return (
                f"アカウント {row['user_id']} が {when} に、同じ住民1人の記録を案件なしで{d}日にわたり{n}回"
                f"照会しました（{p.days}日間で{p.min_looks}回以上、{row['n_events']}件）。",
                f"Account {row['user_id']} looked up the same resident {n} times on {d} days with no case at "
                f"{when} (threshold {p.min_looks} in {p.days} days; {row['n_events']} operations).",
            )

        return self.findings(
            chosen,
            ["user_id", "resident", "cross_day"],
            explain,
            key=lambda row: f"{row['user_id']}|{row['resident']}|{day_text(row['cross_day'])}",
            evidence=lambda row: {
                "looks": counts(row)[0],
                "days_with_looks": counts(row)[1],
                "threshold": p.min_looks,
                "days": p.days,
            },
        )


# -- D07 ------------------------------------------------------------------------------------------------------


class CuriosityCluster(Detector):
    """D07. Several accounts open one resident's record within a short time, none with a case
    (横手市 2020). One finding per resident; the accounts are in ``evidence["users"]``."""

    code = "D07"
    key = "curiosity_cluster"
    severity = "high"
    title_ja = "複数職員による同一住民への集中照会"
    title_en = "Many users looking at one resident"
    control = "業務外・目的外の使用の禁止（R12）"

    class Params(CaseParams):
        min_users: int = Field(
            3,
            ge=2,
            description="distinct accounts on one resident without a case: two can be a hand-over, three "
            "colleagues with no matter is the 横手市 pattern",
        )
        hours: int = Field(48, ge=1, description="the news cycle: curiosity about a resident spreads within two days")

    @property
    def lookback(self) -> timedelta:
        # the count at the event before the window's first needs a period of its own before it
        return timedelta(hours=2 * cast(CuriosityCluster.Params, self.params).hours)

    def detect(self, window: Window) -> list[Finding]:
        p = cast(CuriosityCluster.Params, self.params)
        period = pd.Timedelta(hours=p.hours)
        now = _people(_window_lookups(window, p.case_grace_minutes))
        now = now[~now["explained"].to_numpy(dtype=bool)]
        if now.empty:
            return []
        subjects = sorted(now["subject_hash"].astype(str).unique())
        frame = _people(_with_history(window, window.start - 2 * period, p.case_grace_minutes, subjects=subjects))
        frame = frame[~frame["explained"].to_numpy(dtype=bool) & frame["subject_hash"].astype(str).isin(subjects)]
        users = frame.groupby("subject_hash", observed=True)["user_id"].transform("nunique")
        frame = frame[users.to_numpy() >= p.min_users]
        if frame.empty:
            return []
        frame = frame.sort_values(["subject_hash", "ts", "event_id"]).reset_index(drop=True)
        frame["order"] = np.arange(len(frame))
        # distinct accounts with a lookup in (ts - period, ts], per lookup (few residents get here)
        pairs = frame[["subject_hash", "order", "ts"]].merge(
            frame[["subject_hash", "ts", "user_id"]].rename(columns={"ts": "other_ts"}), on="subject_hash"
        )
        pairs = pairs[((pairs["other_ts"] <= pairs["ts"]) & (pairs["other_ts"] > pairs["ts"] - period)).to_numpy()]
        count = pairs.groupby("order")["user_id"].nunique().reindex(frame["order"], fill_value=0).to_numpy()
        met = count >= p.min_users
        subject = frame["subject_hash"].astype(str).to_numpy()
        same_resident = np.r_[False, subject[1:] == subject[:-1]]
        previous = np.r_[False, met[:-1]] & same_resident
        crosses = met & ~previous & (frame["ts"] >= window.start).to_numpy()
        if not crosses.any():
            return []
        fires = frame.loc[crosses, ["subject_hash", "ts", "day"]].rename(columns={"ts": "cross_ts", "day": "cross_day"})
        joined = frame.merge(fires, on="subject_hash")
        inside = (joined["ts"] > joined["cross_ts"] - period) & (joined["ts"] <= joined["cross_ts"] + period)
        chosen = joined[inside.to_numpy()]
        chosen = chosen.assign(resident=chosen["subject_hash"].astype(str))
        users_of = chosen.groupby(["resident", "cross_ts"], observed=True).agg(
            users=("user_id", lambda s: sorted(s.astype(str).unique())),
            sections=("section", lambda s: sorted(s.dropna().astype(str).unique())),
        )

        def explain(row: pd.Series) -> tuple[str, str]:
            who = users_of.loc[(row["resident"], row["cross_ts"])]
            names = "、".join(who["users"])
            when = span(row["start"], row["end"])
            return (
                f"住民1人の記録を、{len(who['users'])}人の職員（{names}）が {when} に案件なしで照会しました"
                f"（{p.hours}時間以内に{p.min_users}人以上、{row['n_events']}件）。",
                f"{len(who['users'])} accounts ({', '.join(who['users'])}) looked up the same resident with no case "
                f"at {when} (threshold {p.min_users} within {p.hours} hours; {row['n_events']} operations).",
            )

        return self.findings(
            chosen,
            ["resident", "cross_ts", "cross_day"],
            explain,
            key=lambda row: f"{row['resident']}|{day_text(row['cross_day'])}",
            evidence=lambda row: {
                "users": list(users_of.loc[(row["resident"], row["cross_ts"]), "users"]),
                "sections": list(users_of.loc[(row["resident"], row["cross_ts"]), "sections"]),
                "threshold": p.min_users,
                "hours": p.hours,
            },
        )


# -- D08 ------------------------------------------------------------------------------------------------------


class Watchlist(Detector):
    """D08. Any lookup without a case of a resident on the watchlist that day: DV等支援措置 (a leaked
    address endangers a life, so ``critical``), public figures (生駒市, 延岡市), staff who are residents.

    Administrators are included (a protected record is worth a double report with D15); batch jobs
    and answers to another body's 中間サーバー inquiry are not (their checks are elsewhere)."""

    code = "D08"
    key = "watchlist"
    severity = "high"
    title_ja = "要保護・要注意住民の記録の照会"
    title_en = "Lookups of watch-listed residents"
    control = "業務外・目的外の使用の禁止、DV等支援措置対象者の情報保護（R12）"
    scope = "event"
    Params = CaseParams

    def detect(self, window: Window) -> list[Finding]:
        p = cast(CaseParams, self.params)
        lookups = _window_lookups(window, p.case_grace_minutes)
        keep = ~lookups["account_kind"].eq("batch").fillna(False).to_numpy(dtype=bool) & ~lookups["action"].eq(
            "link_provide"
        ).to_numpy(dtype=bool)
        alone = lookups[keep & ~lookups["explained"].to_numpy(dtype=bool)]
        watch = window.watchlist
        if alone.empty or watch.empty:
            return []
        w = watch[["subject_hash", "category"]].assign(
            valid_from=_local_day(watch["valid_from"]), valid_to=_local_day(watch["valid_to"])
        )
        joined = alone[["event_id", "subject_hash", "day"]].merge(w, on="subject_hash")
        valid = (joined["valid_from"].isna() | (joined["valid_from"] <= joined["day"])) & (
            joined["valid_to"].isna() | (joined["day"] <= joined["valid_to"])
        )
        joined = joined[valid.to_numpy()]
        if joined.empty:
            return []
        categories = joined.groupby("event_id")["category"].agg(lambda s: sorted(s.astype(str).unique()))
        chosen = alone[alone["event_id"].isin(categories.index)]

        def kinds(row: pd.Series) -> list[str]:
            return sorted({c for cs in categories.reindex(row["events"]) for c in cs})

        def explain(row: pd.Series) -> tuple[str, str]:
            ks = kinds(row)
            ja = "・".join(CATEGORY_JA.get(k, "要注意登録者") for k in ks)
            en = ", ".join(CATEGORY_EN.get(k, "watch-listed") for k in ks)
            when = span(row["start"], row["end"])
            return (
                f"アカウント {row['user_id']} が {when} に、{ja}として登録された住民{row['n_subjects']}人の記録を"
                f"案件なしで照会しました（{row['n_events']}件）。",
                f"Account {row['user_id']} looked up {row['n_subjects']} {en} resident(s) with no case at {when} "
                f"({row['n_events']} operations).",
            )

        return self.findings(
            chosen,
            ["user_id", "day"],
            explain,
            key=lambda row: f"{row['user_id']}|{day_text(row['day'])}",
            evidence=lambda row: {"categories": kinds(row), "residents": int(row["n_subjects"])},
            severity=lambda row: "critical" if "dv_support" in kinds(row) else None,
        )


# -- D09 ------------------------------------------------------------------------------------------------------


class AfterCase(Detector):
    """D09. A resident looked up again after the user's (or section's) case on them closed, with none
    open now (姫路市 2017: a counter customer looked up and visited at home).

    Closing paperwork right after the counter is normal (``grace_minutes``); a lookup more than
    ``max_days`` after the closure is no longer linked to that case and is D03's business."""

    code = "D09"
    key = "after_case"
    severity = "high"
    title_ja = "案件終了後の照会"
    title_en = "Lookups after the case closed"
    control = "業務外・目的外の使用の禁止（案件終了後の照会）（R12）"
    scope = "event"

    class Params(CaseParams):
        grace_minutes: int = Field(
            60, ge=0, description="closing paperwork after the customer leaves the counter takes up to an hour"
        )
        max_days: int = Field(90, ge=1, description="a quarter: beyond that the lookup is no longer tied to the case")

    def detect(self, window: Window) -> list[Finding]:
        p = cast(AfterCase.Params, self.params)
        lookups = _people(_window_lookups(window, p.case_grace_minutes))
        after = lookups["ts"] - lookups["case_closed_at"]
        late = (
            lookups["case_closed_at"].notna()
            & (after > pd.Timedelta(minutes=p.grace_minutes))
            & (after <= pd.Timedelta(days=p.max_days))
        ).to_numpy(dtype=bool)
        chosen = lookups[late & ~lookups["explained"].to_numpy(dtype=bool)]
        if chosen.empty:
            return []
        chosen = chosen.assign(after=after[chosen.index])
        rows = chosen[["event_id", "subject_hash", "section", "staff_id"]].assign(
            last_closed=_utc(chosen["case_closed_at"]).dt.as_unit("us")
        )
        joined = case_index(window.cases).join(rows, ("case_id", "kind", "section_code", "assignee", "closed_at"))
        same = (joined["closed_at"].dt.as_unit("us") == joined["last_closed"]).to_numpy(dtype=bool)
        joined = joined[same & _mine(joined)]
        closed_cases = joined.groupby("event_id").agg(
            ids=("case_id", lambda s: sorted(s.astype(str).unique())),
            kinds=("kind", lambda s: sorted(s.dropna().astype(str).unique())),
        )
        after_of = chosen.set_index("event_id")["after"]

        def facts(row: pd.Series) -> dict[str, Any]:
            cases = closed_cases.reindex(row["events"]).dropna()
            gaps = after_of.reindex(row["events"])
            return {
                "case_ids": sorted({i for ids in cases["ids"] for i in ids}),
                "case_kinds": sorted({k for ks in cases["kinds"] for k in ks}),
                "hours_after_min": round(gaps.min().total_seconds() / 3600, 1),
                "hours_after_max": round(gaps.max().total_seconds() / 3600, 1),
            }

        def explain(row: pd.Series) -> tuple[str, str]:
            gaps = after_of.reindex(row["events"])
            ja, en = _elapsed(gaps.min())
            counter = "reception" in facts(row)["case_kinds"]
            when = span(row["start"], row["end"])
            return (
                f"アカウント {row['user_id']} が {when} に、自課または本人担当の"
                f"{'窓口受付などの' if counter else ''}案件が終了した住民{row['n_subjects']}人を、"
                f"終了から{ja}以上たって案件なしで照会しました（{row['n_events']}件）。",
                f"Account {row['user_id']} looked up {row['n_subjects']} resident(s) at {when}, at least {en} after "
                f"its section's or its own {'counter ' if counter else ''}case on them closed, with none open "
                f"({row['n_events']} operations).",
            )

        return self.findings(
            chosen,
            ["user_id", "day"],
            explain,
            key=lambda row: f"{row['user_id']}|{day_text(row['day'])}",
            evidence=facts,
        )


# -- D17 ------------------------------------------------------------------------------------------------------


class LinkageWithoutCase(Detector):
    """D17. 中間サーバー inquiries (情報照会) about a resident with no case in the user's section and no
    approval covering them (熊谷市 PIA: 上長 approval before each inquiry; 番号法第23条 records).

    An approval covers an inquiry when its action is ``link_inquiry``, it names the account or the
    person, it is valid at that instant, and its 事務 (if it names one) is the inquiry's."""

    code = "D17"
    key = "linkage_without_case"
    severity = "high"
    title_ja = "案件・承認のない中間サーバー照会"
    title_en = "Linkage inquiries without a case or approval"
    control = "中間サーバー：上長承認、照会許可用照合リスト（R15）"
    scope = "event"
    Params = CaseParams

    def detect(self, window: Window) -> list[Finding]:
        p = cast(CaseParams, self.params)
        lookups = _window_lookups(window, p.case_grace_minutes)
        chosen = lookups[lookups["action"].eq("link_inquiry").to_numpy(dtype=bool)]
        chosen = chosen[~chosen["explained"].to_numpy(dtype=bool)]
        if chosen.empty:
            return []
        approvals = window.reference.approvals
        if len(approvals):
            a = approvals[approvals["action"].eq("link_inquiry").fillna(False).to_numpy(dtype=bool)]
            a = a.assign(valid_from=_utc(a["valid_from"]), valid_to=_utc(a["valid_to"]))
            rows = chosen[["event_id", "ts", "user_id", "staff_id", "jimu"]]
            by_user = rows.merge(a.drop(columns=["staff_id"]), on="user_id", suffixes=("", "_a"))
            by_staff = rows.dropna(subset=["staff_id"]).merge(
                a.drop(columns=["user_id"]).dropna(subset=["staff_id"]), on="staff_id", suffixes=("", "_a")
            )
            joined = pd.concat([by_user, by_staff], ignore_index=True)
            covers = (
                (joined["valid_from"].isna() | (joined["valid_from"] <= joined["ts"]))
                & (joined["valid_to"].isna() | (joined["ts"] <= joined["valid_to"]))
                & (joined["jimu_a"].isna() | (joined["jimu_a"].astype(str) == joined["jimu"].astype(str)))
            )
            covered = joined.loc[covers.to_numpy(dtype=bool), "event_id"]
            chosen = chosen[~chosen["event_id"].isin(covered)]
        if chosen.empty:
            return []

        def explain(row: pd.Series) -> tuple[str, str]:
            when = span(row["start"], row["end"])
            return (
                f"アカウント {row['user_id']} が {when} に、自課の案件も照会の承認もない住民{row['n_subjects']}人に"
                f"ついて中間サーバーへ情報照会しました（{row['n_events']}件）。",
                f"Account {row['user_id']} made {row['n_events']} 中間サーバー inquiries about "
                f"{row['n_subjects']} resident(s) with no case in its section and no approval, at {when}.",
            )

        return self.findings(
            chosen,
            ["user_id", "day"],
            explain,
            key=lambda row: f"{row['user_id']}|{day_text(row['day'])}",
            evidence=lambda row: {"inquiries": int(row["n_events"]), "residents": int(row["n_subjects"])},
        )
