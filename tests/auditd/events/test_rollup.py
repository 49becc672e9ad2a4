"""The event rollups: maintained at ingest exactly once, equal to a GROUP BY of the stored events,
Japan-time days, rebuilt from the events (function, CLI and migration) to the same rows."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from cli_support import auditd
from sqlalchemy import Engine, text

from auditd.events import repository as events_repo
from auditd.events.rollup import (
    account_activity,
    account_rollup,
    aggregate,
    hour_rollup,
    login_coverage,
    rebuild_rollups,
)
from auditd.settings import Settings
from auditd.store import migrate
from collectors.pipeline import Ingestor
from collectors.profile import Profile, parse_profile

FIRST, LAST = date(2000, 1, 1), date(2100, 1, 1)
PROFILE = {
    "name": "rollup-test",
    "format": "jsonl",
    "source": "rt",
    "fields": {
        "ts": {"column": "ts"},
        "system": {"column": "system"},
        "user_id": {"column": "user"},
        "jimu": {"column": "jimu"},
        "action": {"column": "action"},
        "subject": {"column": "subject"},
        "subject_count": {"column": "n"},
        "result": {"column": "result"},
        "auth_factors": {"column": "auth"},
        "detail": {"column": "detail"},
    },
}
ACTIONS = ["view", "search", "print", "export", "login", "login", "logout", "update"]
FACTORS = [None, "password,vein", "vein,password", "password+vein", "ic_card", "password"]


@pytest.fixture
def profile() -> Profile:
    return parse_profile(PROFILE, "rollup-test")


def record(i: int) -> dict[str, object]:
    """A varied record: hours across the Japan-time midnight, NULL 事務 and factors, outputs, logins,
    residents absent or counted many, a 個人番号 in the detail now and then."""
    ts = datetime(2026, 2, 3, 12, 0, tzinfo=UTC) + timedelta(minutes=7 * i)  # 21:00 JST onwards
    action = ACTIONS[i % len(ACTIONS)]
    row: dict[str, object] = {
        "ts": ts.isoformat(),
        "system": "税務" if i % 3 else "福祉",
        "user": f"u{i % 7:03d}",
        "jimu": None if i % 5 == 0 else ("個人住民税" if i % 2 else "生活保護"),
        "action": action,
        "subject": None if action in ("login", "logout") or i % 11 == 0 else f"{100000 + i % 40}",
        "n": 35 if action in ("print", "export") else 1,
        "result": "failure" if i % 13 == 0 else "success",
        "auth": FACTORS[i % len(FACTORS)] if action == "login" else None,
        "detail": "個人番号=123456789018" if i % 9 == 0 else f"line {i}",
    }
    return row


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def stored_events(engine: Engine, code: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return events_repo.events_frame(conn, code, datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def expected_rollups(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rollups computed from scratch in pandas, from the events table."""
    local = events["ts"].dt.tz_convert("Asia/Tokyo")
    f = pd.DataFrame(
        {
            "municipality_code": events["municipality_code"],
            "day": local.dt.date,
            "hour": local.dt.hour,
            "source": events["source"],
            "system": events["system"],
            "jimu": events["jimu"].fillna(""),
            "action": events["action"],
            "result": events["result"],
            "factors": [
                ",".join(sorted(set(str(v).replace("+", ",").split(",")))) if isinstance(v, str) else ""
                for v in events["auth_factors"]
            ],
            "user_id": events["user_id"],
            "one": 1,
            "subjects": events["subject_count"]
            .where(events["subject_hash"].notna() | (events["subject_count"] > 1), 0)
            .astype(int),
            "masked": events["pii_masked"].astype(int),
            "outputs": events["action"].isin(["print", "export"]).astype(int),
            "logins": ((events["action"] == "login") & (events["result"] == "success")).astype(int),
            "auth": events["action"].isin(["login", "logout"]).astype(int),
            "ts": events["ts"],
        }
    )
    # two distinct factors or more ("password+vein", "vein,password"; not "password" nor none)
    parts = [len({p.strip() for p in str(v).replace("+", ",").split(",") if p.strip()}) for v in f["factors"]]
    f["strong"] = f["logins"] * (pd.Series(parts, index=f.index) >= 2).astype(int)
    hour_key = ["municipality_code", "day", "hour", "source", "system", "jimu", "action", "result", "factors"]
    hours = f.groupby(hour_key).agg(events=("one", "sum"), subjects=("subjects", "sum"), masked=("masked", "sum"))
    accounts = f.groupby(["municipality_code", "day", "user_id"]).agg(
        events=("one", "sum"),
        outputs=("outputs", "sum"),
        subjects=("subjects", "sum"),
        logins=("logins", "sum"),
        strong_logins=("strong", "sum"),
        auth_events=("auth", "sum"),
        first_ts=("ts", "min"),
        last_ts=("ts", "max"),
    )
    return normal(hours.reset_index()), normal(accounts.reset_index())


def normal(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in key order with plain types, so two ways of computing them compare equal."""
    out = frame.copy()
    figures = ("events", "subjects", "masked", "outputs", "logins", "strong_logins", "auth_events")
    for column in ("hour", *figures):
        if column in out:
            out[column] = out[column].astype("int64")
    for column in ("first_ts", "last_ts"):
        if column in out:
            out[column] = pd.to_datetime(out[column], utc=True).astype("datetime64[us, UTC]")
    for column in out.columns:
        if out[column].dtype == object or str(out[column].dtype).startswith("str"):
            out[column] = out[column].astype(object)
    key = [c for c in out.columns if c not in (*figures, "first_ts", "last_ts")]
    return out.sort_values(key).reset_index(drop=True)


def rollups(engine: Engine, code: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    with engine.connect() as conn:
        return normal(hour_rollup(conn, code, FIRST, LAST)), normal(account_rollup(conn, code, FIRST, LAST))


def assert_rollups_match_events(engine: Engine, code: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    hours, accounts = rollups(engine, code)
    want_hours, want_accounts = expected_rollups(stored_events(engine, code))
    pd.testing.assert_frame_equal(hours, want_hours, check_dtype=False)
    pd.testing.assert_frame_equal(accounts, want_accounts, check_dtype=False)
    return hours, accounts


def test_ingest_keeps_the_rollups_equal_to_a_group_by_of_the_events_exactly_once(
    engine: Engine, settings: Settings, tmp_path: Path, profile: Profile
):
    rows = [record(i) for i in range(400)]
    ingestor = Ingestor(engine, settings)
    first = ingestor.ingest_file(write_jsonl(tmp_path / "a.jsonl", rows), profile)
    assert first.accepted == 400 and first.masked > 0
    hours, accounts = assert_rollups_match_events(engine, settings.municipality_code)
    assert int(hours["events"].sum()) == 400 == int(accounts["events"].sum())
    assert set(hours["factors"]) == {"", "ic_card", "password", "password,vein"}  # orders and "+" made one

    # the same file again (from the start): nothing new stored, nothing counted twice
    again = ingestor.ingest_file(tmp_path / "a.jsonl", profile, full=True)
    assert (again.accepted, again.duplicates) == (0, 400)
    same_hours, same_accounts = rollups(engine, settings.municipality_code)
    pd.testing.assert_frame_equal(same_hours, hours)
    pd.testing.assert_frame_equal(same_accounts, accounts)

    # a file overlapping the first (its second half, then new lines): only the new lines count
    overlap = write_jsonl(tmp_path / "b.jsonl", rows[200:] + [record(i) for i in range(400, 700)])
    mixed = ingestor.ingest_file(overlap, profile)
    assert (mixed.accepted, mixed.duplicates) == (300, 200)
    hours, accounts = assert_rollups_match_events(engine, settings.municipality_code)
    assert int(hours["events"].sum()) == 700 == int(accounts["events"].sum())


def test_japan_time_days_change_at_15_00_utc(engine: Engine, settings: Settings, tmp_path: Path, profile: Profile):
    base = {"system": "税務", "user": "u1", "jimu": None, "action": "view", "subject": "1", "n": 1, "result": "success"}
    rows = [
        {**base, "ts": "2026-02-03T23:30:00+09:00"},
        {**base, "ts": "2026-02-04T00:10:00+09:00"},
        {**base, "ts": "2026-02-03T14:59:59.999999Z"},
        {**base, "ts": "2026-02-03T15:00:00Z"},
    ]
    Ingestor(engine, settings).ingest_file(write_jsonl(tmp_path / "midnight.jsonl", rows), profile)
    hours, accounts = assert_rollups_match_events(engine, settings.municipality_code)
    assert [(r.day, r.hour, r.events) for r in hours.itertuples()] == [
        (date(2026, 2, 3), 23, 2),
        (date(2026, 2, 4), 0, 2),
    ]
    assert [(r.day, r.events) for r in accounts.itertuples()] == [(date(2026, 2, 3), 2), (date(2026, 2, 4), 2)]
    assert accounts["first_ts"].iloc[1] == pd.Timestamp("2026-02-03T15:00:00Z")
    assert accounts["last_ts"].iloc[0] == pd.Timestamp("2026-02-03T14:59:59.999999Z")
    with engine.connect() as conn:
        assert hour_rollup(conn, settings.municipality_code, date(2026, 2, 4), date(2026, 2, 4))["hour"].tolist() == [0]
        only = account_rollup(conn, settings.municipality_code, date(2026, 2, 3), date(2026, 2, 3))
    assert only["day"].tolist() == [date(2026, 2, 3)]


def test_null_jimu_and_factors_are_stored_as_empty_text(
    engine: Engine, settings: Settings, tmp_path: Path, profile: Profile
):
    row = {
        "ts": "2026-02-03T09:00:00+09:00",
        "system": "認証基盤",
        "user": "u1",
        "action": "login",
        "result": "success",
    }
    Ingestor(engine, settings).ingest_file(write_jsonl(tmp_path / "login.jsonl", [row]), profile)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT jimu, factors, events, subjects FROM event_hours")).one()
        assert tuple(stored) == ("", "", 1, 0)
        assert conn.execute(text("SELECT logins, outputs FROM account_days")).one() == (1, 0)


def test_many_keys_in_one_chunk_and_a_rebuild_gives_the_maintained_rows(
    engine: Engine, settings: Settings, tmp_path: Path, profile: Profile, env_for_cli: dict[str, str]
):
    """More keys than one upsert statement takes; then the rows deleted and rebuilt, by the function,
    for part of the range, and by the CLI."""
    rows = [dict(record(i), user=f"m{i:04d}") for i in range(1_300)]  # 1,300 account-days, >500 hour keys
    Ingestor(engine, settings).ingest_file(write_jsonl(tmp_path / "many.jsonl", rows), profile)
    code = settings.municipality_code
    hours, accounts = assert_rollups_match_events(engine, code)
    assert len(accounts) == 1_300 and len(hours) > 500

    with engine.begin() as conn:
        conn.execute(text("DELETE FROM event_hours"))
        conn.execute(text("DELETE FROM account_days"))
        written = rebuild_rollups(conn, code)
    assert written == len(hours) + len(accounts)
    rebuilt_hours, rebuilt_accounts = rollups(engine, code)
    pd.testing.assert_frame_equal(rebuilt_hours, hours)
    pd.testing.assert_frame_equal(rebuilt_accounts, accounts)

    # one day only: its rows are replaced, the others left alone
    day = date(2026, 2, 5)
    with engine.begin() as conn:
        conn.execute(text("UPDATE event_hours SET events = events + 1000"))
        conn.execute(text("UPDATE account_days SET events = events + 1000"))
        written = rebuild_rollups(conn, code, day, day)
    assert written == int((hours["day"] == day).sum() + (accounts["day"] == day).sum())
    partly_hours, _ = rollups(engine, code)
    on_day = partly_hours["day"] == day
    pd.testing.assert_frame_equal(partly_hours[on_day], hours[hours["day"] == day])
    assert (partly_hours.loc[~on_day, "events"] == hours.loc[hours["day"] != day, "events"] + 1000).all()

    done = auditd(env_for_cli, "db", "rollup", "--since", "2026-02-01", "--until", "2026-02-28")
    assert done.returncode == 0, done.stderr
    assert f"rebuilt {len(hours) + len(accounts):,} rollup rows" in done.stdout
    rebuilt_hours, rebuilt_accounts = rollups(engine, code)
    pd.testing.assert_frame_equal(rebuilt_hours, hours)
    pd.testing.assert_frame_equal(rebuilt_accounts, accounts)

    bad = auditd(env_for_cli, "db", "rollup", "--since", "2026-03-01", "--until", "2026-02-01")
    assert bad.returncode != 0 and "after --until" in bad.stdout + bad.stderr
    other = auditd(env_for_cli, "db", "rollup", "--municipality", "131016")  # another city: nothing of ours
    assert other.returncode == 0, other.stderr
    assert "rebuilt 0 rollup rows for 131016" in other.stdout
    assert rollups(engine, code)[0].equals(hours)


def test_the_migration_rolls_up_the_events_already_stored(
    engine: Engine, settings: Settings, tmp_path: Path, profile: Profile
):
    Ingestor(engine, settings).ingest_file(
        write_jsonl(tmp_path / "old.jsonl", [record(i) for i in range(300)]), profile
    )
    hours, accounts = rollups(engine, settings.municipality_code)
    migrate.downgrade(engine, "0009")
    migrate.upgrade(engine)
    upgraded_hours, upgraded_accounts = rollups(engine, settings.municipality_code)
    pd.testing.assert_frame_equal(upgraded_hours, hours)
    pd.testing.assert_frame_equal(upgraded_accounts, accounts)


def test_null_and_empty_keys_are_one_row_and_factor_orders_one_key():
    ts = pd.Timestamp("2026-02-03T00:00:00Z")
    frame = pd.DataFrame(
        {
            "municipality_code": "999997",
            "ts": [ts, ts, ts, ts],
            "source": "s",
            "system": "x",
            "user_id": "u",
            "jimu": [None, "", None, ""],
            "action": "login",
            "result": "success",
            "auth_factors": [None, "", "vein, password", "password+vein"],
            "subject_hash": None,
            "subject_count": 1,
            "pii_masked": False,
        }
    )
    hours, accounts = aggregate(frame)
    assert hours[["jimu", "factors", "events"]].values.tolist() == [["", "", 2], ["", "password,vein", 2]]
    assert accounts[["events", "logins", "strong_logins", "auth_events", "subjects"]].values.tolist() == [
        [4, 4, 2, 4, 0]
    ]


def test_the_reads_of_some_accounts_and_the_coverage_agree_with_the_whole_municipalitys_rollup(
    engine: Engine, settings: Settings, tmp_path: Path, profile: Profile
):
    """``account_activity`` of named accounts is the municipality's frame cut to them; ``login_coverage``
    (summed in SQL) gives what the frame gives: accounts covered only if every login had two factors,
    operations per account never below zero; an empty list of accounts counts nothing."""
    rows = [record(i) for i in range(400)]
    start = datetime(2026, 2, 3, 1, 0, tzinfo=UTC)
    for n in range(6):  # "strong" always logs in with two factors, "viewer" never logs in
        at = (start + timedelta(hours=n)).isoformat()
        rows.append({"ts": at, "system": "税務", "user": "strong", "action": "login", "result": "success",
                     "auth": "password,vein", "jimu": "個人住民税"})  # fmt: skip
        rows.append({"ts": at, "system": "税務", "user": "strong", "action": "view", "subject": "100001",
                     "jimu": "個人住民税", "result": "success"})  # fmt: skip
        rows.append({"ts": at, "system": "税務", "user": "viewer", "action": "view", "subject": "100002",
                     "jimu": "個人住民税", "result": "success"})  # fmt: skip
    Ingestor(engine, settings).ingest_file(write_jsonl(tmp_path / "a.jsonl", rows), profile)
    code, first, last = settings.municipality_code, date(2026, 2, 1), date(2026, 2, 28)
    with engine.connect() as connection:
        whole = account_activity(connection, code, first, last).sort_values("user_id", ignore_index=True)
        some = ["strong", "u003", "viewer", "nobody"]
        cut = account_activity(connection, code, first, last, some).sort_values("user_id", ignore_index=True)
        coverage = {
            name: login_coverage(connection, code, first, last, ids)
            for name, ids in (("all", None), ("some", some), ("none", []))
        }
    assert set(whole["user_id"]) == {f"u{i:03d}" for i in range(7)} | {"strong", "viewer"}
    pd.testing.assert_frame_equal(cut, whole[whole["user_id"].isin(some)].reset_index(drop=True))

    def expected(frame: pd.DataFrame) -> dict[str, int]:
        covered = (frame["logins"] > 0) & (frame["strong_logins"] == frame["logins"])
        operations = (frame["events"] - frame["auth_events"]).clip(lower=0)
        return {
            "accounts": len(frame),
            "covered": int(covered.sum()),
            "logins": int(frame["logins"].sum()),
            "strong_logins": int(frame["strong_logins"].sum()),
            "operations": int(operations.sum()),
            "covered_operations": int(operations[covered].sum()),
        }

    assert coverage["all"] == expected(whole)
    assert coverage["some"] == expected(cut)
    assert coverage["some"]["covered"] >= 1 and coverage["some"]["covered_operations"] == 6  # "strong"'s views
    assert coverage["none"] == dict.fromkeys(coverage["all"], 0)
