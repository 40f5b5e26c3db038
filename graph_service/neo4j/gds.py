"""Graph algorithms on Neo4j Graph Data Science, through the ``graphdatascience`` client.

:class:`GdsAlgorithms` implements :class:`~graph_service.algorithms.GraphAlgorithms` with
GDS (2.13 on Neo4j 5; Community edition is enough: no Arrow server is used). Every call

1. plans the projection (see below) and asks GDS for a memory estimate of *projection plus
   algorithm* (``gds.<algo>.stats.estimate`` on the projection config, or on a fictive
   graph of the same size plus the measured Cypher-aggregation overhead for edge lists),
   then compares ``bytesMax`` with the heap the server has free (``gds.debug.sysInfo``:
   ``availableHeapInBytes``, what GDS's own memory guard uses), optionally capped by
   ``max_memory_bytes``: :class:`LimitExceeded` is raised before anything is projected;
2. projects under a unique name (``fraudgraph_<algo>_<uuid>``), streams the result, and
   drops the projection in a ``finally`` (nothing is left in the catalog, even on errors);
3. maps GDS node ids to store ids and returns the Arrow tables of the interface (the same
   schemas and canonical labels as the embedded engine).

Projections
-----------
* :class:`NativeProjection` -> ``gds.graph.project`` (native): node labels are the
  selected ``NodeType`` values, each with the ``id`` property; one relationship
  projection per selected ``LinkType``, ``orientation: UNDIRECTED``. Unweighted:
  ``aggregation: SINGLE`` (parallel relationships count once); weighted: ``aggregation:
  SUM`` with property ``weight`` = the link property summed. GDS aggregates *per
  relationship type*; in the store's model every link type joins its own pair of node
  types, so two links between the same two nodes always share a type, and this equals the
  embedded engine's aggregation over all types. GDS node ids are mapped back to store ids
  with one ``gds.graph.nodeProperties.stream(G, ['id'])``. Types missing from the
  database are left out (GDS refuses unknown tokens); when no selected link type exists
  at all, the nodes are read and projected as an edge list without edges.
* :class:`EdgeListProjection` -> a Cypher aggregation ``gds.graph.project($name, s, t,
  ...)`` over the canonical edge list (duplicates summed, self-loops dropped, as in the
  embedded engine), sent as query parameters, store ids as GDS original ids (so results
  need no mapping). This works on Community edition; the parameters live in the server's
  heap for the duration of the query, so edge lists above ``max_parameter_edges``
  (default 5M) are refused with :class:`LimitExceeded` - write such graphs to Neo4j, or
  use the Arrow server of GDS Enterprise.

Algorithm settings mirror the embedded engine: PageRank is GDS's own (the embedded engine
reproduces it exactly); node similarity is unweighted Jaccard with ``degreeCutoff = 1``;
FastRP uses GDS's defaults (iteration weights ``[0, 1, 1]``). GDS Louvain has no random
seed: ``seed`` is accepted for the interface and ignored (results can vary between runs
with ``concurrency > 1``).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

import numpy as np
import pyarrow as pa
from graphdatascience import GraphDataScience
from graphdatascience.error.gds_not_installed import GdsNotFound
from graphdatascience.error.unable_to_connect import UnableToConnectError
from neo4j import Driver, GraphDatabase, NotificationMinimumSeverity
from neo4j.exceptions import (
    AuthError,
    ClientError,
    ConfigurationError,
    DriverError,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
)

from graph_service.algorithms import (
    Algorithm,
    EdgeListProjection,
    MemoryEstimate,
    Projection,
)
from graph_service.embedded.algorithms import (
    COMMUNITY_SCHEMA,
    COMPONENT_SCHEMA,
    DEGREE_SCHEMA,
    FASTRP_ITERATION_WEIGHTS,
    SCORE_SCHEMA,
    SIMILARITY_SCHEMA,
    ProjectedGraph,
    embedding_schema,
    embedding_table,
    partition_table,
    project_edge_list,
    similarity_table,
    value_table,
)
from graph_service.errors import BackendUnavailable, FraudGraphError, InvalidInput, LimitExceeded
from graph_service.model import NODE_TYPE_CODE, LinkType, NodeType
from graph_service.neo4j.cypher import ENTITY_LABEL

if TYPE_CHECKING:
    from graph_service.neo4j.store import Neo4jStore
    from graph_service.settings import Settings

log = logging.getLogger(__name__)

#: Name of the relationship weight property in every projection.
WEIGHT: Final = "weight"
#: Heap of one edge of a Cypher-aggregation projection beyond GDS's fictive-graph estimate
#: (which assumes native, compressed structures): measured on GDS 2.13.9, 300k undirected
#: edges took 42 MB in the catalog against an 8.5 MB estimate, i.e. ~112 B per edge.
_CYPHER_GRAPH_BYTES_PER_EDGE: Final = 128
#: Transient heap of one edge while it travels as query parameters (three boxed list
#: elements); added to ``bytes_max`` only.
_PARAMETER_BYTES_PER_EDGE: Final = 96

_EDGE_LIST_PROJECTION: Final = """
UNWIND range(0, size($src) + size($isolated) - 1) AS i
WITH i < size($src) AS is_edge, i
WITH CASE WHEN is_edge THEN $src[i] ELSE $isolated[i - size($src)] END AS source,
     CASE WHEN is_edge THEN $dst[i] END AS target,
     CASE WHEN is_edge THEN {relationshipProperties: {weight: $weight[i]}} ELSE {} END AS data
RETURN gds.graph.project($graph_name, source, target, data,
                         {undirectedRelationshipTypes: ['*']})
"""
_LABELS: Final = "CALL db.labels() YIELD label RETURN collect(label) AS names"
_RELATIONSHIP_TYPES: Final = (
    "CALL db.relationshipTypes() YIELD relationshipType RETURN collect(relationshipType) AS names"
)
_NODE_IDS: Final = f"MATCH (n:{ENTITY_LABEL}) WHERE n.type IN $codes RETURN n.id AS id"
_MEMORY_GUARD_HINTS: Final = ("memory", "heap")


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to project: a native config, or a canonical edge list (``edges``)."""

    node_projection: dict[str, Any] | None = None
    relationship_projection: dict[str, Any] | None = None
    edges: ProjectedGraph | None = None
    weighted: bool = False

    @property
    def empty(self) -> bool:
        return self.node_projection is None and self.edges is None


@dataclass(frozen=True, slots=True)
class _Projected:
    """A projected graph in the catalog and the map from its node ids to store ids."""

    graph: Any
    node_ids: np.ndarray | None  # sorted GDS node ids; None = GDS ids are store ids
    store_ids: np.ndarray | None
    weight_property: str | None

    def to_store(self, node_ids: Any) -> np.ndarray:
        ids = np.asarray(node_ids, np.int64)
        if self.node_ids is None or self.store_ids is None:
            return ids
        return self.store_ids[np.searchsorted(self.node_ids, ids)]


class GdsAlgorithms:
    """``GraphAlgorithms`` on Neo4j Graph Data Science.

    Parameters
    ----------
    uri : str
        Bolt URI of the Neo4j server with the GDS plugin.
    user, password : str
        Credentials; an empty password connects without authentication.
    database : str
        Database holding the store's graph.
    max_memory_bytes : int, optional
        Cap on the memory one call may need, below what the server has free.
    concurrency : int, optional
        GDS ``concurrency`` of every projection and algorithm (server default when None).
    max_parameter_edges : int
        Largest edge list sent as query parameters.
    connection_timeout_s : float
        TCP connection timeout.

    Raises
    ------
    BackendUnavailable
        If the server cannot be reached, rejects the credentials or lacks GDS.

    Examples
    --------
    >>> with GdsAlgorithms(uri="bolt://127.0.0.1:7687", password="...") as gds:  # doctest: +SKIP
    ...     gds.wcc(NativeProjection()).num_rows
    """

    engine = "gds"

    def __init__(
        self,
        *,
        uri: str,
        user: str = "neo4j",
        password: str = "",
        database: str = "neo4j",
        max_memory_bytes: int | None = None,
        concurrency: int | None = None,
        max_parameter_edges: int = 5_000_000,
        connection_timeout_s: float = 10.0,
        _driver: Driver | None = None,
    ) -> None:
        self.uri = uri
        self.database = database
        self.max_memory_bytes = max_memory_bytes
        self.concurrency = concurrency
        self.max_parameter_edges = max_parameter_edges
        self._owns_driver = _driver is None
        if _driver is None:
            auth = (user, password) if password else None
            try:
                _driver = GraphDatabase.driver(
                    uri,
                    auth=auth,
                    connection_timeout=connection_timeout_s,
                    max_transaction_retry_time=connection_timeout_s,
                    user_agent="fraudgraph-gds",
                    notifications_min_severity=NotificationMinimumSeverity.OFF,
                )
            except (ConfigurationError, ValueError) as exc:
                raise BackendUnavailable(f"invalid Neo4j URI {uri!r}: {_one_line(exc)}") from exc
        self._driver = _driver
        try:
            with self._translated():
                self._driver.verify_connectivity()
                # arrow=False: Community edition has no Arrow server, and Bolt is all we use.
                # show_progress=False: the progress poller trips a pandas 3 deprecation.
                self._gds = GraphDataScience(
                    self._driver, database=database, arrow=False, show_progress=False
                )
        except BaseException:
            if self._owns_driver:
                self._driver.close()
            raise

    @classmethod
    def for_store(cls, store: Neo4jStore, **options: Any) -> GdsAlgorithms:
        """An engine sharing the connection (driver, database) of a ``Neo4jStore``.

        The driver stays owned by the store: closing the engine leaves it open.
        """
        return cls(uri=store.uri, database=store.database, _driver=store.driver, **options)

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> GdsAlgorithms:
        """An engine for the Neo4j server in ``settings.neo4j``."""
        neo = settings.neo4j
        return cls(
            uri=neo.uri,
            user=neo.user,
            password=neo.password.get_secret_value(),
            database=neo.database,
            **options,
        )

    def close(self) -> None:
        """Close the client (and the driver, when this engine opened it)."""
        self._gds.close()
        if self._owns_driver:
            self._driver.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- algorithms ----------------------------------------------------------------------
    def wcc(self, projection: Projection) -> pa.Table:
        """Weakly connected components (``gds.wcc.stream``): ``(id, component)``, canonical.

        Notes
        -----
        GDS: O(n + m) (union-find); plus projection and an O(n) result stream.
        """
        with self._translated(), self._projected(projection, Algorithm.WCC) as p:
            if p is None:
                return COMPONENT_SCHEMA.empty_table()
            frame = self._gds.wcc.stream(p.graph, concurrency=self.concurrency)
            return partition_table(
                p.to_store(frame["nodeId"]), frame["componentId"].to_numpy(), "component"
            )

    def louvain(self, projection: Projection, *, seed: int = 42) -> pa.Table:
        """Louvain communities (``gds.louvain.stream``): ``(id, community)``, canonical.

        GDS Louvain takes no random seed; ``seed`` is ignored. Weighted when the projection
        has a weight.

        Notes
        -----
        GDS: about O(m log n).
        """
        with self._translated(), self._projected(projection, Algorithm.LOUVAIN) as p:
            if p is None:
                return COMMUNITY_SCHEMA.empty_table()
            frame = self._gds.louvain.stream(
                p.graph,
                relationship_weight_property=p.weight_property,
                concurrency=self.concurrency,
            )
            return partition_table(
                p.to_store(frame["nodeId"]), frame["communityId"].to_numpy(), "community"
            )

    def leiden(
        self,
        projection: Projection,
        *,
        seed: int = 42,
        resolution: float = 1.0,
        max_levels: int = 10,
    ) -> pa.Table:
        """Leiden communities (``gds.leiden.stream``, ``gamma = resolution``, seeded).

        Notes
        -----
        GDS: about O(m) per level, at most ``max_levels`` levels.
        """
        options = {"resolution": resolution, "seed": seed}
        with self._translated(), self._projected(projection, Algorithm.LEIDEN, options) as p:
            if p is None:
                return COMMUNITY_SCHEMA.empty_table()
            frame = self._gds.leiden.stream(
                p.graph,
                gamma=float(resolution),
                random_seed=int(seed),
                max_levels=int(max_levels),
                relationship_weight_property=p.weight_property,
                concurrency=self.concurrency,
            )
            return partition_table(
                p.to_store(frame["nodeId"]), frame["communityId"].to_numpy(), "community"
            )

    def pagerank(
        self,
        projection: Projection,
        *,
        damping: float = 0.85,
        max_iterations: int = 40,
        tolerance: float = 1e-7,
    ) -> pa.Table:
        """PageRank (``gds.pageRank.stream``, scaler NONE): ``(id, score)``.

        Scores follow GDS: ``(1 - d) + d * sum(PR(u) / deg(u))``, not normalised.

        Notes
        -----
        GDS: O(max_iterations * (n + m)).
        """
        if not 0.0 <= damping < 1.0 or max_iterations < 1 or tolerance < 0:
            raise InvalidInput("need 0 <= damping < 1, max_iterations >= 1, tolerance >= 0")
        options = {"damping": damping, "max_iterations": max_iterations, "tolerance": tolerance}
        with self._translated(), self._projected(projection, Algorithm.PAGERANK, options) as p:
            if p is None:
                return SCORE_SCHEMA.empty_table()
            frame = self._gds.page_rank.stream(
                p.graph,
                damping_factor=float(damping),
                max_iterations=int(max_iterations),
                tolerance=float(tolerance),
                relationship_weight_property=p.weight_property,
                concurrency=self.concurrency,
            )
            return value_table(p.to_store(frame["nodeId"]), frame["score"].to_numpy(), "score")

    def degree(self, projection: Projection) -> pa.Table:
        """Degree centrality (``gds.degree.stream``), weighted when the projection is.

        Notes
        -----
        GDS: O(n + m).
        """
        with self._translated(), self._projected(projection, Algorithm.DEGREE) as p:
            if p is None:
                return DEGREE_SCHEMA.empty_table()
            frame = self._gds.degree.stream(
                p.graph,
                relationship_weight_property=p.weight_property,
                concurrency=self.concurrency,
            )
            return value_table(p.to_store(frame["nodeId"]), frame["score"].to_numpy(), "degree")

    def node_similarity(
        self, projection: Projection, *, top_k: int = 10, cutoff: float = 0.1
    ) -> pa.Table:
        """Jaccard node similarity (``gds.nodeSimilarity.stream``), top-k per node.

        Unweighted even on a weighted projection (as the embedded engine), ``degreeCutoff
        = 1``, ``similarityCutoff = cutoff`` (inclusive).

        Notes
        -----
        GDS: O(n² * average degree) in the worst case (all pairs of nodes with neighbours).
        """
        if top_k < 1 or not 0.0 <= cutoff <= 1.0:
            raise InvalidInput("need top_k >= 1 and 0 <= cutoff <= 1")
        options = {"top_k": top_k, "cutoff": cutoff}
        with (
            self._translated(),
            self._projected(projection, Algorithm.NODE_SIMILARITY, options) as p,
        ):
            if p is None:
                return SIMILARITY_SCHEMA.empty_table()
            frame = self._gds.node_similarity.stream(
                p.graph,
                top_k=int(top_k),
                # GDS keeps pairs with similarity >= cutoff, zeros included when cutoff is
                # 0; its default 1e-42 (like the embedded engine) drops pairs sharing nothing.
                similarity_cutoff=max(float(cutoff), 1e-42),
                degree_cutoff=1,
                concurrency=self.concurrency,
            )
            return similarity_table(
                p.to_store(frame["node1"]),
                p.to_store(frame["node2"]),
                frame["similarity"].to_numpy(),
            )

    def fastrp(self, projection: Projection, *, dimension: int = 64, seed: int = 42) -> pa.Table:
        """FastRP embeddings (``gds.fastRP.stream``, GDS defaults, seeded).

        Notes
        -----
        GDS: O(3 * m * dimension); the stream carries ``n * dimension`` floats.
        """
        if dimension < 1:
            raise InvalidInput("dimension must be >= 1")
        options = {"dimension": dimension, "seed": seed}
        with self._translated(), self._projected(projection, Algorithm.FASTRP, options) as p:
            if p is None:
                return embedding_schema(dimension).empty_table()
            frame = self._gds.fast_rp.stream(
                p.graph,
                embedding_dimension=int(dimension),
                iteration_weights=list(FASTRP_ITERATION_WEIGHTS),
                random_seed=int(seed),
                relationship_weight_property=p.weight_property,
                concurrency=self.concurrency,
            )
            matrix = np.array(frame["embedding"].tolist(), np.float32).reshape(-1, dimension)
            return embedding_table(p.to_store(frame["nodeId"]), matrix)

    # -- memory --------------------------------------------------------------------------
    def estimate_memory(
        self, projection: Projection, algorithm: Algorithm, *, top_k: int = 10, dimension: int = 64
    ) -> MemoryEstimate:
        """GDS's estimate of projecting and running ``algorithm``, and the free heap.

        ``bytes_min``/``bytes_max`` come from ``gds.<algo>.stats.estimate`` on the projection
        config (native), or on a fictive graph of the edge list's size plus what a Cypher
        aggregation costs beyond it (128 B/edge, measured) and, in ``bytes_max``, the
        query parameters (96 B/edge); ``available_bytes`` is
        ``availableHeapInBytes`` of ``gds.debug.sysInfo`` (capped by ``max_memory_bytes``);
        ``relationship_count`` counts undirected relationships once.

        Parameters
        ----------
        projection : Projection
        algorithm : Algorithm
        top_k, dimension : int
            Node similarity / FastRP parameters that size their state.

        Returns
        -------
        MemoryEstimate

        Raises
        ------
        BackendUnavailable
            If the server cannot be reached.
        """
        with self._translated():
            plan = self._plan(projection)
            return self._estimate(plan, algorithm, {"top_k": top_k, "dimension": dimension})

    # -- internals -----------------------------------------------------------------------
    def _plan(self, projection: Projection) -> _Plan:
        if isinstance(projection, EdgeListProjection):
            edges = project_edge_list(projection)
            return _Plan(edges=edges, weighted=edges.weighted)
        labels = set(self._names(_LABELS))
        types = set(self._names(_RELATIONSHIP_TYPES))
        node_types = [t for t in dict.fromkeys(projection.node_types) if t.value in labels]
        link_types = [t for t in dict.fromkeys(projection.link_types) if t.value in types]
        if not node_types:
            return _Plan()
        if not link_types:
            # No selected link type exists: the nodes alone, weights are moot.
            return _Plan(edges=self._isolated(node_types))
        nodes = {t.value: {"label": t.value, "properties": ["id"]} for t in node_types}
        return _Plan(
            node_projection=nodes,
            relationship_projection={
                t.value: _relationship_projection(t, projection.weight) for t in link_types
            },
            weighted=projection.weight is not None,
        )

    def _names(self, query: str) -> list[str]:
        frame = self._gds.run_cypher(query)
        return [str(name) for name in frame["names"].iloc[0]]

    def _isolated(self, node_types: list[NodeType]) -> ProjectedGraph:
        frame = self._gds.run_cypher(_NODE_IDS, {"codes": [NODE_TYPE_CODE[t] for t in node_types]})
        ids = frame["id"].to_numpy().astype(np.int64) if len(frame) else np.zeros(0, np.int64)
        empty = np.zeros(0, np.int64)
        return project_edge_list(EdgeListProjection(nodes=ids, src=empty, dst=empty))

    def _estimate(
        self, plan: _Plan, algorithm: Algorithm, options: dict[str, Any]
    ) -> MemoryEstimate:
        available = int(self._gds.debug.sys_info().available_heap_in_bytes or 0)
        if self.max_memory_bytes is not None:
            available = min(available, self.max_memory_bytes)
        if plan.empty:
            return MemoryEstimate(algorithm, 0, 0, available, 0, 0)
        graph_extra = transient = 0
        if plan.edges is not None:
            target: dict[str, Any] = {
                "nodeCount": plan.edges.n_nodes,
                "relationshipCount": plan.edges.n_edges,
                "nodeProjection": "*",
                "relationshipProjection": {
                    "R": {"type": "*", "orientation": "UNDIRECTED", "properties": WEIGHT}
                },
            }
            graph_extra = plan.edges.n_edges * _CYPHER_GRAPH_BYTES_PER_EDGE
            transient = plan.edges.n_edges * _PARAMETER_BYTES_PER_EDGE
        else:
            target = {
                "nodeProjection": plan.node_projection,
                "relationshipProjection": plan.relationship_projection,
            }
        weight = WEIGHT if plan.weighted else None
        result = self._estimate_call(algorithm, target, weight, options)
        relationships = int(result.relationship_count) // 2
        if plan.edges is not None:
            relationships = plan.edges.n_edges
        return MemoryEstimate(
            algorithm=algorithm,
            bytes_min=int(result.bytes_min) + graph_extra,
            bytes_max=int(result.bytes_max) + graph_extra + transient,
            available_bytes=available,
            node_count=int(result.node_count),
            relationship_count=relationships,
        )

    def _estimate_call(
        self,
        algorithm: Algorithm,
        target: dict[str, Any],
        weight: str | None,
        options: dict[str, Any],
    ) -> Any:
        gds = self._gds
        concurrency = self.concurrency
        if algorithm == Algorithm.WCC:
            return gds.wcc.estimate(target, concurrency=concurrency)
        if algorithm == Algorithm.LOUVAIN:
            return gds.louvain.estimate(
                target, relationship_weight_property=weight, concurrency=concurrency
            )
        if algorithm == Algorithm.LEIDEN:
            return gds.leiden.estimate(
                target,
                gamma=float(options.get("resolution", 1.0)),
                random_seed=int(options.get("seed", 42)),
                relationship_weight_property=weight,
                concurrency=concurrency,
            )
        if algorithm == Algorithm.PAGERANK:
            return gds.page_rank.estimate(
                target,
                max_iterations=int(options.get("max_iterations", 40)),
                relationship_weight_property=weight,
                concurrency=concurrency,
            )
        if algorithm == Algorithm.DEGREE:
            return gds.degree.estimate(
                target, relationship_weight_property=weight, concurrency=concurrency
            )
        if algorithm == Algorithm.NODE_SIMILARITY:
            # The Cypher endpoint accepts a projection config like the others; only the
            # abstract endpoint's annotation says Graph.
            return gds.node_similarity.estimate(
                target,  # type: ignore[arg-type]
                top_k=int(options.get("top_k", 10)),
                concurrency=concurrency,
            )
        return gds.fast_rp.estimate(
            target,
            embedding_dimension=int(options.get("dimension", 64)),
            relationship_weight_property=weight,
            concurrency=concurrency,
        )

    @contextlib.contextmanager
    def _projected(
        self, projection: Projection, algorithm: Algorithm, options: dict[str, Any] | None = None
    ) -> Iterator[_Projected | None]:
        """Estimate, project under a unique name, yield, and always drop the projection.

        Yields ``None`` when the projection has no nodes (nothing is projected).
        """
        plan = self._plan(projection)
        estimate = self._estimate(plan, algorithm, options or {})
        if not estimate.fits:
            raise LimitExceeded(
                f"GDS {algorithm.value} needs up to {_mib(estimate.bytes_max)} of heap but "
                f"only {_mib(estimate.available_bytes)} is available on {self.uri} "
                f"({estimate.node_count} nodes, {estimate.relationship_count} relationships)"
            )
        if plan.empty or (plan.edges is not None and plan.edges.n_nodes == 0):
            yield None
            return
        if plan.edges is not None and plan.edges.n_edges > self.max_parameter_edges:
            raise LimitExceeded(
                f"an edge list of {plan.edges.n_edges} edges exceeds max_parameter_edges "
                f"({self.max_parameter_edges}) for a Cypher projection; write the graph to "
                "Neo4j or use the GDS Arrow server"
            )
        name = f"fraudgraph_{algorithm.value}_{uuid.uuid4().hex}"
        failed = False
        try:
            yield self._project(name, plan)
        except BaseException:
            failed = True
            raise
        finally:
            try:
                self._gds.graph.drop(name, fail_if_missing=False)
            except (Neo4jError, DriverError) as exc:
                if not failed:
                    raise
                log.warning("could not drop GDS projection", extra={"graph": name, "error": exc})

    def _project(self, name: str, plan: _Plan) -> _Projected:
        gds = self._gds
        weight = WEIGHT if plan.weighted else None
        if plan.edges is not None:
            edges = plan.edges
            src, dst, values = edges.edges()
            touched = np.zeros(edges.n_nodes, bool)
            touched[src] = True
            touched[dst] = True
            graph, _ = gds.graph.project.cypher(
                _EDGE_LIST_PROJECTION,
                graph_name=name,
                src=edges.ids[src].tolist(),
                dst=edges.ids[dst].tolist(),
                weight=values.tolist(),
                isolated=edges.ids[~touched].tolist(),
            )
            return _Projected(graph, None, None, weight)
        graph, _ = gds.graph.project.native(
            name,
            plan.node_projection,
            plan.relationship_projection,
            read_concurrency=self.concurrency,
        )
        frame = gds.graph.node_properties.stream(graph, ["id"], concurrency=self.concurrency)
        node_ids = frame["nodeId"].to_numpy().astype(np.int64)
        store_ids = frame["id"].to_numpy().astype(np.int64)
        order = np.argsort(node_ids)
        return _Projected(graph, node_ids[order], store_ids[order], weight)

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """Turn driver and client errors raised inside the block into domain errors."""
        try:
            yield
        except FraudGraphError:
            raise
        except AuthError as exc:
            raise BackendUnavailable(
                f"Neo4j at {self.uri} rejected the credentials: {_one_line(exc)}"
            ) from exc
        except ClientError as exc:
            message = _one_line(exc)
            if any(hint in message.lower() for hint in _MEMORY_GUARD_HINTS) and (
                "exceed" in message.lower() or "not enough" in message.lower()
            ):
                raise LimitExceeded(f"GDS memory guard at {self.uri}: {message}") from exc
            raise BackendUnavailable(f"GDS call at {self.uri} failed: {message}") from exc
        except (ServiceUnavailable, SessionExpired, UnableToConnectError) as exc:
            raise BackendUnavailable(f"cannot reach Neo4j at {self.uri}: {_one_line(exc)}") from exc
        except GdsNotFound as exc:
            raise BackendUnavailable(
                f"the Graph Data Science plugin is not installed on {self.uri}"
            ) from exc
        except (Neo4jError, DriverError) as exc:
            raise BackendUnavailable(f"Neo4j at {self.uri} failed: {_one_line(exc)}") from exc


def _relationship_projection(link_type: LinkType, weight: str | None) -> dict[str, Any]:
    if weight is None:
        return {"type": link_type.value, "orientation": "UNDIRECTED", "aggregation": "SINGLE"}
    return {
        "type": link_type.value,
        "orientation": "UNDIRECTED",
        "aggregation": "SUM",
        "properties": {WEIGHT: {"property": weight, "aggregation": "SUM", "defaultValue": 0.0}},
    }


def _one_line(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _mib(value: int) -> str:
    return f"{value / 2**20:,.1f} MiB"
