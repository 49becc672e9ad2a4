"""The main job as a sequence of steps (collect → decide → detect → …) contributed by plugins.

Each capability registers a :class:`PipelineStep` under the ``auditd.steps`` entry-point group;
``auditd run`` and ``auditd demo`` run whatever steps are installed, in ``order``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from rich.console import Console
from sqlalchemy import Engine

from auditd import registry
from auditd.settings import Settings


@dataclass(frozen=True)
class InputFile:
    """A file for the collect step: operation logs (``kind="events"``) or a reference feed."""

    kind: str
    path: Path
    profile: str


@dataclass
class StepResult:
    step: str
    summary: str
    figures: dict[str, float] = field(default_factory=dict)


@dataclass
class PipelineContext:
    settings: Settings
    engine: Engine
    municipality_code: str
    inputs: list[InputFile] = field(default_factory=list)
    console: Console = field(default_factory=Console)
    actor: str = "system"
    results: list[StepResult] = field(default_factory=list)


@runtime_checkable
class PipelineStep(Protocol):
    """One stage of the main job. ``run`` does its work in its own transactions and reports figures."""

    name: str
    order: int
    title: str

    def run(self, context: PipelineContext) -> StepResult: ...


def installed_steps() -> list[PipelineStep]:
    steps = [obj() if isinstance(obj, type) else obj for obj in registry.load_all("steps").values()]
    return sorted(steps, key=lambda s: s.order)


def run_pipeline(context: PipelineContext) -> list[StepResult]:
    for step in installed_steps():
        context.console.rule(f"[bold]{step.title}")
        result = step.run(context)
        context.results.append(result)
        context.console.print(f"  {result.summary}")
    return context.results
