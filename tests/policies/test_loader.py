from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from auditd.errors import ValidationFailed
from policies.loader import DEFAULTS_DIR, load_configured, load_policy


def test_the_defaults_are_valid_and_fingerprinted_stably():
    first, second = load_configured(None), load_configured(None)
    assert first.digest == second.digest and len(first.digest) == 64
    assert {"tax_resident", "nhi", "batch", "sysadmin"} <= set(first.policy.roles)
    assert first.policy.roles["batch"].terminals == ["SV-BATCH-01"]


def test_an_override_replaces_names_and_sections(tmp_path: Path):
    (tmp_path / "roles.yaml").write_text(
        "roles:\n  nhi:\n    title: 国保（照会のみ）\n"
        "    permits: [{systems: [福祉], jimu: [国民健康保険], actions: [view]}]\n",
        encoding="utf-8",
    )
    (tmp_path / "time.yaml").write_text("time:\n  business_hours: {start: '08:00', end: '18:00'}\n", encoding="utf-8")
    loaded = load_policy(DEFAULTS_DIR, tmp_path)
    assert loaded.policy.roles["nhi"].title == "国保（照会のみ）"
    assert loaded.policy.roles["tax_resident"].title == "市民税課 課税担当", "other names stay"
    assert str(loaded.policy.time.business_hours.end) == "18:00:00"
    assert loaded.digest != load_configured(None).digest


def test_every_error_names_its_file_and_key(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(
        "roles:\n  clerk:\n    title: x\n    permits: [{systems: [税務], actions: [peek]}]\n"
        "time:\n  business_hours: {start: '25:00', end: '17:15'}\n",
        encoding="utf-8",
    )
    (tmp_path / "b.yaml").write_text(
        "roles:\n  clerk:\n    title: again\n    permits: [{systems: [税務], actions: [view]}]\n", encoding="utf-8"
    )
    with pytest.raises(ValidationFailed) as error:
        load_policy(DEFAULTS_DIR, tmp_path)
    message = str(error.value)
    assert f"{tmp_path / 'a.yaml'}: roles.clerk.permits.0.actions" in message and "peek" in message
    assert f"{tmp_path / 'a.yaml'}: time.business_hours.start" in message
    assert f"{tmp_path / 'b.yaml'}: roles.clerk: already defined in {tmp_path / 'a.yaml'}" in message


def test_references_between_sections_are_checked(tmp_path: Path):
    (tmp_path / "roles.yaml").write_text(
        "roles:\n  clerk:\n    title: x\n    permits: [{systems: [住民票], jimu: [謎], actions: [show_mynumber]}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationFailed) as error:
        load_policy(DEFAULTS_DIR, tmp_path)
    message = str(error.value)
    assert "roles.clerk.permits.0.systems: '住民票' is not under systems" in message
    assert "roles.clerk.permits.0.jimu: '謎' is not under jimu" in message
    assert "roles.clerk: permits show_mynumber but shows_mynumber is false" in message
    assert str(tmp_path / "roles.yaml") in message


def test_policy_validate_cli(tmp_path: Path):
    good = subprocess.run(
        [sys.executable, "-m", "auditd", "policy", "validate", str(DEFAULTS_DIR), "--standalone"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert good.returncode == 0 and "valid" in good.stdout
    (tmp_path / "bad.yaml").write_text("outputs:\n  bulk_threshold: 0\n", encoding="utf-8")
    bad = subprocess.run(
        [sys.executable, "-m", "auditd", "policy", "validate", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert "outputs.bulk_threshold" in bad.stderr and "bad.yaml" in bad.stderr and "Traceback" not in bad.stderr
