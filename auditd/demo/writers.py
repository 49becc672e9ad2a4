"""Write the demo city as its systems would: each source in its own vendor format, plus reference
feeds in the standard CSV layouts. Returns the manifest of what to import with which profile."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from auditd.demo.world import World
from auditd.pipeline import InputFile
from auditd.reference.repository import REFERENCE_ORDER

TAX_JIMU = {"個人住民税": "11", "固定資産税": "12", "収納・滞納": "21", "システム管理": "99"}
TAX_OPS = {
    "view": "01",
    "update": "02",
    "print": "03",
    "export": "04",
    "show_mynumber": "05",
    "search": "06",
    "admin": "90",
    "audit_config": "91",
}
WELFARE_JIMU = {"国民健康保険": "kokuho", "介護保険": "kaigo", "生活保護": "seiho", "システム管理": "admin"}
WELFARE_OPS = {
    "view": "VIEW",
    "search": "SEARCH",
    "update": "UPDATE",
    "print": "PRINT",
    "export": "EXPORT",
    "show_mynumber": "MYNUM_DISP",
    "admin": "ADMIN",
    "audit_config": "AUDIT_CFG",
}
LINK_JIMU = {"国民健康保険": "JM01", "生活保護": "JM02", "個人住民税": "JM03", "介護保険": "JM04"}
AUTH_METHODS = {
    "password,vein": "PW+VEIN",
    "password,ic_card": "PW+IC",
    "password": "PW",
    "certificate": "CERT",
}
AUTH_EVENTS = {"login": "LOGON", "logout": "LOGOFF", "login_fail": "FAIL"}


def _wareki_letter(ts: pd.Series) -> pd.Series:
    """R08.01.05 09:15:22 (令和 only: the demo period is after 2019-05-01)."""
    year = (ts.dt.year - 2018).astype(str).str.zfill(2)
    stamped: pd.Series = "R" + year + "." + ts.dt.strftime("%m.%d %H:%M:%S")
    return stamped


def write_tax(events: pd.DataFrame, out: Path) -> list[Path]:
    """税務システム: one CP932 CSV per day, Japanese header, 和暦 timestamps, CRLF."""
    frame = pd.DataFrame(
        {
            "操作日時": _wareki_letter(events["ts"]),
            "職員ID": events["user_id"],
            "端末ID": events["terminal_id"],
            "セッションID": events["session_id"],
            "業務コード": events["jimu"].map(TAX_JIMU),
            "画面ID": events["screen"],
            "操作区分": events["action"].map(TAX_OPS),
            "宛名番号": events["subject"],
            "対象件数": events["subject_count"],
            "処理結果": np.where(events["result"] == "success", "0", "9"),
            "検索条件": events["detail"],
        }
    )
    paths = []
    out.mkdir(parents=True, exist_ok=True)
    for day, part in frame.groupby(events["ts"].dt.strftime("%Y%m%d"), sort=True):
        path = out / f"ZEIMU_OPLOG_{day}.csv"
        part.to_csv(path, index=False, encoding="cp932", lineterminator="\r\n")
        paths.append(path)
    return paths


def write_welfare(events: pd.DataFrame, out: Path, gaps: list[tuple[pd.Timestamp, pd.Timestamp]]) -> list[Path]:
    """福祉総合システム: JSON lines (UTF-8), weekly files, with the system's own sequence number."""
    events = _numbered(events)
    for start, end in gaps:  # records removed by someone covering their tracks: the sequence shows it
        events = events[~((events["ts"] > start) & (events["ts"] < end))]
    out.mkdir(parents=True, exist_ok=True)
    week = events["ts"].dt.strftime("%G-W%V")
    paths = []
    for name, part in events.groupby(week, sort=True):
        path = out / f"fukushi_{name}.jsonl"
        with path.open("w", encoding="utf-8", newline="\n") as handle:
            times = part["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S+09:00").tolist()
            columns = ["seq", "user_id", "terminal_id", "session_id", "jimu", "action", "screen", "subject"]
            rows = part[[*columns, "subject_count", "result", "detail"]].astype(object).where(part.notna(), None)
            for time_text, values in zip(times, rows.itertuples(index=False, name=None), strict=True):
                seq, user, terminal, session, jimu, action, screen, subject, count, result, detail = values
                record: dict[str, object] = {
                    "seq": int(seq),
                    "time": time_text,
                    "operator": {"id": user, "terminal": terminal},
                    "session": session,
                    "business": WELFARE_JIMU.get(str(jimu), jimu),
                    "op": WELFARE_OPS[str(action)],
                    "screen": screen,
                    "target": None if subject is None else {"atena": subject},
                    "count": int(count),
                    "status": "OK" if result == "success" else "NG",
                }
                if detail is not None:
                    record["note"] = detail
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        paths.append(path)
    return paths


def _numbered(events: pd.DataFrame) -> pd.DataFrame:
    """The welfare system numbers its records 1, 2, 3 … in the order written (``seq`` in the profile)."""
    numbered = events.reset_index(drop=True).copy()
    numbered["seq"] = np.arange(1, len(numbered) + 1)
    return numbered


def welfare_sequence_gaps(
    events: pd.DataFrame, gaps: list[tuple[pd.Timestamp, pd.Timestamp]]
) -> list[tuple[int, int] | None]:
    """For each gap, the first and last sequence number ``write_welfare`` leaves out (None: nothing lost)."""
    numbered = _numbered(events)
    ranges: list[tuple[int, int] | None] = []
    for start, end in gaps:
        lost = numbered.loc[(numbered["ts"] > start) & (numbered["ts"] < end), "seq"]
        ranges.append((int(lost.min()), int(lost.max())) if len(lost) else None)
    return ranges


def write_linkage(events: pd.DataFrame, out: Path) -> list[Path]:
    """中間サーバー連携ログ: tab-separated, no header, UTF-8."""
    out.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        {
            "ts": events["ts"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "user": events["user_id"],
            "terminal": events["terminal_id"],
            "op": "INQ",
            "jimu": events["jimu"].map(LINK_JIMU),
            "atena": events["subject"],
            "partner": "他団体",
            "result": np.where(events["result"] == "success", "00", "99"),
        }
    )
    path = out / "chukan_server.tsv"
    frame.to_csv(path, sep="\t", index=False, header=False, encoding="utf-8")
    return [path]


def write_auth(events: pd.DataFrame, out: Path) -> list[Path]:
    """認証サーバー: UTF-8 CSV with a BOM (as Excel writes it), CRLF, one file per month."""
    out.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        {
            "timestamp": events["ts"].dt.strftime("%Y/%m/%d %H:%M:%S"),
            "user": events["user_id"],
            "terminal": events["terminal_id"],
            "event": events["action"].map(AUTH_EVENTS),
            "method": events["auth_factors"].map(AUTH_METHODS),
            "session": events["session_id"],
            "result": np.where(events["result"] == "success", "OK", "NG"),
        }
    )
    paths = []
    for month, part in frame.groupby(events["ts"].dt.strftime("%Y-%m"), sort=True):
        path = out / f"auth_{month}.csv"
        part.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\r\n")
        paths.append(path)
    return paths


def write_reference(world: World, out: Path) -> list[InputFile]:
    out.mkdir(parents=True, exist_ok=True)
    staff_cols = [
        "staff_id",
        "name",
        "name_kana",
        "employment",
        "contractor",
        "pledge_date",
        "hired_on",
        "retired_on",
        "resident",
        "household",
        "home_area",
    ]
    tables = {
        "sections": world.sections,
        "staff": world.staff[staff_cols],
        "assignments": world.assignments,
        "accounts": world.accounts,
        "grants": world.grants,
        "terminals": world.terminals,
        "calendar": world.calendar.assign(is_open=world.calendar["is_open"].map({True: "1", False: "0"})),
        "overtime": world.overtime,
        "residents": world.residents[["atena", "household", "area_code", "surname_kana"]].rename(
            columns={"atena": "subject"}
        ),
        "cases": world.cases.assign(
            opened_at=pd.to_datetime(world.cases["opened_at"]).dt.strftime("%Y-%m-%dT%H:%M:%S%z"),
            closed_at=pd.to_datetime(world.cases["closed_at"]).dt.strftime("%Y-%m-%dT%H:%M:%S%z"),
        ),
        "output_approvals": world.output_approvals.assign(
            valid_from=lambda f: pd.to_datetime(f["valid_from"]).dt.strftime("%Y-%m-%dT%H:%M:%S+09:00"),
            valid_to=lambda f: pd.to_datetime(f["valid_to"]).dt.strftime("%Y-%m-%dT%H:%M:%S+09:00"),
        ),
        "watchlist": world.watchlist,
    }
    inputs = []
    for kind in REFERENCE_ORDER:
        path = out / f"{kind}.csv"
        # personnel comes from an Excel export in CP932; the rest as UTF-8 with a BOM
        encoding = "cp932" if kind in ("staff", "assignments") else "utf-8-sig"
        tables[kind].to_csv(path, index=False, encoding=encoding, lineterminator="\r\n")
        inputs.append(InputFile(kind=kind, path=path, profile=f"standard-{kind}"))
    return inputs
