"""Hand-made windows for detector tests: a small town with two sections, a few people, terminals and
residents, to which a test adds the events (and cases, approvals, history …) of one story.

The town:

- sections ``1101`` (市民税課, tax) and ``2101`` (国保年金課, NHI, a counter); ``9101`` (情報政策課, ICT);
- staff ``E1``–``E4`` in 1101, ``E5``–``E8`` in 2101, ``E9`` in 9101; accounts ``u1``–``u9`` (``u9`` is an
  administrator's ``adm9``), a batch account ``batch_tax``;
- terminals ``T1``–``T4`` (1101), ``T5``–``T8`` (2101), ``T9`` (9101), server ``SV1``;
- residents ``R01``–``R60`` in households of three (``H01`` …) and areas ``A1``–``A4``;
  ``E1`` lives at ``R01`` (household ``H01``, area ``A1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import pandas as pd

from auditd.jp.calendar import calendar_frame
from detectors.window import Window, derive
from policies.context import Context

TZ = "Asia/Tokyo"


def at(when: str) -> pd.Timestamp:
    """A Japan time as a UTC instant."""
    return pd.Timestamp(when, tz=TZ).tz_convert("UTC")


def day(value: str) -> pd.Timestamp:
    return pd.Timestamp(value)


_counter = iter(range(1, 10**9))


def event(when: str, **fields: Any) -> dict[str, Any]:
    """An operation: by default ``u1`` views a resident in the tax system from ``T1`` at ``when`` (JST)."""
    row: dict[str, Any] = {
        "event_id": f"00000000-0000-4000-8000-{next(_counter):012d}",
        "ts": at(when),
        "source": "tax",
        "system": "税務",
        "user_id": "u1",
        "terminal_id": "T1",
        "session_id": None,
        "jimu": "個人住民税",
        "action": "view",
        "function": None,
        "subject_hash": "R02",
        "subject_count": 1,
        "auth_factors": None,
        "result": "success",
        "seq": None,
        "detail": None,
    }
    row.update(fields)
    return row


def case(
    subject: str,
    opened: str,
    closed: str | None = None,
    *,
    section: str = "1101",
    kind: str = "assessment",
    jimu: str = "個人住民税",
    assignee: str | None = None,
    case_id: str | None = None,
) -> dict[str, Any]:
    return {
        "case_id": case_id or f"C-{next(_counter)}",
        "jimu": jimu,
        "kind": kind,
        "subject_hash": subject,
        "section_code": section,
        "assignee": assignee,
        "opened_at": at(opened),
        "closed_at": at(closed) if closed else pd.NaT,
    }


def town() -> dict[str, pd.DataFrame]:
    staff_ids = [f"E{i}" for i in range(1, 10)]
    sections = ["1101"] * 4 + ["2101"] * 4 + ["9101"]
    accounts = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(1, 9)] + ["adm9", "batch_tax"],
            "staff_id": [*staff_ids, None],
            "kind": ["personal"] * 8 + ["admin", "batch"],
            "created_on": day("2020-04-01"),
            "disabled_on": pd.NaT,
        }
    )
    staff = pd.DataFrame(
        {
            "staff_id": staff_ids,
            "name": [f"職員{i}" for i in range(1, 10)],
            "employment": "regular",
            "pledge_date": pd.NaT,
            "hired_on": day("2015-04-01"),
            "retired_on": pd.NaT,
            "resident_hash": ["R01", *([None] * 8)],
            "household_hash": ["H01", *([None] * 8)],
            "home_area": ["A1", *([None] * 8)],
        }
    )
    assignments = pd.DataFrame(
        {"staff_id": staff_ids, "section_code": sections, "valid_from": day("2020-04-01"), "valid_to": pd.NaT}
    )
    roles = ["tax"] * 4 + ["nhi"] * 4 + ["admin"]
    grants = pd.DataFrame(
        {
            "user_id": [*accounts["user_id"][:9], "batch_tax"],
            "role": [*roles, "batch"],
            "valid_from": day("2020-04-01"),
            "valid_to": pd.NaT,
            "status": "active",
            "ended_on": pd.NaT,
        }
    )
    terminals = pd.DataFrame(
        {
            "terminal_id": [f"T{i}" for i in range(1, 10)] + ["SV1"],
            "section_code": [*sections, "9101"],
            "segment": "mynumber",
            "kind": ["desktop"] * 4 + ["counter"] * 4 + ["desktop", "server"],
            "registered_on": day("2020-04-01"),
            "retired_on": pd.NaT,
        }
    )
    residents = pd.DataFrame(
        {
            "subject_hash": [f"R{i:02d}" for i in range(1, 61)],
            "household_hash": [f"H{(i - 1) // 3 + 1:02d}" for i in range(1, 61)],
            "area_code": [f"A{(i - 1) % 4 + 1}" for i in range(1, 61)],
            "surname_kana": [f"カナ{(i - 1) // 3 + 1}" for i in range(1, 61)],
        }
    )
    return {
        "accounts": accounts,
        "staff": staff,
        "assignments": assignments,
        "grants": grants,
        "terminals": terminals,
        "residents": residents,
    }


def window(
    events: Sequence[dict[str, Any]],
    *,
    start: str | None = None,
    end: str | None = None,
    cases: Sequence[dict[str, Any]] = (),
    violations: Sequence[dict[str, Any]] = (),
    history: Sequence[dict[str, Any]] = (),
    sessions: Sequence[dict[str, Any]] = (),
    watchlist: pd.DataFrame | None = None,
    sources: pd.DataFrame | None = None,
    overtime: pd.DataFrame | None = None,
    approvals: pd.DataFrame | None = None,
    **changes: pd.DataFrame,
) -> Window:
    """A window over ``events`` (from ``start`` to ``end``, JST; default: the days the events span).

    ``violations``: rows ``{"event_id", "rule"}`` (rule keys such as ``off_hours``) as the policy engine
    would have stored them; ``history``: events before the window, served by :meth:`Window.history`."""
    tables = town()
    tables.update(changes)
    frame = pd.DataFrame(list(events)) if events else pd.DataFrame([event("2026-02-03 10:00")]).iloc[0:0]
    first = (
        at(start)
        if start
        else (frame["ts"].min().tz_convert(TZ).floor("D").tz_convert("UTC") if len(frame) else at("2026-02-03 00:00"))
    )
    last = (
        at(end)
        if end
        else (
            frame["ts"].max().tz_convert(TZ).floor("D").tz_convert("UTC") + pd.Timedelta(days=1)
            if len(frame)
            else at("2026-02-04 00:00")
        )
    )
    calendar = calendar_frame(date(2025, 10, 1), date(2026, 12, 31))
    calendar["day"] = pd.to_datetime(calendar["day"])
    reference = Context(
        accounts=tables["accounts"],
        staff=tables["staff"],
        assignments=tables["assignments"],
        grants=tables["grants"],
        terminals=tables["terminals"],
        calendar=calendar,
        overtime=overtime if overtime is not None else pd.DataFrame(columns=["staff_id", "day", "start", "end"]),
        approvals=approvals
        if approvals is not None
        else pd.DataFrame(
            columns=["approval_id", "staff_id", "user_id", "jimu", "action", "max_count", "valid_from", "valid_to"]
        ),
        sessions=pd.DataFrame(list(sessions)),
    )
    case_columns = ["case_id", "jimu", "kind", "subject_hash", "section_code", "assignee", "opened_at", "closed_at"]
    case_frame = pd.DataFrame(list(cases)) if cases else pd.DataFrame(columns=case_columns)
    past = pd.DataFrame(list(history))
    v = pd.DataFrame(list(violations), columns=["event_id", "rule"]) if violations else pd.DataFrame(
        columns=["event_id", "rule"]
    )  # fmt: skip
    if len(v):
        by_id = frame.set_index("event_id")
        v["ts"] = v["event_id"].map(by_id["ts"])
        v["user_id"] = v["event_id"].map(by_id["user_id"])
        v["code"] = v["rule"]
        v["evidence"] = pd.Series([{} for _ in range(len(v))], index=v.index, dtype=object)

    def read_history(since: pd.Timestamp, until: pd.Timestamp, *, subjects: Any, users: Any, columns: Any) -> Any:
        if past.empty:
            return pd.DataFrame(columns=list(columns))
        chosen = past[(past["ts"] >= since) & (past["ts"] < until)]
        if subjects is not None:
            chosen = chosen[chosen["subject_hash"].isin(list(subjects))]
        if users is not None:
            chosen = chosen[chosen["user_id"].isin(list(users))]
        return chosen[[c for c in columns if c in chosen]].reset_index(drop=True)

    return Window(
        municipality_code="999997",
        start=first,
        end=last,
        events=derive(frame, reference, case_frame),
        sessions=pd.DataFrame(list(sessions)),
        violations=v,
        reference=reference,
        cases=case_frame,
        watchlist=watchlist
        if watchlist is not None
        else pd.DataFrame(columns=["subject_hash", "category", "valid_from", "valid_to", "note"]),
        residents=tables["residents"],
        sources=sources
        if sources is not None
        else pd.DataFrame(columns=["name", "system", "expected_max_silence_hours", "last_event_ts"]),
        history_reader=read_history,
    )
