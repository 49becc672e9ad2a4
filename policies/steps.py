"""The decide step of the main job (``auditd run`` / ``auditd demo``): after collection."""

from __future__ import annotations

from auditd.pipeline import PipelineContext, StepResult
from policies.rules import BY_KEY
from policies.service import decide_pending


class DecideStep:
    name = "decide"
    order = 20
    title = "判定 / decide: every event against the access policy"

    def run(self, context: PipelineContext) -> StepResult:
        summary = decide_pending(context.engine, context.settings, context.municipality_code, actor=context.actor)
        for rule, count in summary.by_rule.most_common():
            context.console.print(f"    {BY_KEY[rule].code} {BY_KEY[rule].title_ja:<20} {count:>6,}")
        figures = {
            "events": float(summary.events),
            "violations": float(summary.violations),
            "events_per_second": summary.rate,
        }
        text = (
            f"{summary.events:,} events decided ({summary.rate:,.0f}/s), {summary.violations:,} violations "
            f"of {len(summary.by_rule)} kinds"
        )
        return StepResult(self.name, text, figures)
