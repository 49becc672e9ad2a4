"""Evidence export of a case: CSV and PDF over events stored in the hand-made test town
(:mod:`detectors.testing`), on each backend, with the policy's violations stored as the engine stores them."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pypdfium2 as pdfium
import pytest
from fontTools.ttLib import TTFont
from sqlalchemy import Engine

from auditd.cases.evidence import CSV_COLUMNS, CaseSummary, Evidence, case_evidence
from auditd.decisions import repository as decisions_repo
from auditd.events import repository as events_repo
from auditd.fonts import JAPANESE_FONT, JAPANESE_FONT_LICENSE
from auditd.reference import repository as reference_repo
from auditd.reference.models import Account, Grant, Section, Staff, StaffAssignment, Terminal
from auditd.settings import Settings
from collectors.pipeline import event_ids
from detectors.testing import at, day, event, town
from policies.rules import BY_KEY

CODE = "999997"
NOW = datetime(2026, 2, 10, 9, 0, tzinfo=UTC)
HEADERS = [header for _, header in CSV_COLUMNS]
KEYS = [key for key, _ in CSV_COLUMNS]
OFF_HOURS_EVIDENCE = {"day_kind": "開庁日", "time": "22:10", "hours": "08:30–17:15", "roles": ["tax"]}
FOREIGN_EVIDENCE = {"section": "2101", "terminal_id": "T2", "terminal_section": "1101"}


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Reference rows as the feeds give them: dates as ``date``, missing values as None."""
    out = []
    for row in frame.to_dict("records"):
        clean: dict[str, Any] = {}
        for key, value in row.items():
            if isinstance(value, pd.Timestamp):
                value = value.date()
            elif value is not None and not isinstance(value, list | str) and pd.isna(value):
                value = None
            clean[key] = value
        out.append({"municipality_code": CODE, **clean})
    return out


def _store_town(conn) -> None:
    """The test town, with ``E2`` (account ``u2``) moved from 1101 to 2101 on 2026-02-01, its grant
    changing from tax to nhi that day."""
    tables = town()
    assignments = tables["assignments"]
    assignments.loc[assignments["staff_id"] == "E2", "valid_to"] = day("2026-02-01")
    moved = {"staff_id": "E2", "section_code": "2101", "valid_from": day("2026-02-01"), "valid_to": pd.NaT}
    assignments = pd.concat([assignments, pd.DataFrame([moved])], ignore_index=True)
    grants = tables["grants"]
    grants.loc[grants["user_id"] == "u2", "valid_to"] = day("2026-02-01")
    nhi = {"user_id": "u2", "role": "nhi", "valid_from": day("2026-02-01"), "valid_to": pd.NaT, "status": "active",
           "ended_on": pd.NaT}  # fmt: skip
    grants = pd.concat([grants, pd.DataFrame([nhi])], ignore_index=True)
    sections = pd.DataFrame(
        {"section_code": ["1101", "2101", "9101"], "name": ["市民税課", "国保年金課", "情報政策課"]}
    )
    reference_repo.ensure_municipality(conn, CODE, "テスト町", created_at=NOW)
    for model, frame in (
        (Section, sections),
        (Staff, tables["staff"]),
        (StaffAssignment, assignments),
        (Account, tables["accounts"]),
        (Grant, grants),
        (Terminal, tables["terminals"]),
    ):
        reference_repo.replace_rows(conn, model, CODE, _records(frame))


def _store_events(conn, rows: list[dict[str, Any]], *, decided_by: int | None) -> list[str]:
    """Store events as one ingest batch (decided by the policy version ``decided_by``, if given), with ids
    laid out as the collectors make them; returns the ids in the order of ``rows``."""
    frame = pd.DataFrame(rows)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    hashes = [hashlib.sha256(f"{i}-{r['event_id']}".encode()).digest()[:16] for i, r in enumerate(rows)]
    frame["event_id"] = event_ids(frame["ts"], hashes)  # 16 bytes, as the bulk path takes them
    run_id = events_repo.create_run(
        conn, municipality_code=CODE, source="tax", profile="test", input="/var/log/tax/audit.csv", started_at=NOW
    )
    batch_id = events_repo.create_batch(
        conn, municipality_code=CODE, run_id=run_id, created_at=NOW, event_count=len(frame),
        min_ts=frame["ts"].min().to_pydatetime(), max_ts=frame["ts"].max().to_pydatetime(),
    )  # fmt: skip
    frame["municipality_code"] = CODE
    frame["batch_id"] = batch_id
    frame["raw_pos"] = range(1, len(frame) + 1)
    frame["pii_masked"] = False
    for column in ("screen", "session_id"):
        frame[column] = None
    events_repo.insert_events(conn, frame[list(events_repo.EVENT_COLUMNS)])
    if decided_by is not None:
        decisions_repo.mark_decided(conn, [batch_id], decided_by, NOW)
    return [str(uuid.UUID(bytes=raw)) for raw in frame["event_id"]]


def _violation(event_id: str, ts: pd.Timestamp, user_id: str, rule: str, evidence: dict[str, Any], version: int):
    """A violation row as the policy engine stores it (event ids as 16 bytes on the bulk path)."""
    return {
        "municipality_code": CODE,
        "ts": ts,
        "event_id": uuid.UUID(event_id).bytes,
        "rule": rule,
        "policy_version_id": version,
        "user_id": user_id,
        "evidence": json.dumps(evidence, ensure_ascii=False),
        "decided_at": NOW,
    }


class Story:
    """What :func:`story` stored: the ids by name, and the case."""

    def __init__(self, ids: dict[str, str], case: CaseSummary) -> None:
        self.ids = ids
        self.case = case


@pytest.fixture
def story(engine: Engine) -> Story:
    """u1 looks at residents by day and once at night (P04); u2 is moved to 2101 on 2026-02-01 and then
    works on a 1101 terminal (P11); one lookup a minute after midnight JST on the day of the move (still
    the day before in UTC); one event in a batch not decided yet."""
    decided = [
        event("2026-02-03 10:00", subject_hash="a1" * 16),
        event("2026-02-03 22:10", subject_hash="b2" * 16),
        event("2026-01-20 10:00", user_id="u2", terminal_id="T2", subject_hash="c3" * 16),
        event("2026-02-05 10:00", user_id="u2", terminal_id="T2", subject_hash="d4" * 16),
        event("2026-02-01 00:01", user_id="u2", terminal_id="T2", subject_hash=None, action="search"),
        event("2026-02-04 11:00", terminal_id="T99", subject_hash="e5" * 16),
    ]
    with engine.begin() as conn:
        _store_town(conn)
        version = decisions_repo.add_version(
            conn, municipality_code=CODE, digest="0" * 64, name="test", valid_from=at("2026-01-01 00:00"),
            loaded_at=NOW, sources="[]", content="{}",
        )  # fmt: skip
        ids = _store_events(conn, decided, decided_by=version)
        (pending,) = _store_events(conn, [event("2026-02-06 09:30", subject_hash="f6" * 16)], decided_by=None)
        named = dict(zip(["day", "night", "before_move", "after_move", "midnight", "unregistered"], ids, strict=True))
        named["pending"] = pending
        ts = {i: r["ts"] for i, r in zip(ids, decided, strict=True)}
        decisions_repo.insert_violations(
            conn,
            pd.DataFrame(
                [
                    _violation(named["night"], ts[named["night"]], "u1", "off_hours", OFF_HOURS_EVIDENCE, version),
                    _violation(
                        named["after_move"],
                        ts[named["after_move"]],
                        "u2",
                        "foreign_terminal",
                        FOREIGN_EVIDENCE,
                        version,
                    ),
                    _violation(
                        named["unregistered"],
                        ts[named["unregistered"]],
                        "u1",
                        "unregistered_terminal",
                        {"terminal_id": "T99"},
                        version,
                    ),
                ]
            ),
        )
    case = CaseSummary(
        case_id=7,
        title="u1 の夜間照会と u2 の異動後の端末",
        status="investigating",
        severity="high",
        user_id="u1",
        section="1101",
        opened_at=NOW,
        disposition=None,
        alerts=[
            {
                "id": 41,
                "rule": "D01",
                "title": "業務時間外のアクセス",
                "severity": "medium",
                "start": at("2026-02-03 22:10").to_pydatetime(),
                "end": at("2026-02-03 22:10").to_pydatetime(),
                "explanation": "u1 が 02/03 22:10 に業務時間外で住民1人の記録を照会しました（1件）。",
            }
        ],
    )
    return Story(named, case)


def _export(engine: Engine, settings: Settings, case: CaseSummary, ids: list[str]) -> Evidence:
    with engine.connect() as conn:
        return case_evidence(conn, settings, CODE, case, ids, generated_by="auditor1", now=NOW)


def _csv_rows(evidence: Evidence) -> list[dict[str, str]]:
    text = evidence.csv.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    header, *rows = list(reader)
    assert header == HEADERS
    return [dict(zip(KEYS, row, strict=True)) for row in rows]


# -- CSV -----------------------------------------------------------------------------------------------------------


def test_csv_has_one_row_per_stored_event_with_decisions_and_reference_in_japan_time(
    engine: Engine, settings: Settings, story: Story
):
    ids = story.ids
    asked = [*ids.values(), ids["night"], str(uuid.uuid4()), "not-an-id"]  # a duplicate, one unknown, one malformed
    evidence = _export(engine, settings, story.case, asked)

    assert evidence.csv.startswith(b"\xef\xbb\xbf")
    assert evidence.csv.count(b"\r\n") == len(ids) + 1 and b"\n" not in evidence.csv.replace(b"\r\n", b"")
    assert evidence.csv.decode("utf-8-sig").split("\r\n")[0] == ",".join(HEADERS)
    assert evidence.event_count == len(ids)
    assert evidence.sha256_csv == hashlib.sha256(evidence.csv).hexdigest()
    assert evidence.sha256_pdf == hashlib.sha256(evidence.pdf).hexdigest()

    rows = _csv_rows(evidence)
    by_id = {r["event_id"]: r for r in rows}
    assert set(by_id) == set(ids.values())  # nothing for ids not in the store
    assert [r["ts"] for r in rows] == sorted(r["ts"] for r in rows)

    night = by_id[ids["night"]]
    assert night["ts"] == "2026-02-03 22:10:00.000"  # JST, not the stored 13:10 UTC
    assert night["decision"] == "違反"
    assert night["rules"] == "P04 業務時間外・閉庁日"
    assert night["reasons"] == BY_KEY["off_hours"].reason(OFF_HOURS_EVIDENCE)
    assert "22:10 の操作で、業務時間（08:30–17:15）外" in night["reasons"]
    assert night["subject_hash"] == "b2" * 16
    assert night["user_id"] == "u1" and night["person"] == "E1 職員1" and night["account_kind"] == "個人"
    assert night["section"] == "1101 市民税課"
    assert night["grants"] == "tax（2020-04-01〜）"
    assert night["terminal_segment"] == "個人番号利用事務系" and night["terminal_status"] == "登録済"
    assert night["action"] == "view（照会）" and night["policy_version"] != ""
    assert night["raw_ref"].startswith("/var/log/tax/audit.csv:")

    day_row = by_id[ids["day"]]
    assert day_row["decision"] == "許可" and day_row["rules"] == "" and day_row["reasons"] == ""
    assert by_id[ids["pending"]]["decision"] == "未判定"

    before, after = by_id[ids["before_move"]], by_id[ids["after_move"]]
    assert before["section"] == "1101 市民税課" and before["grants"] == "tax（2020-04-01〜2026-02-01）"
    assert after["section"] == "2101 国保年金課" and after["grants"] == "nhi（2026-02-01〜）"
    assert after["terminal_section"] == "1101 市民税課"
    assert after["rules"] == f"{BY_KEY['foreign_terminal'].code} {BY_KEY['foreign_terminal'].title_ja}"
    assert after["reasons"] == BY_KEY["foreign_terminal"].reason(FOREIGN_EVIDENCE)

    midnight = by_id[ids["midnight"]]  # 2026-01-31 15:01 UTC: the day of the move in Japan
    assert midnight["ts"] == "2026-02-01 00:01:00.000"
    assert midnight["section"] == "2101 国保年金課" and midnight["grants"] == "nhi（2026-02-01〜）"
    assert midnight["subject_hash"] == ""

    unregistered = by_id[ids["unregistered"]]
    assert unregistered["terminal_status"] == "未登録" and unregistered["terminal_segment"] == ""
    assert unregistered["rules"].startswith("P")


def test_export_is_repeatable_and_an_unknown_case_has_an_empty_table(engine: Engine, settings: Settings, story: Story):
    first = _export(engine, settings, story.case, list(story.ids.values()))
    again = _export(engine, settings, story.case, list(reversed(story.ids.values())))
    assert first.csv == again.csv and first.sha256_pdf == again.sha256_pdf

    empty = _export(engine, settings, story.case, [str(uuid.uuid4())])
    assert empty.event_count == 0
    assert empty.csv == ("\ufeff" + ",".join(HEADERS) + "\r\n").encode()
    assert len(pdfium.PdfDocument(empty.pdf)) == 1


def test_no_mynumber_in_clear_in_either_file(engine: Engine, settings: Settings, story: Story):
    evidence = _export(engine, settings, story.case, list(story.ids.values()))
    text = evidence.csv.decode("utf-8-sig") + _pdf_text(evidence.pdf)
    assert not re.search(r"(?<!\d)\d{12}(?!\d)", text)


# -- PDF -----------------------------------------------------------------------------------------------------------


def _pdf_text(pdf: bytes) -> str:
    document = pdfium.PdfDocument(pdf)
    return "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))


def _embedded_fonts(pdf: bytes) -> set[str]:
    return {m.decode() for m in re.findall(rb"/BaseFont\s*/([A-Za-z0-9+_-]+)", pdf)}


def test_pdf_renders_the_case_in_japanese_with_the_vendored_font(
    engine: Engine, settings: Settings, story: Story, tmp_path: Path
):
    evidence = _export(engine, settings, story.case, list(story.ids.values()))
    assert evidence.pdf.startswith(b"%PDF-")
    document = pdfium.PdfDocument(evidence.pdf)
    assert len(document) == 2  # the case, its alert and the events; then the violations explained
    width, height = document[0].get_size()
    assert width > height  # landscape
    assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == (297, 210)

    text = _pdf_text(evidence.pdf)
    assert "証拠資料（事案 #7）" in text
    assert story.case.title in text
    assert "調査中" in text and "重大度" in text and "高" in text and "auditor1" in text
    assert "業務時間外のアクセス" in text and "u1 が 02/03 22:10 に業務時間外" in text
    assert BY_KEY["off_hours"].reason(OFF_HOURS_EVIDENCE) in text.replace("\r\n", "").replace("\n", "")
    assert "国保年金課" in text and "未判定" in text
    assert "違反の説明" in text and "P04 業務時間外・閉庁日" in text
    for number in (1, 2):
        footer = document[number - 1].get_textpage().get_text_range()
        assert f"{number} / 2 ページ" in footer and f"CSV SHA-256: {evidence.sha256_csv}" in footer

    # the vendored font, embedded as a subset (the PostScript name of ipaexg.ttf behind a subset tag)
    postscript = TTFont(JAPANESE_FONT)["name"].getDebugName(6)
    assert postscript == "IPAexGothic"
    fonts = _embedded_fonts(evidence.pdf)
    assert fonts and all(re.fullmatch(r"([A-Z]{6}\+)?" + postscript, f) for f in fonts), fonts
    assert b"/FontFile2" in evidence.pdf
    assert JAPANESE_FONT_LICENSE.is_file() and JAPANESE_FONT.stat().st_size < 10_000_000

    # the first page, drawn: ink on a white page, neither blank nor a black square
    bitmap = document[0].render(scale=150 / 72)
    pixels = bitmap.to_numpy()
    grey = pixels[..., :3].mean(axis=2)
    inked = float((grey < 128).mean())
    assert 0.005 < inked < 0.3, inked
    assert float(np.median(grey)) > 240
    image = tmp_path / "evidence-page1.png"
    bitmap.to_pil().save(image)
    assert image.stat().st_size > 10_000
    print(f"\nrendered first page: {image}")


def test_a_case_of_2000_events_exports_in_reasonable_time(engine: Engine, settings: Settings):
    rows = [
        event(
            f"2026-02-{2 + i // 500:02d} {8 + (i % 500) // 40:02d}:{(i % 40):02d}",
            user_id=f"u{1 + i % 8}",
            terminal_id=f"T{1 + i % 8}",
            subject_hash=f"{i:032x}",
        )
        for i in range(2000)
    ]
    with engine.begin() as conn:
        _store_town(conn)
        version = decisions_repo.add_version(
            conn, municipality_code=CODE, digest="1" * 64, name="test", valid_from=at("2026-01-01 00:00"),
            loaded_at=NOW, sources="[]", content="{}",
        )  # fmt: skip
        ids = _store_events(conn, rows, decided_by=version)
        frame = pd.DataFrame(rows)
        frame["event_id"] = ids
        night = frame.iloc[::10]
        decisions_repo.insert_violations(
            conn,
            pd.DataFrame(
                [
                    _violation(e, ts, u, "off_hours", OFF_HOURS_EVIDENCE, version)
                    for e, ts, u in zip(night["event_id"], night["ts"], night["user_id"], strict=True)
                ]
            ),
        )
    case = CaseSummary(7, "大量照会", "new", "critical", None, None, NOW, None, alerts=[])
    started = time.perf_counter()
    evidence = _export(engine, settings, case, ids)
    seconds = time.perf_counter() - started
    print(f"\n2,000-event evidence export on {engine.dialect.name}: {seconds:.2f} s, "
          f"CSV {len(evidence.csv):,} bytes, PDF {len(evidence.pdf):,} bytes, "
          f"{len(pdfium.PdfDocument(evidence.pdf))} pages")  # fmt: skip
    assert evidence.event_count == 2000
    assert len(_csv_rows(evidence)) == 2000
    assert sum(r["decision"] == "違反" for r in _csv_rows(evidence)) == 200
    document = pdfium.PdfDocument(evidence.pdf)
    assert len(document) > 20
    # the table's header is repeated on a page in the middle of the table
    assert "住民(仮名)" in document[len(document) // 2].get_textpage().get_text_range()
