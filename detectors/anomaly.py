"""D21: a user-day that looks unlike the user's own days and unlike the section's other staff that day.

Model: scikit-learn's IsolationForest over user-day features, each expressed relative to the user's own
history (log ratio to the user's median over the lookback) and to the section's peers that day (log
ratio to the section's median). Why an isolation forest rather than LOF or a one-class SVM: it is
unsupervised (there are no labelled misuse days), fast and linear in the number of user-days (a city has
tens of thousands a month), needs no distance metric or kernel width to tune (LOF's neighbourhood size
and the SVM's gamma are hard to set for features of mixed scales; after robust scaling the forest only
splits one feature at a time, so scale barely matters), and gives a score per sample with a threshold
from the expected contamination. It is deterministic with a fixed ``random_state``.

An alert must also be explainable and rare: a user-day is reported only if the forest scores it below
its contamination threshold AND at least one count feature is ≥ ``min_ratio`` × the section's median
that day, or ≥ ``min_ratio`` × the user's own median while also above the section's (a whole section up
together in tax season is the season, not the user); at most ``max_per_day`` findings a day for the
whole municipality, lowest scores first. Each finding names its top three features in plain words.

Entry points for the scheduler (jobs.py): :func:`features` (user-day features of derived events),
:func:`train` (fit a :class:`Model` on a history frame) and :func:`score`; :class:`Anomaly` wires them
for one window (fit on the window's users' lookback plus the window, score the window).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from sklearn.ensemble import IsolationForest
from sklearn.preprocessing import RobustScaler

from detectors.base import OUTPUT_ACTIONS, Detector, Finding, Thresholds, day_text, mode, span
from detectors.window import LOCAL_TZ, Window, derive

#: Count features (compared as ratios) and the others (compared as differences).
COUNTS = ("lookups", "residents", "hours", "systems", "actions", "outputs")
LEVELS = ("first_hour", "last_hour", "no_case_share")
FEATURES = COUNTS + LEVELS
LABELS = {
    "lookups": ("照会件数", "lookups"),
    "residents": ("照会した住民の数", "distinct residents"),
    "hours": ("操作した時間帯の数", "distinct hours"),
    "systems": ("使ったシステムの数", "distinct systems"),
    "actions": ("操作の種類", "distinct actions"),
    "outputs": ("出力した住民数", "residents output"),
    "first_hour": ("最初の操作の時刻", "first operation hour"),
    "last_hour": ("最後の操作の時刻", "last operation hour"),
    "no_case_share": ("案件なしの照会の割合", "share of lookups without a case"),
}
HISTORY_COLUMNS = ("event_id", "ts", "user_id", "terminal_id", "system", "jimu", "action", "subject_hash",
                   "subject_count", "result")  # fmt: skip


class AnomalyParams(Thresholds):
    lookback_days: int = Field(28, ge=1, description="the user's own history: four weeks cover a monthly cycle")
    min_history_days: int = Field(5, ge=1, description="active days before the user's own median is trusted")
    contamination: float = Field(
        0.01, gt=0, le=0.5, description="share of user-days the forest may call unusual (the score threshold)"
    )
    min_ratio: float = Field(3.0, gt=1, description="a count feature at least this many times the median")
    min_peer_ratio_with_own: float = Field(
        1.5, ge=1, description="own-history outliers must also be this far above the section's median that day"
    )
    min_lookups: int = Field(10, ge=0, description="user-days with fewer lookups are too small to report")
    max_per_day: int = Field(2, ge=0, description="alert budget for the whole municipality per day")
    n_estimators: int = Field(200, ge=10, description="trees: scores stable to ~0.01 from about 100")
    random_state: int = Field(0, description="fixed seed: the same data gives the same findings")
    max_training: int = Field(
        20_000,
        ge=1_000,
        description="user-days the forest is fitted on, sampled (each tree sees 256; the score threshold is as "
        "good from 20,000 as from a large city's 300,000, at a fraction of the time)",
    )
    account_kinds: tuple[str, ...] = Field(("personal", "temporary"), description="people, not batch or admin IDs")


# -- features -----------------------------------------------------------------------------------------------------


def features(events: pd.DataFrame) -> pd.DataFrame:
    """Per user-day (of events with :func:`detectors.window.derive`'s columns): the raw features."""
    columns = ["user_id", "day", "section", *FEATURES]
    if events.empty:
        return pd.DataFrame(columns=columns)
    e = events
    look = e["is_lookup"].to_numpy(dtype=bool)
    out = e["action"].isin(OUTPUT_ACTIONS).to_numpy(dtype=bool)
    frame = pd.DataFrame(
        {
            "user_id": e["user_id"].astype(str).to_numpy(),
            "day": e["day"].to_numpy(),
            "section": e["section"].astype(str).fillna("?").to_numpy(),
            "look": look.astype(float),
            "subject": e["subject_hash"].where(look).to_numpy(),
            "hour_bin": np.floor(e["hour"].to_numpy(dtype=float)),
            "hour": e["hour"].to_numpy(dtype=float),
            "system": e["system"].to_numpy(),
            "action": e["action"].to_numpy(),
            "no_case": np.where(look, ~e["has_case"].to_numpy(dtype=bool), np.nan),
            "out": np.where(out, pd.to_numeric(e["subject_count"], errors="coerce").fillna(1).to_numpy(), 0.0),
        }
    )
    g = frame.groupby(["user_id", "day"], sort=True)
    raw = g.agg(
        section=("section", "first"),
        lookups=("look", "sum"),
        residents=("subject", "nunique"),
        hours=("hour_bin", "nunique"),
        first_hour=("hour", "min"),
        last_hour=("hour", "max"),
        systems=("system", "nunique"),
        actions=("action", "nunique"),
        no_case_share=("no_case", "mean"),
        outputs=("out", "sum"),
    ).reset_index()
    raw["no_case_share"] = raw["no_case_share"].fillna(0.0)
    return raw[columns]


def baselines(raw: pd.DataFrame) -> pd.DataFrame:
    """Per user: the median of each feature over the user's days, and how many days there were."""
    base = raw.groupby("user_id")[list(FEATURES)].median()
    base["n_days"] = raw.groupby("user_id").size()
    return base


def relative(raw: pd.DataFrame, baseline: pd.DataFrame, min_history_days: int) -> pd.DataFrame:
    """Model inputs: each feature against the user's own median (``own_*``) and the section's median that
    day (``peer_*``): log ratios for counts, differences for hours and shares. A user without enough
    history is compared with the section only (own deviations 0)."""
    peer = raw.groupby(["section", "day"])[list(FEATURES)].transform("median")
    own = baseline.reindex(raw["user_id"])
    trusted = (own["n_days"].fillna(0).to_numpy() >= min_history_days)[:, None]
    out = {}
    for f in FEATURES:
        x = raw[f].to_numpy(dtype=float)
        o = own[f].to_numpy(dtype=float)
        q = peer[f].to_numpy(dtype=float)
        if f in COUNTS:
            own_dev, peer_dev = np.log1p(x) - np.log1p(o), np.log1p(x) - np.log1p(q)
        else:
            own_dev, peer_dev = x - o, x - q
        out[f"own_{f}"] = np.where(trusted[:, 0] & ~np.isnan(own_dev), own_dev, 0.0)
        out[f"peer_{f}"] = np.nan_to_num(peer_dev)
        out[f"own_median_{f}"] = np.where(trusted[:, 0], o, np.nan)
        out[f"peer_median_{f}"] = q
    return pd.concat([raw.reset_index(drop=True), pd.DataFrame(out)], axis=1)


def inputs(rel: pd.DataFrame) -> np.ndarray:
    return rel[[f"{side}_{f}" for f in FEATURES for side in ("own", "peer")]].to_numpy(dtype=float)


# -- model ----------------------------------------------------------------------------------------------------------


@dataclass
class Model:
    """A fitted forest with its scaler and the users' baselines, named by ``version``."""

    version: str
    scaler: RobustScaler
    forest: IsolationForest
    baseline: pd.DataFrame
    params: dict[str, Any]
    trained_on: dict[str, Any]


def _version(params: BaseModel, trained_on: dict[str, Any]) -> str:
    text = json.dumps({"params": params.model_dump(mode="json"), "trained_on": trained_on}, sort_keys=True, default=str)
    return "if-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def fit(rel: pd.DataFrame, baseline: pd.DataFrame, params: AnomalyParams, trained_on: dict[str, Any]) -> Model:
    """Fit the scaler and the forest on relative user-day features."""
    if len(rel) > params.max_training:
        rel = rel.sample(n=params.max_training, random_state=params.random_state)
    x = inputs(rel)
    scaler = RobustScaler().fit(x)
    forest = IsolationForest(
        n_estimators=params.n_estimators, contamination=params.contamination, random_state=params.random_state
    ).fit(scaler.transform(x))
    return Model(_version(params, trained_on), scaler, forest, baseline, params.model_dump(mode="json"), trained_on)


def train(history_frame: pd.DataFrame, params: AnomalyParams, *, baseline_until: pd.Timestamp | None = None) -> Model:
    """A model from derived events (the users' baselines from days before ``baseline_until``, if given)."""
    return train_on(features(history_frame), params, baseline_until=baseline_until)


def train_on(raw: pd.DataFrame, params: AnomalyParams, *, baseline_until: pd.Timestamp | None = None) -> Model:
    """A model from user-day features (:func:`features`, or the stored user-days)."""
    past = raw if baseline_until is None else raw[raw["day"] < baseline_until]
    baseline = baselines(past)
    rel = relative(raw, baseline, params.min_history_days)
    days = raw["day"]
    trained_on = {
        "from": day_text(days.min()) if len(days) else None,
        "to": day_text(days.max()) if len(days) else None,
        "user_days": len(raw),
    }
    return fit(rel, baseline, params, trained_on)


def score(model: Model, raw: pd.DataFrame) -> pd.DataFrame:
    """Relative features, the forest's ``score`` (lower is stranger), ``unusual`` (below the threshold) and
    the three features that stand out most (largest robust-scaled deviations above normal)."""
    params = AnomalyParams.model_validate(model.params)
    rel = relative(raw, model.baseline, params.min_history_days)
    if rel.empty:
        return rel.assign(score=[], unusual=[], top=[])
    z = model.scaler.transform(inputs(rel))
    rel["score"] = model.forest.decision_function(z)
    rel["unusual"] = rel["score"] < 0
    # per feature the larger of its own and peer deviation, counting only "more than usual" (and for
    # the first hour, earlier than usual)
    names = list(FEATURES)
    zz = z.reshape(len(rel), len(names), 2)
    sign = np.array([-1.0 if f == "first_hour" else 1.0 for f in names])[None, :, None]
    strength = np.clip(zz * sign, 0, None).max(axis=2)
    order = np.argsort(-strength, axis=1, kind="stable")[:, :3]
    rel["top"] = [[names[j] for j in row if strength[i, j] > 0] for i, row in enumerate(order)]
    ratio_own = {f: (rel[f] + 1) / (rel[f"own_median_{f}"] + 1) for f in COUNTS}
    ratio_peer = {f: (rel[f] + 1) / (rel[f"peer_median_{f}"] + 1) for f in COUNTS}
    peer_hit = np.column_stack([ratio_peer[f].to_numpy() >= params.min_ratio for f in COUNTS])
    own_hit = np.column_stack(
        [
            (ratio_own[f].fillna(0).to_numpy() >= params.min_ratio)
            & (ratio_peer[f].to_numpy() >= params.min_peer_ratio_with_own)
            for f in COUNTS
        ]
    )
    far: Any = (peer_hit | own_hit).any(axis=1)
    rel["far"] = far
    return rel


# -- detector -------------------------------------------------------------------------------------------------------


def _times(value: float, median: float) -> str:
    return f"{value / median:.1f}" if median > 0 else "—"


def describe(row: pd.Series, feature: str) -> tuple[str, str]:
    """One feature of a scored user-day in words: value, own median, section median."""
    ja_name, en_name = LABELS[feature]
    x, o, q = row[feature], row[f"own_median_{feature}"], row[f"peer_median_{feature}"]
    if feature in COUNTS:
        own_ja = (
            f"本人の通常の{_times(x, o)}倍"
            if pd.notna(o) and o > 0
            else "本人の履歴なし"
            if pd.isna(o)
            else "本人は通常0"
        )
        own_en = (
            f"{_times(x, o)}× the user's usual"
            if pd.notna(o) and o > 0
            else "no own history"
            if pd.isna(o)
            else "user usually 0"
        )
        peer_ja = f"同じ課の中央値の{_times(x, q)}倍" if q > 0 else "同じ課の中央値は0"
        peer_en = f"{_times(x, q)}× the section's median" if q > 0 else "section median 0"
        return f"{ja_name}が{x:.0f}（{own_ja}、{peer_ja}）", f"{en_name} {x:.0f} ({own_en}, {peer_en})"
    if feature == "no_case_share":
        own = f"{o:.0%}" if pd.notna(o) else "—"
        return (
            f"{ja_name}が{x:.0%}（本人の通常{own}、同じ課の中央値{q:.0%}）",
            f"{en_name} {x:.0%} (usually {own}, section {q:.0%})",
        )
    own = f"{o:.1f}時" if pd.notna(o) else "—"
    return (
        f"{ja_name}が{x:.1f}時（本人の通常{own}、同じ課の中央値{q:.1f}時）",
        f"{en_name} {x:.1f} h (usually {own}, section {q:.1f} h)",
    )


class Anomaly(Detector):
    """D21. See the module docstring: a user-day far from the user's own history and the section's
    peers, explained by its top three features, within an alert budget."""

    code = "D21"
    key = "anomaly"
    severity = "medium"
    title_ja = "通常と異なる利用（本人の履歴・同僚比）"
    title_en = "Unusual user-day (own history and peers)"
    control = "アクセスログの定期的な解析（R3）"
    Params = AnomalyParams

    @property
    def lookback(self) -> timedelta:
        return timedelta(days=self.params.lookback_days)  # type: ignore[attr-defined]

    def detect(self, window: Window) -> list[Finding]:
        p: AnomalyParams = self.params  # type: ignore[assignment]
        e = window.events
        e = e[e["account_kind"].isin(p.account_kinds).to_numpy(dtype=bool)]
        if e.empty or p.max_per_day == 0:
            return []
        today = features(e)
        start_day = window.start.tz_convert(LOCAL_TZ).tz_localize(None).floor("D")
        past = self._past(window, e, start_day)
        together = pd.concat([past, today], ignore_index=True) if len(past) else today
        model = train_on(together, p, baseline_until=start_day)
        if window.keep_user_days is not None:
            window.keep_user_days(today)
        scored = score(model, today)
        flagged = scored[scored["unusual"] & scored["far"] & (scored["lookups"] >= p.min_lookups)]
        if flagged.empty:
            return []
        flagged = flagged.sort_values(["day", "score", "user_id"]).groupby("day").head(p.max_per_day)
        found = []
        for _, row in flagged.iterrows():
            mine = e[(e["user_id"].astype(str) == row["user_id"]) & (e["day"] == row["day"])]
            looked = mine[mine["is_lookup"].to_numpy(dtype=bool)]
            words = [describe(row, f) for f in row["top"]]
            when = span(mine["ts"].min(), mine["ts"].max())
            found.append(
                Finding(
                    rule=self.code,
                    key=f"{row['user_id']}|{day_text(row['day'])}",
                    user_id=str(row["user_id"]),
                    terminal_id=mode(mine["terminal_id"]),
                    subjects=tuple(sorted(looked["subject_hash"].dropna().astype(str).unique())),
                    start=mine["ts"].min(),
                    end=mine["ts"].max(),
                    event_ids=tuple(sorted(looked["event_id"].astype(str))),
                    explanation_ja=f"アカウント {row['user_id']} の {when} の利用が通常と異なります: "
                    + "、".join(w[0] for w in words)
                    + "。",
                    explanation_en=f"Account {row['user_id']}'s use at {when} is unusual: "
                    + "; ".join(w[1] for w in words)
                    + ".",
                    evidence={
                        "model_version": model.version,
                        "score": round(float(row["score"]), 4),
                        "top_features": [
                            {
                                "feature": f,
                                "value": round(float(row[f]), 2),
                                "own_median": None
                                if pd.isna(row[f"own_median_{f}"])
                                else round(float(row[f"own_median_{f}"]), 2),
                                "section_median": round(float(row[f"peer_median_{f}"]), 2),
                            }
                            for f in row["top"]
                        ],
                        "section": str(row["section"]),
                        "trained_on": model.trained_on,
                        "max_per_day": p.max_per_day,
                    },
                )
            )
        return found

    def _past(self, window: Window, e: pd.DataFrame, start_day: pd.Timestamp) -> pd.DataFrame:
        """The lookback's user-days: as stored by earlier runs (a few rows per account and day), or, where
        the store keeps none (a hand-made window), computed from the events before the window."""
        first = start_day - self.lookback
        if window.user_days is not None:
            return window.user_days(first, start_day)
        users = sorted(e["user_id"].astype(str).unique())
        raw_history = window.history(window.start - self.lookback, users=users, columns=HISTORY_COLUMNS)
        if raw_history.empty:
            return features(e.iloc[0:0])
        h = derive(raw_history, window.reference, window.cases)
        kinds = self.params.account_kinds  # type: ignore[attr-defined]
        return features(h[h["account_kind"].isin(kinds).to_numpy(dtype=bool)])
