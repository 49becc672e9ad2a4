"""What the rights API takes and answers. Every route names one of these as its response model, so
the OpenAPI document (``/api/docs``) is the contract a personnel system is written against."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from auditd.privacy.mynumber import mask_text


def _printable(value: str) -> str:
    # Control characters have no place in an identifier or a reason (and NUL is refused by PostgreSQL);
    # a lone surrogate (possible in JSON: "\ud800") is not text and cannot be stored.
    if any((ord(c) < 32 and c not in "\t\n\r") or 0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise ValueError("control characters and lone surrogates are not allowed")
    return value


def _masked(value: str) -> str:
    # A reason is free text typed by a person: a 個人番号 typed into it is masked before it is stored.
    return mask_text(value)[0]


Identifier = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), AfterValidator(_printable)
]
Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
    AfterValidator(_printable),
    AfterValidator(_masked),
    Field(description="why (理由): mandatory, kept in the grant's history and the trail"),
]
#: Dates a municipality can mean: the store's Date column and PostgreSQL both hold these.
Day = Annotated[date, Field(ge=date(1900, 1, 1), le=date(2999, 12, 31))]

# -- requests -----------------------------------------------------------------------------------------


class GrantRequestIn(BaseModel):
    """A request that an operator account be granted a role of the policy in force."""

    model_config = ConfigDict(extra="forbid")

    user_id: Identifier = Field(
        description="the operator account (操作者ID), created with POST /api/v1/rights/accounts"
    )
    role: Identifier = Field(description="a role of the policy in force (GET /api/v1/policy)")
    valid_from: Day
    valid_to: Day | None = Field(None, description="first day without the right (exclusive); required when temporary")
    temporary: bool = Field(
        False, description="a temporary grant (臨時): must end. An account of kind temporary is always temporary"
    )
    reason: Reason

    @model_validator(mode="after")
    def _ends_after_start(self) -> GrantRequestIn:
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from (it is the first day without the right)")
        if self.temporary and self.valid_to is None:
            raise ValueError("a temporary grant must have an end (valid_to) / 臨時の権限には終了日が必要です")
        return self


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class ApprovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: (
        Annotated[str, StringConstraints(max_length=2000), AfterValidator(_printable), AfterValidator(_masked)] | None
    ) = None


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason
    effective_on: Day | None = Field(
        None,
        description="the day the right should have ended (退職日, 異動日 …); default: the day the personnel "
        "register made it lapse, else today. The lag is measured from it",
    )


class GrantRequestOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: str
    role: str
    valid_from: date
    valid_to: date | None
    temporary: bool
    reason: str
    status: Literal["pending", "approved", "rejected"]
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    grant_id: int | None = Field(description="the grant issued on approval")


class GrantRequestList(BaseModel):
    requests: list[GrantRequestOut]


# -- grants -------------------------------------------------------------------------------------------


class GrantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: str
    role: str
    valid_from: date
    valid_to: date | None
    approver: str | None
    status: str = Field(description="active, suspended or revoked")
    origin: str = Field(description="ledger (imported 権限管理表) or api (issued here)")
    ended_on: date | None = Field(
        None, description="the day a suspension or revocation took effect; the grant held until then"
    )


class GrantList(BaseModel):
    grants: list[GrantOut]


class GrantEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ts: datetime
    actor: str
    action: str
    user_id: str
    request_id: int | None
    grant_id: int | None
    effective_on: date | None
    reason: str | None


class GrantHistory(BaseModel):
    """Every step of one grant, oldest first, from the request it was issued for."""

    grant_id: int
    events: list[GrantEventOut]


class GrantDecision(BaseModel):
    """The answer to an approval, a rejection or a revocation: the request and/or grant as they now are."""

    request: GrantRequestOut | None = None
    grant: GrantOut | None = None
    event: GrantEventOut


# -- accounts -----------------------------------------------------------------------------------------


class AccountIn(BaseModel):
    """An operator account for one person. One account, one person: never shared (共用ID禁止)."""

    model_config = ConfigDict(extra="forbid")

    user_id: Identifier
    staff_id: Identifier = Field(description="the person on the personnel register (staff)")
    kind: Literal["personal", "temporary", "admin"] = "personal"
    created_on: Day | None = None
    disabled_on: Day | None = None
    note: (
        Annotated[str, StringConstraints(max_length=2000), AfterValidator(_printable), AfterValidator(_masked)] | None
    ) = None


class AccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: str
    staff_id: str | None
    kind: str
    created_on: date | None
    disabled_on: date | None
    note: str | None
    created: bool = Field(description="true when the account is new, false when it was updated")


# -- personnel ----------------------------------------------------------------------------------------


class PersonnelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: Day | None = Field(None, description="apply the personnel register as of this day (default today, Japan)")


class LapsedGrant(BaseModel):
    grant_id: int
    user_id: str
    role: str
    staff_id: str
    cause: Literal["transfer", "retirement"]
    effective_on: date
    section_code: str | None = Field(description="the section transferred to (a transfer)")
    action: Literal["suspended", "flagged"]


class PersonnelResult(BaseModel):
    on: date
    mode: Literal["suspend", "flag"] = Field(description="AUDITD_RIGHTS_PERSONNEL_ACTION")
    checked: int = Field(description="active grants looked at")
    lapsed: list[LapsedGrant]


class LagItem(BaseModel):
    grant_id: int
    user_id: str
    role: str
    action: str = Field(description="suspended or revoked")
    effective_on: date
    done_at: datetime
    lag_days: float = Field(description="days from the start of the effective day (Japan) to when it was done")


class LagSummary(BaseModel):
    count: int = Field(description="grants suspended or revoked with an effective day")
    median_days: float | None
    max_days: float | None
    flagged_open: int = Field(description="grants flagged as lapsed and still active: their lag is still running")


class RevocationLag(BaseModel):
    summary: LagSummary
    grants: list[LagItem]


# -- inventories --------------------------------------------------------------------------------------


class DormantAccount(BaseModel):
    user_id: str
    staff_id: str | None
    kind: str
    last_login: datetime | None = Field(description="the last successful login; null: never in the store")
    active_grants: int


class DormantList(BaseModel):
    days: int
    since: datetime
    accounts: list[DormantAccount]
