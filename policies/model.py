"""The policy as typed data: who may do what, where, when and how authenticated.

A policy is a set of YAML files (the defaults in ``policies/defaults/`` for a typical 市, overridden by
a municipality's own directory). Each file may hold any of the top-level sections below; a name
defined in two files is an error naming both. Everything is validated before anything is decided:
an error names the file, the key and what was expected.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from auditd.events.models import ACTIONS

WILDCARD = "*"
#: Actions that are not accesses to a resident's data: only terminal and account rules apply to them.
AUTH_ACTIONS = frozenset({"login", "logout", "login_fail"})
FACTORS = ("password", "vein", "fingerprint", "face", "ic_card", "my_number_card", "certificate", "otp")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Jimu(_Strict):
    """A business (事務): whether it uses the 個人番号 and on what legal basis."""

    uses_mynumber: bool = True
    legal_basis: str = ""
    description: str = ""


class System(_Strict):
    """A business system whose logs are collected, and the network segment it lives in."""

    segment: Literal["mynumber", "lgwan", "internet"] = "mynumber"
    kind: Literal["business", "linkage", "authentication", "endpoint"] = "business"
    description: str = ""


class Permit(_Strict):
    """What a role may do: in these systems, for these businesses, these actions (``*`` = any)."""

    systems: list[str] = Field(min_length=1)
    jimu: list[str] = Field(default_factory=lambda: [WILDCARD], min_length=1)
    actions: list[str] = Field(min_length=1)

    @field_validator("actions")
    @classmethod
    def _known_actions(cls, value: list[str]) -> list[str]:
        unknown = [a for a in value if a != WILDCARD and a not in ACTIONS]
        if unknown:
            raise ValueError(f"unknown action(s) {', '.join(unknown)}; known: {', '.join(ACTIONS)}")
        return value


class TimeWindow(_Strict):
    """Hours of a day (``end`` may pass midnight: 22:00–06:00), on which days."""

    start: time
    end: time
    days: Literal["open", "closed", "all", "weekdays"] = "all"


class Role(_Strict):
    """A role of the rights ledger (権限管理表). Grants name roles; a role names what it permits."""

    title: str
    permits: list[Permit] = Field(min_length=1)
    sections: list[str] = Field(
        default_factory=list, description="sections whose staff may hold it (empty: any); after a transfer it lapses"
    )
    shows_mynumber: bool = Field(False, description="may display the 個人番号 (show_mynumber)")
    privileged: bool = Field(False, description="an administrator's role (inventoried and watched)")
    terminals: list[str] = Field(default_factory=list, description="only from these terminals (batch accounts)")
    hours: list[TimeWindow] = Field(default_factory=list, description="replaces business hours for this role")


class SectionHours(_Strict):
    start: time
    end: time


class CounterOpening(_Strict):
    """A section's counter open on a closed day (休日窓口), so its work then is in hours."""

    section: str
    dates: list[date] = Field(min_length=1)
    start: time
    end: time


class TimeRules(_Strict):
    business_hours: SectionHours = SectionHours(start=time(8, 30), end=time(17, 15))
    section_hours: dict[str, SectionHours] = Field(default_factory=dict)
    grace_minutes: int = Field(0, ge=0, le=120, description="minutes after the end still counted in hours")
    counter_openings: list[CounterOpening] = Field(default_factory=list)


class FactorRule(_Strict):
    """Factors a login must carry: at least ``min_factors`` distinct ones, one of ``one_of`` if given."""

    min_factors: int = Field(1, ge=1, le=4)
    one_of: list[str] = Field(default_factory=list)

    @field_validator("one_of")
    @classmethod
    def _known_factors(cls, value: list[str]) -> list[str]:
        unknown = [f for f in value if f not in FACTORS]
        if unknown:
            raise ValueError(f"unknown factor(s) {', '.join(unknown)}; known: {', '.join(FACTORS)}")
        return value


class AuthenticationRules(_Strict):
    segments: dict[str, FactorRule] = Field(default_factory=dict, description="by terminal segment")
    account_kinds: dict[str, FactorRule] = Field(default_factory=dict, description="replaces the segment's rule")
    session_hours: float = Field(12, gt=0, le=48, description="a login older than this no longer covers operations")


class OutputRules(_Strict):
    bulk_threshold: int = Field(100, ge=1, description="residents in one print/export that need a prior approval")
    bulk_actions: list[str] = Field(default_factory=lambda: ["print", "export"])


class ContractorRules(_Strict):
    require_pledge: bool = True
    hours: SectionHours | None = None


class Meta(_Strict):
    name: str = "policy"
    description: str = ""
    valid_from: datetime | None = Field(None, description="decides events from this instant (default: when loaded)")


class Policy(_Strict):
    """The whole policy, merged from its files."""

    meta: Meta = Meta()
    jimu: dict[str, Jimu] = Field(default_factory=dict)
    systems: dict[str, System] = Field(default_factory=dict)
    roles: dict[str, Role] = Field(default_factory=dict)
    time: TimeRules = TimeRules()
    authentication: AuthenticationRules = AuthenticationRules()
    outputs: OutputRules = OutputRules()
    contractors: ContractorRules = ContractorRules()

    @model_validator(mode="after")
    def _references(self) -> Policy:
        problems: list[str] = []
        for name, role in self.roles.items():
            for i, permit in enumerate(role.permits):
                for system in permit.systems:
                    if system != WILDCARD and system not in self.systems:
                        problems.append(f"roles.{name}.permits.{i}.systems: {system!r} is not under systems")
                for jimu in permit.jimu:
                    if jimu != WILDCARD and jimu not in self.jimu:
                        problems.append(f"roles.{name}.permits.{i}.jimu: {jimu!r} is not under jimu")
            if "show_mynumber" in {a for p in role.permits for a in p.actions} and not role.shows_mynumber:
                problems.append(f"roles.{name}: permits show_mynumber but shows_mynumber is false")
        for segment in self.authentication.segments:
            if segment not in ("mynumber", "lgwan", "internet"):
                problems.append(f"authentication.segments.{segment}: not a segment (mynumber, lgwan, internet)")
        for i, action in enumerate(self.outputs.bulk_actions):
            if action not in ACTIONS:
                problems.append(f"outputs.bulk_actions.{i}: unknown action {action!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self
