"""``auditd rights apply-personnel``: the operator's command, run as a subprocess on the test's store."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

from rights_support import TODAY, People, Register, assignments_csv, request_grant
from sqlalchemy import Engine, select

from auditd.reference.models import Grant
from auditd.settings import Settings
from auditd.trail.models import TrailEntry


def test_apply_personnel_from_the_command_line(
    people: People, register: Register, engine: Engine, env_for_cli: dict[str, str]
):
    request_id = request_grant(people.officer)
    grant_id = people.head_1101.post(f"/api/v1/rights/requests/{request_id}/approve").json()["grant"]["id"]
    moved_on = TODAY - timedelta(days=5)
    register(assignments_csv(f"S001,1102,{moved_on},", s001_until=moved_on))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "auditd", "rights", "apply-personnel", *args],
            env=env_for_cli, capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip

    before = run("--on", str(moved_on - timedelta(days=1)))
    assert before.returncode == 0, before.stderr
    assert "0 suspended" in before.stdout
    done = run("--on", str(moved_on))
    assert done.returncode == 0, done.stderr
    assert "1 suspended" in done.stdout and "transfer" in done.stdout and str(moved_on) in done.stdout
    assert run("--on", "not-a-date").returncode != 0
    with engine.connect() as conn:
        assert conn.execute(select(Grant.status).where(Grant.id == grant_id)).scalar_one() == "suspended"
        actors = (
            conn.execute(select(TrailEntry.actor).where(TrailEntry.action == "rights_personnel_applied"))
            .scalars()
            .all()
        )
    assert actors and all(a.startswith("cli:") for a in actors)


def test_the_morning_job_applies_the_register(people: People, register: Register, engine: Engine, settings: Settings):
    from auditd.scheduler.service import installed_jobs

    request_id = request_grant(people.officer)
    grant_id = people.head_1101.post(f"/api/v1/rights/requests/{request_id}/approve").json()["grant"]["id"]
    register(assignments_csv(f"S001,1102,{TODAY},", s001_until=TODAY))
    job = installed_jobs()["rights.apply_personnel"]
    assert job.describe() == "cron hour=6, minute=0 (Asia/Tokyo)"
    assert job.run(settings, engine).endswith("1 active grants checked, 1 suspended")
    with engine.connect() as conn:
        assert conn.execute(select(Grant.status).where(Grant.id == grant_id)).scalar_one() == "suspended"
