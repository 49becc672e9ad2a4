"""The contract between report builders and everything that asks for a report (CLI, API, schedule).

A builder is a function ``build(connection, settings, request, actor) -> Document`` registered under the
``auditd.reports`` entry point group with the report's kind as its name, so a municipality can add its
own report the way the built-ins are added. :func:`generate` builds, renders and records the act in the
platform's trail (a disclosure report is itself a look at a resident's history).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, select

from auditd import registry
from auditd.errors import ValidationFailed
from auditd.reference.models import Municipality
from auditd.reports import repository as reports_repo
from auditd.settings import Settings
from auditd.store.base import table_of
from auditd.trail import service as trail
from reports.document import Document
from reports.render import FORMATS, render

#: The days a report may cover (a typo such as 0202-04-01 is refused, not searched for).
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
KIND_JA = {"annual": "自己点検結果報告書", "monthly": "アクセスログ点検記録", "disclosure": "アクセス記録開示報告書"}


@dataclass(frozen=True)
class ReportRequest:
    """What to report on. ``end`` is inclusive. ``resident`` (disclosure) is the 宛名番号 as typed: it is
    pseudonymised to find the events and never stored or written to the trail."""

    kind: str
    municipality_code: str
    start: date
    end: date
    resident: str | None = None
    show_staff: bool | None = None


Builder = Callable[[Connection, Settings, ReportRequest, str], Document]


def fiscal_year(year: int) -> tuple[date, date]:
    """A Japanese fiscal year (年度): 1 April ``year`` to 31 March ``year + 1``."""
    if not 2000 <= year <= 2100:
        raise ValidationFailed(f"fiscal year {year} is out of range", hint="e.g. --fiscal-year 2025 (令和7年度)")
    return date(year, 4, 1), date(year + 1, 3, 31)


def month(text: str) -> tuple[date, date]:
    """A calendar month given as YYYY-MM."""
    try:
        year, number = (int(part) for part in text.split("-"))
        first = date(year, number, 1)
    except ValueError as error:
        raise ValidationFailed(f"month {text!r} is not YYYY-MM", hint="e.g. --month 2026-10") from error
    following = date(year + (number == 12), number % 12 + 1, 1)
    return first, following - timedelta(days=1)


def reiwa(year: int) -> str:
    """The fiscal year in the era calendar, e.g. 2025 → 令和7年度."""
    return f"令和{year - 2018}年度" if year >= 2019 else f"{year}年度"


def municipality_name(connection: Connection, municipality_code: str) -> str:
    table = table_of(Municipality)
    found = connection.execute(
        select(table.c.name).where(table.c.municipality_code == municipality_code)
    ).scalar_one_or_none()
    return str(found) if found else municipality_code


def builder(kind: str) -> Builder:
    try:
        found: Builder = registry.load("reports", kind)
    except KeyError as error:
        known = ", ".join(registry.names("reports"))
        raise ValidationFailed(f"no report named {kind!r}", hint=f"known reports: {known}") from error
    return found


@dataclass(frozen=True)
class Rendered:
    document: Document
    fmt: str
    content: bytes
    run_id: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def generate(
    connection: Connection, settings: Settings, request: ReportRequest, fmt: str, actor: str, client: str
) -> Rendered:
    """Build the report, render it, store it (``report_runs``) and record who made which report of what
    in the trail (never the resident's number: only the period and, for a disclosure, the pseudonym
    that was searched). ``client`` is where it was asked from: cli, api, dashboard or schedule."""
    if fmt not in FORMATS:
        raise ValidationFailed(f"unknown format {fmt!r}", hint=f"one of {', '.join(FORMATS)}")
    if request.start > request.end:
        raise ValidationFailed("the period ends before it starts", hint=f"{request.start} > {request.end}")
    if request.start < EARLIEST or request.end > LATEST:
        raise ValidationFailed(
            f"the period {request.start} – {request.end} is outside what a report can cover",
            hint=f"days from {EARLIEST} to {LATEST}",
        )
    document = builder(request.kind)(connection, settings, request, actor)
    content = render(document, fmt)
    detail: dict[str, Any] = {
        "kind": request.kind,
        "format": fmt,
        "start": request.start.isoformat(),
        "end": request.end.isoformat(),
        "sha256": hashlib.sha256(content).hexdigest(),
        "bytes": len(content),
    }
    detail.update(document.trail_detail)
    subject = document.trail_detail.get("subject")
    run_id = reports_repo.add(
        connection,
        municipality_code=request.municipality_code,
        kind=request.kind,
        period_start=request.start,
        period_end=request.end,
        format=fmt,
        title=f"{document.title} {document.subtitle}".strip()[:200],
        trigger=client,
        requested_by=actor[:64],
        created_at=document.generated_at,
        size=len(content),
        sha256=detail["sha256"],
        subject_hash=None if subject is None else str(subject),
        summary=json.dumps(document.trail_detail, ensure_ascii=False, default=str),
        content=content,
    )
    detail["report_id"] = run_id
    trail.record(
        connection,
        request.municipality_code,
        actor,
        "report.generate",
        "report",
        request.kind,
        detail=detail,
        client=client,
    )
    return Rendered(document, fmt, content, run_id)
