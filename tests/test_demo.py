"""`dialer demo` runs end to end, shows every kind of outcome and leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(args)
    return found


def test_demo_exits_0_with_every_outcome_and_no_process_left(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    res = subprocess.run([sys.executable, "-m", "dialer.cli", "demo", "--workdir", str(workdir)],
                         capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for word in ("completed", "busy", "no-answer", "failed", "retries taken",
                 "0 refused with 429", "rate-limit waits", "campaign report CSV",
                 "campaign: no-answer, retried"):
        assert word in res.stdout, word
    assert (workdir / "calls-report.csv").read_text().count("\n") > 28
    assert (workdir / "campaign-report.csv").read_text().count("\n") == 21  # header + 20
    assert _processes_mentioning(str(workdir)) == []
