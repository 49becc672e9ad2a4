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
