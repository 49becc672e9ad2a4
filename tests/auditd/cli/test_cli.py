"""The operator's surface, run as a person would: the `auditd` command in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import auditd
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from auditd.api.app import create_app
from auditd.auth.testing import csrf_of
from auditd.settings import Settings


def test_help_reads_well_everywhere(env_for_cli: dict[str, str]):
    top = auditd(env_for_cli, "--help")
    assert top.returncode == 0
    for command in ("demo", "serve", "db", "ingest", "import", "profile", "user"):
        assert command in top.stdout
    for sub in (("db", "--help"), ("ingest", "--help"), ("profile", "test", "--help"), ("demo", "--help")):
        done = auditd(env_for_cli, *sub)
        assert done.returncode == 0 and "Usage" in done.stdout, sub


def test_commands_on_an_unmigrated_store_say_what_to_do(tmp_path: Path):
    env = {"AUDITD_DATA_DIR": str(tmp_path), "AUDITD_ENV": "test", "PATH": "/usr/bin:/bin"}
    done = auditd(env, "ingest", __file__, "--profile", "demo-tax")
    assert done.returncode != 0
    assert "auditd db upgrade" in done.stderr and "Traceback" not in done.stderr


def test_bad_profile_is_a_clear_error_not_a_traceback(env_for_cli: dict[str, str], tmp_path: Path):
    bad = tmp_path / "p.yaml"
    bad.write_text("name: p\nformat: xml\nfields: {}\n", encoding="utf-8")
    done = auditd(env_for_cli, "profile", "test", str(bad), __file__)
    assert done.returncode == 2
    assert "format" in done.stderr and str(bad) in done.stderr and "Traceback" not in done.stderr


def test_profile_test_shows_records_and_problems(env_for_cli: dict[str, str], small_city):  # type: ignore[no-untyped-def]
    tax = next(i for i in small_city.inputs if i.profile == "demo-tax")
    done = auditd(dict(env_for_cli, COLUMNS="400"), "profile", "test", "demo-tax", str(tax.path), "--rows", "3")
    assert done.returncode == 0, done.stderr
    assert "problems: 0" in done.stdout
    assert "first 3 records" in done.stdout and "+09:00" in done.stdout  # timestamps shown in Japan time
    assert any(jimu in done.stdout for jimu in ("個人住民税", "固定資産税", "収納・滞納"))
    staff = next(i for i in small_city.inputs if i.kind == "staff")
    done = auditd(env_for_cli, "profile", "test", "standard-staff", str(staff.path))
    assert done.returncode == 0 and "problems: 0" in done.stdout


@pytest.mark.slow
def test_demo_builds_the_city_runs_the_pipeline_and_is_idempotent(
    env_for_cli: dict[str, str], engine: Engine, settings: Settings
):
    first = auditd(env_for_cli, "demo", "--no-serve", "--residents", "2000", "--days", "10")
    assert first.returncode == 0, first.stderr
    assert "planted incidents" in first.stdout and "login: officer /" in first.stdout
    with engine.connect() as conn:
        events = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
        staff = conn.execute(text("SELECT count(*) FROM staff")).scalar_one()
        masked = conn.execute(text("SELECT count(*) FROM events WHERE pii_masked")).scalar_one()
        users = conn.execute(text("SELECT username FROM platform_users")).scalars().all()
    assert events > 5000 and staff >= 30 and masked > 0 and users == ["officer"]
    second = auditd(env_for_cli, "demo", "--no-serve", "--residents", "2000", "--days", "10")
    assert second.returncode == 0, second.stderr
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == events
        # the contractor operator works under the demo's contract, recorded once, pledge included
        roster = conn.execute(
            text(
                "SELECT c.contract_number, o.staff_id, o.pledge_date FROM contracts c JOIN contract_operators o"
                " ON o.contract_id = c.id JOIN staff s ON s.staff_id = o.staff_id WHERE s.employment = 'contractor'"
            )
        ).all()
    assert len(roster) == 1 and roster[0][0] == "DEMO-委託-001" and roster[0][2] is not None
    login = json.loads((settings.data_dir / "demo" / "login.json").read_text(encoding="utf-8"))
    assert login["password"] in first.stdout and login["password"] in second.stdout
    assert login["totp_secret"] in first.stdout and login["totp_secret"] in second.stdout, "enrolled once"

    # the printed login works through the real forms, the second factor from `auditd demo --code`
    client = TestClient(create_app(settings, engine))
    step = client.post(
        "/login",
        data={"csrf": csrf_of(client.get("/login").text), "username": "officer", "password": login["password"]},
        follow_redirects=False,
    )
    assert step.status_code == 303 and step.headers["location"] == "/login/totp"
    code = auditd(env_for_cli, "demo", "--code")
    assert code.returncode == 0 and code.stdout.strip().isdigit(), code.stderr
    done = client.post(
        "/login/totp",
        data={"csrf": csrf_of(client.get("/login/totp").text), "code": code.stdout.strip()},
        follow_redirects=False,
    )
    assert done.status_code == 303 and client.get("/").status_code == 200


def test_ingest_json_summary_and_user_add(env_for_cli: dict[str, str], small_city):  # type: ignore[no-untyped-def]
    tax = [str(i.path) for i in small_city.inputs if i.profile == "demo-tax"][:2]
    done = auditd(env_for_cli, "ingest", *tax, "--profile", "demo-tax", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert len(summary) == 2 and all(s["accepted"] > 0 and s["quarantined"] == 0 for s in summary)
    added = auditd(
        env_for_cli,
        "user",
        "add",
        "auditor1",
        "--role",
        "auditor",
        "--password-stdin",
        stdin="a long passphrase\n",
    )
    assert added.returncode == 0, added.stderr
    short = auditd(env_for_cli, "user", "add", "auditor2", "--role", "auditor", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "at least" in short.stderr
