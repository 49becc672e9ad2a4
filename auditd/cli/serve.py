"""``auditd serve``: the dashboard and the API, and the scheduler that runs the declared jobs."""

from __future__ import annotations

import typer
import uvicorn

from auditd.cli.common import console, migrated_engine, settings


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: str = typer.Option(None, help="Address to listen on (default 127.0.0.1, AUDITD_HOST)."),
        port: int = typer.Option(None, help="Port (default 8000, AUDITD_PORT)."),
        scheduler: bool = typer.Option(
            None,
            "--scheduler/--no-scheduler",
            help="Run scheduled jobs (default AUDITD_SCHEDULER_ENABLED, on). Only one server per store should.",
        ),
    ) -> None:
        """Serve the dashboard and the API (FastAPI) until interrupted; run scheduled jobs meanwhile."""
        serve_app(host, port, scheduler)


def serve_app(host: str | None = None, port: int | None = None, scheduler: bool | None = None) -> None:
    from auditd.api.app import create_app, freeze_startup_heap
    from auditd.scheduler.service import Scheduler

    current = settings()
    engine = migrated_engine(current)
    host = host or current.host
    port = port or current.port
    jobs = Scheduler(current, engine) if (current.scheduler_enabled if scheduler is None else scheduler) else None
    if jobs is not None:
        # Started before the server so a run missed while it was stopped catches up at once.
        jobs.start()
        console.print(f"scheduler: {len(jobs.specs)} job(s) ({', '.join(sorted(jobs.specs))})")
    console.print(
        f"dashboard: [bold]http://{host}:{port}/[/]   health: http://{host}:{port}/healthz   (Ctrl+C to stop)"
    )
    app = create_app(current, engine)
    freeze_startup_heap()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        if jobs is not None:
            jobs.shutdown(wait=False)
