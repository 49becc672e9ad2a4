"""JSON lines: one object per line. Fields are addressed by path (``user.id`` for nested objects)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import orjson
import pandas as pd

from collectors.formats.base import BOM, CHUNK_BYTES, LineSource, RawChunk, Reject, clip, strip_newline
from collectors.profile import Profile

_MISSING = object()


def _lookup(obj: Any, path: list[str]) -> Any:
    for part in path:
        if isinstance(obj, dict):
            obj = obj.get(part, _MISSING)
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return _MISSING
        if obj is _MISSING:
            return _MISSING
    return obj


def _as_text(value: Any) -> str | None:
    if value is _MISSING or value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


class JsonLinesReader:
    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        wanted = {str(c) for spec in profile.fields.values() for c in spec.source_columns()}
        self.paths = {name: name.split(".") for name in sorted(wanted)}

    def _parse(
        self,
        text: str,
        line: int,
        records: dict[str, list[str | None]],
        texts: list[str],
        lines: list[int],
        rejects: list[Reject],
    ) -> None:
        if not text.strip():
            return
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            rejects.append(Reject(line, "bad_json", f"not JSON: {exc}", clip(text)))
            return
        if not isinstance(obj, dict):
            rejects.append(Reject(line, "bad_json", "a line must hold one JSON object", clip(text)))
            return
        values = {name: _as_text(_lookup(obj, path)) for name, path in self.paths.items()}
        if any(value is not None and "\x00" in value for value in values.values()):
            rejects.append(Reject(line, "nul_byte", "a value contains a NUL character (\\u0000)", clip(text)))
            return
        for name, value in values.items():
            records[name].append(value)
        texts.append(text)
        lines.append(line)

    def records(self, texts: Sequence[str], *, first_line: int) -> RawChunk:
        records: dict[str, list[str | None]] = {name: [] for name in self.paths}
        kept: list[str] = []
        lines: list[int] = []
        rejects: list[Reject] = []
        for offset, raw in enumerate(texts):
            self._parse(strip_newline(raw.lstrip(BOM)), first_line + offset, records, kept, lines, rejects)
        frame = pd.DataFrame({k: pd.array(v, dtype="str") for k, v in records.items()}, index=range(len(kept)))
        return RawChunk(frame, kept, lines, rejects)

    def chunks(
        self, stream: BinaryIO, *, start_position: int, start_line: int, chunk_rows: int, complete_only: bool = False
    ) -> Iterator[RawChunk]:
        source = LineSource(
            stream, self.profile.encoding, position=start_position, line=start_line, complete_only=complete_only
        )
        records: dict[str, list[str | None]] = {name: [] for name in self.paths}
        texts: list[str] = []
        lines: list[int] = []
        rejects: list[Reject] = []
        started = source.position
        for raw in source:
            self._parse(strip_newline(raw), source.line, records, texts, lines, rejects)
            rejects.extend(source.rejects)
            source.rejects.clear()
            if len(texts) + len(rejects) >= chunk_rows or source.position - started >= CHUNK_BYTES:
                started = source.position
                yield self._chunk(records, texts, lines, rejects, source)
                records = {name: [] for name in self.paths}
                texts, lines, rejects = [], [], []
        rejects.extend(source.rejects)
        if texts or rejects:
            yield self._chunk(records, texts, lines, rejects, source)

    @staticmethod
    def _chunk(
        records: dict[str, list[str | None]],
        texts: list[str],
        lines: list[int],
        rejects: list[Reject],
        source: LineSource,
    ) -> RawChunk:
        frame = pd.DataFrame({k: pd.array(v, dtype="str") for k, v in records.items()}, index=range(len(texts)))
        return RawChunk(frame, texts, lines, rejects, end_position=source.position, end_line=source.line)
