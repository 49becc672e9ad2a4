"""The collect step of the main job (``auditd run`` / ``auditd demo``)."""

from __future__ import annotations

from auditd.pipeline import InputFile, PipelineContext, StepResult
from collectors.pipeline import IngestSummary
from collectors.reference import ImportSummary
from collectors.service import collect


class CollectStep:
    name = "collect"
    order = 10
    title = "取込 / collect: reference feeds and operation logs"

    def run(self, context: PipelineContext) -> StepResult:
        console = context.console

        def done(item: InputFile, result: IngestSummary | ImportSummary) -> None:
            if isinstance(result, IngestSummary):
                console.print(
                    f"    {item.path.name:<32} read {result.read:>8,}  new {result.accepted:>8,}  "
                    f"dup {result.duplicates:>6,}  quarantined {result.quarantined:>4,}  masked {result.masked:>3,}"
                )
            else:
                console.print(f"    {item.kind:<32} stored {result.stored:>8,}  quarantined {result.quarantined:>4,}")

        results = collect(
            context.engine,
            context.settings,
            context.inputs,
            municipality_code=context.municipality_code,
            actor=context.actor,
            on_done=done,
        )
        events = [r for r in results if isinstance(r, IngestSummary)]
        seconds = sum(r.seconds for r in events) or 1e-9
        figures = {
            "files": float(len(events)),
            "read": float(sum(r.read for r in events)),
            "accepted": float(sum(r.accepted for r in events)),
            "duplicates": float(sum(r.duplicates for r in events)),
            "quarantined": float(sum(r.quarantined for r in events)),
            "masked": float(sum(r.masked for r in events)),
            "reference_rows": float(sum(r.stored for r in results if isinstance(r, ImportSummary))),
            "events_per_second": sum(r.read for r in events) / seconds,
        }
        summary = (
            f"{int(figures['accepted']):,} events stored from {len(events)} files "
            f"({int(figures['quarantined']):,} quarantined, {int(figures['masked']):,} with a masked 個人番号), "
            f"{int(figures['reference_rows']):,} reference rows; {figures['events_per_second']:,.0f} events/s"
        )
        return StepResult(self.name, summary, figures)
