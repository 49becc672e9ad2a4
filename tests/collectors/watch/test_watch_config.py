"""The watch configuration: what a valid file gives, and errors that name the file, the rule and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditd.errors import ValidationFailed
from collectors.watch.config import folder_config, load_watch_config


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ValidationFailed) as caught:
        load_watch_config(path)
    return str(caught.value)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A configuration folder with two drop folders and a vendor profile next to the file."""
    (tmp_path / "zeimu").mkdir()
    (tmp_path / "fukushi").mkdir()
    (tmp_path / "profiles").mkdir()
    source = Path(__file__).parents[3] / "collectors" / "profiles" / "demo-welfare.yaml"
    (tmp_path / "profiles" / "vendor.yaml").write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


def test_a_valid_file_with_defaults_overrides_and_paths_relative_to_it(site: Path, monkeypatch: pytest.MonkeyPatch):
    config_file = write(
        site / "watch.yaml",
        """
interval_seconds: 2
archive_dir: archive
rules:
  - dir: zeimu
    pattern: "ZEIMU_OPLOG_*.csv"
    profile: demo-tax
  - dir: fukushi
    pattern: "*.jsonl"
    profile: profiles/vendor.yaml
    settle_seconds: 60
    recursive: true
    archive_dir: done
""",
    )
    monkeypatch.chdir("/")  # relative paths are relative to the file, not to where the command runs
    config = load_watch_config(config_file)
    tax, welfare = config.rules
    assert config.interval_seconds == 2 and config.heartbeat_seconds == 300 and config.origin == str(config_file)
    assert (tax.dir, tax.pattern, tax.profile.name) == (site / "zeimu", "ZEIMU_OPLOG_*.csv", "demo-tax")
    assert (tax.settle_seconds, tax.recursive, tax.archive_dir) == (10, False, site / "archive")
    assert (welfare.dir, welfare.profile.name, welfare.profile.path) == (
        site / "fukushi",
        "demo-welfare",
        site / "profiles" / "vendor.yaml",
    )
    assert (welfare.settle_seconds, welfare.recursive, welfare.archive_dir) == (60, True, site / "done")

    overridden = config.with_overrides(interval_seconds=0.5, settle_seconds=0)
    assert overridden.interval_seconds == 0.5 and {r.settle_seconds for r in overridden.rules} == {0}
    assert config.with_overrides() == config


def test_errors_name_the_file_the_rule_and_the_key(site: Path):
    config_file = write(
        site / "watch.yaml",
        """
interval_seconds: 0
rules:
  - dir: zeimu
    profile: demo-tax
  - dir: fukushi
    pattern: "logs/*.jsonl"
  - dir: zeimu
    patern: "*.csv"
    profile: demo-tax
""",
    )
    message = error_of(config_file)
    assert message.startswith(f"{config_file}: the watch configuration is not valid")
    assert "  - interval_seconds: Input should be greater than 0" in message
    assert "  - rules[1].pattern (rule 2): 'logs/*.jsonl' contains a folder separator" in message
    assert "  - rules[1].profile (rule 2): Field required" in message
    assert "  - rules[2].patern (rule 3): Extra inputs are not permitted" in message


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("{dir: zeimu, profile: demo-taxx}", "rules[1].profile (rule 2): no profile named 'demo-taxx'"),
        ("{dir: zeimu, profile: standard-staff}", "rules[1].profile (rule 2): profile standard-staff is for staff"),
        ("{dir: nowhere, profile: demo-tax}", "rules[1].dir (rule 2): no such folder: {site}/nowhere"),
        ("{dir: watch.yaml, profile: demo-tax}", "rules[1].dir (rule 2): {site}/watch.yaml is a file, not a folder"),
        ("{dir: zeimu, profile: demo-tax, archive_dir: zeimu}", "rules[1].archive_dir (rule 2): {site}/zeimu is the"),
        ("{dir: fukushi, profile: missing.yaml}", "rules[1].profile (rule 2): {site}/missing.yaml: cannot read"),
        ("{dir: fukushi, profile: demo-welfare}", "rules[1].pattern (rule 2): the same folder and pattern as rule 1"),
    ],
)
def test_rules_are_checked_against_folders_and_profiles(site: Path, rule: str, expected: str):
    config_file = write(site / "watch.yaml", f"rules:\n  - {{dir: fukushi, profile: demo-welfare}}\n  - {rule}\n")
    assert error_of(config_file).startswith(f"{config_file}: " + expected.format(site=site))


def test_a_profile_error_keeps_its_hint(site: Path):
    config_file = write(site / "watch.yaml", "rules:\n  - {dir: zeimu, profile: nope}\n")
    with pytest.raises(ValidationFailed) as caught:
        load_watch_config(config_file)
    assert caught.value.hint is not None and "demo-tax" in caught.value.hint


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("- {dir: zeimu, profile: demo-tax}\n", "a mapping with a `rules:` list, not a bare list"),
        ("just words\n", "the watch configuration is a mapping"),
        ("rules: []\n", "rules: List should have at least 1 item"),
        ("rules: [{dir: zeimu, profile: demo-tax}\n", "not valid YAML"),
        ("interval_seconds: 5\n", "rules: Field required"),
    ],
)
def test_the_shape_of_the_file_is_explained(site: Path, content: str, expected: str):
    config_file = write(site / "watch.yaml", content)
    message = error_of(config_file)
    assert message.startswith(str(config_file)) and expected in message


def test_unreadable_configuration_files(tmp_path: Path):
    assert error_of(tmp_path / "absent.yaml") == f"{tmp_path / 'absent.yaml'}: no such configuration file"
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("rules: [{dir: é, profile: demo-tax}]".encode("latin-1"))
    assert "must be UTF-8" in error_of(latin)


def test_command_line_folder_is_validated_like_a_rule(site: Path):
    config = folder_config(site / "zeimu", "demo-tax", pattern="*.csv", settle_seconds=3)
    [rule] = config.rules
    assert (rule.dir, rule.pattern, rule.settle_seconds, config.interval_seconds) == (site / "zeimu", "*.csv", 3, 5)

    def message(**options: object) -> str:
        with pytest.raises(ValidationFailed) as caught:
            folder_config(**{"directory": site / "zeimu", "profile": "demo-tax", **options})  # type: ignore[arg-type]
        return caught.value.message

    assert message(directory=site / "gone") == f"no such folder: {site / 'gone'}"
    assert message(profile="demo-taxx") == "no profile named 'demo-taxx'"
    assert message(pattern="a/b").startswith("--pattern: 'a/b' contains a folder separator")
    assert message(interval_seconds=0) == "--interval: Input should be greater than 0"
    assert (
        message(archive_dir=site / "zeimu")
        == f"--archive-dir: {site / 'zeimu'} is the watched folder itself; give another folder"
    )
