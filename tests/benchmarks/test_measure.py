"""Measuring benchmark steps: every way a child process ends is reported, and the memory
cap stops a process tree that grows past it."""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.measure import run_measured


def test_a_step_that_ends_well_reports_its_output_time_and_memory(tmp_path: Path) -> None:
    """Exit 0: status ok, its stdout, a wall time and a peak RSS of a live interpreter."""
    code = "import time; print('{\"n\": 1}', flush=True); time.sleep(1)"
    result = run_measured([sys.executable, "-c", code], cwd=tmp_path)
    assert result["status"] == "ok"
    assert result["stdout"].strip() == '{"n": 1}'
    assert result["wall_s"] >= 0
    assert 0.001 < result["peak_rss_gib"] < 1


def test_a_failing_step_reports_its_exit_code_and_stderr_tail(tmp_path: Path) -> None:
    """A non-zero exit is ``failed`` with the code and the last lines of its log."""
    code = "import sys; print('boom: no such store', file=sys.stderr); sys.exit(3)"
    log = tmp_path / "step.log"
    result = run_measured([sys.executable, "-c", code], cwd=tmp_path, log=log)
    assert (result["status"], result["exit_code"]) == ("failed", 3)
    assert result["stderr_tail"] == ["boom: no such store"]


def test_a_step_killed_by_a_signal_names_the_signal(tmp_path: Path) -> None:
    """Death by a signal (the OOM killer's SIGKILL) is ``killed`` with the signal's name."""
    code = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    result = run_measured([sys.executable, "-c", code], cwd=tmp_path)
    assert (result["status"], result["signal"]) == ("killed", "SIGKILL")


def test_the_memory_cap_kills_a_step_that_grows_past_it(tmp_path: Path) -> None:
    """A process holding 400 MiB under a 0.2 GiB cap is stopped and reported ``rss_cap``;
    without the cap the same process ends ok."""
    code = (
        "import time; x = bytearray(400 * 2**20); x[::4096] = b'1' * len(x[::4096]); time.sleep(5)"
    )
    capped = run_measured([sys.executable, "-c", code], cwd=tmp_path, cap_gib=0.2)
    assert capped["status"] == "rss_cap"
    assert capped["cap_gib"] == 0.2
    assert capped["wall_s"] < 5
    free = run_measured([sys.executable, "-c", code], cwd=tmp_path)
    assert free["status"] == "ok"
    assert free["peak_rss_gib"] > 0.35
