"""Running the detectors: over Japan days, each day one window and one transaction, findings stored as
alerts by fingerprint (a re-run over the same days stores nothing twice), every run recorded.

A detector that fails is isolated: its error is recorded with the run and the others still run, so one
bad threshold does not leave a municipality without detection.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine

from auditd import registry
from auditd.alerts import repository as alerts_repo
from auditd.cases.service import triage
from auditd.errors import ConfigError
from auditd.mail.service import enqueue_alerts
from auditd.settings import Settings
from auditd.trail.service import record
from detectors.base import Detector, Finding, as_json
from detectors.window import LOCAL_TZ, Window, load_window

log = logging.getLogger(__name__)


def detector_classes() -> dict[str, type[Detector]]:
    """Every installed detector class by code (built-ins register under ``auditd.detectors``)."""
    classes: dict[str, type[Detector]] = {}
    for name, cls in registry.load_all("detectors").items():
        if not (isinstance(cls, type) and issubclass(cls, Detector)):
            raise ConfigError(f"auditd.detectors entry point {name!r} is not a Detector class")
        classes[cls.code] = cls
    return dict(sorted(classes.items()))


def installed(settings: Settings, only: Sequence[str] | None = None) -> list[Detector]:
    """The detectors to run, with the thresholds of ``settings.detectors`` over their defaults."""
    classes = detector_classes()
    unknown = sorted((set(settings.detectors) | set(only or ())) - set(classes))
    if unknown:
        raise ConfigError(f"unknown detector code(s) {', '.join(unknown)}; installed: {', '.join(classes)}")
    chosen = [c for c in classes if (not only or c in only) and c not in settings.detectors_disabled]
    return [classes[code](settings.detectors.get(code)) for code in chosen]


@dataclass
class DetectSummary:
    days: int = 0
    events: int = 0
    findings: int = 0
    new_alerts: int = 0
    seconds: float = 0.0
    by_rule: Counter[str] = field(default_factory=Counter)
    new_by_rule: Counter[str] = field(default_factory=Counter)
    seconds_by_rule: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    run_ids: list[int] = field(default_factory=list)
    cases_opened: int = 0
    grouped: int = 0
    suppressed: int = 0
    mails_queued: int = 0


def run_detectors(detectors: Sequence[Detector], window: Window) -> tuple[list[Finding], dict[str, Any]]:
    """Findings of every detector over ``window`` (those that end inside it), with per-detector figures."""
    found: list[Finding] = []
    figures: dict[str, Any] = {}
    for detector in detectors:
        started = time.perf_counter()
        try:
            mine = [f for f in detector.detect(window) if f.end >= window.start]
        except Exception as error:  # isolate: one detector's bug must not stop the others
            log.exception("detector %s failed", detector.code)
            figures[detector.code] = {"error": f"{type(error).__name__}: {error}"}
            continue
        found.extend(mine)
        figures[detector.code] = {"findings": len(mine), "seconds": round(time.perf_counter() - started, 4)}
    return found, figures


def user_sections(window: Window) -> dict[str, str]:
    """Each account's section in the window (its last event's), which routes its alerts and cases."""
    events = window.events
    if events.empty or "section" not in events:
        return {}
    known = events.loc[events["section"].notna(), ["user_id", "section"]].drop_duplicates("user_id", keep="last")
    return dict(zip(known["user_id"].astype(str), known["section"].astype(str), strict=True))


def alert_rows(
    findings: Sequence[Finding],
    detectors: Sequence[Detector],
    municipality_code: str,
    run_id: int | None,
    now: datetime,
    sections: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    by_code = {d.code: d for d in detectors}
    sections = sections or {}
    rows = []
    for f in findings:
        detector = by_code[f.rule]
        rows.append(
            {
                "municipality_code": municipality_code,
                "fingerprint": f.fingerprint,
                "rule": f.rule,
                "severity": f.severity or detector.severity,
                "user_id": f.user_id,
                "terminal_id": f.terminal_id,
                "subjects": as_json(list(f.subjects)),
                "start": pd.Timestamp(f.start).to_pydatetime(),
                "end": pd.Timestamp(f.end).to_pydatetime(),
                "event_ids": as_json(list(f.event_ids)),
                "event_count": len(f.event_ids),
                "title": detector.title_ja,
                "explanation": f.explanation_ja,
                "explanation_en": f.explanation_en,
                "evidence": as_json({"control": detector.control, **f.evidence}),
                "status": "new",
                "section": sections.get(f.user_id) if f.user_id else None,
                "run_id": run_id,
                "detected_at": now,
            }
        )
    return rows


@dataclass
class WindowResult:
    run_id: int
    found: list[Finding]
    new: list[Finding]
    events: int
    figures: dict[str, Any]


def detect_window(
    connection: Connection,
    settings: Settings,
    municipality_code: str,
    start: datetime,
    end: datetime,
    detectors: Sequence[Detector],
    *,
    actor: str = "system",
) -> WindowResult:
    """Run ``detectors`` over one window and store the new findings."""
    now = datetime.now(UTC)
    run_id = alerts_repo.create_run(
        connection,
        municipality_code=municipality_code,
        window_start=start,
        window_end=end,
        started_at=now,
        detectors=as_json([d.code for d in detectors]),
        events=0,
        findings=0,
        new_alerts=0,
        actor=actor,
        status="running",
    )
    window = load_window(connection, municipality_code, start, end)
    found, figures = run_detectors(detectors, window)
    unique = list({f.fingerprint: f for f in found}.values())
    known = alerts_repo.existing_fingerprints(connection, municipality_code, [f.fingerprint for f in unique])
    new = [f for f in unique if f.fingerprint not in known]
    alerts_repo.insert_alerts(
        connection, alert_rows(new, detectors, municipality_code, run_id, now, user_sections(window))
    )
    errors = {code: fig["error"] for code, fig in figures.items() if "error" in fig}
    alerts_repo.finish_run(
        connection,
        run_id,
        finished_at=datetime.now(UTC),
        detectors=json.dumps(figures, ensure_ascii=False),
        events=len(window.events),
        findings=len(unique),
        new_alerts=len(new),
        status="partial" if errors else "finished",
        error="; ".join(f"{c}: {e}" for c, e in errors.items()) or None,
    )
    return WindowResult(run_id, unique, new, len(window.events), figures)


def japan_days(since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """Windows of whole Japan days covering ``since <= ts < until``."""
    first = pd.Timestamp(since).tz_convert(LOCAL_TZ).floor("D")
    last = pd.Timestamp(until).tz_convert(LOCAL_TZ)
    days = []
    day = first
    while day < last:
        following = (day + timedelta(days=1)).tz_convert(LOCAL_TZ).floor("D")
        days.append((day.tz_convert("UTC").to_pydatetime(), following.tz_convert("UTC").to_pydatetime()))
        day = following
    return days


def detect(
    engine: Engine,
    settings: Settings,
    since: datetime,
    until: datetime,
    *,
    municipality_code: str | None = None,
    only: Sequence[str] | None = None,
    actor: str = "system",
    progress: Callable[[int, int], None] | None = None,
) -> DetectSummary:
    """Run the detectors over every Japan day between ``since`` and ``until``, one transaction per day."""
    code = municipality_code or settings.municipality_code
    detectors = installed(settings, only)
    summary = DetectSummary()
    started = time.perf_counter()
    days = japan_days(since, until)
    for number, (start, end) in enumerate(days, 1):
        with engine.begin() as connection:
            result = detect_window(connection, settings, code, start, end, detectors, actor=actor)
        summary.run_ids.append(result.run_id)
        summary.days += 1
        summary.events += result.events
        summary.findings += len(result.found)
        summary.new_alerts += len(result.new)
        summary.by_rule.update(f.rule for f in result.found)
        summary.new_by_rule.update(f.rule for f in result.new)
        for rule, fig in result.figures.items():
            summary.seconds_by_rule[rule] = summary.seconds_by_rule.get(rule, 0.0) + float(fig.get("seconds", 0.0))
            if "error" in fig:
                summary.errors[rule] = str(fig["error"])
        if progress is not None:
            progress(number, len(days))
    summary.seconds = time.perf_counter() - started
    with engine.begin() as connection:
        record(
            connection,
            code,
            actor,
            "detect",
            "detection_run",
            ",".join(str(r) for r in summary.run_ids[:1] + summary.run_ids[-1:]),
            {
                "since": since.isoformat(),
                "until": until.isoformat(),
                "days": summary.days,
                "findings": summary.findings,
                "new_alerts": summary.new_alerts,
                "errors": summary.errors,
            },
        )
        _triage(connection, settings, code, summary, actor)
    return summary


def triage_line(summary: DetectSummary) -> str:
    return (
        f"cases: {summary.grouped:,} alert(s) into cases ({summary.cases_opened:,} new case(s)), "
        f"{summary.suppressed:,} suppressed, {summary.mails_queued:,} e-mail(s) queued"
    )


def _triage(connection: Connection, settings: Settings, code: str, summary: DetectSummary, actor: str) -> None:
    """Put the new alerts into cases (or suppress them) and queue the immediate e-mails, in the same
    transaction as the run's trail entry. Alerts a crash left untriaged are taken by the next run."""
    now = datetime.now(UTC)
    result = triage(connection, settings, code, now=now, actor=actor)
    summary.cases_opened, summary.grouped, summary.suppressed = result.cases_opened, result.grouped, result.suppressed
    summary.mails_queued = enqueue_alerts(connection, settings, code, result.notices, now=now)


def raise_alert(
    connection: Connection, settings: Settings, municipality_code: str, finding: Finding, *, actor: str = "system"
) -> bool:
    """Store ``finding``, made outside a detection window (the nightly chain check's tampering), as an
    alert of its rule, put it into a case and queue its immediate e-mail, as a detection run does. False
    when the same finding is already an alert (the same tampering found again the next night)."""
    if alerts_repo.existing_fingerprints(connection, municipality_code, [finding.fingerprint]):
        return False
    detector = detector_classes()[finding.rule]()
    now = datetime.now(UTC)
    alerts_repo.insert_alerts(connection, alert_rows([finding], [detector], municipality_code, None, now))
    _triage(connection, settings, municipality_code, DetectSummary(), actor)
    return True


def detect_pending(
    engine: Engine,
    settings: Settings,
    municipality_code: str | None = None,
    *,
    actor: str = "system",
    progress: Callable[[int, int], None] | None = None,
) -> DetectSummary:
    """Detect from the day the last run ended (that day again: it may have been partial) to the latest
    decided event, or over all events the first time."""
    code = municipality_code or settings.municipality_code
    with engine.connect() as connection:
        last_end = alerts_repo.last_window_end(connection, code)
        span_of = alerts_repo.event_span(connection, code)
    if span_of is None:
        return DetectSummary()
    first, latest = span_of
    since = first if last_end is None else min(max(first, last_end - timedelta(days=1)), latest)
    return detect(
        engine, settings, since, latest + timedelta(microseconds=1), municipality_code=code, actor=actor,
        progress=progress,
    )  # fmt: skip
