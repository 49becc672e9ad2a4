"""Extension points. Built-ins register exactly as a third party would: Python entry points.

``auditd`` never imports ``collectors``, ``policies``, ``detectors`` or ``reports`` directly; it asks
this registry for what is installed under a group:

=====================  ======================================================================
group                  what an entry point names
=====================  ======================================================================
``auditd.formats``     a reader class for an input format (``csv``, ``jsonl``, ``syslog`` …)
``auditd.profiles``    a package whose directory holds built-in mapping profiles (``*.yaml``)
``auditd.cli``         ``register(app: typer.Typer) -> None`` adding commands to the CLI
``auditd.routers``     a FastAPI ``APIRouter`` mounted on the application
``auditd.steps``       a :class:`~auditd.pipeline.PipelineStep` run by ``auditd run`` / ``auditd demo``
``auditd.jobs``        ``jobs() -> list[JobSpec]``: scheduled jobs declared next to their domain
``auditd.roles``       ``roles(settings) -> dict[str, tuple[str, ...]]``: the roles of the policy in force
                       and the sections whose staff may hold each (empty: any section)
=====================  ======================================================================
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

GROUPS = ("formats", "profiles", "cli", "routers", "steps", "jobs", "roles", "detectors", "notifiers", "reports")


@cache
def _entry_points(group: str) -> tuple[EntryPoint, ...]:
    if group not in GROUPS:
        raise KeyError(f"unknown extension group {group!r}; known: {', '.join(GROUPS)}")
    return tuple(sorted(entry_points(group=f"auditd.{group}"), key=lambda ep: ep.name))


def names(group: str) -> list[str]:
    return [ep.name for ep in _entry_points(group)]


def load(group: str, name: str) -> Any:
    for ep in _entry_points(group):
        if ep.name == name:
            return ep.load()
    raise KeyError(f"nothing named {name!r} is registered under auditd.{group} (have: {', '.join(names(group))})")


def load_all(group: str) -> dict[str, Any]:
    """Every extension of ``group``, loaded, by name (sorted)."""
    return {ep.name: ep.load() for ep in _entry_points(group)}
