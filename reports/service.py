"""What the API and the dashboard share: who may make and read which report, making one from a request
body, and the listing each reader may see."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection

from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.errors import Forbidden, NotFound
from auditd.reports import repository as repo
from auditd.settings import Settings
from reports.base import ReportRequest, fiscal_year, generate, month
from reports.schemas import ReportIn, ReportOut

#: Reports about one resident: an officer, in person, only.
PERSONAL = ("disclosure",)


def may_see_personal(principal: Principal) -> bool:
    return principal.role == PlatformRole.OFFICER and principal.user_id is not None


def request_of(body: ReportIn, municipality_code: str) -> ReportRequest:
    if body.kind == "annual":
        assert body.fiscal_year is not None
        start, end = fiscal_year(body.fiscal_year)
        return ReportRequest("annual", municipality_code, start, end)
    if body.kind == "monthly":
        assert body.month is not None
        start, end = month(body.month)
        return ReportRequest("monthly", municipality_code, start, end)
    assert body.since is not None and body.until is not None
    return ReportRequest("disclosure", municipality_code, body.since, body.until, body.resident, body.show_staff)


def out(row: dict[str, Any]) -> ReportOut:
    fields = {k: v for k, v in row.items() if k in ReportOut.model_fields}
    return ReportOut(**fields, download=f"/api/v1/reports/{row['id']}/file")


def make(connection: Connection, settings: Settings, principal: Principal, body: ReportIn, client: str) -> ReportOut:
    """Make, store and trail the report ``body`` asks for, as ``principal``."""
    if body.kind in PERSONAL and not may_see_personal(principal):
        raise Forbidden(
            "a disclosure report is made by an officer in person / 開示報告書は職員本人（保護責任者）のみ作成できます"
        )
    rendered = generate(connection, settings, request_of(body, principal.municipality_code), body.format,
                        principal.username, client)  # fmt: skip
    found = repo.run(connection, principal.municipality_code, rendered.run_id)
    assert found is not None
    return out(found)


def listing(
    connection: Connection,
    principal: Principal,
    *,
    kind: str | None = None,
    since: date | None = None,
    limit: int = 100,
) -> list[ReportOut]:
    """Reports made, newest first, without the ones this reader may not see."""
    rows = repo.runs(connection, principal.municipality_code, kinds=None if kind is None else (kind,), limit=limit)
    return [
        out(r)
        for r in rows
        if (r["kind"] not in PERSONAL or may_see_personal(principal)) and (since is None or r["period_end"] >= since)
    ]


def readable(connection: Connection, principal: Principal, report_id: int, *, content: bool) -> dict[str, Any]:
    """One report this reader may see (with its file when ``content``); a hidden one is not found."""
    row = repo.run(connection, principal.municipality_code, report_id, content=content)
    if row is None or (row["kind"] in PERSONAL and not may_see_personal(principal)):
        raise NotFound(f"no report #{report_id}")
    return row
