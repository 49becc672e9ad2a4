"""Attestations (証跡による回答): what no log can show — training, physical measures, audits, the
contractors' yearly check — answered by a person for a fiscal year, with an evidence file.

An attestation is never changed: a newer one of the same (fiscal year, item) is the answer in force
and the older stays, so the annual report can show who said what and when. Giving one and downloading
its evidence are entries in the platform's trail. Only an officer, logged in as a person (or at the
server's shell), attests.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.errors import Forbidden, NotFound, PayloadTooLarge, ValidationFailed
from auditd.reports import repository as repo
from auditd.reports.models import ATTESTATION_ITEMS, ATTESTATION_RESULTS
from auditd.settings import Settings
from auditd.trail import service as trail
from reports.base import fiscal_year as fiscal_year_period
from reports.schemas import AttestationList, AttestationOut

MAX_STATEMENT = 10_000


@dataclass(frozen=True)
class Evidence:
    """An evidence file as received: its name as the person gave it, media type and bytes."""

    filename: str
    media_type: str
    content: bytes


def may_attest(principal: Principal) -> bool:
    return principal.role == PlatformRole.OFFICER and principal.user_id is not None and principal.scopes is None


def check_evidence_size(settings: Settings, size: int) -> None:
    if size > settings.attestation_max_bytes:
        raise PayloadTooLarge(
            f"the evidence file is {size:,} bytes; at most {settings.attestation_max_bytes:,} are accepted",
            hint="AUDITD_ATTESTATION_MAX_BYTES",
        )


def _clean_name(name: str) -> str:
    # a browser may send a path (C:\\fakepath\\…); keep the last part, without control characters
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in base if c.isprintable()).strip()[:200] or "evidence"


def out(row: dict[str, Any], current_id: int | None) -> AttestationOut:
    fields = {k: v for k, v in row.items() if k in AttestationOut.model_fields}
    has_file = row.get("evidence_sha256") is not None
    return AttestationOut(
        **fields,
        item_ja=ATTESTATION_ITEMS.get(row["item"], row["item"]),
        result_ja=ATTESTATION_RESULTS.get(row["result"], row["result"]),
        current=row["id"] == current_id,
        download=f"/api/v1/attestations/{row['id']}/evidence" if has_file else None,
    )


def attest(
    connection: Connection,
    settings: Settings,
    municipality_code: str,
    *,
    fiscal_year: int,
    item: str,
    result: str,
    statement: str,
    evidence: Evidence | None,
    actor: str,
    client: str,
    now: datetime,
) -> AttestationOut:
    """Record an answer for (``fiscal_year``, ``item``); it supersedes the previous one, which is kept.
    One trail entry ``attestation.add`` (with the evidence's digest, not its content)."""
    fiscal_year_period(fiscal_year)  # refuses a year out of range
    if item not in ATTESTATION_ITEMS:
        raise ValidationFailed(f"no attestation item {item!r}", hint=", ".join(ATTESTATION_ITEMS))
    if result not in ATTESTATION_RESULTS:
        raise ValidationFailed(f"result {result!r} is not known", hint=", ".join(ATTESTATION_RESULTS))
    text = statement.strip()
    if not text:
        raise ValidationFailed(
            "a statement is needed / 実施内容を記入してください", hint="what was done, when, by whom"
        )
    if len(text) > MAX_STATEMENT:
        raise ValidationFailed(f"the statement is longer than {MAX_STATEMENT:,} characters")
    values: dict[str, Any] = {
        "evidence_name": None,
        "evidence_media_type": None,
        "evidence_size": None,
        "evidence_sha256": None,
        "evidence": None,
    }
    if evidence is not None:
        check_evidence_size(settings, len(evidence.content))
        if not evidence.content:
            raise ValidationFailed("the evidence file is empty")
        values.update(
            evidence_name=_clean_name(evidence.filename),
            evidence_media_type=(evidence.media_type or "application/octet-stream")[:100],
            evidence_size=len(evidence.content),
            evidence_sha256=hashlib.sha256(evidence.content).hexdigest(),
            evidence=evidence.content,
        )
    attestation_id = repo.add_attestation(
        connection,
        municipality_code=municipality_code,
        fiscal_year=fiscal_year,
        item=item,
        result=result,
        statement=text,
        attested_by=actor[:64],
        attested_at=now,
        **values,
    )
    detail = {
        "fiscal_year": fiscal_year,
        "item": item,
        "result": result,
        "evidence_name": values["evidence_name"],
        "evidence_sha256": values["evidence_sha256"],
        "evidence_size": values["evidence_size"],
    }
    trail.record(
        connection,
        municipality_code,
        actor,
        "attestation.add",
        "attestation",
        str(attestation_id),
        detail=detail,
        client=client,
    )
    found = repo.attestation(connection, municipality_code, attestation_id)
    assert found is not None
    return out(found, attestation_id)


def listing(connection: Connection, municipality_code: str, fiscal_year: int) -> AttestationList:
    """Every attestation of the year, oldest first, each marked whether it is the answer in force."""
    fiscal_year_period(fiscal_year)
    rows = repo.attestation_history(connection, municipality_code, fiscal_year)
    current = {row["item"]: row["id"] for row in rows}  # ascending ids: the last one per item wins
    return AttestationList(fiscal_year=fiscal_year, items=[out(row, current[row["item"]]) for row in rows])


def current(connection: Connection, municipality_code: str, fiscal_year: int) -> dict[str, AttestationOut]:
    """The answer in force per item (items nobody attested are absent)."""
    found = repo.attestations_for(connection, municipality_code, fiscal_year)
    return {item: out(row, row["id"]) for item, row in found.items()}


def evidence(
    connection: Connection, municipality_code: str, attestation_id: int, *, actor: str, client: str
) -> dict[str, Any]:
    """An attestation with its evidence file; the download is an entry ``attestation.download``."""
    row = repo.attestation(connection, municipality_code, attestation_id, content=True)
    if row is None or row["evidence"] is None:
        raise NotFound(f"attestation #{attestation_id} has no evidence file")
    trail.record(
        connection,
        municipality_code,
        actor,
        "attestation.download",
        "attestation",
        str(attestation_id),
        detail={"item": row["item"], "fiscal_year": row["fiscal_year"], "sha256": row["evidence_sha256"]},
        client=client,
    )
    return row


def require_officer(principal: Principal) -> None:
    if not may_attest(principal):
        raise Forbidden(
            "an attestation is given by an officer in person / 証跡の登録は職員本人（保護責任者）のみ可能です"
        )
