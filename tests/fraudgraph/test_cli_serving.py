"""The directories ``fraudgraph serve --workers N`` shares between its workers: private
ones made and removed, the operator's kept (the server itself: tests/api/test_multiworker.py)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from fraudgraph.cli.serving import worker_group_environment

RUN_DIR_ENV = "FRAUDGRAPH_API_RUN_DIR"
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"


@pytest.fixture
def tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh temporary directory for ``tempfile``; neither variable set."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv(RUN_DIR_ENV, raising=False)
    monkeypatch.delenv(METRICS_ENV, raising=False)
    return tmp_path


def test_one_worker_shares_nothing(tmp: Path) -> None:
    """With one worker no variable is set and no directory made."""
    with worker_group_environment(1, None) as shared:
        assert shared == {}
        assert RUN_DIR_ENV not in os.environ and METRICS_ENV not in os.environ
    assert not list(tmp.iterdir())


def test_workers_get_a_private_directory_removed_at_exit(tmp: Path) -> None:
    """Several workers with nothing configured: one private directory holds the run
    directory and the metrics files; it goes, and the variables with it, at exit."""
    with worker_group_environment(2, None) as shared:
        (private,) = tmp.iterdir()
        assert shared == {RUN_DIR_ENV: str(private), METRICS_ENV: str(private / "metrics")}
        assert os.environ[RUN_DIR_ENV] == str(private)
        assert Path(os.environ[METRICS_ENV]).is_dir()
    assert not list(tmp.iterdir())
    assert RUN_DIR_ENV not in os.environ and METRICS_ENV not in os.environ


def test_the_operators_directories_are_used_and_kept(
    tmp: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator's run directory (created if missing) and PROMETHEUS_MULTIPROC_DIR are
    used as they are: nothing private is made, nothing of theirs removed."""
    theirs = tmp_path_factory.mktemp("operator")
    monkeypatch.setenv(METRICS_ENV, str(theirs / "metrics"))
    with worker_group_environment(3, theirs / "run") as shared:
        assert shared == {}
        assert (theirs / "run").is_dir()
        assert os.environ[METRICS_ENV] == str(theirs / "metrics")
    assert not list(tmp.iterdir())
    assert (theirs / "run").is_dir()
    assert os.environ[METRICS_ENV] == str(theirs / "metrics")
