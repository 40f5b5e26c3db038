"""The GDS memory guard does not refuse a run because of uncollected garbage.

A private server with a small heap (garbage filling its heap would disturb the shared
one): a Cypher query builds a large list that lives long enough to reach the old
generation, so when it returns the heap holds a few hundred MiB of garbage that no
collection has reclaimed yet. The free heap that GDS reports is then below the estimate
of a run that fits the heap comfortably once the garbage is gone.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from graph_service.algorithms import Algorithm, EdgeListProjection
from graph_service.errors import LimitExceeded
from graph_service.neo4j import launcher
from tests.graph_service.conftest import PASSWORD, free_port, skip_without_java

pytest.importorskip("graphdatascience")

from graph_service.neo4j.gds import GdsAlgorithms

pytestmark = pytest.mark.neo4j

HEAP = "512m"
#: Long values collected into one list: ~24 B each on the heap, ~290 MiB in all.
GARBAGE_LONGS = 12_000_000
#: Edges of the run: its estimate (~224 B per edge of an edge-list projection) is about
#: 110 MiB, far below the heap once the garbage is collected.
EDGES = 500_000
NODES = 200_000


@dataclass
class Server:
    uri: str
    data_dir: Path


@pytest.fixture(scope="module")
def small_heap_server() -> Iterator[Server]:
    """A private server with a 512 MiB heap."""
    skip_without_java()
    data_dir = Path(tempfile.mkdtemp(prefix="fraudgraph-gds-guard-"))
    try:
        server = launcher.start(port=free_port(), data_dir=data_dir, password=PASSWORD, heap=HEAP)
        yield Server(uri=server.uri, data_dir=data_dir)
    finally:
        launcher.stop(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


def random_edges() -> EdgeListProjection:
    rng = np.random.default_rng(7)
    return EdgeListProjection(
        nodes=np.arange(NODES, dtype=np.int64),
        src=rng.integers(0, NODES, EDGES, dtype=np.int64),
        dst=rng.integers(0, NODES, EDGES, dtype=np.int64),
    )


def fill_heap_with_garbage(gds: GdsAlgorithms) -> None:
    """Leave ~290 MiB of old-generation garbage on the server's heap."""
    gds._gds.run_cypher(
        "UNWIND range(1, $n) AS i WITH collect(i) AS xs RETURN size(xs) AS n",
        {"n": GARBAGE_LONGS},
    )


def test_run_refused_for_garbage_passes_after_a_collection(small_heap_server: Server) -> None:
    """With the heap full of garbage the estimate does not fit what is free; the engine
    collects once and runs, and the result covers every node."""
    projection = random_edges()
    with GdsAlgorithms(uri=small_heap_server.uri, password=PASSWORD, concurrency=2) as gds:
        fill_heap_with_garbage(gds)
        estimate = gds.estimate_memory(projection, Algorithm.WCC)
        # The refusal this test is about: garbage makes the run look too big.
        assert not estimate.fits, (estimate.bytes_max, estimate.available_bytes)
        before = gds.garbage_collections
        table = gds.wcc(projection)
        assert gds.garbage_collections == before + 1
        assert table.num_rows == NODES


def test_without_a_collector_the_refusal_stands(small_heap_server: Server) -> None:
    """A server that cannot collect (the official image has no fraudgraph.heap.gc) keeps
    refusing, with the sizes in the message, and nothing is projected."""
    projection = random_edges()
    with GdsAlgorithms(uri=small_heap_server.uri, password=PASSWORD, concurrency=2) as gds:
        gds._can_collect = False
        fill_heap_with_garbage(gds)
        with pytest.raises(LimitExceeded, match="needs up to"):
            gds.wcc(projection)
        assert gds.garbage_collections == 0
        listed = gds._gds.run_cypher("CALL gds.graph.list() YIELD graphName RETURN graphName")
        assert len(listed) == 0


def test_a_run_that_does_not_fit_even_after_collection_is_refused(
    small_heap_server: Server,
) -> None:
    """The retry is no bypass: a run bigger than the whole heap is still refused."""
    with GdsAlgorithms(
        uri=small_heap_server.uri, password=PASSWORD, concurrency=2, max_memory_bytes=1 << 20
    ) as gds:
        with pytest.raises(LimitExceeded, match="needs up to"):
            gds.wcc(random_edges())
        assert gds.garbage_collections == 1
