"""HTTP: the 「なぜ」 view of an event's decision, and the policy in force."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from auditd.api.deps import DbSession, SettingsDep, require
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.errors import Forbidden
from auditd.trail.service import record
from policies.explain import explain_event
from policies.service import current_policy

router = APIRouter(prefix="/api/v1", tags=["policy"])

Reader = Annotated[Principal, Depends(require(PlatformRole.OFFICER, PlatformRole.AUDITOR, PlatformRole.SECTION_HEAD))]
#: The policy itself is configuration, not resident data: system administrators read it too (as on the
#: dashboard's ポリシー page); a decision about an event is not theirs to read.
PolicyReader = Annotated[
    Principal,
    Depends(require(PlatformRole.OFFICER, PlatformRole.AUDITOR, PlatformRole.SECTION_HEAD, PlatformRole.ADMIN)),
]


@router.get("/events/{event_id}/decision", summary="Why an event was allowed or not, step by step (「なぜ」)")
def event_decision(event_id: str, db: DbSession, settings: SettingsDep, principal: Reader) -> dict[str, Any]:
    explanation = explain_event(db.connection(), settings, principal.municipality_code, event_id)
    if principal.is_section_scoped and explanation.event["section"] != principal.section_code:
        raise Forbidden("所属長は自所属の職員の操作のみ参照できます / section heads see their own section only")
    record(db.connection(), principal.municipality_code, principal.username, "view_decision", "event", event_id)
    return explanation.as_dict()


@router.get("/policy", summary="The access policy in force (merged defaults and overrides)")
def policy_in_force(settings: SettingsDep, principal: PolicyReader) -> dict[str, Any]:
    loaded = current_policy(settings)
    return {"digest": loaded.digest, "sources": loaded.sources, "policy": json.loads(loaded.canonical_json())}
