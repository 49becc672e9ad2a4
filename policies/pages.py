"""The dashboard's ポリシー page: the policy in force (事務 and their legal basis, roles and what they
permit, business hours, the calendar, terminal segments and the factors they require), the recorded
versions and which one decides now, the validation of the configured policy files (as ``auditd
policy validate`` does it), and a diff between two recorded versions.

Readers: those of ``GET /api/v1/policy`` (officers, auditors, section heads, and system administrators,
who maintain the policy files). The policy holds no resident data; nothing here is recorded in the
trail."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from auditd.api.deps import DbSession, SettingsDep
from auditd.dashboard.router import render
from auditd.errors import NotFound
from policies import service
from policies.loader import DEFAULTS_DIR
from policies.model import Policy
from policies.router import PolicyReader

router = APIRouter(include_in_schema=False)
_VERSION_ID = re.compile(r"[0-9]{1,9}")


@router.get("/policy", response_class=HTMLResponse)
def policy_page(request: Request, settings: SettingsDep, db: DbSession, principal: PolicyReader) -> Response:
    connection = db.connection()
    code = principal.municipality_code
    now = datetime.now(UTC)
    today = now.astimezone(settings.tz).date()
    check = service.check_configured(settings)
    versions = service.recorded_versions(connection, code, check.loaded.digest if check.loaded else None, now)
    in_force = next((v for v in versions if v.in_force), None)
    policy: Policy | None
    origins: dict[str, str]
    if check.loaded is not None:
        policy, origins = check.loaded.policy, check.loaded.origins
    else:  # the files do not validate: show what was last recorded, if anything
        policy = service.version_policy(connection, code, in_force.id) if in_force else None
        origins = {}
    defaults = str(DEFAULTS_DIR)
    overridden = {key for key, file in origins.items() if not file.startswith(defaults)}
    return render(
        request,
        "policy.html",
        settings,
        principal=principal,
        check=check,
        policy=policy,
        overridden=overridden,
        policy_dir=settings.policy_dir,
        versions=versions,
        in_force=in_force,
        pending=check.loaded is not None and not any(v.configured for v in versions),
        calendar=service.calendar_summary(connection, code, today),
        terminals=service.terminals_by_segment(connection, code, today),
        page="policy",
    )


def _version_id(value: str | None) -> int | None:
    return int(value.strip()) if value and _VERSION_ID.fullmatch(value.strip()) else None


@router.get("/policy/diff", response_class=HTMLResponse)
def policy_diff_page(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: PolicyReader,
    a: Annotated[str | None, Query(max_length=16)] = None,
    b: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """Two recorded versions side by side as a unified diff of their canonical YAML (GET form)."""
    connection = db.connection()
    code = principal.municipality_code
    versions = service.recorded_versions(connection, code, None, datetime.now(UTC))
    old_id, new_id = _version_id(a), _version_id(b)
    lines = None
    if old_id is not None and new_id is not None:
        old = service.version_policy(connection, code, old_id)
        new = service.version_policy(connection, code, new_id)
        if old is None or new is None:
            raise NotFound("no such policy version / そのポリシー版はありません", hint="choose versions from the list")
        lines = service.policy_diff(old, new, f"#{old_id}", f"#{new_id}")
    return render(
        request,
        "policy_diff.html",
        settings,
        principal=principal,
        versions=versions,
        a=old_id,
        b=new_id,
        incomplete=(a or b) and lines is None,
        lines=lines,
        page="policy",
    )
