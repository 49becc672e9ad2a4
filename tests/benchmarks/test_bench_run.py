"""``auditd bench``: the one benchmark command, through the CLI, and how it computes growth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import run  # noqa: E402


def test_growth_exponent_of_times_rates_and_latencies() -> None:
    # a time that doubles when N doubles grows linearly; one that quadruples, quadratically
    assert run.exponent("time", (1_000, 2.0), (2_000, 4.0)) == pytest.approx(1.0)
    assert run.exponent("time", (1_000, 2.0), (2_000, 8.0)) == pytest.approx(2.0)
    # a constant rate means a linear time; a rate halving when N doubles means a quadratic time
    assert run.exponent("rate", (1_000, 500.0), (10_000, 500.0)) == pytest.approx(1.0)
    assert run.exponent("rate", (1_000, 500.0), (2_000, 250.0)) == pytest.approx(2.0)
    # a latency that does not move with the store does not grow
    assert run.exponent("latency", (1_000, 30.0), (1_000_000, 30.0)) == pytest.approx(0.0)
    assert run.exponent("count", (1_000, 3.0), (2_000, 6.0)) is None


def test_table_has_a_column_per_size_and_the_growth() -> None:
    figures = [
        (100, run.Figure("detect", "one day", "sqlite", "time", 1.0)),
        (1_000, run.Figure("detect", "one day", "sqlite", "time", 10.0)),
        (1_000, run.Figure("pages", "GET / p95", "sqlite", "latency", 12.5)),
    ]
    lines = run.table([100, 1_000], figures)
    assert lines[0] == "| step | figure | backend | 100 events | 1,000 events | growth |"
    assert "| detect | one day | sqlite | 1.00 s | 10.00 s | N^1.00 |" in lines
    assert "| pages | GET / p95 | sqlite | — | 12.5 ms | — |" in lines  # measured at one size: no growth


def test_unknown_step_and_postgresql_without_a_server_are_refused() -> None:
    with pytest.raises(SystemExit):
        run.parse_args(["--steps", "ingest,teleport"])
    with pytest.raises(SystemExit):
        run.parse_args(["--backends", "postgresql", "--pg-url", ""])


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditd", "bench", *args], capture_output=True, text=True, timeout=600, check=False
    )


def test_help_is_the_benchmarks_own() -> None:
    done = _bench("--help")
    assert done.returncode == 0, done.stderr
    assert "usage: auditd bench" in done.stdout
    assert "--sizes" in done.stdout and "--steps" in done.stdout


def test_a_small_run_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    # the annual report on two tiny fiscal years: real figures from the real report, in seconds
    done = _bench("--sizes", "2000,4000", "--steps", "annual", "--backends", "sqlite", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| annual | annual report (PDF) | sqlite |" in done.stdout
    (written,) = tmp_path.glob("bench-*.json")
    document = json.loads(written.read_text(encoding="utf-8"))
    assert document["sizes"] == [2000, 4000]
    assert document["machine"]["cores"] >= 1
    report = [f for f in document["figures"] if f["name"] == "annual report (PDF)"]
    assert [f["size"] for f in report] == [2000, 4000]
    assert all(f["value"] > 0 for f in report)
