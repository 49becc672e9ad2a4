"""Running the `auditd` command as a person would: a subprocess with the test's environment."""

from __future__ import annotations

import subprocess
import sys


def auditd(
    env: dict[str, str], *args: str, stdin: str | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    """``auditd ARGS…`` in a subprocess (``python -m auditd``), output captured as text, never raising."""
    return subprocess.run(
        [sys.executable, "-m", "auditd", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
        check=False,
    )
