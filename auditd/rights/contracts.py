"""The contractor roster (委託業者の作業者名簿): contracts, the people working under them, their pledges.

A contractor's operator holds rights only under a contract in force and after signing its pledge
(誓約書), and only until the contract ends: :func:`cap` is asked whenever a grant is issued (an
approved request, a ledger row) and either shortens the grant to the contract's end or says why it
cannot be issued. When a contract ends without a successor, the daily personnel job
(:func:`auditd.rights.service.apply_personnel`) suspends the grants still open, cause
``contract_end``, as it does for transfers and retirements.

Who is a contractor: a person of the staff feed with ``employment = contractor``, or anyone put
under a contract here. The pledge day is the one recorded for the contract (each contract has its
own pledge), else the staff feed's ``pledge_date``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from auditd.auth.schemas import Principal
from auditd.errors import Conflict, NotFound, ValidationFailed
from auditd.reference.repository import bump_generation
from auditd.rights import repository
from auditd.rights.schemas import (
    ContractDetail,
    ContractIn,
    ContractList,
    ContractOperatorIn,
    ContractOperatorOut,
    ContractOut,
)
from auditd.trail.service import record

CONTRACT_LIMIT = 500


def _out(row: dict[str, Any]) -> ContractOut:
    sections = [s for s in (row.get("sections") or "").split(",") if s]
    return ContractOut.model_validate({**row, "sections": sections})


def cap(
    connection: Connection, municipality_code: str, staff_id: str | None, valid_from: date, valid_to: date | None
) -> tuple[date | None, str | None]:
    """The end a grant to ``staff_id`` from ``valid_from`` may have, and why it may not be issued at
    all (None: it may). Not a contractor: the end asked for. A contractor: a contract in force on
    ``valid_from`` and a pledge signed by then are needed, and the grant ends with the contract."""
    if staff_id is None:
        return valid_to, None
    person = repository.staff_row(connection, municipality_code, staff_id)
    held = repository.contracts_of_staff(connection, municipality_code, staff_id)
    if not held and (person is None or person["employment"] != "contractor"):
        return valid_to, None
    contract = next((c for c in held if c["valid_from"] <= valid_from < c["valid_to"]), None)
    if contract is None:
        return valid_to, (
            f"委託業者の作業者 {staff_id} には {valid_from} に有効な契約がありません / contractor's operator "
            f"{staff_id} has no contract in force on {valid_from}: record it first (auditd rights contract add/assign)"
        )
    pledge = contract["pledge_date"] or (person or {}).get("pledge_date")
    if pledge is None or pledge > valid_from:
        return valid_to, (
            f"委託業者の作業者 {staff_id} の誓約書が {valid_from} までに提出されていません / contractor's operator "
            f"{staff_id} has not signed the pledge (誓約書) by {valid_from}"
        )
    end: date = contract["valid_to"]
    return (end if valid_to is None or valid_to > end else valid_to), None


def cap_for_account(
    connection: Connection, municipality_code: str, user_id: str, valid_from: date, valid_to: date | None
) -> tuple[date | None, str | None]:
    """:func:`cap` for the holder of the account ``user_id``."""
    account = repository.account(connection, municipality_code, user_id)
    return cap(connection, municipality_code, None if account is None else account["staff_id"], valid_from, valid_to)


def add_contract(
    connection: Connection, principal: Principal, wanted: ContractIn, *, now: datetime, client: str | None = None
) -> ContractOut:
    """Record a contract; its number is unique in the municipality (409 otherwise)."""
    mc = principal.municipality_code
    if repository.contract_by(connection, mc, contract_number=wanted.contract_number) is not None:
        raise Conflict(f"contract {wanted.contract_number!r} is already recorded / 契約番号が登録済みです")
    contract_id = repository.add_contract(
        connection,
        municipality_code=mc,
        **wanted.model_dump(exclude={"sections"}),
        sections=",".join(wanted.sections) or None,
        created_by=principal.username[:64],
        created_at=now,
    )
    bump_generation(connection, mc)  # the policy engine reads contracts' work windows (reference cache)
    record(
        connection,
        mc,
        principal.username,
        "rights_contract_added",
        "contract",
        str(contract_id),
        {"contract_number": wanted.contract_number, "valid_from": wanted.valid_from, "valid_to": wanted.valid_to},
        client,
    )
    return contract(connection, principal, contract_id).contract


def list_contracts(connection: Connection, principal: Principal, *, on: date | None = None) -> ContractList:
    rows = repository.contracts(connection, principal.municipality_code, on, CONTRACT_LIMIT)
    return ContractList(contracts=[_out(r) for r in rows])


def find(connection: Connection, principal: Principal, ref: str) -> ContractDetail:
    """A contract by its id or its number (the CLI's argument)."""
    row = repository.contract_by(connection, principal.municipality_code, contract_number=ref)
    if row is None and ref.isdigit():
        row = repository.contract_by(connection, principal.municipality_code, id=int(ref))
    if row is None:
        raise NotFound(f"no contract {ref!r} / 契約がありません")
    return contract(connection, principal, int(row["id"]))


def contract(connection: Connection, principal: Principal, contract_id: int) -> ContractDetail:
    row = repository.contract_by(connection, principal.municipality_code, id=contract_id)
    if row is None:
        raise NotFound(f"no contract {contract_id} / 契約がありません")
    operators = repository.contract_operators(connection, principal.municipality_code, contract_id)
    return ContractDetail(contract=_out(row), operators=[ContractOperatorOut.model_validate(o) for o in operators])


def assign(
    connection: Connection,
    principal: Principal,
    contract_id: int,
    wanted: ContractOperatorIn,
    *,
    now: datetime,
    client: str | None = None,
) -> ContractDetail:
    """Put a person of the personnel register under a contract (or update their pledge day)."""
    mc = principal.municipality_code
    if repository.contract_by(connection, mc, id=contract_id) is None:
        raise NotFound(f"no contract {contract_id} / 契約がありません")
    if repository.staff_row(connection, mc, wanted.staff_id) is None:
        raise ValidationFailed(
            f"no staff member {wanted.staff_id!r} on the personnel register / 職員名簿にない職員です",
            hint="import the staff feed first, with employment=contractor and the company in contractor",
        )
    added = repository.save_contract_operator(
        connection,
        mc,
        contract_id,
        wanted.staff_id,
        pledge_date=wanted.pledge_date,
        assigned_by=principal.username[:64],
        assigned_at=now,
    )
    bump_generation(connection, mc)  # the operator's work window changes for the policy engine
    record(
        connection,
        mc,
        principal.username,
        "rights_contract_assigned" if added else "rights_contract_pledge_updated",
        "contract",
        str(contract_id),
        {"staff_id": wanted.staff_id, "pledge_date": wanted.pledge_date},
        client,
    )
    return contract(connection, principal, contract_id)


def roster_of(connection: Connection, municipality_code: str, staff_id: str | None) -> list[dict[str, Any]]:
    """The contracts a person works under (for the 職員 page), the latest first, sections as a list."""
    if staff_id is None:
        return []
    rows = repository.contracts_of_staff(connection, municipality_code, staff_id)
    return [{**r, "sections": [s for s in (r.get("sections") or "").split(",") if s]} for r in rows]
