from __future__ import annotations

from datetime import date, time
from pathlib import Path

from sqlalchemy import Engine, text

from auditd.privacy.pseudonym import Pseudonymiser
from auditd.privacy.vault import Vault
from auditd.settings import Settings
from collectors.profile import REFERENCE_KINDS, builtin_profiles, resolve_profile
from collectors.reference import ReferenceImporter


def test_every_reference_kind_has_a_standard_profile():
    assert {f"standard-{k}" for k in REFERENCE_KINDS} <= set(builtin_profiles())


def test_staff_import_types_values_and_pseudonymises_the_person_as_resident(
    engine: Engine, settings: Settings, tmp_path: Path
):
    path = tmp_path / "staff.csv"
    path.write_bytes(
        (
            "staff_id,name,name_kana,employment,contractor,pledge_date,hired_on,retired_on,resident,household,home_area\r\n"
            "E1,佐藤 翔太,サトウ ショウタ,regular,,,2015/04/01,,0000012345,H1,01-01\r\n"
            "E2,鈴木 陽子,スズキ ヨウコ,contractor,委託株式会社,R07.04.01,2025-04-01,,,,\r\n"
            "E3,壊れた 日付,,regular,,,2015-13-45,,,,\r\n"
        ).encode("cp932")
    )
    summary = ReferenceImporter(engine, settings).import_file(path, resolve_profile("standard-staff"))
    assert (summary.read, summary.stored, summary.quarantined) == (3, 2, 1)
    assert dict(summary.reasons) == {"bad_hired_on": 1}
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT staff_id, hired_on, pledge_date, resident_hash FROM staff ORDER BY staff_id")
        ).all()
    assert rows[0].resident_hash == Pseudonymiser(settings.secret("pseudonym_key"), settings.municipality_code).one(
        "12345"
    )
    assert str(rows[1].pledge_date) == str(date(2025, 4, 1))


def test_replace_and_upsert_modes(engine: Engine, settings: Settings, tmp_path: Path):
    importer = ReferenceImporter(engine, settings)
    terminals = tmp_path / "terminals.csv"
    terminals.write_text(
        "terminal_id,section_code,segment,kind,registered_on,retired_on\nT1,1101,mynumber,desktop,2024-04-01,\n"
        "T2,1101,lgwan,desktop,2024-04-01,\n",
        encoding="utf-8",
    )
    importer.import_file(terminals, resolve_profile("standard-terminals"))
    terminals.write_text(
        "terminal_id,section_code,segment,kind,registered_on,retired_on\nT1,1101,mynumber,desktop,2024-04-01,2026-01-01\n",
        encoding="utf-8",
    )
    importer.import_file(terminals, resolve_profile("standard-terminals"))
    cases = tmp_path / "cases.csv"
    header = "case_id,jimu,kind,subject,section_code,assignee,opened_at,closed_at\n"
    cases.write_text(
        header + "C1,収納・滞納,delinquency,12,1103,E1,2026-01-05T09:00:00+09:00,\n"
        "C2,収納・滞納,delinquency,13,1103,E1,2026-01-05T09:00:00+09:00,\n",
        encoding="utf-8",
    )
    importer.import_file(cases, resolve_profile("standard-cases"))
    cases.write_text(
        header + "C1,収納・滞納,delinquency,12,1103,E1,2026-01-05T09:00:00+09:00,2026-02-01T17:00:00+09:00\n",
        encoding="utf-8",
    )
    importer.import_file(cases, resolve_profile("standard-cases"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT terminal_id FROM terminals")).scalars().all() == ["T1"]
        closed = dict(conn.execute(text("SELECT case_id, closed_at FROM cases")).all())
        sealed = conn.execute(text("SELECT subject_hash, sealed FROM subjects")).all()
    assert set(closed) == {"C1", "C2"} and closed["C1"] is not None and closed["C2"] is None
    vault = Vault(settings.secret("encryption_key"))
    assert sorted(vault.open(settings.municipality_code, h, s) for h, s in sealed) == ["12", "13"]


def test_calendar_and_overtime_values(engine: Engine, settings: Settings, tmp_path: Path):
    importer = ReferenceImporter(engine, settings)
    calendar = tmp_path / "calendar.csv"
    calendar.write_text(
        "day,is_open,name\n2026-01-12,閉庁,成人の日\n2026-01-13,1,\n2026-01-14,maybe,\n", encoding="utf-8"
    )
    summary = importer.import_file(calendar, resolve_profile("standard-calendar"))
    assert (summary.stored, summary.quarantined) == (2, 1)
    overtime = tmp_path / "overtime.csv"
    overtime.write_text("staff_id,day,start,end,approver,reason\nE1,2026-01-13,17:15,20:00,H,申告\n", encoding="utf-8")
    importer.import_file(overtime, resolve_profile("standard-overtime"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT is_open FROM calendar_days ORDER BY day")).scalars().all() == [
            False,
            True,
        ]
        start, end = conn.execute(text('SELECT start, "end" FROM overtime')).one()
    assert (str(start)[:5], str(end)[:5]) == (str(time(17, 15))[:5], "20:00")


def test_integer_and_datetime_columns_are_stored_as_such(engine: Engine, settings: Settings, tmp_path: Path):
    path = tmp_path / "approvals.csv"
    path.write_text("approval_id,staff_id,user_id,jimu,action,max_count,valid_from,valid_to,approver,purpose\n"
                    "A1,,batch_tax,収納・滞納,print,5000,2026-01-07T00:00:00+09:00,2026-01-08T00:00:00+09:00,H,通知書\n",
                    encoding="utf-8")  # fmt: skip
    ReferenceImporter(engine, settings).import_file(path, resolve_profile("standard-output_approvals"))
    from sqlalchemy import select

    from auditd.reference.models import OutputApproval

    with engine.connect() as conn:
        row = conn.execute(select(OutputApproval.max_count, OutputApproval.user_id, OutputApproval.valid_from)).one()
    assert row.max_count == 5000 and isinstance(row.max_count, int)
    assert row.user_id == "batch_tax"
    assert row.valid_from.isoformat() == "2026-01-06T15:00:00+00:00"


def test_an_empty_cell_takes_the_columns_default(engine: Engine, settings: Settings, tmp_path: Path):
    path = tmp_path / "sections.csv"
    path.write_text(
        "section_code,name,parent_code,hours_start,hours_end,weekend_counter\n"
        "1101,市民税課,,,,\n"
        "1201,市民課,,08:30,17:15,はい\n",
        encoding="utf-8",
    )
    summary = ReferenceImporter(engine, settings).import_file(path, resolve_profile("standard-sections"))
    assert (summary.stored, summary.quarantined) == (2, 0)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT section_code, weekend_counter FROM sections ORDER BY section_code")).all()
    assert [(code, bool(flag)) for code, flag in rows] == [("1101", False), ("1201", True)]
