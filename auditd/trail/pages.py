"""The dashboard's 監査証跡 page: what the platform's own users (and its jobs) did — logins, lookups of
residents, reports, case work … — newest first, the page equivalent of ``auditd trail``.

Officers and auditors read it (an auditor "sees reports and trails"); section heads and
administrators are refused, as the route matrix says. Filters are a plain GET form (actor, action
prefix, Japan days); pages of :data:`PAGE` entries are reached by a keyset on ``(ts, id)`` (the ids of
the first and last rows in the links), so a page deep in the trail costs what the first one does.

Reading goes along the trail's indexes: ``ix_trail_ts`` (municipality, ts) and, with an actor,
``ix_trail_actor`` (municipality, actor, ts). The action prefix has no index of its own: it filters
the rows read along the time index (see :func:`entries`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection, and_, or_, select

from auditd.api.deps import DbSession, SettingsDep, require
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.dashboard.router import render
from auditd.settings import Settings
from auditd.store.base import table_of
from auditd.trail.models import TrailEntry

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(PlatformRole.OFFICER, PlatformRole.AUDITOR))]

#: Entries per page.
PAGE = 100
_DETAIL_CHARS = 160


@dataclass(frozen=True)
class Filters:
    actor: str | None = None
    action: str | None = None  # a prefix: "case_" finds every case action
    first: date | None = None  # Japan days, inclusive
    last: date | None = None

    def query(self) -> dict[str, str]:
        """The filters as the form's query parameters (for the paging links)."""
        values = {"actor": self.actor, "action": self.action, "from": self.first, "to": self.last}
        return {k: str(v) for k, v in values.items() if v}


@dataclass(frozen=True)
class TrailPage:
    rows: list[dict[str, Any]]
    older: int | None  # the id to page on from ("次へ"), when older entries exist
    newer: int | None  # the id to page back from ("前へ"), when newer entries exist


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _midnight(day: date, settings: Settings) -> datetime:
    return datetime.combine(day, time(), settings.tz).astimezone(UTC)


def entries(
    connection: Connection,
    settings: Settings,
    code: str,
    filters: Filters,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = PAGE,
) -> TrailPage:
    """One page of the trail, newest first: the newest entries (``before``/``after`` None), those older
    than the entry ``before``, or those just newer than the entry ``after``. An unknown cursor id is
    the first page."""
    trail = table_of(TrailEntry)
    where: list[Any] = [trail.c.municipality_code == code]
    if filters.actor:
        where.append(trail.c.actor == filters.actor)
    if filters.action:
        where.append(trail.c.action.like(_escape_like(filters.action) + "%", escape="\\"))
    if filters.first:
        where.append(trail.c.ts >= _midnight(filters.first, settings))
    if filters.last:
        where.append(trail.c.ts < _midnight(filters.last + timedelta(days=1), settings))

    cursor_id = before if before is not None else after
    cursor_ts = None
    if cursor_id is not None:
        cursor_ts = connection.execute(
            select(trail.c.ts).where(trail.c.municipality_code == code, trail.c.id == cursor_id)
        ).scalar_one_or_none()
    # ``ts <= x AND (ts < x OR id < y)`` rather than a row comparison: the time bound alone is what an
    # index on (municipality, [actor,] ts) can seek to on both backends.
    if cursor_ts is not None and after is not None:
        where.append(and_(trail.c.ts >= cursor_ts, or_(trail.c.ts > cursor_ts, trail.c.id > cursor_id)))
        stmt = select(trail).where(*where).order_by(trail.c.ts, trail.c.id).limit(limit + 1)
        found = [dict(r) for r in connection.execute(stmt).mappings()]
        rows = list(reversed(found[:limit]))
        newer = rows[0]["id"] if len(found) > limit else None
        return TrailPage(rows, older=rows[-1]["id"] if rows else None, newer=newer)
    if cursor_ts is not None:
        where.append(and_(trail.c.ts <= cursor_ts, or_(trail.c.ts < cursor_ts, trail.c.id < cursor_id)))
    stmt = select(trail).where(*where).order_by(trail.c.ts.desc(), trail.c.id.desc()).limit(limit + 1)
    found = [dict(r) for r in connection.execute(stmt).mappings()]
    rows = found[:limit]
    return TrailPage(
        rows,
        older=rows[-1]["id"] if len(found) > limit else None,
        newer=rows[0]["id"] if rows and cursor_ts is not None else None,
    )


def compact(detail: str | None) -> str:
    """The trail's JSON detail as ``key=value, …`` (nested values as compact JSON)."""
    if not detail:
        return ""
    try:
        value = json.loads(detail)
    except ValueError:
        return detail
    if not isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    parts = []
    for key, item in value.items():
        text = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False, separators=(",", ":"))
        parts.append(f"{key}={text}")
    return ", ".join(parts)


def _day(text: str | None) -> date | None:
    if text is None or not text.strip():
        return None
    return date.fromisoformat(text.strip())


@router.get("/trail", response_class=HTMLResponse)
def trail_page(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: Reader,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(alias="from", max_length=32)] = None,
    until: Annotated[str | None, Query(alias="to", max_length=32)] = None,
    before: Annotated[int | None, Query(ge=1)] = None,
    after: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """監査証跡: filtered by a GET form, paged by the ids of a page's last (次へ) and first (前へ) rows."""
    error = None
    try:
        first, last = _day(since), _day(until)
    except ValueError:
        error, first, last = "YYYY-MM-DD", None, None
    filters = Filters((actor or "").strip() or None, (action or "").strip() or None, first, last)
    page = entries(db.connection(), settings, principal.municipality_code, filters, before=before, after=after)
    rows = [
        {
            **row,
            "target": f"{row['target_type']}:{row['target_id']}" if row["target_id"] else (row["target_type"] or ""),
            "detail_text": compact(row["detail"]),
        }
        for row in page.rows
    ]
    base = filters.query()
    response = render(
        request,
        "trail.html",
        settings,
        principal=principal,
        rows=rows,
        filters=filters,
        error=error,
        older=None if page.older is None else "/trail?" + urlencode({**base, "before": page.older}),
        newer=None if page.newer is None else "/trail?" + urlencode({**base, "after": page.newer}),
        detail_chars=_DETAIL_CHARS,
        page_size=PAGE,
        page="trail",
    )
    if error:
        response.status_code = 422
    return response
