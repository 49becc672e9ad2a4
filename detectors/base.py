"""What a detector is: a code, a severity, titles, the control it enforces, thresholds, and ``detect``.

A detector is shaped like a validator (STYLE.md 5): it reads a :class:`~detectors.window.Window` of
events and reference data as DataFrames and returns a few :class:`Finding` objects. It never touches
the ORM, and it never loops over events: it filters and groups, and only the groups (the findings,
a handful per day) become Python objects.

Detectors register under the ``auditd.detectors`` entry-point group, built-ins exactly as a third
party's would. Thresholds are a Pydantic model (``Params``) with defaults for a 市 of 100 k–300 k
residents; ``AUDITD_DETECTORS='{"D06": {"min_lookups": 5}}'`` overrides them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from auditd.errors import ConfigError

if TYPE_CHECKING:
    from detectors.window import Window

#: Actions that touch a resident's record (what "a lookup" means to the detectors).
LOOKUP_ACTIONS = ("search", "view", "update", "print", "export", "show_mynumber", "link_inquiry", "link_provide")
#: Actions that take residents' data out of the system.
OUTPUT_ACTIONS = ("print", "export", "extract", "usb_copy", "file_copy")


@dataclass(frozen=True)
class Finding:
    """One thing an officer should look at, with the evidence that lets them judge it."""

    rule: str
    key: str  # what makes it the same finding when the window is run again
    user_id: str | None
    terminal_id: str | None
    subjects: tuple[str, ...]
    start: pd.Timestamp
    end: pd.Timestamp
    event_ids: tuple[str, ...]
    explanation_ja: str
    explanation_en: str
    evidence: dict[str, Any] = field(default_factory=dict)
    severity: str | None = None  # overrides the detector's own

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.rule}|{self.key}".encode()).hexdigest()[:40]


class Thresholds(BaseModel):
    """Thresholds of a detector (every detector subclasses this with its own fields and defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Detector:
    """Subclass, set the class attributes, define ``Params`` and :meth:`detect`.

    ``lookback`` is how much history before the window the detector reads through
    :meth:`Window.history` (a detector of "N times in M days" needs M days); findings are only
    reported when they end inside the window, so consecutive windows never report one twice.
    """

    code: ClassVar[str]
    key: ClassVar[str]
    severity: ClassVar[str]
    title_ja: ClassVar[str]
    title_en: ClassVar[str]
    control: ClassVar[str]  # the PIA control / national rule it enforces (DOMAIN.md), for reports
    scope: ClassVar[str] = "window"  # "event": one event is enough; "window": needs a window or peers
    Params: ClassVar[type[Thresholds]] = Thresholds

    def __init__(self, overrides: dict[str, Any] | None = None) -> None:
        try:
            self.params = self.Params.model_validate(overrides or {})
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})" for e in error.errors()
            )
            raise ConfigError(f"detector {self.code}: invalid thresholds: {problems}") from error

    @property
    def lookback(self) -> timedelta:
        return timedelta(0)

    def detect(self, window: Window) -> list[Finding]:
        raise NotImplementedError

    # -- helpers for subclasses -----------------------------------------------------------------------

    def findings(
        self,
        events: pd.DataFrame,
        by: Sequence[str],
        explain: Callable[[pd.Series], tuple[str, str]],
        *,
        key: Callable[[pd.Series], str] | None = None,
        evidence: Callable[[pd.Series], dict[str, Any]] | None = None,
        severity: Callable[[pd.Series], str | None] | None = None,
    ) -> list[Finding]:
        """One finding per group of ``events`` (grouped ``by`` columns).

        Each group is summarised in one vectorised ``groupby``: first and last time, event ids, the
        distinct residents and the most used terminal; ``explain`` (and ``key``, ``evidence``) then see
        one summary row with those columns (``start``, ``end``, ``events``, ``subjects``, ``n_events``,
        ``n_subjects``, ``terminal``) plus the group's keys."""
        summary = summarise(events, by)
        found = []
        for _, row in summary.iterrows():
            ja, en = explain(row)
            found.append(
                Finding(
                    rule=self.code,
                    key=key(row) if key else "|".join(str(row[c]) for c in by),
                    user_id=_text_or_none(row.get("user_id")),
                    terminal_id=_text_or_none(row["terminal"]),
                    subjects=tuple(row["subjects"]),
                    start=row["start"],
                    end=row["end"],
                    event_ids=tuple(row["events"]),
                    explanation_ja=ja,
                    explanation_en=en,
                    evidence=evidence(row) if evidence else {},
                    severity=severity(row) if severity else None,
                )
            )
        return found


def summarise(events: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Per group: start, end, event ids, distinct subjects, counts and the most used terminal."""
    columns = ["start", "end", "events", "subjects", "n_events", "n_subjects", "terminal", *by]
    if events.empty:
        return pd.DataFrame(columns=columns)
    grouped = events.groupby(list(by), sort=True, dropna=False, observed=True)
    summary = grouped.agg(
        start=("ts", "min"),
        end=("ts", "max"),
        events=("event_id", lambda s: sorted(s.astype(str))),
        subjects=("subject_hash", lambda s: sorted(s.dropna().astype(str).unique())),
        n_events=("event_id", "size"),
        terminal=("terminal_id", mode),
    ).reset_index()
    summary["n_subjects"] = summary["subjects"].map(len)
    return summary


def mode(values: pd.Series) -> str | None:
    """The most frequent value as text (None if there is none)."""
    counts = values.dropna().astype(str).value_counts()
    return str(counts.index[0]) if len(counts) else None


def _text_or_none(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    return str(value)


def day_text(value: Any) -> str:
    """A JST day as ``2026-01-08`` (from a Timestamp, a date or text)."""
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def clock(value: pd.Timestamp) -> str:
    """An instant as Japan time ``01/08 21:12``."""
    return pd.Timestamp(value).tz_convert("Asia/Tokyo").strftime("%m/%d %H:%M")


def span(start: pd.Timestamp, end: pd.Timestamp) -> str:
    """``01/08 21:12–21:40`` or ``01/08 21:12–01/11 09:02`` in Japan time."""
    s, e = clock(start), clock(end)
    return f"{s}–{e[6:]}" if s[:5] == e[:5] else f"{s}–{e}"


def as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
