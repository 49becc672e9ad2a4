"""Request and response bodies of ``/api/v1/reports``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Format = Literal["pdf", "html", "xlsx"]


class ReportIn(BaseModel):
    """What to make. Annual: ``fiscal_year``. Monthly: ``month``. Disclosure: ``resident``, ``since``
    and ``until`` (the 宛名番号 is pseudonymised to search and is not stored)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["annual", "monthly", "disclosure"]
    format: Format = "pdf"
    fiscal_year: Annotated[int | None, Field(ge=2000, le=2100, examples=[2025])] = None
    month: Annotated[str | None, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-10"])] = None
    resident: Annotated[str | None, Field(min_length=1, max_length=32, pattern=r"^[0-9０-９]+$")] = None
    since: date | None = None
    until: date | None = None
    show_staff: bool | None = None

    @model_validator(mode="after")
    def _complete(self) -> ReportIn:
        needs = {"annual": ("fiscal_year",), "monthly": ("month",), "disclosure": ("resident", "since", "until")}
        missing = [name for name in needs[self.kind] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind} report needs {', '.join(missing)}")
        return self


class ReportOut(BaseModel):
    id: int
    kind: str
    period_start: date
    period_end: date
    format: str
    title: str
    trigger: str
    requested_by: str
    created_at: datetime
    size: int
    sha256: str
    download: str = Field(description="the path that downloads the file")


class ReportList(BaseModel):
    items: list[ReportOut]


# -- the PIA register and attestations (/api/v1/pia, /api/v1/attestations) ----------------------------

PiaKind = Literal["basic", "focused", "full"]
AttestationResult = Literal["done", "partly", "not_done", "not_applicable"]
_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"  # no control characters but tab and newlines


class PiaIn(BaseModel):
    """A 評価書 to add to the register."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: Annotated[
        str, Field(min_length=1, max_length=200, pattern=_TEXT, examples=["個人住民税に関する事務 全項目評価書"])
    ]
    jimu: Annotated[str, Field(min_length=1, max_length=100, pattern=_TEXT, examples=["個人住民税"])]
    kind: PiaKind
    published_on: date
    last_reviewed_on: date | None = None
    reassessed_on: date | None = None
    note: Annotated[str | None, Field(max_length=2000, pattern=_TEXT)] = None

    @model_validator(mode="after")
    def _order(self) -> PiaIn:
        for name in ("last_reviewed_on", "reassessed_on"):
            value = getattr(self, name)
            if value is not None and value < self.published_on:
                raise ValueError(f"{name} is before the publication ({value} < {self.published_on})")
        return self


class PiaReviewIn(BaseModel):
    """A review (見直し) or re-assessment (再評価) done on ``reviewed_on``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reviewed_on: date
    kind: Literal["review", "reassessment"] = "review"
    note: Annotated[str | None, Field(max_length=2000, pattern=_TEXT)] = None


class PiaReviewOut(BaseModel):
    id: int
    kind: str
    reviewed_on: date
    actor: str
    note: str | None
    recorded_at: datetime


class PiaOut(BaseModel):
    id: int
    title: str
    jimu: str
    kind: str
    kind_ja: str
    published_on: date
    last_reviewed_on: date | None
    reassessed_on: date | None
    note: str | None
    active: bool
    review_due: date = Field(description="the next yearly review (規則第15条)")
    reassessment_due: date = Field(description="the five-year re-assessment")
    review_overdue: bool
    reassessment_overdue: bool
    reviews: list[PiaReviewOut] | None = None


class PiaList(BaseModel):
    items: list[PiaOut]


class AttestationOut(BaseModel):
    id: int
    fiscal_year: int
    item: str
    item_ja: str
    result: str
    result_ja: str
    statement: str
    evidence_name: str | None
    evidence_media_type: str | None
    evidence_size: int | None
    evidence_sha256: str | None
    attested_by: str
    attested_at: datetime
    current: bool = Field(description="the answer in force for its item (the newest)")
    download: str | None = Field(None, description="the path that downloads the evidence file")


class AttestationList(BaseModel):
    fiscal_year: int
    items: list[AttestationOut] = Field(description="every attestation of the year, oldest first")
