"""Graph algorithms on Neo4j Graph Data Science, through the ``graphdatascience`` client.

:class:`GdsAlgorithms` implements :class:`~graph_service.algorithms.GraphAlgorithms` with
GDS (2.13 on Neo4j 5; Community edition is enough: no Arrow server is used). Every call

1. plans the projection (see :mod:`graph_service.neo4j.gds_projection`) and asks GDS
   for a memory estimate of *projection plus algorithm* (``gds.<algo>.stats.estimate``
   on the projection config, or on a fictive graph of the same size plus the measured
   Cypher-aggregation overhead for edge lists), then compares ``bytesMax`` with the heap
   the server has free (``gds.debug.sysInfo``: ``availableHeapInBytes``, what GDS's own
   memory guard uses), optionally capped by ``max_memory_bytes``: :class:`LimitExceeded`
   is raised before anything is projected;
2. projects under a unique name (``fraudgraph_<algo>_<uuid>``), streams the result, and
   drops the projection in a ``finally`` (nothing is left in the catalog, even on errors);
3. maps GDS node ids to store ids and returns the Arrow tables of the interface (the same
   schemas and canonical labels as the embedded engine).

Algorithm settings mirror the embedded engine: PageRank is GDS's own (the embedded engine
reproduces it exactly); node similarity is unweighted Jaccard with ``degreeCutoff = 1``;
FastRP uses GDS's defaults (iteration weights ``[0, 1, 1]``). GDS Louvain has no random
seed: ``seed`` is accepted for the interface and ignored (results can vary between runs
with ``concurrency > 1``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
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
    COMMUNITY_SCHEMA,
    COMPONENT_SCHEMA,
    DEGREE_SCHEMA,
    FASTRP_ITERATION_WEIGHTS,
    SCORE_SCHEMA,
    SIMILARITY_SCHEMA,
    Algorithm,
    MemoryEstimate,
    Projection,
    embedding_schema,
    embedding_table,
    partition_table,
    similarity_table,
    value_table,
)
from graph_service.errors import (
    BackendUnavailable,
    FraudGraphError,
    InvalidInput,
    LimitExceeded,
    one_line,
)
from graph_service.neo4j.gds_projection import GdsProjections

if TYPE_CHECKING:
    from graph_service.neo4j.store import Neo4jStore
    from graph_service.settings import Settings

log = logging.getLogger(__name__)

_MEMORY_GUARD_HINTS: Final = ("memory", "heap")


class GdsAlgorithms(GdsProjections):
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
                raise BackendUnavailable(f"invalid Neo4j URI {uri!r}: {one_line(exc)}") from exc
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
            frame = self._guarded(
                lambda: self._gds.wcc.stream(p.graph, concurrency=self.concurrency)
            )
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
            frame = self._guarded(
                lambda: self._gds.louvain.stream(
                    p.graph,
                    relationship_weight_property=p.weight_property,
                    concurrency=self.concurrency,
                )
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
            frame = self._guarded(
                lambda: self._gds.leiden.stream(
                    p.graph,
                    gamma=float(resolution),
                    random_seed=int(seed),
                    max_levels=int(max_levels),
                    relationship_weight_property=p.weight_property,
                    concurrency=self.concurrency,
                )
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
            frame = self._guarded(
                lambda: self._gds.page_rank.stream(
                    p.graph,
                    damping_factor=float(damping),
                    max_iterations=int(max_iterations),
                    tolerance=float(tolerance),
                    relationship_weight_property=p.weight_property,
                    concurrency=self.concurrency,
                )
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
            frame = self._guarded(
                lambda: self._gds.degree.stream(
                    p.graph,
                    relationship_weight_property=p.weight_property,
                    concurrency=self.concurrency,
                )
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
            frame = self._guarded(
                lambda: self._gds.node_similarity.stream(
                    p.graph,
                    top_k=int(top_k),
                    # GDS keeps pairs with similarity >= cutoff, zeros included when cutoff is
                    # 0; its default 1e-42 (like the embedded engine) drops pairs sharing nothing.
                    similarity_cutoff=max(float(cutoff), 1e-42),
                    degree_cutoff=1,
                    concurrency=self.concurrency,
                )
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
            frame = self._guarded(
                lambda: self._gds.fast_rp.stream(
                    p.graph,
                    embedding_dimension=int(dimension),
                    iteration_weights=list(FASTRP_ITERATION_WEIGHTS),
                    random_seed=int(seed),
                    relationship_weight_property=p.weight_property,
                    concurrency=self.concurrency,
                )
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

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """Turn driver and client errors raised inside the block into domain errors."""
        try:
            yield
        except FraudGraphError:
            raise
        except AuthError as exc:
            raise BackendUnavailable(
                f"Neo4j at {self.uri} rejected the credentials: {one_line(exc)}"
            ) from exc
        except ClientError as exc:
            message = one_line(exc)
            if any(hint in message.lower() for hint in _MEMORY_GUARD_HINTS) and (
                "exceed" in message.lower() or "not enough" in message.lower()
            ):
                raise LimitExceeded(f"GDS memory guard at {self.uri}: {message}") from exc
            raise BackendUnavailable(f"GDS call at {self.uri} failed: {message}") from exc
        except (ServiceUnavailable, SessionExpired, UnableToConnectError) as exc:
            raise BackendUnavailable(f"cannot reach Neo4j at {self.uri}: {one_line(exc)}") from exc
        except GdsNotFound as exc:
            raise BackendUnavailable(
                f"the Graph Data Science plugin is not installed on {self.uri}"
            ) from exc
        except (Neo4jError, DriverError) as exc:
            raise BackendUnavailable(f"Neo4j at {self.uri} failed: {one_line(exc)}") from exc
