"""A hand-made store for the report tests: a small town's reference data, events stored as the
collectors store them (one ingest batch, ids laid out by :func:`collectors.pipeline.event_ids`),
violations as the policy engine stores them, alerts as the detectors store them, detection runs and
registered sources."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, date, datetime
from itertools import count
from typing import Any

import pandas as pd
from openpyxl import load_workbook
from sqlalchemy import Connection, insert

from auditd.alerts import repository as alerts_repo
from auditd.decisions import repository as decisions_repo
from auditd.events import repository as events_repo
from auditd.events import rollup
from auditd.events.models import Source
from auditd.jp.calendar import calendar_frame
from auditd.reference import repository as reference_repo
from auditd.reference.models import Account, CalendarDay, Section, Staff, StaffAssignment
from auditd.store.base import table_of
from collectors.pipeline import event_ids
from reports.document import Document, Table

CODE = "999997"  # the settings' default municipality
OTHER = "131016"  # another municipality of the same deployment
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_numbers = count(1)


def jst(when: str) -> datetime:
    """A Japan time as an aware UTC datetime."""
    return pd.Timestamp(when, tz="Asia/Tokyo").tz_convert("UTC").to_pydatetime()


def store_town(conn: Connection, code: str = CODE) -> None:
    """Sections 1101 市民税課 and 2101 国保年金課; 山田太郎 (E1, account u1) in 1101; 鈴木花子 (E2, u2)
    moved from 1101 to 2101 on 2026-02-01; 佐々木一郎 (E5, u5) in 2101; a batch account without a person."""
    reference_repo.ensure_municipality(conn, code, "テスト町" if code == CODE else "よその市", created_at=NOW)
    rows: dict[Any, list[dict[str, Any]]] = {
        Section: [
            {"section_code": "1101", "name": "市民税課"},
            {"section_code": "2101", "name": "国保年金課"},
        ],
        Staff: [
            {"staff_id": "E1", "name": "山田太郎"},
            {"staff_id": "E2", "name": "鈴木花子"},
            {"staff_id": "E5", "name": "佐々木一郎"},
        ],
        StaffAssignment: [
            {"staff_id": "E1", "section_code": "1101", "valid_from": date(2020, 4, 1), "valid_to": None},
            {"staff_id": "E2", "section_code": "1101", "valid_from": date(2020, 4, 1), "valid_to": date(2026, 2, 1)},
            {"staff_id": "E2", "section_code": "2101", "valid_from": date(2026, 2, 1), "valid_to": None},
            {"staff_id": "E5", "section_code": "2101", "valid_from": date(2020, 4, 1), "valid_to": None},
        ],
        Account: [
            {"user_id": "u1", "staff_id": "E1", "kind": "personal"},
            {"user_id": "u2", "staff_id": "E2", "kind": "personal"},
            {"user_id": "u5", "staff_id": "E5", "kind": "personal"},
            {"user_id": "batch_tax", "staff_id": None, "kind": "batch"},
        ],
    }
    for model, values in rows.items():
        reference_repo.replace_rows(conn, model, code, [{"municipality_code": code, **v} for v in values])


def store_calendar(conn: Connection, first: date, last: date, closed: dict[date, str], code: str = CODE) -> None:
    """The national calendar of ``first`` … ``last`` with the municipality's own ``closed`` days added."""
    frame = calendar_frame(first, last)
    rows = [
        {
            "municipality_code": code,
            "day": d,
            "is_open": bool(is_open) and d not in closed,
            "name": closed.get(d, name if isinstance(name, str) else None),
        }
        for d, is_open, name in zip(frame["day"], frame["is_open"], frame["name"], strict=True)
    ]
    reference_repo.replace_rows(conn, CalendarDay, code, rows)


def event(when: str, **fields: Any) -> dict[str, Any]:
    """An operation: by default ``u1`` views resident ``R02`` in the tax system at ``when`` (JST)."""
    row: dict[str, Any] = {
        "ts": pd.Timestamp(jst(when)),
        "source": "tax",
        "system": "税務",
        "user_id": "u1",
        "terminal_id": "T1",
        "jimu": "個人住民税",
        "action": "view",
        "function": None,
        "subject_hash": "R02",
        "subject_count": 1,
        "auth_factors": None,
        "result": "success",
        "seq": None,
        "detail": None,
    }
    row.update(fields)
    return row


def store_events(conn: Connection, rows: list[dict[str, Any]], code: str = CODE) -> list[str]:
    """Store ``rows`` as one ingest batch, with the rollups maintained as ingest maintains them;
    returns their event ids (text), in the order of ``rows``."""
    frame = pd.DataFrame(rows)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    hashes = [hashlib.sha256(f"{next(_numbers)}-{i}".encode()).digest()[:16] for i in range(len(rows))]
    frame["event_id"] = event_ids(frame["ts"], hashes)
    run_id = events_repo.create_run(
        conn, municipality_code=code, source="tax", profile="test", input="/var/log/audit.csv", started_at=NOW
    )
    batch_id = events_repo.create_batch(
        conn, municipality_code=code, run_id=run_id, created_at=NOW, event_count=len(frame),
        min_ts=frame["ts"].min().to_pydatetime(), max_ts=frame["ts"].max().to_pydatetime(),
    )  # fmt: skip
    frame["municipality_code"] = code
    frame["batch_id"] = batch_id
    frame["raw_pos"] = range(1, len(frame) + 1)
    frame["pii_masked"] = False
    frame["screen"] = None
    frame["session_id"] = None
    stored = frame[list(events_repo.EVENT_COLUMNS)]
    events_repo.insert_events(conn, stored)
    rollup.add_events(conn, stored)  # as ingest does, in the same transaction
    return [str(uuid.UUID(bytes=raw)) for raw in frame["event_id"]]


def store_violations(
    conn: Connection, found: list[tuple[str, datetime, str, str]], code: str = CODE, version: int = 1
) -> None:
    """Violations ``(event_id, ts, user_id, rule key)`` as the policy engine stores them."""
    frame = pd.DataFrame(
        [
            {
                "municipality_code": code,
                "ts": pd.Timestamp(ts),
                "event_id": uuid.UUID(event_id).bytes,
                "rule": rule,
                "policy_version_id": version,
                "user_id": user_id,
                "evidence": "{}",
                "decided_at": NOW,
            }
            for event_id, ts, user_id, rule in found
        ]
    )
    decisions_repo.insert_violations(conn, frame)


def add_alert(
    conn: Connection,
    *,
    rule: str,
    start: str,
    severity: str = "high",
    user_id: str = "u1",
    section: str = "1101",
    code: str = CODE,
) -> None:
    """One alert as a detector stores it (``title`` as the detector's Japanese title)."""
    n = next(_numbers)
    alerts_repo.insert_alerts(
        conn,
        [
            {
                "municipality_code": code,
                "fingerprint": f"report-test-{n:08d}",
                "rule": rule,
                "severity": severity,
                "user_id": user_id,
                "terminal_id": None,
                "subjects": json.dumps(["aa01"]),
                "start": jst(start),
                "end": jst(start),
                "event_ids": "[]",
                "event_count": 0,
                "title": f"{rule} の検知名",
                "explanation": f"説明 {n}",
                "explanation_en": f"explanation {n}",
                "evidence": "{}",
                "status": "new",
                "section": section,
                "run_id": None,
                "detected_at": jst(start),
            }
        ],
    )


def add_run(conn: Connection, start: str, end: str, status: str = "finished", code: str = CODE) -> None:
    """A detection run over ``[start, end)`` (JST)."""
    alerts_repo.create_run(
        conn,
        municipality_code=code,
        window_start=jst(start),
        window_end=jst(end),
        started_at=jst(end),
        finished_at=None if status == "running" else jst(end),
        detectors="{}",
        actor="test",
        status=status,
        error="D06: boom" if status == "partial" else None,
    )


def add_source(conn: Connection, name: str, system: str, created: str, code: str = CODE) -> None:
    conn.execute(
        insert(table_of(Source)).values(
            municipality_code=code, name=name, profile="test", system=system, created_at=jst(created)
        )
    )


# -- reading a document -----------------------------------------------------------------------------------------------


def table(document: Document, title_starts: str) -> Table:
    """The table whose title starts with ``title_starts``."""
    for section in document.sections:
        for block in section.blocks:
            if isinstance(block, Table) and block.title.startswith(title_starts):
                return block
    raise AssertionError(f"no table {title_starts!r} in {[s.title for s in document.sections]}")


def facts(document: Document, section_title: str) -> dict[str, str]:
    """The facts of a section, label → value."""
    from reports.document import Facts

    for section in document.sections:
        if section.title == section_title:
            return {k: v for block in section.blocks if isinstance(block, Facts) for k, v in block.rows}
    raise AssertionError(f"no section {section_title!r}")


def xlsx_numbers(content: bytes) -> list[float]:
    """Every numeric cell of a workbook, as read back by openpyxl."""
    import io

    book = load_workbook(io.BytesIO(content))
    return [
        cell.value
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if isinstance(cell.value, int | float) and not isinstance(cell.value, bool)
    ]
