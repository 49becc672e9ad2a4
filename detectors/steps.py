"""The detect step of the main job (``auditd run`` / ``auditd demo``): after the decide step."""

from __future__ import annotations

from auditd.pipeline import PipelineContext, StepResult
from detectors.service import detect_pending, detector_classes, triage_line


class DetectStep:
    name = "detect"
    order = 30
    title = "検知 / detect: the detectors over the decided days"

    def run(self, context: PipelineContext) -> StepResult:
        summary = detect_pending(context.engine, context.settings, context.municipality_code, actor=context.actor)
        classes = detector_classes()
        for code, count in sorted(summary.by_rule.items()):
            context.console.print(f"    {code} {classes[code].title_ja:<28} {count:>5,}")
        for code, error in summary.errors.items():
            context.console.print(f"    [red]{code} failed[/]: {error}", highlight=False)
        context.console.print(f"    {triage_line(summary)}", highlight=False)
        figures = {
            "findings": float(summary.findings),
            "new_alerts": float(summary.new_alerts),
            "cases_opened": float(summary.cases_opened),
            "seconds": summary.seconds,
        }
        text = (
            f"{summary.days} day(s), {summary.findings:,} findings of {len(summary.by_rule)} detectors, "
            f"{summary.new_alerts:,} new alerts ({summary.seconds:.1f} s)"
        )
        return StepResult(self.name, text, figures)
