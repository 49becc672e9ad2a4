"""The application factory: one FastAPI app serving the API, the dashboard and the plugins' routers."""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.middleware.sessions import SessionMiddleware

from auditd import __version__, registry
from auditd.api import health
from auditd.api.deps import BrowserOnly, require
from auditd.api.ratelimit import SecurityLimits
from auditd.auth.settings import SecuritySettings
from auditd.errors import AuditdError, AuthenticationRequired
from auditd.settings import Settings, get_settings
from auditd.store.db import make_engine, make_session_factory

STATIC_DIR = Path(__file__).resolve().parent.parent / "dashboard" / "static"

# Everything is served from this origin; nothing is fetched from anywhere else (closed networks).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def freeze_startup_heap() -> None:
    """Move every object alive once the server is built (modules, the app, its routes and templates: some
    300,000) out of the cycle collector's reach (``gc.freeze``). A full collection otherwise walks them
    all, about 150 ms that fell on whichever request happened to trigger it; the objects of requests are
    still collected. Called once by ``auditd serve`` before it serves (and by the pages benchmark)."""
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings | None = None, engine: Engine | None = None, *, security: SecuritySettings | None = None
) -> FastAPI:
    """Build the application. Tests pass their own settings and engine; ``auditd serve`` passes none."""
    settings = settings or get_settings()
    settings.check_secrets()
    security = security or SecuritySettings()
    engine = engine or make_engine(settings.db_url)
    app = FastAPI(
        title="auditd",
        version=__version__,
        description="個人番号を取り扱う事務のアクセス監査 / Access audit for My Number handling",
        docs_url=None,  # served below, behind a login like every route but the few public ones
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.security = security
    app.state.security_limits = SecurityLimits(security)
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)

    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret("session_secret").hex(),
        session_cookie="auditd_session",
        max_age=security.session_absolute_hours * 3600,  # the absolute timeout; the idle one is in deps
        same_site="strict",
        https_only=bool(settings.base_url and settings.base_url.startswith("https://")),
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(AuditdError)
    async def auditd_error(request: Request, exc: AuditdError) -> Response:
        if isinstance(exc, AuthenticationRequired) and _wants_html(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        if _wants_html(request):
            from auditd.dashboard.router import error_page

            return error_page(request, settings, exc.status, exc.message, exc.hint)
        body = {"error": exc.code, "detail": exc.message}
        if exc.hint:
            body["hint"] = exc.hint
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {"where": ".".join(str(p) for p in err.get("loc", ())), "problem": err.get("msg", "")}
            for err in exc.errors()
        ]
        return JSONResponse({"error": "validation_failed", "detail": problems}, status_code=422)

    @app.get("/api/openapi.json", include_in_schema=False, dependencies=[Depends(require(scopes=()))])
    def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/api/docs", include_in_schema=False, dependencies=[Depends(require())])
    def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/api/openapi.json", title="auditd API")

    app.include_router(health.router)
    from auditd.auth.router import router as auth_router
    from auditd.dashboard.router import router as dashboard_router

    app.include_router(dashboard_router, dependencies=[BrowserOnly])  # pages: no API tokens, even on /login
    app.include_router(auth_router)
    for router in registry.load_all("routers").values():
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
