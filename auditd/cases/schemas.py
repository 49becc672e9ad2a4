"""What the alerts and cases API takes and answers (the OpenAPI contract, ``/api/docs``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from auditd.rights.schemas import Day, Identifier, Reason

Severity = Literal["critical", "high", "medium", "low"]
CaseStatus = Literal["new", "investigating", "closed"]
Disposition = Literal["legitimate", "inappropriate", "fraud", "false_positive"]
RuleCode = Annotated[str, StringConstraints(pattern=r"^D\d{2}$")]
Pseudonym = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{8,64}$")]


class AlertOut(BaseModel):
    """One finding of one detector. Residents appear as pseudonyms only."""

    id: int
    rule: str
    severity: str
    title: str
    status: str = Field(description="its case's status (new / investigating / closed) or suppressed")
    user_id: str | None
    section: str | None
    terminal_id: str | None
    subjects: list[str]
    start: datetime
    end: datetime
    event_count: int
    explanation: str
    explanation_en: str
    case_id: int | None
    suppression_id: int | None
    detected_at: datetime
    event_ids: list[str] | None = Field(None, description="given with one alert or a case, not in lists")
    evidence: dict[str, Any] | None = None


class AlertList(BaseModel):
    items: list[AlertOut]


class CaseOut(BaseModel):
    id: int
    title: str
    user_id: str | None
    section: str | None
    severity: str
    status: CaseStatus
    status_ja: str
    assignee: str | None
    disposition: Disposition | None
    disposition_ja: str | None
    disposition_reason: str | None
    subjects: list[str]
    first_start: datetime
    last_end: datetime
    alert_count: int
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    closed_by: str | None


class CaseList(BaseModel):
    items: list[CaseOut]


class CaseEventOut(BaseModel):
    id: int
    ts: datetime
    actor: str
    action: str
    body: str | None
    detail: dict[str, Any] | None


class AttachmentOut(BaseModel):
    id: int
    filename: str
    media_type: str
    size: int
    sha256: str
    created_by: str
    created_at: datetime


class BreachOut(BaseModel):
    """The 漏えい等報告 checklist and its deadline clocks (days left from today, Japan time)."""

    case_id: int
    discovered_on: date
    mynumber_system: bool = Field(description="漏えい等 from a 個人番号利用事務 system or the linkage network")
    wrongful_purpose: bool = Field(description="不正の目的をもって行われたおそれ (the 確報 is due in 60 days)")
    over_100: bool = Field(description="the 個人番号 of more than 100 people")
    public_exposure: bool = Field(description="不特定多数の者に閲覧されたおそれ")
    reportable: bool = Field(description="any of the above: a report to the PPC is required")
    preliminary_due: date
    final_due: date
    preliminary_days_left: int | None = Field(description="None once the 速報 is made; negative when overdue")
    final_days_left: int | None = Field(description="None once the 確報 is made; negative when overdue")
    preliminary_reported_at: datetime | None
    final_reported_at: datetime | None
    note: str | None
    opened_at: datetime
    updated_at: datetime


class CaseDetail(CaseOut):
    alerts: list[AlertOut]
    history: list[CaseEventOut]
    attachments: list[AttachmentOut]
    breach: BreachOut | None


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee: Identifier = Field(description="platform username of the officer who investigates")


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["investigating"] = Field(description="新規 → 調査中 (closing needs a disposition: /close)")


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Reason


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    disposition: Disposition = Field(description="正当業務 / 不適切 / 不正 / 誤検知")
    reason: Reason


class ReopenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class BreachIn(BaseModel):
    """Answers of the checklist; the deadlines are recomputed from them."""

    model_config = ConfigDict(extra="forbid")

    discovered_on: Day | None = None
    mynumber_system: bool | None = None
    wrongful_purpose: bool | None = None
    over_100: bool | None = None
    public_exposure: bool | None = None
    note: Annotated[str, StringConstraints(max_length=4000)] | None = None


class BreachReportedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: Literal["preliminary", "final"] = Field(description="速報 (preliminary) or 確報 (final)")


class SuppressionIn(BaseModel):
    """A pattern to mark legitimate: at least one of rule, user, resident or section, and an expiry."""

    model_config = ConfigDict(extra="forbid")

    rule: RuleCode | None = None
    user_id: Identifier | None = None
    subject: Pseudonym | None = Field(None, description="a resident's pseudonym as shown in alerts")
    section: Identifier | None = None
    reason: Reason
    expires_on: Day = Field(description="the last day it applies")

    @model_validator(mode="after")
    def _has_pattern(self) -> SuppressionIn:
        if not any((self.rule, self.user_id, self.subject, self.section)):
            raise ValueError("a suppression needs at least one of rule, user_id, subject, section")
        return self


class SuppressionOut(BaseModel):
    id: int
    rule: str | None
    user_id: str | None
    subject: str | None
    section: str | None
    reason: str
    expires_on: date
    created_by: str
    created_at: datetime
    revoked_by: str | None
    revoked_at: datetime | None
    matched: int = Field(description="alerts it has suppressed (still stored and counted in reports)")


class SuppressionList(BaseModel):
    items: list[SuppressionOut]
