"""Graph algorithms as a backend capability: one interface, an engine per backend.

``GraphStore.algorithms()`` returns a :class:`GraphAlgorithms`: on the embedded backend an
in-process engine over the CSR (scipy, igraph), on Neo4j the Graph Data Science
library through the ``graphdatascience`` client. ``scoring`` builds its pipeline on this
interface and never knows which engine runs.

Every result is an Arrow table keyed by the store's node ``id``; nodes outside the
projection are absent. Components and communities are canonical: each is labelled by the
smallest node id it contains, so two engines that find the same partition return equal
tables.

The result schemas and the functions that build the canonical result tables live here,
beside the interface, so that every engine returns the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Literal, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa

from graph_service.model import LinkType, NodeType


class Algorithm(StrEnum):
    """Algorithms every engine provides (values are GDS procedure names)."""

    WCC = "wcc"
    LOUVAIN = "louvain"
    LEIDEN = "leiden"
    PAGERANK = "pageRank"
    DEGREE = "degree"
    NODE_SIMILARITY = "nodeSimilarity"
    FASTRP = "fastRP"


@dataclass(frozen=True, slots=True)
class NativeProjection:
    """A projection of stored nodes and links, treated as undirected.

    Attributes
    ----------
    node_types : tuple of NodeType
        Node types included (links to other types are dropped).
    link_types : tuple of LinkType
        Link types included.
    weight : {None, "n_events", "amount_sum"}
        Link property used as weight by weighted algorithms (None = unweighted).
    """

    node_types: tuple[NodeType, ...] = tuple(NodeType)
    link_types: tuple[LinkType, ...] = tuple(LinkType)
    weight: Literal["n_events", "amount_sum"] | None = None


@dataclass(frozen=True, slots=True)
class EdgeListProjection:
    """A derived graph given as arrays (e.g. the rarity-weighted account-account graph).

    Attributes
    ----------
    nodes : ndarray of int64, shape (n,)
        Store ids of the nodes (isolated nodes included).
    src, dst : ndarray of int64, shape (m,)
        Undirected edges between ids in ``nodes``.
    weight : ndarray of float64, shape (m,), optional
    """

    nodes: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray | None = field(default=None)


Projection = NativeProjection | EdgeListProjection

#: Every link type: accounts with all their identifiers and transfers.
ACCOUNT_IDENTIFIER_GRAPH = NativeProjection()


@dataclass(frozen=True, slots=True)
class MemoryEstimate:
    """Memory an algorithm run needs, and whether the engine has it."""

    algorithm: Algorithm
    bytes_min: int
    bytes_max: int
    available_bytes: int
    node_count: int
    relationship_count: int

    @property
    def fits(self) -> bool:
        """Whether the upper estimate fits the available memory."""
        return self.bytes_max <= self.available_bytes


@runtime_checkable
class GraphAlgorithms(Protocol):
    """Algorithms over a projection of the store's graph.

    Raises (every method): ``LimitExceeded`` when the estimated memory does not fit,
    ``BackendUnavailable`` when the engine cannot run.
    """

    engine: str

    def wcc(self, projection: Projection) -> pa.Table:
        """Weakly connected components: ``(id int64, component int64)``, canonical labels."""
        ...

    def louvain(self, projection: Projection, *, seed: int = 42) -> pa.Table:
        """Louvain communities: ``(id int64, community int64)``, canonical labels."""
        ...

    def leiden(
        self,
        projection: Projection,
        *,
        seed: int = 42,
        resolution: float = 1.0,
        max_levels: int = 10,
    ) -> pa.Table:
        """Leiden communities (modularity): ``(id int64, community int64)``, canonical.

        ``max_levels`` bounds the refinement passes (GDS's ``maxLevels``): the first few
        find nearly all of the structure.
        """
        ...

    def pagerank(
        self,
        projection: Projection,
        *,
        damping: float = 0.85,
        max_iterations: int = 40,
        tolerance: float = 1e-7,
    ) -> pa.Table:
        """PageRank on the undirected projection: ``(id int64, score float64)``."""
        ...

    def degree(self, projection: Projection) -> pa.Table:
        """(Weighted) degree: ``(id int64, degree float64)``."""
        ...

    def node_similarity(
        self, projection: Projection, *, top_k: int = 10, cutoff: float = 0.1
    ) -> pa.Table:
        """Jaccard similarity of neighbour sets, top-k per node:
        ``(id1 int64, id2 int64, similarity float64)`` with ``id1 != id2``."""
        ...

    def fastrp(self, projection: Projection, *, dimension: int = 64, seed: int = 42) -> pa.Table:
        """FastRP node embeddings: ``(id int64, embedding list<float32>[dimension])``."""
        ...

    def estimate_memory(self, projection: Projection, algorithm: Algorithm) -> MemoryEstimate:
        """Memory needed to project and run ``algorithm``."""
        ...


# -- result tables (the same for every engine) ----------------------------------------------

#: ``wcc`` result.
COMPONENT_SCHEMA: Final = pa.schema(
    [pa.field("id", pa.int64(), nullable=False), pa.field("component", pa.int64(), nullable=False)]
)
#: ``louvain`` / ``leiden`` result.
COMMUNITY_SCHEMA: Final = pa.schema(
    [pa.field("id", pa.int64(), nullable=False), pa.field("community", pa.int64(), nullable=False)]
)
#: ``pagerank`` result.
SCORE_SCHEMA: Final = pa.schema(
    [pa.field("id", pa.int64(), nullable=False), pa.field("score", pa.float64(), nullable=False)]
)
#: ``degree`` result.
DEGREE_SCHEMA: Final = pa.schema(
    [pa.field("id", pa.int64(), nullable=False), pa.field("degree", pa.float64(), nullable=False)]
)
#: ``node_similarity`` result.
SIMILARITY_SCHEMA: Final = pa.schema(
    [
        pa.field("id1", pa.int64(), nullable=False),
        pa.field("id2", pa.int64(), nullable=False),
        pa.field("similarity", pa.float64(), nullable=False),
    ]
)

#: FastRP defaults of GDS 2.x, used by both engines.
FASTRP_ITERATION_WEIGHTS: Final[tuple[float, ...]] = (0.0, 1.0, 1.0)


def canonical_labels(ids: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Relabel a partition so that every part is named by the smallest id it contains.

    Parameters
    ----------
    ids : ndarray of int64, shape (n,)
    labels : ndarray of int, shape (n,)
        Arbitrary part labels aligned with ``ids``.

    Returns
    -------
    ndarray of int64, shape (n,)

    Notes
    -----
    O(n log n), two sorts.

    Examples
    --------
    >>> canonical_labels(np.array([5, 2, 9]), np.array([1, 1, 0])).tolist()
    [2, 2, 9]
    """
    ids = np.asarray(ids, np.int64)
    if ids.shape[0] == 0:
        return ids.copy()
    uniq, inverse = np.unique(np.asarray(labels), return_inverse=True)
    smallest = np.full(uniq.shape[0], np.iinfo(np.int64).max, np.int64)
    np.minimum.at(smallest, inverse, ids)
    return smallest[inverse]


def partition_table(ids: np.ndarray, labels: np.ndarray, column: str) -> pa.Table:
    """``(id, <column>)`` sorted by id with canonical labels (``component``/``community``)."""
    schema = COMPONENT_SCHEMA if column == "component" else COMMUNITY_SCHEMA
    ids = np.asarray(ids, np.int64)
    order = np.argsort(ids, kind="stable")
    canon = canonical_labels(ids, labels)
    return pa.table({"id": ids[order], column: canon[order]}, schema=schema)


def value_table(ids: np.ndarray, values: np.ndarray, column: str) -> pa.Table:
    """``(id, <column> float64)`` sorted by id (``score`` or ``degree``)."""
    schema = SCORE_SCHEMA if column == "score" else DEGREE_SCHEMA
    ids = np.asarray(ids, np.int64)
    order = np.argsort(ids, kind="stable")
    return pa.table(
        {"id": ids[order], column: np.asarray(values, np.float64)[order]}, schema=schema
    )


def similarity_table(id1: np.ndarray, id2: np.ndarray, similarity: np.ndarray) -> pa.Table:
    """``(id1, id2, similarity)`` ordered by id1, similarity descending, id2."""
    id1 = np.asarray(id1, np.int64)
    id2 = np.asarray(id2, np.int64)
    similarity = np.asarray(similarity, np.float64)
    order = np.lexsort((id2, -similarity, id1))
    return pa.table(
        {"id1": id1[order], "id2": id2[order], "similarity": similarity[order]},
        schema=SIMILARITY_SCHEMA,
    )


def embedding_schema(dimension: int) -> pa.Schema:
    """``fastrp`` result schema: ``(id int64, embedding fixed_size_list<float32>[dimension])``."""
    return pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("embedding", pa.list_(pa.float32(), dimension), nullable=False),
        ]
    )


def embedding_table(ids: np.ndarray, embeddings: np.ndarray) -> pa.Table:
    """``(id, embedding)`` sorted by id, from a ``(n, dimension)`` float array."""
    ids = np.asarray(ids, np.int64)
    matrix = np.asarray(embeddings, np.float32)
    dimension = int(matrix.shape[1])
    order = np.argsort(ids, kind="stable")
    flat = pa.array(np.ascontiguousarray(matrix[order]).reshape(-1), pa.float32())
    return pa.table(
        {"id": ids[order], "embedding": pa.FixedSizeListArray.from_arrays(flat, dimension)},
        schema=embedding_schema(dimension),
    )


def modularity(
    communities: pa.Table, src: np.ndarray, dst: np.ndarray, weight: np.ndarray | None = None
) -> float:
    """Newman modularity of a partition of an undirected graph.

    Parameters
    ----------
    communities : pa.Table
        ``(id, community)``; every edge end must appear.
    src, dst : ndarray of int64, shape (m,)
        Undirected edges (each once).
    weight : ndarray of float64, shape (m,), optional

    Returns
    -------
    float
        ``Q = sum_c [ L_c / m - (d_c / 2m)^2 ]`` (weighted when ``weight`` is given).

    Notes
    -----
    O(n + m), vectorised.
    """
    ids = communities.column("id").to_numpy()
    labels = communities.column("community").to_numpy()
    order = np.argsort(ids)
    ids, labels = ids[order], labels[order]
    w = np.ones(src.shape[0]) if weight is None else np.asarray(weight, np.float64)
    total = w.sum()
    if total == 0:
        return 0.0
    cs = labels[np.searchsorted(ids, src)]
    cd = labels[np.searchsorted(ids, dst)]
    _, inverse = np.unique(np.concatenate([cs, cd]), return_inverse=True)
    k = inverse.max() + 1 if inverse.size else 0
    inside = np.bincount(inverse[: src.shape[0]][cs == cd], weights=w[cs == cd], minlength=k)
    degree = np.bincount(inverse, weights=np.concatenate([w, w]), minlength=k)
    return float((inside / total).sum() - ((degree / (2 * total)) ** 2).sum())
