"""Every model of the store, imported in one place so the metadata (and Alembic) sees all tables."""

from __future__ import annotations

from auditd.auth.models import PlatformUser
from auditd.events.models import Event, IngestBatch, IngestRun, QuarantinedRecord, Source
from auditd.privacy.models import Subject
from auditd.reference.models import (
    Account,
    BusinessCase,
    CalendarDay,
    Grant,
    Municipality,
    OutputApproval,
    Overtime,
    Resident,
    Section,
    Staff,
    StaffAssignment,
    Terminal,
    WatchlistEntry,
)
from auditd.store.base import Base
from auditd.trail.models import TrailEntry

__all__ = [
    "Account",
    "Base",
    "BusinessCase",
    "CalendarDay",
    "Event",
    "Grant",
    "IngestBatch",
    "IngestRun",
    "Municipality",
    "OutputApproval",
    "Overtime",
    "PlatformUser",
    "QuarantinedRecord",
    "Resident",
    "Section",
    "Source",
    "Staff",
    "StaffAssignment",
    "Subject",
    "Terminal",
    "TrailEntry",
    "WatchlistEntry",
]

#: Tables whose rows are never updated or deleted (enforced by triggers created in migrations).
APPEND_ONLY_TABLES = ("events", "trail")
