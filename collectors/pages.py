"""The dashboard's 取込 (ingest) page: the log sources and whether they still send, the push sources and
when their token was last used (never the token), the mapping profiles, the ingest runs with their
counts, and the quarantine by reason with a listing filtered by reason and run.

The same readers as the collection API (``collectors.push.router``): officers, auditors and system
administrators, who configure ingest; section heads are refused. A quarantined record's text may
hold a resident's data (a 宛名番号, a name in a reference feed; 個人番号 are masked at the door), so
only an officer sees it, and each listing that shows it is recorded in the platform trail."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from auditd.api.deps import DbSession, SettingsDep, client_address, require
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.dashboard.router import render
from auditd.trail.service import record
from collectors import service

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(PlatformRole.OFFICER, PlatformRole.AUDITOR, PlatformRole.ADMIN))]
PageNumber = Annotated[int, Query(ge=1, le=100_000)]

RUNS_PER_PAGE = 50
QUARANTINE_PER_PAGE = 50
_REASON_CODE = re.compile(r"[A-Za-z0-9_]{1,32}")
_RUN_ID = re.compile(r"[0-9]{1,9}")


def shows_raw(principal: Principal) -> bool:
    """Only an officer reads quarantined records themselves; the others see where and why."""
    return principal.role is PlatformRole.OFFICER


def _url(path: str, **query: object) -> str:
    given = {k: v for k, v in query.items() if v not in (None, "") and not (k == "page" and v == 1)}
    return f"{path}?{urlencode(given)}" if given else path


@router.get("/ingest", response_class=HTMLResponse)
def ingest_page(
    request: Request, settings: SettingsDep, db: DbSession, principal: Reader, page: PageNumber = 1
) -> Response:
    connection = db.connection()
    code = principal.municipality_code
    health = service.source_health(connection, code)
    push_names = [s.name for s in health.sources if s.push_token]
    runs = service.runs_page(connection, code, number=page, size=RUNS_PER_PAGE)
    counts = service.quarantine_counts(connection, code)
    return render(
        request,
        "ingest.html",
        settings,
        principal=principal,
        health=health,
        push_sources=[s for s in health.sources if s.push_token],
        token_use=service.push_token_use(connection, code, push_names),
        profiles=service.available_profiles((s.name, s.profile) for s in health.sources),
        runs=runs,
        prev_url=_url("/ingest", page=page - 1) + "#runs" if page > 1 else None,
        next_url=_url("/ingest", page=page + 1) + "#runs" if runs.has_next else None,
        counts=counts,
        quarantined=sum(counts.values()),
        page="ingest",
    )


@router.get("/ingest/quarantine", response_class=HTMLResponse)
def quarantine_page(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: Reader,
    reason: Annotated[str | None, Query(max_length=64)] = None,
    run: Annotated[str | None, Query(max_length=16)] = None,
    page: PageNumber = 1,
) -> Response:
    """The quarantined records of a reason and/or a run (a plain GET form: works without JavaScript)."""
    chosen_reason = reason.strip() if reason and _REASON_CODE.fullmatch(reason.strip()) else None
    run_id = int(run.strip()) if run and _RUN_ID.fullmatch(run.strip()) else None
    bad_filter = bool((reason and reason.strip() and chosen_reason is None) or (run and run.strip() and run_id is None))
    connection = db.connection()
    code = principal.municipality_code
    records = service.quarantine_page(
        connection, code, reason=chosen_reason, run_id=run_id, number=page, size=QUARANTINE_PER_PAGE
    )
    raw = shows_raw(principal)
    if raw and records.rows:
        # the records' texts were shown: who read which, under which filter
        record(
            connection,
            code,
            principal.username,
            "view_quarantine",
            "quarantine",
            None,
            {"reason": chosen_reason, "run": run_id, "page": page, "records": [r["id"] for r in records.rows]},
            client_address(request),
        )
    filters = {"reason": chosen_reason, "run": run_id}
    return render(
        request,
        "ingest_quarantine.html",
        settings,
        principal=principal,
        records=records,
        shows_raw=raw,
        reason=chosen_reason,
        run_id=run_id,
        run_known=run_id is None or service.run_exists(connection, code, run_id),
        bad_filter=bad_filter,
        counts=service.quarantine_counts(connection, code, run_id=run_id),
        all_reasons=list(service.quarantine_counts(connection, code)),
        reason_url=lambda code_: _url("/ingest/quarantine", reason=code_, run=run_id),
        prev_url=_url("/ingest/quarantine", **filters, page=page - 1) if page > 1 else None,
        next_url=_url("/ingest/quarantine", **filters, page=page + 1) if records.has_next else None,
        page="ingest",
    )
