"""Load, merge, validate and fingerprint policies.

Layers: the built-in defaults (``policies/defaults``), then the municipality's own directory
(``AUDITD_POLICY_DIR``), whose names replace the defaults' one by one (a role, a system, a 事務) and
whose singleton sections (``time``, ``authentication``, ``outputs``, ``contractors``, ``meta``) replace
them whole. Within one layer a name defined twice is an error naming both files.

Every file is validated on its own first, so an error names the file and the key; then the merged
policy is checked for references (a role naming a system nobody defined), naming where the name came
from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from auditd.errors import ValidationFailed
from policies.model import (
    AuthenticationRules,
    ContractorRules,
    Jimu,
    Meta,
    OutputRules,
    Policy,
    Role,
    System,
    TimeRules,
)

DEFAULTS_DIR = Path(__file__).with_name("defaults")
NAMED_SECTIONS = ("jimu", "systems", "roles")
SINGLE_SECTIONS = ("meta", "time", "authentication", "outputs", "contractors")


class PolicyFile(BaseModel):
    """One YAML file: any sections, each validated on its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    meta: Meta | None = None
    jimu: dict[str, Jimu] | None = None
    systems: dict[str, System] | None = None
    roles: dict[str, Role] | None = None
    time: TimeRules | None = None
    authentication: AuthenticationRules | None = None
    outputs: OutputRules | None = None
    contractors: ContractorRules | None = None


@dataclass
class LoadedPolicy:
    """A merged, validated policy with where each part came from, and its fingerprint."""

    policy: Policy
    digest: str
    sources: list[str]
    origins: dict[str, str] = field(default_factory=dict)  # "roles.nhi" -> file

    def canonical_json(self) -> str:
        return canonical_json(self.policy)


def canonical_json(policy: Policy) -> str:
    """The policy as canonical JSON (sorted keys): the same rules always give the same text."""
    return json.dumps(policy.model_dump(mode="json"), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
    if path.is_file():
        return [path]
    raise ValidationFailed(f"{path}: no such policy file or directory")


def _errors(error: ValidationError, where: Path) -> list[str]:
    lines = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        lines.append(f"{where}: {key}: {item['msg']}")
    return lines


def _read_yaml(path: Path) -> tuple[dict[str, Any] | None, list[str]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return None, [f"{path}: cannot read: {exc.strerror}"]
    except yaml.YAMLError as exc:
        return None, [f"{path}: not valid YAML: {exc}"]
    if data is None:
        return {}, []
    if not isinstance(data, dict):
        return None, [f"{path}: a policy file is a mapping of sections (jimu, systems, roles, time …)"]
    return data, []


def read_file(path: Path) -> tuple[PolicyFile | None, list[str]]:
    """One file, validated; (None, errors) when it is not a valid policy file."""
    data, errors = _read_yaml(path)
    if data is None:
        return None, errors
    try:
        return PolicyFile.model_validate(data), []
    except ValidationError as exc:
        return None, _errors(exc, path)


def _defined_keys(data: dict[str, Any]) -> list[str]:
    """The names a file defines (``roles.nhi``, ``time`` …), read before validation so that a name
    given twice is reported even when one of the two definitions is itself wrong."""
    keys: list[str] = []
    for section in NAMED_SECTIONS:
        entries = data.get(section)
        if isinstance(entries, dict):
            keys.extend(f"{section}.{name}" for name in entries)
    keys.extend(section for section in SINGLE_SECTIONS if data.get(section) is not None)
    return keys


def _merge_layer(files: list[Path], merged: dict[str, Any], origins: dict[str, str], problems: list[str]) -> None:
    layer_origins: dict[str, str] = {}
    for path in files:
        data, errors = _read_yaml(path)
        problems.extend(errors)
        if data is None:
            continue
        repeated: set[str] = set()
        for key in _defined_keys(data):
            if key in layer_origins:
                problems.append(f"{path}: {key}: already defined in {layer_origins[key]}")
                repeated.add(key)
            else:
                layer_origins[key] = str(path)
        try:
            parsed = PolicyFile.model_validate(data)
        except ValidationError as exc:
            problems.extend(_errors(exc, path))
            continue
        for section in NAMED_SECTIONS:
            for name, value in (getattr(parsed, section) or {}).items():
                if f"{section}.{name}" not in repeated:
                    merged.setdefault(section, {})[name] = value.model_dump()
        for section in SINGLE_SECTIONS:
            value = getattr(parsed, section)
            if value is not None and section not in repeated:
                merged[section] = value.model_dump()
    origins.update(layer_origins)


def load_policy(*layers: Path) -> LoadedPolicy:
    """Merge ``layers`` (directories or files) in order and validate; raise with every problem found."""
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    problems: list[str] = []
    sources: list[str] = []
    for layer in layers:
        files = _files(layer)
        sources.extend(str(f) for f in files)
        _merge_layer(files, merged, origins, problems)
    if not problems:
        try:
            policy = Policy.model_validate(merged)
        except ValidationError as exc:
            for item in exc.errors():
                for message in str(item["msg"]).removeprefix("Value error, ").split("; "):
                    key = message.split(":", 1)[0]
                    name = ".".join(key.split(".")[:2])
                    problems.append(f"{origins.get(name, origins.get(key.split('.')[0], 'policy'))}: {message}")
    if problems:
        raise ValidationFailed("the policy is not valid:\n" + "\n".join(f"  - {p}" for p in problems))
    text = canonical_json(policy)
    return LoadedPolicy(policy, hashlib.sha256(text.encode()).hexdigest(), sources, origins)


def load_configured(policy_dir: Path | None) -> LoadedPolicy:
    """The defaults, overridden by ``policy_dir`` when given."""
    return load_policy(DEFAULTS_DIR, policy_dir) if policy_dir else load_policy(DEFAULTS_DIR)
