"""Projections for the GDS engine: plan, estimate the memory, project, always drop.

:class:`GdsProjections` is the part of :class:`~graph_service.neo4j.gds.GdsAlgorithms`
that turns a :class:`~graph_service.algorithms.Projection` into a graph in the GDS catalog:
it plans the projection, asks GDS for a memory estimate of *projection plus algorithm*
and refuses (``LimitExceeded``) before anything is projected when it does not fit,
projects under a unique name and drops the projection in a ``finally``.

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

Memory guard and garbage
------------------------
Both our estimate check and GDS's own memory guard compare an estimate with the heap free
*now* (``availableHeapInBytes``), which counts garbage not yet collected as used: right
after a large projection is dropped, a run that fits can be refused ("Procedure was
blocked since minimum estimated memory ... exceeds current free memory"). On such a
refusal the engine asks the server for a full collection (``CALL fraudgraph.heap.gc()``,
registered by the local launcher) and retries once against what is then free, i.e. max
heap minus live data. A server without that procedure (the official image) gets no retry:
the refusal stands, with a message that says so.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import numpy as np
from graphdatascience import GraphDataScience
from neo4j.exceptions import ClientError, DriverError, Neo4jError

from graph_service.algorithms import Algorithm, EdgeListProjection, MemoryEstimate, Projection
from graph_service.errors import LimitExceeded, mib
from graph_service.model import NODE_TYPE_CODE, LinkType, NodeType
from graph_service.neo4j.cypher import ENTITY_LABEL
from graph_service.projected_graph import ProjectedGraph, project_edge_list

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
#: The local server's full collection (``HeapProcedures`` of graph_service/neo4j_local).
_COLLECT_GARBAGE: Final = (
    "CALL fraudgraph.heap.gc() YIELD freeBytes, collectMillis RETURN freeBytes, collectMillis"
)
_PROCEDURE_NOT_FOUND: Final = "Neo.ClientError.Procedure.ProcedureNotFound"

T = TypeVar("T")


def is_memory_guard_refusal(exc: BaseException) -> bool:
    """Whether ``exc`` is GDS's memory guard refusing a procedure for lack of free heap."""
    if not isinstance(exc, ClientError):
        return False
    message = str(exc.message or exc).lower()
    return "blocked since" in message and "memory" in message


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


class GdsProjections:
    """Planning, memory estimates and projections (a part of ``GdsAlgorithms``).

    ``GdsAlgorithms`` sets these attributes in its constructor.
    """

    uri: str
    max_memory_bytes: int | None
    concurrency: int | None
    max_parameter_edges: int
    _gds: GraphDataScience
    #: False once the server said it has no ``fraudgraph.heap.gc`` (not asked again).
    _can_collect: bool = True
    #: Full collections asked for after a refusal (for logs and tests).
    garbage_collections: int = 0

    def _collect_garbage(self) -> bool:
        """Ask the server for a full garbage collection; False if it cannot do one."""
        if not self._can_collect:
            return False
        try:
            frame = self._gds.run_cypher(_COLLECT_GARBAGE)
        except ClientError as exc:
            if exc.code != _PROCEDURE_NOT_FOUND:
                raise
            self._can_collect = False
            log.info("server has no fraudgraph.heap.gc; memory refusals are not retried")
            return False
        self.garbage_collections += 1
        log.info(
            "collected the server's garbage after a memory refusal",
            extra={
                "free_bytes": int(frame["freeBytes"].iloc[0]),
                "collect_ms": int(frame["collectMillis"].iloc[0]),
            },
        )
        return True

    def _available_heap(self) -> int:
        available = int(self._gds.debug.sys_info().available_heap_in_bytes or 0)
        if self.max_memory_bytes is not None:
            available = min(available, self.max_memory_bytes)
        return available

    def _guarded(self, call: Callable[[], T]) -> T:
        """Run a GDS call; if GDS's memory guard refuses it, collect garbage and retry once.

        A second refusal (or one on a server that cannot collect) propagates, and the
        engine reports it as ``LimitExceeded``.
        """
        try:
            return call()
        except ClientError as exc:
            if not is_memory_guard_refusal(exc) or not self._collect_garbage():
                raise
            log.warning("GDS memory guard refused a call; retrying after a full collection")
            return call()

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
        available = self._available_heap()
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
        if not estimate.fits and self._collect_garbage():
            # The free heap counted garbage; compare with what the collection left.
            estimate = dataclasses.replace(estimate, available_bytes=self._available_heap())
        if not estimate.fits:
            raise LimitExceeded(
                f"GDS {algorithm.value} needs up to {mib(estimate.bytes_max)} of heap but "
                f"only {mib(estimate.available_bytes)} is available on {self.uri} "
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
            graph, _ = self._guarded(
                lambda: gds.graph.project.cypher(
                    _EDGE_LIST_PROJECTION,
                    graph_name=name,
                    src=edges.ids[src].tolist(),
                    dst=edges.ids[dst].tolist(),
                    weight=values.tolist(),
                    isolated=edges.ids[~touched].tolist(),
                )
            )
            return _Projected(graph, None, None, weight)
        graph, _ = self._guarded(
            lambda: gds.graph.project.native(
                name,
                plan.node_projection,
                plan.relationship_projection,
                read_concurrency=self.concurrency,
            )
        )
        frame = gds.graph.node_properties.stream(graph, ["id"], concurrency=self.concurrency)
        node_ids = frame["nodeId"].to_numpy().astype(np.int64)
        store_ids = frame["id"].to_numpy().astype(np.int64)
        order = np.argsort(node_ids)
        return _Projected(graph, node_ids[order], store_ids[order], weight)


def _relationship_projection(link_type: LinkType, weight: str | None) -> dict[str, Any]:
    if weight is None:
        return {"type": link_type.value, "orientation": "UNDIRECTED", "aggregation": "SINGLE"}
    return {
        "type": link_type.value,
        "orientation": "UNDIRECTED",
        "aggregation": "SUM",
        "properties": {WEIGHT: {"property": weight, "aggregation": "SUM", "defaultValue": 0.0}},
    }
