"""CLI: ``auditd policy validate|show|explain`` and ``auditd decide``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from auditd.cli.common import console, migrated_engine, settings
from auditd.trail.service import cli_actor
from policies.explain import Explanation, explain_event
from policies.loader import DEFAULTS_DIR, load_policy
from policies.rules import BY_KEY, RULES
from policies.service import current_policy, decide_pending

policy_app = typer.Typer(
    help="Check and show the access policy (who may do what, when, how authenticated).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")
    app.command("decide")(decide)


@policy_app.command("validate")
def validate(
    path: Path = typer.Argument(..., help="A policy YAML file or a directory of them."),
    standalone: bool = typer.Option(False, help="Check it alone, not as an override of the built-in defaults."),
) -> None:
    """Check a policy: every error is reported with its file, key and what was expected."""
    loaded = load_policy(path) if standalone else load_policy(DEFAULTS_DIR, path)
    policy = loaded.policy
    console.print(
        f"[green]valid[/]: {len(policy.roles)} roles, {len(policy.systems)} systems, "
        f"{len(policy.jimu)} 事務 (fingerprint {loaded.digest[:12]})"
    )


@policy_app.command("show")
def show(as_json: bool = typer.Option(False, "--json", help="Print the merged policy as JSON.")) -> None:
    """Show the policy in force: the defaults merged with AUDITD_POLICY_DIR."""
    loaded = current_policy(settings())
    if as_json:
        console.print_json(loaded.canonical_json())
        return
    policy = loaded.policy
    console.print(f"{policy.meta.name} (fingerprint {loaded.digest[:12]}); sources: {len(loaded.sources)} files")
    table = Table("role", "title", "sections", "permits", "個人番号表示", title="roles")
    for name, role in policy.roles.items():
        permits = "; ".join(f"{'/'.join(p.systems)}:{'/'.join(p.jimu)}:{','.join(p.actions)}" for p in role.permits)
        table.add_row(name, role.title, ",".join(role.sections) or "any", permits, "○" if role.shows_mynumber else "")
    console.print(table)
    hours = policy.time.business_hours
    console.print(
        f"business hours {hours.start:%H:%M}–{hours.end:%H:%M}; bulk output approval from "
        f"{policy.outputs.bulk_threshold} residents"
    )
    rules = Table("code", "rule", "title", title="rules")
    for rule in RULES:
        rules.add_row(rule.code, rule.key, rule.title_ja)
    console.print(rules)


@policy_app.command("explain")
def explain(
    event_ids: list[str] = typer.Argument(..., help="Event ids (as shown by the dashboard or the API)."),
    lang: str = typer.Option("ja", help="ja or en."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: an object, or a list for several ids."),
) -> None:
    """Explain, step by step, why events were allowed or not (the 「なぜ」 view)."""
    current = settings()
    engine = migrated_engine(current)
    with engine.begin() as connection:
        results = [explain_event(connection, current, current.municipality_code, i) for i in event_ids]
    if as_json:
        shown = [r.as_dict() for r in results]
        console.print_json(json.dumps(shown if len(shown) > 1 else shown[0], ensure_ascii=False, default=str))
        return
    for number, result in enumerate(results):
        if number:
            console.rule(style="dim")
        _print_explanation(result, lang)


def _print_explanation(result: Explanation, lang: str) -> None:
    event = result.event
    console.print(
        f"event {event['event_id']}  {event['ts']}  {event['user_id']}  {event['system']}/"
        f"{event['jimu']}/{event['action']}  ({event['raw_ref']})",
        highlight=False,
    )
    verdict = "[green]許可 allowed[/]" if result.allowed else "[bold red]違反 not allowed[/]"
    console.print(f"{verdict}  — policy version {result.policy_version['id']} ({result.policy_version['name']})")
    for step in result.steps:
        mark = "[green]✓[/]" if step.ok else "[red]✗[/]"
        console.print(
            f" {mark} {step.title_ja if lang == 'ja' else step.title_en}: "
            f"{step.detail_ja if lang == 'ja' else step.detail_en}",
            highlight=False,
        )
    for violation in result.violations:
        rule = BY_KEY[violation["rule"]]
        text = violation["reason_ja"] if lang == "ja" else violation["reason_en"]
        console.print(f"   [red]{rule.code}[/] {text}  [dim]({rule.control})[/]", highlight=False)
    if not result.decided:
        console.print("[yellow]not decided yet[/]: run `auditd decide` (the explanation above is what it will store)")


def decide() -> None:
    """Decide every event not decided yet under the policy in force (run after ingest; the demo and the
    scheduler run it too). Each violation is stored with its reason and the policy version."""
    current = settings()
    engine = migrated_engine(current)
    summary = decide_pending(engine, current, actor=cli_actor())
    console.print(
        f"decided {summary.events:,} events in {summary.batches:,} batches "
        f"({summary.rate:,.0f} events/s, policy version {summary.version_id}); "
        f"{summary.violations:,} violations"
    )
    for rule, count in summary.by_rule.most_common():
        console.print(f"  {BY_KEY[rule].code} {BY_KEY[rule].title_ja}: {count:,}")
