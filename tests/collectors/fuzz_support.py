"""Valid sample records for every built-in profile, the ways to corrupt them, and a scan of the store
for 個人番号. Shared by ``test_fuzz_ingest.py`` and ``benchmarks/fuzz.py``.

A file is built line by line: each line is a valid record or a corrupted one, never blank and never
holding a line break or (for CSV) a quote character, so every line is exactly one record and a run
must account for each of them (stored or quarantined).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Boolean, Date, DateTime, Engine, Integer, String, Text, Time, select
from sqlalchemy.types import TypeDecorator

from auditd.privacy.mynumber import check_digit
from auditd.reference import repository as reference_repo
from auditd.store.base import Base, table_of
from collectors.profile import Profile, builtin_profiles, resolve_profile

KINDS = (
    "random_bytes",
    "truncated_multibyte",
    "truncated_cp932",
    "huge_line",
    "missing_column",
    "extra_column",
    "bom_middle",
    "bom_line_start",
    "nul_byte",
    "impossible_date",
    "mynumber",
)
IMPOSSIBLE_DATES = (
    "令和0年1月1日",
    "R00.01.01 09:00:00",
    "令和8年2月30日 9時15分",
    "H31.04.31 10:00:00",
    "令和元年13月1日",
    "R08.02.03 24:00:00",
    "２０２６／０２／３０",
    "2026-02-30 09:15:22",
    "2026/02/30 09:15:22",
    "0000-00-00T00:00:00",
    "Feb 30 09:15:22",
    "-1",
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59-05:00",
)
MB = 1 << 20


def mynumber(seed: int) -> str:
    """A valid 個人番号 (check digit correct) made from ``seed``."""
    first = f"{(seed * 7919 + 12345678901) % 10**11:011d}"
    return first + str(check_digit(first))


def written_forms(number: str) -> list[str]:
    """The ways a 個人番号 is written: plain, full-width, 4-4-4 with a hyphen or a space."""
    wide = number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    return [number, wide, f"{number[:4]}-{number[4:8]}-{number[8:]}", f"{number[:4]} {number[4:8]} {number[8:]}"]


@dataclass
class Sample:
    """A valid record of a profile as named values, and how to write it as one line."""

    keys: list[str]
    values: list[str]
    render: Callable[[list[str], list[str]], str]
    ts: str | None  # the key of a date or time value
    text: str  # a free-text key where a 個人番号 may be planted

    def line(self) -> str:
        return self.render(self.keys, self.values)

    def replaced(self, key: str, value: str) -> Sample:
        values = [value if k == key else v for k, v in zip(self.keys, self.values, strict=True)]
        return Sample(self.keys, values, self.render, self.ts, self.text)


# -- samples ------------------------------------------------------------------------------------------

TAX_HEADER = "操作日時,職員ID,端末ID,セッションID,業務コード,画面ID,操作区分,宛名番号,対象件数,処理結果,検索条件"
AUTH_HEADER = "timestamp,user,terminal,session,event,method,result"


def _csv(delimiter: str) -> Callable[[list[str], list[str]], str]:
    return lambda _keys, values: delimiter.join(values)


def _json(keys: list[str], values: list[str]) -> str:
    obj: dict[str, object] = {}
    for key, value in zip(keys, values, strict=True):
        *parents, last = key.split(".")
        node = obj
        for part in parents:
            child = node.setdefault(part, {})
            node = child if isinstance(child, dict) else {}
        node[last] = int(value) if key in ("count", "seq") and value.isdigit() else value
    return json.dumps(obj, ensure_ascii=False)


def _syslog_5424(keys: list[str], values: list[str]) -> str:
    named = dict(zip(keys, values, strict=True))
    params = " ".join(f'{k}="{v}"' for k, v in named.items() if k not in ("timestamp", "app", "msg"))
    head = f"<110>1 {named.get('timestamp', '-')} zeimu-ap01 {named.get('app', '-')} 4242 OPLOG"
    return f"{head} [auditd@32473 {params}] {named.get('msg', '')}"


def _syslog_3164(keys: list[str], values: list[str]) -> str:
    named = dict(zip(keys, values, strict=True))
    tokens = " ".join(f"{k}={v}" for k, v in named.items() if k not in ("timestamp", "app", "file"))
    head = f"<14>{named.get('timestamp', '')} epm01 {named.get('app', 'EPM')}[812]:"
    return f'{head} {tokens} file="{named.get("file", "")}"'


def event_sample(profile: Profile, i: int) -> tuple[Sample, str | None]:
    """A valid record of a built-in operation-log profile (varied by ``i``), and the file's header line."""
    second = f"{i % 60:02d}"
    minute = f"{(i // 60) % 60:02d}"
    atena = f"{i % 100000:010d}"
    if profile.name == "demo-tax":
        values = [f"R08.02.03 09:{minute}:{second}", "u001", "T1101-01", "S1", "11", "K0101", "01", atena, "1", "0",
                  f"宛名照会{i}"]  # fmt: skip
        return Sample(TAX_HEADER.split(","), values, _csv(","), "操作日時", "検索条件"), TAX_HEADER
    if profile.name == "demo-auth":
        values = [f"2026/02/03 09:{minute}:{second}", "u001", "T1101-01", f"S{i}", "LOGON", "PW+VEIN", "OK"]
        return Sample(AUTH_HEADER.split(","), values, _csv(","), "timestamp", "session"), AUTH_HEADER
    if profile.name == "demo-linkage":
        keys = ["ts", "user", "terminal", "op", "jimu", "subject", "detail", "result"]
        values = [f"2026-02-03 09:{minute}:{second}", "u001", "T1", "INQ", "JM01", atena, f"照会{i}", "00"]
        return Sample(keys, values, _csv("\t"), "ts", "detail"), None
    if profile.name == "demo-welfare":
        keys = ["time", "operator.id", "operator.terminal", "session", "business", "op", "screen", "target.atena",
                "count", "status", "note", "seq"]  # fmt: skip
        values = [f"2026-02-03T09:{minute}:{second}+09:00", "u001", "T1", "S1", "kokuho", "VIEW", "F01", atena, "1",
                  "OK", f"資格照会{i}", str(i)]  # fmt: skip
        return Sample(keys, values, _json, "time", "note"), None
    if profile.name == "syslog-auditd-5424":
        keys = ["timestamp", "app", "user", "terminal", "session", "jimu", "action", "subject", "count", "result",
                "screen", "msg"]  # fmt: skip
        values = [f"2026-02-03T09:{minute}:{second}.120+09:00", "ZEIMU", "u001", "T1101-01", "S7", "個人住民税", "view",
                  atena, "1", "success", "K0101", f"宛名照会{i}"]  # fmt: skip
        return Sample(keys, values, _syslog_5424, "timestamp", "msg"), None
    if profile.name == "syslog-kv-3164":
        keys = ["timestamp", "app", "user", "pc", "op", "count", "result", "file"]
        values = [f"Feb  3 09:{minute}:{second}", "EPM", "u001", "T1101-01", "USB_WRITE", "1", "OK", f"住民一覧{i}.csv"]
        return Sample(keys, values, _syslog_3164, "timestamp", "file"), None
    raise KeyError(f"no sample for operation-log profile {profile.name}")


def reference_sample(profile: Profile, i: int) -> tuple[Sample, str]:
    """A valid row of a ``standard-<kind>`` profile (keys unique by ``i``), and the header line."""
    table = table_of(reference_repo.KIND_MODELS[profile.kind])
    day = date(2026, 1, 1) + timedelta(days=i % 3000)
    keys = list(profile.fields)
    values = []
    ts = None
    for name in keys:
        if name in reference_repo.PSEUDONYMISED_FIELDS:
            values.append(f"{i:010d}" if name != "household" else f"H{i}")
            continue
        column_type = table.c[name].type
        if isinstance(column_type, TypeDecorator | DateTime):
            values.append(f"{day.isoformat()}T09:00:00")
            ts = ts or name
        elif isinstance(column_type, Date):
            values.append(day.isoformat())
            ts = ts or name
        elif isinstance(column_type, Time):
            values.append("17:15")
        elif isinstance(column_type, Boolean):
            values.append("1")
        elif isinstance(column_type, Integer):
            values.append(str(i % 100 + 1))
        else:
            length = getattr(column_type, "length", None) or 64
            values.append(f"{name[:4]}{i}"[:length])
    plain = [k for k in keys if k not in reference_repo.PSEUDONYMISED_FIELDS]
    text = next((k for k in plain if isinstance(table.c[k].type, String | Text)), keys[0])
    return Sample(keys, values, _csv(","), ts, text), ",".join(keys)


def file_encoding(profile: Profile, i: int = 0) -> str:
    """The encoding a file for ``profile`` is written in (``auto`` profiles get both, by ``i``)."""
    name = profile.encoding.lower().replace("_", "-")
    if name == "auto":
        return "cp932" if i % 2 else "utf-8"
    return "cp932" if name in ("cp932", "shift-jis", "sjis") else "utf-8"


# -- corruption ---------------------------------------------------------------------------------------


def _random_bytes(rng: random.Random, size: int, forbidden: bytes) -> bytes:
    raw = bytes(rng.getrandbits(8) for _ in range(size))
    return b"X" + bytes(b for b in raw if b not in forbidden)


def _cut_multibyte(encoded: bytes, text: str, encoding: str, rng: random.Random) -> bytes:
    """The line with one multibyte character cut after its first byte (at the end or in the middle)."""
    wide = [pos for pos, ch in enumerate(text) if len(ch.encode(encoding, "replace")) > 1]
    if not wide:
        return encoded + "東".encode(encoding)[:1]
    pos = rng.choice(wide)
    before = text[:pos].encode(encoding)
    char = text[pos].encode(encoding)
    if rng.random() < 0.3:
        return before + char[:1]
    return before + char[:1] + text[pos + 1 :].encode(encoding)


def corrupt(
    sample: Sample, kind: str, rng: random.Random, encoding: str, quote: str | None, huge_bytes: int = MB
) -> tuple[bytes, list[str]]:
    """One corrupted record as bytes (no line break), and the 個人番号 planted in it."""
    forbidden = b"\r\n" + (quote.encode() if quote else b"")
    planted: list[str] = []
    line = sample.line()
    if kind == "random_bytes":
        return _random_bytes(rng, rng.randint(1, 300), forbidden), planted
    if kind == "truncated_multibyte":
        return _cut_multibyte(line.encode(encoding), line, encoding, rng), planted
    if kind == "truncated_cp932":
        cut = "住民票".encode("cp932")[: rng.choice([1, 3, 5])]
        at = rng.randint(0, len(line))
        return line[:at].encode(encoding) + cut + line[at:].encode(encoding), planted
    if kind == "huge_line":
        number = mynumber(rng.randint(0, 10**6))
        planted.append(number)
        filler = "あ" if rng.random() < 0.5 else "A"
        pad = filler * max(1, rng.randint(huge_bytes, 2 * huge_bytes) // len(filler.encode(encoding)))
        if rng.random() < 0.5:
            big = sample.replaced(sample.text, pad + " " + number)
            return big.line().encode(encoding), planted
        return (pad + number).encode(encoding), planted
    if kind in ("missing_column", "extra_column"):
        keys, values = list(sample.keys), list(sample.values)
        if kind == "missing_column":
            drop = rng.randrange(len(keys))
            del keys[drop], values[drop]
        else:
            number = mynumber(rng.randint(0, 10**6))
            planted.append(number)
            keys.append(f"extra{rng.randint(0, 9)}")
            values.append(f"番号{number}")
        return sample.render(keys, values).encode(encoding), planted
    if kind == "bom_middle":
        at = rng.randint(1, max(1, len(line) - 1))
        if encoding == "cp932":
            return line[:at].encode(encoding) + b"\xef\xbb\xbf" + line[at:].encode(encoding), planted
        return (line[:at] + "\ufeff" + line[at:]).encode(encoding), planted
    if kind == "bom_line_start":
        return b"\xef\xbb\xbf" + line.encode(encoding), planted
    if kind == "nul_byte":
        at = rng.randint(0, len(line))
        number = mynumber(rng.randint(0, 10**6))
        planted.append(number)
        return (line[:at] + "\x00" + line[at:] + number).encode(encoding), planted
    if kind == "impossible_date":
        if sample.ts is None:
            return sample.replaced(sample.text, rng.choice(IMPOSSIBLE_DATES)).line().encode(encoding), planted
        number = mynumber(rng.randint(0, 10**6))
        planted.append(number)
        value = rng.choice(IMPOSSIBLE_DATES)
        if rng.random() < 0.3:
            value = f"{value} {number}"
        return sample.replaced(sample.ts, value).line().encode(encoding), planted
    if kind == "mynumber":
        number = mynumber(rng.randint(0, 10**6))
        planted.append(number)
        form = rng.choice(written_forms(number))
        return sample.replaced(sample.text, f"個人番号{form}確認").line().encode(encoding), planted
    raise ValueError(f"unknown corruption {kind!r}")


@dataclass
class FuzzFile:
    path: Path
    records: int  # lines that are records (every line but the header)
    valid: int  # lines left as they were
    planted: list[str]
    kinds: dict[str, int]


def build_file(
    profile: Profile,
    path: Path,
    rng: random.Random,
    *,
    valid: int = 20,
    kinds: tuple[str, ...] = KINDS,
    per_kind: int = 2,
    huge_bytes: int = MB,
    offset: int = 0,
) -> FuzzFile:
    """A file of ``valid`` good records mixed with ``per_kind`` records corrupted in each way."""
    encoding = file_encoding(profile, offset)
    quote = profile.quotechar if profile.format in ("csv", "tsv") else None
    lines: list[bytes] = []
    planted: list[str] = []
    counts: dict[str, int] = {}
    header = None
    n = offset
    for _ in range(valid):
        sample, header = sample_for(profile, n)
        n += 1
        lines.append(sample.line().encode(encoding))
    for kind in kinds:
        for _ in range(per_kind):
            sample, header = sample_for(profile, n)
            n += 1
            if kind == "huge_line" and huge_bytes <= 0:
                continue
            data, numbers = corrupt(sample, kind, rng, encoding, quote, huge_bytes)
            lines.insert(rng.randint(0, len(lines)), data)
            planted.extend(numbers)
            counts[kind] = counts.get(kind, 0) + 1
    body = b"\r\n".join(lines) + b"\r\n"
    if header is not None:
        head = header.encode(encoding) + b"\r\n"
        body = (b"\xef\xbb\xbf" if profile.encoding.lower() in ("utf-8-sig", "utf8-sig") else b"") + head + body
    path.write_bytes(body)
    return FuzzFile(path, len(lines), valid, planted, counts)


def sample_for(profile: Profile, i: int) -> tuple[Sample, str | None]:
    if profile.kind == "events":
        return event_sample(profile, i)
    sample, header = reference_sample(profile, i)
    return sample, header


def builtin() -> list[Profile]:
    return [resolve_profile(name) for name in sorted(builtin_profiles())]


# -- the store ----------------------------------------------------------------------------------------

_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_RUN = re.compile(r"(?<![0-9])([0-9]{4})[-－ 　]?([0-9]{4})[-－ 　]?([0-9]{4})(?![0-9])")
#: Columns that hold hashes, keys or ciphertext in hex: digits there are not written by anybody.
_OPAQUE = re.compile(r"hash|digest|fingerprint|record_key|event_id|sealed|token|nonce|^id$")


def numbers_in(text: str) -> list[str]:
    """Valid 個人番号 written in ``text`` (ASCII or full-width, optionally 4-4-4)."""
    found = []
    for match in _RUN.finditer(text.translate(_DIGITS)):
        digits = "".join(match.groups())
        if check_digit(digits[:11]) == int(digits[11]):
            found.append(digits)
    return found


STORE_TABLES = (
    "events", "quarantine", "ingest_runs", "sources", "trail", "event_hours", "account_days", *(
        table_of(model).name for model in reference_repo.KIND_MODELS.values()
    ),
)  # fmt: skip


def scan_store(engine: Engine, tables: tuple[str, ...] = STORE_TABLES) -> list[tuple[str, str, str]]:
    """(table, column, number) for every valid 個人番号 in a text column of ``tables``."""
    hits: list[tuple[str, str, str]] = []
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name not in tables:
                continue
            columns = [c for c in table.columns if isinstance(c.type, String | Text) and not _OPAQUE.search(c.name)]
            if not columns:
                continue
            for row in conn.execute(select(*columns)):
                for column, value in zip(columns, row, strict=True):
                    if isinstance(value, str):
                        hits.extend((table.name, column.name, n) for n in numbers_in(value))
    return hits
