"""Mapping profiles: a vendor format described as data (YAML), validated before any record is read.

A profile says how to read an input (format, encoding, delimiter, header) and how each canonical
field is obtained (a column, a constant, a code table, a timestamp format). New vendors are
onboarded by writing one; ``auditd profile test PROFILE FILE`` shows what it makes of a file.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from auditd import registry
from auditd.errors import ValidationFailed
from auditd.events.models import ACTIONS, RESULTS

#: Canonical event fields a profile may fill (see PRODUCT.md). ``subject`` is the resident identifier.
EVENT_FIELDS = (
    "ts", "system", "user_id", "terminal_id", "session_id", "jimu", "action", "screen", "function",
    "subject", "subject_count", "result", "auth_factors", "detail", "seq",
)  # fmt: skip
REQUIRED_EVENT_FIELDS = ("ts", "user_id", "action", "system")

#: Reference feeds an ``auditd import KIND`` understands, and their fields.
REFERENCE_KINDS: dict[str, tuple[str, ...]] = {
    "sections": ("section_code", "name", "parent_code", "hours_start", "hours_end", "weekend_counter"),
    "staff": ("staff_id", "name", "name_kana", "employment", "contractor", "pledge_date", "hired_on",
              "retired_on", "resident", "household", "home_area"),
    "assignments": ("staff_id", "section_code", "valid_from", "valid_to", "position"),
    "accounts": ("user_id", "staff_id", "kind", "created_on", "disabled_on", "note"),
    "grants": ("user_id", "role", "valid_from", "valid_to", "approver", "status"),
    "terminals": ("terminal_id", "section_code", "segment", "kind", "registered_on", "retired_on"),
    "calendar": ("day", "is_open", "name"),
    "overtime": ("staff_id", "day", "start", "end", "approver", "reason"),
    "cases": ("case_id", "jimu", "kind", "subject", "section_code", "assignee", "opened_at", "closed_at"),
    "output_approvals": ("approval_id", "staff_id", "user_id", "jimu", "action", "max_count", "valid_from",
                         "valid_to", "approver", "purpose"),
    "watchlist": ("subject", "category", "valid_from", "valid_to", "note"),
    "residents": ("subject", "household", "area_code", "surname_kana"),
}  # fmt: skip

TIME_FORMATS_HELP = "iso, wareki, epoch_s, epoch_ms, or a strptime pattern such as %Y/%m/%d %H:%M:%S"


class FieldSpec(BaseModel):
    """How one canonical field is obtained from a record."""

    model_config = ConfigDict(extra="forbid")

    column: str | int | None = Field(None, description="header name, 0-based position, or JSON path a.b.c")
    columns: list[str | int] | None = Field(None, description="several columns joined with a space (date + time)")
    value: str | None = Field(None, description="a constant")
    map: str | None = Field(None, description="name of a code table under `codes`")
    default: str | None = Field(None, description="used when the column is empty")
    formats: list[str] | None = Field(None, description=f"timestamps: tried in order; {TIME_FORMATS_HELP}")
    split: str | None = Field(None, description="split the value on these characters and map each part")
    strict: bool = Field(True, description="a value missing from the code table quarantines the record")

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        given = [name for name in ("column", "columns", "value") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"give only one of column, columns, value (got {', '.join(given)})")
        if not given and self.default is None:
            raise ValueError("give one of column, columns, value or default")
        return self

    def source_columns(self) -> list[str | int]:
        if self.column is not None:
            return [self.column]
        return list(self.columns or [])


class Profile(BaseModel):
    """A mapping profile. ``kind`` is ``events`` for operation logs or a reference kind."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    kind: str = "events"
    format: Literal["csv", "tsv", "jsonl", "syslog"]
    encoding: str = Field("utf-8", description="cp932, utf-8 (a BOM is skipped), or auto: UTF-8, else CP932, per line")
    delimiter: str | None = None
    quotechar: str = '"'
    header: bool = True
    column_names: list[str] | None = Field(None, description="names for a file without a header row")
    skip_rows: int = Field(0, ge=0, description="lines before the header (titles, banners)")
    source: str | None = Field(None, description="source name in the store; default the profile name")
    timezone: str = "Asia/Tokyo"
    fields: dict[str, FieldSpec]
    codes: dict[str, dict[str, str]] = Field(default_factory=dict)
    subject_may_be_mynumber: bool = Field(
        True,
        description="treat a subject that passes the 個人番号 check digit as a 個人番号 (not shown, flagged)",
    )
    mode: Literal["replace", "upsert", "append"] = Field(
        "replace", description="reference feeds: replace the municipality's rows, or add/update by key"
    )
    path: Path | None = Field(None, exclude=True)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        if value == "auto":
            return value
        try:
            info = codecs.lookup(value)
        except LookupError as exc:
            raise ValueError(f"unknown encoding {value!r} (cp932, utf-8, utf-8-sig, euc-jp …)") from exc
        if not getattr(info, "_is_text_encoding", True):  # base64, zlib, rot13: codecs, not text encodings
            raise ValueError(f"{value!r} is not a text encoding (cp932, utf-8, utf-8-sig, euc-jp …)")
        return value

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value != "events" and value not in REFERENCE_KINDS:
            raise ValueError(f"unknown kind {value!r}; expected events or one of {', '.join(REFERENCE_KINDS)}")
        return value

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> Profile:
        allowed = EVENT_FIELDS if self.kind == "events" else REFERENCE_KINDS[self.kind]
        unknown = [f for f in self.fields if f not in allowed]
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)} for kind {self.kind}; known: {', '.join(allowed)}")
        if self.kind == "events":
            missing = [f for f in REQUIRED_EVENT_FIELDS if f not in self.fields]
            if missing:
                raise ValueError(f"fields missing: {', '.join(missing)} (every event needs them)")
        for field_name, spec in self.fields.items():
            if spec.map and spec.map not in self.codes:
                raise ValueError(f"fields.{field_name}.map names code table {spec.map!r}, which is not under codes")
        if self.kind == "events":
            self._check_code_targets("action", ACTIONS)
            self._check_code_targets("result", RESULTS)
        if not self.header and self.format in ("csv", "tsv"):
            named = [c for spec in self.fields.values() for c in spec.source_columns() if isinstance(c, str)]
            if named and not self.column_names:
                raise ValueError("header is false: give column_names or use column positions (0, 1, …)")
        return self

    def _check_code_targets(self, field_name: str, allowed: tuple[str, ...]) -> None:
        spec = self.fields.get(field_name)
        if spec is None:
            return
        if spec.map:
            bad = sorted({v for v in self.codes[spec.map].values() if v not in allowed})
            if bad:
                raise ValueError(
                    f"codes.{spec.map} maps to {', '.join(bad)}; {field_name} must be one of {', '.join(allowed)}"
                )
        if spec.value is not None and spec.value not in allowed:
            raise ValueError(f"fields.{field_name}.value {spec.value!r} is not one of {', '.join(allowed)}")

    @property
    def source_name(self) -> str:
        return self.source or self.name

    @property
    def field_delimiter(self) -> str:
        return self.delimiter or ("\t" if self.format == "tsv" else ",")


def _format_errors(error: ValidationError, where: str) -> str:
    lines = [f"{where}: the profile is not valid"]
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"]) or "(top level)"
        lines.append(f"  - {path}: {item['msg']}")
    return "\n".join(lines)


def parse_profile(data: Any, where: str) -> Profile:
    if not isinstance(data, dict):
        raise ValidationFailed(f"{where}: a profile is a mapping (name: …, format: …, fields: …)")
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(_format_errors(exc, where)) from exc


def load_profile_file(path: Path) -> Profile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationFailed(f"{path}: cannot read the profile ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ValidationFailed(f"{path}: not valid YAML: {exc}") from exc
    profile = parse_profile(data, str(path))
    profile.path = path
    return profile


def builtin_profile_dirs() -> list[Path]:
    dirs = []
    for package in registry.load_all("profiles").values():
        dirs.append(Path(package.__file__).parent)
    return dirs


def builtin_profiles() -> dict[str, Path]:
    """Every built-in profile by name (file stem)."""
    found: dict[str, Path] = {}
    for directory in builtin_profile_dirs():
        for path in sorted(directory.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


def resolve_profile(name_or_path: str) -> Profile:
    """A profile by built-in name or by path to a YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return load_profile_file(candidate)
    known = builtin_profiles()
    if name_or_path not in known:
        raise ValidationFailed(
            f"no profile named {name_or_path!r}",
            hint=f"built-in profiles: {', '.join(known) or '(none)'}; or give the path of a YAML file",
        )
    return load_profile_file(known[name_or_path])
