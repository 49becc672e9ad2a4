"""Detectors of how accounts are used: one ID shared between people (D10), bulk output (D14) and
privileged IDs doing what they should not (D15).

They read sessions (logins and logouts), operations and output approvals as DataFrames; only the
account-days that end up as findings become Python objects.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from detectors.base import OUTPUT_ACTIONS, Detector, Finding, Thresholds, clock, day_text, span, summarise
from detectors.window import LOCAL_TZ, Window
from policies.engine import section_on_day

ADMIN_ACTIONS = ("admin", "audit_config")


def _jst_day(ts: pd.Series) -> Any:
    return ts.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None).dt.floor("D")


def _utc(values: Any) -> Any:
    return pd.to_datetime(values, utc=True)


def _open_day(days: pd.Series, window: Window) -> pd.Series:
    """Whether each (naive JST) day is a 開庁日: the calendar where it has the day, else Mon–Fri."""
    calendar = window.reference.calendar_by_day["is_open"]
    position = calendar.index.get_indexer(pd.Index(days))
    known = calendar.to_numpy()[np.where(position >= 0, position, 0)]
    weekday = days.dt.day_of_week.to_numpy() < 5
    return pd.Series(np.where(position >= 0, known, weekday).astype(bool), index=days.index)


def _finding(
    detector: Detector,
    key: str,
    user: str | None,
    events: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    texts: tuple[str, str],
    evidence: dict[str, Any],
    terminal: str | None = None,
) -> Finding:
    """One finding from the events of its story (which may be empty, e.g. a session with no operation)."""
    summary = summarise(events, ["user_id"]) if len(events) else None
    row = summary.iloc[0] if summary is not None and len(summary) else None
    return Finding(
        rule=detector.code,
        key=key,
        user_id=user,
        terminal_id=terminal if terminal is not None else (row["terminal"] if row is not None else None),
        subjects=tuple(row["subjects"]) if row is not None else (),
        start=min(start, row["start"]) if row is not None else start,
        end=max(end, row["end"]) if row is not None else end,
        event_ids=tuple(row["events"]) if row is not None else (),
        explanation_ja=texts[0],
        explanation_en=texts[1],
        evidence=evidence,
    )


# -- D10 ------------------------------------------------------------------------------------------------------------


class SharedId(Detector):
    """D10. One ID used by more than one person (船橋市 2010-12; 仙台市 2022's temporary card).

    Signals, per account and Japan day: sessions of the account open on two terminals at the same time;
    operations that switch terminal and come back within minutes (A → B → A); use across many terminals
    in one day; and any resident touched through a ``temporary`` account (a card not tied to a person).
    Counter staff rotating between their own section's counter terminals in sequence are not sharing:
    counters of the user's own section count as one terminal, and only interleaved operations make a
    counter-to-counter overlap suspicious. Batch accounts on server terminals are machines, not people.
    """

    code = "D10"
    key = "shared_id"
    severity = "high"
    title_ja = "IDの共用（複数端末での同時使用・一時カード）"
    title_en = "Shared ID (simultaneous use on several terminals, temporary card)"
    control = "個人ごとのID発行・共用IDの禁止、識別・認証（R5, R6）"

    class Params(Thresholds):
        min_overlap_minutes: float = Field(
            1.0, ge=0, description="sessions overlapping less than this are clock skew between terminals"
        )
        idle_minutes: float = Field(
            30.0,
            gt=0,
            description="a session counts as ended this long after its last operation (a forgotten logout "
            "at a desk left behind is not a second person; the usual screen-lock time)",
        )
        session_hours: float = Field(12.0, gt=0, description="a login without logout is open at most this long")
        interleave_minutes: float = Field(
            10.0, gt=0, description="A → B → A within this is two people at two desks, not a walk between them"
        )
        max_terminals: int = Field(
            3, ge=2, description="distinct terminals in a day (own counters as one): a person has one desk"
        )
        flag_temporary: bool = Field(True, description="any resident touched through a temporary card is a finding")

    def detect(self, window: Window) -> list[Finding]:
        p = self.params
        e = window.events
        ops = e[e["terminal_id"].notna()].copy()
        ops["terminal_id"] = ops["terminal_id"].astype(str)
        ops["counter_own"] = (ops["terminal_kind"] == "counter").to_numpy(dtype=bool) & (
            ops["terminal_section"].astype(str) == ops["section"].astype(str)
        ).to_numpy(dtype=bool)
        machine = ((ops["account_kind"] == "batch") & (ops["terminal_kind"] == "server")).to_numpy(dtype=bool)
        ops = ops[~machine]

        reasons: dict[tuple[str, Any], dict[str, Any]] = {}
        chosen: list[pd.DataFrame] = []

        def note(user: str, day: Any) -> dict[str, Any]:
            return reasons.setdefault((user, day), {"overlaps": [], "interleaved": 0, "terminals": [], "temporary": 0})

        # 1. sessions open on two terminals at once
        overlaps = self._overlaps(window, ops)
        for r in overlaps.itertuples(index=False):
            note(str(r.user_id), r.day)["overlaps"].append(
                {"terminals": [r.terminal_a, r.terminal_b], "from": r.o_start, "to": r.o_end}
            )
        if len(overlaps):
            frame = overlaps.rename(columns={"day": "fday"})
            pairs = ops.merge(frame[["user_id", "terminal_a", "terminal_b", "o_start", "o_end", "fday"]], on="user_id")
            pairs = pairs[
                (pairs["ts"] >= pairs["o_start"])
                & (pairs["ts"] <= pairs["o_end"])
                & ((pairs["terminal_id"] == pairs["terminal_a"]) | (pairs["terminal_id"] == pairs["terminal_b"]))
            ]
            chosen.append(pairs)

        # 2. operations interleaved between two terminals
        s = ops.sort_values(["user_id", "ts"], kind="stable")
        same_prev = s["user_id"].eq(s["user_id"].shift(1)).to_numpy()
        same_next = s["user_id"].eq(s["user_id"].shift(-1)).to_numpy()
        prev_t, next_t = s["terminal_id"].shift(1), s["terminal_id"].shift(-1)
        gap = (s["ts"].shift(-1) - s["ts"].shift(1)).dt.total_seconds().to_numpy() / 60
        counters = s["counter_own"].to_numpy(dtype=bool)
        both_counters = counters & s["counter_own"].shift(1, fill_value=False).to_numpy(dtype=bool)
        middle = (
            same_prev
            & same_next
            & (s["terminal_id"] != prev_t).to_numpy(dtype=bool)
            & (next_t == prev_t).to_numpy(dtype=bool)
            & (np.nan_to_num(gap, nan=np.inf) <= p.interleave_minutes)  # type: ignore[attr-defined]
            & ~both_counters
        )
        if middle.any():
            around = middle | np.roll(middle, 1) | np.roll(middle, -1)
            hit = s[around]
            for (user, day), n in s[middle].groupby(["user_id", "day"]).size().items():
                note(str(user), day)["interleaved"] = int(n)
            chosen.append(hit.assign(fday=hit["day"]))

        # 3. many terminals in one day (own counters count as one)
        token = ops["terminal_id"].where(~ops["counter_own"].to_numpy(dtype=bool), "counter")
        n_terms = ops.assign(token=token).groupby(["user_id", "day"])["token"].nunique()
        many: Any = n_terms[n_terms >= p.max_terminals]  # type: ignore[attr-defined]
        if len(many):
            keys = many.index.to_frame(index=False)
            hit = ops.merge(keys, on=["user_id", "day"])
            for (user, day), terms in hit.groupby(["user_id", "day"])["terminal_id"]:
                note(str(user), day)["terminals"] = sorted(set(terms))
            chosen.append(hit.assign(fday=hit["day"]))

        # 4. a temporary card on residents
        if p.flag_temporary:  # type: ignore[attr-defined]
            temp = e[(e["account_kind"] == "temporary").to_numpy(dtype=bool) & e["subject_hash"].notna().to_numpy()]
            per_day: Any = temp.groupby(["user_id", "day"]).size()
            for (user, day), n in per_day.items():
                note(str(user), day)["temporary"] = int(n)
            chosen.append(temp.assign(fday=temp["day"]))

        if not reasons:
            return []
        events = (
            pd.concat([c for c in chosen if len(c)], ignore_index=True) if any(len(c) for c in chosen) else e.iloc[0:0]
        )
        if len(events):
            events = events.drop_duplicates("event_id")
        found = []
        for (user, day), why in sorted(reasons.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            mine = events[(events["user_id"].astype(str) == user) & (events["fday"] == day)] if len(events) else events
            starts = [o["from"] for o in why["overlaps"]] or [mine["ts"].min()]
            ends = [o["to"] for o in why["overlaps"]] or [mine["ts"].max()]
            found.append(
                _finding(
                    self,
                    f"{user}|{day_text(day)}",
                    user,
                    mine,
                    min(starts),
                    max(ends),
                    self._explain(user, why, mine),
                    self._evidence(why, mine),
                )
            )
        return found

    def _sessions(self, window: Window, ops: pd.DataFrame) -> pd.DataFrame:
        """Session intervals: user, terminal, start, end (logout; or last operation + idle time)."""
        p = self.params
        columns = ["ts", "user_id", "terminal_id", "session_id", "action", "result"]
        frames = [f for f in (window.reference.sessions, window.sessions) if len(f) and "action" in f]
        if not frames:
            return pd.DataFrame(columns=["user_id", "terminal_id", "start", "end"])
        auth = pd.concat([f.reindex(columns=columns) for f in frames], ignore_index=True)
        auth["ts"] = _utc(auth["ts"])
        auth = auth.drop_duplicates(["ts", "user_id", "terminal_id", "session_id", "action"])
        ok = auth["result"].fillna("success").astype(str) == "success"
        logins = auth[(auth["action"] == "login").to_numpy(dtype=bool) & ok.to_numpy(dtype=bool)]
        logins = logins[logins["terminal_id"].notna()].reset_index(drop=True)
        if logins.empty:
            return pd.DataFrame(columns=["user_id", "terminal_id", "start", "end"])
        logins["terminal_id"] = logins["terminal_id"].astype(str)
        logins["key"] = logins["user_id"].astype(str) + "\x1f" + logins["terminal_id"]
        logins["sid"] = logins["user_id"].astype(str) + "\x1f" + logins["session_id"].astype(str)
        logins.loc[logins["session_id"].isna(), "sid"] = None
        cap = pd.Timedelta(hours=p.session_hours)  # type: ignore[attr-defined]
        logouts = auth[auth["action"] == "logout"].copy()
        logouts["key"] = logouts["user_id"].astype(str) + "\x1f" + logouts["terminal_id"].astype(str)
        logouts["sid"] = logouts["user_id"].astype(str) + "\x1f" + logouts["session_id"].astype(str)
        # the logout of the same session id, else the next logout on the same terminal
        by_sid = logins.reset_index(names="i").merge(logouts[["sid", "ts"]].rename(columns={"ts": "out"}), on="sid")
        first_out = by_sid[by_sid["out"] >= by_sid["ts"]].groupby("i")["out"].min()
        logins["logout"] = first_out.reindex(logins.index)
        todo = logins[logins["logout"].isna()].reset_index(names="i").sort_values("ts")
        if len(todo) and len(logouts):
            right = logouts[["key", "ts"]].dropna().assign(out=lambda f: f["ts"]).sort_values("ts")
            nxt = pd.merge_asof(
                todo, right[["ts", "key", "out"]], on="ts", by="key", direction="forward", tolerance=cap
            )
            logins.loc[nxt["i"].to_numpy(), "logout"] = nxt["out"].to_numpy()
        # the last operation of each session (by session id, else the latest login on the terminal)
        o = ops[["ts", "user_id", "terminal_id", "session_id"]].copy()
        o["sid"] = o["user_id"].astype(str) + "\x1f" + o["session_id"].astype(str)
        by_sid_index = pd.Series(logins.index, index=logins["sid"]).dropna()
        by_sid_index = by_sid_index[np.asarray(by_sid_index.index.notna())]
        by_sid_index = by_sid_index[~by_sid_index.index.duplicated(keep="last")]
        pos = by_sid_index.index.get_indexer(pd.Index(o["sid"]))
        row = by_sid_index.to_numpy()[np.where(pos >= 0, pos, 0)] if len(by_sid_index) else np.zeros(len(o), dtype=int)
        o["i"] = np.where(o["session_id"].notna().to_numpy() & (pos >= 0), row, -1)
        rest = (
            o[o["i"] < 0].assign(key=lambda f: f["user_id"].astype(str) + "\x1f" + f["terminal_id"]).sort_values("ts")
        )
        if len(rest):
            left = logins.reset_index(names="j")[["ts", "key", "j"]].sort_values("ts")
            back = pd.merge_asof(rest, left, on="ts", by="key", direction="backward", tolerance=cap)
            o.loc[rest.index, "i"] = back["j"].fillna(-1).astype(int).to_numpy()
        last_op = o[o["i"] >= 0].groupby("i")["ts"].max().reindex(logins.index)
        idle = pd.Timedelta(minutes=p.idle_minutes)  # type: ignore[attr-defined]
        end = logins["logout"].where(logins["logout"].notna(), logins["ts"] + cap)
        end = end.where(end <= logins["ts"] + cap, logins["ts"] + cap)
        active_end = last_op + idle
        # with operations: the session ends at the logout or when it went idle; without: at the logout
        end = end.where(last_op.isna() | (active_end >= end), active_end)
        end = end.where(last_op.notna() | logins["logout"].notna(), logins["ts"])
        return pd.DataFrame(
            {
                "user_id": logins["user_id"].astype(str),
                "terminal_id": logins["terminal_id"],
                "start": logins["ts"],
                "end": end,
            }
        )

    def _overlaps(self, window: Window, ops: pd.DataFrame) -> pd.DataFrame:
        columns = ["user_id", "terminal_a", "terminal_b", "o_start", "o_end", "day"]
        sessions = self._sessions(window, ops)
        if len(sessions) < 2:
            return pd.DataFrame(columns=columns)
        accounts = window.reference.accounts_by_user
        kind = pd.Series(accounts["kind"]).reindex(sessions["user_id"]).to_numpy()
        terminals = window.reference.terminals_by_id
        t_kind = pd.Series(terminals["kind"]).reindex(sessions["terminal_id"]).to_numpy()
        sessions = sessions[~((kind == "batch") & (t_kind == "server"))]
        pairs = sessions.merge(sessions, on="user_id", suffixes=("_a", "_b"))
        pairs = pairs[pairs["terminal_id_a"] < pairs["terminal_id_b"]]
        o_start = pairs[["start_a", "start_b"]].max(axis=1)
        o_end = pairs[["end_a", "end_b"]].min(axis=1)
        minutes = (o_end - o_start).dt.total_seconds() / 60
        pairs = pairs.assign(o_start=o_start, o_end=o_end)[minutes >= max(self.params.min_overlap_minutes, 1e-9)]  # type: ignore[attr-defined]
        pairs = pairs[(pairs["o_start"] >= window.start) & (pairs["o_start"] < window.end)]
        if pairs.empty:
            return pd.DataFrame(columns=columns)
        pairs = pairs.rename(columns={"terminal_id_a": "terminal_a", "terminal_id_b": "terminal_b"})
        pairs["day"] = _jst_day(pairs["o_start"])
        # own-section counters rotated in sequence are not sharing (interleaved operations still are)
        staff = pd.Series(accounts["staff_id"]).reindex(pairs["user_id"]).to_numpy()
        section = section_on_day(
            pd.DataFrame({"staff_id": staff, "day": pairs["day"].to_numpy()}), window.reference.assignments
        )
        counter = {}
        for side in ("a", "b"):
            t = pairs[f"terminal_{side}"]
            counter[side] = (pd.Series(terminals["kind"]).reindex(t).to_numpy() == "counter") & (
                pd.Series(terminals["section_code"]).reindex(t).astype(str).to_numpy() == section.astype(str).to_numpy()
            )
        pairs = pairs[~(counter["a"] & counter["b"])]
        merged = (
            pairs.groupby(["user_id", "terminal_a", "terminal_b", "day"], as_index=False)
            .agg(o_start=("o_start", "min"), o_end=("o_end", "max"))
        )  # fmt: skip
        result: pd.DataFrame = merged[columns]
        return result

    def _explain(self, user: str, why: dict[str, Any], events: pd.DataFrame) -> tuple[str, str]:
        ja: list[str] = []
        en: list[str] = []
        for o in why["overlaps"][:3]:
            a, b = o["terminals"]
            minutes = round((o["to"] - o["from"]).total_seconds() / 60)
            ja.append(f"{span(o['from'], o['to'])} に端末 {a} と {b} で同時にログインしていました（重なり{minutes}分）")
            en.append(
                f"was signed in on terminals {a} and {b} at the same time at {span(o['from'], o['to'])} ({minutes} min)"
            )
        if why["interleaved"]:
            ja.append(f"数分のうちに2台の端末を行き来して操作していました（{why['interleaved']}回）")
            en.append(f"switched back and forth between two terminals within minutes ({why['interleaved']} times)")
        if why["terminals"]:
            t = "、".join(why["terminals"])
            ja.append(f"1日に{len(why['terminals'])}台の端末（{t}）で使われました")
            en.append(f"was used on {len(why['terminals'])} terminals in one day ({', '.join(why['terminals'])})")
        if why["temporary"]:
            n = int(events.loc[events["account_kind"] == "temporary", "subject_hash"].nunique()) if len(events) else 0
            ja.append(f"個人に紐付かない一時カードで住民{n}人の記録を{why['temporary']}件操作しました")
            en.append(
                f"is a temporary card not tied to a person and touched {n} resident(s) "
                f"in {why['temporary']} operation(s)"
            )
        return (
            f"アカウント {user} は" + "。また".join(ja) + "。1つのIDを複数人で使っている疑いがあります。",
            f"Account {user} " + "; it ".join(en) + ". One ID may be used by several people.",
        )

    def _evidence(self, why: dict[str, Any], events: pd.DataFrame) -> dict[str, Any]:
        terminals = sorted(set(events["terminal_id"].dropna().astype(str))) if len(events) else []
        for o in why["overlaps"]:
            terminals = sorted(set(terminals) | set(o["terminals"]))
        reasons = [
            name
            for name, on in (
                ("overlapping_sessions", bool(why["overlaps"])),
                ("interleaved_terminals", bool(why["interleaved"])),
                ("many_terminals", bool(why["terminals"])),
                ("temporary_card", bool(why["temporary"])),
            )
            if on
        ]
        return {
            "reasons": reasons,
            "terminals": terminals,
            "overlaps": [
                {
                    "terminals": o["terminals"],
                    "from": clock(o["from"]),
                    "to": clock(o["to"]),
                    "minutes": round((o["to"] - o["from"]).total_seconds() / 60, 1),
                }
                for o in why["overlaps"][:10]
            ],
            "interleaved_switches": why["interleaved"],
            "terminals_in_day": len(why["terminals"]),
            "max_terminals": self.params.max_terminals,  # type: ignore[attr-defined]
            "temporary_operations": why["temporary"],
        }


# -- D14 ------------------------------------------------------------------------------------------------------------


def covered_by_approval(outputs: pd.DataFrame, approvals: pd.DataFrame) -> pd.Series:
    """Whether each output event falls under a valid output approval (same rule as the policy engine:
    the account or its person, the action, the 事務 if the approval names one, the period, the count)."""
    covered = pd.Series(False, index=outputs.index)
    if outputs.empty or approvals is None or approvals.empty:
        return covered
    a = approvals.assign(valid_from=_utc(approvals["valid_from"]), valid_to=_utc(approvals["valid_to"]))
    rows = outputs[["ts", "user_id", "staff_id", "action", "jimu", "count"]].reset_index(names="idx")
    columns = ["action", "jimu", "max_count", "valid_from", "valid_to"]
    joined = pd.concat(
        [
            rows.merge(
                a[[*columns, "user_id"]].dropna(subset=["user_id"]), on=["user_id", "action"], suffixes=("", "_a")
            ),
            rows.merge(
                a[[*columns, "staff_id"]].dropna(subset=["staff_id"]), on=["staff_id", "action"], suffixes=("", "_a")
            ),
        ],
        ignore_index=True,
    )
    if joined.empty:
        return covered
    ok = (joined["valid_from"] <= joined["ts"]) & (joined["ts"] < joined["valid_to"])
    ok &= joined["jimu_a"].isna() | (joined["jimu_a"].astype(str) == joined["jimu"].astype(str))
    ok &= joined["max_count"].isna() | (joined["count"] <= pd.to_numeric(joined["max_count"], errors="coerce"))
    covered.loc[joined.loc[ok.to_numpy(dtype=bool), "idx"].unique()] = True
    return covered


class BulkOutput(Detector):
    """D14. Residents' data taken out in bulk (鴨川市, 岩手県の事例): one print or export of many residents
    without an output approval (the policy engine's ``bulk_without_approval``), a day's output far above
    the section's peers and the user's own history, or a day of hundreds of single-resident prints.
    Outputs under a valid approval (a clerk's notice printing, the night batch) never count."""

    code = "D14"
    key = "bulk_output"
    severity = "high"
    title_ja = "大量出力（承認なし・同僚比で突出）"
    title_en = "Bulk output (no approval, far above peers)"
    control = "データ出力の事前承認、外部媒体・持出しの制限（R1, R4）"

    class Params(Thresholds):
        daily_min_volume: int = Field(
            300,
            ge=1,
            description="residents output in a day without approval before peers are compared: a counter "
            "clerk prints well under this for the day's visitors",
        )
        peer_factor: float = Field(
            5.0, gt=1, description="times the 95th percentile of the section's peers that day (and of the "
            "user's own days) that is 'far above'; the percentile already absorbs the busy colleague"
        )  # fmt: skip
        history_days: int = Field(28, ge=0, description="the user's own history: four weeks cover a monthly cycle")
        max_single_outputs: int = Field(
            200, ge=1, description="single-resident prints/exports in one day that amount to a bulk output"
        )

    @property
    def lookback(self) -> timedelta:
        return timedelta(days=self.params.history_days)  # type: ignore[attr-defined]

    def detect(self, window: Window) -> list[Finding]:
        p = self.params
        e = window.events
        ok = e["result"].fillna("success").astype(str) == "success"
        out = e[e["action"].isin(OUTPUT_ACTIONS).to_numpy(dtype=bool) & ok.to_numpy(dtype=bool)].copy()
        out["count"] = pd.to_numeric(out["subject_count"], errors="coerce").fillna(1)
        out = out[~covered_by_approval(out, window.reference.approvals).to_numpy(dtype=bool)]
        bulk = window.violated("bulk_without_approval")
        bulk_ids = set(bulk["event_id"].astype(str))
        if out.empty and bulk.empty:
            return []
        day = out.groupby(["user_id", "day"]).agg(
            volume=("count", "sum"), singles=("count", lambda c: int((c <= 1).sum()))
        )
        day = day.reset_index()
        # peers: everyone active in the section that day, at 0 if they output nothing
        members = e[e["section"].notna()].groupby(["section", "day"])["user_id"].unique().explode().dropna()
        active = members.reset_index().rename(columns={"user_id": "peer"})
        volume_of = day.set_index(["user_id", "day"])["volume"]
        active["volume"] = (
            volume_of.reindex(pd.MultiIndex.from_arrays([active["peer"], active["day"]])).fillna(0).to_numpy()
        )
        section_of = e.drop_duplicates(["user_id", "day"]).set_index(["user_id", "day"])["section"]
        day["section"] = section_of.reindex(pd.MultiIndex.from_frame(day[["user_id", "day"]])).to_numpy()
        cand = day[day["volume"] >= p.daily_min_volume].copy()  # type: ignore[attr-defined]
        cand["peer_p95"] = 0.0
        cand["history_p95"] = 0.0
        if len(cand):
            peers = cand[["user_id", "day", "section"]].merge(active, on=["section", "day"])
            peers = peers[peers["peer"].astype(str) != peers["user_id"].astype(str)]
            p95 = peers.groupby(["user_id", "day"])["volume"].quantile(0.95)
            cand["peer_p95"] = p95.reindex(pd.MultiIndex.from_frame(cand[["user_id", "day"]])).fillna(0).to_numpy()
            cand["history_p95"] = self._history(window, cand["user_id"].astype(str).unique().tolist()).reindex(
                cand["user_id"].astype(str)
            ).fillna(0).to_numpy()  # fmt: skip
            k = p.peer_factor  # type: ignore[attr-defined]
            cand = cand[(cand["volume"] > k * cand["peer_p95"]) & (cand["volume"] > k * cand["history_p95"])]
        singles = day[day["singles"] >= p.max_single_outputs]  # type: ignore[attr-defined]

        stories: dict[tuple[str, Any], dict[str, Any]] = {}
        r: Any
        bulk_days: Any = bulk.groupby(["user_id", "day"]).size()
        for r in bulk_days.items():
            stories.setdefault((str(r[0][0]), r[0][1]), {})["bulk"] = int(r[1])
        for r in cand.itertuples(index=False):
            stories.setdefault((str(r.user_id), r.day), {}).update(
                volume=int(r.volume), peer_p95=float(r.peer_p95), history_p95=float(r.history_p95)
            )
        for r in singles.itertuples(index=False):
            stories.setdefault((str(r.user_id), r.day), {})["singles"] = int(r.singles)
        found = []
        for (user, d), why in sorted(stories.items()):
            mine_out = out[(out["user_id"].astype(str) == user) & (out["day"] == d)]
            picked = []
            if "volume" in why:
                picked.append(mine_out)
            elif "singles" in why:
                picked.append(mine_out[mine_out["count"] <= 1])
            mine_bulk = bulk[(bulk["user_id"].astype(str) == user) & (bulk["day"] == d)]
            picked.append(mine_bulk)
            events = pd.concat([x for x in picked if len(x)], ignore_index=True).drop_duplicates("event_id")
            counts = pd.to_numeric(events["subject_count"], errors="coerce").fillna(1)
            why["residents_output"] = int(counts.sum())
            if "bulk" in why:
                why["largest"] = int(pd.to_numeric(mine_bulk["subject_count"], errors="coerce").fillna(1).max())
            found.append(
                _finding(
                    self,
                    f"{user}|{day_text(d)}",
                    user,
                    events,
                    events["ts"].min(),
                    events["ts"].max(),
                    self._explain(user, why, events),
                    self._evidence(why, bulk_ids, events),
                )
            )
        return found

    def _history(self, window: Window, users: list[str]) -> pd.Series:
        """Per user, the 95th percentile of the residents output per day over the history."""
        days = self.params.history_days  # type: ignore[attr-defined]
        if not days or not users:
            return pd.Series(dtype=float)
        h = window.history(window.start - pd.Timedelta(days=days), users=users,
                           columns=("event_id", "ts", "user_id", "action", "subject_count"))  # fmt: skip
        if h.empty:
            return pd.Series(dtype=float)
        h = h[h["action"].isin(OUTPUT_ACTIONS)]
        if h.empty:
            return pd.Series(dtype=float)
        h = h.assign(day=_jst_day(_utc(h["ts"])), count=pd.to_numeric(h["subject_count"], errors="coerce").fillna(1))
        per_day = h.groupby([h["user_id"].astype(str), "day"])["count"].sum()
        return per_day.groupby(level=0).quantile(0.95)

    def _explain(self, user: str, why: dict[str, Any], events: pd.DataFrame) -> tuple[str, str]:
        when = span(events["ts"].min(), events["ts"].max())
        ja, en = [], []
        if "bulk" in why:
            ja.append(f"出力承認のない一括出力{why['bulk']}件（最大{why['largest']:,}人分）")
            en.append(f"{why['bulk']} bulk output(s) without an output approval (up to {why['largest']:,} residents)")
        if "volume" in why:
            ja.append(
                f"1日の出力が承認外で計{why['volume']:,}人分（同じ課の上位5%水準{why['peer_p95']:,.0f}人分・"
                f"本人の通常{why['history_p95']:,.0f}人分の{self.params.peer_factor:g}倍超）"  # type: ignore[attr-defined]
            )
            en.append(
                f"{why['volume']:,} residents output in the day without approval, over "
                f"{self.params.peer_factor:g}× the section's 95th percentile ({why['peer_p95']:,.0f}) "  # type: ignore[attr-defined]
                f"and the user's own ({why['history_p95']:,.0f})"
            )
        if "singles" in why:
            ja.append(f"1人ずつの印刷・出力が{why['singles']}件")
            en.append(f"{why['singles']} single-resident prints/exports")
        return (
            f"アカウント {user} が {when} に" + "、".join(ja) + "を行いました。",
            f"Account {user} made " + "; ".join(en) + f" at {when}.",
        )

    def _evidence(self, why: dict[str, Any], bulk_ids: set[str], events: pd.DataFrame) -> dict[str, Any]:
        p = self.params
        evidence: dict[str, Any] = {
            "reasons": [
                r
                for r, k in (("without_approval", "bulk"), ("above_peers", "volume"), ("many_single", "singles"))
                if k in why
            ],
            "residents_output": why["residents_output"],
            "actions": sorted(set(events["action"].astype(str))),
            "policy_rules": ["bulk_without_approval"] if "bulk" in why else [],
            "daily_min_volume": p.daily_min_volume,  # type: ignore[attr-defined]
            "peer_factor": p.peer_factor,  # type: ignore[attr-defined]
            "max_single_outputs": p.max_single_outputs,  # type: ignore[attr-defined]
        }
        for k in ("bulk", "largest", "volume", "peer_p95", "history_p95", "singles"):
            if k in why:
                evidence[k] = why[k]
        return evidence


# -- D15 ------------------------------------------------------------------------------------------------------------


def _seconds(text: str) -> float:
    hours, minutes = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60


class PrivilegedMisuse(Detector):
    """D15. Privileged IDs watched (R7; 沼津市 2024-25): an administrator account touching residents'
    data, or administrative functions (``admin``, ``audit_config``) outside the change window (open days
    08:30–17:15 by default, plus any approved change windows). Account maintenance in office hours with
    no resident is the administrators' job and is not reported."""

    code = "D15"
    key = "privileged_misuse"
    severity = "high"
    title_ja = "特権IDの不適切な使用"
    title_en = "Privileged account misuse"
    control = "特権IDの最小化と監視（R7）"

    class Params(Thresholds):
        window_start: str = Field("08:30", pattern=r"^\d{2}:\d{2}$", description="change window opens (business hours)")
        window_end: str = Field("17:15", pattern=r"^\d{2}:\d{2}$", description="change window closes (business hours)")
        change_windows: list[tuple[str, str]] = Field(
            default_factory=list,
            description="extra approved change windows as ISO instants [from, to) (maintenance at night)",
        )

    def detect(self, window: Window) -> list[Finding]:
        p = self.params
        e = window.events
        admin = (e["account_kind"] == "admin").to_numpy(dtype=bool)
        resident = admin & (e["is_lookup"].to_numpy(dtype=bool) | e["subject_hash"].notna().to_numpy())
        function = e["action"].isin(ADMIN_ACTIONS).to_numpy(dtype=bool)
        seconds = e["hour"].to_numpy(dtype=float) * 3600
        in_window = (
            _open_day(e["day"], window).to_numpy()
            & (seconds >= _seconds(p.window_start))  # type: ignore[attr-defined]
            & (seconds < _seconds(p.window_end))  # type: ignore[attr-defined]
        )
        for start, end in p.change_windows:  # type: ignore[attr-defined]
            a, b = pd.Timestamp(start), pd.Timestamp(end)
            a = a.tz_localize(LOCAL_TZ) if a.tzinfo is None else a
            b = b.tz_localize(LOCAL_TZ) if b.tzinfo is None else b
            in_window |= ((e["ts"] >= a) & (e["ts"] < b)).to_numpy(dtype=bool)
        outside = function & ~in_window & ~resident
        chosen = e[resident | outside].assign(kind=np.where(resident, "resident", "outside")[resident | outside])
        if chosen.empty:
            return []
        kinds = chosen.groupby(["user_id", "day"])["kind"]
        n_res = kinds.agg(lambda k: int((k == "resident").sum()))
        n_out = kinds.agg(lambda k: int((k == "outside").sum()))

        def explain(row: pd.Series) -> tuple[str, str]:
            r, o = n_res[(row["user_id"], row["day"])], n_out[(row["user_id"], row["day"])]
            when = span(row["start"], row["end"])
            ja, en = [], []
            if r:
                ja.append(f"管理者アカウントで住民{row['n_subjects']}人の記録を{r}件操作")
                en.append(f"used an administrator account on {row['n_subjects']} resident(s) in {r} operation(s)")
            if o:
                ja.append(f"変更可能時間外（開庁日 {p.window_start}–{p.window_end} 以外）に管理機能を{o}件使用")  # type: ignore[attr-defined]
                en.append(f"used administrative functions {o} time(s) outside the change window")
            return (
                f"アカウント {row['user_id']} が {when} に" + "、".join(ja) + "しました。",
                f"Account {row['user_id']} " + " and ".join(en) + f" at {when}.",
            )

        def evidence(row: pd.Series) -> dict[str, Any]:
            r, o = n_res[(row["user_id"], row["day"])], n_out[(row["user_id"], row["day"])]
            mine = chosen[(chosen["user_id"] == row["user_id"]) & (chosen["day"] == row["day"])]
            return {
                "resident_operations": int(r),
                "admin_functions_outside_window": int(o),
                "actions": sorted(set(mine["action"].astype(str))),
                "account_kind": str(mine["account_kind"].iloc[0]),
                "change_window": [p.window_start, p.window_end],  # type: ignore[attr-defined]
            }

        return self.findings(
            chosen, ["user_id", "day"], explain,
            key=lambda row: f"{row['user_id']}|{day_text(row['day'])}", evidence=evidence,
        )  # fmt: skip
