"""The syslog format: RFC 5424 and RFC 3164 parsing, key=value messages, rejects, and file ingest with
the built-in syslog profiles on both backends."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from auditd.events.models import Event
from auditd.privacy.mynumber import check_digit
from auditd.settings import Settings
from collectors.formats.syslog import RejectedText, SyslogReader
from collectors.pipeline import Ingestor, reader_for
from collectors.profile import parse_profile, resolve_profile

TOKYO = ZoneInfo("Asia/Tokyo")
MY_NUMBER = "12345678901" + str(check_digit("12345678901"))
HEADER = ["pri", "facility", "severity", "version", "timestamp", "hostname", "app", "procid", "msgid", "msg"]


def reader_for_columns(*columns: str, now: datetime | None = None) -> SyslogReader:
    """A reader whose profile references exactly ``columns`` (as parts of the detail field)."""
    profile = parse_profile(
        {
            "name": "t",
            "format": "syslog",
            "fields": {
                "ts": {"value": "2026-01-01T00:00:00+09:00"},
                "user_id": {"value": "u"},
                "action": {"value": "view"},
                "system": {"value": "s"},
                "detail": {"columns": list(columns)},
            },
        },
        "test",
    )
    return SyslogReader(profile, clock=(lambda: now) if now else None)


def parse(reader: SyslogReader, *lines: str) -> list[dict[str, str | None]]:
    chunk = reader.records(list(lines), first_line=1)
    assert not chunk.rejects, chunk.rejects
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in chunk.records.to_dict("records")]


# -- RFC 5424 -------------------------------------------------------------------------------------------


def test_rfc5424_header_structured_data_with_escapes_and_several_elements():
    reader = reader_for_columns(
        *HEADER, "sd.auditd@32473.user", "sd.auditd@32473.jimu", "sd.timeQuality.tzKnown", "sd.meta.sequenceId"
    )
    line = (
        '<134>1 2026-02-03T09:15:22.120+09:00 zeimu-ap01 ZEIMU 4242 OPLOG [timeQuality tzKnown="1" isSynced="0"]'
        '[auditd@32473 user="u001" jimu="住民税 \\"特別\\" [A\\] C:\\\\x"][meta sequenceId="17"] 宛名照会'
    )
    [row] = parse(reader, line)
    assert row == {
        "pri": "134",
        "facility": "local0",
        "severity": "info",
        "version": "1",
        "timestamp": "2026-02-03T09:15:22.120+09:00",
        "hostname": "zeimu-ap01",
        "app": "ZEIMU",
        "procid": "4242",
        "msgid": "OPLOG",
        "msg": "宛名照会",
        "sd.auditd@32473.user": "u001",
        "sd.auditd@32473.jimu": '住民税 "特別" [A] C:\\x',
        "sd.timeQuality.tzKnown": "1",
        "sd.meta.sequenceId": "17",
    }


def test_rfc5424_nilvalues_bom_and_lower_case_time():
    reader = reader_for_columns(*HEADER, "sd.auditd@32473.user")
    nil, bom, lower = parse(
        reader,
        "<14>1 - - - - - -",
        '<14>1 2026-02-03T00:00:00Z h a - - [auditd@32473 user="u1"] \ufeffメッセージ',
        "<14>1 2026-02-03t00:00:00.5z h a - m - x",
    )
    assert nil == dict.fromkeys([*HEADER, "sd.auditd@32473.user"]) | {
        "pri": "14",
        "facility": "user",
        "severity": "info",
        "version": "1",
    }
    assert (bom["msg"], bom["sd.auditd@32473.user"], bom["procid"]) == ("メッセージ", "u1", None)
    assert (lower["timestamp"], lower["msgid"], lower["msg"]) == ("2026-02-03T00:00:00.5Z", "m", "x")


def test_structured_data_is_read_from_the_structured_data_only():
    """A message that quotes an SD element must not fill the columns of the real one."""
    reader = reader_for_columns("sd.auditd@32473.user", "sd.other.user", "msg")
    [row] = parse(reader, '<14>1 2026-02-03T00:00:00Z h a - - [other user="x"] [auditd@32473 user="admin"]')
    assert row == {"sd.auditd@32473.user": None, "sd.other.user": "x", "msg": '[auditd@32473 user="admin"]'}
    [dup] = parse(reader, '<14>1 2026-02-03T00:00:00Z h a - - [other user="first" user="second"]')
    assert dup["sd.other.user"] == "first"


def test_only_the_referenced_columns_are_built():
    reader = reader_for_columns("app", "kv.user")
    chunk = reader.records(["<14>1 2026-02-03T00:00:00Z h EPM - - - user=u1 op=x"], first_line=1)
    assert list(chunk.records.columns) == ["app", "kv.user"]
    assert chunk.records.iloc[0].tolist() == ["EPM", "u1"]


# -- RFC 3164 -------------------------------------------------------------------------------------------


def test_rfc3164_with_and_without_pri_and_with_an_iso_timestamp():
    reader = reader_for_columns(*HEADER, now=datetime(2026, 2, 10, 12, 0, tzinfo=TOKYO))
    with_pri, bare, iso, no_tag = parse(
        reader,
        "<38>Feb  3 09:15:22 epm01 sshd[812]: Accepted password",
        "Feb 13 09:15:22 epm01 EPM: user=u1",
        "<13>2026-02-03T09:15:22.123456+09:00 epm01 EPM[9]: x",
        "Feb  3 09:15:22 epm01 free text without a tag",
    )
    assert with_pri == {
        "pri": "38",
        "facility": "auth",
        "severity": "info",
        "version": None,
        "timestamp": "2026-02-03T09:15:22",
        "hostname": "epm01",
        "app": "sshd",
        "procid": "812",
        "msgid": None,
        "msg": "Accepted password",
    }
    assert (bare["pri"], bare["facility"], bare["timestamp"], bare["app"]) == (None, None, "2025-02-13T09:15:22", "EPM")
    assert (iso["timestamp"], iso["procid"], iso["msg"]) == ("2026-02-03T09:15:22.123456+09:00", "9", "x")
    assert (no_tag["hostname"], no_tag["app"], no_tag["msg"]) == ("epm01", None, "free text without a tag")


@pytest.mark.parametrize(
    ("now", "stamp", "expected"),
    [
        (datetime(2027, 1, 1, 0, 0, 30, tzinfo=TOKYO), "Dec 31 23:59:59", "2026-12-31T23:59:59"),  # read after New Year
        (datetime(2027, 1, 1, 0, 0, 30, tzinfo=TOKYO), "Jan  1 00:00:10", "2027-01-01T00:00:10"),
        (datetime(2026, 12, 31, 23, 59, 50, tzinfo=TOKYO), "Jan  1 00:00:05", "2027-01-01T00:00:05"),  # clock ahead
        (datetime(2026, 12, 30, 23, 0, tzinfo=TOKYO), "Dec 31 22:59:59", "2026-12-31T22:59:59"),  # less than a day
        (datetime(2026, 12, 30, 23, 0, tzinfo=TOKYO), "Dec 31 23:00:01", "2025-12-31T23:00:01"),  # more than a day
        (datetime(2027, 3, 1, tzinfo=TOKYO), "Feb 29 10:00:00", "2024-02-29T10:00:00"),  # the latest leap year
        (datetime(2026, 2, 10, tzinfo=TOKYO), "Feb 30 10:00:00", "2025-02-30T10:00:00"),  # kept for the mapping
    ],
)
def test_rfc3164_year_is_the_latest_at_most_one_day_ahead(now: datetime, stamp: str, expected: str):
    [row] = parse(reader_for_columns("timestamp", now=now), f"<13>{stamp} host app: x")
    assert row["timestamp"] == expected


# -- key=value messages ---------------------------------------------------------------------------------


def test_key_value_tokens_with_quotes_escapes_and_japanese():
    reader = reader_for_columns("kv.user", "kv.file", "kv.名前", "kv.op", "kv.count", "kv.missing")
    [row] = parse(
        reader,
        '<14>Feb  3 09:15:22 epm01 EPM: note="x user=evil" user=u1 file="住民 一覧 \\"写\\".csv" 名前=山田 op= count=1',
    )
    assert row == {
        "kv.user": "u1",  # not the user=evil inside the quoted note
        "kv.file": '住民 一覧 "写".csv',
        "kv.名前": "山田",
        "kv.op": None,
        "kv.count": "1",
        "kv.missing": None,
    }
    suffix, unterminated = parse(reader, "Feb  3 09:15:22 h a: xuser=1 user=2", 'Feb  3 09:15:22 h a: file="a user=3')
    assert suffix["kv.user"] == "2"
    assert (unterminated["kv.user"], unterminated["kv.file"]) == (None, None)


# -- rejects ----------------------------------------------------------------------------------------------


def test_unparseable_lines_are_rejected_with_a_sentence_and_blank_ones_skipped():
    reader = reader_for_columns("msg")
    lines = [
        "garbage",
        "<13 Feb  3 09:15:22 h a: x",
        "<200>Feb  3 09:15:22 h a: x",
        "<13>1 2026-02-03T00:00:00Z h a",
        '<13>1 2026-02-03T00:00:00Z h a - - [auditd@32473 user="u1] x',
        "<13>Feb  3 09:15:22",
        "   ",
        "<13>Feb  3 09:15:22 h a: fine",
    ]
    chunk = reader.records(lines, first_line=10)
    assert chunk.lines == [17] and chunk.texts == ["<13>Feb  3 09:15:22 h a: fine"]
    reasons = {r.line: (r.reason_code, r.reason) for r in chunk.rejects}
    assert set(reasons) == {10, 11, 12, 13, 14, 15}
    assert {code for code, _ in reasons.values()} == {"bad_syslog"}
    assert "nor a timestamp" in reasons[10][1] and "'garbage'" in reasons[10][1]
    assert "<PRI>" in reasons[11][1]
    assert "PRI 200 is out of range" in reasons[12][1]
    assert "header incomplete" in reasons[13][1]
    assert "structured data malformed at character 36" in reasons[14][1]
    assert "followed by a space" in reasons[15][1]


def test_framed_texts_the_transport_rejected_and_unreadable_ones_are_quarantined():
    reader = reader_for_columns("msg")
    chunk = reader.records(
        [
            RejectedText("<13>1 2026-…", "too_long", "message of 70,000 bytes is longer than the 65,536 allowed"),
            "<13>Feb  3 09:15:22 h a: x\x00y",
            "<13>Feb  3 09:15:22 h a: \udcff",
            "\ufeff<13>Feb  3 09:15:22 h a: ok\r\n",
        ],
        first_line=1,
    )
    assert [(r.line, r.reason_code) for r in chunk.rejects] == [(1, "too_long"), (2, "nul_byte"), (3, "bad_encoding")]
    assert chunk.rejects[2].text.endswith("\ufffd")
    assert chunk.texts == ["<13>Feb  3 09:15:22 h a: ok"] and chunk.lines == [4]


def test_file_chunks_track_positions_and_lines_and_resume():
    reader = reader_for_columns("msg")
    data = b"<13>Feb  3 09:15:22 h a: one\r\n\r\nbad\n<13>Feb  3 09:15:23 h a: \xff\n<13>Feb  3 09:15:24 h a: two\n"
    chunks = list(reader.chunks(io.BytesIO(data), start_position=0, start_line=0, chunk_rows=2))
    assert [c.records["msg"].tolist() for c in chunks] == [["one"], ["two"]]
    assert sorted((r.line, r.reason_code) for c in chunks for r in c.rejects) == [
        (3, "bad_syslog"),
        (4, "bad_encoding"),
    ]
    first_end = chunks[0].end_position
    again = list(reader.chunks(io.BytesIO(data), start_position=first_end, start_line=chunks[0].end_line, chunk_rows=9))
    assert [c.records["msg"].tolist() for c in again] == [["two"]] and again[0].end_position == len(data)


def test_the_reader_is_registered_for_the_syslog_format():
    assert isinstance(reader_for(resolve_profile("syslog-kv-3164")), SyslogReader)


# -- the built-in profiles, through the pipeline --------------------------------------------------------


def _rows(engine: Engine, *columns: str) -> list[tuple[object, ...]]:
    """Events as tuples of ``columns`` (through the ORM, so ``ts`` is an aware datetime on both backends)."""
    with engine.connect() as conn:
        found = conn.execute(select(*(getattr(Event, c) for c in columns)).order_by(Event.ts)).all()
    return [tuple(row) for row in found]


def test_auditd_5424_profile_file_ingest(engine: Engine, settings: Settings, tmp_path: Path):
    path = tmp_path / "zeimu.log"
    path.write_text(
        '<110>1 2026-02-03T09:15:22.120+09:00 ap01 ZEIMU 42 OPLOG [auditd@32473 user="u001" terminal="T1101-01" '
        'session="S7" jimu="個人住民税" action="view" subject="0000012345" count="1" result="success" '
        'screen="K0101"] 宛名照会\n'
        '<110>1 2026-02-03T00:16:00Z ap01 ZEIMU 42 OPLOG [meta sequenceId="8"][auditd@32473 user="u001" '
        f'action="print" count="35" result="NG" auth="password,vein"] \ufeff一括印刷 個人番号={MY_NUMBER}\n'
        '<110>1 2026-02-03T09:17:00+09:00 ap01 ZEIMU 42 OPLOG [auditd@32473 user="u002" action="peek"] -\n'
        "<110>1 - ap01 ZEIMU 42 OPLOG - no structured data\n"
        "this is not syslog\n",
        encoding="utf-8",
    )
    summary = Ingestor(engine, settings).ingest_file(path, resolve_profile("syslog-auditd-5424"))
    assert (summary.read, summary.accepted, summary.quarantined, summary.masked) == (5, 2, 3, 1)
    assert dict(summary.reasons) == {"unknown_action": 1, "missing_ts": 1, "bad_syslog": 1}
    rows = _rows(
        engine, "ts", "system", "user_id", "terminal_id", "session_id", "jimu", "action", "screen", "subject_count",
        "result", "auth_factors", "detail", "seq", "pii_masked", "subject_hash", "source",
    )  # fmt: skip
    assert [(*r[:14], r[14] is not None, r[15]) for r in rows] == [
        (datetime(2026, 2, 3, 0, 15, 22, 120000, tzinfo=UTC), "ZEIMU", "u001", "T1101-01", "S7", "個人住民税", "view",
         "K0101", 1, "success", None, "宛名照会", None, False, True, "syslog-auditd-5424"),
        (datetime(2026, 2, 3, 0, 16, tzinfo=UTC), "ZEIMU", "u001", None, None, None, "print", None, 35, "failure",
         "password,vein", "一括印刷 個人番号=[個人番号]", 8, True, False, "syslog-auditd-5424"),
    ]  # fmt: skip


def test_kv_3164_profile_file_ingest(engine: Engine, settings: Settings, tmp_path: Path):
    now = datetime.now(TOKYO)
    stamp = now.strftime("%b ") + f"{now.day:2d}" + " 09:15:22"
    path = tmp_path / "epm.log"
    path.write_text(
        f'<14>{stamp} epm01 EPM[812]: user=u001 pc=T1101-01 op=USB_WRITE file="住民 一覧.csv" count=120 result=OK\n'
        f'{stamp} epm01 EPM[812]: user=u001 pc=T1101-01 op=PRINT file="{MY_NUMBER}.pdf" count=3 result=DENY\n'
        "2026-02-03T09:15:24+09:00 epm01 EPM: user=u002 pc=T1101-02 op=FILE_COPY file=a.xlsx\n"
        "2026-02-03T09:15:25+09:00 epm01 EPM: user=u002 pc=T1101-02 op=FORMAT_DISK\n",
        encoding="utf-8",
    )
    summary = Ingestor(engine, settings).ingest_file(path, resolve_profile("syslog-kv-3164"))
    assert (summary.read, summary.accepted, summary.quarantined) == (4, 3, 1)
    assert dict(summary.reasons) == {"unknown_code": 1}
    columns = ("ts", "system", "user_id", "terminal_id", "action", "subject_count", "result", "detail", "pii_masked")
    rows = _rows(engine, *columns)
    by_action = {r[4]: r for r in rows}
    assert set(by_action) == {"media_write", "print", "file_copy"}
    assert by_action["media_write"][1:] == (
        "EPM", "u001", "T1101-01", "media_write", 120, "success", "住民 一覧.csv", False,
    )  # fmt: skip
    assert by_action["print"][5:] == (3, "failure", "[個人番号].pdf", True)
    assert by_action["media_write"][0] == datetime(now.year, now.month, now.day, 9, 15, 22, tzinfo=TOKYO)  # inferred
    assert by_action["file_copy"][0] == datetime(2026, 2, 3, 0, 15, 24, tzinfo=UTC)


@pytest.mark.parametrize("name", ["syslog-auditd-5424", "syslog-kv-3164"])
def test_builtin_syslog_profiles_pass_profile_test(name: str, tmp_path: Path):
    sample = tmp_path / "sample.log"
    sample.write_text(
        '<110>1 2026-02-03T09:15:22+09:00 ap01 ZEIMU 42 - [auditd@32473 user="u1" action="view"] x\n'
        if name.endswith("5424")
        else "<14>Feb  3 09:15:22 epm01 EPM: user=u1 pc=T1 op=USB_WRITE file=x.csv count=1\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "auditd", "profile", "test", name, str(sample)],
        capture_output=True,
        text=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "AUDITD_ENV": "test", "AUDITD_DATA_DIR": str(tmp_path)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "records: 1  mappable: 1  problems: 0" in done.stdout
