"""The PIA register (特定個人情報保護評価書の台帳): the 評価書 the municipality published, their yearly
review and five-year re-assessment (規則第15条), the reminders when one is due, and the CSV a person
keeps the register in.

Due dates (see :func:`auditd.reports.models.add_years`): the yearly review is due a year after the
latest of the publication, the last review and the last re-assessment; the re-assessment five years
after the last one, else the publication. A 29 February counts to 28 February. Each review is kept as
an append-only ``pia_reviews`` row; every change is one entry in the platform's trail.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import Connection

from auditd.errors import NotFound, ValidationFailed
from auditd.jp.wareki import parse_wareki_date
from auditd.mail.service import PiaReminder
from auditd.reports import repository as repo
from auditd.reports.models import PIA_KINDS, PIA_REVIEW_KINDS
from auditd.trail import service as trail
from reports.schemas import PiaIn, PiaOut, PiaReviewIn, PiaReviewOut

#: The columns of the register's CSV, in order (an import needs the first six; 備考 is optional).
CSV_COLUMNS = ("評価書名", "事務", "評価の種類", "公表日", "直近の見直し日", "再評価日")
CSV_EXTRA = ("備考", "次回見直し期限", "再評価期限")
_FIELDS = dict(
    zip(CSV_COLUMNS, ("title", "jimu", "kind", "published_on", "last_reviewed_on", "reassessed_on"), strict=True)
)
#: How people write the kind: the label, without 評価 or with 書, or the key.
_KIND_WORDS = {
    **{key: key for key in PIA_KINDS},
    **{label: key for key, label in PIA_KINDS.items()},
    **{label.removesuffix("評価"): key for key, label in PIA_KINDS.items()},
    **{label + "書": key for key, label in PIA_KINDS.items()},
}
_HALFWIDTH = str.maketrans("０１２３４５６７８９／－．", "0123456789/-.")


def out(row: dict[str, Any], today: date, reviews: list[dict[str, Any]] | None = None) -> PiaOut:
    return PiaOut(
        **{k: v for k, v in row.items() if k in PiaOut.model_fields},
        kind_ja=PIA_KINDS.get(row["kind"], row["kind"]),
        review_overdue=row["review_due"] < today,
        reassessment_overdue=row["reassessment_due"] < today,
        reviews=None if reviews is None else [PiaReviewOut(**r) for r in reviews],
    )


def register(connection: Connection, municipality_code: str, today: date, *, withdrawn: bool = False) -> list[PiaOut]:
    """The register (active 評価書; also the withdrawn ones when ``withdrawn``) with due dates as of ``today``."""
    rows = repo.pias(connection, municipality_code, active_only=not withdrawn)
    return [out(row, today) for row in rows]


def one(connection: Connection, municipality_code: str, pia_id: int, today: date) -> PiaOut:
    """One 評価書 with its review history."""
    row = repo.pia(connection, municipality_code, pia_id)
    if row is None:
        raise NotFound(f"no PIA report #{pia_id} / 評価書 #{pia_id} はありません")
    return out(row, today, repo.pia_reviews(connection, municipality_code, pia_id))


def add(connection: Connection, municipality_code: str, body: PiaIn, *, actor: str, client: str, now: datetime) -> int:
    """Add a 評価書 to the register (one trail entry ``pia.add``); returns its id."""
    pia_id = repo.add_pia(
        connection,
        municipality_code=municipality_code,
        **body.model_dump(),
        active=True,
        created_by=actor[:64],
        created_at=now,
        updated_at=now,
    )
    detail = {"title": body.title, "jimu": body.jimu, "kind": body.kind, "published_on": body.published_on.isoformat()}
    trail.record(connection, municipality_code, actor, "pia.add", "pia", str(pia_id), detail=detail, client=client)
    return pia_id


def review(
    connection: Connection,
    municipality_code: str,
    pia_id: int,
    body: PiaReviewIn,
    *,
    actor: str,
    client: str,
    now: datetime,
    today: date,
) -> PiaOut:
    """Record a review (or re-assessment) done on ``body.reviewed_on``: a ``pia_reviews`` row, the
    register's date moved forward (never back: recording an older review late changes no due date),
    and one trail entry ``pia.review``."""
    row = repo.pia(connection, municipality_code, pia_id)
    if row is None or not row["active"]:
        raise NotFound(f"no active PIA report #{pia_id} / 評価書 #{pia_id} はありません")
    on = body.reviewed_on
    if on < row["published_on"]:
        raise ValidationFailed(f"the review ({on}) is before the publication ({row['published_on']})")
    if on > today:
        raise ValidationFailed(f"the review date {on} is in the future", hint=f"a day up to {today}")
    column = "reassessed_on" if body.kind == "reassessment" else "last_reviewed_on"
    repo.add_pia_review(
        connection,
        municipality_code=municipality_code,
        pia_id=pia_id,
        kind=body.kind,
        reviewed_on=on,
        actor=actor[:64],
        note=body.note or None,
        recorded_at=now,
    )
    if row[column] is None or on > row[column]:
        repo.set_pia(connection, municipality_code, pia_id, **{column: on, "updated_at": now})
    detail = {"kind": body.kind, "reviewed_on": on.isoformat(), "title": row["title"]}
    trail.record(connection, municipality_code, actor, "pia.review", "pia", str(pia_id), detail=detail, client=client)
    return one(connection, municipality_code, pia_id, today)


def withdraw(
    connection: Connection, municipality_code: str, pia_id: int, *, actor: str, client: str, now: datetime
) -> None:
    """Take a 評価書 off the register (事務の廃止, replaced by a new one); it is kept, marked withdrawn."""
    row = repo.pia(connection, municipality_code, pia_id)
    if row is None or not row["active"]:
        raise NotFound(f"no active PIA report #{pia_id} / 評価書 #{pia_id} はありません")
    repo.set_pia(connection, municipality_code, pia_id, active=False, updated_at=now)
    trail.record(
        connection,
        municipality_code,
        actor,
        "pia.withdraw",
        "pia",
        str(pia_id),
        detail={"title": row["title"]},
        client=client,
    )


def reminders(connection: Connection, municipality_code: str, today: date, within_days: int) -> list[PiaReminder]:
    """The reviews and re-assessments due within ``within_days`` of ``today``, or overdue."""
    found = []
    for row in repo.pias(connection, municipality_code):
        dues: tuple[tuple[Literal["review", "reassessment"], date], ...] = (
            ("review", row["review_due"]),
            ("reassessment", row["reassessment_due"]),
        )
        for kind, due in dues:
            days = (due - today).days
            if days <= within_days:
                found.append(PiaReminder(kind=kind, title=row["title"], jimu=row["jimu"], due=due, days=days))
    return sorted(found, key=lambda r: (r.days, r.title))


# -- CSV ----------------------------------------------------------------------------------------------


def decode(content: bytes) -> str:
    """A CSV file's text: UTF-8 (with or without a BOM), else CP932 (what Excel saves in Japan)."""
    if content.startswith(b"\xef\xbb\xbf"):
        content = content[3:]
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("cp932")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            f"the file is neither UTF-8 nor CP932 (byte {exc.start})", hint="save it as CSV (UTF-8) or CSV (Shift_JIS)"
        ) from exc


def _day(text: str) -> date | None:
    value = text.strip().translate(_HALFWIDTH)
    if not value:
        return None
    parts = value.replace("/", "-").replace(".", "-").split("-")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        try:
            return date(int(parts[0]), int(parts[1]), int(parts[2]))
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a date") from exc
    found = parse_wareki_date(value)  # 令和6年4月1日, R06.04.01 …
    if found is None:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD, YYYY/MM/DD or 令和6年4月1日)")
    return found


def _parse_row(values: dict[str, str]) -> PiaIn:
    fields: dict[str, Any] = {}
    for column, name in _FIELDS.items():
        text = values.get(column, "") or ""
        if name == "kind":
            kind = _KIND_WORDS.get(text.strip().replace(" ", "").replace("　", ""))
            if kind is None:
                raise ValueError(f"評価の種類 {text!r} is not one of {', '.join(PIA_KINDS.values())}")
            fields[name] = kind
        elif name in ("published_on", "last_reviewed_on", "reassessed_on"):
            fields[name] = _day(text)
        else:
            fields[name] = text
    fields["note"] = (values.get("備考") or "").strip() or None
    if fields["published_on"] is None:
        raise ValueError("公表日 is empty")
    try:
        return PiaIn.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{where}: {first['msg']}" if where else str(first["msg"])) from exc


def parse_csv(content: bytes) -> list[tuple[int, PiaIn]]:
    """Every row of the register's CSV as (line number, 評価書), or :class:`ValidationFailed` naming
    each bad line (line 1 is the header): a file with one bad row is not imported at all."""
    reader = csv.DictReader(io.StringIO(decode(content), newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise ValidationFailed(f"the CSV lacks the column(s) {', '.join(missing)}", hint=",".join(CSV_COLUMNS))
    reader.fieldnames = header
    rows: list[tuple[int, PiaIn]] = []
    bad: list[str] = []
    for values in reader:
        line = reader.line_num
        if not any((v or "").strip() for v in values.values() if isinstance(v, str)):
            continue  # a blank line
        try:
            rows.append((line, _parse_row(values)))
        except ValueError as exc:
            bad.append(f"line {line}: {exc}")
    if bad:
        raise ValidationFailed(
            f"{len(bad)} bad row(s); nothing imported / 不正な行があるため取り込みませんでした: " + "; ".join(bad[:20]),
            hint="correct the lines named and import the file again",
        )
    return rows


def import_csv(
    connection: Connection, municipality_code: str, content: bytes, *, actor: str, client: str, now: datetime
) -> tuple[int, int]:
    """Add every 評価書 of the CSV not already in the register (same title and 事務): (added, already
    there). All rows are checked before any is added."""
    added = skipped = 0
    for _line, body in parse_csv(content):
        if repo.find_pia(connection, municipality_code, body.title, body.jimu) is not None:
            skipped += 1
            continue
        add(connection, municipality_code, body, actor=actor, client=client, now=now)
        added += 1
    return added, skipped


def export_csv(connection: Connection, municipality_code: str, today: date) -> bytes:
    """The register as CSV (UTF-8 with a BOM, so Excel opens it): the import's columns, then the note
    and the two due dates."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow((*CSV_COLUMNS, *CSV_EXTRA))
    for p in register(connection, municipality_code, today):
        writer.writerow(
            (
                p.title,
                p.jimu,
                p.kind_ja,
                p.published_on.isoformat(),
                _iso(p.last_reviewed_on),
                _iso(p.reassessed_on),
                p.note or "",
                p.review_due.isoformat(),
                p.reassessment_due.isoformat(),
            )
        )
    return buffer.getvalue().encode("utf-8-sig")


def _iso(day: date | None) -> str:
    return "" if day is None else day.isoformat()


def review_kind_ja(kind: str) -> str:
    return PIA_REVIEW_KINDS.get(kind, kind)
