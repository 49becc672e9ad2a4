"""``/healthz``: is the service up, can it reach the store, is the store migrated."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from auditd import __version__
from auditd.api.deps import EngineDep
from auditd.store.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness and store health (no authentication)")
def healthz(engine: EngineDep) -> JSONResponse:
    body: dict[str, object] = {"status": "ok", "version": __version__, "database": engine.dialect.name}
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        revision = current_revision(engine)
    except Exception as exc:
        body.update(status="error", detail=f"store unreachable: {type(exc).__name__}")
        return JSONResponse(body, status_code=503)
    body["migration"] = revision
    if revision != head_revision():
        body.update(status="error", detail="store not migrated: run `auditd db upgrade`")
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)
