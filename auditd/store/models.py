"""Every model of the store, imported in one place so the metadata (and Alembic) sees all tables."""

from __future__ import annotations

from auditd.alerts.models import Alert, DetectionRun, UserDay
from auditd.archive.models import EventArchive, EventArchiveAction, EventArchiveBatch
from auditd.auth.models import ApiToken, PlatformUser
from auditd.cases.models import BreachReport, Case, CaseAttachment, CaseEvent, Suppression
from auditd.decisions.models import PolicyVersion, Violation
from auditd.events.models import AccountDay, Event, EventHour, IngestBatch, IngestRun, QuarantinedRecord, Source
from auditd.integrity.models import BatchSeal, ChainHead, IntegrityCheck
from auditd.mail.models import MailOutbox, MailRecipient
from auditd.privacy.models import Subject
from auditd.reference.models import (
    Account,
    BusinessCase,
    CalendarDay,
    Grant,
    Municipality,
    OutputApproval,
    Overtime,
    ReferenceGeneration,
    Resident,
    Section,
    Staff,
    StaffAssignment,
    Terminal,
    WatchlistEntry,
)
from auditd.reports.models import Attestation, PiaReport, PiaReview, ReportRun
from auditd.rights.models import GrantEvent, GrantRequest
from auditd.scheduler.models import JobRun, SchedulerJob
from auditd.store.base import Base
from auditd.trail.models import TrailEntry

__all__ = [
    "Account",
    "AccountDay",
    "Alert",
    "ApiToken",
    "Attestation",
    "Base",
    "BatchSeal",
    "BreachReport",
    "BusinessCase",
    "CalendarDay",
    "Case",
    "CaseAttachment",
    "CaseEvent",
    "ChainHead",
    "DetectionRun",
    "Event",
    "EventArchive",
    "EventArchiveAction",
    "EventArchiveBatch",
    "EventHour",
    "Grant",
    "GrantEvent",
    "GrantRequest",
    "IngestBatch",
    "IngestRun",
    "IntegrityCheck",
    "JobRun",
    "MailOutbox",
    "MailRecipient",
    "Municipality",
    "OutputApproval",
    "Overtime",
    "PiaReport",
    "PiaReview",
    "PlatformUser",
    "PolicyVersion",
    "QuarantinedRecord",
    "ReferenceGeneration",
    "ReportRun",
    "Resident",
    "SchedulerJob",
    "Section",
    "Source",
    "Staff",
    "StaffAssignment",
    "Subject",
    "Suppression",
    "Terminal",
    "TrailEntry",
    "UserDay",
    "Violation",
    "WatchlistEntry",
]

#: Tables whose rows are never updated or deleted (enforced by triggers created in migrations).
APPEND_ONLY_TABLES = (
    "events", "trail", "grant_events", "alert_case_events", "pia_reviews", "attestations",
    "event_archives", "event_archive_batches", "event_archive_actions", "recert_events",
)  # fmt: skip
