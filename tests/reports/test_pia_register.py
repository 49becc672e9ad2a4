"""The PIA register (評価書台帳): due dates (規則第15条: review yearly, re-assess within five years),
reviews kept append-only, the CSV import in the encodings Japanese offices use, the reminder mails,
and the API."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from reports_support import jst
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import DatabaseError

from auditd.auth import tokens
from auditd.auth.models import PlatformRole
from auditd.auth.testing import add_user, log_in
from auditd.errors import NotFound, ValidationFailed
from auditd.mail import service as mail
from auditd.mail.models import MailOutbox
from auditd.reports import repository as repo
from auditd.reports.models import add_years, reassessment_due, review_due
from auditd.settings import Settings
from auditd.store.base import table_of
from auditd.store.models import APPEND_ONLY_TABLES
from auditd.trail.models import TrailEntry
from reports import jobs, pia
from reports.schemas import PiaIn, PiaReviewIn

CODE = "999997"
NOW = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
TODAY = date(2026, 11, 2)


def _add(conn: Connection, title: str, published: date, **extra: object) -> int:
    body = PiaIn.model_validate(
        {"title": title, "jimu": "個人住民税", "kind": "full", "published_on": published, **extra}
    )
    return pia.add(conn, CODE, body, actor="sato", client="test", now=NOW)


def _trail(conn: Connection, action: str) -> list[dict[str, object]]:
    table = table_of(TrailEntry)
    rows = conn.execute(select(table).where(table.c.action == action).order_by(table.c.id))
    return [dict(r._mapping) for r in rows]


# -- due dates --------------------------------------------------------------------------------------


def test_due_dates_count_a_year_and_five_years_and_a_leap_day_lands_on_28_february():
    assert add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)  # never later than a year
    assert add_years(date(2024, 2, 29), 4) == date(2028, 2, 29)  # a leap year keeps it
    assert add_years(date(2024, 2, 29), 5) == date(2029, 2, 28)
    assert review_due(date(2024, 2, 29), None, None) == date(2025, 2, 28)
    assert reassessment_due(date(2024, 2, 29), None) == date(2029, 2, 28)
    # the latest of publication, last review and re-assessment counts for the review
    assert review_due(date(2021, 6, 1), date(2025, 5, 20), None) == date(2026, 5, 20)
    assert review_due(date(2021, 6, 1), date(2024, 5, 20), date(2025, 7, 1)) == date(2026, 7, 1)
    assert reassessment_due(date(2021, 6, 1), date(2025, 7, 1)) == date(2030, 7, 1)


def test_the_register_lists_due_dates_and_marks_the_overdue(db: Connection):
    late = _add(db, "個人住民税 全項目評価書", date(2021, 6, 1), last_reviewed_on=date(2025, 6, 1))
    fine = _add(db, "国保 重点項目評価書", date(2026, 3, 1))
    leap = _add(db, "介護保険 基礎項目評価書", date(2024, 2, 29))
    listed = {p.id: p for p in pia.register(db, CODE, TODAY)}
    assert listed[late].review_due == date(2026, 6, 1) and listed[late].review_overdue
    assert listed[late].reassessment_due == date(2026, 6, 1) and listed[late].reassessment_overdue
    assert listed[fine].review_due == date(2027, 3, 1) and not listed[fine].review_overdue
    assert listed[leap].review_due == date(2025, 2, 28) and listed[leap].reassessment_due == date(2029, 2, 28)
    # what the annual report reads
    register = {r["id"]: r for r in repo.pia_register(db, CODE)}
    assert register[late]["review_due"] == date(2026, 6, 1) and register[late]["kind"] == "full"
    assert set(register[late]) >= {
        "title",
        "jimu",
        "kind",
        "published_on",
        "last_reviewed_on",
        "reassessed_on",
        "review_due",
        "reassessment_due",
    }
    assert len(_trail(db, "pia.add")) == 3


def test_a_review_pushes_the_due_date_and_is_kept_in_the_history(db: Connection):
    pia_id = _add(db, "個人住民税 全項目評価書", date(2021, 6, 1))
    before = pia.one(db, CODE, pia_id, TODAY)
    assert before.review_due == date(2022, 6, 1) and before.review_overdue

    after = pia.review(
        db,
        CODE,
        pia_id,
        PiaReviewIn(reviewed_on=date(2026, 10, 1), note="体制変更なし"),
        actor="sato",
        client="test",
        now=NOW,
        today=TODAY,
    )
    assert after.last_reviewed_on == date(2026, 10, 1)
    assert after.review_due == date(2027, 10, 1) and not after.review_overdue
    assert after.reassessment_due == date(2026, 6, 1) and after.reassessment_overdue  # a review is not a re-assessment

    # an older review recorded late is kept, but moves nothing back
    older = pia.review(
        db, CODE, pia_id, PiaReviewIn(reviewed_on=date(2025, 9, 1)), actor="sato", client="test", now=NOW, today=TODAY
    )
    assert older.review_due == date(2027, 10, 1)

    reassessed = pia.review(
        db,
        CODE,
        pia_id,
        PiaReviewIn(reviewed_on=date(2026, 11, 1), kind="reassessment"),
        actor="sato",
        client="test",
        now=NOW,
        today=TODAY,
    )
    assert reassessed.reassessment_due == date(2031, 11, 1) and reassessed.review_due == date(2027, 11, 1)
    assert [(r.kind, r.reviewed_on) for r in reassessed.reviews or []] == [
        ("review", date(2025, 9, 1)),
        ("review", date(2026, 10, 1)),
        ("reassessment", date(2026, 11, 1)),
    ]
    assert [e["target_id"] for e in _trail(db, "pia.review")] == [str(pia_id)] * 3

    with pytest.raises(ValidationFailed, match="future"):
        pia.review(
            db, CODE, pia_id, PiaReviewIn(reviewed_on=date(2026, 11, 3)), actor="s", client="t", now=NOW, today=TODAY
        )
    with pytest.raises(ValidationFailed, match="before the publication"):
        pia.review(
            db, CODE, pia_id, PiaReviewIn(reviewed_on=date(2020, 1, 1)), actor="s", client="t", now=NOW, today=TODAY
        )
    pia.withdraw(db, CODE, pia_id, actor="sato", client="test", now=NOW)
    assert pia.register(db, CODE, TODAY) == [] and repo.pia_register(db, CODE) == []
    with pytest.raises(NotFound):
        pia.review(db, CODE, pia_id, PiaReviewIn(reviewed_on=TODAY), actor="s", client="t", now=NOW, today=TODAY)


@pytest.mark.parametrize("statement", ["UPDATE pia_reviews SET note = 'changed'", "DELETE FROM pia_reviews"])
def test_the_review_history_is_append_only(engine: Engine, statement: str):
    assert "pia_reviews" in APPEND_ONLY_TABLES
    with engine.begin() as conn:
        pia_id = _add(conn, "個人住民税 全項目評価書", date(2021, 6, 1))
        pia.review(
            conn,
            CODE,
            pia_id,
            PiaReviewIn(reviewed_on=date(2026, 10, 1), note="初回"),
            actor="sato",
            client="test",
            now=NOW,
            today=TODAY,
        )
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT note FROM pia_reviews")).scalars().all() == ["初回"]


# -- CSV ----------------------------------------------------------------------------------------------

CSV = (
    "評価書名,事務,評価の種類,公表日,直近の見直し日,再評価日\r\n"
    "個人住民税に関する事務 全項目評価書,個人住民税,全項目評価,2021/06/01,2025-06-01,\r\n"
    "国民健康保険料の滞納管理 重点項目評価書,国保料滞納管理,重点項目,令和6年2月29日,,\r\n"
)


@pytest.mark.parametrize("encoding", ["cp932", "utf-8-sig", "utf-8"])
def test_the_csv_import_reads_cp932_and_utf8_with_or_without_a_bom(db: Connection, encoding: str):
    added, skipped = pia.import_csv(db, CODE, CSV.encode(encoding), actor="sato", client="test", now=NOW)
    assert (added, skipped) == (2, 0)
    listed = {p.jimu: p for p in pia.register(db, CODE, TODAY)}
    assert listed["個人住民税"].kind == "full" and listed["個人住民税"].last_reviewed_on == date(2025, 6, 1)
    assert listed["国保料滞納管理"].kind == "focused" and listed["国保料滞納管理"].published_on == date(2024, 2, 29)
    # the same file again adds nothing
    assert pia.import_csv(db, CODE, CSV.encode(encoding), actor="sato", client="test", now=NOW) == (0, 2)
    # the export reads back
    exported = pia.export_csv(db, CODE, TODAY)
    assert exported.startswith(b"\xef\xbb\xbf") and "次回見直し期限" in exported.decode("utf-8-sig")
    assert {body.title for _line, body in pia.parse_csv(exported)} == {
        "個人住民税に関する事務 全項目評価書",
        "国民健康保険料の滞納管理 重点項目評価書",
    }


def test_a_bad_row_is_named_by_its_line_and_nothing_is_imported(db: Connection):
    bad = (
        CSV
        + "介護保険 基礎項目評価書,介護保険,簡易評価,2024-04-01,,\r\n"
        + "住基 全項目評価書,住基,全項目評価,2024-13-01,,\r\n"
    )
    with pytest.raises(ValidationFailed) as raised:
        pia.import_csv(db, CODE, bad.encode("cp932"), actor="sato", client="test", now=NOW)
    assert "line 4" in raised.value.message and "簡易評価" in raised.value.message
    assert "line 5" in raised.value.message and "nothing imported" in raised.value.message
    assert pia.register(db, CODE, TODAY) == [] and _trail(db, "pia.add") == []
    with pytest.raises(ValidationFailed, match="lacks the column"):
        pia.import_csv(db, CODE, "評価書名,事務\r\nx,y\r\n".encode(), actor="s", client="t", now=NOW)
    with pytest.raises(ValidationFailed, match="neither UTF-8 nor CP932"):
        pia.import_csv(db, CODE, b"\x81\x7f,\x85\x40", actor="s", client="t", now=NOW)


# -- reminders ----------------------------------------------------------------------------------------


def _mails(engine: Engine) -> list[dict[str, object]]:
    table = table_of(MailOutbox)
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.kind, table.c.recipient, table.c.subject, table.c.body_text))
        return [dict(r._mapping) for r in rows]


def test_the_reminder_job_queues_one_mail_per_recipient_per_day_and_none_when_nothing_is_due(
    engine: Engine, settings: Settings
):
    with engine.begin() as conn:
        for address in ("kansa@city.example.jp", "joho@city.example.jp"):
            mail.add_recipient(conn, CODE, address, actor="test", now=jst("2026-10-01 09:00"))
        mail.add_recipient(
            conn, CODE, "digest-only@city.example.jp", reminders=False, actor="test", now=jst("2026-10-01 09:00")
        )
        _add(conn, "国保 重点項目評価書", date(2026, 3, 1))  # review due 2027-03-01
    assert "0 mail(s)" in jobs.pia_reminders_job(settings, engine, now=jst("2026-11-02 08:45"))
    assert _mails(engine) == []

    with engine.begin() as conn:
        _add(conn, "個人住民税 全項目評価書", date(2021, 6, 1), last_reviewed_on=date(2025, 11, 20))
    summary = jobs.pia_reminders_job(settings, engine, now=jst("2026-11-02 08:45"))
    # the review is due in 18 days and the re-assessment (2026-06-01) is overdue
    assert "2 PIA review(s)" in summary and "2 mail(s) queued" in summary
    mails = _mails(engine)
    assert sorted(m["recipient"] for m in mails) == ["joho@city.example.jp", "kansa@city.example.jp"]
    body = str(mails[0]["body_text"])
    assert mails[0]["kind"] == "pia" and "期限超過 1 件" in str(mails[0]["subject"])
    assert "個人住民税 全項目評価書" in body and "2026-11-20" in body and "2026-06-01" in body
    assert "国保 重点項目評価書" not in body

    # the same day again: nothing more; the next day: one each again
    assert "0 mail(s)" in jobs.pia_reminders_job(settings, engine, now=jst("2026-11-02 12:00"))
    assert "2 mail(s)" in jobs.pia_reminders_job(settings, engine, now=jst("2026-11-03 08:45"))
    assert len(_mails(engine)) == 4


# -- the API ------------------------------------------------------------------------------------------


def _person(app: FastAPI, engine: Engine, settings: Settings, role: PlatformRole, name: str) -> TestClient:
    user = add_user(engine, settings, role, name, section_code="1101" if role == PlatformRole.SECTION_HEAD else None)
    client = TestClient(app)
    assert log_in(client, user).status_code == 303
    return client


def test_the_api_adds_reviews_and_lists_by_role(app: FastAPI, engine: Engine, settings: Settings):
    officer = _person(app, engine, settings, PlatformRole.OFFICER, "sato")
    auditor = _person(app, engine, settings, PlatformRole.AUDITOR, "kato")
    head = _person(app, engine, settings, PlatformRole.SECTION_HEAD, "suzuki")
    with engine.begin() as conn:
        issued = tokens.create_token(conn, CODE, "reader", scopes=("reports:read",), actor="t")
    reader = TestClient(app, headers={"Authorization": f"Bearer {issued.token}"})

    body = {"title": "個人住民税 全項目評価書", "jimu": "個人住民税", "kind": "full", "published_on": "2021-06-01"}
    assert auditor.post("/api/v1/pia", json=body).status_code == 403
    assert reader.post("/api/v1/pia", json=body).status_code == 403
    made = officer.post("/api/v1/pia", json=body)
    assert made.status_code == 201, made.text
    pia_id = made.json()["id"]
    assert made.json()["review_due"] == "2022-06-01" and made.json()["review_overdue"] is True
    assert officer.post("/api/v1/pia", json={**body, "kind": "simple"}).status_code == 422

    reviewed = officer.post(f"/api/v1/pia/{pia_id}/reviews", json={"reviewed_on": "2025-12-01", "note": "確認"})
    assert reviewed.status_code == 201, reviewed.text
    assert reviewed.json()["review_due"] == "2026-12-01" and len(reviewed.json()["reviews"]) == 1
    assert auditor.post(f"/api/v1/pia/{pia_id}/reviews", json={"reviewed_on": "2025-12-01"}).status_code == 403
    assert officer.post("/api/v1/pia/999/reviews", json={"reviewed_on": "2025-12-01"}).status_code == 404

    for client in (officer, auditor, reader):
        listed = client.get("/api/v1/pia")
        assert listed.status_code == 200 and [p["id"] for p in listed.json()["items"]] == [pia_id]
        assert client.get(f"/api/v1/pia/{pia_id}").json()["reviews"][0]["note"] == "確認"
    assert head.get("/api/v1/pia").status_code == 403
