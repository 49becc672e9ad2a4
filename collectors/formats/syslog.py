"""Syslog: RFC 5424 and RFC 3164 (BSD) messages, one per line in a file or framed by a listener.

Columns a profile can reference (strings, NA when absent): ``pri``, ``facility``, ``severity`` (the
keywords of ``logger -p``: ``local0``, ``info`` …), ``version``, ``timestamp``, ``hostname``, ``app``,
``procid``, ``msgid``, ``msg``, ``sd.<SD-ID>.<param>`` for structured data (the parameter name is what
follows the last dot, since private SD-IDs such as ``x@32473.1`` may contain dots) and ``kv.<key>``
for a ``key=value`` token of the message (values may be double-quoted, with ``\\"`` inside).

``timestamp`` is ISO 8601. RFC 5424 keeps the sender's offset. RFC 3164 says neither year nor zone:
the year is the latest one that puts the date at most one day after the moment of reading (a log
read on 2 January holds last December's lines; a sender whose clock runs a little ahead is still
this year), and no offset is added, so the profile's ``timezone`` applies.

Why Arrow: a syslog line is parsed by regular expressions, and Python's ``re`` costs several
microseconds per line. Whole chunks are handled by RE2 kernels in C++ instead: one DFA pass validates
the RFC 5424 structure, a split reads the header, structured-data elements are pivoted into
columns, and only the columns the profile references are built at all. Python looks only at the
rare lines that are rejected (to say why) or that carry escaped quotes in structured data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import BinaryIO
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from collectors.formats.base import BOM, CHUNK_BYTES, LineSource, RawChunk, Reject, clip, strip_newline
from collectors.profile import Profile

HEADER_COLUMNS = (
    "pri", "facility", "severity", "version", "timestamp", "hostname", "app", "procid", "msgid", "msg",
)  # fmt: skip
#: RFC 5424 §6.2.1 facilities, by the names rsyslog and ``logger -p`` use.
FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
    "ntp", "security", "console", "solaris-cron", "local0", "local1", "local2", "local3", "local4", "local5",
    "local6", "local7",
)  # fmt: skip
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
MAX_PRI = len(FACILITIES) * 8 - 1
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# -- grammar (RE2 syntax: also valid for Python's re, which explains rejected lines) -------------------
_NAME = r'[^ =\]"]+'  # SD-NAME: printable, no space, '=', ']' or '"'
_QUOTED = r'"[^"\\]*(?:\\.[^"\\]*)*"'  # a quoted value with backslash escapes
_SD_ELEMENT = rf"\[{_NAME}(?: {_NAME}={_QUOTED})*\]"
_SD = rf"(?:-|(?:{_SD_ELEMENT})+)"
#: The whole RFC 5424 structure, for validation only (no capture groups: RE2 runs it as a DFA).
_RFC5424 = rf"(?s)^<\d{{1,3}}>[1-9]\d{{0,2}} \S+ \S+ \S+ \S+ \S+ {_SD}(?: .*)?$"
_PRI_VERSION = r"^<(?P<pri>\d{1,3})>(?P<version>\d{1,3})$"
_SD_AND_MSG = rf"(?s)^(?P<sd>{_SD})(?: (?P<msg>.*))?$"
_BSD_STAMP = rf"(?:{'|'.join(MONTHS)}) [ 0-9]?\d \d{{2}}:\d{{2}}:\d{{2}}(?:\.\d{{1,6}})?"
_ISO_STAMP = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:?\d{2})?"
_RFC3164 = (
    rf"(?s)^(?:<(?P<pri>\d{{1,3}})>)?(?:(?P<bsd>{_BSD_STAMP})|(?P<iso>{_ISO_STAMP})) "
    r"(?:(?P<hostname>[^ \[\]]*[^ \[\]:]) )?"  # optional, and never the "TAG:" that follows it
    r"(?:(?P<app>[^ \[\]:]+)(?:\[(?P<procid>[^\]]*)\])?: ?)?"
    r"(?P<msg>.*)$"
)
_BSD_PARTS = r"^(?P<month>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<time>\S+)$"
_SD_ESCAPE = r'\\(["\\\]])'
_KV_ESCAPE = r'\\(["\\])'
_QUOTED_OR_REST = rf'{_QUOTED}|"(?s:.*)'  # a quoted string, or an unterminated one to the end

_PY_PARAM = re.compile(rf' ({_NAME})="([^"\\]*(?:\\.[^"\\]*)*)"', re.S)
_PY_SD_ESCAPE = re.compile(_SD_ESCAPE)
_PY_SD_PREFIX = re.compile(rf"(?:{_SD_ELEMENT})*", re.S)
_PY_5424_HEAD = re.compile(r"<(\d{1,3})>(\d{1,3}) ")
_PY_PRI = re.compile(r"<(\d{1,3})>")
_PY_STAMP = re.compile(rf"(?:{_BSD_STAMP}|{_ISO_STAMP})")
_SUSPECT = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
#: Texts are large strings (64-bit offsets): a chunk of long messages may exceed 2 GiB.
TEXT = pa.large_string()
_NULL = pa.scalar(None, TEXT)


class RejectedText(str):
    """A framed message its transport already knows to be unusable: cut at the size limit, not valid
    in the profile's encoding, or broken framing.

    It travels through ``StreamIngest.ingest`` like any text and the reader turns it into a quarantine
    row with the transport's reason, so the pipeline stays the only writer of the quarantine and the
    run's counters add up.
    """

    reason_code: str
    reason: str

    def __new__(cls, text: str, reason_code: str, reason: str) -> RejectedText:
        made = super().__new__(cls, text)
        made.reason_code = reason_code
        made.reason = reason
        return made


def _plain(messages: pa.Array) -> bool:
    """True if no message starts with a BOM, ends with CR or LF, or holds a NUL."""
    suspect = pc.or_(
        pc.or_(pc.starts_with(messages, BOM), pc.match_substring(messages, "\x00")),
        pc.or_(pc.ends_with(messages, "\n"), pc.ends_with(messages, "\r")),
    )
    return not pc.any(suspect).as_py()


def _re2_literal(text: str) -> str:
    """``text`` as a literal inside an RE2 pattern (ASCII punctuation escaped, other characters kept)."""
    return "".join("\\" + c if c.isascii() and not c.isalnum() else c for c in text)


def _nullify(values: pa.Array) -> pa.Array:
    """Empty strings (absent groups) become null."""
    return pc.if_else(pc.greater(pc.binary_length(values), 0), values, _NULL)


def _nil(values: pa.Array) -> pa.Array:
    """RFC 5424 NILVALUE ``-`` and empty strings become null."""
    return pc.if_else(pc.equal(values, "-"), _NULL, _nullify(values))


def bsd_timestamps(stamps: pa.Array, now: datetime) -> pa.Array:
    """``Feb  3 10:00:00`` → ``2026-02-03T10:00:00``: the latest year that puts the date at most one day
    after ``now`` (wall-clock time of the zone the sender writes in), so lines written just before New
    Year and read just after get the old year, and a sender slightly ahead still gets this one.

    An impossible date (``Feb 30``) is kept as written (``2026-02-30T…``) for the mapping to reject
    as a bad timestamp, with the value in the reason.
    """
    parts = pc.extract_regex(stamps, _BSD_PARTS)
    month = pc.add(pc.index_in(pc.struct_field(parts, "month"), value_set=pa.array(MONTHS, TEXT)), 1)
    day = pc.cast(pc.struct_field(parts, "day"), pa.int32())
    clock = pc.struct_field(parts, "time")
    limit = now + timedelta(days=1)
    month_day = pc.add(pc.multiply(month, 100), day)
    limit_md = limit.month * 100 + limit.day
    later = pc.or_(
        pc.greater(month_day, limit_md),
        pc.and_(pc.equal(month_day, limit_md), pc.greater(clock, limit.strftime("%H:%M:%S.%f"))),
    )
    year = limit.year - pc.fill_null(later, False).to_numpy(zero_copy_only=False).astype(np.int64)
    month_np = month.to_numpy(zero_copy_only=False)
    day_np = day.to_numpy(zero_copy_only=False)
    for row in np.flatnonzero((month_np == 2) & (day_np == 29)):  # 29 February: the latest leap year
        while not (year[row] % 4 == 0 and (year[row] % 100 != 0 or year[row] % 400 == 0)):
            year[row] -= 1
    date = pc.binary_join_element_wise(
        pc.cast(pa.array(year), TEXT),
        pc.utf8_lpad(pc.cast(month, TEXT), 2, "0"),
        pc.utf8_lpad(pc.cast(day, TEXT), 2, "0"),
        pa.scalar("-", TEXT),
    )
    return pc.binary_join_element_wise(date, clock, pa.scalar("T", TEXT))


def _first_per_row(size: int, rows: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """For each of ``size`` rows, the first position whose row it is, or -1."""
    index = np.full(size, -1, dtype=np.int64)
    if len(rows):
        unique_rows, first = np.unique(rows, return_index=True)
        index[unique_rows] = positions[first]
    return index


def _take_or_null(values: pa.Array, index: np.ndarray) -> pa.Array:
    return pc.take(values, pa.array(index, mask=index < 0))


class SyslogReader:
    """Reads RFC 5424 and RFC 3164 syslog, building only the columns the profile references."""

    def __init__(self, profile: Profile, *, clock: Callable[[], datetime] | None = None) -> None:
        self.profile = profile
        zone = ZoneInfo(profile.timezone)
        #: The moment of reading, in the profile's zone (RFC 3164 years are inferred from it).
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(zone))
        wanted = {str(c) for spec in profile.fields.values() for c in spec.source_columns()}
        self.columns = sorted(wanted)
        self._sd: dict[str, dict[str, str]] = {}  # SD-ID → {param → column}
        self._kv: dict[str, str] = {}  # key → column
        for name in self.columns:
            if name.startswith("sd.") and "." in name[3:]:
                sd_id, _, param = name[3:].rpartition(".")
                if sd_id and param:
                    self._sd.setdefault(sd_id, {})[param] = name
            elif name.startswith("kv.") and len(name) > 3:
                self._kv[name[3:]] = name
        self._sd_patterns = {
            sd_id: rf"\[{_re2_literal(sd_id)}(?P<body>(?: {_NAME}={_QUOTED})*)\]" for sd_id in self._sd
        }
        self._kv_patterns = {
            key: rf'(?s)^(?:(?:[^"]|{_QUOTED})*?[ \t])?{_re2_literal(key)}=(?P<value>{_QUOTED}|[^ \t"]*)'
            for key in self._kv
        }
        self._kv_fast = {key: rf'(?:^|[ \t]){_re2_literal(key)}=(?P<value>""|[^ \t"]*)' for key in self._kv}
        self._need_msg = bool(self._kv) or "msg" in wanted
        self._need_sd = bool(self._sd)

    # -- the Reader protocol ------------------------------------------------------------------------

    def records(self, texts: Sequence[str], *, first_line: int) -> RawChunk:
        """Framed messages (a listener's, an HTTP push's), numbered from ``first_line``.

        Usually every text is a plain message and the whole batch goes to Arrow at once; a text the
        transport rejected, or one with a BOM, a line break at its end, a NUL or an undecodable byte
        (a lone surrogate, which Arrow refuses) sends the batch through a look at each text first.
        """
        if not any(isinstance(text, RejectedText) for text in texts):
            try:
                messages = pa.array(texts, TEXT)
            except UnicodeEncodeError:
                messages = None
            if messages is not None and _plain(messages):
                lines = list(range(first_line, first_line + len(texts)))
                frame, good_texts, good_lines, bad = self._parse(list(texts), lines, messages)
                return RawChunk(frame, good_texts, good_lines, bad)
        kept = []
        lines = []
        rejects: list[Reject] = []
        for offset, raw in enumerate(texts):
            line = first_line + offset
            if isinstance(raw, RejectedText):
                shown = _SURROGATE.sub("\ufffd", str(raw)).replace("\x00", "␀")
                rejects.append(Reject(line, raw.reason_code, raw.reason, clip(shown)))
                continue
            text = strip_newline(raw.lstrip(BOM))
            if _SUSPECT.search(text):
                rejects.append(self._unreadable(line, text))
                continue
            kept.append(text)
            lines.append(line)
        frame, good_texts, good_lines, bad = self._parse(kept, lines)
        return RawChunk(frame, good_texts, good_lines, rejects + bad)

    def chunks(
        self, stream: BinaryIO, *, start_position: int, start_line: int, chunk_rows: int, complete_only: bool = False
    ) -> Iterator[RawChunk]:
        """A syslog file, one message per line (as rsyslog or syslog-ng write them)."""
        source = LineSource(
            stream, self.profile.encoding, position=start_position, line=start_line, complete_only=complete_only
        )
        texts: list[str] = []
        lines: list[int] = []
        rejects: list[Reject] = []
        started = source.position
        for raw in source:
            texts.append(strip_newline(raw))
            lines.append(source.line)
            rejects.extend(source.rejects)
            source.rejects.clear()
            if len(texts) + len(rejects) >= chunk_rows or source.position - started >= CHUNK_BYTES:
                started = source.position
                yield self._chunk(texts, lines, rejects, source)
                texts, lines, rejects = [], [], []
        rejects.extend(source.rejects)
        if texts or rejects:
            yield self._chunk(texts, lines, rejects, source)

    def _chunk(self, texts: list[str], lines: list[int], rejects: list[Reject], source: LineSource) -> RawChunk:
        frame, good_texts, good_lines, bad = self._parse(texts, lines)
        return RawChunk(
            frame, good_texts, good_lines, rejects + bad, end_position=source.position, end_line=source.line
        )

    # -- parsing --------------------------------------------------------------------------------------

    def _parse(
        self, texts: list[str], lines: list[int], messages: pa.Array | None = None
    ) -> tuple[pd.DataFrame, list[str], list[int], list[Reject]]:
        """Columns of the parseable messages, their texts and lines, and a Reject for every other one.
        ``messages`` is ``texts`` as an Arrow array, when the caller has made it already."""
        size = len(texts)
        if not size:
            return self._frame({}, 0), [], [], []
        if messages is None:
            messages = pa.array(texts, TEXT)
        is_5424 = pc.match_substring_regex(messages, _RFC5424).to_numpy(zero_copy_only=False)
        parts: list[tuple[np.ndarray, dict[str, pa.Array]]] = []
        rows_5424 = np.flatnonzero(is_5424)
        if len(rows_5424):
            subset = messages if len(rows_5424) == size else messages.take(rows_5424)
            parts.append((rows_5424, self._rfc5424(subset)))
        others = np.flatnonzero(~is_5424)
        failed = others
        if len(others):
            subset = messages if len(others) == size else messages.take(others)
            found = pc.extract_regex(subset, _RFC3164)
            ok = found.is_valid().to_numpy(zero_copy_only=False)
            if ok.any():
                parts.append((others[ok], self._rfc3164(found if ok.all() else found.filter(ok))))
            failed = others[~ok]

        rows, columns = self._merge(parts)
        pri = pc.cast(columns["pri"], pa.int32())
        out_of_range = pc.fill_null(pc.greater(pri, MAX_PRI), False).to_numpy(zero_copy_only=False)
        if out_of_range.any():
            failed = np.concatenate([failed, rows[out_of_range]])
            keep = pa.array(~out_of_range)
            rows = rows[~out_of_range]
            columns = {name: values.filter(keep) for name, values in columns.items()}
            pri = pri.filter(keep)
        if "facility" in self.columns or "severity" in self.columns:
            facility = pc.divide(pri, 8)
            columns["facility"] = pc.take(pa.array(FACILITIES, TEXT), facility)
            columns["severity"] = pc.take(pa.array(SEVERITIES, TEXT), pc.subtract(pri, pc.multiply(facility, 8)))

        # Blank lines carry nothing: they fail both grammars and are dropped here, not rejected.
        rejects = [
            Reject(lines[i], "bad_syslog", diagnose(texts[i]), clip(texts[i]))
            for i in sorted(failed)
            if texts[i].strip()
        ]
        if len(rows) == size:
            return self._frame(columns, size), texts, lines, rejects
        return self._frame(columns, len(rows)), [texts[i] for i in rows], [lines[i] for i in rows], rejects

    def _frame(self, columns: dict[str, pa.Array], size: int) -> pd.DataFrame:
        data = {}
        for name in self.columns:
            values = columns.get(name)
            data[name] = pd.array(values, dtype="str") if values is not None else pd.array([None] * size, dtype="str")
        return pd.DataFrame(data, index=range(size))

    @staticmethod
    def _merge(parts: list[tuple[np.ndarray, dict[str, pa.Array]]]) -> tuple[np.ndarray, dict[str, pa.Array]]:
        """Put the RFC 5424 and RFC 3164 rows back in input order."""
        if not parts:
            return np.zeros(0, dtype=np.int64), {"pri": pa.array([], TEXT)}
        if len(parts) == 1:
            return parts[0]
        (rows_a, cols_a), (rows_b, cols_b) = parts
        rows = np.concatenate([rows_a, rows_b])
        order = pa.array(np.argsort(rows, kind="stable"))
        merged = {}
        for name in cols_a.keys() | cols_b.keys():
            a = cols_a.get(name, pa.nulls(len(rows_a), TEXT))
            b = cols_b.get(name, pa.nulls(len(rows_b), TEXT))
            merged[name] = pc.take(pa.concat_arrays([a, b]), order)
        return np.sort(rows), merged

    def _rfc5424(self, messages: pa.Array) -> dict[str, pa.Array]:
        fields = pc.split_pattern(messages, " ", max_splits=6)
        head = pc.extract_regex(pc.list_element(fields, 0), _PRI_VERSION)
        columns = {"pri": pc.struct_field(head, "pri"), "version": pc.struct_field(head, "version")}
        for position, name in enumerate(("timestamp", "hostname", "app", "procid", "msgid"), start=1):
            if name in self.columns:
                columns[name] = _nil(pc.list_element(fields, position))
        if "timestamp" in columns:  # RFC 3339 allows a lower-case t and z; ISO 8601 readers may not
            columns["timestamp"] = pc.utf8_upper(columns["timestamp"])
        if self._need_msg or self._need_sd:
            rest = pc.extract_regex(pc.list_element(fields, 6), _SD_AND_MSG)
            msg = _nullify(pc.utf8_ltrim(pc.struct_field(rest, "msg"), BOM))
            columns["msg"] = msg
            columns.update(self._kv_columns(msg))
            sd = pc.struct_field(rest, "sd")
            for sd_id, params in self._sd.items():
                columns.update(self._sd_columns(sd, sd_id, params))
        return columns

    def _rfc3164(self, found: pa.StructArray) -> dict[str, pa.Array]:
        columns = {"pri": _nullify(pc.struct_field(found, "pri"))}
        for name in ("hostname", "app", "procid"):
            if name in self.columns:
                columns[name] = _nullify(pc.struct_field(found, name))
        if "timestamp" in self.columns:
            bsd = pc.struct_field(found, "bsd")
            iso = pc.replace_substring(pc.utf8_upper(pc.struct_field(found, "iso")), " ", "T", max_replacements=1)
            is_bsd = pc.greater(pc.binary_length(bsd), 0)
            if pc.any(is_bsd).as_py():
                columns["timestamp"] = pc.if_else(is_bsd, bsd_timestamps(bsd, self.clock()), iso)
            else:
                columns["timestamp"] = iso
        if self._need_msg:
            msg = _nullify(pc.utf8_ltrim(pc.struct_field(found, "msg"), BOM))
            columns["msg"] = msg
            columns.update(self._kv_columns(msg))
        return columns

    def _kv_columns(self, msg: pa.Array) -> dict[str, pa.Array]:
        """``key=value`` tokens of the message, never one inside a quoted value (``file="a user=x"``
        must not name the user).

        Quoted strings are first collapsed to ``""``, so a plain search finds the right token in one
        cheap RE2 pass per key; only rows whose value is quoted are read again, from the original,
        with the slower pattern that walks over the quoted strings before the key.
        """
        columns = {}
        collapsed: pa.Array | None = None
        for key, pattern in self._kv_patterns.items():
            if collapsed is None:
                collapsed = pc.replace_substring_regex(msg, _QUOTED_OR_REST, '""')
            found = pc.struct_field(pc.extract_regex(collapsed, self._kv_fast[key]), "value")
            quoted = pc.fill_null(pc.equal(found, '""'), False)
            if pc.any(quoted).as_py():
                exact = pc.struct_field(pc.extract_regex(pc.if_else(quoted, msg, _NULL), pattern), "value")
                inner = pc.replace_substring_regex(pc.utf8_slice_codeunits(exact, 1, -1), _KV_ESCAPE, r"\1")
                found = pc.if_else(quoted, inner, found)
            columns[self._kv[key]] = _nullify(found)
        return columns

    def _sd_columns(self, sd: pa.Array, sd_id: str, params: dict[str, str]) -> dict[str, pa.Array]:
        """Parameters of one SD element as columns, pivoted in bulk.

        The element's body (`` a="1" b="x y"``) is cut at ``" `` and each piece at the first ``="``:
        exact, because a value can hold neither an unescaped quote nor, here, a backslash. Bodies
        with escapes (rare) are read by Python instead.
        """
        size = len(sd)
        body = pc.struct_field(pc.extract_regex(sd, self._sd_patterns[sd_id]), "body")
        escaped = pc.fill_null(pc.match_substring(body, "\\"), False).to_numpy(zero_copy_only=False)
        plain = pc.if_else(pa.array(escaped), "", pc.fill_null(body, ""))
        pieces = pc.split_pattern(pc.utf8_slice_codeunits(plain, 1, -1), '" ')
        flat = pc.list_flatten(pieces)
        present = pc.greater(pc.binary_length(flat), 0)
        parents = pc.filter(pc.list_parent_indices(pieces), present).to_numpy(zero_copy_only=False)
        pairs = pc.split_pattern(pc.filter(flat, present), '="', max_splits=1)
        names = pc.list_element(pairs, 0)
        values = pc.list_element(pairs, 1)
        slow: dict[str, list[tuple[int, str]]] = {param: [] for param in params}
        for row in np.flatnonzero(escaped):
            found: dict[str, str] = {}
            for name, value in _PY_PARAM.findall(str(body[int(row)].as_py())):
                found.setdefault(name, _PY_SD_ESCAPE.sub(r"\1", value))
            for param in params:
                if param in found:
                    slow[param].append((int(row), found[param]))
        which = pc.index_in(names, value_set=pa.array(list(params), TEXT))
        which = pc.fill_null(which, -1).to_numpy(zero_copy_only=False)
        columns = {}
        for number, (param, column) in enumerate(params.items()):
            positions = np.flatnonzero(which == number)
            index = _first_per_row(size, parents[positions], positions)
            pool = values
            if slow[param]:
                index[[row for row, _ in slow[param]]] = len(values) + np.arange(len(slow[param]))
                pool = pa.concat_arrays([values, pa.array([value for _, value in slow[param]], TEXT)])
            columns[column] = _take_or_null(pool, index)
        return columns

    def _unreadable(self, line: int, text: str) -> Reject:
        shown = clip(_SURROGATE.sub("\ufffd", text.replace("\x00", "␀")))
        if "\x00" in text:
            return Reject(line, "nul_byte", "the message contains NUL bytes", shown)
        bad = _SURROGATE.search(text)
        where = len(text[: bad.start()].encode("utf-8", "surrogateescape")) if bad else 0
        return Reject(line, "bad_encoding", f"not valid {self.profile.encoding} at byte {where} of the message", shown)


def diagnose(text: str) -> str:
    """Why ``text`` is not syslog, in a sentence (only called for rejected lines)."""
    pri = _PY_PRI.match(text)
    if text.startswith("<") and not pri:
        return "starts with '<' but not with a <PRI> of 1 to 3 digits and '>'"
    if pri and int(pri.group(1)) > MAX_PRI:
        return f"PRI {pri.group(1)} is out of range (0–{MAX_PRI})"
    head = _PY_5424_HEAD.match(text)
    if head:
        return _diagnose_5424(text, head)
    after = text[pri.end() :] if pri else text
    if not _PY_STAMP.match(after):
        where = f"after <{pri.group(1)}>" if pri else "at the start of the line"
        return (
            "neither an RFC 5424 header (<PRI>1 TIMESTAMP …) nor a timestamp (Mmm dd hh:mm:ss or ISO 8601) "
            f"{where}: {after[:24]!r}"
        )
    return "the timestamp must be followed by a space, then HOSTNAME TAG: MSG"


def _diagnose_5424(text: str, head: re.Match[str]) -> str:
    if head.group(2).startswith("0"):
        return f"RFC 5424 VERSION must be a number from 1, found {head.group(2)!r}"
    fields = text[head.end() :].split(" ", 5)
    names = ("TIMESTAMP", "HOSTNAME", "APP-NAME", "PROCID", "MSGID", "STRUCTURED-DATA")
    if len(fields) < len(names) or "" in fields[:5]:
        seen = len([f for f in fields[:5] if f])
        return (
            f"RFC 5424 header incomplete: after <{head.group(1)}>{head.group(2)} come {seen} of the fields "
            f"{' '.join(names)} (one space between fields, '-' for an empty one)"
        )
    structured = fields[5]
    prefix = _PY_SD_PREFIX.match(structured)
    end = prefix.end() if prefix else 0
    well_formed = structured == "-" or structured.startswith("- ")
    well_formed = well_formed or (end > 0 and (end == len(structured) or structured[end] == " "))
    if well_formed:
        return "RFC 5424 header fields must be separated by single spaces and hold no tab or control character"
    where = len(text) - len(structured) + end + 1
    return (
        f"RFC 5424 structured data malformed at character {where}: expected '-' or "
        f'[SD-ID name="value" …] with ", \\ and ] escaped by a backslash, found {structured[end : end + 20]!r}'
    )
