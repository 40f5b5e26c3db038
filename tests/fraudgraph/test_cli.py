"""The fraudgraph CLI: one JSON object on stdout with --json, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GOOD_EVENTS, transfer_events, write_rows

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


@pytest.mark.parametrize(
    "args",
    [
        ["stats"],
        ["rings"],
        ["super-nodes"],
        ["query", "neighbours", "Account", "A1"],
        ["query", "transfer-patterns", "A1"],
    ],
)
def test_read_commands_on_a_missing_store_fail_and_create_nothing(
    tmp_path: Path, args: list[str]
) -> None:
    """A command that only reads refuses a store that does not exist (a mistyped --store)
    with one line, instead of creating an empty store and answering from it."""
    missing = tmp_path / "no-such-store"
    result = fraudgraph(*args, "--store", str(missing), "--json")
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "no store at" in lines[0]
    assert not missing.exists()


def _mixed_directory(root: Path) -> Path:
    """Events (one with a bad optional field), labels, a truth file and a README."""
    events = [*GOOD_EVENTS[:5], {**GOOD_EVENTS[5], "asn": "not-a-number"}]
    write_rows(root / "feed" / "events.csv", [*events, {"event_id": "bad"}])
    write_rows(
        root / "feed" / "labels.csv",
        [{"account_id": "A1", "label": "fraud", "ts": "2026-02-01", "colour": "red"}],
        ["account_id", "label", "ts", "colour"],
    )
    write_rows(
        root / "feed" / "truth.csv",
        [{"ring_id": "R1", "typology": "mule", "account_id": "A1"}],
        ["ring_id", "typology", "account_id"],
    )
    (root / "feed" / "README.md").write_text("# feed\n")
    return root / "feed"


def test_ingest_of_a_mixed_directory_reports_fields_columns_and_skipped_files(
    tmp_path: Path,
) -> None:
    """--json carries fields_quarantined, columns_ignored and files_unrecognised; the table
    shows fields quarantined per file and in total, and lists the skipped files."""
    feed = _mixed_directory(tmp_path)
    result = fraudgraph("ingest", str(feed), "--store", str(tmp_path / "s"), "--json")
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert (manifest["rows_loaded"], manifest["rows_quarantined"]) == (7, 1)
    assert manifest["fields_quarantined"] == 1
    assert [m["fields_quarantined"] for m in manifest["manifests"]] == [1, 0]
    assert sorted(Path(u["path"]).name for u in manifest["files_unrecognised"]) == [
        "README.md",
        "truth.csv",
    ]
    assert [(c["column"], c["reason"]) for c in manifest["columns_ignored"]] == [
        ("colour", "matches no field")
    ]
    table = fraudgraph("ingest", str(feed), "--store", str(tmp_path / "t"))
    assert table.returncode == 0, table.stderr
    assert "fields q." in table.stdout and "total" in table.stdout
    assert "fields quarantined: 1 (rows quarantined: 1)" in table.stdout
    assert "truth.csv" in table.stdout and "cannot tell the kind of file" in table.stdout
    assert "README.md" in table.stdout and "colour" in table.stdout


def test_an_unrecognised_file_named_explicitly_fails_with_exit_2(tmp_path: Path) -> None:
    """A file given by name that is no input kind is an error (one line, exit 2)."""
    truth = _mixed_directory(tmp_path) / "truth.csv"
    result = fraudgraph("ingest", str(truth), "--store", str(tmp_path / "s"), "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "truth.csv" in lines[0] and "cannot tell the kind of file" in lines[0]


def test_help_lists_the_commands() -> None:
    """--help documents every command."""
    result = fraudgraph("--help")
    for command in (
        "generate",
        "ingest",
        "stats",
        "analyse",
        "evaluate",
        "rings",
        "super-nodes",
        "publish",
        "serve",
        "demo",
    ):
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


def test_generate_hard_profile_writes_feeds_sharers_and_scenario(tmp_path: Path) -> None:
    """--profile hard writes CSV feeds, sharers.csv and scenario.json with the options given."""
    runs = {}
    for name, formats in (("mixed", "--mixed-formats"), ("canonical", "--canonical-formats")):
        out = tmp_path / name
        result = fraudgraph(
            "generate", "--profile", "hard", "--accounts", "1000", "--seed", "3",
            "--rings-per-10k", "60", "--label-fraction", "0.5", formats,
            "--out", str(out), "--json",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["accounts"] == 1000 and summary["rings"] == 6
        assert summary["events"] <= summary["rows"]
        for key in ("truth_path", "labels_path", "sharers_path", "scenario_path"):
            assert Path(summary[key]).is_file()
        assert sorted(p.name for p in (out / "events").iterdir()) == ["part-00000.csv"]
        runs[name] = json.loads((out / "scenario.json").read_text())
    assert runs["mixed"]["profile"] == "hard"
    assert runs["mixed"]["config"]["mixed_formats"] is True
    assert runs["canonical"]["config"]["mixed_formats"] is False
    assert runs["mixed"]["config"]["label_fraction"] == 0.5
    header = (tmp_path / "mixed" / "sharers.csv").read_text().splitlines()[0]
    assert header.replace('"', "") == "account_id,kind,group_id"


def test_generate_aml_profile_plants_every_pattern_and_writes_flows(tmp_path: Path) -> None:
    """--profile aml plants rings of the eight AMLSim patterns and lists the benign
    look-alike money flows in flows.csv."""
    out = tmp_path / "aml"
    result = fraudgraph(
        "generate", "--profile", "aml", "--accounts", "1000", "--seed", "2",
        "--canonical-formats", "--out", str(out), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["accounts"] == 1000 and summary["rings"] == 8
    assert Path(summary["flows_path"]).is_file()
    details = json.loads((out / "scenario.json").read_text())
    assert details["profile"] == "aml"
    assert details["config"]["mixed_formats"] is False
    assert set(details["counts"]["rings"].values()) == {1}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--accounts", "500"], "accounts must be in [1000, 20000000]"),
        (["--profile", "hard", "--accounts", "2500000"], "accounts must be in [1000, 2000000]"),
        (["--accounts", "1000", "--rings-per-10k", "900"], "more rings than the accounts can hold"),
        (["--accounts", "1000", "--canonical-formats"], "apply to --profile hard and aml only"),
        (["--profile", "aml", "--accounts", "2500000"], "accounts must be in [1000, 2000000]"),
    ],
)
def test_generate_rejects_bad_settings_with_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """Settings the scenario config refuses exit 2 with one line on stderr, no traceback."""
    result = fraudgraph("generate", *args, "--out", str(tmp_path / "out"), "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert not (tmp_path / "out").exists()


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    """demo generates, ingests, analyses, flags and evaluates, with nothing lost."""
    result = fraudgraph("demo", "--workdir", str(tmp_path / "demo"), "--accounts", "2000")
    assert result.returncode == 0, result.stderr
    assert "reconciled: True" in result.stdout
    assert "Account" in result.stdout and "TRANSFERS_TO" in result.stdout
    assert "rings flagged" in result.stdout and "ring recall" in result.stdout
    assert "where to look next" in result.stdout
    assert "gnn:" in result.stdout  # trained and scored, or skipped with the reason
    assert (tmp_path / "demo" / "store" / "graph.duckdb").exists()
    assert list((tmp_path / "demo" / "store" / "flagged").glob("flagged_clusters-*.json"))


EVALUATION_KEYS = {
    "ring_recall",
    "cluster_precision",
    "roc_auc",
    "pr_auc",
    "n_flagged",
    "per_typology",
}


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A generated 1,500-account scenario ingested into an embedded store."""
    root = tmp_path_factory.mktemp("analysed")
    scenario, store = root / "scenario", root / "store"
    generated = fraudgraph("generate", "--accounts", "1500", "--seed", "11", "--out", str(scenario))
    assert generated.returncode == 0, generated.stderr
    ingested = fraudgraph(
        "ingest", str(scenario / "events"), str(scenario / "labels.csv"), "--store", str(store)
    )
    assert ingested.returncode == 0, ingested.stderr
    return scenario, store


def test_evaluate_before_any_analysis_fails_with_one_line(analysed: tuple[Path, Path]) -> None:
    """evaluate on a store that was never analysed says so in one line, exit 2."""
    scenario, store = analysed
    fresh = store.parent / "never-analysed"
    assert fraudgraph("ingest", str(scenario / "labels.csv"), "--store", str(fresh)).returncode == 0
    result = fraudgraph(
        "evaluate", "--store", str(fresh), "--truth", str(scenario / "truth.csv"), "--json"
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_analyse_then_evaluate_rings_and_super_nodes(analysed: tuple[Path, Path]) -> None:
    """analyse --json flags rings and evaluates; evaluate/rings/super-nodes read its run."""
    scenario, store = analysed
    truth = str(scenario / "truth.csv")
    result = fraudgraph("analyse", "--store", str(store), "--truth", truth, "--json")
    assert result.returncode == 0, result.stderr
    analysis = json.loads(result.stdout)
    assert analysis["accounts"] >= 1500
    assert set(analysis["evaluation"]) >= EVALUATION_KEYS
    flagged = analysis["flagging"]["flagged"]
    assert flagged == analysis["evaluation"]["n_flagged"]
    assert Path(analysis["flagging"]["json"]).exists()
    for ring in analysis["top_rings"]:
        assert ring["score"] >= 0.5 and ring["reasons"] and ring["ring_id"].startswith("R")

    evaluated = fraudgraph(
        "evaluate", "--store", str(store), "--truth", truth, "--baselines", "--json"
    )
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert set(report) >= EVALUATION_KEYS
    assert report["ring_recall"] == analysis["evaluation"]["ring_recall"]
    assert set(report["baselines"]) == {"wcc", "rules"}
    assert "table" not in report

    listed = json.loads(fraudgraph("rings", "--store", str(store), "--limit", "3", "--json").stdout)
    assert listed["count"] == min(3, flagged)
    scores = [row["score"] for row in listed["data"]]
    assert scores == sorted(scores, reverse=True)

    supers = fraudgraph("super-nodes", "--store", str(store), "--json")
    assert supers.returncode == 0, supers.stderr
    for row in json.loads(supers.stdout)["data"]:
        assert row["share_count"] > 1 and row["type"] and row["key"]


def test_analyse_rerun_raises_no_new_alerts(analysed: tuple[Path, Path]) -> None:
    """A second analyse of unchanged data keeps every ring id: no new alerts."""
    _, store = analysed
    first = json.loads(fraudgraph("analyse", "--store", str(store), "--json").stdout)
    second = json.loads(fraudgraph("analyse", "--store", str(store), "--json").stdout)
    assert second["flagging"]["new_alerts"] == 0
    assert second["flagging"]["continued_alerts"] == first["flagging"]["flagged"]
    assert [r["ring_id"] for r in second["top_rings"]] == [r["ring_id"] for r in first["top_rings"]]


def test_analyse_is_listed_and_analyze_is_a_hidden_alias(analysed: tuple[Path, Path]) -> None:
    """--help lists `analyse` only; `analyze` still runs the same command, same options."""
    listed = fraudgraph("--help")
    assert listed.returncode == 0, listed.stderr
    assert "analyse" in listed.stdout and "analyze" not in listed.stdout
    _, store = analysed
    runs = {
        name: fraudgraph(name, "--store", str(store), "--top", "3", "--json")
        for name in ("analyse", "analyze")
    }
    for name, result in runs.items():
        assert result.returncode == 0, f"{name}: {result.stderr}"
    spelled_uk, spelled_us = (json.loads(runs[name].stdout) for name in ("analyse", "analyze"))
    assert spelled_us["accounts"] == spelled_uk["accounts"] >= 1500
    assert spelled_us["flagging"]["continued_alerts"] == spelled_uk["flagging"]["flagged"]
    assert [r["ring_id"] for r in spelled_us["top_rings"]] == [
        r["ring_id"] for r in spelled_uk["top_rings"]
    ]


def test_evaluate_with_a_bad_truth_file_fails_with_one_line(
    analysed: tuple[Path, Path], tmp_path: Path
) -> None:
    """A truth file without the required columns is refused in one line, exit 2."""
    _, store = analysed
    bad = tmp_path / "truth.csv"
    bad.write_text("ring,account\nr1,A1\n")
    result = fraudgraph("evaluate", "--store", str(store), "--truth", str(bad), "--json")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "truth.csv" in result.stderr


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
        "FRAUDGRAPH_NEO4J_URI": f"bolt://127.0.0.1:{_free_port()}",
        "FRAUDGRAPH_NEO4J_PASSWORD": "irrelevant",
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


@pytest.mark.neo4j
def test_neo4j_import_loads_an_ingested_store_into_a_new_default_database(tmp_path: Path) -> None:
    """ingest, then neo4j import: the new database is the default one, its counts are the
    embedded store's, and the backend reads it through FRAUDGRAPH_NEO4J_DATABASE."""
    events = write_rows(tmp_path / "events.csv", [*GOOD_EVENTS, {"event_id": "bad"}])
    store, data = tmp_path / "store", str(tmp_path / "neo4j")
    assert fraudgraph("ingest", str(events), "--store", str(store), "--json").returncode == 0
    embedded = json.loads(fraudgraph("stats", "--store", str(store), "--json").stdout)
    port = str(_free_port())
    imported = fraudgraph(
        "neo4j", "import", "--store", str(store), "--database", "cli-import",
        "--data-dir", data, "--port", port, "--password", "cli-password", "--json",
    )  # fmt: skip
    try:
        assert imported.returncode == 0, imported.stderr
        report = json.loads(imported.stdout)
        assert (report["database"], report["events"]) == ("cli-import", 6)
        assert report["nodes"] == sum(embedded["nodes"].values())
        env = {
            "FRAUDGRAPH_BACKEND": "neo4j",
            "FRAUDGRAPH_NEO4J_URI": f"bolt://127.0.0.1:{port}",
            "FRAUDGRAPH_NEO4J_PASSWORD": "cli-password",
            "FRAUDGRAPH_NEO4J_DATABASE": "cli-import",
            "FRAUDGRAPH_STORE": str(store),
        }
        on_neo4j = fraudgraph("stats", "--json", env=env)
        assert on_neo4j.returncode == 0, on_neo4j.stderr
        counts = json.loads(on_neo4j.stdout)
        assert (counts["nodes"], counts["links"]) == (embedded["nodes"], embedded["links"])
    finally:
        fraudgraph("neo4j", "stop", "--data-dir", data)


def test_neo4j_import_of_a_missing_store_fails_with_one_line(tmp_path: Path) -> None:
    """No embedded store at --store: exit 2, one line, no server started."""
    result = fraudgraph(
        "neo4j", "import", "--store", str(tmp_path / "nothing"),
        "--data-dir", str(tmp_path / "neo4j"), "--port", str(_free_port()),
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no embedded store" in lines[0], result.stderr
    assert not (tmp_path / "neo4j" / "neo4j-local.pid").exists()


def _alive(pid: int) -> bool:
    """Whether a process runs (a zombie waiting to be reaped counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_query_commands_answer_for_a_flagged_ring(analysed: tuple[Path, Path]) -> None:
    """query ring/shared/flow/neighbours/path print one JSON object about a flagged ring."""
    _, store = analysed
    assert fraudgraph("analyse", "--store", str(store), "--json").returncode == 0
    top = json.loads(fraudgraph("rings", "--store", str(store), "--limit", "1", "--json").stdout)
    ring = top["data"][0]
    where = ["--store", str(store), "--json"]

    subgraph = json.loads(fraudgraph("query", "ring", ring["ring_id"], *where).stdout)
    member_keys = sorted(m["key"] for m in subgraph["members"])
    assert member_keys == sorted(ring["member_keys"])
    assert subgraph["links"], "a flagged ring is tied by shared identifiers or transfers"

    first, second = member_keys[:2]
    shared = json.loads(fraudgraph("query", "shared", first, *where).stdout)
    assert shared["account"]["key"] == first
    neighbours = json.loads(fraudgraph("query", "neighbours", "Account", first, *where).stdout)
    assert neighbours["entity"]["key"] == first and neighbours["neighbours"]
    flow = json.loads(fraudgraph("query", "flow", first, "--depth", "1", *where).stdout)
    assert flow["account"]["key"] == first
    path = json.loads(
        fraudgraph("query", "path", f"Account:{first}", f"Account:{second}", *where).stdout
    )
    assert path["found"] is True
    ends = [path["path"]["nodes"][0]["key"], path["path"]["nodes"][-1]["key"]]
    assert ends == [first, second]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["query", "ring", "R0000000000000000"], "no ring"),
        (["query", "path", "Account", "Account:x"], "TYPE:KEY"),
        (["query", "neighbours", "Spaceship", "x"], "Spaceship"),
        (["query", "flow", "A1", "--direction", "sideways"], "direction"),
    ],
)
def test_query_errors_exit_2_with_one_line(
    analysed: tuple[Path, Path], args: list[str], message: str
) -> None:
    """Unknown rings, malformed entity names, types and directions: one line, exit 2."""
    _, store = analysed
    result = fraudgraph(*args, "--store", str(store), "--json")
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr


def test_query_transfer_patterns_by_key_and_for_every_account(tmp_path: Path) -> None:
    """query transfer-patterns prints the named accounts' features as JSON (NaN as null)
    and writes every account's to Parquet with --all --out; naming none without --all, an
    unknown account or a time without a zone is one line, exit 2."""
    import pyarrow.parquet as pq

    rows = transfer_events(
        [("A1", "A2", "2026-01-01T10:00:00Z", "1000"), ("A2", "A3", "2026-01-01T12:00:00Z", "900")]
    )
    store = str(tmp_path / "store")
    assert (
        fraudgraph("ingest", str(write_rows(tmp_path / "t.csv", rows)), "--store", store).returncode
        == 0
    )

    named = fraudgraph("query", "transfer-patterns", "A2", "A1", "--store", store, "--json")
    assert named.returncode == 0, named.stderr
    accounts = json.loads(named.stdout)["accounts"]
    assert [a["key"] for a in accounts] == ["A2", "A1"]
    assert accounts[0]["pass_through"] == pytest.approx(0.9)
    assert accounts[1]["pass_through"] is None  # no money in: undefined, not a number
    before = fraudgraph(
        "query",
        "transfer-patterns",
        "A2",
        "--as-of",
        "2026-01-01T11:00:00Z",
        "--store",
        store,
        "--json",
    )
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout)["accounts"][0]["pass_through"] == 0.0  # not passed on yet

    out = tmp_path / "features.parquet"
    every = fraudgraph(
        "query", "transfer-patterns", "--all", "--out", str(out), "--store", store, "--json"
    )
    assert every.returncode == 0, every.stderr
    assert json.loads(every.stdout) == {"accounts": 3, "out": str(out)}
    assert pq.read_table(out).column("key").to_pylist() == ["A1", "A2", "A3"]

    for args, message in [
        ([], "--all"),
        (["--all"], "--out"),
        (["nobody"], "nobody"),
        (["A2", "--as-of", "2026-01-01T11:00:00"], "zone"),
    ]:
        refused = fraudgraph("query", "transfer-patterns", *args, "--store", store, "--json")
        assert refused.returncode == 2, (args, refused.stderr)
        assert refused.stdout == ""
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert message in refused.stderr


def test_publish_before_any_analysis_fails_with_one_line(tmp_path: Path) -> None:
    """publish on a store never analysed exits 2 with one line naming the command to run."""
    events = write_rows(tmp_path / "events.csv", GOOD_EVENTS)
    assert fraudgraph("ingest", str(events), "--store", str(tmp_path / "s")).returncode == 0
    result = fraudgraph("publish", "--store", str(tmp_path / "s"), "--json")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "fraudgraph analyse" in errors[0]


def test_analyse_publish_then_publish_again(analysed: tuple[Path, Path]) -> None:
    """analyse --publish reports the snapshot; publish --json republishes a newer version."""
    _, store = analysed
    result = fraudgraph("analyse", "--store", str(store), "--publish", "--json")
    assert result.returncode == 0, result.stderr
    first = json.loads(result.stdout)["feature_snapshot"]
    assert first["entities"] >= 1500 and first["redis"] is False
    again = fraudgraph("publish", "--store", str(store), "--json")
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["entities"] == first["entities"] and second["version"] > first["version"]


def test_serve_refuses_production_without_keys(tmp_path: Path) -> None:
    """serve in production with no API keys exits 2 with one line, before listening."""
    result = fraudgraph(
        "serve", "--store", str(tmp_path), env={"FRAUDGRAPH_ENVIRONMENT": "production"}
    )
    assert result.returncode == 2
    assert "no API keys configured" in result.stderr


def test_ctrl_c_that_stops_a_query_exits_130_and_a_failing_query_does_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A command whose query Ctrl-C stopped (DuckDB's RuntimeError raised from the
    KeyboardInterrupt) exits 130 with the interrupted message, like a plain Ctrl-C; any
    other RuntimeError is not taken for an interruption and propagates."""
    import signal

    import typer

    from fraudgraph.cli.shared import fail_cleanly
    from tests.interrupts import ctrl_c_during_query

    previous = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(typer.Exit) as stopped:
            fail_cleanly(ctrl_c_during_query)()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert stopped.value.exit_code == 130
    assert "interrupted; committed batches are kept" in capsys.readouterr().err

    def failing_query() -> None:
        raise RuntimeError("Binder Error: no column")

    with pytest.raises(RuntimeError, match="Binder Error"):
        fail_cleanly(failing_query)()


def test_ctrl_c_inside_an_import_still_exits_130(tmp_path: Path) -> None:
    """Ctrl-C that lands while a module is imported (a dataclass compiles its methods with
    exec) exits 130 under ``python -m`` like any other Ctrl-C: CPython would otherwise
    remember the caught interrupt and end the run by killing itself with SIGINT."""
    (tmp_path / "interrupted_import.py").write_text(
        "import sys\n"
        "import typer\n"
        "from fraudgraph.cli.shared import err, fail_cleanly\n"
        "err.print('ready')\n"
        "def run() -> None:\n"
        "    exec('raise KeyboardInterrupt')\n"
        "try:\n"
        "    fail_cleanly(run)()\n"
        "except typer.Exit as stop:\n"
        "    sys.exit(stop.exit_code)\n"
    )
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "interrupted_import"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join((str(repo), str(tmp_path)))},
        timeout=120,
    )
    assert done.returncode == 130, done.stderr
    assert "interrupted; committed batches are kept" in done.stderr
