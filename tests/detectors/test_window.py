"""The detectors' window helpers: event ids as UUID text, keyed lookups, cases paired by resident."""

from __future__ import annotations

import os
import uuid

import numpy as np
import pandas as pd

from detectors.window import case_index, event_ids_text, lookup_columns


def test_event_ids_read_as_uuid_text_from_bytes_and_from_uuids() -> None:
    raw = [os.urandom(16) for _ in range(1000)]
    text = event_ids_text(pd.Series(raw, index=range(7, 1007), dtype=object))
    assert text.tolist() == [str(uuid.UUID(bytes=b)) for b in raw]
    assert text.index.tolist() == list(range(7, 1007)) and text.dtype == "str"
    ids = [uuid.uuid4() for _ in range(3)]  # PostgreSQL's uuid column
    assert event_ids_text(pd.Series(ids, dtype=object)).tolist() == [str(u) for u in ids]
    mixed = pd.Series([raw[0], "already-text"], dtype=object)
    assert event_ids_text(mixed).tolist() == [str(uuid.UUID(bytes=raw[0])), "already-text"]
    assert event_ids_text(pd.Series([], dtype=object)).tolist() == []


def test_lookup_columns_takes_the_rows_found_and_nan_elsewhere() -> None:
    table = pd.DataFrame({"area": ["A1", "B2"], "household": ["h1", None]}, index=pd.Index(["r1", "r2"]))
    keys = pd.Series(["r2", "zz", "r1"], index=[10, 11, 12])
    found = lookup_columns(keys, table, ("area", "household"))
    assert found["area"].tolist()[0] == "B2" and found["area"].tolist()[2] == "A1" and pd.isna(found["area"][11])
    assert pd.isna(found["household"][10]) and found["household"][12] == "h1"
    assert found["area"].index.tolist() == [10, 11, 12]
    empty = lookup_columns(keys, table.iloc[0:0], ("area",))
    assert empty["area"].isna().all() and len(empty["area"]) == 3


def test_case_index_pairs_each_row_with_every_case_of_its_resident() -> None:
    cases = pd.DataFrame(
        {
            "case_id": [1, 2, 3, 4],
            "subject_hash": ["s1", "s2", "s1", None],
            "section_code": ["1101", "1102", "1103", "1101"],
            "opened_at": pd.to_datetime(["2026-04-01", "2026-04-02", "2026-04-03", "2026-04-04"], utc=True),
            "closed_at": pd.to_datetime([None, None, "2026-05-01", None], utc=True),
        }
    )
    rows = pd.DataFrame({"subject_hash": ["s1", "s3", "s2"], "pos": [0, 1, 2]})
    joined = case_index(cases).join(rows, ("case_id", "section_code"))
    pairs = sorted(zip(joined["pos"].tolist(), joined["case_id"].tolist(), strict=True))
    assert pairs == [(0, 1), (0, 3), (2, 2)]  # s3 has no case; the case with no resident pairs with nothing
    assert np.array_equal(np.sort(joined["section_code"].to_numpy(dtype=object)), ["1101", "1102", "1103"])
