"""Corrupted files through the public ingest and import paths, for every built-in profile, on both
backends: nothing crashes, every line is stored or quarantined with a reason, nothing is stored
twice, and no 個人番号 reaches the store."""

from __future__ import annotations

import random
import zlib
from pathlib import Path

import pytest
from fuzz_support import KINDS, MB, FuzzFile, build_file, mynumber, scan_store
from sqlalchemy import Engine, text

from auditd.errors import ValidationFailed
from auditd.reference import repository as reference_repo
from auditd.settings import Settings
from auditd.store.base import table_of
from collectors.formats.syslog import RejectedText
from collectors.pipeline import Ingestor, StreamIngest
from collectors.profile import Profile, builtin_profiles, resolve_profile
from collectors.reference import ReferenceImporter

EVENT_PROFILES = sorted(n for n in builtin_profiles() if not n.startswith("standard-"))
REFERENCE_PROFILES = sorted(n for n in builtin_profiles() if n.startswith("standard-"))


def rng_for(name: str) -> random.Random:
    return random.Random(zlib.crc32(name.encode()))


def quarantine_rows(engine: Engine, source: str) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT raw_ref, reason_code, reason FROM quarantine WHERE source = :s"), {"s": source}
        ).all()
    return [(r.raw_ref, r.reason_code, r.reason) for r in rows]


def count(engine: Engine, sql: str, **params: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def assert_no_mynumber(engine: Engine, fuzz: FuzzFile) -> None:
    assert fuzz.planted, "the file must hold 個人番号 to prove they are masked"
    assert scan_store(engine) == []


def test_the_scan_finds_a_stored_number(engine: Engine):
    """The 個人番号 scan itself: a number written into a text column is found."""
    number = mynumber(42)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO quarantine (municipality_code, record_key, source, raw_ref, reason_code, reason, "
                "raw_text, created_at) VALUES ('000000', 'k', 's', 'r', 'x', :reason, NULL, CURRENT_TIMESTAMP)"
            ),
            {"reason": f"番号 {number[:4]}-{number[4:8]}-{number[8:]} です"},
        )
    assert scan_store(engine) == [("quarantine", "reason", number)]


@pytest.mark.parametrize("name", EVENT_PROFILES)
def test_corrupted_operation_log_is_stored_or_quarantined_once_and_never_leaks(
    engine: Engine, settings: Settings, tmp_path: Path, name: str
):
    profile = resolve_profile(name)
    fuzz = build_file(profile, tmp_path / f"{name}.log", rng_for(name), valid=30, per_kind=3, huge_bytes=MB)
    ingestor = Ingestor(engine, settings)

    summary = ingestor.ingest_file(fuzz.path, profile)

    assert summary.read == fuzz.records, "every line is one record"
    assert summary.duplicates == 0
    assert summary.accepted + summary.quarantined == summary.read, "nothing lost"
    assert summary.accepted >= fuzz.valid, "the valid lines among the corrupted ones are all stored"
    source = profile.source_name
    assert count(engine, "SELECT COUNT(*) FROM events WHERE source = :s", s=source) == summary.accepted
    quarantined = quarantine_rows(engine, source)
    assert len(quarantined) == summary.quarantined
    assert all(code and reason.strip() for _, code, reason in quarantined), "every quarantined record says why"
    assert {code for _, code, _ in quarantined} >= {"bad_encoding", "nul_byte"} or profile.format == "syslog"
    assert len({ref for ref, _, _ in quarantined}) == len(quarantined), "one row per quarantined line"

    again = ingestor.ingest_file(fuzz.path, profile)
    assert again.skipped and again.accepted == 0
    full = ingestor.ingest_file(fuzz.path, profile, full=True)
    assert (full.read, full.accepted, full.duplicates) == (summary.read, 0, summary.accepted)
    assert count(engine, "SELECT COUNT(*) FROM events WHERE source = :s", s=source) == summary.accepted
    assert len(quarantine_rows(engine, source)) == summary.quarantined, "re-ingesting adds no quarantine row"

    assert_no_mynumber(engine, fuzz)


@pytest.mark.parametrize("name", REFERENCE_PROFILES)
def test_corrupted_reference_feed_is_stored_or_quarantined_and_never_leaks(
    engine: Engine, settings: Settings, tmp_path: Path, name: str
):
    profile = resolve_profile(name)
    fuzz = build_file(profile, tmp_path / f"{name}.csv", rng_for(name), valid=30, per_kind=3, huge_bytes=MB)
    importer = ReferenceImporter(engine, settings)

    summary = importer.import_file(fuzz.path, profile)

    assert summary.read == fuzz.records, "every line is one record"
    assert summary.stored + summary.quarantined == summary.read, "nothing lost"
    assert summary.stored >= fuzz.valid
    table = table_of(reference_repo.KIND_MODELS[profile.kind]).name
    assert count(engine, f"SELECT COUNT(*) FROM {table}") == summary.stored
    source = f"import:{profile.kind}"
    quarantined = quarantine_rows(engine, source)
    assert len(quarantined) == summary.quarantined
    assert all(code and reason.strip() for _, code, reason in quarantined)

    again = importer.import_file(fuzz.path, profile)
    assert (again.read, again.stored, again.quarantined) == (summary.read, summary.stored, summary.quarantined)
    assert count(engine, f"SELECT COUNT(*) FROM {table}") == summary.stored, "imported again: nothing twice"
    assert len(quarantine_rows(engine, source)) == summary.quarantined

    assert_no_mynumber(engine, fuzz)


@pytest.mark.parametrize("name", ["demo-tax", "demo-welfare", "syslog-auditd-5424", "standard-staff"])
def test_lines_of_five_megabytes_are_quarantined_without_keeping_them_whole(
    engine: Engine, settings: Settings, tmp_path: Path, name: str
):
    profile = resolve_profile(name)
    fuzz = build_file(profile, tmp_path / "big", rng_for(name), valid=5, kinds=("huge_line",), per_kind=2,
                      huge_bytes=5 * MB)  # fmt: skip
    summary = run(engine, settings, profile, fuzz.path)
    assert summary == (fuzz.records, fuzz.records - 2, 2)
    with engine.connect() as conn:
        longest = conn.execute(text("SELECT MAX(LENGTH(raw_text)) + MAX(LENGTH(reason)) FROM quarantine")).scalar()
    assert longest < 20_000
    assert_no_mynumber(engine, fuzz)


def run(engine: Engine, settings: Settings, profile: Profile, path: Path) -> tuple[int, int, int]:
    """(read, stored, quarantined) of one ingest or import."""
    if profile.kind == "events":
        summary = Ingestor(engine, settings).ingest_file(path, profile)
        return summary.read, summary.accepted, summary.quarantined
    imported = ReferenceImporter(engine, settings).import_file(path, profile)
    return imported.read, imported.stored, imported.quarantined


@pytest.mark.parametrize("kind", KINDS)
def test_each_corruption_alone_on_the_tax_log(engine: Engine, settings: Settings, tmp_path: Path, kind: str):
    """One kind at a time, so a failure names the corruption that caused it."""
    profile = resolve_profile("demo-tax")
    fuzz = build_file(profile, tmp_path / "one.csv", rng_for(kind), valid=3, kinds=(kind,), per_kind=4)
    read, stored, quarantined = run(engine, settings, profile, fuzz.path)
    assert read == fuzz.records and stored + quarantined == read
    assert scan_store(engine) == []


# -- the bugs the fuzzing found, kept as plain examples -----------------------------------------------


def test_bugs_found_in_operation_logs_end_quarantined(engine: Engine, settings: Settings, tmp_path: Path):
    number = mynumber(3)
    welfare = '{"time": "%s", "operator": {"id": "%s"}, "op": "VIEW", "count": %s}'
    path = tmp_path / "welfare.jsonl"
    path.write_bytes(
        "\n".join(
            [
                welfare % ("2026-02-03T09:15:22+09:00", "u1", "1"),
                welfare % ("2026-02-03T09:15:23+09:00", "u\\u0000x", "1"),  # NUL in a value: PostgreSQL refused it
                welfare % ("2026-02-03T09:15:24+09:00", "u1", "3000000000"),  # over a 32-bit count
                welfare % ("2026-02-03T09:15:25+09:00", "u1", "1e20"),  # TypeError in the mapping
                welfare % ("0001-01-01T00:00:00", "u1", "1"),  # ValueError: year 0 is out of range
                welfare % ("-1", "u1", "1"),
            ]
        ).encode()
        + b"\n\xff\x00"
        + number.encode()  # undecodable and NUL: the text shown in the quarantine kept the NUL
        + b"\n"
    )
    summary = Ingestor(engine, settings).ingest_file(path, resolve_profile("demo-welfare"))
    assert (summary.read, summary.accepted, summary.quarantined) == (7, 1, 6)
    assert dict(summary.reasons) == {"nul_byte": 1, "bad_subject_count": 2, "bad_timestamp": 2, "bad_encoding": 1}
    with engine.connect() as conn:
        shown = conn.execute(text("SELECT raw_text FROM quarantine WHERE reason_code = 'bad_encoding'")).scalar_one()
    assert shown == "\ufffd␀[個人番号]"
    assert scan_store(engine) == []


def test_bugs_found_in_reference_feeds_end_quarantined(engine: Engine, settings: Settings, tmp_path: Path):
    number, other = mynumber(5), mynumber(6)
    path = tmp_path / "accounts.csv"
    path.write_text(
        "user_id,staff_id,kind,created_on,disabled_on,note\n"
        f"A1,E1,personal,2026-01-01,,個人番号 {number} の確認\n"  # a 個人番号 was stored in clear
        "A1,E2,personal,2026-01-01,,\n"  # the same key twice: IntegrityError
        f"{number},E3,personal,2026-01-01,,\n"
        f"{other},E4,personal,2026-01-01,,\n"  # both keys are masked alike: the second is a duplicate
        "A5,E5,personal,-1,,\n",  # ValueError: year -1 is out of range
        encoding="utf-8",
    )
    summary = ReferenceImporter(engine, settings).import_file(path, resolve_profile("standard-accounts"))
    assert (summary.read, summary.stored, summary.quarantined) == (5, 2, 3)
    assert dict(summary.reasons) == {"duplicate_key": 2, "bad_created_on": 1}
    with engine.connect() as conn:
        notes = conn.execute(text("SELECT user_id, note FROM accounts ORDER BY user_id")).all()
    assert [tuple(n) for n in notes] == [("A1", "個人番号 [個人番号] の確認"), ("[個人番号]", None)]
    assert scan_store(engine) == []


def test_a_header_row_that_is_not_readable_is_refused_with_a_message(
    engine: Engine, settings: Settings, tmp_path: Path
):
    """A stray carriage return in the header (CR CR LF, a file converted twice) raised a bare csv.Error."""
    path = tmp_path / "auth.csv"
    path.write_bytes(b"timestamp,user\r,terminal\r\r\n2026/02/03 09:15:22,u1,T1\r\n")
    with pytest.raises(ValidationFailed, match="line 1: the header row is not readable CSV"):
        Ingestor(engine, settings).ingest_file(path, resolve_profile("demo-auth"))
    with pytest.raises(ValidationFailed, match="the header row"):
        ReferenceImporter(engine, settings).import_file(path, resolve_profile("standard-terminals"))
    assert count(engine, "SELECT COUNT(*) FROM events") == 0


def test_a_listener_message_with_a_nul_that_does_not_decode_is_quarantined(engine: Engine, settings: Settings):
    """PostgreSQL refused the batch (text cannot hold NUL), and the listener retries a batch until it is stored."""
    profile = resolve_profile("syslog-auditd-5424")
    stream = StreamIngest(Ingestor(engine, settings), profile, "syslog:tcp/127.0.0.1:5514", identity="run")
    garbage = RejectedText("<14>x\x00\ufffd", "bad_encoding", "not valid UTF-8 at byte 6 of the message")
    batch = stream.ingest([garbage])
    stream.close()
    assert (batch.read, batch.quarantined) == (1, 1)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT raw_text FROM quarantine")).scalar_one() == "<14>x␀\ufffd"
