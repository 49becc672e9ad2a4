"""CSV and TSV (CP932 or UTF-8, with or without BOM, CRLF or LF, quoted fields across lines)."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from typing import BinaryIO

import pandas as pd

from collectors.formats.base import BOM, LineSource, RawChunk, Reject, clip, strip_newline
from collectors.profile import Profile

# A vendor's free-text column can be long, but a field of megabytes is garbage: quarantine it.
csv.field_size_limit(1 << 20)


class CsvReader:
    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    def _reader(self, lines: Iterator[str]) -> Iterator[list[str]]:
        return csv.reader(lines, delimiter=self.profile.field_delimiter, quotechar=self.profile.quotechar)

    def _header(self, stream: BinaryIO) -> tuple[list[str] | None, int, int]:
        """Column names (None: positions), and the byte offset and line number where data starts."""
        source = LineSource(stream, self.profile.encoding, position=0, line=0)
        lines = iter(source)
        for _ in range(self.profile.skip_rows):
            next(lines, None)
        if not self.profile.header:
            return self.profile.column_names, source.position, source.line
        header = next(self._reader(lines), None)
        names = [h.strip() for h in header] if header else []
        return names, source.position, source.line

    def chunks(
        self, stream: BinaryIO, *, start_position: int, start_line: int, chunk_rows: int, complete_only: bool = False
    ) -> Iterator[RawChunk]:
        header, data_position, data_line = self._header(stream)
        if start_position < data_position:
            start_position, start_line = data_position, data_line
        source = LineSource(
            stream, self.profile.encoding, position=start_position, line=start_line, complete_only=complete_only
        )
        consumed: list[tuple[int, str]] = []

        def tracked() -> Iterator[str]:
            for text in source:
                consumed.append((source.line, text))
                yield text

        reader = self._reader(tracked())
        rows: list[list[str]] = []
        texts: list[str] = []
        lines: list[int] = []
        rejects: list[Reject] = []
        while True:
            consumed.clear()
            try:
                row: list[str] | None = next(reader)
            except StopIteration:
                row = None
            except csv.Error as exc:
                first = consumed[0][0] if consumed else source.line
                text = clip(strip_newline("".join(t for _, t in consumed)))
                rejects.append(Reject(first, "bad_csv", f"unreadable CSV: {exc}", text))
                row = []
            rejects.extend(source.rejects)
            source.rejects.clear()
            if row is None:
                break
            if row and consumed:
                text = strip_newline("".join(t for _, t in consumed))
                if text.strip():  # blank lines carry nothing
                    if header is None:
                        header = [str(i) for i in range(len(row))]
                    if len(row) != len(header):
                        reason = f"{len(row)} columns, expected {len(header)}"
                        rejects.append(Reject(consumed[0][0], "wrong_columns", reason, clip(text)))
                    else:
                        rows.append(row)
                        texts.append(text)
                        lines.append(consumed[0][0])
            if len(texts) + len(rejects) >= chunk_rows:
                yield self._chunk(header, rows, texts, lines, rejects, source)
                rows, texts, lines, rejects = [], [], [], []
        if rows or rejects:
            yield self._chunk(header, rows, texts, lines, rejects, source)

    def records(self, texts: Sequence[str], *, first_line: int) -> RawChunk:
        """One CSV row per text (no header: ``column_names`` or positions name the columns)."""
        header = list(self.profile.column_names) if self.profile.column_names else None
        rows: list[list[str]] = []
        kept: list[str] = []
        lines: list[int] = []
        rejects: list[Reject] = []
        for offset, raw in enumerate(texts):
            text = strip_newline(raw.lstrip(BOM))
            line = first_line + offset
            if not text.strip():
                continue
            if "\x00" in text:
                rejects.append(
                    Reject(line, "nul_byte", "the record contains NUL bytes", clip(text.replace("\x00", "␀")))
                )
                continue
            try:
                row = next(self._reader(iter([text])), [])
            except csv.Error as exc:
                rejects.append(Reject(line, "bad_csv", f"unreadable CSV: {exc}", clip(text)))
                continue
            if header is None:
                header = [str(i) for i in range(len(row))]
            if len(row) != len(header):
                rejects.append(Reject(line, "wrong_columns", f"{len(row)} columns, expected {len(header)}", clip(text)))
                continue
            rows.append(row)
            kept.append(text)
            lines.append(line)
        columns = header or []
        frame = pd.DataFrame(rows, columns=columns, dtype="str") if rows else pd.DataFrame(columns=columns, dtype="str")
        return RawChunk(frame, kept, lines, rejects)

    @staticmethod
    def _chunk(
        header: list[str] | None,
        rows: list[list[str]],
        texts: list[str],
        lines: list[int],
        rejects: list[Reject],
        source: LineSource,
    ) -> RawChunk:
        columns = header or []
        frame = pd.DataFrame(rows, columns=columns, dtype="str") if rows else pd.DataFrame(columns=columns, dtype="str")
        return RawChunk(frame, texts, lines, rejects, end_position=source.position, end_line=source.line)
