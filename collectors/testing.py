"""``auditd profile test``: read a file with a profile and report, without touching the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from auditd.privacy.mynumber import mask_frame, mask_series
from collectors.mapping import map_event_chunk
from collectors.pipeline import MASKED_FIELDS, reader_for
from collectors.profile import Profile

EXAMPLES_PER_PROBLEM = 3


@dataclass
class ProfileReport:
    columns: list[str]
    sample: list[list[str]] = field(default_factory=list)
    records: int = 0
    good: int = 0
    bad: int = 0
    masked: int = 0
    problems: dict[str, tuple[int, list[tuple[int, str]]]] = field(default_factory=dict)

    def add_problem(self, code: str, line: int, reason: str) -> None:
        count, examples = self.problems.get(code, (0, []))
        if len(examples) < EXAMPLES_PER_PROBLEM:
            examples.append((line, reason))
        self.problems[code] = (count + 1, examples)


def _show(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):  # type: ignore[call-overload]
        return ""
    return str(value)


def try_profile(profile: Profile, path: Path, *, rows: int = 5) -> ProfileReport:
    if profile.kind != "events":
        from collectors.reference import preview_reference

        return preview_reference(profile, path, rows=rows)
    columns = ["line", *[f for f in profile.fields if f != "system"]]
    report = ProfileReport(columns=columns)
    reader = reader_for(profile)
    with path.open("rb") as stream:
        for chunk in reader.chunks(stream, start_position=0, start_line=0, chunk_rows=20_000):
            events, rejected = map_event_chunk(chunk, profile)
            report.records += chunk.size
            report.good += len(events)
            report.bad += len(chunk.rejects) + len(rejected)
            report.masked += int(mask_frame(events, MASKED_FIELDS).sum())
            for r in chunk.rejects:
                report.add_problem(r.reason_code, r.line, r.reason)
            masked_reasons, _ = (
                mask_series(rejected["reason"].astype("str")) if len(rejected) else (rejected["reason"], None)
            )
            for line, code, reason in zip(rejected["_line"], rejected["reason_code"], masked_reasons, strict=True):
                report.add_problem(str(code), int(line), str(reason))
            for record in events.head(max(0, rows - len(report.sample))).to_dict("records"):
                shown = [str(record["_line"])]
                for name in columns[1:]:
                    value = record.get(name)
                    if name == "subject" and isinstance(value, str):
                        value = value[:2] + "…" if len(value) > 2 else "…"  # a resident identifier: hinted only
                    elif name == "ts" and value is not None and not pd.isna(value):
                        value = pd.Timestamp(value).tz_convert("Asia/Tokyo").isoformat()
                    shown.append(_show(value))
                report.sample.append(shown)
    return report
