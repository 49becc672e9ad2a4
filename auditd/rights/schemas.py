"""What the rights API takes and answers. Every route names one of these as its response model, so
the OpenAPI document (``/api/docs``) is the contract a personnel system is written against."""

from __future__ import annotations

from datetime import date, datetime, time
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
    cause: Literal["transfer", "retirement", "contract_end"]
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


# -- ledger (権限管理表 import and export) ----------------------------------------------------------------


class LedgerRowError(BaseModel):
    """A row of an imported 権限管理表 that cannot be used, and why (line 1 is the header)."""

    line: int
    column: str | None = Field(None, description="the column at fault, when one is")
    reason: str


class LedgerImportResult(BaseModel):
    """What an import did (or, with ``dry_run`` or any bad row, would have done: all or nothing)."""

    applied: bool = Field(description="false in a dry run and whenever a row was rejected: nothing changed")
    dry_run: bool
    encoding: str = Field(description="the encoding the file was read in (utf-8 or cp932)")
    rows: int = Field(description="data rows read (the header not counted)")
    accounts_created: list[str]
    issued: int = Field(description="grants new to the store (origin ledger)")
    amended: int = Field(description="grants already stored whose end (valid_to) the file changes")
    unchanged: int = Field(description="rows that match a stored grant exactly")
    errors: list[LedgerRowError]
    warnings: list[str]


# -- contractors (委託業者の作業者名簿) -------------------------------------------------------------------


class ContractIn(BaseModel):
    """A contract under which a contractor's operators work (委託契約)."""

    model_config = ConfigDict(extra="forbid")

    contractor: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
    contract_number: Identifier
    valid_from: Day
    valid_to: Day = Field(description="the first day after the contract (exclusive, like grants): grants end then")
    window_start: time | None = Field(None, description="the work window's start (作業時間), Japan time")
    window_end: time | None = None
    weekdays: Annotated[str, StringConstraints(pattern=r"^[1-7]{0,7}$")] = Field(
        "12345", description="the days work is allowed: ISO weekday digits, 1 = Monday … 7 = Sunday"
    )
    sections: list[Identifier] = Field(default_factory=list, description="the sections the work is for")
    note: (
        Annotated[str, StringConstraints(max_length=2000), AfterValidator(_printable), AfterValidator(_masked)] | None
    ) = None

    @model_validator(mode="after")
    def _consistent(self) -> ContractIn:
        if self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from (it is the first day after the contract)")
        if (self.window_start is None) != (self.window_end is None):
            raise ValueError("give both ends of the work window, or neither")
        return self


class ContractOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    contractor: str
    contract_number: str
    valid_from: date
    valid_to: date
    window_start: time | None
    window_end: time | None
    weekdays: str
    sections: list[str]
    note: str | None


class ContractOperatorIn(BaseModel):
    """An operator (a person on the personnel register) working under a contract, with their pledge."""

    model_config = ConfigDict(extra="forbid")

    staff_id: Identifier
    pledge_date: Day | None = Field(None, description="the day the 誓約書 was signed; grants are refused without one")


class ContractOperatorOut(BaseModel):
    staff_id: str
    contract_id: int
    pledge_date: date | None
    name: str | None = None


class ContractDetail(BaseModel):
    contract: ContractOut
    operators: list[ContractOperatorOut]


class ContractList(BaseModel):
    contracts: list[ContractOut]


# -- recertification campaigns (権限表の見直し) ---------------------------------------------------------


Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_printable)
]


class CampaignIn(BaseModel):
    """Open a recertification campaign now. Every active grant of the municipality is put under review."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = Field(None, description="default: 権限表の見直し YYYY-MM-DD")
    deadline: Day | None = Field(None, description="the last day to decide (default: AUDITD_RECERT_DAYS from today)")
    usage_months: int | None = Field(
        None, ge=1, le=24, description="months of use shown next to each grant (default AUDITD_RECERT_USAGE_MONTHS)"
    )


class CampaignOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    trigger: Literal["manual", "scheduled"]
    status: Literal["open", "closed"]
    starts_on: date
    deadline: date
    usage_months: int
    usage_from: date = Field(description="the usage window: first day")
    usage_to: date = Field(description="the usage window: first day after it (exclusive)")
    created_by: str
    created_at: datetime
    flagged_at: datetime | None = Field(description="when the items left undecided at the deadline were flagged")
    escalated_at: datetime | None = Field(description="when the non-responding sections were escalated")
    closed_by: str | None
    closed_at: datetime | None
    items: int = Field(0, description="grants under review that you may see")
    decided: int = Field(0, description="of those, decided")
    unused: int = Field(0, description="of those, not used at all in the usage window")


class CampaignList(BaseModel):
    campaigns: list[CampaignOut]


class RecertItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    campaign_id: int
    grant_id: int
    user_id: str
    role: str
    valid_from: date
    valid_to: date | None
    section_code: str | None = Field(description="the holder's section when the campaign opened (the reviewer)")
    lookups: int = Field(description="events of the account in the usage window (account_days rollup)")
    active_days: int = Field(description="days the account was used in the usage window")
    last_used: date | None = Field(description="the last day the account was used before the window ended")
    unused: bool = Field(description="no use at all in the usage window: a candidate for revocation")
    decision: Literal["keep", "revoke", "change"] | None
    new_role: str | None
    new_valid_to: date | None
    new_request_id: int | None = Field(description="a change: the grant request made for the new role")
    reason: str | None
    decided_by: str | None
    decided_at: datetime | None
    flagged_at: datetime | None = Field(description="left undecided at the deadline")


class CampaignDetail(BaseModel):
    campaign: CampaignOut
    items: list[RecertItemOut]


class RecertDecisionIn(BaseModel):
    """keep (nothing changes), revoke (the grant is revoked today), or change (the grant is revoked and
    a request for ``new_role`` is made, to be approved as any request)."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["keep", "revoke", "change"]
    reason: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, max_length=2000),
            AfterValidator(_printable),
            AfterValidator(_masked),
        ]
        | None
    ) = Field(None, description="why: mandatory to revoke or change")
    new_role: Identifier | None = Field(None, description="change: the role the holder should have instead")
    new_valid_to: Day | None = Field(None, description="change: the end of the new role (exclusive)")

    @model_validator(mode="after")
    def _complete(self) -> RecertDecisionIn:
        if self.decision != "keep" and not self.reason:
            raise ValueError("a reason is needed to revoke or change / 取消・変更には理由が必要です")
        if self.decision == "change" and not self.new_role:
            raise ValueError("a change needs the new role (new_role) / 変更後の役割が必要です")
        if self.decision != "change" and (self.new_role or self.new_valid_to):
            raise ValueError("new_role and new_valid_to are for a change only")
        return self


class RecertDecisionOut(BaseModel):
    item: RecertItemOut
    grant: GrantOut | None = Field(None, description="revoke or change: the grant as it is now")
    request: GrantRequestOut | None = Field(None, description="change: the request made for the new role")


class CampaignRunResult(BaseModel):
    """What one pass of the campaign job (or `remind`) did: nothing twice."""

    day: date
    opened: int | None = Field(None, description="the campaign opened by the yearly schedule, if one was")
    reminded: list[str] = Field(default_factory=list, description="sections reminded")
    escalated: list[str] = Field(default_factory=list, description="sections escalated to the officers")
    flagged: int = Field(0, description="items flagged as unreviewed at the deadline")
    mails: int = Field(0, description="messages queued")


class CampaignSectionCounts(BaseModel):
    section_code: str | None
    items: int
    reviewed: int
    kept: int
    revoked: int
    changed: int
    unreviewed: int
    flagged: int
    unused: int
    unused_kept: int = Field(description="grants unused in the window that were kept anyway")


class CampaignReport(BaseModel):
    campaign: CampaignOut
    sections: list[CampaignSectionCounts]
    total: CampaignSectionCounts


# -- end recertification campaigns
