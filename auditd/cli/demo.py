"""``auditd demo``."""

from __future__ import annotations

import typer

from auditd.cli.common import console, settings
from auditd.errors import ConfigError
from auditd.settings import DEMO_MUNICIPALITY_CODE
from auditd.store.db import make_engine


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        serve: bool = typer.Option(
            True, "--serve/--no-serve", help="Serve the dashboard afterwards (default) or stop."
        ),
        residents: int = typer.Option(20_000, min=1_000, help="Residents of the generated city."),
        days: int = typer.Option(28, min=7, max=366, help="Days of operation logs, from 2026-01-05."),
        seed: int = typer.Option(20260105, help="Random seed: the same seed gives the same city."),
        code: bool = typer.Option(
            False, "--code", help="Only print the demo officer's current one-time code (second factor) and stop."
        ),
    ) -> None:
        """Build a demo municipality (デモ市) from the built-in generator, run the pipeline on it and serve
        the dashboard. Needs no network. Running it again adds nothing twice."""
        from auditd.demo.runner import default_config, demo_totp_code, run_demo, truth_summary

        current = settings()
        if code:
            typer.echo(demo_totp_code(current))
            return
        if current.municipality_code != DEMO_MUNICIPALITY_CODE:
            raise ConfigError(
                f"AUDITD_MUNICIPALITY_CODE is {current.municipality_code}; "
                f"the demo municipality is {DEMO_MUNICIPALITY_CODE}",
                hint="unset AUDITD_MUNICIPALITY_CODE (or use another AUDITD_DATA_DIR) to run the demo",
            )
        engine = make_engine(current.db_url)
        result = run_demo(current, engine, default_config(residents, days, seed), console)
        console.rule("[bold]done")
        console.print(
            f"{len(result.manifest.incidents)} planted incidents by kind (ground truth in "
            f"{result.manifest.out_dir / 'truth.json'}; `auditd alerts list` shows what the detectors found):"
        )
        for line in truth_summary(result.manifest):
            console.print(f"  {line}", highlight=False)
        console.print(f"finished in {result.seconds:.1f} s")
        console.print(
            f"dashboard: [bold]{current.dashboard_url}[/]   login: [bold]{result.username}[/] / "
            f"[bold]{result.password}[/]"
        )
        console.print(
            f"second factor (officers must have one): TOTP secret [bold]{result.totp_secret}[/] for an "
            "authenticator app, or the current code with [bold]auditd demo --code[/]",
            highlight=False,
        )
        if serve:
            from auditd.cli.serve import serve_app

            serve_app()
