"""The embedded graph-algorithm engine: scipy and igraph over the store's exports.

:class:`EmbeddedAlgorithms` implements :class:`~graph_service.algorithms.GraphAlgorithms`
in-process. A projection is first turned into a
:class:`~graph_service.projected_graph.ProjectedGraph` (a canonical, symmetric scipy CSR
adjacency over the projected nodes, see that module for the projection semantics shared
with the GDS engine); every algorithm then runs on that CSR with the vectorised kernels of
:mod:`graph_service.embedded.kernels`, or hands the edge arrays to igraph (C) for community
detection. A memory estimate guards every call.

The result tables (schemas in :mod:`graph_service.algorithms`) are shared by both engines,
so that they compare equal.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
import pyarrow as pa
from scipy.sparse.csgraph import connected_components

from graph_service.algorithms import (
    COMMUNITY_SCHEMA,
    COMPONENT_SCHEMA,
    DEGREE_SCHEMA,
    FASTRP_ITERATION_WEIGHTS,
    SCORE_SCHEMA,
    SIMILARITY_SCHEMA,
    Algorithm,
    EdgeListProjection,
    MemoryEstimate,
    NativeProjection,
    Projection,
    canonical_labels,
    embedding_schema,
    embedding_table,
    partition_table,
    similarity_table,
    value_table,
)
from graph_service.embedded.kernels import (
    FASTRP_SPARSITY,
    LEIDEN_MAX_ITERATIONS,
    LEIDEN_TOLERANCE,
    fastrp_embeddings,
    gds_pagerank,
    jaccard_top_k,
    leiden_membership,
    louvain_membership,
)
from graph_service.errors import InvalidInput, LimitExceeded, mib
from graph_service.projected_graph import ProjectedGraph, project_edge_list, project_store

if TYPE_CHECKING:
    from graph_service.store import GraphStore

__all__ = [
    "COMMUNITY_SCHEMA",
    "COMPONENT_SCHEMA",
    "DEGREE_SCHEMA",
    "FASTRP_ITERATION_WEIGHTS",
    "FASTRP_SPARSITY",
    "LEIDEN_MAX_ITERATIONS",
    "LEIDEN_TOLERANCE",
    "SCORE_SCHEMA",
    "SIMILARITY_SCHEMA",
    "EmbeddedAlgorithms",
    "ProjectedGraph",
    "available_memory_bytes",
    "canonical_labels",
    "embedding_schema",
    "embedding_table",
    "fastrp_embeddings",
    "gds_pagerank",
    "jaccard_top_k",
    "partition_table",
    "project_edge_list",
    "project_store",
    "similarity_table",
    "value_table",
]

log = logging.getLogger(__name__)

# Memory model constants (bytes), see ``EmbeddedAlgorithms.estimate_memory``.
_STORE_CSR_PER_ENTRY: Final = 8 + 1 + 8 + 1  # indices, link_type, n_events, direction
_BUILD_PER_ENTRY: Final = 8 + 8 + 8 + 8 + 1  # rows, cols, local rows/cols, weights, mask
_CSR_PER_ENTRY: Final = 8 + 8  # indices (int64 at worst), float64 data
_LINK_EXPORT_PER_LINK: Final = 8 + 8 + 1 + 8 + 8 + 8 + 8  # LINK_EXPORT_SCHEMA row
_STATE_PER_NODE: Final[dict[Algorithm, int]] = {
    Algorithm.WCC: 40,
    Algorithm.LOUVAIN: 160,
    Algorithm.LEIDEN: 160,
    Algorithm.PAGERANK: 64,
    Algorithm.DEGREE: 24,
    Algorithm.NODE_SIMILARITY: 24,
    Algorithm.FASTRP: 0,  # dimension-dependent, added separately
}
_STATE_PER_EDGE: Final[dict[Algorithm, int]] = {
    Algorithm.WCC: 0,
    Algorithm.LOUVAIN: 96,
    Algorithm.LEIDEN: 96,
    Algorithm.PAGERANK: 0,
    Algorithm.DEGREE: 0,
    Algorithm.NODE_SIMILARITY: 32,
    Algorithm.FASTRP: 16,
}
_SIMILARITY_PER_PRODUCT_ENTRY: Final = 64
_SIMILARITY_PER_RESULT: Final = 40


# -- memory ---------------------------------------------------------------------------------


def available_memory_bytes() -> int:
    """Memory this process can still allocate: ``MemAvailable``, capped by the cgroup limit.

    Uses ``psutil`` when installed, else ``/proc/meminfo``, else ``os.sysconf``; a cgroup v2
    ``memory.max`` (containers) lowers the figure to ``memory.max - memory.current``.
    """
    available: int | None = None
    try:
        import psutil

        available = int(psutil.virtual_memory().available)
    except ImportError:
        meminfo = Path("/proc/meminfo")
        if meminfo.exists():
            for line in meminfo.read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    if available is None:
        available = int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    limit, current = Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.current")
    try:
        cap = limit.read_text().strip()
        if cap != "max":
            available = min(available, int(cap) - int(current.read_text().strip()))
    except (OSError, ValueError):
        pass
    return max(0, available)


# -- the engine -----------------------------------------------------------------------------


class EmbeddedAlgorithms:
    """``GraphAlgorithms`` in-process: scipy for WCC/PageRank/degree/similarity/FastRP,
    igraph for Louvain and Leiden.

    Parameters
    ----------
    store : GraphStore or None
        Source of native projections (its ``to_csr``/``export_links``). ``None`` allows
        only :class:`EdgeListProjection`.
    available_memory : int, optional
        Bytes the engine may use. Defaults to what the machine has free right now
        (:func:`available_memory_bytes`); pass a figure to cap the engine (or to test).
    similarity_block_entries : int
        Intersection entries node similarity materialises at once.

    Raises
    ------
    LimitExceeded
        From every algorithm, before any work, when :meth:`estimate_memory` does not fit.
    InvalidInput
        For a native projection without a store, or an invalid edge list.

    Examples
    --------
    >>> import numpy as np
    >>> from graph_service.algorithms import EdgeListProjection
    >>> engine = EmbeddedAlgorithms(None)
    >>> graph = EdgeListProjection(nodes=np.arange(4), src=np.array([0, 2]), dst=np.array([1, 3]))
    >>> engine.wcc(graph).column("component").to_pylist()
    [0, 0, 2, 2]
    """

    engine = "embedded"

    def __init__(
        self,
        store: GraphStore | None,
        *,
        available_memory: int | None = None,
        similarity_block_entries: int = 1 << 22,
    ) -> None:
        if similarity_block_entries < 1:
            raise InvalidInput("similarity_block_entries must be >= 1")
        self._store = store
        self._available_memory = available_memory
        self._block_entries = similarity_block_entries

    # -- projection + guard ------------------------------------------------------------
    def _graph(
        self, projection: Projection, algorithm: Algorithm, **options: int
    ) -> ProjectedGraph:
        estimate = self.estimate_memory(projection, algorithm, **options)
        if not estimate.fits:
            raise LimitExceeded(
                f"{algorithm.value} needs up to {mib(estimate.bytes_max)} but only "
                f"{mib(estimate.available_bytes)} is available "
                f"({estimate.node_count} nodes, {estimate.relationship_count} links)"
            )
        if isinstance(projection, EdgeListProjection):
            graph = project_edge_list(projection)
        else:
            graph = project_store(self._require_store(), projection)
        log.debug(
            "projected graph",
            extra={
                "algorithm": algorithm.value,
                "nodes": graph.n_nodes,
                "edges": graph.n_edges,
                "estimated_bytes": estimate.bytes_max,
            },
        )
        return graph

    def _require_store(self) -> GraphStore:
        if self._store is None:
            raise InvalidInput("a NativeProjection needs an engine constructed with a store")
        return self._store

    # -- algorithms ----------------------------------------------------------------------
    def wcc(self, projection: Projection) -> pa.Table:
        """Weakly connected components: ``(id, component)``, component = smallest id in it.

        Notes
        -----
        O(n + m) with scipy's ``connected_components``, plus O(n log n) to canonicalise.
        """
        graph = self._graph(projection, Algorithm.WCC)
        _, labels = connected_components(graph.adjacency, directed=False)
        return partition_table(graph.ids, labels, "component")

    def louvain(self, projection: Projection, *, seed: int = 42) -> pa.Table:
        """Louvain communities (igraph ``community_multilevel``): ``(id, community)``.

        The run is reproducible: igraph's (process-wide) random generator is swapped for a
        ``random.Random(seed)`` for the call, under a lock, and restored to Python's
        ``random`` module afterwards. Weighted when the projection has a weight.

        Notes
        -----
        About O(m log n) (Blondel et al.); graph construction from arrays ~1 µs per edge.
        """
        graph = self._graph(projection, Algorithm.LOUVAIN)
        membership = louvain_membership(graph, seed)
        return partition_table(graph.ids, membership, "community")

    def leiden(
        self,
        projection: Projection,
        *,
        seed: int = 42,
        resolution: float = 1.0,
        max_levels: int = LEIDEN_MAX_ITERATIONS,
    ) -> pa.Table:
        """Leiden communities (igraph, modularity with resolution): ``(id, community)``.

        igraph's Leiden with the modularity objective and ``resolution`` (GDS's
        ``gamma``), seeded with ``seed``, one iteration at a time from the previous
        partition until an iteration raises modularity by less than ``LEIDEN_TOLERANCE``
        (GDS's default tolerance) or ``max_levels`` iterations ran (GDS's ``maxLevels``,
        default ``LEIDEN_MAX_ITERATIONS``).

        Notes
        -----
        Each iteration is about O(m); usually 2-4 iterations are needed.
        """
        graph = self._graph(projection, Algorithm.LEIDEN)
        membership = leiden_membership(graph, seed, resolution, max_levels)
        return partition_table(graph.ids, membership, "community")

    def pagerank(
        self,
        projection: Projection,
        *,
        damping: float = 0.85,
        max_iterations: int = 40,
        tolerance: float = 1e-7,
    ) -> pa.Table:
        """PageRank with GDS's definition and scaling (see :func:`gds_pagerank`): ``(id, score)``.

        Notes
        -----
        O(max_iterations * (n + m)).
        """
        if not 0.0 <= damping < 1.0 or max_iterations < 1 or tolerance < 0:
            raise InvalidInput("need 0 <= damping < 1, max_iterations >= 1, tolerance >= 0")
        graph = self._graph(projection, Algorithm.PAGERANK)
        scores = gds_pagerank(
            graph.adjacency, damping=damping, max_iterations=max_iterations, tolerance=tolerance
        )
        return value_table(graph.ids, scores, "score")

    def degree(self, projection: Projection) -> pa.Table:
        """Degree: distinct neighbours, or the summed weight when weighted: ``(id, degree)``.

        Notes
        -----
        O(n + m).
        """
        graph = self._graph(projection, Algorithm.DEGREE)
        if graph.weighted:
            values = np.asarray(graph.adjacency.sum(axis=1), np.float64).reshape(-1)
        else:
            values = graph.neighbour_counts().astype(np.float64)
        return value_table(graph.ids, values, "degree")

    def node_similarity(
        self, projection: Projection, *, top_k: int = 10, cutoff: float = 0.1
    ) -> pa.Table:
        """Jaccard similarity of neighbour sets, top-k per node (see :func:`jaccard_top_k`).

        Every node with at least one neighbour in the undirected projection is compared
        with every other such node, as GDS's ``nodeSimilarity`` does on an UNDIRECTED
        graph (``degreeCutoff = 1``); similarities ``>= cutoff`` are kept. Weights are
        ignored (plain Jaccard). Rows: ``(id1, id2, similarity)``, ordered by ``id1``,
        similarity descending, ``id2``.

        Notes
        -----
        O(number of 2-paths) time, bounded memory (row blocks).
        """
        if top_k < 1 or not 0.0 <= cutoff <= 1.0:
            raise InvalidInput("need top_k >= 1 and 0 <= cutoff <= 1")
        graph = self._graph(projection, Algorithm.NODE_SIMILARITY, top_k=top_k)
        u, v, similarity = jaccard_top_k(
            graph.adjacency, top_k=top_k, cutoff=cutoff, block_entries=self._block_entries
        )
        return similarity_table(graph.ids[u], graph.ids[v], similarity)

    def fastrp(self, projection: Projection, *, dimension: int = 64, seed: int = 42) -> pa.Table:
        """FastRP embeddings (see :func:`fastrp_embeddings`): ``(id, embedding[dimension])``.

        GDS defaults: iteration weights ``(0, 1, 1)``, normalisation strength 0, no self
        influence; weighted when the projection is. Deterministic for a given seed.

        Notes
        -----
        O(3 * m * dimension) time, O(n * dimension) memory.
        """
        if dimension < 1:
            raise InvalidInput("dimension must be >= 1")
        graph = self._graph(projection, Algorithm.FASTRP, dimension=dimension)
        embeddings = fastrp_embeddings(graph.adjacency, dimension=dimension, seed=seed)
        return embedding_table(graph.ids, embeddings)

    # -- memory --------------------------------------------------------------------------
    def estimate_memory(
        self, projection: Projection, algorithm: Algorithm, *, top_k: int = 10, dimension: int = 64
    ) -> MemoryEstimate:
        """Memory to project and run ``algorithm``, against the memory available.

        With ``N`` stored nodes, ``n`` nodes of the projected types, ``L`` links of the
        projected types (upper bounds taken from ``store.counts()``, so nothing is loaded)
        and ``e = 2L`` adjacency entries:

        * projection, kept: ``e * 16 + n * 16`` (CSR indices + float64 weights, ids,
          indptr);
        * projection, transient (max only): the store's CSR export
          ``N * 17 + e * 18`` (+ ``L * 49`` for the ``amount_sum`` link export) and the
          build arrays ``e * 33``;
        * algorithm state: ``n * a + e * b`` with per-algorithm constants (WCC 40/0,
          PageRank 64/0, degree 24/0, Louvain/Leiden 160/96 for the igraph copy and the
          partition, similarity 24/32 + the product block ``min(2-paths, block) * 64`` +
          ``n * top_k * 40``, FastRP ``16 / e`` + ``n * dimension * 16``).

        ``bytes_min`` is kept projection + state, ``bytes_max`` adds the transients.

        Parameters
        ----------
        projection : Projection
        algorithm : Algorithm
        top_k, dimension : int
            The node similarity / FastRP parameters that size their state.

        Returns
        -------
        MemoryEstimate

        Notes
        -----
        O(1) for edge lists; one ``counts()`` call on the store for native projections.
        """
        n_all, n, links, amount = self._sizes(projection)
        entries = 2 * links
        kept = entries * _CSR_PER_ENTRY + n * 16
        transient = entries * _BUILD_PER_ENTRY
        if isinstance(projection, NativeProjection):
            transient += n_all * 17 + entries * _STORE_CSR_PER_ENTRY
            if amount:
                transient += links * _LINK_EXPORT_PER_LINK
        state = n * _STATE_PER_NODE[algorithm] + entries * _STATE_PER_EDGE[algorithm]
        if algorithm == Algorithm.NODE_SIMILARITY:
            # Upper bound of the 2-paths without loading: e * max degree <= e * n.
            product = min(self._block_entries, entries * max(n - 1, 0))
            state += product * _SIMILARITY_PER_PRODUCT_ENTRY + n * top_k * _SIMILARITY_PER_RESULT
        elif algorithm == Algorithm.FASTRP:
            state += n * dimension * 16
        return MemoryEstimate(
            algorithm=algorithm,
            bytes_min=int(kept + state),
            bytes_max=int(kept + state + transient),
            available_bytes=int(
                self._available_memory
                if self._available_memory is not None
                else available_memory_bytes()
            ),
            node_count=int(n),
            relationship_count=int(links),
        )

    def _sizes(self, projection: Projection) -> tuple[int, int, int, bool]:
        """``(stored nodes, projected nodes, projected links, needs amount export)``."""
        if isinstance(projection, EdgeListProjection):
            n = int(np.asarray(projection.nodes).shape[0])
            return n, n, int(np.asarray(projection.src).shape[0]), False
        counts = self._require_store().counts()
        n_all = sum(counts.nodes.values())
        n = sum(counts.nodes[t] for t in set(projection.node_types))
        links = sum(counts.links[t] for t in set(projection.link_types))
        return n_all, n, links, projection.weight == "amount_sum"
