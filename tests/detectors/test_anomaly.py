"""D21 anomaly: a clerk's 6× day of unexplained views among ten ordinary clerks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from detectors.anomaly import Anomaly, features, train
from detectors.testing import case, event, town, window

CLERKS = [f"u{i}" for i in range(1, 12)]
OPEN_DAYS = [d for d in pd.bdate_range("2026-01-05", "2026-02-10") if d.strftime("%m-%d") not in ("01-12",)]
HISTORY_DAYS, DAY = OPEN_DAYS[:20], OPEN_DAYS[20]


def tables() -> dict[str, pd.DataFrame]:
    t = town()
    staff = [f"E{i}" for i in range(1, 12)]
    t["accounts"] = pd.DataFrame(
        {
            "user_id": CLERKS,
            "staff_id": staff,
            "kind": "personal",
            "created_on": pd.Timestamp("2020-04-01"),
            "disabled_on": pd.NaT,
        }
    )
    t["assignments"] = pd.DataFrame(
        {"staff_id": staff, "section_code": "1101", "valid_from": pd.Timestamp("2020-04-01"), "valid_to": pd.NaT}
    )
    return {k: t[k] for k in ("accounts", "assignments")}


def clerk_day(
    rng: np.random.Generator, user: str, day: pd.Timestamp, n: int, *, prefix: str = "S"
) -> list[dict[str, Any]]:
    """n views through the day of residents with open cases (prefix S) or without (prefix N)."""
    rows = []
    for k in range(n):
        minute = int(rng.integers(9 * 60, 17 * 60))
        subject = f"{prefix}{int(rng.integers(0, 400)):04d}" if prefix == "S" else f"{prefix}{user}-{k:04d}"
        rows.append(event(f"{day:%Y-%m-%d} {minute // 60:02d}:{minute % 60:02d}", user_id=user, subject_hash=subject))
    return rows


def history(rng: np.random.Generator) -> list[dict[str, Any]]:
    return [r for d in HISTORY_DAYS for u in CLERKS for r in clerk_day(rng, u, d, int(rng.integers(20, 31)))]


CASES = [case(f"S{i:04d}", "2025-12-01", section="1101") for i in range(400)]


def day_window(today: list[dict[str, Any]], past: list[dict[str, Any]]) -> Any:
    return window(today, history=past, cases=CASES, **tables())


def test_six_times_day_of_unexplained_views_is_flagged_with_its_top_feature() -> None:
    rng = np.random.default_rng(1)
    past = history(rng)
    today = [r for u in CLERKS[1:] for r in clerk_day(rng, u, DAY, int(rng.integers(20, 31)))]
    odd = clerk_day(rng, "u1", DAY, 150, prefix="N")
    [f] = Anomaly().detect(day_window(today + odd, past))
    assert f.user_id == "u1" and f.key == f"u1|{DAY:%Y-%m-%d}"
    assert set(f.event_ids) == {r["event_id"] for r in odd} and len(f.subjects) == 150
    top = [t["feature"] for t in f.evidence["top_features"]]
    assert top[0] in ("lookups", "residents", "no_case_share") and {"lookups", "residents"} & set(top)
    assert "本人の通常の" in f.explanation_ja and "同じ課の中央値の" in f.explanation_ja
    assert f.evidence["model_version"].startswith("if-")
    # deterministic: the same window gives the same finding and model version
    [again] = Anomaly().detect(day_window(today + odd, past))
    assert again == f


def test_the_same_clerk_on_a_normal_day_is_not_flagged() -> None:
    rng = np.random.default_rng(2)
    past = history(rng)
    today = [r for u in CLERKS for r in clerk_day(rng, u, DAY, int(rng.integers(20, 31)))]
    assert Anomaly().detect(day_window(today, past)) == []


def test_tax_season_when_the_whole_section_doubles_is_not_flagged() -> None:
    rng = np.random.default_rng(3)
    past = history(rng)
    today = [r for u in CLERKS for r in clerk_day(rng, u, DAY, 2 * int(rng.integers(20, 31)))]
    assert Anomaly().detect(day_window(today, past)) == []
    # even tripled: own history says 3×, the section says 1×
    today = [r for u in CLERKS for r in clerk_day(rng, u, DAY, 3 * int(rng.integers(20, 31)))]
    assert Anomaly().detect(day_window(today, past)) == []


def test_ratio_boundary_and_alert_budget() -> None:
    rng = np.random.default_rng(4)
    past = history(rng)
    normal = [r for u in CLERKS[3:] for r in clerk_day(rng, u, DAY, 25)]
    odd = [r for u in CLERKS[:3] for r in clerk_day(rng, u, DAY, 150, prefix="N")]
    found = Anomaly().detect(day_window(normal + odd, past))
    assert len(found) == 2 and {f.user_id for f in found} <= {"u1", "u2", "u3"}  # budget of 2 a day
    assert len(Anomaly({"max_per_day": 3}).detect(day_window(normal + odd, past))) == 3
    # 2× the section and own median: below min_ratio 3, whatever the forest says
    double = clerk_day(rng, "u1", DAY, 50, prefix="N")
    assert Anomaly({"contamination": 0.5}).detect(day_window(normal + double, past)) == []
    assert len(Anomaly({"contamination": 0.5, "min_ratio": 1.9}).detect(day_window(normal + double, past))) == 1


def test_train_and_features_for_the_scheduler() -> None:
    rng = np.random.default_rng(5)
    w = day_window(history(rng)[:2000], [])
    raw = features(w.events)
    assert {
        "lookups",
        "residents",
        "hours",
        "first_hour",
        "last_hour",
        "systems",
        "actions",
        "no_case_share",
        "outputs",
    } <= set(raw.columns)
    assert raw["lookups"].sum() == len(w.events) and raw["no_case_share"].max() == 0.0
    params = Anomaly.Params()
    a, b = train(w.events, params), train(w.events, params)  # type: ignore[arg-type]
    assert a.version == b.version and a.trained_on["user_days"] == len(raw)
    assert train(w.events.iloc[:1000], params).version != a.version  # type: ignore[arg-type]
