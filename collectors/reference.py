"""Import reference feeds (``auditd import KIND FILE``): one importer for every kind, driven by the
target model's column types, with the same quarantine and pseudonymisation as events."""

from __future__ import annotations

import secrets
import time as clock
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Boolean, Date, DateTime, Engine, Integer, Time
from sqlalchemy.types import TypeDecorator

from auditd.errors import ValidationFailed
from auditd.events import repository as events_repo
from auditd.jp.wareki import to_halfwidth
from auditd.privacy.mynumber import mask_series
from auditd.privacy.pseudonym import Pseudonymiser, household_pseudonym
from auditd.privacy.vault import Vault
from auditd.reference import repository as reference_repo
from auditd.settings import Settings
from auditd.store.base import table_of
from auditd.trail.service import record as record_trail
from collectors.formats.base import clip
from collectors.mapping import Rejection, field_values, parse_timestamps, whole_numbers
from collectors.pipeline import reader_for, record_ids
from collectors.profile import Profile

if TYPE_CHECKING:
    from collectors.testing import ProfileReport

TRUE_WORDS = {"1", "true", "t", "yes", "y", "○", "〇", "はい", "有", "あり", "開庁", "open", "on"}
FALSE_WORDS = {"0", "false", "f", "no", "n", "×", "いいえ", "無", "なし", "閉庁", "closed", "off", ""}
DATE_FORMATS = ["iso", "%Y/%m/%d", "%Y%m%d", "wareki"]


@dataclass
class ImportSummary:
    kind: str
    input: str
    read: int = 0
    stored: int = 0
    quarantined: int = 0
    seconds: float = 0.0
    reasons: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "input": self.input,
            "read": self.read,
            "stored": self.stored,
            "quarantined": self.quarantined,
            "seconds": round(self.seconds, 3),
            "quarantine_reasons": dict(self.reasons),
        }


def _dates(values: pd.Series, tz: ZoneInfo, formats: list[str]) -> pd.Series:
    days: pd.Series = parse_timestamps(values, formats, tz).dt.tz_convert(tz).dt.date
    return days


def _times(values: pd.Series) -> pd.Series:
    text = to_halfwidth(values).str.strip()
    parsed = pd.to_datetime("2000-01-01 " + text, format="%Y-%m-%d %H:%M", errors="coerce")
    seconds = pd.to_datetime("2000-01-01 " + text, format="%Y-%m-%d %H:%M:%S", errors="coerce")
    return parsed.fillna(seconds).dt.time


def _booleans(values: pd.Series) -> pd.Series:
    text = to_halfwidth(values).str.strip().str.lower()
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[text.isin(TRUE_WORDS)] = True
    out[text.isin(FALSE_WORDS)] = False
    return out


def convert(
    frame: pd.DataFrame, profile: Profile, pseudonymiser: Pseudonymiser, key: bytes, municipality_code: str
) -> tuple[pd.DataFrame, Rejection]:
    """Typed columns for the target model; values that do not fit are rejected with the field named."""
    model = reference_repo.KIND_MODELS[profile.kind]
    table = table_of(model)
    tz = ZoneInfo(profile.timezone)
    rejection = Rejection(len(frame))
    out = pd.DataFrame(index=frame.index)
    for name, spec in profile.fields.items():
        values = field_values(frame, name, spec, profile, rejection)
        if name in reference_repo.PSEUDONYMISED_FIELDS:
            column = reference_repo.PSEUDONYMISED_FIELDS[name]
            if name == "household":
                out[column] = values.map(
                    lambda v: None if pd.isna(v) else household_pseudonym(key, municipality_code, v)
                )
            else:
                out[column] = pseudonymiser.series(values)
                out[f"_{name}_identifier"] = values
            continue
        column_type = table.c[name].type
        if isinstance(column_type, TypeDecorator | DateTime):
            converted: pd.Series = parse_timestamps(values, spec.formats or DATE_FORMATS, tz)
            converted = (
                converted.astype(object)
                .where(converted.notna(), None)
                .map(lambda v: None if v is None else v.to_pydatetime())
            )
        elif isinstance(column_type, Date):
            converted = _dates(values, tz, spec.formats or DATE_FORMATS)
        elif isinstance(column_type, Time):
            converted = _times(values)
        elif isinstance(column_type, Boolean):
            converted = _booleans(values)
        elif isinstance(column_type, Integer):
            converted = whole_numbers(values, lowest=-(2**31), highest=2**31 - 1)
        else:
            converted, _ = mask_series(values)
            limit = getattr(column_type, "length", None)
            if limit:
                too_long = (values.str.len() > limit).fillna(False).to_numpy(dtype=bool)
                rejection.add(too_long, "too_long", f"{name}: longer than {limit} characters")
        bad = values.notna() & pd.Series(converted, index=values.index).isna()
        kind = type(column_type).__name__.lower().replace("utcdatetime", "datetime")
        rejection.add(bad.to_numpy(), f"bad_{name}", f"{name}: not a valid {kind}: " + values.fillna(""))
        out[name] = converted
    for required in table.columns:
        if required.name in ("municipality_code", "id") or required.nullable:
            continue
        default = required.default
        if default is not None:  # an empty cell takes the column's default (weekend_counter: no)
            if required.name in out and getattr(default, "is_scalar", False):
                out[required.name] = out[required.name].fillna(default.arg)  # type: ignore[attr-defined]
            continue
        if required.name not in out:
            raise ValidationFailed(f"profile {profile.name}: kind {profile.kind} needs the field {required.name}")
        missing = out[required.name].isna().to_numpy()
        rejection.add(missing, f"missing_{required.name}", f"{required.name}: empty or missing")
    keys = reference_repo.natural_key(model)
    if keys and all(key in out for key in keys):
        kept = ~rejection.rejected
        repeated = np.zeros(len(out), dtype=bool)
        repeated[kept] = out.loc[kept, keys].duplicated().to_numpy()
        rejection.add(repeated, "duplicate_key", f"{', '.join(keys)}: the same as in an earlier record of the file")
    return out, rejection


class ReferenceImporter:
    def __init__(self, engine: Engine, settings: Settings, municipality_code: str | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.municipality_code = municipality_code or settings.municipality_code
        self.key = settings.secret("pseudonym_key")
        self.pseudonymiser = Pseudonymiser(self.key, self.municipality_code)
        self.vault = Vault(settings.secret("encryption_key"))

    def import_file(self, path: Path, profile: Profile, *, actor: str = "system") -> ImportSummary:
        if profile.kind == "events":
            raise ValidationFailed(f"profile {profile.name} is for operation logs: use `auditd ingest`")
        if not path.is_file():
            raise ValidationFailed(f"{path}: no such file")
        started = clock.perf_counter()
        summary = ImportSummary(kind=profile.kind, input=str(path))
        records, texts, lines, rejected = read_reference(profile, path)
        summary.read = len(records) + len(rejected)
        converted, rejection = convert(records, profile, self.pseudonymiser, self.key, self.municipality_code)
        bad = rejection.rejected
        for i in np.flatnonzero(bad):
            rejected.append((lines[i], rejection.code[i], rejection.reason[i], texts[i]))
        good = converted[~bad]
        model = reference_repo.KIND_MODELS[profile.kind]
        columns = [c for c in good.columns if not c.startswith("_")]
        rows = [
            {k: _plain(v) for k, v in zip(columns, values, strict=True)}
            for values in good[columns].itertuples(index=False, name=None)
        ]
        for row in rows:
            row["municipality_code"] = self.municipality_code
        source = f"import:{profile.kind}"
        quarantine = self._quarantine(rejected, source, str(path))
        vault_rows = self._vault_rows(good)
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            run_id = events_repo.create_run(
                conn,
                municipality_code=self.municipality_code,
                source=source,
                profile=profile.name,
                input=str(path)[:1024],
                status="completed",
                started_at=now,
                finished_at=now,
                records_read=summary.read,
            )
            if profile.mode == "replace":
                stored = reference_repo.replace_rows(conn, model, self.municipality_code, rows)
            else:
                stored = reference_repo.upsert_rows(conn, model, self.municipality_code, rows)
            if not quarantine.empty:
                quarantine["run_id"] = run_id
                events_repo.insert_quarantine(conn, quarantine)
            if vault_rows:
                known = events_repo.known_subjects(
                    conn, self.municipality_code, [str(r["subject_hash"]) for r in vault_rows]
                )
                fresh = [r for r in vault_rows if r["subject_hash"] not in known]
                events_repo.insert_subjects(conn, pd.DataFrame(fresh, columns=list(events_repo.SUBJECT_COLUMNS)))
            events_repo.update_run(conn, run_id, accepted=stored, quarantined=len(quarantine))
            summary.stored = stored
            summary.quarantined = len(quarantine)
            summary.reasons.update(quarantine["reason_code"].tolist() if not quarantine.empty else [])
            summary.seconds = clock.perf_counter() - started
            record_trail(
                conn,
                self.municipality_code,
                actor,
                "import",
                profile.kind,
                str(run_id),
                {k: v for k, v in summary.as_dict().items() if k != "input"},
            )
        return summary

    def _vault_rows(self, good: pd.DataFrame) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = []
        if "_subject_identifier" not in good:
            return rows
        now = datetime.now(UTC)
        pairs = good[["subject_hash", "_subject_identifier"]].dropna().drop_duplicates("subject_hash")
        for pseudonym, identifier in pairs.itertuples(index=False, name=None):
            rows.append(
                {
                    "municipality_code": self.municipality_code,
                    "subject_hash": pseudonym,
                    "sealed": self.vault.seal(self.municipality_code, pseudonym, str(identifier).strip()),
                    "is_mynumber": False,
                    "first_seen": now,
                }
            )
        return rows

    def _quarantine(self, rejected: list[tuple[int, str, str, str]], source: str, input_name: str) -> pd.DataFrame:
        if not rejected:
            return pd.DataFrame()
        frame = pd.DataFrame(rejected, columns=["_line", "reason_code", "reason", "raw_text"])
        frame["raw_text"] = frame["raw_text"].map(clip)
        frame["reason"] = frame["reason"].map(clip)
        frame["raw_text"], _ = mask_series(frame["raw_text"].astype("str"))
        frame["reason"], _ = mask_series(frame["reason"].astype("str"))
        frame["record_key"] = record_ids(
            self.municipality_code,
            source,
            [f"{ln}\x1f{t}" for ln, t in zip(frame["_line"], frame["raw_text"], strict=True)],
        )
        frame["municipality_code"] = self.municipality_code
        frame["source"] = source
        frame["raw_ref"] = f"{input_name[-480:]}:" + frame["_line"].astype("str")
        frame["created_at"] = pd.Timestamp(datetime.now(UTC))
        return frame


def _plain(value: object) -> object:
    """A value as the database driver takes it: None for missing, Python scalars for numpy ones
    (sqlite3 would store a numpy integer as an 8-byte blob)."""
    if _is_na(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _is_na(value: object) -> bool:
    try:
        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def read_reference(
    profile: Profile, path: Path
) -> tuple[pd.DataFrame, list[str], list[int], list[tuple[int, str, str, str]]]:
    """Every record of a reference file: (records, texts, lines, rejects as (line, code, reason, text))."""
    reader = reader_for(profile)
    frames: list[pd.DataFrame] = []
    texts: list[str] = []
    lines: list[int] = []
    rejected: list[tuple[int, str, str, str]] = []
    with path.open("rb") as stream:
        for chunk in reader.chunks(stream, start_position=0, start_line=0, chunk_rows=100_000):
            frames.append(chunk.records)
            texts.extend(chunk.texts)
            lines.extend(chunk.lines)
            rejected.extend((r.line, r.reason_code, r.reason, r.text) for r in chunk.rejects)
    records = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return records, texts, lines, rejected


def preview_reference(profile: Profile, path: Path, *, rows: int = 5) -> ProfileReport:
    """``auditd profile test`` for a reference feed: typed values and problems, nothing stored.
    Resident identifiers are pseudonymised with a throw-away key, so nothing here can be joined."""
    from collectors.testing import ProfileReport

    records, _texts, lines, rejected = read_reference(profile, path)
    throwaway = secrets.token_bytes(32)
    converted, rejection = convert(records, profile, Pseudonymiser(throwaway, "000000"), throwaway, "000000")
    columns = ["line", *[c for c in converted.columns if not c.startswith("_")]]
    report = ProfileReport(columns=columns, records=len(records) + len(rejected))
    for line, code, reason, _text in rejected:
        report.add_problem(code, line, reason)
    bad = rejection.rejected
    for i in np.flatnonzero(bad):
        masked, _ = mask_series(pd.Series([str(rejection.reason[i])], dtype="str"))
        report.add_problem(str(rejection.code[i]), lines[i], str(masked.iloc[0]))
    report.bad = len(rejected) + int(bad.sum())
    report.good = len(records) - int(bad.sum())
    good = converted[~bad]
    for position, record in zip(good.index[:rows].tolist(), good.head(rows).to_dict("records"), strict=True):
        shown = ["" if _is_na(record[c]) else str(record[c]) for c in columns[1:]]
        report.sample.append([str(lines[int(position)]), *shown])
    return report
