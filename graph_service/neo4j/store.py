"""The Neo4j backend of ``GraphStore``: the official driver, parameterised Cypher, UNWIND batches.

Graph model in Neo4j
--------------------
* Entities are nodes ``(:Entity:<NodeType>)`` with ``id`` (dense int, the same ids the
  embedded store would assign), ``type`` (code), ``key`` and the attributes
  ``first_ts, last_ts, is_emulator, is_rooted, os, is_proxy, asn, country``. Uniqueness
  constraints: ``Entity.id`` and ``<NodeType>.key``.
* Links are relationships of the ``LinkType`` types from an account to its target, with
  ``n_events, amount_sum, first_ts, last_ts``.
* Bookkeeping nodes (never part of the entity graph): ``:_Meta`` (id and label counters),
  ``:_IngestSource`` and ``:_IngestBatch`` (the ledger), ``:_Label`` (append-only),
  ``:_Score``, and the analytics tables (``write_table``): ``:_AnalyticsRow`` (one per
  row), ``:_AnalyticsVersion`` (written last, so a listed version is complete) and
  ``:_AnalyticsCounter``. There is no node per event: dedup keys are read from the event
  files.

Next to the database, ``store_dir`` holds what is kept as files, as in the embedded store::

    events/*.parquet             normalised events, one file per committed batch
    batch-quarantine/*.parquet   quarantined rows, one file per batch that has any

Both are written *before* the batch transaction and named in its ``:_IngestBatch`` node;
a crash in between leaves an orphan file that no ledger node names, and the re-run
overwrites it under the same name. ``quarantine()`` and ``event_fingerprints()`` (the
dedup keys) read only the files the ledger names.

Parts
-----
``Neo4jStore`` is composed of one class per role, each in its own module:

* ``session.Neo4jConnection``: sessions, error translation, capped reads with a timeout,
  retried write transactions, chunked UNWIND, paged reads;
* ``ingest.Neo4jIngest`` (with ``batch_plan``): the ledger, batch commits and labels;
* ``reads.Neo4jReads``: entities, neighbours, subgraphs, counts, exports, labels;
* ``analytics.Neo4jAnalytics``: scores and versioned analytics tables.

This module holds the constructor, the lifecycle and the GDS engine.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

import duckdb
import pyarrow as pa
from neo4j import (
    WRITE_ACCESS,
    Driver,
    GraphDatabase,
    NotificationMinimumSeverity,
)
from neo4j.exceptions import ConfigurationError

from graph_service.errors import BackendUnavailable, InvalidInput, one_line
from graph_service.neo4j import cypher
from graph_service.neo4j.analytics import Neo4jAnalytics
from graph_service.neo4j.ingest import Neo4jIngest
from graph_service.neo4j.reads import Neo4jReads
from graph_service.transfers import transfer_events

if TYPE_CHECKING:
    from graph_service.algorithms import GraphAlgorithms
    from graph_service.neo4j.gds import GdsAlgorithms
    from graph_service.settings import Settings

log = logging.getLogger(__name__)


class Neo4jStore(Neo4jIngest, Neo4jReads, Neo4jAnalytics):
    """``GraphStore`` on a Neo4j 5 database through the official driver.

    Parameters
    ----------
    uri : str
        Bolt URI, e.g. ``bolt://127.0.0.1:7687``.
    user, password : str
        Credentials; an empty password connects without authentication.
    database : str
        Database name.
    store_dir : Path
        Directory for the event and quarantine Parquet files; created if missing.
    query_timeout_s : float
        Server-side timeout of every read transaction.
    write_batch_size : int
        Rows per UNWIND statement.
    page_rows : int
        Rows per page of the paged reads (exports, labels, scores).
    connection_timeout_s : float
        How long to wait for a TCP connection.
    max_commit_attempts : int
        Attempts of a batch transaction that fails with a transient error.
    retry_time_s : float
        Budget of the driver's own retries of managed transactions.

    Raises
    ------
    BackendUnavailable
        If Neo4j cannot be reached, rejects the credentials or lacks the database.

    Examples
    --------
    >>> from graph_service import open_store
    >>> from graph_service.settings import Settings
    >>> with open_store(Settings(backend="neo4j")) as store:  # doctest: +SKIP
    ...     store.counts().as_dict()["nodes"]["Account"]
    0
    """

    backend = "neo4j"

    def __init__(
        self,
        *,
        uri: str,
        user: str = "neo4j",
        password: str = "",
        database: str = "neo4j",
        store_dir: Path,
        query_timeout_s: float = 30.0,
        write_batch_size: int = 20_000,
        page_rows: int = 50_000,
        connection_timeout_s: float = 10.0,
        max_commit_attempts: int = 5,
        retry_time_s: float = 10.0,
    ) -> None:
        if write_batch_size < 1 or page_rows < 1 or max_commit_attempts < 1:
            raise InvalidInput("write_batch_size, page_rows and max_commit_attempts must be >= 1")
        if query_timeout_s <= 0:
            raise InvalidInput("query_timeout_s must be > 0")
        self.uri = uri
        self.user = user
        self.database = database
        self.store_dir = Path(store_dir)
        self.events_dir = self.store_dir / "events"
        self.quarantine_dir = self.store_dir / "batch-quarantine"
        self.query_timeout_s = query_timeout_s
        self.write_batch_size = write_batch_size
        self.page_rows = page_rows
        self.max_commit_attempts = max_commit_attempts
        self._link_codes = cypher.link_code_map()
        self._closed = False
        auth = (user, password) if password else None
        try:
            self._algorithms: GdsAlgorithms | None = None
            self._driver: Driver = GraphDatabase.driver(
                uri,
                auth=auth,
                connection_timeout=connection_timeout_s,
                max_transaction_retry_time=retry_time_s,
                user_agent="fraudgraph",
                # Warnings such as "property key does not exist" on a young graph are noise.
                notifications_min_severity=NotificationMinimumSeverity.OFF,
            )
        except (ConfigurationError, ValueError) as exc:
            raise BackendUnavailable(f"invalid Neo4j URI {uri!r}: {one_line(exc)}") from exc
        try:
            with self._translated():
                self._driver.verify_connectivity()
                self._ensure_schema()
        except BaseException:
            self._driver.close()
            raise
        self.events_dir.mkdir(parents=True, exist_ok=True)
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        self._engine = duckdb.connect(config={"threads": 2})
        self._engine.execute("SET TimeZone = 'UTC'")
        self._engine.execute("SET enable_progress_bar = false")
        log.info("opened Neo4j store", extra={"uri": uri, "database": database})

    @classmethod
    def from_settings(cls, settings: Settings, *, read_only: bool = False) -> Neo4jStore:
        """Open the store described by ``settings`` (``settings.neo4j`` and ``store_dir``).

        ``read_only`` is accepted for the common ``open_store`` signature; the server
        arbitrates concurrent readers and writers, so it changes nothing here.

        Raises
        ------
        BackendUnavailable
            If Neo4j cannot be reached or rejects the credentials.
        """
        neo = settings.neo4j
        return cls(
            uri=neo.uri,
            user=neo.user,
            password=neo.password.get_secret_value(),
            database=neo.database,
            store_dir=settings.store_dir,
            query_timeout_s=neo.query_timeout_s,
            write_batch_size=neo.write_batch_size,
        )

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def driver(self) -> Driver:
        """The store's driver (shared with its GDS engine; owned by the store)."""
        return self._driver

    def export_transfers(self) -> pa.Table:
        """Every single transfer between accounts (see ``graph_service.transfers``)."""
        return transfer_events(self.events_files(), self.account_keys())

    def algorithms(self) -> GraphAlgorithms:
        """Graph Data Science on this store's server (one engine per store, reused)."""
        if self._algorithms is None:
            from graph_service.neo4j.gds import GdsAlgorithms

            self._algorithms = GdsAlgorithms.for_store(self)
        return self._algorithms

    def close(self) -> None:
        """Close the GDS engine and the driver's connections (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._algorithms is not None:
            self._algorithms.close()
        self._driver.close()
        self._engine.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _ensure_schema(self) -> None:
        with self._session(WRITE_ACCESS) as session:
            for statement in cypher.schema_statements():
                session.run(statement).consume()
            session.run(cypher.AWAIT_INDEXES, seconds=300).consume()
