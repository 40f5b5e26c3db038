"""``fraudgraph query flow --time-respecting`` and ``query ring-flow``: one JSON object
with --json, known answers on a small graph, one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from graph_service import NodeType
from graph_service.embedded.store import EmbeddedStore
from tests.conftest import write_rows
from tests.fraudgraph.test_cli import fraudgraph
from tests.queries.conftest import GRAPH_EVENTS

RING = "R00000000000000a1"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The queries' hand-built graph (transfers on 1 Feb 2026: A1 -> A2 14:00 and 15:00,
    A2 -> A3 16:00, A3 -> A1 17:00, A3 -> A4 18:00, A5 -> A2 19:00), ingested by the CLI,
    with ring RING = {A1, A2, A3} recorded as a flagging run would."""
    root = tmp_path_factory.mktemp("cli-query")
    events = write_rows(root / "events.csv", GRAPH_EVENTS)
    ingested = fraudgraph("ingest", str(events), "--store", str(root / "store"), "--json")
    assert ingested.returncode == 0, ingested.stderr
    with EmbeddedStore(root / "store", memory_limit="1GB", threads=2) as graph:
        ids = [graph.get_entity(NodeType.ACCOUNT, k).id for k in ("A1", "A2", "A3")]
        members = pa.table(
            {"ring_id": [RING] * 3, "account_id": pa.array(ids, pa.int64())},
        )
        graph.write_table("ring_members", members, version="v1")
    return root / "store"


def _links(payload: dict[str, object]) -> list[tuple[str, str, object]]:
    keys = {a["id"]: a["key"] for a in payload["accounts"]}  # type: ignore[attr-defined]
    return [
        (keys[f["link"]["src"]], keys[f["link"]["dst"]], f["moved_amount"])
        for f in payload["links"]  # type: ignore[attr-defined]
    ]


def test_flow_time_respecting_cuts_what_the_default_keeps(store: Path) -> None:
    """From A5 (pays A2 at 19:00) the default follows A2 -> A3 (16:00); --time-respecting
    does not, and gives the arrival and the moved amount of what it follows."""
    where = ["--store", str(store), "--json"]
    default = fraudgraph("query", "flow", "A5", "--depth", "3", "--direction", "out", *where)
    assert default.returncode == 0, default.stderr
    untimed = json.loads(default.stdout)
    assert untimed["time_respecting"] is False
    assert [(s, d) for s, d, _ in _links(untimed)] == [
        ("A5", "A2"),
        ("A2", "A3"),
        ("A3", "A1"),
        ("A3", "A4"),
    ]
    result = fraudgraph(
        "query", "flow", "A5", "--depth", "3", "--direction", "out", "--time-respecting", *where
    )
    assert result.returncode == 0, result.stderr
    timed = json.loads(result.stdout)
    assert timed["time_respecting"] is True
    assert _links(timed) == [("A5", "A2", 70.0)]
    assert timed["links"][0]["arrival_ts"] == "2026-02-01T19:00:00+00:00"


def test_ring_flow_prints_one_json_object(store: Path) -> None:
    """ring-flow of {A1, A2, A3}: 70 in, 5 out, 200 inside, 65 retained, 3 hops."""
    result = fraudgraph("query", "ring-flow", RING, "--store", str(store), "--json")
    assert result.returncode == 0, result.stderr
    flow = json.loads(result.stdout)
    assert flow["ring_id"] == RING
    assert [m["key"] for m in flow["members"]] == ["A1", "A2", "A3"]
    got = {k: flow[k] for k in ("total_in", "total_out", "internal", "retained", "hops")}
    assert got == {
        "total_in": 70.0,
        "total_out": 5.0,
        "internal": 200.0,
        "retained": 65.0,
        "hops": 3,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["query", "ring-flow", "R0000000000000000"], "no ring"),
        (["query", "flow", "A1", "--depth", "7", "--time-respecting"], "depth"),
        (["query", "flow", "nobody", "--time-respecting"], "nobody"),
    ],
)
def test_errors_exit_2_with_one_line(store: Path, args: list[str], message: str) -> None:
    """An unknown ring, a bad depth or an unknown account: one line on stderr, exit 2."""
    result = fraudgraph(*args, "--store", str(store), "--json")
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr


def test_help_names_the_options() -> None:
    """The help of flow names --time-respecting; ring-flow is listed among the commands."""
    flow_help = fraudgraph("query", "flow", "--help")
    assert flow_help.returncode == 0 and "--time-respecting" in flow_help.stdout
    listing = fraudgraph("query", "--help")
    assert listing.returncode == 0 and "ring-flow" in listing.stdout
