"""Everything the engine needs besides the events: the reference data of a municipality for a window,
read in bulk (one query per table), plus the logins and logouts that operations are joined to."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import Connection

from auditd.events import repository as events_repo
from auditd.jp.calendar import calendar_frame
from auditd.reference import repository as reference_repo
from auditd.reference.models import (
    Account,
    CalendarDay,
    Grant,
    OutputApproval,
    Overtime,
    Staff,
    StaffAssignment,
    Terminal,
)
from auditd.rights import repository as rights_repo
from auditd.store.partitions import JST

#: The columns of :attr:`Context.contracts`: each contractor's operator's contracts and their work window.
CONTRACT_COLUMNS = [
    "staff_id",
    "contract_id",
    "contract_number",
    "valid_from",
    "valid_to",
    "window_start",
    "window_end",
    "weekdays",
]


def no_contracts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "staff_id": pd.Series(dtype="str"),
            "contract_id": pd.Series(dtype="int64"),
            "contract_number": pd.Series(dtype="str"),
            "valid_from": pd.Series(dtype="datetime64[us]"),
            "valid_to": pd.Series(dtype="datetime64[us]"),
            "window_start": pd.Series(dtype="object"),
            "window_end": pd.Series(dtype="object"),
            "weekdays": pd.Series(dtype="str"),
        }
    )


@dataclass
class Context:
    accounts: pd.DataFrame
    staff: pd.DataFrame
    assignments: pd.DataFrame
    grants: pd.DataFrame
    terminals: pd.DataFrame
    calendar: pd.DataFrame  # day (datetime64[ns]), is_open, name
    overtime: pd.DataFrame
    approvals: pd.DataFrame
    sessions: pd.DataFrame  # logins and logouts
    #: ``terminals`` indexed by id, when the caller keeps one (the reference cache): a city's registry is
    #: indexed once per generation, not for every one-event 「なぜ」 view
    terminals_index: pd.DataFrame | None = None
    #: the contractor roster's contracts per operator (:data:`CONTRACT_COLUMNS`; window times as
    #: ``datetime.time`` or None, days as datetime64): the work window (作業時間) of a contractor's event
    contracts: pd.DataFrame = field(default_factory=no_contracts)

    def __post_init__(self) -> None:
        # lookups by key, built once per context (the engine maps events onto them)
        self.accounts_by_user = self.accounts.drop_duplicates("user_id").set_index("user_id")
        self.staff_by_id = self.staff.drop_duplicates("staff_id").set_index("staff_id")
        self.terminals_by_id = (
            self.terminals_index
            if self.terminals_index is not None
            else self.terminals.drop_duplicates("terminal_id").set_index("terminal_id")
        )
        self.calendar_by_day = self.calendar.drop_duplicates("day").set_index("day")
        self.contract_staff = pd.Index(self.contracts["staff_id"].dropna().unique())


def _days(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """Date columns as datetime64 (NaT for open ends), so comparisons are vectorised."""
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], errors="coerce")
    return frame


def municipal_calendar(stored: pd.DataFrame, first: date, last: date) -> pd.DataFrame:
    """The calendar feed where it has the day, the national holidays and 年末年始 where it has not."""
    fallback = calendar_frame(first, last)
    fallback["day"] = pd.to_datetime(fallback["day"])
    if stored.empty:
        return fallback
    stored = stored.assign(day=pd.to_datetime(stored["day"]))
    merged = pd.concat([stored[["day", "is_open", "name"]], fallback[~fallback["day"].isin(stored["day"])]])
    return merged.sort_values("day").reset_index(drop=True)


@dataclass
class _Reference:
    """The reference tables of a municipality as loaded at one generation (see ``bump_generation``)."""

    generation: int
    accounts: pd.DataFrame
    staff: pd.DataFrame
    assignments: pd.DataFrame
    grants: pd.DataFrame
    terminals: pd.DataFrame
    calendar: pd.DataFrame
    overtime: pd.DataFrame
    approvals: pd.DataFrame
    contracts: pd.DataFrame
    terminals_by_id: pd.DataFrame
    calendars: dict[tuple[date, date], pd.DataFrame]  # municipal_calendar by (first, last) day


#: Per database and municipality: reference data changes only when a feed is imported or the rights
#: API writes, and every such write bumps the generation, so a cached copy is valid until then.
_CACHE: dict[tuple[str, str], _Reference] = {}


def _reference(connection: Connection, municipality_code: str) -> _Reference:
    key = (str(connection.engine.url), municipality_code)
    current = reference_repo.generation(connection, municipality_code)
    cached = _CACHE.get(key)
    if cached is not None and cached.generation == current:
        return cached
    code = municipality_code
    approvals = reference_repo.frame(connection, OutputApproval, code)
    approvals["valid_from"] = pd.to_datetime(approvals["valid_from"], utc=True)
    approvals["valid_to"] = pd.to_datetime(approvals["valid_to"], utc=True)
    calendar = reference_repo.frame(connection, CalendarDay, code)
    calendar["day"] = pd.to_datetime(calendar["day"])
    terminals = _days(reference_repo.frame(connection, Terminal, code), "registered_on", "retired_on")
    loaded = _Reference(
        generation=current,
        accounts=_days(reference_repo.frame(connection, Account, code), "created_on", "disabled_on"),
        staff=_days(reference_repo.frame(connection, Staff, code), "pledge_date", "hired_on", "retired_on"),
        assignments=_days(reference_repo.frame(connection, StaffAssignment, code), "valid_from", "valid_to"),
        grants=_days(reference_repo.frame(connection, Grant, code), "valid_from", "valid_to", "ended_on"),
        terminals=terminals,
        calendar=calendar,
        overtime=_days(reference_repo.frame(connection, Overtime, code), "day"),
        approvals=approvals,
        contracts=_contracts(connection, code),
        terminals_by_id=terminals.drop_duplicates("terminal_id").set_index("terminal_id"),
        calendars={},
    )
    _CACHE[key] = loaded
    return loaded


def _contracts(connection: Connection, municipality_code: str) -> pd.DataFrame:
    found = rights_repo.contract_windows_frame(connection, municipality_code)
    if found.empty:
        return no_contracts()
    found = _days(found, "valid_from", "valid_to")
    # a NULL time comes back as None on one backend and NaN after pandas on another: None for both
    for column in ("window_start", "window_end"):
        found[column] = found[column].astype("object").where(found[column].notna(), None)
    return found[CONTRACT_COLUMNS]


def load_context(
    connection: Connection,
    municipality_code: str,
    start: datetime,
    end: datetime,
    session_hours: float,
    *,
    user_id: str | None = None,
) -> Context:
    """Reference data for events with ``start <= ts < end`` (Japan days), and the sessions that may
    cover them (logins up to ``session_hours`` before ``start``). With ``user_id``, only that account's
    sessions and reference rows (the 「なぜ」 view of one event)."""
    first = start.astimezone(JST).date() - timedelta(days=1)
    last = end.astimezone(JST).date() + timedelta(days=1)
    reference = _reference(connection, municipality_code)
    window = (pd.Timestamp(first), pd.Timestamp(last))
    calendar = reference.calendars.get((first, last))
    if calendar is None:  # the same days are asked for again and again (every event of a day)
        stored_days = reference.calendar[reference.calendar["day"].between(*window)]
        if len(reference.calendars) > 512:
            reference.calendars.clear()
        calendar = reference.calendars[(first, last)] = municipal_calendar(stored_days, first, last)
    accounts, staff, assignments = reference.accounts, reference.staff, reference.assignments
    grants, approvals, contracts = reference.grants, reference.approvals, reference.contracts
    overtime = reference.overtime[reference.overtime["day"].between(*window)]
    if user_id is not None:  # one account: the engine's joins then work on a handful of rows
        accounts = accounts[accounts["user_id"] == user_id]
        staff_ids = set(accounts["staff_id"].dropna())
        staff = staff[staff["staff_id"].isin(staff_ids)]
        assignments = assignments[assignments["staff_id"].isin(staff_ids)]
        grants = grants[grants["user_id"] == user_id]
        overtime = overtime[overtime["staff_id"].isin(staff_ids)]
        approvals = approvals[(approvals["user_id"] == user_id) | approvals["staff_id"].isin(staff_ids)]
        contracts = contracts[contracts["staff_id"].isin(staff_ids)]
    return Context(
        accounts=accounts,
        staff=staff,
        assignments=assignments,
        grants=grants,
        terminals=reference.terminals,
        terminals_index=reference.terminals_by_id,
        calendar=calendar,
        overtime=overtime,
        approvals=approvals,
        contracts=contracts,
        sessions=events_repo.auth_events(
            connection, municipality_code, start - timedelta(hours=session_hours), end, user_id=user_id
        ),
    )
