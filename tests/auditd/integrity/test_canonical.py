"""The canonical form of a batch: the same bytes from an ingest frame and from either database's values."""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditd.integrity import canonical
from auditd.store.base import to_micros
from auditd.store.models import Base

KEY = bytes(range(32))
START = datetime(2026, 2, 3, 0, 15, tzinfo=UTC)


def frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """An ingest frame as the pipeline builds it: "str" columns, nullable Int64, tz-aware ts, 16-byte ids."""
    data = pd.DataFrame(rows)
    out = pd.DataFrame({"ts": pd.to_datetime(data["ts"], utc=True).astype("datetime64[us, UTC]")})
    out["event_id"] = data["event_id"].astype(object)
    for name in canonical.TEXT_COLUMNS:
        out[name] = data[name].astype("str")
    for name in ("subject_count", "seq"):
        out[name] = data[name].astype("Int64")
    out["pii_masked"] = data["pii_masked"].astype(bool)
    out["batch_id"] = data["batch_id"].astype("int64")
    out["raw_pos"] = data["raw_pos"].astype("int64")
    return out


def event(i: int, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "municipality_code": "999997",
        "ts": START + timedelta(seconds=i // 2, microseconds=7),
        "event_id": os.urandom(16),
        "source": "tax",
        "system": "税務",
        "user_id": f"u{i:03d}",
        "terminal_id": "T1",
        "session_id": None,
        "jimu": "個人住民税",
        "action": "view",
        "screen": "K0101",
        "function": None,
        "subject_hash": "a" * 32,
        "subject_count": 1,
        "result": "success",
        "auth_factors": "password,vein",
        "detail": "",
        "seq": None,
        "pii_masked": False,
        "batch_id": 7,
        "raw_pos": i + 2,
    }
    row.update(overrides)
    return row


def reference_sha256(rows: list[dict[str, object]]) -> bytes:
    """The format of docs/integrity.md written out plainly, row by row: what the vectorised code must equal."""

    def field(name: str, value: object) -> str:
        if value is None:
            return "\\N"
        if name == "ts":
            assert isinstance(value, datetime)
            return str(to_micros(value))
        if name == "event_id":
            assert isinstance(value, bytes)
            return value.hex()
        if name == "pii_masked":
            return "1" if value else "0"
        if isinstance(value, int):
            return str(value)
        text = str(value)
        for plain, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
            text = text.replace(plain, escaped)
        return text

    ordered = sorted(rows, key=lambda r: (to_micros(r["ts"]), r["event_id"]))  # type: ignore[arg-type]
    text = "".join("\t".join(field(n, r[n]) for n in canonical.COLUMNS) + "\n" for r in ordered)
    return hashlib.sha256(text.encode()).digest()


def digest_of_frame(rows: list[dict[str, object]]) -> canonical.EventsDigest:
    return canonical.digest_events(canonical.from_frame(frame(rows)))


def test_the_canonical_columns_are_every_column_of_events():
    assert set(canonical.COLUMNS) == set(Base.metadata.tables["events"].c.keys())
    assert len(canonical.COLUMNS) == len(set(canonical.COLUMNS))


def test_a_line_is_the_copy_text_format_with_normalised_types():
    rows = [event(0, detail="a\tb\nc\\d\re", session_id="", seq=42, pii_masked=True)]
    digest = digest_of_frame(rows)
    [line] = digest.lines.to_pylist()
    fields = line.rstrip("\n").split("\t")
    assert len(fields) == len(canonical.COLUMNS) and line.endswith("\n")
    named = dict(zip(canonical.COLUMNS, fields, strict=True))
    assert named["ts"] == str(to_micros(rows[0]["ts"]))  # type: ignore[arg-type]
    assert named["event_id"] == rows[0]["event_id"].hex()  # type: ignore[union-attr]
    assert named["detail"] == "a\\tb\\nc\\\\d\\re"
    assert named["session_id"] == "" and named["function"] == "\\N"  # empty text is not NULL
    assert (named["seq"], named["pii_masked"], named["subject_count"]) == ("42", "1", "1")
    assert digest.sha256 == reference_sha256(rows)


def test_rows_are_sorted_by_time_then_id_whatever_order_they_come_in():
    rows = [event(i) for i in range(50)]
    shuffled = [rows[i] for i in np.random.default_rng(3).permutation(50)]
    assert digest_of_frame(shuffled).sha256 == digest_of_frame(rows).sha256 == reference_sha256(rows)


def test_null_and_empty_string_and_the_string_null_all_differ():
    digests = {
        digest_of_frame([event(0, event_id=b"\x01" * 16, detail=value)]).sha256 for value in (None, "", "\\N", "NULL")
    }
    assert len(digests) == 4


def test_the_same_rows_as_sqlite_and_postgresql_return_them_give_the_same_digest():
    rows = [
        event(i, seq=i if i % 2 else None, pii_masked=bool(i % 3), detail=f"条件{i}" if i % 4 else None)
        for i in range(30)
    ]
    expected = digest_of_frame(rows).sha256
    columns = {name: [r[name] for r in rows] for name in canonical.COLUMNS}
    sqlite_like = dict(
        columns,
        ts=[to_micros(r["ts"]) for r in rows],  # type: ignore[arg-type]
        pii_masked=[int(bool(r["pii_masked"])) for r in rows],
    )
    postgres_like = dict(
        columns,
        ts=[to_micros(r["ts"]) for r in rows],  # type: ignore[arg-type]
        event_id=[r["event_id"].hex() for r in rows],  # type: ignore[union-attr]
    )
    uuid_text = dict(postgres_like, event_id=[str(uuid.UUID(bytes=r["event_id"])) for r in rows])  # type: ignore[arg-type]
    for variant in (sqlite_like, postgres_like, uuid_text):
        assert canonical.digest_events(canonical.normalise(variant)).sha256 == expected


def test_values_of_the_wrong_type_written_by_hand_are_rendered_not_refused():
    rows = [event(i) for i in range(3)]
    columns = {name: [r[name] for r in rows] for name in canonical.COLUMNS}
    columns["ts"] = [to_micros(r["ts"]) for r in rows]  # type: ignore[arg-type]
    odd = dict(
        columns,
        user_id=[123, "u001", b"\x00"],
        subject_count=["1", 1, 1],
        event_id=[b"short", *columns["event_id"][1:]],
    )
    digest = canonical.digest_events(canonical.normalise(odd))
    assert digest.count == 3 and digest.sha256 != digest_of_frame(rows).sha256


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=5),
            st.one_of(st.none(), st.text(max_size=12)),
            st.one_of(st.none(), st.integers(min_value=0, max_value=2**40)),
            st.booleans(),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_the_vectorised_digest_equals_the_plain_reference(values: list[tuple[int, str | None, int | None, bool]]):
    rows = [
        event(i, ts=START + timedelta(seconds=second), detail=detail, seq=seq, pii_masked=flag, user_id=detail or "u")
        for i, (second, detail, seq, flag) in enumerate(values)
    ]
    rows = [r for r in rows if "\x00" not in str(r["detail"]) and "\x00" not in str(r["user_id"])]
    if rows:
        assert digest_of_frame(rows).sha256 == reference_sha256(rows)


def test_fingerprints_change_for_the_edited_event_only_and_are_keyed():
    rows = [event(i) for i in range(200)]
    table = canonical.from_frame(frame(rows))
    order = canonical.sort_order(table)
    prints = np.frombuffer(canonical.fingerprints(table, order, KEY), dtype="<u8")
    assert len(prints) == 200 and len(set(prints.tolist())) == 200
    edited = [dict(r) for r in rows]
    edited[17]["user_id"] = "someone-else"
    table2 = canonical.from_frame(frame(edited))
    again = np.frombuffer(canonical.fingerprints(table2, canonical.sort_order(table2), KEY), dtype="<u8")
    changed = np.flatnonzero(prints != again).tolist()
    assert len(changed) == 1
    assert canonical.digest_events(table2).event_ids.to_pylist()[changed[0]] == rows[17]["event_id"].hex()  # type: ignore[union-attr]
    other_key = np.frombuffer(canonical.fingerprints(table, order, bytes(32)), dtype="<u8")
    assert not np.intersect1d(prints, other_key).size


def test_fingerprints_are_stable_across_versions():
    """Stored seals are compared years later: a library upgrade that changes these values must fail here."""
    row = event(
        0,
        ts=datetime(2026, 2, 3, 0, 15, 22, 120000, tzinfo=UTC),
        event_id=bytes.fromhex("019c2c39b1d87a37af2469e8c067385b"),
        detail="宛名番号指定",
        seq=7,
    )
    table = canonical.from_frame(frame([row]))
    prints = canonical.fingerprints(table, canonical.sort_order(table), KEY)
    assert digest_of_frame([row]).sha256.hex() == reference_sha256([row]).hex() == SHA256_OF_THE_FIXED_ROW
    assert prints.hex() == FINGERPRINT_OF_THE_FIXED_ROW


#: Known values: a change here means every stored seal stops matching (a new format version is due).
SHA256_OF_THE_FIXED_ROW = "515c72a8fc440acf4739ea3ea681e51e9bb40569606a40f942eddb0bc4124570"
FINGERPRINT_OF_THE_FIXED_ROW = "e0f6c15980122231"


@pytest.mark.parametrize("size", [0, 1, 3])
def test_small_batches(size: int):
    rows = [event(i) for i in range(size)]
    if size:
        assert digest_of_frame(rows).sha256 == reference_sha256(rows)
    else:
        empty = canonical.normalise({name: [] for name in canonical.COLUMNS})
        assert canonical.digest_events(empty).sha256 == hashlib.sha256(b"").digest()
        assert canonical.fingerprints(empty, canonical.sort_order(empty), KEY) == b""
