"""``auditd demo``: build the demo municipality, run the pipeline on it, and (by default) serve it."""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as dt_time
from pathlib import Path

import pyotp
from rich.console import Console
from sqlalchemy import Engine, select

from auditd.auth import repository as users_repo
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.auth.service import create_user, enrol_totp
from auditd.demo.generator import Manifest, generate_city
from auditd.demo.incidents import Incident
from auditd.demo.world import CityConfig
from auditd.errors import NotFound
from auditd.pipeline import PipelineContext, StepResult, run_pipeline
from auditd.privacy.vault import Vault
from auditd.reference.models import Staff
from auditd.reference.repository import ensure_municipality
from auditd.rights import contracts
from auditd.rights.schemas import ContractIn, ContractOperatorIn
from auditd.settings import Settings
from auditd.store import migrate
from auditd.store.db import make_session_factory, session_scope

DEMO_USER = "officer"


@dataclass
class DemoResult:
    manifest: Manifest
    steps: list[StepResult]
    username: str
    password: str
    totp_secret: str
    seconds: float


def _login_file(settings: Settings) -> Path:
    return settings.data_dir / "demo" / "login.json"


def _read_login(settings: Settings) -> dict[str, str]:
    path = _login_file(settings)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _write_login(settings: Settings, data: dict[str, str]) -> None:
    path = _login_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle)


def demo_credentials(settings: Settings) -> tuple[str, str]:
    """The demo officer's login: a random password made once and kept (0600) in the data directory."""
    data = _read_login(settings)
    if "password" not in data:
        data = {"username": DEMO_USER, "password": "demo-" + secrets.token_urlsafe(12)}
        _write_login(settings, data)
    return data["username"], data["password"]


def ensure_demo_user(engine: Engine, settings: Settings, username: str, password: str) -> str:
    """Make the demo officer if missing, with the second factor officers must have; returns its TOTP
    secret, kept next to the password (a demo has no person to hand it to)."""
    data = _read_login(settings)
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        user = users_repo.by_username(session, settings.municipality_code, username)
        if user is None:
            create_user(
                session,
                settings.municipality_code,
                username,
                password,
                PlatformRole.OFFICER,
                display_name="デモ セキュリティ責任者",
                actor="demo",
            )
        if user is None or user.totp_sealed is None or "totp_secret" not in data:
            vault = Vault(settings.secret("encryption_key"))
            data["totp_secret"] = enrol_totp(
                session, vault, settings.municipality_code, username, reset=True, actor="demo"
            )
            _write_login(settings, data)
    return data["totp_secret"]


def demo_totp_code(settings: Settings) -> str:
    """The demo officer's current one-time code (``auditd demo --code``), for a demo run without a phone."""
    secret = _read_login(settings).get("totp_secret")
    if secret is None:
        raise NotFound("no demo login in this data directory", hint="run `auditd demo` first")
    return pyotp.TOTP(secret).now()


def run_demo(settings: Settings, engine: Engine, config: CityConfig, console: Console) -> DemoResult:
    started = time.perf_counter()
    _before, after = migrate.upgrade(engine)
    console.print(f"store: {engine.url.render_as_string(hide_password=True)} (migration {after})")
    out = settings.data_dir / "demo" / "city"
    with console.status("generating the demo municipality…"):
        manifest = generate_city(out, config)
    console.print(
        f"generated {config.name} ({config.municipality_code}): {manifest.counts['residents']:,} residents, "
        f"{manifest.counts['staff']:,} staff, {manifest.counts['cases']:,} cases, {manifest.events:,} log records "
        f"in {len(manifest.inputs)} files, {len(manifest.incidents)} planted incidents "
        f"({manifest.seconds:.1f} s) → {out}"
    )
    with engine.begin() as connection:
        ensure_municipality(
            connection,
            config.municipality_code,
            config.name,
            prefecture="デモ県",
            population=config.residents,
            created_at=datetime.now(UTC),
        )
    context = PipelineContext(
        settings=settings,
        engine=engine,
        municipality_code=config.municipality_code,
        inputs=manifest.inputs,
        console=console,
        actor="demo",
    )
    steps = run_pipeline(context)
    demo_contracts(engine, config.municipality_code)
    username, password = demo_credentials(settings)
    secret = ensure_demo_user(engine, settings, username, password)
    return DemoResult(manifest, steps, username, password, secret, time.perf_counter() - started)


#: The demo's outsourcing contract (委託契約): its data-entry operators work weekdays 08:30–17:30 for 市民税課.
DEMO_CONTRACT = "DEMO-委託-001"


def demo_contracts(engine: Engine, municipality_code: str) -> None:
    """The contract the demo's contractor operators work under, with their pledge, recorded once: from
    the staff feed's pledge day to the end of the next fiscal year, so that their grants stay in force."""
    now = datetime.now(UTC)
    principal = Principal(None, "demo", "demo", PlatformRole.OFFICER, municipality_code)
    with engine.begin() as connection:
        operators = connection.execute(
            select(Staff.staff_id, Staff.contractor, Staff.pledge_date).where(
                Staff.municipality_code == municipality_code, Staff.employment == "contractor"
            )
        ).all()
        if not operators:
            return
        try:
            contract_id = contracts.find(connection, principal, DEMO_CONTRACT).contract.id
        except NotFound:
            first = min(o.pledge_date or now.date() for o in operators)
            wanted = ContractIn(
                contractor=operators[0].contractor or "委託業者",
                contract_number=DEMO_CONTRACT,
                valid_from=first,
                valid_to=date(now.year + (2 if now.month >= 4 else 1), 4, 1),
                window_start=dt_time(8, 30),
                window_end=dt_time(17, 30),
                sections=["1101"],
            )
            contract_id = contracts.add_contract(connection, principal, wanted, now=now, client="demo").id
            for o in operators:
                wanted_operator = ContractOperatorIn(staff_id=o.staff_id, pledge_date=o.pledge_date)
                contracts.assign(connection, principal, contract_id, wanted_operator, now=now, client="demo")


def truth_summary(manifest: Manifest) -> list[str]:
    """One line per incident kind: how many were planted and the detectors meant to find them."""
    kinds: dict[str, list[Incident]] = {}
    for incident in manifest.incidents:
        kinds.setdefault(incident.kind, []).append(incident)
    lines = []
    for kind, incidents in kinds.items():
        detectors = ",".join(incidents[0].detectors)
        lines.append(f"{kind:<22} ×{len(incidents)} {detectors:<11} {incidents[0].title_ja}")
    return lines


def default_config(residents: int, days: int, seed: int) -> CityConfig:
    return CityConfig(residents=residents, days=days, seed=seed)


__all__ = ["DemoResult", "Path", "default_config", "run_demo"]
