"""Property-based tests of every reader and value converter: whatever bytes or text come in, the
answer is a value, a record or a reject with a reason, never an uncaught exception."""

from __future__ import annotations

import io
import secrets
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from fuzz_support import IMPOSSIBLE_DATES, mynumber, numbers_in, sample_for, written_forms
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from auditd.errors import ValidationFailed
from auditd.jp.wareki import parse_wareki, to_halfwidth, to_wareki
from auditd.privacy.mynumber import mask_series, mask_text
from auditd.privacy.pseudonym import Pseudonymiser
from collectors.formats.base import MAX_RAW_TEXT, LineSource, RawChunk, decode_line, split_block
from collectors.formats.syslog import RejectedText
from collectors.mapping import apply_codes, map_event_chunk, parse_timestamps, whole_numbers
from collectors.pipeline import reader_for
from collectors.profile import Profile, builtin_profiles, resolve_profile
from collectors.reference import convert

PROFILES = {name: resolve_profile(name) for name in sorted(builtin_profiles())}
EVENT_PROFILES = [name for name, p in PROFILES.items() if p.kind == "events"]
REFERENCE_PROFILES = [name for name, p in PROFILES.items() if p.kind != "events"]
ENCODINGS = ["cp932", "utf-8", "utf-8-sig", "auto"]
TOKYO = ZoneInfo("Asia/Tokyo")
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces that readers and converters treat specially, mixed into random text and bytes.
PIECES = [
    ",", "\t", '"', "\r", "\n", "\r\n", "\ufeff", "\x00", " ", "　", "=", "[", "]", "<14>", "<110>1 ", "\\",
    "{", "}", ":", "令和", "平成", "元年", "年", "月", "日", "時", "分", "秒", "R08.02.30", "H31.04.31", "２",
    "2026-02-30", "1e400", "-1", "9" * 25, "nan", "住民", "ｱ", "\ud7ff", "\U0001f600",
]  # fmt: skip
PIECE_BYTES = [
    b"\x81", b"\x82\xa0", b"\xe6\x9d", b"\xef\xbb\xbf", b"\xff\xfe", b"\x00", b"\r\n", b"\n", b'"', b",", b"\t",
    "住民票".encode("cp932")[:3], "住民票".encode()[:4], b"\x80", b"\xfd",
]  # fmt: skip

# Decoded text never holds a lone surrogate (decoding is strict); only the syslog listener hands some on.
characters = st.characters(exclude_categories=["Cs"])
texts = st.lists(st.one_of(st.text(characters, max_size=12), st.sampled_from(PIECES)), max_size=12).map("".join)
raw_bytes = st.lists(st.one_of(st.binary(max_size=16), st.sampled_from(PIECE_BYTES)), max_size=16).map(b"".join)


def check_chunk(chunk: RawChunk) -> None:
    """What every reader promises: one row, text and line per record, and a reason for every reject."""
    assert len(chunk.records) == len(chunk.texts) == len(chunk.lines)
    for reject in chunk.rejects:
        assert reject.reason_code and reject.reason.strip()
        assert "\x00" not in reject.text and "\x00" not in reject.reason, "PostgreSQL text cannot hold NUL"
        assert len(reject.text) <= MAX_RAW_TEXT + 40
    for text in chunk.texts:
        assert "\x00" not in text


def read_all(profile: Profile, data: bytes) -> list[RawChunk]:
    """Every chunk of ``data``; a file that cannot be read at all (its CSV header) says why."""
    reader = reader_for(profile)
    try:
        chunks = list(reader.chunks(io.BytesIO(data), start_position=0, start_line=0, chunk_rows=7))
    except ValidationFailed as exc:
        refusal = str(exc)
        chunks = []
    else:
        refusal = ""
    assert not refusal or (profile.header and "header row" in refusal)
    for chunk in chunks:
        check_chunk(chunk)
    return chunks


def with_lines(profile: Profile, count: int = 3) -> list[str]:
    header = None
    lines = []
    for i in range(count):
        sample, header = sample_for(profile, i)
        lines.append(sample.line())
    return ([header] if header else []) + lines


# -- line decoding -------------------------------------------------------------------------------------


@FAST
@given(raw=raw_bytes, encoding=st.sampled_from(ENCODINGS))
@example(raw="住民票".encode("cp932")[:3], encoding="cp932")
@example(raw=b"abc\xef\xbb\xbfdef", encoding="cp932")
def test_a_line_decodes_or_says_why(raw: bytes, encoding: str):
    text, reason = decode_line(raw, encoding)
    assert (text is None) != (reason is None)
    assert reason is None or "not valid" in reason


@FAST
@given(body=raw_bytes, encoding=st.sampled_from(ENCODINGS))
@example(body=b"a\x00\xff\n", encoding="utf-8")  # undecodable and NUL: the shown text must not keep the NUL
def test_a_block_splits_into_its_lines_whatever_the_bytes(body: bytes, encoding: str):
    block = split_block(body + b"\n", encoding)
    assert len(block.texts) == len(block.raw_sizes) == body.count(b"\n") + 1
    assert block.byte_length == len(body) + 1
    assert all("\x00" not in shown for _, _, shown in block.bad)


@FAST
@given(data=raw_bytes, encoding=st.sampled_from(ENCODINGS))
@example(data=b"\xef\xbb\xbfx\n\xff\x00\n", encoding="auto")
def test_line_source_accounts_for_every_line(data: bytes, encoding: str):
    source = LineSource(io.BytesIO(data), encoding, position=0, line=0)
    yielded = list(source)
    assert source.position == len(data)
    assert len(yielded) + len(source.rejects) == source.line == len(io.BytesIO(data).readlines())
    assert all("\x00" not in r.text for r in source.rejects)


@pytest.mark.parametrize("name", ["syslog-auditd-5424", "syslog-kv-3164"])
def test_syslog_records_with_lone_surrogates_are_rejected(name: str):
    """The listener passes undecodable bytes on as lone surrogates; the syslog reader rejects them."""
    chunk = reader_for(PROFILES[name]).records(["\ud800", "<14>Feb  3 09:15:22 h a: x\udcff"], first_line=1)
    check_chunk(chunk)
    assert [r.reason_code for r in chunk.rejects] == ["bad_encoding", "bad_encoding"]


@FAST
@pytest.mark.parametrize("name", ["syslog-auditd-5424", "syslog-kv-3164"])
@given(shown=st.text(max_size=40), code=st.sampled_from(["too_long", "bad_encoding", "bad_framing"]))
@example(shown="<14>x\x00\ufffd", code="bad_encoding")
def test_what_a_listener_already_rejected_is_quarantined_as_it_said(name: str, shown: str, code: str):
    """A transport reject (cut, undecodable, broken framing) keeps its reason; its text shows a NUL as ␀."""
    chunk = reader_for(PROFILES[name]).records([RejectedText(shown, code, "why")], first_line=1)
    check_chunk(chunk)
    assert [(r.reason_code, r.reason) for r in chunk.rejects] == [(code, "why")]


# -- readers -------------------------------------------------------------------------------------------


@SLOW
@pytest.mark.parametrize("name", sorted(PROFILES))
@given(noise=st.lists(raw_bytes, min_size=1, max_size=6), where=st.integers(0, 5))
def test_every_profile_reads_any_bytes(name: str, noise: list[bytes], where: int):
    """Valid lines of the profile with random bytes between them: chunks as promised, nothing raised."""
    profile = PROFILES[name]
    lines = [line.encode("cp932" if profile.encoding == "cp932" else "utf-8") for line in with_lines(profile)]
    for piece in noise:
        lines.insert(min(where, len(lines)), piece)
    read_all(profile, b"\r\n".join(lines))


@SLOW
@pytest.mark.parametrize("name", sorted(PROFILES))
@given(records=st.lists(texts, min_size=1, max_size=6))
@example(records=['{"time": "2026-02-03T09:15:22+09:00", "operator": {"id": "u\\u0000"}, "op": "VIEW"}'])
@example(records=["\ufeff", "\x00", '"never closed', "\r\n"])
def test_every_profile_reads_any_framed_records(name: str, records: list[str]):
    """What a listener or an HTTP push hands over: any text, one record each. (A push decodes its body
    with the same line source as a file, so a JSON record never holds a NUL byte.)"""
    if PROFILES[name].format == "jsonl":
        records = [r.replace("\x00", "") for r in records]
    chunk = reader_for(PROFILES[name]).records(records, first_line=1)
    check_chunk(chunk)
    assert all(1 <= line <= len(records) for line in chunk.lines)


@SLOW
@given(
    values=st.dictionaries(
        st.sampled_from(["time", "operator", "target", "op", "count", "seq", "status", "note"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | texts,
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
            max_leaves=6,
        ),
    )
)
def test_json_lines_of_any_shape_are_read(values: dict[str, object]):
    import json

    line = json.dumps(values, ensure_ascii=False, allow_nan=True)
    profile = PROFILES["demo-welfare"]
    chunks = read_all(profile, line.encode("utf-8", "surrogatepass") + b"\n")
    for chunk in chunks:
        map_event_chunk(chunk, profile)


# -- mapping and converters ----------------------------------------------------------------------------


def column_values() -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), texts, st.sampled_from(IMPOSSIBLE_DATES), st.sampled_from(PIECES))


@SLOW
@pytest.mark.parametrize("name", EVENT_PROFILES)
@given(data=st.data(), size=st.integers(1, 6))
def test_mapping_any_column_values_gives_events_or_reasons(name: str, data: st.DataObject, size: int):
    profile = PROFILES[name]
    columns = sorted({str(c) for spec in profile.fields.values() for c in spec.source_columns()})
    if profile.format in ("csv", "tsv"):
        columns = profile.column_names or columns
        if not profile.header and not profile.column_names:
            columns = [str(i) for i in range(8)]
    frame = pd.DataFrame(
        {c: pd.array(data.draw(st.lists(column_values(), min_size=size, max_size=size)), dtype="str") for c in columns}
    )
    chunk = RawChunk(frame, [f"record {i}" for i in range(size)], list(range(1, size + 1)))
    events, rejected = map_event_chunk(chunk, profile)
    assert len(events) + len(rejected) == size
    assert rejected["reason_code"].map(bool).all() and rejected["reason"].map(lambda r: bool(r.strip())).all()


@SLOW
@pytest.mark.parametrize("name", REFERENCE_PROFILES)
@given(data=st.data(), size=st.integers(1, 6))
@example(data=None, size=0)
@example(data=None, size=-1)
def test_reference_conversion_of_any_values_types_or_rejects(name: str, data: st.DataObject | None, size: int):
    profile = PROFILES[name]
    key = secrets.token_bytes(32)
    columns = list(profile.fields)
    if data is None:  # the explicit examples: nothing, or the values that crashed date conversion
        size = 0 if size == 0 else 4
        values = ["" if size == 0 else v for v in ["-1", "0001-01-01", "9999-12-31T23:59:59-05:00", "R00.01.01"]]
        draw = (lambda: values[:size]) if size else list
    else:
        draw = lambda: data.draw(st.lists(column_values(), min_size=size, max_size=size))  # noqa: E731
    frame = pd.DataFrame({c: pd.array(draw(), dtype="str") for c in columns})
    out, rejection = convert(frame, profile, Pseudonymiser(key, "000000"), key, "000000")
    assert len(out) == size
    for i in np.flatnonzero(rejection.rejected):
        assert rejection.code[i] and str(rejection.reason[i]).strip()


@FAST
@given(values=st.lists(st.one_of(st.none(), texts), min_size=1, max_size=8), fmt=st.sampled_from(
    ["iso", "wareki", "epoch_s", "epoch_ms", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y%m%d"]))  # fmt: skip
@example(values=["1e400", "-1e30", "9" * 40, "nan", "inf"], fmt="epoch_ms")
@example(values=["1e400", "-1e30", "9" * 40, "nan", "inf"], fmt="epoch_s")
@example(values=list(IMPOSSIBLE_DATES), fmt="wareki")
@example(
    values=["0000/01/01 00:00:00", "2026/02/30 09:00:00", "２０２６/０２/０３ ０９:１５:２２"], fmt="%Y/%m/%d %H:%M:%S"
)
@example(values=["+12345-01-01", "2026-02-30T00:00:00", "0001-01-01T00:00:00Z", "2026-02-03T25:00"], fmt="iso")
@example(values=["2026-01-05T09:00:00+09"], fmt="iso")  # an hour-only offset: found by benchmarks/fuzz.py
@example(values=["2026-01-05T09:00:00", "2026-01-05T09:00:00+09", None], fmt="iso")
def test_timestamps_parse_or_are_missing(values: list[str | None], fmt: str):
    parsed = parse_timestamps(pd.Series(values, dtype="str"), [fmt], TOKYO)
    assert len(parsed) == len(values)
    assert str(parsed.dtype) == "datetime64[us, UTC]"


def test_an_hour_only_offset_is_read_as_one_even_among_plain_times():
    values = pd.Series(["2026-01-05T09:00:00+09", "2026-01-05T09:00:00", "2026-01-05T09:00:00-01"], dtype="str")
    parsed = parse_timestamps(values, ["iso"], TOKYO)
    assert [str(t) for t in parsed] == [
        "2026-01-05 00:00:00+00:00",
        "2026-01-05 00:00:00+00:00",
        "2026-01-05 10:00:00+00:00",
    ]


@FAST
@given(text=texts)
@example(text="令和0年1月1日")
@example(text="R00.01.01")
@example(text="令和8年2月30日")
@example(text="H31.04.31")
@example(text="令和元年13月1日")
@example(text="令和元年5月1日 24時00分")
@example(text="Ｒ０８．０２．３０")
def test_wareki_of_any_text_is_a_time_or_missing(text: str):
    parsed = parse_wareki(pd.Series([text], dtype="str"))
    assert len(parsed) == 1


@pytest.mark.parametrize(
    "text",
    [
        "令和0年1月1日",
        "R00.01.01",
        "令和8年2月30日",
        "H31.04.31",
        "令和元年13月1日",
        "Ｒ０８．０２．３０",
        "令和8年2月3日 24時",
    ],
)
def test_impossible_wareki_dates_are_missing(text: str):
    assert parse_wareki(pd.Series([text], dtype="str")).isna().all()


@FAST
@given(day=st.dates(min_value=date(1873, 1, 1), max_value=date(2099, 12, 31)), wide=st.booleans())
def test_every_real_day_reads_back_from_its_wareki(day: date, wide: bool):
    for style in ("kanji", "letter"):
        text = to_wareki(day, style)  # type: ignore[arg-type]
        if wide:
            text = text.translate(str.maketrans("0123456789.", "０１２３４５６７８９．"))
        parsed = parse_wareki(pd.Series([text], dtype="str")).iloc[0]
        assert pd.Timestamp(parsed).date() == day, text
    last = (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    if last.year < 2019 or (last.year == 2019 and last.month < 5):
        return
    impossible = f"令和{last.year - 2018}年{last.month}月{last.day + 1}日"
    assert parse_wareki(pd.Series([impossible], dtype="str")).isna().all()


@FAST
@given(values=st.lists(st.one_of(st.none(), texts, st.integers().map(str), st.floats().map(str)), max_size=8))
@example(values=["1e400", "99999999999999999999", "9223372036854775808", "1.5", "-1", "１，０００", "3000000000"])
def test_whole_numbers_are_in_range_or_missing(values: list[str | None]):
    numbers = whole_numbers(pd.Series(values, dtype="str"), lowest=0, highest=2**31 - 1)
    present = numbers.dropna()
    assert ((present >= 0) & (present <= 2**31 - 1)).all()


@pytest.mark.parametrize(
    ("field", "value"),
    [("count", v) for v in ("1e400", "99999999999999999999", "1e20", "3000000000", "1.5", "-1")]
    + [("seq", v) for v in ("1e400", "99999999999999999999", "9223372036854775808", "inf")],
)
def test_numbers_the_store_cannot_hold_are_quarantined_not_a_crash(field: str, value: str):
    """Found by the property above: these crashed the mapping (TypeError, OverflowError), and a count over
    2**31 - 1 would have crashed the insert on PostgreSQL."""
    profile = PROFILES["demo-welfare"]
    line = f'{{"time": "2026-02-03T09:15:22+09:00", "operator": {{"id": "u1"}}, "op": "VIEW", "{field}": "{value}"}}'
    _, rejected = map_event_chunk(reader_for(profile).records([line], first_line=1), profile)
    assert list(rejected["reason_code"]) == ["bad_subject_count" if field == "count" else "bad_seq"]


@FAST
@given(values=st.lists(st.one_of(st.none(), texts), min_size=1, max_size=6), split=st.sampled_from([None, "+", ",+"]))
def test_code_tables_map_or_flag_unknown(values: list[str | None], split: str | None):
    table = {"PW": "password", "VEIN": "vein", "ＩＣ": "ic_card", "01": "view"}
    mapped, unknown = apply_codes(pd.Series(values, dtype="str"), table, split)
    assert len(mapped) == len(unknown) == len(values)
    assert not (unknown & mapped.notna()).any()


@FAST
@given(text=texts)
def test_halfwidth_folding_keeps_length(text: str):
    folded = to_halfwidth(pd.Series([text], dtype="str")).iloc[0]
    assert len(folded) == len(text)


# -- 個人番号 -------------------------------------------------------------------------------------------


@FAST
@given(
    before=texts,
    after=texts,
    seed=st.integers(0, 10**6),
    form=st.integers(0, 3),
    lead=st.sampled_from(["", "1000 ", "1000-", "0", "x"]),
)
@example(before="", after="", seed=7, form=2, lead="1000 ")
def test_no_valid_number_survives_masking(before: str, after: str, seed: int, form: int, lead: str):
    """Whatever surrounds it, a 個人番号 that does not touch other digits is masked."""
    number = written_forms(mynumber(seed))[form]
    text = f"{before} {lead}{number} {after}"
    masked, found = mask_text(text)
    assert numbers_in(masked) == []
    series, flags = mask_series(pd.Series([text, None], dtype="str"))
    assert numbers_in(str(series.iloc[0])) == [] and flags[0] == found


def test_a_number_right_after_a_group_that_fails_the_check_is_masked():
    """Found by the property above: "1000 2222 3333 4440" kept its valid last twelve digits."""
    masked, found = mask_text("1000 2222 3333 4440")
    assert found and masked == "1000 [個人番号]"
