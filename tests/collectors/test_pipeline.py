"""Ingest through the pipeline on both backends: formats, privacy, duplicates, quarantine, resume."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from auditd.events import repository as events_repo
from auditd.events.models import Event
from auditd.privacy.mynumber import check_digit
from auditd.privacy.pseudonym import Pseudonymiser
from auditd.settings import Settings
from collectors.pipeline import Ingestor
from collectors.profile import load_profile_file, parse_profile, resolve_profile

VALID_NUMBER = "12345678901" + str(check_digit("12345678901"))
OTHER_NUMBER = "98765432109" + str(check_digit("98765432109"))

TAX_HEADER = "操作日時,職員ID,端末ID,セッションID,業務コード,画面ID,操作区分,宛名番号,対象件数,処理結果,検索条件"


def write_cp932(path: Path, lines: list[str]) -> Path:
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    return path


def count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


@pytest.fixture
def tax_file(tmp_path: Path) -> Path:
    return write_cp932(
        tmp_path / "ZEIMU_OPLOG_20260203.csv",
        [
            TAX_HEADER,
            "R08.02.03 09:15:22,u001,T1101-01,S1,11,K0101,01,0000012345,1,0,",
            "R08.02.03 09:15:22,u001,T1101-01,S1,11,K0101,01,0000012345,1,0,",  # the same line twice: two events
            f"令和8年2月3日 9時16分00秒,u001,T1101-01,S1,11,K0001,06,0000012345,1,0,個人番号={VALID_NUMBER}",
            "R08.02.30 10:00:00,u002,T1101-02,S2,11,K0101,01,0000099999,1,0,",  # 2月30日
            "R08.02.03 10:01:00,u002,T1101-02,S2,11,K0101,77,0000099999,1,0,",  # unknown 操作区分
            "R08.02.03 10:02:00,,T1101-02,S2,11,K0101,01,0000099999,1,0,",  # no user
            "short,line",
            f"R08.02.03 10:03:00,u003,T1101-03,S3,12,K0501,05,{OTHER_NUMBER},1,0,",  # a 個人番号 as the subject
        ],
    )


def test_cp932_wareki_file_is_ingested_with_reasons_for_every_rejected_line(
    engine: Engine, settings: Settings, tax_file: Path
):
    summary = Ingestor(engine, settings).ingest_file(tax_file, resolve_profile("demo-tax"))
    assert (summary.read, summary.accepted, summary.duplicates, summary.quarantined) == (8, 4, 0, 4)
    assert dict(summary.reasons) == {
        "bad_timestamp": 1,
        "unknown_code": 1,
        "missing_user_id": 1,
        "wrong_columns": 1,
    }
    assert summary.masked == 2
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT ts, user_id, action, jimu, detail, pii_masked FROM events ORDER BY ts, action")
        ).all()
        reasons = conn.execute(text("SELECT raw_ref, reason FROM quarantine ORDER BY raw_ref")).all()
    assert [r.action for r in rows] == ["view", "view", "search", "show_mynumber"]
    assert rows[0].jimu == "個人住民税"
    assert rows[2].detail == "個人番号=[個人番号]"
    assert {r.raw_ref.rsplit(":", 1)[1] for r in reasons} == {"5", "6", "7", "8"}
    assert any("令和" in r.reason or "R08.02.30" in r.reason for r in reasons)


def test_no_personal_number_reaches_the_store(engine: Engine, settings: Settings, tax_file: Path, backend: str):
    Ingestor(engine, settings).ingest_file(tax_file, resolve_profile("demo-tax"))
    if backend == "sqlite":
        database = Path(engine.url.database or "")
        engine.dispose()
        stored = b"".join(
            Path(str(database) + s).read_bytes() for s in ("", "-wal") if Path(str(database) + s).exists()
        )
    else:
        dump = subprocess.run(
            [
                "pg_dump",
                "--data-only",
                engine.url.render_as_string(hide_password=False).replace("+psycopg", ""),
            ],
            capture_output=True,
            check=True,
        )
        stored = dump.stdout
    for number in (VALID_NUMBER, OTHER_NUMBER):
        assert number.encode() not in stored
        assert number.encode("cp932") not in stored
    assert b"0000012345" not in stored and b"12345\x00" not in stored, "resident identifiers are stored only encrypted"


def test_a_subject_that_is_a_personal_number_is_pseudonymised_but_never_sealed(
    engine: Engine, settings: Settings, tax_file: Path
):
    Ingestor(engine, settings).ingest_file(tax_file, resolve_profile("demo-tax"))
    pseudonym = Pseudonymiser(settings.secret("pseudonym_key"), settings.municipality_code).one(OTHER_NUMBER)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT sealed, is_mynumber FROM subjects WHERE subject_hash = :h"), {"h": pseudonym}
        ).one()
        flagged = conn.execute(
            text("SELECT pii_masked FROM events WHERE subject_hash = :h"), {"h": pseudonym}
        ).scalar_one()
    assert row.sealed is None and row.is_mynumber
    assert flagged


def test_ingesting_again_adds_nothing_and_full_rereads_count_duplicates(
    engine: Engine, settings: Settings, tax_file: Path
):
    ingestor = Ingestor(engine, settings)
    profile = resolve_profile("demo-tax")
    ingestor.ingest_file(tax_file, profile)
    again = ingestor.ingest_file(tax_file, profile)
    assert again.skipped and again.accepted == 0
    full = Ingestor(engine, settings).ingest_file(tax_file, profile, full=True)
    assert (full.accepted, full.duplicates) == (0, 4)
    assert count(engine, "SELECT count(*) FROM events") == 4
    assert count(engine, "SELECT count(*) FROM quarantine") == 4, "quarantine keeps each bad record once"


def test_a_file_that_grows_is_continued_from_where_it_stopped(engine: Engine, settings: Settings, tmp_path: Path):
    lines = [TAX_HEADER] + [f"R08.02.03 09:{m:02d}:00,u001,T1,S1,11,K0101,01,{1000 + m},1,0," for m in range(10)]
    path = write_cp932(tmp_path / "growing.csv", lines)
    ingestor = Ingestor(engine, settings)
    assert ingestor.ingest_file(path, resolve_profile("demo-tax")).accepted == 10
    with path.open("ab") as handle:
        handle.write("R08.02.03 10:00:00,u001,T1,S1,11,K0101,01,2000,1,0,\r\n".encode("cp932"))
    second = ingestor.ingest_file(path, resolve_profile("demo-tax"))
    assert (second.read, second.accepted) == (1, 1)
    assert count(engine, "SELECT count(*) FROM events") == 11


def test_identical_lines_from_two_sources_do_not_collide(engine: Engine, settings: Settings, tmp_path: Path):
    line = "2026-02-03 10:00:00\tu1\tT1\tINQ\tJM01\t0000012345\t他団体\t00"
    path = tmp_path / "same.tsv"
    path.write_text(line + "\n", encoding="utf-8")
    linkage = resolve_profile("demo-linkage")
    other = linkage.model_copy(update={"source": "linkage-backup", "name": "backup"})
    Ingestor(engine, settings).ingest_file(path, linkage)
    Ingestor(engine, settings).ingest_file(path, other)
    assert count(engine, "SELECT count(*) FROM events") == 2


def test_a_format_the_code_has_never_seen_is_onboarded_by_yaml_alone(
    engine: Engine, settings: Settings, tmp_path: Path
):
    """A pipe-separated, header-less log with 和暦 dates and time in separate columns, full-width digits,
    and vendor codes: described only in YAML."""
    profile_path = tmp_path / "vendor-x.yaml"
    profile_path.write_text(
        """
name: vendor-x-nhi
format: csv
delimiter: "|"
header: false
column_names: [date, time, op, who, pc, biz, atena, n]
encoding: cp932
fields:
  ts: {columns: [date, time], formats: [wareki]}
  system: {value: 国保システムX}
  action: {column: op, map: ops}
  user_id: {column: who}
  terminal_id: {column: pc}
  jimu: {column: biz, map: biz}
  subject: {column: atena}
  subject_count: {column: n}
codes:
  ops: {"照会": view, "更新": update, "帳票": print}
  biz: {"K": 国民健康保険}
""",
        encoding="utf-8",
    )
    data = write_cp932(
        tmp_path / "x.log",
        [
            "令和８年２月３日|１０:１５:００|照会|n001|PC-07|K|０００１２３|１",
            "令和8年2月3日|10:16:00|帳票|n001|PC-07|K|000124|３",
            "令和8年2月3日|10:17:00|削除|n001|PC-07|K|000125|1",
        ],
    )
    summary = Ingestor(engine, settings).ingest_file(data, load_profile_file(profile_path))
    assert (summary.accepted, summary.quarantined) == (2, 1)
    with engine.connect() as conn:
        rows = conn.execute(select(Event.ts, Event.action, Event.subject_count, Event.system).order_by(Event.ts)).all()
    assert [(r.action, r.subject_count, r.system) for r in rows] == [
        ("view", 1, "国保システムX"),
        ("print", 3, "国保システムX"),
    ]
    assert rows[0].ts == datetime(2026, 2, 3, 1, 15, tzinfo=UTC)  # 10:15 in Japan


def test_jsonl_and_header_less_tsv_and_bom_csv(engine: Engine, settings: Settings, tmp_path: Path):
    jsonl = tmp_path / "w.jsonl"
    jsonl.write_text(
        '{"seq": 1, "time": "2026-02-03T09:00:00+09:00", "operator": {"id": "w1", "terminal": "T"},'
        ' "business": "kokuho", "op": "VIEW", "target": {"atena": "77"}, "count": 1, "status": "OK"}\n'
        "not json\n"
        '["a list"]\n'
        '{"seq": 2, "time": "yesterday", "operator": {"id": "w1"}, "business": "kokuho", "op": "VIEW",'
        ' "status": "OK"}\n',
        encoding="utf-8",
    )
    welfare = Ingestor(engine, settings).ingest_file(jsonl, resolve_profile("demo-welfare"))
    assert (welfare.accepted, welfare.quarantined) == (1, 3)
    assert set(welfare.reasons) == {"bad_json", "bad_timestamp"}
    auth = tmp_path / "auth.csv"
    auth.write_bytes(
        "\ufefftimestamp,user,terminal,event,method,session,result\r\n"
        "2026/02/03 08:30:00,w1,T,LOGON,PW+VEIN,S1,OK\r\n".encode("utf-8")
    )
    Ingestor(engine, settings).ingest_file(auth, resolve_profile("demo-auth"))
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT auth_factors FROM events WHERE action = 'login'")).scalar_one() == "password,vein"
        )
        assert conn.execute(text("SELECT seq FROM events WHERE source = 'welfare'")).scalar_one() == 1


def test_undecodable_bytes_and_nul_bytes_are_quarantined_line_by_line(
    engine: Engine, settings: Settings, tmp_path: Path
):
    path = tmp_path / "bad.csv"
    good = "R08.02.03 09:15:22,u001,T1,S1,11,K0101,01,1,1,0,"
    path.write_bytes(
        (TAX_HEADER + "\r\n" + good + "\r\n").encode("cp932")
        + b"R08.02.03 09:15:23,u\x82\x20,T1\r\n"
        + b"R08.02.03\x00,u1\r\n"
        + (good.replace("22", "24") + "\r\n").encode("cp932")
    )
    summary = Ingestor(engine, settings).ingest_file(path, resolve_profile("demo-tax"))
    assert (summary.accepted, summary.quarantined) == (2, 2)
    assert set(summary.reasons) == {"bad_encoding", "nul_byte"}


def test_profile_errors_name_the_file_and_the_key(tmp_path: Path):
    from auditd.errors import ValidationFailed

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\nformat: csv\nencoding: shift-jiz\nfields:\n  ts: {column: a}\n  user_id: {colum: b}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationFailed) as error:
        load_profile_file(bad)
    message = str(error.value)
    assert str(bad) in message and "encoding" in message and "fields.user_id" in message
    with pytest.raises(ValidationFailed, match="code table"):
        parse_profile(
            {
                "name": "x",
                "format": "csv",
                "fields": {
                    "ts": {"column": "a"},
                    "user_id": {"column": "b"},
                    "system": {"value": "s"},
                    "action": {"column": "c", "map": "nope"},
                },
            },
            "inline",
        )
    with pytest.raises(ValidationFailed, match="fields missing: user_id"):
        parse_profile(
            {
                "name": "x",
                "format": "csv",
                "fields": {"ts": {"column": "a"}, "system": {"value": "s"}, "action": {"value": "view"}},
            },
            "inline",
        )
    with pytest.raises(ValidationFailed, match="no profile named"):
        resolve_profile("does-not-exist")


def test_values_longer_than_the_store_allows_are_quarantined_not_a_crash(
    engine: Engine, settings: Settings, tmp_path: Path
):
    long_user = "u" * 65
    path = write_cp932(
        tmp_path / "long.csv",
        [
            TAX_HEADER,
            f"R08.02.03 09:15:22,{long_user},T1,S1,11,K0101,01,1,1,0,",
            "R08.02.03 09:15:23,u1,T1,S1,11,K0101,01,1,1,0," + "長" * 5000,  # detail is free text: kept (masked)
        ],
    )
    summary = Ingestor(engine, settings).ingest_file(path, resolve_profile("demo-tax"))
    assert (summary.accepted, summary.quarantined, dict(summary.reasons)) == (1, 1, {"too_long": 1})


def test_stream_ingest_of_framed_records_is_idempotent_per_batch(engine: Engine, settings: Settings):
    from collectors.pipeline import StreamIngest

    ingestor = Ingestor(engine, settings)
    stream = StreamIngest(ingestor, resolve_profile("demo-welfare"), "push:welfare")
    line = ('{"time": "2026-02-03T09:00:00+09:00", "operator": {"id": "w1"}, "business": "kokuho", "op": "VIEW",'
            ' "target": {"atena": "77"}, "status": "OK"}')  # fmt: skip
    first = stream.ingest([line, line, "garbage"])  # two identical records in one batch stay two
    assert (first.accepted, first.quarantined) == (2, 1)
    retried = stream.ingest([line, line, "garbage"])  # the sender retries the same batch
    assert (retried.accepted, retried.duplicates) == (0, 2)
    total = stream.close()
    assert (total.read, total.accepted, total.duplicates, total.quarantined) == (6, 2, 2, 2)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM quarantine")).scalar_one() == 1, "the retried bad record once"
        refs = events_repo.raw_refs(conn, settings.municipality_code)
        run = conn.execute(text("SELECT status, accepted, duplicates FROM ingest_runs")).one()
    assert refs == ["push:welfare:1", "push:welfare:2"]
    assert tuple(run) == ("completed", 2, 2)


def test_csv_records_without_a_file(engine: Engine, settings: Settings):
    from collectors.pipeline import StreamIngest

    stream = StreamIngest(Ingestor(engine, settings), resolve_profile("demo-linkage"), "listener:test")
    batch = stream.ingest(["2026-02-03 10:00:00\tu1\tT1\tINQ\tJM01\t12\t他団体\t00", "a\tb"])
    assert (batch.accepted, batch.quarantined, dict(batch.reasons)) == (1, 1, {"wrong_columns": 1})


def test_a_half_written_last_line_is_left_for_the_next_run(engine: Engine, settings: Settings, tmp_path: Path):
    path = tmp_path / "live.csv"
    path.write_bytes(
        (TAX_HEADER + "\r\n" + "R08.02.03 09:00:00,u1,T1,S1,11,K0101,01,1,1,0,\r\n" + "R08.02.03 09:0").encode("cp932")
    )
    ingestor = Ingestor(engine, settings)
    first = ingestor.ingest_file(path, resolve_profile("demo-tax"), complete_only=True)
    assert (first.read, first.accepted, first.quarantined) == (1, 1, 0)
    with path.open("ab") as handle:
        handle.write("1:00,u1,T1,S1,11,K0101,01,2,1,0,\r\n".encode("cp932"))
    second = ingestor.ingest_file(path, resolve_profile("demo-tax"), complete_only=True)
    assert (second.read, second.accepted, second.quarantined) == (1, 1, 0)


def test_quoted_fields_across_lines_use_the_csv_module_from_the_first_quote(
    engine: Engine, settings: Settings, tmp_path: Path
):
    rows = [f"R08.02.03 09:{m:02d}:00,u1,T1,S1,11,K0101,01,{m},1,0," for m in range(5)]
    rows.append('R08.02.03 10:00:00,u1,T1,S1,11,K0101,06,99,1,0,"氏名=""サトウ""\r\n生年月日=S50"')
    rows += [f"R08.02.03 11:{m:02d}:00,u2,T2,S2,11,K0101,01,{m},1,0," for m in range(3)]
    path = write_cp932(tmp_path / "quoted.csv", [TAX_HEADER, *rows])
    summary = Ingestor(engine, settings).ingest_file(path, resolve_profile("demo-tax"))
    assert (summary.read, summary.accepted, summary.quarantined) == (9, 9, 0)
    with engine.connect() as conn:
        detail = conn.execute(select(Event.detail).where(Event.action == "search")).scalar_one()
    assert detail == '氏名="サトウ"\r\n生年月日=S50'


def test_a_quoted_record_cut_at_the_end_of_a_growing_file_waits(engine: Engine, settings: Settings, tmp_path: Path):
    head = TAX_HEADER + "\r\n" + "R08.02.03 09:00:00,u1,T1,S1,11,K0101,01,1,1,0,\r\n"
    path = tmp_path / "growing.csv"
    path.write_bytes((head + 'R08.02.03 09:01:00,u1,T1,S1,11,K0101,06,2,1,0,"first part\r\n').encode("cp932"))
    ingestor = Ingestor(engine, settings)
    first = ingestor.ingest_file(path, resolve_profile("demo-tax"), complete_only=True)
    assert (first.accepted, first.quarantined) == (1, 0)
    with path.open("ab") as handle:
        handle.write('second part"\r\n'.encode("cp932"))
    second = ingestor.ingest_file(path, resolve_profile("demo-tax"), complete_only=True)
    assert (second.accepted, second.quarantined) == (1, 0)
    with engine.connect() as conn:
        assert (
            conn.execute(select(Event.detail).where(Event.action == "search")).scalar_one()
            == "first part\r\nsecond part"
        )


def test_an_unclosed_quote_at_the_end_of_a_finished_file_is_quarantined(
    engine: Engine, settings: Settings, tmp_path: Path
):
    path = write_cp932(
        tmp_path / "unclosed.csv", [TAX_HEADER, 'R08.02.03 09:01:00,u1,T1,S1,11,K0101,06,2,1,0,"never closed']
    )
    summary = Ingestor(engine, settings).ingest_file(path, resolve_profile("demo-tax"))
    assert (summary.accepted, dict(summary.reasons)) == (0, {"bad_csv": 1})


def test_the_fast_and_the_slow_csv_paths_give_the_same_events(
    engine: Engine, settings: Settings, tmp_path: Path, small_city
):
    """Arrow splits unquoted blocks; the csv module reads quoted ones: the stored events must not differ."""
    tax = next(i.path for i in small_city.inputs if i.profile == "demo-tax")
    plain = tmp_path / "plain.csv"
    plain.write_bytes(tax.read_bytes())
    lines = tax.read_bytes().decode("cp932").split("\r\n")
    quoted = tmp_path / "quoted.csv"  # the same records, every field quoted (as Excel writes CSV)
    quoted.write_bytes(
        "\r\n".join(",".join(f'"{f}"' for f in ln.split(",")) if ln else ln for ln in lines).encode("cp932")
    )
    other = Settings(env="test", data_dir=settings.data_dir, database_url=f"sqlite:///{tmp_path / 'other.db'}")
    from auditd.store import migrate
    from auditd.store.db import make_engine

    second = make_engine(other.db_url)
    migrate.upgrade(second)
    a = Ingestor(engine, settings).ingest_file(plain, resolve_profile("demo-tax"))
    b = Ingestor(second, other).ingest_file(quoted, resolve_profile("demo-tax"))
    assert (a.accepted, a.quarantined) == (b.accepted, b.quarantined) and a.accepted > 100
    columns = [Event.ts, Event.user_id, Event.action, Event.jimu, Event.subject_hash, Event.detail, Event.raw_pos]
    with engine.connect() as c1, second.connect() as c2:
        left = c1.execute(select(*columns).order_by(Event.raw_pos)).all()
        right = c2.execute(select(*columns).order_by(Event.raw_pos)).all()
    assert [tuple(r) for r in left] == [tuple(r) for r in right]
    second.dispose()


def test_a_codec_that_is_not_a_text_encoding_is_refused_in_the_profile():
    from auditd.errors import ValidationFailed

    fields = {"ts": {"column": "a"}, "user_id": {"column": "b"}, "system": {"value": "s"}, "action": {"value": "view"}}
    base = {"name": "x", "format": "csv", "fields": fields}
    with pytest.raises(ValidationFailed, match="not a text encoding"):
        parse_profile({**base, "encoding": "base64"}, "inline")
    assert parse_profile({**base, "encoding": "cp932"}, "inline").encoding == "cp932"


def test_a_listener_run_keeps_identical_messages_of_different_batches_apart(engine: Engine, settings: Settings):
    from collectors.pipeline import StreamIngest

    line = "2026-02-03 10:00:00\tu1\tT1\tINQ\tJM01\t12\t他団体\t00"
    stream = StreamIngest(Ingestor(engine, settings), resolve_profile("demo-linkage"), "listener:t", identity="run")
    assert stream.ingest([line]).accepted == 1
    assert stream.ingest([line]).accepted == 1, "the same message sent again later is a second event"
    stream.close()
    with engine.connect() as conn:
        assert events_repo.raw_refs(conn, settings.municipality_code) == ["listener:t:1", "listener:t:2"]


def test_quarantined_records_keep_no_personal_number_escaped_or_cut(engine: Engine, settings: Settings, tmp_path: Path):
    import json

    full_width = VALID_NUMBER.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    escaped = json.dumps({"memo": full_width})  # {"memo": "\uff11\uff12…"}: the digits only as escapes
    long_line = "x" * 4090 + VALID_NUMBER + "}"  # the number straddles the 4,096 characters kept
    path = tmp_path / "w.jsonl"
    path.write_text("\n".join(["{oops " + escaped, long_line, "{also bad 1234.5678.9018"]) + "\n", encoding="utf-8")
    summary = Ingestor(engine, settings).ingest_file(path, resolve_profile("demo-welfare"))
    assert summary.quarantined == 3
    with engine.connect() as conn:
        stored = [r[0] for r in conn.execute(text("SELECT raw_text FROM quarantine ORDER BY raw_ref"))]
    assert len(stored) == 3 and all("[個人番号]" in t for t in stored), stored
    for number in (VALID_NUMBER, full_width, VALID_NUMBER[:8], "\\uff11\\uff12\\uff13\\uff14"):
        assert not any(number in t for t in stored)
