"""Detectors of the log itself: someone tampering with it (D16) and a source that stopped sending (D18).

Both watch R1 (record every use) from the other side: a detector cannot see what was never logged, so
a change to the log settings, a deleted log, a hole in a source's sequence numbers or a source gone
quiet is itself the finding (岩手県の事例: the helper's work was removed from the audit scope).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from detectors.base import Detector, Finding, Thresholds, clock, day_text, span
from detectors.window import LOCAL_TZ, Window

#: Words in a function or detail that make an operation a change to the audit log, and words that
#: make it a switch-off or removal (both must appear; a setting merely viewed is not tampering).
AUDIT_WORDS = r"ログ設定|ログ出力|操作ログ|監査|audit|log setting"
OFF_WORDS = r"無効|停止|削除|disable|delete|stop|off"


class _Row(dict[str, Any]):
    """A record whose fields read as attributes."""

    def __getattr__(self, name: str) -> Any:
        return self[name]


class AuditTampering(Detector):
    """D16. Changes to log settings (``audit_config``), deleted logs (``log_delete``), operations whose
    function or detail says the audit log was switched off or removed, and holes in a source's sequence
    numbers (``seq``: numbered 1, 2, 3 … by the source, so a missing number is a record that never
    arrived). A hole is only seen between two numbers both inside the window."""

    code = "D16"
    key = "audit_tampering"
    severity = "critical"
    title_ja = "監査ログの改ざん・欠落"
    title_en = "Audit log tampering or loss"
    control = "アクセスログの記録・保護（R1, R2）"

    class Params(Thresholds):
        actions: tuple[str, ...] = Field(
            ("audit_config", "log_delete"), description="actions that change or delete the audit log itself"
        )
        min_missing: int = Field(
            1, ge=1, description="missing sequence numbers that make a gap: a source numbers without holes"
        )

    def detect(self, window: Window) -> list[Finding]:
        return self._changes(window) + self._gaps(window)

    def _changes(self, window: Window) -> list[Finding]:
        p = self.params
        e = window.events
        text = e["function"].fillna("").astype(str) + " " + e["detail"].fillna("").astype(str)
        worded = text.str.contains(AUDIT_WORDS, case=False, regex=True) & text.str.contains(
            OFF_WORDS, case=False, regex=True
        )
        chosen = e[e["action"].isin(p.actions).to_numpy(dtype=bool) | worded.to_numpy(dtype=bool)]  # type: ignore[attr-defined]
        if chosen.empty:
            return []

        def explain(row: pd.Series) -> tuple[str, str]:
            mine = chosen[(chosen["user_id"] == row["user_id"]) & (chosen["day"] == row["day"])]
            deleted = int((mine["action"] == "log_delete").sum())
            what_ja = (
                "ログの削除"
                if deleted == len(mine)
                else ("ログ設定の変更・ログの削除" if deleted else "ログ設定の変更")
            )
            what_en = (
                "log deletion"
                if deleted == len(mine)
                else ("log setting changes or deletions" if deleted else "log setting change")
            )
            systems = "、".join(sorted(set(mine["source"].dropna().astype(str))))
            return (
                f"アカウント {row['user_id']} が {span(row['start'], row['end'])} に{what_ja}を{row['n_events']}件"
                f"行いました（ソース {systems or '不明'}）。監査ログが記録されなくなった可能性があります。",
                f"Account {row['user_id']} made {row['n_events']} {what_en}(s) at {span(row['start'], row['end'])} "
                f"(source {systems or 'unknown'}). The audit log may no longer be recorded.",
            )

        def evidence(row: pd.Series) -> dict[str, Any]:
            mine = chosen[(chosen["user_id"] == row["user_id"]) & (chosen["day"] == row["day"])]
            return {
                "kind": "log_change",
                "actions": sorted(set(mine["action"].astype(str))),
                "sources": sorted(set(mine["source"].dropna().astype(str))),
                "details": sorted(set(mine["detail"].dropna().astype(str)))[:5],
            }

        return self.findings(
            chosen, ["user_id", "day"], explain,
            key=lambda row: f"change|{row['user_id']}|{day_text(row['day'])}", evidence=evidence,
        )  # fmt: skip

    def _gaps(self, window: Window) -> list[Finding]:
        p = self.params
        columns = ["event_id", "ts", "source", "seq"]
        frames = [f.reindex(columns=columns) for f in (window.events, window.sessions) if len(f) and "seq" in f]
        if not frames:
            return []
        s = pd.concat(frames, ignore_index=True)
        s["seq"] = pd.to_numeric(s["seq"], errors="coerce")
        s = s[s["seq"].notna() & s["source"].notna()]
        if s.empty:
            return []
        s = s.assign(ts=pd.to_datetime(s["ts"], utc=True), source=s["source"].astype(str))
        s = s.sort_values(["source", "seq", "ts"]).drop_duplicates(["source", "seq"])
        same = s["source"].eq(s["source"].shift(-1)).to_numpy()
        missing = (s["seq"].shift(-1) - s["seq"] - 1).to_numpy()
        hole = same & (np.nan_to_num(missing, nan=0) >= p.min_missing)  # type: ignore[attr-defined]
        if not hole.any():
            return []
        nxt = s.shift(-1)
        found = []
        for i in np.flatnonzero(hole):
            before, after = s.iloc[i], nxt.iloc[i]
            seq_from, seq_to, n = int(before["seq"]), int(after["seq"]), int(missing[i])
            t0, t1 = before["ts"], after["ts"]
            found.append(
                Finding(
                    rule=self.code,
                    key=f"gap|{before['source']}|{seq_from}",
                    user_id=None,
                    terminal_id=None,
                    subjects=(),
                    start=t0,
                    end=t1,
                    event_ids=tuple(sorted({str(before["event_id"]), str(after["event_id"])})),
                    explanation_ja=(
                        f"ソース {before['source']} の通番 {seq_from} の次が {seq_to} で、{n}件のログが届いていません"
                        f"（{span(t0, t1)} の間）。"
                    ),
                    explanation_en=(
                        f"Source {before['source']} jumps from sequence number {seq_from} to {seq_to}: {n} record(s) "
                        f"never arrived (between {span(t0, t1)})."
                    ),
                    evidence={
                        "kind": "sequence_gap",
                        "source": str(before["source"]),
                        "seq_from": seq_from,
                        "seq_to": seq_to,
                        "missing": n,
                        "last_before": clock(t0),
                        "first_after": clock(t1),
                    },
                )
            )
        return found


class SilentSource(Detector):
    """D18. An expected source (a row of the sources ledger) that sent nothing for longer than its own
    ``expected_max_silence_hours`` (or the default). Silence is counted in hours of 開庁日 only, so the
    office systems' quiet weekends and 年末年始 are not silence, while a source that stops on a Tuesday is
    found on Wednesday. Measured from the source's last event in the window (or its last event ever, when
    nothing came in the window) to the next event or the window's end."""

    code = "D18"
    key = "silent_source"
    severity = "high"
    title_ja = "ログ送信元の途絶"
    title_en = "Silent log source"
    control = "アクセスログの記録と定期的な解析（R1, R3）"

    class Params(Thresholds):
        default_max_silence_hours: float = Field(
            24.0,
            gt=0,
            description="open-day hours without a record: a source busy every business day that misses a "
            "whole one (a nightly file a few hours late is not silent)",
        )
        lookback_days: int = Field(
            31, ge=1, description="how far back to look for a quiet source's last record (a month)"
        )

    def detect(self, window: Window) -> list[Finding]:
        sources = window.sources
        if sources is None or sources.empty:
            return []
        frames = [f[["ts", "source"]] for f in (window.events, window.sessions) if len(f) and "source" in f]
        seen = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["ts", "source"])
        seen = seen.assign(ts=pd.to_datetime(seen["ts"], utc=True), source=seen["source"].astype(str))
        limit = pd.to_numeric(sources["expected_max_silence_hours"], errors="coerce").fillna(
            self.params.default_max_silence_hours  # type: ignore[attr-defined]
        )
        last_ever = pd.to_datetime(sources["last_event_ts"], utc=True)
        names = sources["name"].astype(str)
        # candidates (few): consecutive records of one source further apart than the limit in wall-clock
        # hours (open-day hours are never more), plus the stretch from the last record to the window's end
        known = seen[seen["source"].isin(set(names))].sort_values(["source", "ts"])
        has_own = set(known["source"])
        quiet = [n for n in names if n not in has_own]
        anchor = pd.DataFrame({"source": names, "ts": last_ever})
        anchor = anchor[anchor["ts"].notna() & (anchor["ts"] < window.start)]
        if quiet and window.last_seen is not None:  # nothing in the window: when did each last send?
            lookback = window.start - pd.Timedelta(days=self.params.lookback_days)  # type: ignore[attr-defined]
            before = window.last_seen("source", quiet, lookback)
            anchor = pd.DataFrame({"source": list(before), "ts": pd.to_datetime(list(before.values()), utc=True)})
        anchor = anchor[~anchor["source"].isin(has_own)]
        points = pd.concat([known, anchor], ignore_index=True).sort_values(["source", "ts"])
        points["next"] = points.groupby("source")["ts"].shift(-1)
        points["next"] = points["next"].fillna(window.end)
        points["limit"] = points["source"].map(dict(zip(names, limit, strict=True)))
        wall = (points["next"] - points["ts"]).dt.total_seconds() / 3600
        cand = points[wall > points["limit"]]
        found = []
        for rec in cand.to_dict("records"):
            r: Any = _Row({str(k): v for k, v in rec.items()})
            hours = self._open_hours(window, r.ts, r.next)
            if hours <= r.limit:
                continue
            ongoing = r.next >= window.end
            system = sources.loc[names == r.source, "system"].iloc[0]
            tail_ja = "現在も届いていません" if ongoing else f"{clock(r.next)} に再開しました"
            tail_en = "still nothing" if ongoing else f"resumed at {clock(r.next)}"
            found.append(
                Finding(
                    rule=self.code,
                    key=f"{r.source}|{day_text(r.ts.tz_convert(LOCAL_TZ))}",
                    user_id=None,
                    terminal_id=None,
                    subjects=(),
                    start=r.ts,
                    end=r.next,
                    event_ids=(),
                    explanation_ja=(
                        f"ログ送信元 {r.source}（{system}）から {clock(r.ts)} 以降、開庁時間換算で{hours:.0f}時間"
                        f"ログが届いていません（上限{r.limit:g}時間）。{tail_ja}。"
                    ),
                    explanation_en=(
                        f"Log source {r.source} ({system}) sent nothing for {hours:.0f} open-day hours after "
                        f"{clock(r.ts)} (limit {r.limit:g} h); {tail_en}."
                    ),
                    evidence={
                        "source": str(r.source),
                        "system": None if pd.isna(system) else str(system),
                        "last_event": clock(r.ts),
                        "resumed": None if ongoing else clock(r.next),
                        "silent_open_hours": round(hours, 1),
                        "silent_hours": round((r.next - r.ts).total_seconds() / 3600, 1),
                        "max_silence_hours": float(r.limit),
                    },
                )
            )
        return found

    @staticmethod
    def _open_hours(window: Window, start: pd.Timestamp, end: pd.Timestamp) -> float:
        """Hours between two instants that fall on 開庁日 (calendar where known, else Mon–Fri)."""
        a = start.tz_convert(LOCAL_TZ).tz_localize(None)
        b = end.tz_convert(LOCAL_TZ).tz_localize(None)
        days = pd.date_range(a.floor("D"), b.floor("D"), freq="D")
        calendar = window.reference.calendar_by_day["is_open"]
        position = calendar.index.get_indexer(days)
        known = calendar.to_numpy()[np.where(position >= 0, position, 0)]
        open_day = np.where(position >= 0, known, days.day_of_week < 5).astype(bool)
        day_start = days.to_numpy()
        lo = np.maximum(day_start, np.datetime64(a))
        hi = np.minimum(day_start + np.timedelta64(1, "D"), np.datetime64(b))
        seconds = (hi - lo) / np.timedelta64(1, "s")
        return float(np.clip(seconds, 0, None)[open_day].sum() / 3600)
