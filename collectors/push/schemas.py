"""What the collection API answers. Every route declares one of these as its response model, so the
OpenAPI document (``/api/docs``) is the contract senders and dashboards are written against."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Problem(BaseModel):
    """One problem of a malformed request (a query parameter out of range …)."""

    where: str
    problem: str


class ErrorBody(BaseModel):
    """How every refused request is answered (rendered by the application's error handlers)."""

    error: str = Field(description="machine-readable code: authentication_required, payload_too_large …")
    detail: str | list[Problem] = Field(
        description="what went wrong, for a person; for a malformed request (validation_failed) possibly the "
        "list of problems"
    )
    hint: str | None = Field(None, description="what to do about it, when there is something to do")


class PushResult(BaseModel):
    """The outcome of one push. A retry with the same ``Idempotency-Key`` gets this same answer."""

    run_id: int | None = Field(description="the ingest run that stored the push; null for an empty body")
    read: int = Field(description="records read (blank lines and a CSV header are not records)")
    accepted: int = Field(description="events stored now")
    duplicate: int = Field(description="events that were already stored (a retried or repeated batch)")
    quarantined: int = Field(description="records kept in the quarantine with the reason")
    masked: int = Field(description="events in which a 個人番号 was found and masked")
    quarantine_reasons: dict[str, int] = Field(description="quarantined records by reason code")


class ImportResult(BaseModel):
    """The outcome of one reference-feed import (``auditd import`` answers the same figures)."""

    kind: str
    input: str = Field(description="the uploaded file's name")
    read: int
    stored: int = Field(description="rows now in the store for this feed")
    quarantined: int
    seconds: float
    quarantine_reasons: dict[str, int]


class RunOut(BaseModel):
    """One ingest run: a file, a push, a listener session or a reference import."""

    id: int
    source: str
    profile: str
    input: str
    status: str = Field(description="running, completed or failed")
    started_at: datetime
    finished_at: datetime | None
    read: int
    accepted: int
    duplicate: int
    quarantined: int
    masked: int
    error: str | None


class RunList(BaseModel):
    runs: list[RunOut]


class SourceHealth(BaseModel):
    """A log source and whether it is still sending."""

    name: str
    profile: str
    system: str | None
    last_event_ts: datetime | None = Field(description="the newest event stored from this source")
    max_silence_hours: int = Field(description="hours without events after which the source counts as silent")
    silent: bool = Field(description="no event for longer than max_silence_hours (or never any)")
    silent_hours: float | None = Field(description="hours since the last event; null before the first")
    push_token: bool = Field(description="a push token is set (the token itself is never shown again)")


class SourceList(BaseModel):
    checked_at: datetime = Field(description="the instant silence was measured against")
    sources: list[SourceHealth]


class QuarantineItem(BaseModel):
    """A record that could not become an event or a reference row. Its text is stored masked."""

    id: int
    run_id: int | None
    source: str
    raw_ref: str = Field(description="where it came from: input:line")
    reason_code: str
    reason: str
    raw_text: str | None = Field(description="the record as received, 個人番号 masked (officers only; else null)")
    created_at: datetime


class QuarantinePage(BaseModel):
    counts: dict[str, int] = Field(description="all quarantined records of the source filter, by reason code")
    total: int = Field(description="the sum of counts")
    items: list[QuarantineItem] = Field(description="the newest records matching source and reason, up to limit")
