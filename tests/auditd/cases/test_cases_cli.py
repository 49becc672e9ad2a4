"""``auditd cases …`` as an operator runs it: a subprocess on the test's store."""

from __future__ import annotations

import json

from cases_support import add_alert
from cli_support import auditd
from sqlalchemy import Engine, select

from auditd.settings import Settings
from auditd.store.base import table_of
from auditd.trail.models import TrailEntry


def test_triage_list_show_and_notify(engine: Engine, settings: Settings, env_for_cli: dict[str, str]) -> None:
    code = settings.municipality_code
    with engine.begin() as connection:
        first = add_alert(connection, code, rule="D04", severity="critical", start="2026-06-01 10:00")
        add_alert(connection, code, rule="D06", start="2026-06-02 10:00")
        add_alert(connection, code, rule="D06", user_id="u7", section="2101", subjects=("cc03cc03",))

    triaged = auditd(env_for_cli, "cases", "triage")
    assert triaged.returncode == 0, triaged.stderr
    assert "3 alert(s) into cases (2 new)" in triaged.stdout
    assert "0 alert(s) into cases (0 new)" in auditd(env_for_cli, "cases", "triage").stdout

    listed = auditd(env_for_cli, "cases", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)["items"]
    assert sorted((c["user_id"], c["alert_count"], c["severity"]) for c in items) == [
        ("u1", 2, "critical"),
        ("u7", 1, "high"),
    ]
    table = auditd(env_for_cli, "cases", "list")
    assert "新規" in table.stdout and "重大" in table.stdout
    assert auditd(env_for_cli, "cases", "list", "--status", "maybe").returncode != 0

    case_id = next(c["id"] for c in items if c["user_id"] == "u1")
    shown = auditd(env_for_cli, "cases", "show", str(case_id))
    assert shown.returncode == 0, shown.stderr
    assert f"事案 #{case_id}" in shown.stdout and f"#{first} [重大] D04" in shown.stdout and "opened" in shown.stdout
    missing = auditd(env_for_cli, "cases", "show", "9999")
    assert missing.returncode != 0 and "no case #9999" in missing.stderr + missing.stdout

    notified = auditd(env_for_cli, "cases", "notify", "--day", "2026-06-10")
    assert notified.returncode == 0, notified.stderr
    assert "digest of 2026-06-10" in notified.stdout
    assert auditd(env_for_cli, "cases", "notify", "--day", "June").returncode != 0

    with engine.connect() as connection:
        trail = table_of(TrailEntry)
        actions = [a for (a,) in connection.execute(select(trail.c.action).where(trail.c.target_id == str(case_id)))]
    assert "case_view" in actions
