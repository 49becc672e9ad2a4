"""Detectors that one event is enough for, built on the policy engine's stored violations.

The engine has already judged every event against the policy (role × 事務 × period × hours × terminal
× factors), with the overtime, counter openings, batch hours and approvals that make a look-alike
legitimate. These detectors turn those violations into findings an officer reads: one per account and
day (and terminal, where the terminal is the story), so forty off-hours lookups of one evening are one
alert naming forty events, not forty alerts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, ClassVar

import pandas as pd
from pydantic import Field

from detectors.base import Detector, Finding, Thresholds, day_text, span
from detectors.window import Window
from policies.rules import BY_KEY


class ViolationDetector(Detector):
    """Findings from events that broke any of ``rules`` (policy rule keys), grouped by ``by``."""

    scope = "event"
    rules: ClassVar[tuple[str, ...]]
    by: ClassVar[tuple[str, ...]] = ("user_id", "day")
    what_ja: ClassVar[str]
    what_en: ClassVar[str]

    def chosen(self, window: Window) -> pd.DataFrame:
        return window.violated(*self.rules)

    def detect(self, window: Window) -> list[Finding]:
        events = self.chosen(window)
        if events.empty:
            return []
        return self.findings(
            events.assign(rules=events["rules"].astype(str)),
            list(self.by),
            self._explain,
            key=lambda row: "|".join([*(str(row[c]) for c in self.by if c != "day"), day_text(row["day"])]),
            evidence=self._evidence(events),
        )

    def _rule_titles(self, rules: str, language: str) -> str:
        keys = sorted({k for part in rules.split(",") for k in [part] if k in BY_KEY})
        titles = [BY_KEY[k].title_ja if language == "ja" else BY_KEY[k].title_en for k in keys]
        return ("・" if language == "ja" else ", ").join(titles)

    def _explain(self, row: pd.Series) -> tuple[str, str]:
        when = span(row["start"], row["end"])
        residents_ja = f"、住民{row['n_subjects']}人" if row["n_subjects"] else ""
        residents_en = f" on {row['n_subjects']} resident(s)" if row["n_subjects"] else ""
        where = f"（端末 {row['terminal']}）" if row["terminal"] else ""
        ja = (
            f"アカウント {row['user_id']} が {when} に{self.what_ja}の操作を{row['n_events']}件"
            f"{residents_ja}行いました{where}。"
        )
        en = (
            f"Account {row['user_id']} made {row['n_events']} operation(s){residents_en} {self.what_en} "
            f"at {when} (terminal {row['terminal'] or '?'})."
        )
        return ja, en

    def _evidence(self, events: pd.DataFrame) -> Callable[[pd.Series], dict[str, Any]]:
        rules_by_event = events.set_index("event_id")["rules"]

        def build(row: pd.Series) -> dict[str, Any]:
            keys = sorted({k for ids in rules_by_event.reindex(row["events"]).dropna() for k in str(ids).split(",")})
            return {"policy_rules": keys, "policy_codes": [BY_KEY[k].code for k in keys if k in BY_KEY]}

        return build


class OffHours(ViolationDetector):
    """D01. The engine already allowed approved overtime, weekend counter openings and batch hours."""

    code = "D01"
    key = "off_hours"
    severity = "medium"
    title_ja = "業務時間外・閉庁日のアクセス"
    title_en = "Access outside business hours"
    control = "業務時間外・休業日のアクセス点検（R3）"
    rules = ("off_hours",)
    what_ja = "時間外命令のない業務時間外・閉庁日"
    what_en = "outside business hours or on a closed day, with no approved overtime,"

    class Params(Thresholds):
        min_events: int = Field(1, ge=1, description="off-hours operations of one account in a day that make a finding")

    def chosen(self, window: Window) -> pd.DataFrame:
        events = super().chosen(window)
        if events.empty:
            return events
        counts = events.groupby(["user_id", "day"])["event_id"].transform("size")
        return events[counts.to_numpy() >= self.params.min_events]  # type: ignore[attr-defined]


class OutOfScope(ViolationDetector):
    """D02. Outside the account's valid grants: no grant that day, a role that does not permit the
    system × 事務 × action, a role used away from its terminals, or an account not in the ledger."""

    code = "D02"
    key = "out_of_scope"
    severity = "high"
    title_ja = "権限範囲外のアクセス"
    title_en = "Access outside the granted scope"
    control = "事務ごとのアクセス制御（R4）"
    rules = ("no_grant", "out_of_scope", "terminal_not_allowed", "unknown_account", "contractor_without_pledge")
    what_ja = "権限の範囲外"
    what_en = "outside its granted roles"


class ForeignTerminal(ViolationDetector):
    """D11. An account used from a terminal owned by another section (鴨川市 2022-23)."""

    code = "D11"
    key = "foreign_terminal"
    severity = "high"
    title_ja = "他所属の端末からのアクセス（なりすましの疑い）"
    title_en = "Account used from another section's terminal"
    control = "識別・認証、なりすまし防止（R5）"
    rules = ("foreign_terminal",)
    by = ("user_id", "terminal_id", "day")
    what_ja = "他所属の端末から"
    what_en = "from a terminal of another section"


class MissingFactors(ViolationDetector):
    """D12. マイナンバー利用事務系 needs two factors; the session had fewer (or no login at all)."""

    code = "D12"
    key = "missing_factors"
    severity = "medium"
    title_ja = "二要素認証なしのアクセス"
    title_en = "Access without the required second factor"
    control = "二要素認証（R5）"
    rules = ("missing_factors",)
    what_ja = "必要な認証要素を満たさないセッションで"
    what_en = "in a session without the required authentication factors"


class AfterTransferOrRetirement(ViolationDetector):
    """D13. Activity after the personnel transfer or retirement date, or on a disabled account; and an
    account dormant for months that comes back to life (read from history)."""

    code = "D13"
    key = "after_transfer"
    severity = "high"
    title_ja = "異動・退職後のアクセス、休眠IDの再使用"
    title_en = "Access after transfer or retirement, dormant ID reused"
    control = "異動・退職時のID失効、休眠IDの管理（R6）"
    rules = ("after_transfer", "after_retirement", "account_disabled")
    what_ja = "異動・退職・無効化の後に"
    what_en = "after the holder's transfer or retirement, or on a disabled account,"

    class Params(Thresholds):
        dormant_days: int = Field(
            60, ge=7, description="no operation for this many days makes an account dormant (two months)"
        )

    @property
    def lookback(self) -> timedelta:
        return timedelta(days=self.params.dormant_days)  # type: ignore[attr-defined]

    def detect(self, window: Window) -> list[Finding]:
        found = [
            replace(f, severity="critical") if "after_retirement" in f.evidence.get("policy_rules", ()) else f
            for f in super().detect(window)
        ]
        return found + self._dormant(window)

    def _dormant(self, window: Window) -> list[Finding]:
        days: int = self.params.dormant_days  # type: ignore[attr-defined]
        active = window.events[window.events["account_kind"].isin(["personal", "temporary", "admin"])]
        if active.empty or window.last_seen is None:
            return []
        since = window.start - timedelta(days=days)
        covered = window.first_event
        if covered is None or covered > since:  # the store does not reach back far enough to say
            return []
        seen = window.last_seen("user_id", list(active["user_id"].astype(str).unique()), since)
        first_today = active.groupby("user_id")["ts"].min()
        created = window.reference.accounts_by_user["created_on"]
        dormant = []
        for user in first_today.index:
            last = seen.get(str(user))
            made = created.get(user) if user in created.index else None
            if last is not None or (
                made is not None and pd.notna(made) and pd.Timestamp(made) > since.tz_localize(None)
            ):
                continue
            dormant.append(str(user))
        if not dormant:
            return []
        first_day = active[active["user_id"].isin(dormant)]
        first_day = first_day[first_day["day"] == first_day.groupby("user_id")["day"].transform("min")]
        return self.findings(
            first_day,
            ["user_id", "day"],
            lambda row: (
                f"アカウント {row['user_id']} は{days}日以上操作がなかった休眠IDですが、"
                f"{span(row['start'], row['end'])} に再び使用されました（{row['n_events']}件）。",
                f"Account {row['user_id']}, unused for {days}+ days, was used again at "
                f"{span(row['start'], row['end'])} ({row['n_events']} operation(s)).",
            ),
            key=lambda row: f"dormant|{row['user_id']}|{day_text(row['day'])}",
            evidence=lambda row: {"dormant_days": days, "kind": "dormant_reactivated"},
        )


class UnregisteredTerminal(ViolationDetector):
    """D19. A terminal unknown to the registry, retired, or outside the マイナンバー利用事務系 segment."""

    code = "D19"
    key = "unregistered_terminal"
    severity = "high"
    title_ja = "未登録・廃止済み・区分外の端末"
    title_en = "Unregistered, retired or wrong-segment terminal"
    control = "端末の管理（三層の対策、R5）"
    rules = ("unregistered_terminal", "retired_terminal", "wrong_segment")
    by = ("user_id", "terminal_id", "day")
    what_ja = "未登録・廃止済み・区分外の端末で"
    what_en = "on an unregistered, retired or wrong-segment terminal"


class MyNumberOutOfRole(ViolationDetector):
    """D20. 個人番号 displayed by a role that does not use the number."""

    code = "D20"
    key = "mynumber_display"
    severity = "high"
    title_ja = "個人番号を利用しない役割での個人番号表示"
    title_en = "My Number displayed outside the role"
    control = "個人番号の利用制限（番号法第9条、R4）"
    rules = ("mynumber_display",)
    what_ja = "役割にない個人番号の表示"
    what_en = "displaying My Numbers its roles do not use"


DETECTORS: Sequence[type[Detector]] = (
    OffHours,
    OutOfScope,
    ForeignTerminal,
    MissingFactors,
    AfterTransferOrRetirement,
    UnregisteredTerminal,
    MyNumberOutOfRole,
)
