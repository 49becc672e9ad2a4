"""Scheduled jobs of the integrity capability (the ``auditd.jobs`` entry point ``integrity``).

``integrity.verify`` recomputes the whole chain every night at 03:30 Japan time, after the night's
batch transfers and before anyone starts work. Tampering found makes the run ``critical``: the run is
recorded in ``job_runs``, the check in ``integrity_checks`` and both in the trail, and the tampering
becomes a critical alert of D16 (監査ログの改ざん・欠落): a case, and the immediate e-mail to the officers.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine

from auditd.integrity.service import Finding as ChainFinding
from auditd.integrity.service import VerifyReport, run_check
from auditd.scheduler.service import CriticalFinding, JobSpec
from auditd.settings import Settings
from detectors.base import Finding
from detectors.service import raise_alert

#: What an alert keeps of a check: the first events and findings named (the check itself has them all).
MAX_EVENT_IDS = 500
MAX_FINDINGS = 50


def verify_job(settings: Settings, engine: Engine) -> str:
    """Verify the chain of ``settings.municipality_code``; critical when it is not intact."""
    with engine.connect() as connection:
        report = run_check(connection, settings, settings.municipality_code, actor="scheduler")
    summary = (
        f"check #{report.check_id}: {report.batches:,} batches, {report.events:,} events, {report.outcome} "
        f"({report.events_per_second:,.0f} events/s)"
    )
    if not report.intact:
        tampered = [f for f in report.findings if f.tampering]
        with engine.begin() as connection:
            raise_alert(
                connection, settings, settings.municipality_code, tampering_alert(report, tampered), actor="scheduler"
            )
        raise CriticalFinding(f"{summary}; {len(tampered)} finding(s), first: {tampered[0].message}")
    return summary


def tampering_alert(report: VerifyReport, tampered: list[ChainFinding]) -> Finding:
    """The alert of a check that found tampering: D16, critical, the batches and events named. Its key is
    what was found (kind, batch, position), so the same tampering found again is the same alert."""
    key = "chain:" + ";".join(sorted(f"{f.kind}:{f.batch_id}:{f.position}" for f in tampered))
    instants = [t for f in tampered for t in (f.first_ts, f.last_ts) if t is not None] or [report.started_at]
    first = tampered[0]
    return Finding(
        rule="D16",
        key=key,
        user_id=None,
        terminal_id=None,
        subjects=(),
        start=pd.Timestamp(min(instants)),
        end=pd.Timestamp(max(instants)),
        event_ids=tuple(dict.fromkeys(e for f in tampered for e in f.event_ids))[:MAX_EVENT_IDS],
        explanation_ja=(
            f"改ざん検証（チェック #{report.check_id}）で保存済みの操作ログに {len(tampered)} 件の異常が"
            f"見つかりました。最初のもの: {first.message}"
        ),
        explanation_en=(
            f"The chain check #{report.check_id} found {len(tampered)} sign(s) of tampering with the stored "
            f"logs. First: {first.message}"
        ),
        evidence={"check_id": report.check_id, "findings": [f.as_dict() for f in tampered[:MAX_FINDINGS]]},
        severity="critical",
    )


def jobs() -> list[JobSpec]:
    return [
        JobSpec(
            id="integrity.verify",
            title="Verify the tamper-evident chain over stored events",
            cron={"hour": 3, "minute": 30},
            timezone="Asia/Tokyo",
            run=verify_job,
        )
    ]
