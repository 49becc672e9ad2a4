"""What ``auditd watch`` watches: folders, file-name patterns and the profile that reads each.

Two ways to say it, one validation: ``auditd watch DIR --profile P [--pattern G]`` for one folder, or
a YAML file for several::

    interval_seconds: 5          # how often the folders are looked at
    settle_seconds: 10           # unchanged this long = finished: its unterminated last line is read too
    recursive: false             # look into subfolders
    archive_dir: /srv/archive    # optional: move finished, fully ingested files here (never deleted)
    rules:
      - dir: /srv/drop/zeimu
        pattern: "ZEIMU_OPLOG_*.csv"
        profile: demo-tax
      - dir: /srv/drop/fukushi
        pattern: "*.jsonl"
        profile: profiles/vendor-x.yaml   # relative paths are relative to this file
        settle_seconds: 60                # settle_seconds, recursive and archive_dir can be set per rule

Everything is checked before anything is read (folders exist, profiles resolve and are for operation
logs), and an error names the file, the rule and the key, as profile errors do: an operator editing
a YAML file on a closed network has nothing else to go on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from auditd.errors import AuditdError, ValidationFailed
from collectors.profile import Profile, resolve_profile

DEFAULT_INTERVAL_SECONDS = 5.0
DEFAULT_SETTLE_SECONDS = 10.0
DEFAULT_HEARTBEAT_SECONDS = 300.0
COMMAND_LINE = "command line"
#: How a key of a rule is spelled on the command line, for errors about ``auditd watch DIR …``.
_OPTIONS = {"pattern": "--pattern: ", "archive_dir": "--archive-dir: ", "settle_seconds": "--settle: "}


def _check_pattern(value: str) -> str:
    if not value.strip():
        raise ValueError("the pattern is empty; give a file-name pattern such as ZEIMU_OPLOG_*.csv")
    if "/" in value or "\\" in value:
        raise ValueError(
            f"{value!r} contains a folder separator; the pattern matches file names only "
            "(put the folder in dir, and set recursive: true to look into subfolders)"
        )
    return value


class RuleModel(BaseModel):
    """One rule as written in the YAML file."""

    model_config = ConfigDict(extra="forbid")

    dir: str = Field(description="the folder to watch; relative to the configuration file")
    pattern: str = Field("*", description="file-name pattern (* any characters, ? one character); case matters")
    profile: str = Field(description="built-in profile name, or path of a YAML profile")
    recursive: bool | None = Field(None, description="look into subfolders (default: the top-level setting)")
    settle_seconds: float | None = Field(None, ge=0, description="default: the top-level setting")
    archive_dir: str | None = Field(None, description="default: the top-level setting")

    @field_validator("pattern")
    @classmethod
    def _valid_pattern(cls, value: str) -> str:
        return _check_pattern(value)


class WatchModel(BaseModel):
    """The YAML file as written."""

    model_config = ConfigDict(extra="forbid")

    rules: list[RuleModel] = Field(min_length=1, description="which files to ingest with which profile")
    interval_seconds: float = Field(DEFAULT_INTERVAL_SECONDS, gt=0, description="seconds between two looks")
    settle_seconds: float = Field(
        DEFAULT_SETTLE_SECONDS, ge=0, description="a file unchanged this long is finished: its last line is read"
    )
    recursive: bool = Field(False, description="look into subfolders")
    archive_dir: str | None = Field(None, description="move finished, fully ingested files here; never delete")
    heartbeat_seconds: float = Field(
        DEFAULT_HEARTBEAT_SECONDS, gt=0, description="seconds between two 'still watching' lines"
    )


@dataclass(frozen=True)
class Rule:
    """A validated rule: absolute folders, the profile already loaded."""

    index: int
    dir: Path
    pattern: str
    profile: Profile
    recursive: bool
    settle_seconds: float
    archive_dir: Path | None

    def describe(self) -> str:
        where = f"{self.dir}{os.sep}**{os.sep}" if self.recursive else f"{self.dir}{os.sep}"
        return f"{where}{self.pattern} with profile {self.profile.name}"


@dataclass(frozen=True)
class WatchConfig:
    """What the watcher needs; ``origin`` (a file path or "command line") prefixes its messages."""

    rules: tuple[Rule, ...]
    interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    origin: str = COMMAND_LINE

    def with_overrides(
        self, *, interval_seconds: float | None = None, settle_seconds: float | None = None
    ) -> WatchConfig:
        """The command line wins over the file (``--interval``, ``--settle``), for every rule."""
        if interval_seconds is not None and interval_seconds <= 0:
            raise ValidationFailed(f"--interval must be more than 0 seconds (got {interval_seconds:g})")
        if settle_seconds is not None and settle_seconds < 0:
            raise ValidationFailed(f"--settle cannot be negative (got {settle_seconds:g})")
        rules = self.rules
        if settle_seconds is not None:
            rules = tuple(replace(rule, settle_seconds=settle_seconds) for rule in rules)
        return replace(self, rules=rules, interval_seconds=interval_seconds or self.interval_seconds)


def _where(loc: tuple[int | str, ...]) -> str:
    """``("rules", 1, "profile")`` → ``rules[1].profile (rule 2)``: the key, and the rule as a person counts it."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        text += f" (rule {loc[1] + 1})"
    return text or "(top level)"


def _message(text: str) -> str:
    """Pydantic's message without its "Value error, " prefix (our validators' sentences stand alone)."""
    return text.removeprefix("Value error, ")


def _format_errors(error: ValidationError, origin: str) -> str:
    lines = [f"{origin}: the watch configuration is not valid"]
    for item in error.errors():
        lines.append(f"  - {_where(tuple(item['loc']))}: {_message(item['msg'])}")
    return "\n".join(lines)


def _path(value: str, base: Path) -> Path:
    """An absolute path (``abspath``, not ``resolve``: on Windows, resolve turns a mapped drive into UNC)."""
    path = Path(os.path.expanduser(value))
    return Path(os.path.abspath(path if path.is_absolute() else base / path))


def _profile(value: str, base: Path) -> Profile:
    looks_like_path = value.endswith((".yaml", ".yml")) or "/" in value or "\\" in value
    profile = resolve_profile(str(_path(value, base)) if looks_like_path else value)
    if profile.kind != "events":
        raise ValidationFailed(
            f"profile {profile.name} is for {profile.kind} feeds, not operation logs",
            hint=f"reference feeds are imported with `auditd import {profile.kind} FILE`",
        )
    return profile


def _resolve(model: WatchModel, origin: str, base: Path) -> WatchConfig:
    rules: list[Rule] = []
    seen: dict[tuple[Path, str], int] = {}
    for index, raw in enumerate(model.rules):

        def fail(key: str, message: str, hint: str | None = None, index: int = index) -> ValidationFailed:
            if origin == COMMAND_LINE:
                return ValidationFailed(f"{_OPTIONS.get(key, '')}{message}", hint=hint)
            return ValidationFailed(f"{origin}: {_where(('rules', index, key))}: {message}", hint=hint)

        directory = _path(raw.dir, base)
        if not directory.exists():
            raise fail("dir", f"no such folder: {directory}")
        if not directory.is_dir():
            raise fail("dir", f"{directory} is a file, not a folder")
        try:
            profile = _profile(raw.profile, base)
        except AuditdError as exc:
            raise fail("profile", exc.message, exc.hint) from exc
        archive_text = raw.archive_dir if raw.archive_dir is not None else model.archive_dir
        archive = _path(archive_text, base) if archive_text else None
        if archive is not None:
            if archive == directory:
                raise fail("archive_dir", f"{archive} is the watched folder itself; give another folder")
            if archive.exists() and not archive.is_dir():
                raise fail("archive_dir", f"{archive} is a file, not a folder")
        key = (directory, raw.pattern)
        if key in seen:
            raise fail("pattern", f"the same folder and pattern as rule {seen[key] + 1}: each file is read by one rule")
        seen[key] = index
        rules.append(
            Rule(
                index=index,
                dir=directory,
                pattern=raw.pattern,
                profile=profile,
                recursive=model.recursive if raw.recursive is None else raw.recursive,
                settle_seconds=model.settle_seconds if raw.settle_seconds is None else raw.settle_seconds,
                archive_dir=archive,
            )
        )
    return WatchConfig(
        rules=tuple(rules),
        interval_seconds=model.interval_seconds,
        heartbeat_seconds=model.heartbeat_seconds,
        origin=origin,
    )


def parse_watch_config(data: Any, origin: str, base: Path) -> WatchConfig:
    """Validate a parsed YAML document; relative paths in it are relative to ``base``."""
    if isinstance(data, list):
        raise ValidationFailed(
            f"{origin}: the watch configuration is a mapping with a `rules:` list, not a bare list",
            hint="write `rules:` on the first line and indent the list under it",
        )
    if not isinstance(data, dict):
        raise ValidationFailed(
            f"{origin}: the watch configuration is a mapping (rules: […], interval_seconds: …)",
            hint="see the section 'Drop folders' of docs/collectors.md",
        )
    try:
        model = WatchModel.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(_format_errors(exc, origin)) from exc
    return _resolve(model, origin, base)


def load_watch_config(path: Path) -> WatchConfig:
    """Read and validate a watch configuration file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ValidationFailed(f"{path}: no such configuration file") from exc
    except OSError as exc:
        raise ValidationFailed(f"{path}: cannot read the configuration ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ValidationFailed(f"{path}: the configuration must be UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        raise ValidationFailed(f"{path}: not valid YAML: {exc}") from exc
    return parse_watch_config(data, str(path), Path(os.path.abspath(path)).parent)


def folder_config(
    directory: Path,
    profile: str,
    *,
    pattern: str = "*",
    recursive: bool = False,
    archive_dir: Path | None = None,
    interval_seconds: float | None = None,
    settle_seconds: float | None = None,
) -> WatchConfig:
    """One folder given on the command line, validated exactly like a rule of a file."""
    data: dict[str, Any] = {"rules": [{"dir": str(directory), "pattern": pattern, "profile": profile}]}
    data["recursive"] = recursive
    if archive_dir is not None:
        data["archive_dir"] = str(archive_dir)
    if interval_seconds is not None:
        data["interval_seconds"] = interval_seconds
    if settle_seconds is not None:
        data["settle_seconds"] = settle_seconds
    try:
        model = WatchModel.model_validate(data)
    except ValidationError as exc:
        options = {"interval_seconds": "--interval: ", **_OPTIONS}
        problems = [f"{options.get(str(item['loc'][-1]), '')}{_message(item['msg'])}" for item in exc.errors()]
        raise ValidationFailed("; ".join(problems)) from exc
    return _resolve(model, COMMAND_LINE, Path.cwd())
