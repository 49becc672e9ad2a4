"""`auditd verify` in a subprocess, against an attacker who can write to the database but not read the key.

Each test ingests the demo city's tax and welfare logs (one batch per file), checks that the chain
verifies, then edits the database as an attacker would (dropping the append-only triggers first) and
checks that `auditd verify` names what was done. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from chain_support import (
    an_event,
    auditd,
    batches,
    delete_batch,
    delete_event,
    drop_append_only,
    edit_event,
    ingest_city,
    input_of,
    kinds,
    swap_digests,
    verify,
)
from sqlalchemy import Engine, text

from auditd.events.models import Event
from auditd.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture
def chained(engine: Engine, settings: Settings, small_city: Any, env_for_cli: dict[str, str]) -> list[Any]:
    """The city ingested and verified once, intact; returns the batches."""
    assert ingest_city(engine, settings, small_city) > 10_000
    status, report = verify(env_for_cli)
    assert status == 0 and report["outcome"] == "intact" and report["findings"] == []
    stored = batches(engine)
    assert len(stored) >= 8
    assert report["batches_checked"] == len(stored)
    with engine.connect() as conn:
        assert report["events_checked"] == conn.execute(text("SELECT count(*) FROM events")).scalar_one()
    return stored


def test_an_untouched_store_verifies_and_the_check_is_recorded(
    engine: Engine, chained: list[Any], env_for_cli: dict[str, str]
):
    done = auditd(env_for_cli, "verify")
    assert done.returncode == 0, done.stderr
    assert "intact" in done.stdout and f"checked {len(chained)} batches" in done.stdout
    with engine.connect() as conn:
        checks = conn.execute(text("SELECT outcome, batches_checked, head_position FROM integrity_checks")).all()
        trail = conn.execute(text("SELECT actor, action, detail FROM trail WHERE action = 'verify_chain'")).all()
    assert [c.outcome for c in checks] == ["intact", "intact"]
    assert all(c.batches_checked == len(chained) and c.head_position == len(chained) for c in checks)
    assert len(trail) == 2 and trail[0].actor.startswith("cli:") and '"outcome": "intact"' in trail[0].detail


def test_an_edited_event_is_named_with_its_batch_and_file(
    engine: Engine, chained: list[Any], env_for_cli: dict[str, str]
):
    target = chained[2]
    ts, event_id = an_event(engine, target.id)
    drop_append_only(engine)
    edit_event(engine, ts, event_id, user_id="someone-else")
    status, report = verify(env_for_cli)
    assert status == 3 and report["outcome"] == "tampered"
    assert kinds(report) == ["altered"]
    [finding] = report["findings"]
    assert finding["batch_id"] == target.id
    assert finding["event_ids"] == [event_id]
    assert finding["input"] == input_of(engine, target.id)
    assert "1 event(s) edited" in finding["message"] and Path(finding["input"]).name in finding["message"]
    assert finding["first_ts"] is not None and finding["last_ts"] is not None


def test_a_deleted_event_names_its_batch(engine: Engine, chained: list[Any], env_for_cli: dict[str, str]):
    target = chained[4]
    ts, event_id = an_event(engine, target.id, offset=40)
    drop_append_only(engine)
    delete_event(engine, ts, event_id)
    status, report = verify(env_for_cli)
    assert status == 3 and kinds(report) == ["altered"]
    [finding] = report["findings"]
    assert finding["batch_id"] == target.id and "1 event(s) deleted" in finding["message"]
    assert f"{target.event_count - 1:,} events now" in finding["message"]


def test_an_event_added_to_a_batch_is_named(engine: Engine, chained: list[Any], env_for_cli: dict[str, str]):
    target = chained[1]
    ts, _ = an_event(engine, target.id, offset=3)
    with engine.begin() as conn:  # inserting needs no trigger removed: append-only allows it
        row = conn.execute(text("SELECT * FROM events WHERE batch_id = :b LIMIT 1"), {"b": target.id}).one()._asdict()
        forged = "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee"
        row.update(event_id=forged, ts=ts, user_id="ghost")
        conn.execute(Event.__table__.insert().values(**{**row, "ts": ts, "event_id": forged}))
    status, report = verify(env_for_cli)
    assert status == 3 and kinds(report) == ["altered"]
    [finding] = report["findings"]
    assert finding["batch_id"] == target.id and "1 event(s) added" in finding["message"]
    assert finding["event_ids"] == [forged]


@pytest.mark.parametrize("with_seal", [False, True], ids=["record", "record-and-seal"])
def test_a_removed_batch_is_named_as_a_gap(
    engine: Engine, chained: list[Any], env_for_cli: dict[str, str], with_seal: bool
):
    before, gone, after = chained[2], chained[3], chained[4]
    drop_append_only(engine)
    delete_batch(engine, gone.id, seal=with_seal)
    status, report = verify(env_for_cli)
    assert status == 3 and kinds(report) == ["removed"]
    [finding] = report["findings"]
    assert f"batch(es) between #{before.id} and #{after.id} removed" in finding["message"]
    if not with_seal:  # the seal left behind says exactly which batch it was
        assert finding["batch_id"] == gone.id and f"{gone.event_count:,} events" in finding["message"]


def test_exchanged_digests_are_reported_as_reordering(engine: Engine, chained: list[Any], env_for_cli: dict[str, str]):
    first, second = chained[1], chained[5]
    swap_digests(engine, first.id, second.id)
    status, report = verify(env_for_cli)
    assert status == 3 and kinds(report) == ["reordered"]
    assert f"batches #{first.id} and #{second.id} exchanged their digests" in report["findings"][0]["message"]


@pytest.mark.parametrize("with_seal", [True, False], ids=["record-and-seal", "record"])
def test_a_chain_cut_short_at_its_end_is_truncation(
    engine: Engine, chained: list[Any], env_for_cli: dict[str, str], with_seal: bool
):
    last = chained[-1]
    drop_append_only(engine)
    delete_batch(engine, last.id, seal=with_seal)
    status, report = verify(env_for_cli)
    assert status == 3
    messages = " | ".join(f["message"] for f in report["findings"])
    if with_seal:
        assert kinds(report) == ["truncated", "truncated"]  # against the head, and against the last check
        assert "the last 1 batch(es) were removed" in messages
        assert "shorter than when check #1 ran" in messages
    else:  # its seal is left: the chain's last batch is named
        assert kinds(report) == ["truncated"] and f"the chain was truncated: batch #{last.id}" in messages
        assert "#?" not in messages


def test_a_truncation_with_the_head_rewritten_is_caught_by_the_last_check(
    engine: Engine, chained: list[Any], env_for_cli: dict[str, str]
):
    """The thorough attacker also sets the head back: the previous check still remembers the end."""
    last, new_end = chained[-1], chained[-2]
    drop_append_only(engine)
    delete_batch(engine, last.id, seal=True)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE chain_heads SET batches = batches - 1, events = events - :n, last_batch_id = :b, "
                "last_digest = (SELECT digest FROM ingest_batches WHERE id = :b)"
            ),
            {"n": last.event_count, "b": new_end.id},
        )
    status, report = verify(env_for_cli)
    assert status == 3 and kinds(report) == ["truncated"]
    assert "shorter than when check #1 ran" in report["findings"][0]["message"]


def test_events_outside_every_batch_are_reported(engine: Engine, chained: list[Any], env_for_cli: dict[str, str]):
    target = chained[0]
    ts, _ = an_event(engine, target.id)
    with engine.begin() as conn:
        row = conn.execute(text("SELECT * FROM events WHERE batch_id = :b LIMIT 1"), {"b": target.id}).one()._asdict()
        forged = "0190aaaa-bbbb-7ccc-8ddd-ffffffffffff"
        conn.execute(Event.__table__.insert().values(**{**row, "ts": ts, "event_id": forged, "batch_id": 99_999}))
    status, report = verify(env_for_cli)
    assert status == 3 and kinds(report) == ["uncovered"]


def test_since_checks_the_recent_batches_and_the_end_of_the_chain(
    engine: Engine, chained: list[Any], env_for_cli: dict[str, str]
):
    status, report = verify(env_for_cli, "--since", "2000-01-01")
    assert status == 0 and report["batches_checked"] == len(chained)
    status, report = verify(env_for_cli, "--since", "2999-01-01", "--municipality", "999997")
    assert status == 0 and report["batches_checked"] == 0 and report["head_position"] == len(chained)
    drop_append_only(engine)
    delete_batch(engine, chained[-1].id, seal=True)
    status, report = verify(env_for_cli, "--since", "2999-01-01")
    assert status == 3 and "truncated" in kinds(report)


def test_an_unknown_municipality_has_nothing_to_verify(chained: list[Any], env_for_cli: dict[str, str]):
    status, report = verify(env_for_cli, "--municipality", "131016")
    assert status == 0 and report["batches_checked"] == 0 and report["findings"] == []
    done = auditd(env_for_cli, "verify", "--municipality", "123456")
    assert done.returncode == 2 and "check digit" in done.stderr.lower()


def test_the_nightly_check_turns_tampering_into_one_critical_alert_and_a_case(
    engine: Engine, chained: list[Any], env_for_cli: dict[str, str]
):
    target = chained[1]
    ts, event_id = an_event(engine, target.id)
    drop_append_only(engine)
    edit_event(engine, ts, event_id, user_id="someone-else")
    for _ in range(2):  # found again the next night: the same alert, not a second one
        done = auditd(env_for_cli, "scheduler", "run-now", "integrity.verify")
        assert "critical" in done.stdout + done.stderr, done.stdout + done.stderr
    with engine.connect() as conn:
        runs = conn.execute(text("SELECT outcome FROM job_runs WHERE job_id = 'integrity.verify'")).scalars().all()
        alerts = conn.execute(text("SELECT rule, severity, event_ids, explanation, case_id FROM alerts")).all()
        cases = conn.execute(text("SELECT id, severity, status FROM alert_cases")).all()
    assert runs == ["critical", "critical"]
    [alert] = alerts
    assert (alert.rule, alert.severity) == ("D16", "critical")
    assert event_id in alert.event_ids and "改ざん検証" in alert.explanation
    [case] = cases
    assert alert.case_id == case.id and case.severity == "critical" and case.status == "new"
