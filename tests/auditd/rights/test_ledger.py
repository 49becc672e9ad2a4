"""The 権限管理表 as CSV through the real API and the CLI: CP932 and UTF-8 files (real bytes), dates as
Excel and 和暦 write them, bad rows reported with their line and nothing applied, a second person on
an existing account refused, re-importing a file changes nothing, export → import round-trips, and
each issued grant is one ``grant_events`` row (origin ledger) with the import in the trail."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient
from rights_support import People, Register
from sqlalchemy import Engine, func, select

from auditd.reference.models import Account, Grant
from auditd.rights import ledger
from auditd.rights.models import GrantEvent
from auditd.trail.models import TrailEntry

HEADER = "職員番号,氏名,アカウント,ロール,開始日,終了日,所属,一時,備考\r\n"


def post_ledger(client: TestClient, data: bytes, **params: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    answer = client.post("/api/v1/rights/ledger", content=data, headers={"content-type": "text/csv"}, params=params)
    return answer.status_code, answer.json()


def grants(engine: Engine) -> list[tuple[str, str, date, date | None, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Grant.user_id, Grant.role, Grant.valid_from, Grant.valid_to, Grant.origin, Grant.status).order_by(
                Grant.user_id, Grant.valid_from
            )
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def count(engine: Engine, *where: object, model: type = GrantEvent) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def test_parse_day_reads_what_excel_and_wareki_write() -> None:
    assert ledger.parse_day("2025-04-01") == date(2025, 4, 1)
    assert ledger.parse_day("2025/4/1") == date(2025, 4, 1)
    assert ledger.parse_day("2025/04/01 0:00") == date(2025, 4, 1)
    assert ledger.parse_day("２０２５年４月１日") == date(2025, 4, 1)
    assert ledger.parse_day("令和7年4月1日") == date(2025, 4, 1)
    assert ledger.parse_day("R07.04.01") == date(2025, 4, 1)
    assert ledger.parse_day("令和元年5月1日") == date(2019, 5, 1)
    assert ledger.parse_day("2025/2/30") is None
    assert ledger.parse_day("来年") is None


def test_a_cp932_file_from_excel_is_imported_once(people: People, register: Register, engine: Engine) -> None:
    text = (
        HEADER
        + "S001,田中 一郎,u-s001,tax_resident,令和7年4月1日,2026/4/1,1101,,課税担当に配属\r\n"
        + "S003,高橋 三郎,u-s003,tax_property,2025/4/1,,1102,0,\r\n"
        + "S002,鈴木 花子,u-new2,tax_resident,2025-04-01,2025-10-01,1101,1,繁忙期の臨時\r\n"
    )
    data = text.encode("cp932")
    assert data != text.encode("utf-8")  # real Shift_JIS bytes, not UTF-8
    status, result = post_ledger(people.officer, data)
    assert status == 200, result
    assert result["applied"] and result["encoding"] == "cp932" and result["rows"] == 3
    assert (result["issued"], result["amended"], result["unchanged"]) == (3, 0, 0)
    assert result["accounts_created"] == ["u-new2"]
    assert grants(engine) == [
        ("u-new2", "tax_resident", date(2025, 4, 1), date(2025, 10, 1), "ledger", "active"),
        ("u-s001", "tax_resident", date(2025, 4, 1), date(2026, 4, 1), "ledger", "active"),
        ("u-s003", "tax_property", date(2025, 4, 1), None, "ledger", "active"),
    ]
    with engine.connect() as conn:
        assert conn.execute(select(Account.staff_id, Account.kind).where(Account.user_id == "u-new2")).one() == (
            "S002",
            "temporary",
        )
        issued = conn.execute(select(GrantEvent.actor, GrantEvent.detail).where(GrantEvent.action == "issued")).all()
    assert len(issued) == 3 and {a for a, _ in issued} == {"sato"}
    assert all('"origin": "ledger"' in d for _, d in issued)
    assert count(engine, TrailEntry.action == "rights_ledger_imported", model=TrailEntry) == 1

    again_status, again = post_ledger(people.officer, data)  # the same file again: nothing changes
    assert again_status == 200 and again["applied"]
    assert (again["issued"], again["amended"], again["unchanged"], again["accounts_created"]) == (0, 0, 3, [])
    assert len(grants(engine)) == 3 and count(engine, GrantEvent.action == "issued") == 3


def test_utf8_with_english_headers_and_an_amended_end(people: People, register: Register, engine: Engine) -> None:
    first = "staff_id,user_id,role,valid_from,valid_to\nS001,u-s001,tax_resident,2025-04-01,\n"
    assert post_ledger(people.officer, first.encode("utf-8"), encoding="utf-8")[0] == 200
    ended = (
        "\ufeffstaff_id,user_id,role,valid_from,valid_to,note\nS001,u-s001,tax_resident,2025-04-01,2026-03-31,年度末\n"
    )
    status, result = post_ledger(people.officer, ended.encode("utf-8"))
    assert status == 200 and result["encoding"] == "utf-8" and result["amended"] == 1
    assert grants(engine) == [("u-s001", "tax_resident", date(2025, 4, 1), date(2026, 3, 31), "ledger", "active")]
    assert count(engine, GrantEvent.action == "amended") == 1


def test_every_bad_row_is_reported_with_its_line_and_nothing_is_applied(
    people: People, register: Register, engine: Engine
) -> None:
    text = (
        HEADER
        + "S001,,u-s001,tax_resident,2025-04-01,,,,\r\n"  # line 2: good
        + "S001,,u-s001,no_such_role,2025-04-01,,,,\r\n"  # line 3: unknown role
        + "S002,,u-s002,tax_resident,2025-13-01,,,,\r\n"  # line 4: not a date
        + "S002,,u-s002,tax_resident,2025-04-01,2025-03-01,,,\r\n"  # line 5: ends before it starts
        + "S009,,u-s009,tax_resident,2025-04-01,,,,\r\n"  # line 6: nobody on the register
        + "S002,,u-s001,tax_resident,2025-05-01,,,,\r\n"  # line 7: another person on u-s001 (共用ID)
        + ",,u-tmp,tax_resident,2025-04-01,,,はい,\r\n"  # line 8: new account without 職員番号
        + "S003,,u-s003,tax_property,2025-04-01,,,maybe,\r\n"  # line 9: not yes/no
    )
    status, result = post_ledger(people.officer, text.encode("cp932"))
    assert status == 422 and not result["applied"]
    lines = {(e["line"], e["column"]) for e in result["errors"]}
    assert lines == {
        (3, "role"),
        (4, "valid_from"),
        (5, "valid_to"),
        (6, "staff_id"),
        (7, "staff_id"),
        (8, "staff_id"),
        (9, "temporary"),
    }
    shared = next(e for e in result["errors"] if e["line"] == 7)
    assert "IDの共用はできません" in shared["reason"]
    assert grants(engine) == [] and count(engine) == 0  # the good line 2 was not applied either
    assert count(engine, TrailEntry.action == "rights_ledger_imported", model=TrailEntry) == 0


def test_a_dry_run_changes_nothing(people: People, register: Register, engine: Engine) -> None:
    text = HEADER + "S001,,u-s001,tax_resident,2025-04-01,,,,\r\n"
    status, result = post_ledger(people.officer, text.encode("utf-8"), dry_run="true")
    assert status == 200 and result["dry_run"] and not result["applied"] and result["issued"] == 1
    assert grants(engine) == []


def test_unreadable_files_are_refused_whole(people: People, register: Register) -> None:
    assert post_ledger(people.officer, b"\xff\xfe\x00garbage\x81")[0] == 422  # neither UTF-8 nor CP932
    status, answer = post_ledger(people.officer, "氏名,備考\n田中,x\n".encode())
    assert status == 422 and "line 1" in answer["detail"]


def test_export_round_trips_in_both_encodings(
    people: People, register: Register, engine: Engine, settings: object
) -> None:
    text = (
        HEADER
        + "S001,,u-s001,tax_resident,2025-04-01,2026-04-01,,,\r\n"
        + "S003,,u-s003,tax_property,2025-04-01,,,,\r\n"
    )
    assert post_ledger(people.officer, text.encode("utf-8"))[0] == 200
    utf8 = people.auditor.get("/api/v1/rights/ledger.csv")
    assert utf8.status_code == 200 and utf8.headers["content-type"].startswith("text/csv")
    assert utf8.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs
    rows = list(csv.DictReader(io.StringIO(utf8.content.decode("utf-8-sig"))))
    assert [(r["アカウント"], r["ロール"], r["開始日"], r["終了日"], r["氏名"], r["所属"]) for r in rows] == [
        ("u-s001", "tax_resident", "2025-04-01", "2026-04-01", "田中 一郎", "1101"),
        ("u-s003", "tax_property", "2025-04-01", "", "高橋 三郎", "1102"),
    ]
    sjis = people.officer.get("/api/v1/rights/ledger.csv", params={"encoding": "cp932", "on": "2026-05-01"})
    assert sjis.status_code == 200 and "高橋" in sjis.content.decode("cp932")
    assert "u-s001" not in sjis.content.decode("cp932")  # ended 2026-04-01: not in force on 2026-05-01
    for exported in (utf8.content, sjis.content):
        status, result = post_ledger(people.officer, exported)
        assert status == 200 and result["issued"] == 0 and result["amended"] == 0, result
    assert count(engine, TrailEntry.action == "rights_ledger_exported", model=TrailEntry) == 2
    form = people.officer.get("/api/v1/rights/ledger.csv", params={"encoding": "utf-8", "on": ""})  # the page's form
    assert form.status_code == 200 and form.content == utf8.content
    assert people.officer.get("/api/v1/rights/ledger.csv", params={"on": "2026-13-01"}).status_code == 422


def test_cp932_export_marks_characters_it_lacks(people: People, register: Register, engine: Engine) -> None:
    staff = "staff_id,name,employment\nS001,𠮷田 一郎,regular\nS002,鈴木 花子,regular\nS003,高橋 三郎,regular\n"
    register(staff=staff)
    assert post_ledger(people.officer, (HEADER + "S001,,u-s001,tax_resident,2025-04-01,,,,\r\n").encode())[0] == 200
    answer = people.officer.get("/api/v1/rights/ledger.csv", params={"encoding": "cp932"})
    assert answer.status_code == 200 and answer.headers["x-auditd-replaced"] == "1"
    assert "〓田 一郎" in answer.content.decode("cp932")
    assert "𠮷田 一郎" in people.officer.get("/api/v1/rights/ledger.csv").content.decode("utf-8-sig")


def test_who_may_use_the_ledger(people: People, register: Register) -> None:
    data = (HEADER + "S001,,u-s001,tax_resident,2025-04-01,,,,\r\n").encode()
    assert post_ledger(people.auditor, data)[0] == 403
    assert post_ledger(people.head_1101, data)[0] == 403
    assert people.head_1101.get("/api/v1/rights/ledger.csv").status_code == 403
    multipart = people.officer.post("/api/v1/rights/ledger", files={"file": ("kengen.csv", data, "text/csv")})
    assert multipart.status_code == 200 and multipart.json()["issued"] == 1


def test_the_ledger_from_the_command_line(
    people: People, register: Register, engine: Engine, env_for_cli: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "kengen.csv"
    source.write_bytes((HEADER + "S001,,u-s001,tax_resident,令和7年4月1日,,,,\r\n").encode("cp932"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "auditd", "rights", "ledger", *args],
            env=env_for_cli, capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip

    dry = run("import", str(source), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "1 issued" in dry.stdout and "dry run" in dry.stdout and grants(engine) == []
    done = run("import", str(source))
    assert done.returncode == 0 and "applied" in done.stdout, done.stdout + done.stderr
    assert len(grants(engine)) == 1
    out = tmp_path / "out.csv"
    exported = run("export", "--out", str(out), "--encoding", "cp932")
    assert exported.returncode == 0 and "1 grants" in exported.stdout, exported.stderr
    assert "u-s001" in out.read_bytes().decode("cp932")
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "S001,,u-s001,tax_resident,someday,,,,\r\n", encoding="utf-8")
    refused = run("import", str(bad))
    assert refused.returncode == 1 and "not a date" in refused.stdout
