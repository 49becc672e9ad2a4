"""A window of events with what explains them, read in bulk, plus columns every detector needs.

The window holds the operations with ``start <= ts < end`` and the reference data of their days, and
derives once, vectorised, what several detectors ask: the Japan day and hour, the account's kind and
person, the person's section that day, the terminal's section and segment, whether the resident had a
case open for the user's section (or assigned to the user) at that instant, and when the user's last
case on that resident closed. History before the window is read on demand through :meth:`history`,
narrowed by residents or users, so a detector of "N times in M days" does not load M days of a city.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, func, select

from auditd.alerts import repository as alerts_repo
from auditd.decisions.models import Violation
from auditd.events import repository as events_repo
from auditd.events.models import Event, Source
from auditd.reference import repository as reference_repo
from auditd.reference.models import BusinessCase, Resident, WatchlistEntry
from auditd.store import bulk
from auditd.store.base import table_of
from detectors.base import LOOKUP_ACTIONS
from policies.context import Context, load_context
from policies.engine import section_on_day
from policies.rules import BY_KEY

LOCAL_TZ = "Asia/Tokyo"
SESSION_ACTIONS = ("login", "logout", "login_fail")
#: Columns of events the detectors read.
COLUMNS = ("event_id", "ts", "source", "system", "user_id", "terminal_id", "session_id", "jimu", "action",
           "function", "subject_hash", "subject_count", "auth_factors", "result", "seq", "detail")  # fmt: skip

History = Callable[..., pd.DataFrame]


@dataclass
class Window:
    municipality_code: str
    start: pd.Timestamp  # UTC, inclusive
    end: pd.Timestamp  # UTC, exclusive
    events: pd.DataFrame  # operations in the window, with the derived columns of :func:`derive`
    sessions: pd.DataFrame  # logins, logouts and failures in the window
    violations: pd.DataFrame  # event_id, ts, user_id, rule (key, e.g. "off_hours"), code (P04), evidence (dict)
    reference: Context
    cases: pd.DataFrame
    watchlist: pd.DataFrame
    residents: pd.DataFrame  # subject_hash, household_hash, area_code, surname_kana
    sources: pd.DataFrame  # name, system, expected_max_silence_hours, last_event_ts
    history_reader: History | None = None
    #: ``residents`` indexed by ``subject_hash`` (kept across windows with the reference cache, so the
    #: index's hash table over a city's residents is built once, not per detector and window)
    residents_indexed: pd.DataFrame | None = None
    #: (column, values, since) -> {value: its last operation before the window, since ``since``}, for
    #: ``column`` "user_id" (dormant accounts) or "source" (silent sources)
    last_seen: Callable[[str, list[str], pd.Timestamp], dict[str, pd.Timestamp]] | None = None
    first_event: pd.Timestamp | None = None  # the oldest event in the store (how far back history goes)
    #: (first day, last day exclusive) -> the stored user-days (figures of each account's day, no residents)
    user_days: Callable[[pd.Timestamp, pd.Timestamp], pd.DataFrame] | None = None
    #: store the user-days computed for this window's days (kept with the run's alerts)
    keep_user_days: Callable[[pd.DataFrame], None] | None = None
    cache: dict[str, Any] = field(default_factory=dict)

    def history(
        self,
        since: pd.Timestamp,
        *,
        subjects: Sequence[str] | None = None,
        users: Sequence[str] | None = None,
        columns: Sequence[str] = ("event_id", "ts", "user_id", "action", "subject_hash", "jimu"),
    ) -> pd.DataFrame:
        """Operations with ``since <= ts < start`` (before the window), of these residents or users."""
        if self.history_reader is None or since >= self.start:
            return pd.DataFrame(columns=list(columns))
        return self.history_reader(since, self.start, subjects=subjects, users=users, columns=columns)

    @property
    def residents_by_subject(self) -> pd.DataFrame:
        if self.residents_indexed is None:
            self.residents_indexed = self.residents.drop_duplicates("subject_hash").set_index("subject_hash")
        return self.residents_indexed

    @property
    def lookups(self) -> pd.DataFrame:
        """Successful operations on one identified resident."""
        if "lookups" not in self.cache:
            e = self.events
            self.cache["lookups"] = e[e["is_lookup"].to_numpy(dtype=bool)]
        frame: pd.DataFrame = self.cache["lookups"]
        return frame

    def violated(self, *rules: str) -> pd.DataFrame:
        """The window's events that broke any of these policy rules (keys), with a ``rules`` column."""
        v = self.violations
        hit = v[v["rule"].isin(rules)]
        if hit.empty:
            return self.events.iloc[0:0].assign(rules="")
        rules_of = hit.groupby("event_id")["rule"].agg(lambda s: ",".join(sorted(set(s))))
        chosen = self.events[self.events["event_id"].isin(rules_of.index)]
        return chosen.assign(rules=chosen["event_id"].map(rules_of))


# -- deriving ---------------------------------------------------------------------------------------------


def lookup_columns(keys: pd.Series, table: pd.DataFrame, columns: Sequence[Any]) -> dict[Any, pd.Series]:
    """``table[column][key]`` for each key and column (NaN where absent), with one probe of the index's
    hash table (the probe, hashing every key, is what costs: half a million keys against a city's
    residents); only the rows found are taken, so a city's resident master is never converted whole."""
    if table.empty:
        return {c: pd.Series(np.nan, index=keys.index, dtype=object) for c in columns}
    position = table.index.get_indexer(pd.Index(keys))
    found = position >= 0
    rows = np.where(found, position, 0)
    return {c: pd.Series(table[c].iloc[rows].to_numpy(), index=keys.index).where(found) for c in columns}


@dataclass(frozen=True)
class CaseIndex:
    """A city's cases grouped by resident, built once per cases frame: pairing lookups with the cases of
    their resident is then one probe of a hash table and a gather, where a merge would hash every case
    of the city again (2.4 M cases in a 1.8 M-resident city) for each detector that asks."""

    subjects: pd.Index  # each resident with a case, once (object dtype: its hash table is built once)
    starts: np.ndarray  # where each resident's cases start in ``order``
    counts: np.ndarray  # how many cases each resident has
    order: np.ndarray  # case row positions, grouped by resident
    cases: pd.DataFrame  # the cases, positional index, instants as UTC

    @classmethod
    def of(cls, cases: pd.DataFrame) -> CaseIndex:
        frame = cases.reset_index(drop=True)
        for column in ("opened_at", "closed_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        codes, uniques = pd.factorize(frame["subject_hash"].to_numpy(dtype=object))
        order = np.argsort(codes, kind="stable")
        order = order[codes[order] >= 0]  # a case with no resident pairs with nothing
        counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        return cls(pd.Index(np.asarray(uniques, dtype=object), dtype=object), starts, counts, order, frame)

    def pairs(self, subjects: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Positions (row of ``subjects``, row of ``cases``) of every lookup paired with a case of the same
        resident, in the order of ``subjects`` (like an inner merge on ``subject_hash``)."""
        if len(self.subjects) == 0 or len(subjects) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        position = self.subjects.get_indexer(pd.Index(subjects.to_numpy(dtype=object), dtype=object))
        rows = np.flatnonzero(position >= 0)
        found = position[rows]
        n = self.counts[found]
        left = np.repeat(rows, n)
        within = np.arange(int(n.sum()), dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
        right = self.order[np.repeat(self.starts[found], n) + within]
        return left, right

    def join(self, rows: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
        """``rows`` (their own columns, positional) next to the ``columns`` of each case of their resident."""
        left, right = self.pairs(rows["subject_hash"])
        mine = rows.iloc[left].reset_index(drop=True)
        theirs = self.cases[list(columns)].iloc[right].reset_index(drop=True)
        return pd.concat([mine, theirs], axis=1)


#: The indexes of the last cases frames seen (by identity): the reference cache hands every window of a
#: run the same frame, so the index is built once per reference generation.
_CASE_INDEXES: dict[int, tuple[pd.DataFrame, CaseIndex]] = {}


def case_index(cases: pd.DataFrame) -> CaseIndex:
    """The :class:`CaseIndex` of ``cases``, built on first use."""
    kept = _CASE_INDEXES.get(id(cases))
    if kept is not None and kept[0] is cases:
        return kept[1]
    index = CaseIndex.of(cases)
    while len(_CASE_INDEXES) >= 4:
        _CASE_INDEXES.pop(next(iter(_CASE_INDEXES)))
    _CASE_INDEXES[id(cases)] = (cases, index)
    return index


def derive(events: pd.DataFrame, reference: Context, cases: pd.DataFrame) -> pd.DataFrame:
    """Add the columns detectors share (see the module docstring); ``events`` keeps its rows and order."""
    e = events.reset_index(drop=True).copy()
    e["event_id"] = e["event_id"].astype(str)
    ts = pd.to_datetime(e["ts"], utc=True)
    e["ts"] = ts
    local = ts.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
    e["day"] = local.dt.floor("D")
    e["hour"] = (local - e["day"]).dt.total_seconds() / 3600.0
    user = e["user_id"].astype("str")
    account = lookup_columns(user, reference.accounts_by_user, ("kind", "staff_id"))
    e["account_kind"], e["staff_id"] = account["kind"], account["staff_id"]
    e["section"] = section_on_day(pd.DataFrame({"staff_id": e["staff_id"], "day": e["day"]}), reference.assignments)
    terminal = e["terminal_id"].astype("str")
    where = lookup_columns(terminal, reference.terminals_by_id, ("section_code", "segment", "kind"))
    e["terminal_section"], e["terminal_segment"] = where["section_code"], where["segment"]
    e["terminal_kind"] = where["kind"]
    e["is_lookup"] = (
        e["action"].isin(LOOKUP_ACTIONS).to_numpy()
        & e["subject_hash"].notna().to_numpy()
        & (e["result"].fillna("success") == "success").to_numpy()
    )
    open_case, closed_at = _cases(e, cases)
    e["has_case"] = open_case
    e["case_closed_at"] = closed_at
    return e


def _cases(e: pd.DataFrame, cases: pd.DataFrame) -> tuple[np.ndarray, pd.Series]:
    """For each lookup: a case open then for the user's section or assigned to the user; and when the
    latest such case closed before it (NaT if none)."""
    closed = pd.Series(pd.NaT, index=e.index, dtype="datetime64[ns, UTC]")
    has = np.zeros(len(e), dtype=bool)
    rows = e.loc[e["is_lookup"].to_numpy(dtype=bool), ["subject_hash", "ts", "section", "staff_id"]]
    if rows.empty or cases.empty:
        return has, closed
    joined = case_index(cases).join(
        rows.reset_index(names="idx"), ("section_code", "assignee", "opened_at", "closed_at")
    )
    mine = (joined["section_code"].astype(str) == joined["section"].astype(str)).to_numpy() | (
        joined["assignee"].astype(str) == joined["staff_id"].astype(str)
    ).to_numpy()
    joined = joined[mine]
    opened = (joined["opened_at"] <= joined["ts"]).to_numpy()
    not_closed = (joined["closed_at"].isna() | (joined["closed_at"] >= joined["ts"])).to_numpy()
    has[joined.loc[opened & not_closed, "idx"].to_numpy()] = True
    before = joined[opened & ~not_closed]
    if not before.empty:
        last = before.groupby("idx")["closed_at"].max()
        closed.iloc[last.index.to_numpy()] = last.to_numpy()
    return has, closed


# -- loading from the store --------------------------------------------------------------------------------


def _frame(connection: Connection, model: Any, municipality_code: str, *where: Any) -> pd.DataFrame:
    table = table_of(model)
    names = [c.name for c in table.columns]
    stmt = select(*table.columns).where(table.c.municipality_code == municipality_code, *where)
    return bulk.read_frame(connection, stmt, names)


def _violations(connection: Connection, code: str, start: datetime, end: datetime) -> pd.DataFrame:
    table = table_of(Violation)
    frame = _frame(connection, Violation, code, table.c.ts >= start, table.c.ts < end)
    if frame.empty:
        return pd.DataFrame(columns=["event_id", "ts", "user_id", "rule", "code", "evidence"])
    frame["event_id"] = event_ids_text(frame["event_id"])
    frame["evidence"] = frame["evidence"].map(lambda t: json.loads(t) if isinstance(t, str) and t else {})
    frame["code"] = frame["rule"].map(lambda k: BY_KEY[k].code if k in BY_KEY else k)
    # a newer policy version may have judged the same event again: keep what the latest said
    latest = frame.groupby("event_id")["policy_version_id"].transform("max")
    return frame[frame["policy_version_id"] == latest].reset_index(drop=True)


def _event_id_text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value).hex()
        return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
    return str(value)


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
#: Where each byte's two hex digits go in the 36 characters of a UUID's text (dashes at 8, 13, 18, 23).
_DIGITS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)]).reshape(16, 2)


def event_ids_text(ids: pd.Series) -> pd.Series:
    """Event ids as UUID text. SQLite's 16-byte ids are formatted all at once (one buffer, a lookup of
    hex digits), not one Python call per id: a day of a city is half a million of them."""
    values = ids.to_numpy(dtype=object)
    if len(values) == 0 or not all(isinstance(v, bytes) and len(v) == 16 for v in values):
        return ids.map(_event_id_text)
    raw = np.frombuffer(b"".join(values), dtype=np.uint8).reshape(-1, 16)
    text = np.full((len(values), 36), ord("-"), dtype=np.uint8)
    text[:, _DIGITS[:, 0]] = _HEX[raw >> 4]
    text[:, _DIGITS[:, 1]] = _HEX[raw & 15]
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(36), len(values), [None, pa.py_buffer(text)])
    out: pd.Series = fixed.cast(pa.string()).to_pandas(types_mapper={pa.string(): pd.StringDtype(na_value=np.nan)}.get)
    out.index = ids.index
    return out


def _ids_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    if "event_id" in frame and len(frame):
        frame["event_id"] = event_ids_text(frame["event_id"])
    return frame


def read_events(
    connection: Connection,
    municipality_code: str,
    start: datetime,
    end: datetime,
    columns: Sequence[str] = COLUMNS,
    *,
    subjects: Sequence[str] | None = None,
    users: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Events with ``start <= ts < end``, optionally of some residents or users, ids as text."""
    table = table_of(Event)
    stmt = select(*events_repo.raw_columns(connection.dialect.name, columns)).where(
        table.c.municipality_code == municipality_code, table.c.ts >= start, table.c.ts < end
    )
    if subjects is not None:
        stmt = stmt.where(table.c.subject_hash.in_(list(subjects)))
    if users is not None:
        stmt = stmt.where(table.c.user_id.in_(list(users)))
    return _ids_as_text(events_repo.frame_of(connection, stmt, columns))


def load_window(
    connection: Connection, municipality_code: str, start: datetime, end: datetime, *, session_hours: float = 12.0
) -> Window:
    """The window ``start <= ts < end`` of a municipality, read in one query per table."""
    code = municipality_code
    raw = read_events(connection, code, start, end)
    is_session = raw["action"].isin(SESSION_ACTIONS).to_numpy(dtype=bool) if len(raw) else np.zeros(0, dtype=bool)
    operations, sessions = raw[~is_session], raw[is_session].reset_index(drop=True)
    reference = load_context(connection, code, start, end, session_hours)
    cases, residents, watchlist, by_subject = _subject_reference(connection, code)
    sources = _frame(connection, Source, code)
    if len(sources):
        sources["last_event_ts"] = pd.to_datetime(sources["last_event_ts"], utc=True)

    def history(
        since: pd.Timestamp,
        until: pd.Timestamp,
        *,
        subjects: Sequence[str] | None,
        users: Sequence[str] | None,
        columns: Sequence[str],
    ) -> pd.DataFrame:
        frames = []
        keys: list[Sequence[str] | None] = [None]
        if subjects is not None:
            keys = [subjects[i : i + 500] for i in range(0, len(subjects), 500)] or []
        for chunk in keys:
            frames.append(
                read_events(
                    connection, code, since.to_pydatetime(), until.to_pydatetime(), columns, subjects=chunk, users=users
                )
            )
        if not frames:
            return pd.DataFrame(columns=list(columns))
        found = pd.concat(frames, ignore_index=True)
        return found[~found["action"].isin(SESSION_ACTIONS)] if "action" in found else found

    def keep_user_days(frame: pd.DataFrame) -> None:
        alerts_repo.replace_user_days(connection, code, frame)

    return Window(
        municipality_code=code,
        start=pd.Timestamp(start).tz_convert("UTC"),
        end=pd.Timestamp(end).tz_convert("UTC"),
        events=derive(operations, reference, cases),
        sessions=sessions,
        violations=_violations(connection, code, start, end),
        reference=reference,
        cases=cases,
        watchlist=watchlist,
        residents=residents,
        sources=sources,
        history_reader=history,
        residents_indexed=by_subject,
        last_seen=lambda column, values, since: _last_seen(
            connection, code, column, values, since, pd.Timestamp(start)
        ),
        first_event=_first_event(connection, code),
        user_days=lambda first, last: alerts_repo.user_days(connection, code, first.date(), last.date()),
        keep_user_days=keep_user_days,
    )


@dataclass
class _SubjectReference:
    generation: int
    cases: pd.DataFrame
    residents: pd.DataFrame
    watchlist: pd.DataFrame
    by_subject: pd.DataFrame


#: Per database and municipality, like the policy context's reference cache: cases, residents and the
#: watchlist change only when a feed is imported, and every import bumps the reference generation.
_CACHE: dict[tuple[str, str], _SubjectReference] = {}


def _subject_reference(
    connection: Connection, code: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    key = (str(connection.engine.url), code)
    current = reference_repo.generation(connection, code)
    cached = _CACHE.get(key)
    if cached is None or cached.generation != current:
        cases = _frame(connection, BusinessCase, code)
        for column in ("opened_at", "closed_at"):
            cases[column] = pd.to_datetime(cases[column], utc=True)
        # all residents, not only the window's: detectors over history (a neighbourhood over 14 days) need
        # the area of residents looked up on earlier days; the master reduced to four columns is small
        residents = _frame(connection, Resident, code)
        watchlist = _frame(connection, WatchlistEntry, code)
        for column in ("valid_from", "valid_to"):
            watchlist[column] = pd.to_datetime(watchlist[column], errors="coerce")
        by_subject = residents.drop_duplicates("subject_hash").set_index("subject_hash")
        # the hash tables the detectors probe, built here once per generation rather than by whichever
        # window first looks a resident up (about 1.4 s for 1.8 M residents and 2.4 M cases)
        by_subject.index.is_unique  # noqa: B018 (computing it builds the index's hash table, kept by pandas)
        case_index(cases)
        cached = _CACHE[key] = _SubjectReference(current, cases, residents, watchlist, by_subject)
    return cached.cases, cached.residents, cached.watchlist, cached.by_subject


def _last_seen(
    connection: Connection, code: str, column: str, values: list[str], since: pd.Timestamp, before: pd.Timestamp
) -> dict[str, pd.Timestamp]:
    """The latest operation of each account (or source) with ``since <= ts < before``, one grouped query."""
    if column not in ("user_id", "source"):
        raise ValueError(f"last_seen by {column!r}: only user_id or source")
    table = table_of(Event)
    key = table.c[column]
    found: dict[str, pd.Timestamp] = {}
    for i in range(0, len(values), 500):
        stmt = (
            select(key, func.max(table.c.ts))
            .where(
                table.c.municipality_code == code,
                key.in_(values[i : i + 500]),
                table.c.ts >= since.to_pydatetime(),
                table.c.ts < before.to_pydatetime(),
                table.c.action.not_in(SESSION_ACTIONS),
            )
            .group_by(key)
        )
        for value, last in connection.execute(stmt):
            found[str(value)] = pd.Timestamp(last)
    return found


def _first_event(connection: Connection, code: str) -> pd.Timestamp | None:
    table = table_of(Event)
    value = connection.execute(select(func.min(table.c.ts)).where(table.c.municipality_code == code)).scalar()
    return pd.Timestamp(value).tz_convert("UTC") if value is not None else None
