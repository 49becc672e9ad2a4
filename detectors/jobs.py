"""Scheduled jobs of the detectors (the ``auditd.jobs`` entry point ``detectors``).

``detectors.detect`` runs every hour at :10, after the collectors' drop folders and the decide step
have had their turn: single-event findings arrive within the hour, and the window and peer detectors
see each day again until it is complete (the same finding is never stored twice).
"""

from __future__ import annotations

from sqlalchemy import Engine

from auditd.scheduler.service import JobSpec
from auditd.settings import Settings
from detectors.service import detect_pending


def detect_job(settings: Settings, engine: Engine) -> str:
    summary = detect_pending(engine, settings, actor="scheduler")
    text = f"{summary.days} day(s), {summary.findings:,} findings, {summary.new_alerts:,} new alerts"
    if summary.errors:
        raise RuntimeError(f"{text}; failed: {', '.join(f'{c}: {e}' for c, e in summary.errors.items())}")
    return text


def jobs() -> list[JobSpec]:
    return [
        JobSpec(
            id="detectors.detect",
            title="Run the detectors over the days not yet complete",
            cron={"minute": 10},
            timezone="Asia/Tokyo",
            run=detect_job,
        )
    ]
