"""``auditd rights campaign …`` as a subprocess on the test's store, the ``rights.recertification``
job as the scheduler runs it, and the campaign log's append-only triggers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from campaign_support import make_ledger
from rights_support import People, Register
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DatabaseError

from auditd.rights.models import RecertCampaign
from auditd.scheduler.service import installed_jobs
from auditd.settings import Settings
from auditd.trail.models import TrailEntry


def test_a_campaign_from_the_command_line(
    people: People, register: Register, engine: Engine, settings: Settings, env_for_cli: dict[str, str], tmp_path: Path
) -> None:
    make_ledger(people, engine, settings)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "auditd", "rights", "campaign", *args],
            env=env_for_cli, capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip

    opened = run("open", "--title", "CLI見直し", "--usage-months", "6")
    assert opened.returncode == 0, opened.stderr
    assert "4 grants to review (2 unused)" in opened.stdout
    with engine.connect() as conn:
        cid = conn.execute(select(RecertCampaign.id)).scalar_one()
    assert run("open").returncode != 0  # one open campaign at a time
    assert "CLI見直し" in run("list").stdout
    shown = run("show", str(cid), "--undecided")
    assert shown.returncode == 0 and "UNUSED" in shown.stdout and "u-s003" in shown.stdout
    reminded = run("remind", str(cid))
    assert reminded.returncode == 0 and "2 sections reminded" in reminded.stdout
    out = tmp_path / "report.csv"
    report = run("report", str(cid), "--csv", str(out))
    assert report.returncode == 0, report.stderr
    assert out.read_bytes().decode("utf-8-sig").splitlines()[-1] == "合計,4,0,0,0,0,4,0,2,0"
    closed = run("close", str(cid))
    assert closed.returncode == 0 and "0/4 decided" in closed.stdout
    with engine.connect() as conn:
        actions = conn.execute(
            select(TrailEntry.action, TrailEntry.actor)
            .where(TrailEntry.action.like("recert_%"))
            .order_by(TrailEntry.id)
        ).all()
    assert [a for a, _ in actions] == [
        "recert_opened", "recert_reminded", "recert_reminded", "recert_report", "recert_flagged", "recert_closed",
    ]  # fmt: skip
    assert all(actor.startswith("cli:") for _, actor in actions)


def test_the_daily_job_is_installed_and_idempotent(
    people: People, register: Register, engine: Engine, settings: Settings
) -> None:
    make_ledger(people, engine, settings)
    job = installed_jobs()["rights.recertification"]
    assert job.describe() == "cron hour=7, minute=0 (Asia/Tokyo)"
    people.officer.post("/api/v1/rights/campaigns", json={})  # deadline in 30 days: nothing due today
    assert job.run(settings, engine).endswith(
        "0 sections reminded, 0 items flagged, 0 sections escalated, 0 mails queued"
    )


@pytest.mark.parametrize("statement", ["UPDATE recert_events SET actor = 'x'", "DELETE FROM recert_events"])
def test_the_campaign_log_is_append_only(
    people: People, register: Register, engine: Engine, settings: Settings, statement: str
) -> None:
    assert people.officer.post("/api/v1/rights/campaigns", json={}).status_code == 201
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
