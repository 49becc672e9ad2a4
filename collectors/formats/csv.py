"""CSV and TSV (CP932 or UTF-8, with or without BOM, CRLF or LF, quoted fields across lines)."""

from __future__ import annotations

import csv
from collections.abc import Generator, Iterator, Sequence
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from auditd.errors import ValidationFailed
from collectors.formats.base import (
    BOM,
    CHUNK_BYTES,
    DecodedBlock,
    LineSource,
    RawChunk,
    Reject,
    clip,
    split_block,
    strip_newline,
)
from collectors.profile import Profile

# A vendor's free-text column can be long, but a field of megabytes is garbage: quarantine it.
csv.field_size_limit(1 << 20)

#: Bytes read at a time by the fast path (complete lines only; the rest waits for the next block).
FAST_BLOCK_BYTES = 4 << 20


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
        source.rejects.clear()
        try:
            header = next(self._reader(lines), None)
        except csv.Error as exc:
            raise ValidationFailed(f"line {source.line}: the header row is not readable CSV ({exc})") from exc
        if source.rejects:
            bad = source.rejects[0]
            raise ValidationFailed(f"line {bad.line}: the header row cannot be read ({bad.reason})")
        names = [h.strip() for h in header] if header else []
        return names, source.position, source.line

    def chunks(
        self, stream: BinaryIO, *, start_position: int, start_line: int, chunk_rows: int, complete_only: bool = False
    ) -> Iterator[RawChunk]:
        """Blocks without quote characters (most logs) are split into lines and fields in Arrow; from
        the first block that has one, the csv module reads the rest (fields quoted across lines)."""
        header, data_position, data_line = self._header(stream)
        if start_position < data_position:
            start_position, start_line = data_position, data_line
        position, line = start_position, start_line
        if self._fast_possible():
            position, line, header = yield from self._fast_chunks(
                stream, position, line, header, chunk_rows, complete_only
            )
        yield from self._slow_chunks(stream, position, line, header, chunk_rows, complete_only)

    def _fast_possible(self) -> bool:
        encoding = self.profile.encoding.lower().replace("_", "-")
        ascii_safe = encoding in ("utf-8", "utf8", "utf-8-sig", "utf8-sig", "cp932", "shift-jis", "sjis", "auto")
        return ascii_safe and len(self.profile.field_delimiter) == 1 and len(self.profile.quotechar) == 1

    def _fast_chunks(
        self,
        stream: BinaryIO,
        position: int,
        line: int,
        header: list[str] | None,
        chunk_rows: int,
        complete_only: bool,
    ) -> Generator[RawChunk, None, tuple[int, int, list[str] | None]]:
        quote = self.profile.quotechar.encode("ascii")
        encoding = self.profile.encoding
        stream.seek(position)
        pending = b""
        while True:
            block = stream.read(FAST_BLOCK_BYTES)
            data = pending + block
            if not data:
                break
            if block:
                cut = data.rfind(b"\n")
                if cut < 0:
                    pending = data
                    continue
                body, pending = data[: cut + 1], data[cut + 1 :]
            else:  # end of file: an unterminated last line is read unless the file is still growing
                if complete_only:
                    break
                body, pending = data, b""
            if quote in body or b"\x00" in body:
                break  # the csv module takes over from the start of this block
            decoded = split_block(body, encoding)
            for first in range(0, len(decoded.raw_sizes), chunk_rows):
                piece = decoded.slice(first, first + chunk_rows)
                chunk, header = self._fast_chunk(piece, position, line, header)
                position, line = chunk.end_position, chunk.end_line
                yield chunk
            if not block:
                break
        return position, line, header

    def _fast_chunk(
        self, piece: DecodedBlock, position: int, line: int, header: list[str] | None
    ) -> tuple[RawChunk, list[str] | None]:
        rejects = [Reject(line + i + 1, "bad_encoding", reason, text) for i, reason, text in piece.bad]
        texts = pa.array(piece.texts, type=pa.string())  # None where undecodable
        texts = pc.utf8_ltrim(pc.utf8_rtrim(texts, characters="\r"), characters=BOM)
        keep = pc.and_(pc.is_valid(texts), pc.not_equal(pc.utf8_trim_whitespace(pc.fill_null(texts, "")), ""))
        numbers = pa.array(range(line + 1, line + 1 + len(piece.texts)), type=pa.int64())
        texts, numbers = pc.filter(texts, keep), pc.filter(numbers, keep)
        parts = pc.split_pattern(texts, pattern=self.profile.field_delimiter)
        widths = pc.list_value_length(parts)
        if header is None and len(texts):
            header = [str(i) for i in range(int(widths[0].as_py()))]
        columns = header or []
        fits = pc.equal(widths, len(columns))
        misfits = pc.filter(pa.StructArray.from_arrays([numbers, texts, widths], ["n", "t", "w"]), pc.invert(fits))
        for item in misfits.to_pylist():
            reason = f"{item['w']} columns, expected {len(columns)}"
            rejects.append(Reject(item["n"], "wrong_columns", reason, clip(item["t"])))
        good = pc.filter(parts, fits)
        frame = pd.DataFrame(
            {name: pd.Series(pc.list_element(good, i), dtype="str") for i, name in enumerate(columns)}
            if len(good)
            else {name: pd.Series([], dtype="str") for name in columns}
        )
        rejects.sort(key=lambda r: r.line)
        chunk = RawChunk(
            frame,
            pc.filter(texts, fits).to_pylist(),
            pc.filter(numbers, fits).to_pylist(),
            rejects,
            end_position=position + piece.byte_length,
            end_line=line + len(piece.texts),
        )
        return chunk, header

    def _slow_chunks(
        self,
        stream: BinaryIO,
        start_position: int,
        start_line: int,
        header: list[str] | None,
        chunk_rows: int,
        complete_only: bool,
    ) -> Iterator[RawChunk]:
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
        quote = self.profile.quotechar
        started = source.position
        while True:
            consumed.clear()
            before = (source.position, source.line)
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
            text = strip_newline("".join(t for _, t in consumed))
            if row and consumed and text.count(quote) % 2:
                # A quoted field still open at the end of the input: the csv module hands back what it
                # has. While the file grows, the rest is yet to come: stop before this record.
                if complete_only:
                    yield self._chunk(header, rows, texts, lines, rejects, *before)
                    return
                rejects.append(Reject(consumed[0][0], "bad_csv", "a quoted field is never closed", clip(text)))
                row = []
            if row and consumed and text.strip():  # blank lines carry nothing
                if header is None:
                    header = [str(i) for i in range(len(row))]
                if len(row) != len(header):
                    reason = f"{len(row)} columns, expected {len(header)}"
                    rejects.append(Reject(consumed[0][0], "wrong_columns", reason, clip(text)))
                else:
                    rows.append(row)
                    texts.append(text)
                    lines.append(consumed[0][0])
            if len(texts) + len(rejects) >= chunk_rows or source.position - started >= CHUNK_BYTES:
                started = source.position
                yield self._chunk(header, rows, texts, lines, rejects, source.position, source.line)
                rows, texts, lines, rejects = [], [], [], []
        if rows or rejects:
            yield self._chunk(header, rows, texts, lines, rejects, source.position, source.line)

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
        end_position: int,
        end_line: int,
    ) -> RawChunk:
        columns = header or []
        frame = pd.DataFrame(rows, columns=columns, dtype="str") if rows else pd.DataFrame(columns=columns, dtype="str")
        return RawChunk(frame, texts, lines, rejects, end_position=end_position, end_line=end_line)
