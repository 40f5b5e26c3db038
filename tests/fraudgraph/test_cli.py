"""The fraudgraph CLI: one JSON object on stdout with --json, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GOOD_EVENTS, write_rows

INGEST_KEYS = {"rows_read", "rows_loaded", "rows_quarantined", "rows_duplicate", "quarantine_path"}


def fraudgraph(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "fraudgraph.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_ingest_and_stats_print_exactly_one_json_object(tmp_path: Path) -> None:
    """ingest --json and stats --json print one parseable JSON object and nothing else."""
    events = write_rows(tmp_path / "events.csv", [*GOOD_EVENTS, {"event_id": "bad"}])
    store = tmp_path / "store"
    result = fraudgraph("ingest", str(events), "--store", str(store), "--json")
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert set(manifest) >= INGEST_KEYS
    assert (manifest["rows_read"], manifest["rows_loaded"], manifest["rows_quarantined"]) == (
        7,
        6,
        1,
    )
    assert Path(manifest["quarantine_path"]).exists()
    stats = fraudgraph("stats", "--store", str(store), "--json")
    assert stats.returncode == 0, stats.stderr
    counts = json.loads(stats.stdout)
    assert counts["nodes"]["Account"] == 3
    assert counts["links"]["TRANSFERS_TO"] == 1


def test_store_directory_comes_from_the_environment(tmp_path: Path) -> None:
    """FRAUDGRAPH_STORE selects the store when --store is not given."""
    events = write_rows(tmp_path / "events.jsonl", GOOD_EVENTS)
    env = {"FRAUDGRAPH_STORE": str(tmp_path / "envstore")}
    assert fraudgraph("ingest", str(events), "--json", env=env).returncode == 0
    assert (tmp_path / "envstore" / "graph.duckdb").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "/nonexistent/file.csv"], "no such file or directory"),
        (["ingest", "{bad}", "--kind", "sideways"], "'sideways' is not a valid FileKind"),
        (["ingest", "{bad}"], "not a Parquet file"),
    ],
)
def test_failures_exit_non_zero_with_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """Bad invocations exit non-zero with exactly one line on stderr and nothing on stdout."""
    bad = tmp_path / "x.parquet"
    bad.write_text("event_id,ts\n")
    argv = [a.replace("{bad}", str(bad)) for a in args] + ["--store", str(tmp_path / "s"), "--json"]
    result = fraudgraph(*argv)
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]


def test_help_lists_the_commands() -> None:
    """--help documents generate, ingest, stats and demo."""
    result = fraudgraph("--help")
    for command in ("generate", "ingest", "stats", "demo"):
        assert command in result.stdout


def test_generate_is_deterministic_and_reports_json(tmp_path: Path) -> None:
    """generate --json reports the files it wrote; the same seed writes the same bytes."""
    runs = []
    for name in ("a", "b"):
        result = fraudgraph(
            "generate", "--accounts", "1000", "--seed", "5", "--out", str(tmp_path / name), "--json"
        )
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["accounts"] == 1000 and summary["rings"] >= 5
        runs.append(summary)
    for rel in ("truth.csv", "labels.csv", "events/part-00000.parquet"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    truth = (tmp_path / "a" / "truth.csv").read_text().splitlines()
    assert truth[0] == "ring_id,typology,account_id"


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    """demo generates, ingests and prints the graph counts with nothing lost."""
    result = fraudgraph("demo", "--workdir", str(tmp_path / "demo"), "--accounts", "2000")
    assert result.returncode == 0, result.stderr
    assert "reconciled: True" in result.stdout
    assert "Account" in result.stdout and "TRANSFERS_TO" in result.stdout
    assert (tmp_path / "demo" / "store" / "graph.duckdb").exists()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_unreachable_neo4j_fails_with_one_line(tmp_path: Path) -> None:
    """With the neo4j backend and no server, commands exit 1 with one clear line."""
    env = {
        "FRAUDGRAPH_BACKEND": "neo4j",
        "NEO4J_URI": f"bolt://127.0.0.1:{_free_port()}",
        "NEO4J_PASSWORD": "irrelevant",
        "FRAUDGRAPH_STORE": str(tmp_path / "store"),
    }
    result = fraudgraph("stats", "--json", env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Neo4j" in lines[0], result.stderr


@pytest.mark.neo4j
def test_local_neo4j_start_status_stop(tmp_path: Path) -> None:
    """neo4j start/status/stop drive the real local server and leave no process behind."""
    data = str(tmp_path / "neo4j")
    port = str(_free_port())
    started = fraudgraph("neo4j", "start", "--data-dir", data, "--port", port, "--json")
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    try:
        assert info["uri"] == f"bolt://127.0.0.1:{port}"
        assert info["gds_version"].startswith("2.13")
        status = json.loads(fraudgraph("neo4j", "status", "--data-dir", data, "--json").stdout)
        assert status["running"] is True and status["pid"] == info["pid"]
    finally:
        stopped = fraudgraph("neo4j", "stop", "--data-dir", data, "--json")
    assert json.loads(stopped.stdout) == {"stopped": True}
    status = json.loads(fraudgraph("neo4j", "status", "--data-dir", data, "--json").stdout)
    assert status["running"] is False
    assert not _alive(info["pid"])


def _alive(pid: int) -> bool:
    """Whether a process runs (a zombie waiting to be reaped counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False
