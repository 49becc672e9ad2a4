"""The static world of a demo municipality: who works where, with which rights, on which terminals,
for which residents. Only synthetic names; identifiers are obviously fictional (prefecture 99)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd

from auditd.jp.calendar import calendar_frame
from auditd.settings import DEMO_MUNICIPALITY_CODE


@dataclass(frozen=True)
class SectionSpec:
    code: str
    name: str
    system: str  # source system the section works in ("tax", "welfare" or "" for none)
    jimu: str
    role: str
    share: float  # share of the operators
    items_per_day: float  # residents handled per person per working day
    case_kind: str
    population_share: float  # share of residents who have a case with this section
    shows_mynumber: bool
    links: bool  # makes 中間サーバー inquiries


SECTIONS: tuple[SectionSpec, ...] = (
    SectionSpec("1101", "市民税課", "tax", "個人住民税", "tax_resident", 0.24, 22, "assessment", 0.55, True, True),
    SectionSpec("1102", "資産税課", "tax", "固定資産税", "tax_property", 0.12, 14, "assessment", 0.30, False, False),
    SectionSpec("1103", "納税課", "tax", "収納・滞納", "tax_collection", 0.17, 9, "delinquency", 0.03, False, False),
    SectionSpec("2101", "国保年金課", "welfare", "国民健康保険", "nhi", 0.18, 14, "reception", 0.25, True, True),
    SectionSpec("2102", "介護保険課", "welfare", "介護保険", "care", 0.12, 11, "application", 0.15, True, False),
    SectionSpec(
        "2103",
        "生活福祉課",
        "welfare",
        "生活保護",
        "public_assistance",
        0.12,
        7,
        "casework",
        0.015,
        True,
        True,
    ),
    SectionSpec("9101", "情報政策課", "", "システム管理", "sysadmin", 0.05, 0, "", 0.0, False, False),
)
SECTION_BY_CODE = {s.code: s for s in SECTIONS}

SURNAMES = [
    ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"),
    ("伊藤", "イトウ"), ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"),
    ("小林", "コバヤシ"), ("加藤", "カトウ"), ("吉田", "ヨシダ"), ("山田", "ヤマダ"),
    ("佐々木", "ササキ"), ("山口", "ヤマグチ"), ("松本", "マツモト"), ("井上", "イノウエ"),
    ("木村", "キムラ"), ("林", "ハヤシ"), ("斎藤", "サイトウ"), ("清水", "シミズ"),
    ("山崎", "ヤマザキ"), ("森", "モリ"), ("池田", "イケダ"), ("橋本", "ハシモト"),
    ("阿部", "アベ"), ("石川", "イシカワ"), ("山下", "ヤマシタ"), ("中島", "ナカジマ"),
    ("石井", "イシイ"), ("小川", "オガワ"), ("前田", "マエダ"), ("岡田", "オカダ"),
    ("長谷川", "ハセガワ"), ("藤田", "フジタ"), ("後藤", "ゴトウ"), ("近藤", "コンドウ"),
    ("村上", "ムラカミ"), ("遠藤", "エンドウ"), ("青木", "アオキ"), ("坂本", "サカモト"),
    ("斉藤", "サイトウ"), ("福田", "フクダ"), ("太田", "オオタ"), ("西村", "ニシムラ"),
    ("藤井", "フジイ"), ("金子", "カネコ"), ("岡本", "オカモト"), ("藤原", "フジワラ"),
]  # fmt: skip
GIVEN_NAMES = [
    ("翔太", "ショウタ"), ("大輔", "ダイスケ"), ("健", "ケン"), ("誠", "マコト"),
    ("拓也", "タクヤ"), ("直樹", "ナオキ"), ("陽子", "ヨウコ"), ("恵", "メグミ"),
    ("美咲", "ミサキ"), ("由美", "ユミ"), ("真由美", "マユミ"), ("裕子", "ユウコ"),
    ("浩", "ヒロシ"), ("聡", "サトシ"), ("亮", "リョウ"), ("彩", "アヤ"),
    ("愛", "アイ"), ("千尋", "チヒロ"), ("和也", "カズヤ"), ("智子", "トモコ"),
    ("純一", "ジュンイチ"), ("葵", "アオイ"), ("蓮", "レン"), ("結衣", "ユイ"),
]  # fmt: skip

PERIOD_FISCAL_START = date(2025, 4, 1)


#: A 生活福祉課 PC retired in December; its own numbering, apart from the one-per-person PCs.
RETIRED_TERMINAL = "T2103-R01"


@dataclass
class CityConfig:
    """Size and shape of a generated city. Defaults: a small town, four weeks, fast to ingest."""

    seed: int = 20260105
    residents: int = 20_000
    operators: int | None = None  # default: one per 150 residents, at least 30
    start: date = date(2026, 1, 5)
    days: int = 28
    municipality_code: str = DEMO_MUNICIPALITY_CODE
    name: str = "デモ市"
    activity: float = 1.0  # multiplies the work items per person per day
    incidents: bool = True
    incidents_per_kind: int = 3  # planted instances of each incident kind (fewer when the staff runs out)

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.days)

    @property
    def operator_count(self) -> int:
        return self.operators or max(30, self.residents // 150)


@dataclass
class World:
    config: CityConfig
    rng: np.random.Generator
    sections: pd.DataFrame
    staff: pd.DataFrame
    assignments: pd.DataFrame
    accounts: pd.DataFrame
    grants: pd.DataFrame
    terminals: pd.DataFrame
    calendar: pd.DataFrame
    residents: pd.DataFrame
    cases: pd.DataFrame
    overtime: pd.DataFrame
    output_approvals: pd.DataFrame
    watchlist: pd.DataFrame
    notes: dict[str, object] = field(default_factory=dict)

    def open_days(self) -> list[date]:
        cal = self.calendar
        mask = cal["is_open"] & (cal["day"] >= self.config.start) & (cal["day"] < self.config.end)
        return list(cal.loc[mask, "day"])


def _names(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    s = rng.integers(0, len(SURNAMES), n)
    g = rng.integers(0, len(GIVEN_NAMES), n)
    kanji = np.array([f"{SURNAMES[i][0]} {GIVEN_NAMES[j][0]}" for i, j in zip(s, g, strict=True)], dtype=object)
    kana = np.array([f"{SURNAMES[i][1]} {GIVEN_NAMES[j][1]}" for i, j in zip(s, g, strict=True)], dtype=object)
    return kanji, kana


def build_residents(config: CityConfig, rng: np.random.Generator) -> pd.DataFrame:
    """Residents in households (1–5 people, sharing a surname) spread over 町丁目 areas."""
    n = config.residents
    sizes = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.35, 0.30, 0.17, 0.13, 0.05])
    household_of = np.repeat(np.arange(len(sizes)), sizes)[:n]
    households = household_of.max() + 1
    areas = max(12, n // 350)
    household_area = rng.integers(0, areas, households)
    household_surname = rng.integers(0, len(SURNAMES), households)
    # 宛名番号: ten digits, spread out so neighbours in a list are not neighbours in number
    numbers = 1_000_000_000 + rng.permutation(np.arange(n) * 7 + 13)
    frame = pd.DataFrame(
        {
            "atena": numbers.astype(str),
            "household": (50_000_000 + household_of).astype(str),
            "area_code": [f"{a // 5 + 1:02d}-{a % 5 + 1:02d}" for a in household_area[household_of]],
            "surname_kana": [SURNAMES[i][1] for i in household_surname[household_of]],
        }
    )
    frame["household_idx"] = household_of
    return frame


def build_world(config: CityConfig) -> World:
    rng = np.random.default_rng(config.seed)
    residents = build_residents(config, rng)
    sections = pd.DataFrame(
        [
            {
                "section_code": s.code,
                "name": s.name,
                "parent_code": None,
                "hours_start": None,
                "hours_end": None,
                "weekend_counter": False,
            }
            for s in SECTIONS
        ]
    )

    # -- staff, accounts and where they sit --------------------------------------------------------------
    n_ops = config.operator_count
    shares = np.array([s.share for s in SECTIONS])
    per_section = np.maximum(2, np.round(shares / shares.sum() * n_ops).astype(int))
    section_of = np.repeat([s.code for s in SECTIONS], per_section)
    n_staff = len(section_of)
    kanji, kana = _names(rng, n_staff)
    employment = rng.choice(["regular", "temporary"], size=n_staff, p=[0.86, 0.14]).astype(object)
    staff_ids = np.array([f"E{10001 + i}" for i in range(n_staff)], dtype=object)
    # one contractor data-entry operator in 市民税課 (委託: roster, pledge)
    contractor_idx = int(np.flatnonzero(section_of == "1101")[-1])
    employment[contractor_idx] = "contractor"
    # staff who live in the city: 60 %, each the head of a real household in the resident master
    lives_here = rng.random(n_staff) < 0.6
    household_heads = residents.drop_duplicates("household_idx")
    chosen = household_heads.sample(n=int(lives_here.sum()), random_state=int(rng.integers(1 << 31)))
    resident_atena = np.full(n_staff, None, dtype=object)
    household = np.full(n_staff, None, dtype=object)
    home_area = np.full(n_staff, None, dtype=object)
    resident_atena[lives_here] = chosen["atena"].to_numpy()
    household[lives_here] = chosen["household"].to_numpy()
    home_area[lives_here] = chosen["area_code"].to_numpy()
    # a staff member living here shares their household's surname
    surname_by_household = dict(zip(residents["household"], residents["surname_kana"], strict=False))
    for i in np.flatnonzero(lives_here):
        surname = surname_by_household[household[i]]
        kanji_surname = next(k for k, v in SURNAMES if v == surname)
        kanji[i] = f"{kanji_surname} {kanji[i].split(' ', 1)[1]}"
        kana[i] = f"{surname} {kana[i].split(' ', 1)[1]}"
    staff = pd.DataFrame(
        {
            "staff_id": staff_ids,
            "name": kanji,
            "name_kana": kana,
            "employment": employment,
            "contractor": [("株式会社デモ情報サービス" if e == "contractor" else None) for e in employment],
            "pledge_date": [("2025-04-01" if e == "contractor" else None) for e in employment],
            "hired_on": "2015-04-01",
            "retired_on": None,
            "resident": resident_atena,
            "household": household,
            "home_area": home_area,
            "section_code": section_of,
        }
    )
    staff["user_id"] = [f"u{sid[1:]}" for sid in staff["staff_id"]]

    # -- terminals: one per person plus counters, a batch server, a retired one, LGWAN PCs ------------------
    terminals = []
    home_terminal = {}
    for code in [s.code for s in SECTIONS]:
        members = staff.index[staff["section_code"] == code]
        for k, idx in enumerate(members):
            tid = f"T{code}-{k + 1:02d}"
            terminals.append(
                {
                    "terminal_id": tid,
                    "section_code": code,
                    "segment": "mynumber",
                    "kind": "desktop",
                    "registered_on": "2024-04-01",
                    "retired_on": None,
                }
            )
            home_terminal[staff.at[idx, "user_id"]] = tid
        terminals.append(
            {
                "terminal_id": f"L{code}-01",
                "section_code": code,
                "segment": "lgwan",
                "kind": "desktop",
                "registered_on": "2024-04-01",
                "retired_on": None,
            }
        )
    for code in ("2101", "1101"):
        for k in range(2):
            terminals.append(
                {
                    "terminal_id": f"C{code}-{k + 1:02d}",
                    "section_code": code,
                    "segment": "mynumber",
                    "kind": "counter",
                    "registered_on": "2024-04-01",
                    "retired_on": None,
                }
            )
    terminals.append(
        {
            "terminal_id": "SV-BATCH-01",
            "section_code": "9101",
            "segment": "mynumber",
            "kind": "server",
            "registered_on": "2023-04-01",
            "retired_on": None,
        }
    )
    terminals.append(
        {
            "terminal_id": RETIRED_TERMINAL,
            "section_code": "2103",
            "segment": "mynumber",
            "kind": "desktop",
            "registered_on": "2019-04-01",
            "retired_on": "2025-12-26",
        }
    )
    terminals_frame = pd.DataFrame(terminals)
    staff["terminal_id"] = staff["user_id"].map(home_terminal)

    # -- accounts and grants --------------------------------------------------------------------------------
    fiscal_end = date(PERIOD_FISCAL_START.year + 1, 3, 31)
    accounts = [
        {
            "user_id": u,
            "staff_id": s,
            "kind": "personal",
            "created_on": "2025-04-01",
            "disabled_on": None,
            "note": None,
        }
        for u, s in zip(staff["user_id"], staff["staff_id"], strict=True)
    ]
    grants = []
    for user_id, section_code in zip(staff["user_id"].tolist(), staff["section_code"].tolist(), strict=True):
        spec = SECTION_BY_CODE[str(section_code)]
        # most grants run to the fiscal year end; a few were issued without an end date
        valid_to = None if rng.random() < 0.05 else fiscal_end + timedelta(days=1)
        grants.append(
            {
                "user_id": user_id,
                "role": spec.role,
                "valid_from": PERIOD_FISCAL_START,
                "valid_to": valid_to,
                "approver": f"{section_code}-head",
                "status": "active",
            }
        )
        if spec.links and rng.random() < 0.4:
            grants.append(
                {
                    "user_id": user_id,
                    "role": "linkage",
                    "valid_from": PERIOD_FISCAL_START,
                    "valid_to": fiscal_end + timedelta(days=1),
                    "approver": f"{section_code}-head",
                    "status": "active",
                }
            )
    admins = staff[staff["section_code"] == "9101"]
    for admin_staff_id in admins["staff_id"].tolist():
        admin_id = f"adm{str(admin_staff_id)[1:]}"
        accounts.append(
            {
                "user_id": admin_id,
                "staff_id": admin_staff_id,
                "kind": "admin",
                "created_on": "2025-04-01",
                "disabled_on": None,
                "note": "特権ID",
            }
        )
        grants.append(
            {
                "user_id": admin_id,
                "role": "sysadmin",
                "valid_from": PERIOD_FISCAL_START,
                "valid_to": None,
                "approver": "9101-head",
                "status": "active",
            }
        )
    accounts.append(
        {
            "user_id": "batch_tax",
            "staff_id": None,
            "kind": "batch",
            "created_on": "2023-04-01",
            "disabled_on": None,
            "note": "夜間バッチ（通知書一括印刷）",
        }
    )
    grants.append(
        {
            "user_id": "batch_tax",
            "role": "batch",
            "valid_from": date(2023, 4, 1),
            "valid_to": None,
            "approver": "9101-head",
            "status": "active",
        }
    )

    assignments = pd.DataFrame(
        {
            "staff_id": staff["staff_id"],
            "section_code": staff["section_code"],
            "valid_from": "2025-04-01",
            "valid_to": None,
            "position": None,
        }
    )

    calendar = calendar_frame(config.start - timedelta(days=120), config.end + timedelta(days=60))

    world = World(
        config=config,
        rng=rng,
        sections=sections,
        staff=staff,
        assignments=assignments,
        accounts=pd.DataFrame(accounts),
        grants=pd.DataFrame(grants),
        terminals=terminals_frame,
        calendar=calendar,
        residents=residents,
        cases=pd.DataFrame(),
        overtime=pd.DataFrame(),
        output_approvals=pd.DataFrame(),
        watchlist=pd.DataFrame(),
    )
    _case_populations(world)
    _overtime(world)
    _watchlist(world)
    return world


def _case_populations(world: World) -> None:
    """Which residents each section has an open matter with (a case explains looking them up)."""
    rng, residents = world.rng, world.residents
    rows = []
    period_start = datetime.combine(world.config.start, time(0), tzinfo=_JST)
    for spec in SECTIONS:
        if not spec.case_kind or spec.case_kind == "reception":
            continue  # counter receptions are made as the visits happen
        count = max(20, int(len(residents) * spec.population_share))
        chosen = residents["atena"].to_numpy()[rng.choice(len(residents), size=count, replace=False)]
        members = world.staff.loc[world.staff["section_code"] == spec.code, "staff_id"].to_numpy()
        assignee = (
            members[rng.integers(0, len(members), count)] if spec.case_kind in ("delinquency", "casework") else None
        )
        opened = period_start - pd.to_timedelta(rng.integers(10, 200, count), unit="D")
        for i, atena in enumerate(chosen):
            rows.append(
                {
                    "case_id": f"{spec.code}-{spec.case_kind[:3].upper()}-{i + 1:06d}",
                    "jimu": spec.jimu,
                    "kind": spec.case_kind,
                    "subject": atena,
                    "section_code": spec.code,
                    "assignee": None if assignee is None else assignee[i],
                    "opened_at": opened[i],
                    "closed_at": None,
                }
            )
    world.cases = pd.DataFrame(rows)


def _overtime(world: World) -> None:
    """Tax season: 市民税課 staff on approved overtime (時間外勤務命令) on many evenings until 20:00."""
    rng = world.rng
    members = world.staff[(world.staff["section_code"] == "1101") & (world.staff["employment"] != "contractor")]
    rows = []
    for day in world.open_days():
        for staff_id in members["staff_id"]:
            if rng.random() < 0.35:
                rows.append(
                    {
                        "staff_id": staff_id,
                        "day": day,
                        "start": "17:15",
                        "end": "20:00",
                        "approver": "1101-head",
                        "reason": "住民税当初賦課（申告書処理）",
                    }
                )
    world.overtime = pd.DataFrame(rows, columns=["staff_id", "day", "start", "end", "approver", "reason"])


def _watchlist(world: World) -> None:
    rng, residents = world.rng, world.residents
    picks = residents.sample(n=6, random_state=int(rng.integers(1 << 31)))["atena"].tolist()
    rows = [
        {
            "subject": a,
            "category": "dv_support",
            "valid_from": "2025-06-01",
            "valid_to": None,
            "note": "DV等支援措置",
        }
        for a in picks[:4]
    ]
    rows.append(
        {
            "subject": picks[4],
            "category": "public_figure",
            "valid_from": "2024-04-01",
            "valid_to": None,
            "note": "著名人",
        }
    )
    rows += [
        {
            "subject": a,
            "category": "staff",
            "valid_from": None,
            "valid_to": None,
            "note": "職員（住民として）",
        }
        for a in world.staff["resident"].dropna().tolist()
    ]
    world.watchlist = pd.DataFrame(rows)
    world.notes["public_figure"] = picks[4]
    world.notes["dv_support"] = picks[:4]


_JST = pd.Timestamp("2026-01-01", tz="Asia/Tokyo").tzinfo
