"""What every reader yields, and the line-level plumbing they share.

Readers work on binary streams and track the byte offset of every line, so a run can checkpoint
"everything before byte N is stored" and resume there. Lines are decoded one by one: a line that is
not valid in the declared encoding is quarantined on its own, the rest of the file goes on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

import pandas as pd

from auditd.privacy.mynumber import mask_text
from collectors.profile import Profile

MAX_RAW_TEXT = 4096  # characters of a rejected record kept in quarantine
#: Input bytes per chunk at most, whatever ``chunk_rows`` says: memory follows bytes, not records
#: (a syslog line is three times a CSV line), so a chunk is bounded by both.
CHUNK_BYTES = 4 << 20
BOM = "\ufeff"


@dataclass(frozen=True)
class Reject:
    """A record that cannot be read or mapped."""

    line: int
    reason_code: str
    reason: str
    text: str


@dataclass
class RawChunk:
    """Up to ``chunk_rows`` records as strings, before mapping.

    ``records`` has one column per input column (header names, or ``"0"``, ``"1"`` … for positions,
    or JSON paths); ``texts`` is each record's own text (its identity); ``lines`` its first line
    number (1-based). ``end_position`` is the byte offset just after the last line consumed.
    """

    records: pd.DataFrame
    texts: list[str]
    lines: list[int]
    rejects: list[Reject] = field(default_factory=list)
    end_position: int = 0
    end_line: int = 0

    @property
    def size(self) -> int:
        return len(self.texts) + len(self.rejects)


class Reader(Protocol):
    """A format. ``chunks`` reads a stream and must be restartable at any ``end_position`` it has
    reported; ``records`` parses records that arrived already framed (a listener message, a line of
    an HTTP push), numbering them from ``first_line``."""

    def __init__(self, profile: Profile) -> None: ...

    def records(self, texts: Sequence[str], *, first_line: int) -> RawChunk: ...

    def chunks(
        self, stream: BinaryIO, *, start_position: int, start_line: int, chunk_rows: int, complete_only: bool = False
    ) -> Iterator[RawChunk]: ...


#: Characters past the cut masked with the kept part: a 個人番号 written with separators is at most 16.
_CUT_MARGIN = 16


def clip(text: str) -> str:
    """At most ``MAX_RAW_TEXT`` characters of a rejected record, with a note of how many were left out.
    Whatever is kept is masked here first, together with a margin past the cut: a 個人番号 crossing the
    cut would no longer be a 12-digit number after it, and would keep its first digits in clear."""
    if len(text) <= MAX_RAW_TEXT:
        return text
    kept, _ = mask_text(text[: MAX_RAW_TEXT + _CUT_MARGIN])
    return kept[:MAX_RAW_TEXT] + f"…(+{len(text) - MAX_RAW_TEXT} characters)"


def strip_newline(text: str) -> str:
    return text.rstrip("\r\n")


def shown_undecodable(raw: bytes, encoding: str) -> str:
    """An undecodable line as a person can read it: replacement characters, and NUL bytes made visible
    (PostgreSQL text cannot hold them)."""
    return clip(strip_newline(raw.decode(encoding, errors="replace")).replace("\x00", "␀"))


def decode_line(raw: bytes, encoding: str) -> tuple[str | None, str | None]:
    """(text, None) or (None, reason). ``auto``: UTF-8, else CP932 (see :class:`LineSource`)."""
    primary = "utf-8" if encoding.lower().replace("_", "-") in ("utf-8-sig", "utf8-sig", "auto") else encoding
    try:
        return raw.decode(primary), None
    except UnicodeDecodeError as exc:
        if encoding == "auto":
            try:
                return raw.decode("cp932"), None
            except UnicodeDecodeError:
                pass
        label = "UTF-8 or CP932" if encoding == "auto" else primary
        return None, f"not valid {label} at byte {exc.start} of the line"


@dataclass
class DecodedBlock:
    """Complete lines of a block: their text (None when undecodable) and their size in bytes."""

    texts: list[str | None]
    raw_sizes: list[int]
    bad: list[tuple[int, str, str]]  # (index in block, reason, text shown with replacement characters)

    @property
    def byte_length(self) -> int:
        return sum(self.raw_sizes)

    def slice(self, start: int, stop: int) -> DecodedBlock:
        bad = [(i - start, reason, text) for i, reason, text in self.bad if start <= i < stop]
        return DecodedBlock(self.texts[start:stop], self.raw_sizes[start:stop], bad)


def split_block(body: bytes, encoding: str) -> DecodedBlock:
    """Split a block of whole lines and decode it: in one call when it is all valid (the usual case),
    line by line otherwise, so one bad byte costs one line, not the block."""
    raw_lines = body.split(b"\n")
    if body.endswith(b"\n"):
        raw_lines.pop()
    sizes = [len(r) + 1 for r in raw_lines]
    if not body.endswith(b"\n"):
        sizes[-1] -= 1
    primary = "utf-8" if encoding.lower().replace("_", "-") in ("utf-8-sig", "utf8-sig", "auto") else encoding
    try:
        texts: list[str | None] = list(body.decode(primary).split("\n"))
        if body.endswith(b"\n"):
            texts.pop()
        return DecodedBlock(texts, sizes, [])
    except UnicodeDecodeError:
        pass
    texts, bad = [], []
    for i, raw in enumerate(raw_lines):
        text, reason = decode_line(raw, encoding)
        texts.append(text)
        if reason is not None:
            bad.append((i, reason, shown_undecodable(raw, primary)))
    return DecodedBlock(texts, sizes, bad)


class LineSource:
    """Iterates decoded lines of a binary stream, remembering byte offsets and line numbers.

    Undecodable lines are not yielded; they are appended to ``rejects`` (decoded with replacement
    characters so a person can see roughly what was there).
    """

    def __init__(
        self, stream: BinaryIO, encoding: str, *, position: int, line: int, complete_only: bool = False
    ) -> None:
        self._stream = stream
        normalised = encoding.lower().replace("_", "-")
        self._encoding = "utf-8" if normalised in ("utf-8-sig", "utf8-sig", "auto") else encoding
        # "auto": what Excel users produce is UTF-8 (with BOM) or CP932; valid Japanese text in one is
        # practically never valid in the other, so each line is tried as UTF-8 first, then CP932.
        self._fallback = "cp932" if normalised == "auto" else None
        # A file still being written may end in half a line: with complete_only it is left for later.
        self._complete_only = complete_only
        self.position = position
        self.line = line
        self.rejects: list[Reject] = []
        stream.seek(position)

    def _decode(self, raw: bytes) -> str | None:
        try:
            return raw.decode(self._encoding)
        except UnicodeDecodeError as exc:
            if self._fallback is not None:
                try:
                    return raw.decode(self._fallback)
                except UnicodeDecodeError:
                    pass
            where = (
                f"not valid {(self._fallback and 'UTF-8 or CP932') or self._encoding} at byte {exc.start} of the line"
            )
            self.rejects.append(Reject(self.line, "bad_encoding", where, shown_undecodable(raw, self._encoding)))
            return None

    def __iter__(self) -> Iterator[str]:
        for raw in self._stream:
            if self._complete_only and not raw.endswith(b"\n"):
                return
            self.line += 1
            self.position += len(raw)
            text = self._decode(raw)
            if text is None:
                continue
            if text.startswith(BOM):
                text = text[1:]
            if "\x00" in text:
                shown = clip(strip_newline(text.replace("\x00", "␀")))
                self.rejects.append(Reject(self.line, "nul_byte", "the line contains NUL bytes", shown))
                continue
            yield text
