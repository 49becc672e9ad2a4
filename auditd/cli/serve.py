"""``auditd serve``: the dashboard and the API."""

from __future__ import annotations

import typer
import uvicorn

from auditd.cli.common import console, migrated_engine, settings


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: str = typer.Option(None, help="Address to listen on (default 127.0.0.1, AUDITD_HOST)."),
        port: int = typer.Option(None, help="Port (default 8000, AUDITD_PORT)."),
    ) -> None:
        """Serve the dashboard and the API (FastAPI) until interrupted."""
        serve_app(host, port)


def serve_app(host: str | None = None, port: int | None = None) -> None:
    from auditd.api.app import create_app

    current = settings()
    engine = migrated_engine(current)
    host = host or current.host
    port = port or current.port
    console.print(
        f"dashboard: [bold]http://{host}:{port}/[/]   health: http://{host}:{port}/healthz   (Ctrl+C to stop)"
    )
    uvicorn.run(create_app(current, engine), host=host, port=port, log_level="warning", access_log=False)
