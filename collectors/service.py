"""Collect: what the CLI, the API and the pipeline step call. Reference feeds first, then logs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from auditd.pipeline import InputFile
from auditd.reference.repository import REFERENCE_ORDER
from auditd.settings import Settings
from collectors.pipeline import Ingestor, IngestSummary
from collectors.profile import resolve_profile
from collectors.reference import ImportSummary, ReferenceImporter


def _bind(progress: Callable[[InputFile, int], None] | None, item: InputFile) -> Callable[[int], None] | None:
    if progress is None:
        return None

    def report(position: int) -> None:
        progress(item, position)

    return report


def collect(
    engine: Engine,
    settings: Settings,
    inputs: Sequence[InputFile],
    *,
    municipality_code: str | None = None,
    actor: str = "system",
    on_done: Callable[[InputFile, IngestSummary | ImportSummary], None] | None = None,
    progress: Callable[[InputFile, int], None] | None = None,
) -> list[IngestSummary | ImportSummary]:
    """Import every reference feed (in dependency order), then ingest every log file."""
    rank = {kind: i for i, kind in enumerate(REFERENCE_ORDER)}
    ordered = sorted(inputs, key=lambda i: (i.kind == "events", rank.get(i.kind, 99)))
    importer = ReferenceImporter(engine, settings, municipality_code)
    ingestor = Ingestor(engine, settings, municipality_code)
    results: list[IngestSummary | ImportSummary] = []
    for item in ordered:
        profile = resolve_profile(item.profile)
        result: IngestSummary | ImportSummary
        if item.kind == "events":
            result = ingestor.ingest_file(item.path, profile, progress=_bind(progress, item), actor=actor)
        else:
            result = importer.import_file(item.path, profile, actor=actor)
        results.append(result)
        if on_done is not None:
            on_done(item, result)
    return results
