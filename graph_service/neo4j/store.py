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

Writes
------
A batch is aggregated client-side with DuckDB (one row per ``(src, dst, type)`` link and
per entity), then applied in one explicit transaction: lock ``:_Meta``, check the ledger,
resolve keys to ids (new keys get ``next_id..`` in ``(type code, key)`` order), create new
entities, update first/last seen, create or merge links, set attributes, create event keys,
labels and the ledger node, advance the counters. Every statement is an UNWIND over at
most ``write_batch_size`` rows. A transient failure (server restart, lost connection,
deadlock) re-runs the whole transaction; the ledger check makes that idempotent.

Reads
-----
Every read runs in a managed read transaction with the configured timeout, and every
read statement carries ``LIMIT $cap`` (see :class:`cypher.ReadQuery`). Full exports page
through id windows, so they stay bounded however large the graph.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from neo4j import (
    READ_ACCESS,
    WRITE_ACCESS,
    Driver,
    GraphDatabase,
    ManagedTransaction,
    NotificationMinimumSeverity,
    Session,
    Transaction,
    unit_of_work,
)
from neo4j.exceptions import (
    AuthError,
    ClientError,
    ConfigurationError,
    DriverError,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)

from graph_service.analytics_tables import (
    check_table_name,
    check_version,
    no_such_table,
    no_such_version,
    prepare_table,
    schema_from_text,
    schema_to_text,
)
from graph_service.csr import CSRGraph, build_csr
from graph_service.errors import (
    BackendUnavailable,
    EntityNotFound,
    FraudGraphError,
    InvalidInput,
    LimitExceeded,
    QueryTimeout,
)
from graph_service.model import (
    LINK_ENDPOINTS,
    LINK_TARGET_COLUMN,
    LINK_TYPE_CODE,
    NODE_TYPE_CODE,
    LinkType,
    NodeType,
)
from graph_service.neo4j import cypher
from graph_service.store import (
    ENTITY_ATTRIBUTES,
    LINK_EXPORT_SCHEMA,
    NODE_EXPORT_SCHEMA,
    QUARANTINE_SCHEMA,
    BatchCommit,
    Entity,
    GraphCounts,
    Neighbour,
    SourceProgress,
    Subgraph,
    conform_quarantine,
    link_type_of,
    node_type_of,
    ordered_quarantine,
)

if TYPE_CHECKING:
    from graph_service.algorithms import GraphAlgorithms
    from graph_service.neo4j.gds import GdsAlgorithms
    from graph_service.settings import Settings

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIMESTAMP = pa.timestamp("us", tz="UTC")
_TIMEOUT_CODE_PREFIX = "Neo.ClientError.Transaction.TransactionTimedOut"
_DATABASE_NOT_FOUND = "Neo.ClientError.Database.DatabaseNotFound"
#: Driver errors after which re-running a whole batch transaction is safe and useful.
_RETRYABLE = (TransientError, SessionExpired, ServiceUnavailable)
#: Cap on small listings (manifests, ledger file names): far above any real ingest.
_LIST_CAP = 1_000_000
_DEVICE_ATTRIBUTES = ("is_emulator", "is_rooted", "os")
_IP_ATTRIBUTES = ("is_proxy", "asn", "country")
_NODE_TYPE_NAMES = pa.array([t.value for t in NodeType], pa.string())
_LABELS_SCHEMA = pa.schema(
    [
        pa.field("entity_id", pa.int64()),
        pa.field("entity_type", pa.string()),
        pa.field("entity_key", pa.string()),
        pa.field("label", pa.string()),
        pa.field("source", pa.string()),
        pa.field("author", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("ts", _TIMESTAMP),
        pa.field("recorded_at", _TIMESTAMP),
    ]
)
_SCORES_SCHEMA = pa.schema(
    [
        pa.field("entity_id", pa.int64()),
        pa.field("value", pa.float64()),
        pa.field("version", pa.string()),
    ]
)
_FINGERPRINTS_SCHEMA = pa.schema(
    [pa.field("event_id", pa.string()), pa.field("fingerprint", pa.uint64())]
)

Rows = list[list[Any]]


# -- batch plans: everything computed client-side before the transaction ------------------


@dataclass(slots=True)
class _Keys:
    """The distinct keys of one node type in a batch, sorted, with first/last seen."""

    node_type: NodeType
    keys: list[str]
    first: np.ndarray | None = None
    last: np.ndarray | None = None


@dataclass(slots=True)
class _Resolved:
    """Ids of a ``_Keys`` (aligned with it) and which of them this batch creates."""

    ids: np.ndarray
    new: np.ndarray
    first_new_id: int


@dataclass(slots=True)
class _LinkRows:
    """Per-batch link aggregates of one link type; ends as positions into ``_Keys``."""

    link_type: LinkType
    src_pos: np.ndarray
    dst_pos: np.ndarray
    n_events: np.ndarray
    amount: np.ndarray
    first: np.ndarray
    last: np.ndarray


@dataclass(slots=True)
class _AttributeRows:
    """One attribute delta per entity of one node type (positions into ``_Keys``)."""

    node_type: NodeType
    pos: np.ndarray
    attr_ts: np.ndarray
    values: dict[str, list[Any]]


@dataclass(slots=True)
class _EntityPlan:
    """Keys to resolve and what to write for them (events or an attribute file)."""

    keys: dict[NodeType, _Keys]
    attributes: list[_AttributeRows] = field(default_factory=list)
    links: list[_LinkRows] = field(default_factory=list)


@dataclass(slots=True)
class _BatchPlan:
    commit: BatchCommit
    events: _EntityPlan | None
    entity_attributes: _EntityPlan | None
    labels: dict[str, list[Any]] | None
    events_file: str | None
    quarantine_file: str | None


@dataclass(slots=True)
class _Counters:
    next_id: int
    next_label_seq: int


class Neo4jStore:
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
    neighbour_cap : int
        Hard cap on ``limit`` in :meth:`neighbours`.
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
        neighbour_cap: int = 10_000,
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
        self.neighbour_cap = neighbour_cap
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
            raise BackendUnavailable(f"invalid Neo4j URI {uri!r}: {_one_line(exc)}") from exc
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
    def from_settings(cls, settings: Settings) -> Neo4jStore:
        """Open the store described by ``settings`` (``settings.neo4j`` and ``store_dir``).

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
            neighbour_cap=settings.neighbour_cap,
        )

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def driver(self) -> Driver:
        """The store's driver (shared with its GDS engine; owned by the store)."""
        return self._driver

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

    # -- driver plumbing -----------------------------------------------------------------
    def _session(self, access_mode: str) -> Session:
        return self._driver.session(
            database=self.database, default_access_mode=access_mode, fetch_size=-1
        )

    def _domain_error(
        self, exc: Exception, timeout_s: float | None = None
    ) -> FraudGraphError | None:
        """The domain error for a driver error, or ``None`` to let it propagate as is."""
        if isinstance(exc, AuthError):
            return BackendUnavailable(
                f"Neo4j at {self.uri} rejected the credentials of user {self.user!r} "
                f"(check NEO4J_USER / NEO4J_PASSWORD): {_one_line(exc)}"
            )
        if isinstance(exc, ClientError):
            code = exc.code or ""
            if code.startswith(_TIMEOUT_CODE_PREFIX):
                limit = f" of {timeout_s:g} s" if timeout_s is not None else ""
                return QueryTimeout(
                    f"Neo4j query at {self.uri} ran past its timeout{limit} and was terminated"
                )
            if code == _DATABASE_NOT_FOUND:
                return BackendUnavailable(f"Neo4j at {self.uri} has no database {self.database!r}")
            return None
        if isinstance(exc, (ServiceUnavailable, SessionExpired)):
            return BackendUnavailable(f"cannot reach Neo4j at {self.uri}: {_one_line(exc)}")
        if isinstance(exc, TransientError):
            return BackendUnavailable(
                f"Neo4j at {self.uri} kept failing with a transient error: {_one_line(exc)}"
            )
        return None

    @contextlib.contextmanager
    def _translated(self, timeout_s: float | None = None) -> Iterator[None]:
        """Turn driver errors raised inside the block into domain errors."""
        try:
            yield
        except (Neo4jError, DriverError) as exc:
            mapped = self._domain_error(exc, timeout_s)
            if mapped is None:
                raise
            raise mapped from exc

    def _read(
        self,
        query: cypher.ReadQuery,
        params: Mapping[str, Any] | None = None,
        *,
        cap: int,
        timeout_s: float | None = None,
    ) -> Rows:
        """Run one capped read query in a managed read transaction with a timeout.

        This is the only way reads reach Neo4j; it is documented for tests that need a
        deliberately slow query.

        Parameters
        ----------
        query : cypher.ReadQuery
            The statement; it holds ``LIMIT $cap``.
        params : Mapping, optional
            Query parameters (``cap`` is added).
        cap : int
            Row cap passed as ``$cap``.
        timeout_s : float, optional
            Transaction timeout; defaults to ``query_timeout_s``.

        Returns
        -------
        list of list
            The rows, values in the order of the query's ``RETURN``.

        Raises
        ------
        QueryTimeout
            If the server terminated the query at its timeout.
        BackendUnavailable
            If Neo4j cannot be reached (after the driver's retries).
        """
        timeout = self.query_timeout_s if timeout_s is None else timeout_s
        parameters = {**(params or {}), "cap": cap}

        @unit_of_work(timeout=timeout)
        def work(tx: ManagedTransaction) -> Rows:
            result = tx.run(query.text, parameters)
            if query.collected:
                rows: Rows = result.single(strict=True)[0]
                return rows
            return result.values()

        with self._translated(timeout), self._session(READ_ACCESS) as session:
            return session.execute_read(work)

    # -- capped reads for other packages (relationship queries) --------------------------
    def run_read(
        self,
        query: cypher.ReadQuery,
        params: Mapping[str, Any] | None = None,
        *,
        cap: int,
        timeout_s: float | None = None,
    ) -> Rows:
        """Run one capped, parameterised read query with the store's timeout.

        The way packages outside the backend (``queries``) read Neo4j: the statement is a
        :class:`cypher.ReadQuery` (so it carries ``LIMIT $cap``), values travel only as
        parameters, and driver errors arrive as domain errors.

        Parameters
        ----------
        query : cypher.ReadQuery
            The statement.
        params : Mapping, optional
            Query parameters (``cap`` is added).
        cap : int
            Row cap passed as ``$cap``; must be >= 0.
        timeout_s : float, optional
            Transaction timeout; defaults to ``query_timeout_s``.

        Returns
        -------
        list of list
            The rows, values in the order of the query's ``RETURN``.

        Raises
        ------
        InvalidInput
            If ``cap`` is negative.
        QueryTimeout
            If the server terminated the query at its timeout.
        BackendUnavailable
            If Neo4j cannot be reached.
        """
        if cap < 0:
            raise InvalidInput("cap must be >= 0")
        return self._read(query, params, cap=cap, timeout_s=timeout_s)

    def _write(self, text: str, params: Mapping[str, Any]) -> None:
        """One small autonomous write in a managed (driver-retried) transaction."""

        def work(tx: ManagedTransaction) -> None:
            tx.run(text, dict(params)).consume()

        with self._translated(), self._session(WRITE_ACCESS) as session:
            session.execute_write(work)

    def _in_write_transaction(self, work: Callable[[Transaction], bool], what: str) -> bool:
        """Run ``work`` in one explicit transaction; commit if it returns True, else roll back.

        Transient failures (a restarted or unreachable server, a deadlock) re-run the whole
        transaction, at most ``max_commit_attempts`` times with exponential back-off;
        ``work`` must therefore be idempotent given what is committed (the batch ledger
        check makes it so). An ``IncompleteCommit`` is retried too: if the commit did
        land, the re-run finds the batch in the ledger and does nothing.
        """
        delay = 0.25
        for attempt in range(1, self.max_commit_attempts + 1):
            try:
                with self._session(WRITE_ACCESS) as session:
                    tx = session.begin_transaction()
                    try:
                        applied = work(tx)
                        if applied:
                            tx.commit()
                        else:
                            tx.rollback()
                        return applied
                    finally:
                        tx.close()
            except _RETRYABLE as exc:
                if attempt == self.max_commit_attempts:
                    mapped = self._domain_error(exc)
                    assert mapped is not None
                    raise mapped from exc
                log.warning(
                    "transient Neo4j failure, retrying the transaction",
                    extra={"what": what, "attempt": attempt, "error": _one_line(exc)},
                )
                time.sleep(delay)
                delay = min(delay * 2, 4.0)
            except (Neo4jError, DriverError) as exc:
                mapped = self._domain_error(exc)
                if mapped is None:
                    raise
                raise mapped from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _run_chunked(
        self,
        tx: Transaction,
        text: str,
        columns: Mapping[str, list[Any]],
        constants: Mapping[str, Any] | None = None,
        *,
        offset_param: str | None = None,
    ) -> None:
        """Run ``text`` over ``columns`` in slices of ``write_batch_size`` rows.

        ``offset_param`` names a constant that grows by the slice's start (a first id).
        """
        n = len(next(iter(columns.values())))
        step = self.write_batch_size
        for lo in range(0, n, step):
            params: dict[str, Any] = {
                name: values[lo : lo + step] for name, values in columns.items()
            }
            params.update(constants or {})
            if offset_param is not None:
                params[offset_param] = int(params[offset_param]) + lo
            tx.run(text, params)

    # -- ingestion ledger ----------------------------------------------------------------
    def source_progress(self, source: str) -> SourceProgress | None:
        """Ledger state of one source (see ``GraphStore.source_progress``).

        Returns
        -------
        SourceProgress or None
            ``None`` if ``begin_source`` was never called for ``source``.
        """
        rows = self._read(cypher.SOURCE_PROGRESS, {"source": source}, cap=1)
        if not rows:
            return None
        batch_size, complete, batches, read, loaded, quarantined, duplicate, fields = rows[0]
        return SourceProgress(
            source=source,
            batches_done=frozenset(int(b) for b in batches),
            rows_read=int(read),
            rows_loaded=int(loaded),
            rows_quarantined=int(quarantined),
            rows_duplicate=int(duplicate),
            complete=bool(complete),
            batch_size=None if batch_size is None else int(batch_size),
            fields_quarantined=int(fields),
        )

    def begin_source(self, source: str, *, path: str, kind: str, batch_size: int) -> None:
        """Record the start of a source's ingestion (idempotent)."""
        self._write(
            cypher.BEGIN_SOURCE,
            {"source": source, "path": path, "kind": kind, "batch_size": batch_size},
        )

    def complete_source(self, source: str, manifest: dict[str, Any]) -> None:
        """Mark ``source`` complete and store its manifest (JSON)."""
        self._write(
            cypher.COMPLETE_SOURCE,
            {"source": source, "manifest": json.dumps(manifest, default=str)},
        )

    def manifests(self) -> list[dict[str, Any]]:
        """Manifests of completed sources, oldest first.

        Raises
        ------
        LimitExceeded
            Above a million completed sources.
        """
        rows = self._read(cypher.MANIFESTS, cap=_LIST_CAP + 1)
        _check_cap(rows, _LIST_CAP, "manifests")
        return [json.loads(r[0]) for r in rows]

    def event_fingerprints(self, event_ids: pa.Array) -> pa.Table:
        """Stored fingerprints of the given event ids (absent ids omitted).

        Returns
        -------
        pa.Table
            ``(event_id: string, fingerprint: uint64)``, one row per stored id found.

        Notes
        -----
        The keys are read from the committed event files (those the ledger names), not
        from the graph: the graph holds aggregated links, never a node per event. One
        DuckDB scan of the ``event_id, fingerprint`` columns of those files per call,
        hash-joined with the distinct probe ids: O(stored events) per batch.
        """
        probe = pa.table({"event_id": pc.unique(event_ids).drop_null().cast(pa.string())})
        files = self.events_files()
        if not files or not probe.num_rows:
            return _FINGERPRINTS_SCHEMA.empty_table()
        con = self._engine
        con.register("_probe", probe)
        try:
            found = con.execute(
                "SELECT k.event_id, k.fingerprint::UBIGINT AS fingerprint "
                "FROM read_parquet(?, union_by_name = true) k SEMI JOIN _probe p "
                "ON k.event_id = p.event_id",
                [[str(f) for f in files]],
            ).to_arrow_table()
        finally:
            con.unregister("_probe")
        return found.cast(_FINGERPRINTS_SCHEMA)

    def quarantine(self, source: str | None = None) -> pa.Table:
        """Quarantine rows (both levels, of one source or all), by source and row number.

        Returns
        -------
        pa.Table
            In ``QUARANTINE_SCHEMA``; files written before field-level quarantine read
            as ``level = 'row'``.

        Raises
        ------
        BackendUnavailable
            If a quarantine file named in the ledger is missing from ``store_dir``.
        """
        rows = self._read(cypher.BATCH_FILES, {"source": source}, cap=_LIST_CAP + 1)
        _check_cap(rows, _LIST_CAP, "ledger batches")
        tables = []
        for _, name in rows:
            if name is None:
                continue
            path = self.quarantine_dir / name
            if not path.is_file():
                raise BackendUnavailable(
                    f"quarantine file {path} named in the Neo4j ledger is missing; is "
                    f"store_dir {self.store_dir} the one the data was ingested with?"
                )
            tables.append(conform_quarantine(pq.read_table(path)))
        if not tables:
            return QUARANTINE_SCHEMA.empty_table()
        return ordered_quarantine(pa.concat_tables(tables))

    def events_files(self) -> list[Path]:
        """Committed event Parquet files, in commit order (orphans are left out)."""
        rows = self._read(cypher.BATCH_FILES, {"source": None}, cap=_LIST_CAP + 1)
        _check_cap(rows, _LIST_CAP, "ledger batches")
        return [self.events_dir / r[0] for r in rows if r[0] is not None]

    def _batch_done(self, source: str, batch_index: int) -> bool:
        rows = self._read(cypher.BATCH_DONE, {"source": source, "batch_index": batch_index}, cap=1)
        return bool(rows and rows[0][0])

    def commit_batch(self, commit: BatchCommit) -> None:
        """Apply one batch and its ledger node in a single transaction (see protocol).

        Parameters
        ----------
        commit : BatchCommit
            The batch. A ``(source, batch_index)`` already in the ledger is a no-op.

        Raises
        ------
        BackendUnavailable
            If Neo4j stays unreachable through ``max_commit_attempts`` attempts; nothing
            of the batch is then committed.
        InvalidInput
            If a label or attribute row names an unknown entity type or a label lacks ``ts``.

        Notes
        -----
        Client-side aggregation is O(rows) in DuckDB; the transaction sends one row per
        distinct entity, link and event, ``write_batch_size`` rows per statement.
        """
        if self._batch_done(commit.source, commit.batch_index):
            log.info("batch already committed", extra={"batch": commit.batch_index})
            return
        plan = self._plan(commit)
        what = f"batch {commit.batch_index} of source {commit.source[:12]}"
        applied = self._in_write_transaction(lambda tx: self._apply(tx, plan), what)
        if not applied:
            log.info("batch already committed", extra={"batch": commit.batch_index})

    # -- planning (client-side, before the transaction) ---------------------------------
    def _plan(self, commit: BatchCommit) -> _BatchPlan:
        name = f"{commit.source[:16]}-{commit.batch_index:06d}.parquet"
        events_file = quarantine_file = None
        events_plan = attributes_plan = None
        labels = None
        if commit.events is not None and commit.events.num_rows:
            events_plan = self._plan_events(commit.events)
            # Written before the transaction; see the module docstring.
            events_file = name
            pq.write_table(commit.events, self.events_dir / events_file)
        if commit.entity_attributes is not None and commit.entity_attributes.num_rows:
            attributes_plan = self._plan_entity_attributes(commit.entity_attributes)
        if commit.labels is not None and commit.labels.num_rows:
            labels = _plan_labels(commit.labels)
        if commit.quarantine.num_rows:
            quarantine_file = name
            pq.write_table(conform_quarantine(commit.quarantine), self.quarantine_dir / name)
        return _BatchPlan(
            commit=commit,
            events=events_plan,
            entity_attributes=attributes_plan,
            labels=labels,
            events_file=events_file,
            quarantine_file=quarantine_file,
        )

    def _plan_events(self, events: pa.Table) -> _EntityPlan:
        con = self._engine
        con.register("_b", events)
        try:
            arms = []
            for link_type, column in LINK_TARGET_COLUMN.items():
                dst_type = NODE_TYPE_CODE[LINK_ENDPOINTS[link_type][1]]
                arms.append(
                    f"SELECT account_id AS src_key, {dst_type}::UTINYINT AS dst_type, "
                    f"{column} AS dst_key, {LINK_TYPE_CODE[link_type]}::UTINYINT AS ltype, "
                    f"coalesce(amount, 0.0) AS amount, epoch_us(ts) AS ts FROM _b "
                    f"WHERE {column} IS NOT NULL"
                )
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _agg AS SELECT src_key, dst_type, dst_key, ltype, "
                "count(*)::BIGINT AS n, sum(amount)::DOUBLE AS a, min(ts) AS f, max(ts) AS l "
                "FROM (" + " UNION ALL ".join(arms) + ") GROUP BY ALL"
            )
            account = NODE_TYPE_CODE[NodeType.ACCOUNT]
            # First/last seen as the embedded store folds them: accounts from their
            # events, every entity from the links it takes part in.
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _seen AS SELECT type, key, f, l, "
                "row_number() OVER (PARTITION BY type ORDER BY key) - 1 AS pos FROM ("
                "SELECT type, key, min(f) AS f, max(l) AS l FROM ("
                f"SELECT {account}::UTINYINT AS type, account_id AS key, epoch_us(ts) AS f, "
                "epoch_us(ts) AS l FROM _b "
                f"UNION ALL SELECT {account}::UTINYINT, src_key, f, l FROM _agg "
                "UNION ALL SELECT dst_type, dst_key, f, l FROM _agg) GROUP BY type, key)"
            )
            seen = con.execute(
                "SELECT type, key, f, l FROM _seen ORDER BY type, pos"
            ).to_arrow_table()
            links = con.execute(
                "SELECT g.ltype, s.pos AS src_pos, d.pos AS dst_pos, g.n, g.a, g.f, g.l "
                "FROM _agg g "
                f"JOIN _seen s ON s.type = {account} AND s.key = g.src_key "
                "JOIN _seen d ON d.type = g.dst_type AND d.key = g.dst_key "
                "ORDER BY g.ltype, src_pos, dst_pos"
            ).to_arrow_table()
            attributes = [
                self._plan_event_attributes(NodeType.DEVICE, "device_id", _DEVICE_ATTRIBUTES),
                self._plan_event_attributes(NodeType.IP, "ip", _IP_ATTRIBUTES),
            ]
        finally:
            con.unregister("_b")
        plan = _EntityPlan(keys=_split_keys(seen, with_times=True))
        plan.links = _split_links(links)
        plan.attributes = [a for a in attributes if a.pos.size]
        return plan

    def _plan_event_attributes(
        self, node_type: NodeType, column: str, names: Sequence[str]
    ) -> _AttributeRows:
        """Latest attribute values per entity in this batch, as the embedded store's deltas."""
        latest = ", ".join(f"arg_max(b.{c}, b.ts) FILTER (b.{c} IS NOT NULL) AS {c}" for c in names)
        any_set = " OR ".join(f"b.{c} IS NOT NULL" for c in names)
        table = self._engine.execute(
            f"SELECT s.pos, epoch_us(max(b.ts)) AS attr_ts, {latest} FROM _b b "
            f"JOIN _seen s ON s.type = {NODE_TYPE_CODE[node_type]} AND s.key = b.{column} "
            f"WHERE {any_set} GROUP BY s.pos ORDER BY s.pos"
        ).to_arrow_table()
        return _attribute_rows(node_type, table, names)

    def _plan_entity_attributes(self, rows: pa.Table) -> _EntityPlan:
        """Attribute-file rows: one delta per (type, key), the last non-null value winning."""
        codes = pc.index_in(rows.column("entity_type"), value_set=_NODE_TYPE_NAMES)
        if codes.null_count:
            raise InvalidInput("entity attribute rows name an unknown entity type")
        table = rows.select(["entity_key", *ENTITY_ATTRIBUTES]).append_column(
            "type", pc.cast(codes, pa.uint8())
        )
        con = self._engine
        con.register("_e", table)
        try:
            latest = ", ".join(
                f"arg_max({c}, rn) FILTER ({c} IS NOT NULL) AS {c}" for c in ENTITY_ATTRIBUTES
            )
            grouped = con.execute(
                f"SELECT type, key, row_number() OVER (PARTITION BY type ORDER BY key) - 1 AS pos, "
                f"{', '.join(ENTITY_ATTRIBUTES)} FROM ("
                f"SELECT type, entity_key AS key, {latest} FROM ("
                "SELECT *, row_number() OVER () AS rn FROM _e) GROUP BY type, entity_key) "
                "ORDER BY type, key"
            ).to_arrow_table()
        finally:
            con.unregister("_e")
        plan = _EntityPlan(keys=_split_keys(grouped, with_times=False))
        now = _micros(datetime.now(UTC))
        for node_type in plan.keys:
            part = grouped.filter(pc.equal(grouped.column("type"), NODE_TYPE_CODE[node_type]))
            part = part.append_column("attr_ts", pa.array(np.full(part.num_rows, now, np.int64)))
            plan.attributes.append(_attribute_rows(node_type, part, ENTITY_ATTRIBUTES))
        return plan

    # -- the batch transaction -----------------------------------------------------------
    def _apply(self, tx: Transaction, plan: _BatchPlan) -> bool:
        """Write one planned batch in ``tx``; False if the ledger already has it."""
        commit = plan.commit
        meta = tx.run(cypher.LOCK_META, {"meta": cypher.META_NAME}).single(strict=True)
        counters = _Counters(int(meta["next_id"]), int(meta["next_label_seq"]))
        done = tx.run(
            cypher.BATCH_DONE.text,
            {"source": commit.source, "batch_index": commit.batch_index, "cap": 1},
        ).single(strict=True)
        if done["n"]:
            return False
        if plan.events is not None:
            self._write_entities(tx, plan.events, counters)
        if plan.entity_attributes is not None:
            self._write_entities(tx, plan.entity_attributes, counters)
        if plan.labels is not None:
            first_seq = counters.next_label_seq
            counters.next_label_seq += len(plan.labels["entity_key"])
            self._run_chunked(
                tx,
                cypher.CREATE_LABELS,
                plan.labels,
                {"first_seq": first_seq},
                offset_param="first_seq",
            )
        tx.run(
            cypher.CREATE_BATCH,
            {
                "source": commit.source,
                "batch_index": commit.batch_index,
                "rows_read": commit.rows_read,
                "rows_loaded": commit.rows_loaded,
                "rows_quarantined": commit.rows_quarantined,
                "fields_quarantined": commit.fields_quarantined,
                "rows_duplicate": commit.rows_duplicate,
                "events_file": plan.events_file,
                "quarantine_file": plan.quarantine_file,
            },
        )
        tx.run(
            cypher.UPDATE_META,
            {
                "meta": cypher.META_NAME,
                "next_id": counters.next_id,
                "next_label_seq": counters.next_label_seq,
            },
        )
        return True

    def _resolve(
        self, tx: Transaction, keys: _Keys, counters: _Counters, *, graph_empty: bool
    ) -> _Resolved:
        """Ids of ``keys``: stored ones looked up, new ones numbered from ``next_id``."""
        ids = np.full(len(keys.keys), -1, np.int64)
        if not graph_empty:
            seen = keys.first is not None and keys.last is not None
            text = (cypher.lookup_and_touch_keys if seen else cypher.lookup_keys)(keys.node_type)
            step = self.write_batch_size
            for lo in range(0, len(keys.keys), step):
                params: dict[str, Any] = {"key": keys.keys[lo : lo + step]}
                if keys.first is not None and keys.last is not None:
                    params["first"] = keys.first[lo : lo + step].tolist()
                    params["last"] = keys.last[lo : lo + step].tolist()
                found = tx.run(text, params).single(strict=True)
                positions = np.asarray(found["positions"], np.int64) + lo
                ids[positions] = np.asarray(found["ids"], np.int64)
        new = ids < 0
        first_new_id = counters.next_id
        n_new = int(new.sum())
        ids[new] = np.arange(first_new_id, first_new_id + n_new, dtype=np.int64)
        counters.next_id += n_new
        return _Resolved(ids=ids, new=new, first_new_id=first_new_id)

    def _write_entities(self, tx: Transaction, plan: _EntityPlan, counters: _Counters) -> None:
        # Ids in (type code, key) order, as the embedded store numbers them.
        graph_empty = counters.next_id == 0  # then there is nothing to look up
        resolved = {
            t: self._resolve(tx, keys, counters, graph_empty=graph_empty)
            for t, keys in plan.keys.items()
        }
        # Stored entities seen again had their first/last seen widened by the lookup.
        for node_type, keys in plan.keys.items():
            found = resolved[node_type]
            new_pos = np.flatnonzero(found.new)
            constants = {"type": NODE_TYPE_CODE[node_type], "first_id": found.first_new_id}
            if keys.first is not None and keys.last is not None:
                if new_pos.size:
                    self._run_chunked(
                        tx,
                        cypher.create_seen_entities(node_type),
                        {
                            "key": [keys.keys[p] for p in new_pos],
                            "first": keys.first[new_pos].tolist(),
                            "last": keys.last[new_pos].tolist(),
                        },
                        constants,
                        offset_param="first_id",
                    )
            elif new_pos.size:
                self._run_chunked(
                    tx,
                    cypher.create_bare_entities(node_type),
                    {"key": [keys.keys[p] for p in new_pos]},
                    constants,
                    offset_param="first_id",
                )
        for links in plan.links:
            self._write_links(tx, links, resolved)
        for attributes in plan.attributes:
            ids = resolved[attributes.node_type].ids[attributes.pos]
            self._run_chunked(
                tx,
                cypher.set_attributes(tuple(attributes.values)),
                {"id": ids.tolist(), "attr_ts": attributes.attr_ts.tolist(), **attributes.values},
            )

    def _write_links(
        self, tx: Transaction, links: _LinkRows, resolved: Mapping[NodeType, _Resolved]
    ) -> None:
        src_type, dst_type = LINK_ENDPOINTS[links.link_type]
        src, dst = resolved[src_type], resolved[dst_type]
        # A link with an end created in this batch cannot exist yet: CREATE, not MERGE.
        fresh = src.new[links.src_pos] | dst.new[links.dst_pos]
        for rows, text in (
            (np.flatnonzero(fresh), cypher.create_links(links.link_type)),
            (np.flatnonzero(~fresh), cypher.merge_links(links.link_type)),
        ):
            if not rows.size:
                continue
            self._run_chunked(
                tx,
                text,
                {
                    "src": src.ids[links.src_pos[rows]].tolist(),
                    "dst": dst.ids[links.dst_pos[rows]].tolist(),
                    "n": links.n_events[rows].tolist(),
                    "amount": links.amount[rows].tolist(),
                    "first": links.first[rows].tolist(),
                    "last": links.last[rows].tolist(),
                },
            )

    def add_label(
        self,
        node_type: NodeType,
        key: str,
        *,
        label: Literal["fraud", "legit"],
        source: str,
        author: str | None,
        reason: str | None,
        ts: datetime | None = None,
    ) -> None:
        """Append one label (investigator feedback) to the labels.

        Raises
        ------
        BackendUnavailable
            If Neo4j cannot be reached.
        """
        columns: dict[str, list[Any]] = {
            "entity_type": [NODE_TYPE_CODE[node_type]],
            "entity_key": [key],
            "label": [label],
            "source": [source],
            "author": [author],
            "reason": [reason],
            "ts": [_micros(ts or datetime.now(UTC))],
        }

        def work(tx: Transaction) -> bool:
            meta = tx.run(cypher.LOCK_META, {"meta": cypher.META_NAME}).single(strict=True)
            seq = int(meta["next_label_seq"])
            tx.run(cypher.CREATE_LABELS, {**columns, "first_seq": seq})
            tx.run(
                cypher.UPDATE_META,
                {"meta": cypher.META_NAME, "next_id": meta["next_id"], "next_label_seq": seq + 1},
            )
            return True

        self._in_write_transaction(work, "add_label")

    # -- reads ---------------------------------------------------------------------------
    def _meta(self) -> tuple[int, int]:
        rows = self._read(cypher.META, {"meta": cypher.META_NAME}, cap=1)
        return int(rows[0][0]), int(rows[0][1])

    def _windowed(
        self,
        fetch: Callable[[int, int, int], Rows],
        start: int,
        stop: int,
        *,
        width: int,
        what: str,
    ) -> Rows:
        """Rows of ``fetch(lo, hi, cap)`` over windows covering ``[start, stop)``.

        A window that fills its page (``page_rows`` rows) is halved and re-read; one that
        comes back small lets the next window grow. A single-key window over the page
        size raises ``LimitExceeded``.
        """
        rows: Rows = []
        page = self.page_rows
        lo = start
        width = max(1, width)
        while lo < stop:
            hi = min(lo + width, stop)
            got = fetch(lo, hi, page + 1)
            if len(got) > page:
                if hi - lo == 1:
                    raise LimitExceeded(f"{what}: one key has more than {page} rows")
                width = max(1, (hi - lo) // 2)
                continue
            rows.extend(got)
            lo = hi
            if len(got) < page // 4:
                width *= 2
        return rows

    def _entity_rows(self, rows: Rows) -> list[Entity]:
        return [_entity_from_row(r) for r in rows]

    def get_entity(self, node_type: NodeType, key: str) -> Entity:
        """The entity ``(node_type, key)``.

        Raises
        ------
        EntityNotFound
            If there is none.
        """
        rows = self._read(cypher.entity_by_key(node_type), {"key": key}, cap=1)
        if not rows:
            raise EntityNotFound(f"no {node_type.value} with key {key!r}")
        return _entity_from_row(rows[0])

    def get_entities(self, ids: Sequence[int]) -> list[Entity]:
        """Entities by id in the order asked; unknown ids skipped."""
        wanted = list(dict.fromkeys(int(i) for i in ids))
        by_id: dict[int, Entity] = {}
        step = self.write_batch_size
        for lo in range(0, len(wanted), step):
            chunk = wanted[lo : lo + step]
            for row in self._read(cypher.ENTITIES_BY_ID, {"ids": chunk}, cap=len(chunk)):
                entity = _entity_from_row(row)
                by_id[entity.id] = entity
        return [by_id[int(i)] for i in ids if int(i) in by_id]

    def neighbours(
        self,
        entity_id: int,
        *,
        link_types: Sequence[LinkType] | None = None,
        limit: int = 100,
    ) -> list[Neighbour]:
        """Linked entities, both directions, most events first (see protocol).

        Raises
        ------
        InvalidInput
            If ``limit`` is negative.
        LimitExceeded
            If ``limit`` is above ``neighbour_cap``.

        Notes
        -----
        Ordered by ``n_events`` descending, then entity id, link type code, direction.
        """
        if limit < 0:
            raise InvalidInput("limit must be >= 0")
        if limit > self.neighbour_cap:
            raise LimitExceeded(f"limit {limit} exceeds the cap of {self.neighbour_cap}")
        if limit == 0:
            return []
        query = cypher.neighbours(list(link_types or list(LinkType)))
        rows = self._read(query, {"id": int(entity_id), "link_codes": self._link_codes}, cap=limit)
        width = len(cypher.ENTITY_COLUMNS)
        return [
            Neighbour(
                entity=_entity_from_row(r[:width]),
                link_type=link_type_of(int(r[width])),
                n_events=int(r[width + 1]),
                amount_sum=float(r[width + 2]),
                first_ts=_datetime(int(r[width + 3])),
                last_ts=_datetime(int(r[width + 4])),
                direction="out" if r[width + 5] == "out" else "in",
            )
            for r in rows
        ]

    def subgraph(self, ids: Sequence[int]) -> Subgraph:
        """The nodes ``ids`` and the links among them.

        Raises
        ------
        LimitExceeded
            If one node has more than ``page_rows`` links inside the set.
        """
        wanted = sorted({int(i) for i in ids})
        step = self.write_batch_size
        node_rows: Rows = []
        for lo in range(0, len(wanted), step):
            chunk = wanted[lo : lo + step]
            node_rows += self._read(cypher.SUBGRAPH_NODES, {"ids": chunk}, cap=len(chunk))
        query = cypher.subgraph_links(list(LinkType))

        def fetch(lo: int, hi: int, cap: int) -> Rows:
            params = {"src": wanted[lo:hi], "ids": wanted, "link_codes": self._link_codes}
            return self._read(query, params, cap=cap)

        link_rows = self._windowed(fetch, 0, len(wanted), width=1_000, what="subgraph links")
        return Subgraph(nodes=_nodes_table(node_rows), links=_links_table(link_rows))

    def counts(self) -> GraphCounts:
        """Entities per node type and links per link type (from Neo4j's count store)."""
        rows = self._read(cypher.counts(), cap=len(NodeType) + len(LinkType))
        nodes = {t: 0 for t in NodeType}
        links = {t: 0 for t in LinkType}
        for kind, name, n in rows:
            if kind == "node":
                nodes[NodeType(name)] = int(n)
            else:
                links[LinkType(name)] = int(n)
        return GraphCounts(nodes=nodes, links=links)

    def export_nodes(self) -> pa.Table:
        """All nodes, ordered by id, in ``NODE_EXPORT_SCHEMA``.

        Notes
        -----
        Pages of ``page_rows`` ids; O(n_nodes) rows through the driver.
        """
        next_id, _ = self._meta()

        def fetch(lo: int, hi: int, cap: int) -> Rows:
            return self._read(cypher.NODES_PAGE, {"lo": lo, "hi": hi}, cap=cap)

        return _nodes_table(self._windowed(fetch, 0, next_id, width=self.page_rows, what="nodes"))

    def export_links(self, link_types: Sequence[LinkType] | None = None) -> pa.Table:
        """All links (optionally of some types), ordered by (src, dst, type).

        Returns
        -------
        pa.Table
            In ``LINK_EXPORT_SCHEMA``.

        Raises
        ------
        LimitExceeded
            If a single account has more than ``page_rows`` links.
        """
        next_id, _ = self._meta()
        query = cypher.links_page(list(link_types or list(LinkType)))

        def fetch(lo: int, hi: int, cap: int) -> Rows:
            params = {"lo": lo, "hi": hi, "link_codes": self._link_codes}
            return self._read(query, params, cap=cap)

        rows = self._windowed(fetch, 0, next_id, width=self.page_rows // 8, what="links")
        return _links_table(rows)

    def to_csr(self, link_types: Sequence[LinkType] | None = None) -> CSRGraph:
        """Undirected CSR over all node ids (see ``graph_service.csr``)."""
        next_id, _ = self._meta()

        def fetch(lo: int, hi: int, cap: int) -> Rows:
            return self._read(cypher.NODE_TYPES_PAGE, {"lo": lo, "hi": hi}, cap=cap)

        node_type = np.zeros(next_id, np.uint8)
        rows = self._windowed(fetch, 0, next_id, width=self.page_rows, what="nodes")
        if rows:
            columns = np.asarray(rows, np.int64)
            node_type[columns[:, 0]] = columns[:, 1]
        return build_csr(node_type, self.export_links(link_types))

    def labels(self) -> pa.Table:
        """Labels with entity type name and the entity id (null if not in the graph).

        Returns
        -------
        pa.Table
            ``entity_id, entity_type, entity_key, label, source, author, reason, ts,
            recorded_at``, ordered by ``recorded_at``, ``ts`` and arrival.
        """
        _, next_seq = self._meta()
        query = cypher.labels_page()

        def fetch(lo: int, hi: int, cap: int) -> Rows:
            return self._read(query, {"lo": lo, "hi": hi}, cap=cap)

        rows = self._windowed(fetch, 0, next_seq, width=self.page_rows, what="labels")
        rows.sort(key=lambda r: (r[8], r[7], r[9]))
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(cypher.LABEL_COLUMNS)
        values = dict(zip(cypher.LABEL_COLUMNS, columns, strict=True))
        return pa.table(
            {
                "entity_id": pa.array(values["entity_id"], pa.int64()),
                "entity_type": pa.array(
                    [node_type_of(int(c)).value for c in values["entity_type"]], pa.string()
                ),
                "entity_key": pa.array(values["entity_key"], pa.string()),
                "label": pa.array(values["label"], pa.string()),
                "source": pa.array(values["source"], pa.string()),
                "author": pa.array(values["author"], pa.string()),
                "reason": pa.array(values["reason"], pa.string()),
                "ts": _timestamps(values["ts"]),
                "recorded_at": _timestamps(values["recorded_at"]),
            },
            schema=_LABELS_SCHEMA,
        )

    def write_scores(self, name: str, ids: np.ndarray, values: np.ndarray, *, version: str) -> None:
        """Replace score ``name`` for ``ids`` with ``values`` in one transaction.

        Raises
        ------
        InvalidInput
            If ``ids`` and ``values`` differ in shape.

        Notes
        -----
        All old rows of the given ids are deleted before any new row is created, so
        repeated ids end up as repeated rows, as in the embedded store.
        """
        ids = np.asarray(ids, np.int64)
        values = np.asarray(values, np.float64)
        if ids.shape != values.shape:
            raise InvalidInput(f"ids {ids.shape} and values {values.shape} differ in shape")
        id_list = ids.ravel().tolist()
        value_list = values.ravel().tolist()

        def work(tx: Transaction) -> bool:
            self._run_chunked(tx, cypher.DELETE_SCORES, {"entity_id": id_list}, {"name": name})
            self._run_chunked(
                tx,
                cypher.CREATE_SCORES,
                {"entity_id": id_list, "value": value_list},
                {"name": name, "version": version},
            )
            return True

        if id_list:
            self._in_write_transaction(work, f"write_scores {name!r}")

    def read_scores(self, name: str, ids: Sequence[int] | None = None) -> pa.Table:
        """Score ``name`` as ``(entity_id, value, version)`` ordered by entity id."""
        rows: Rows = []
        if ids is None:
            bounds = self._read(cypher.SCORE_RANGE, {"name": name}, cap=1)
            lo, hi = bounds[0] if bounds else (None, None)
            if lo is not None and hi is not None:

                def fetch(a: int, b: int, cap: int) -> Rows:
                    return self._read(cypher.SCORES_PAGE, {"name": name, "lo": a, "hi": b}, cap=cap)

                rows = self._windowed(
                    fetch, int(lo), int(hi) + 1, width=self.page_rows, what="scores"
                )
        else:
            wanted = list(dict.fromkeys(int(i) for i in ids))
            step = self.write_batch_size
            for start in range(0, len(wanted), step):
                chunk = wanted[start : start + step]
                got = self._read(
                    cypher.SCORES_BY_ID, {"name": name, "ids": chunk}, cap=self.page_rows + 1
                )
                _check_cap(got, self.page_rows, "scores")
                rows += got
            rows.sort(key=lambda r: int(r[0]))
        columns = list(zip(*rows, strict=True)) if rows else [(), (), ()]
        return pa.table(
            {
                "entity_id": pa.array(columns[0], pa.int64()),
                "value": pa.array(columns[1], pa.float64()),
                "version": pa.array(columns[2], pa.string()),
            },
            schema=_SCORES_SCHEMA,
        )

    # -- analytics tables ----------------------------------------------------------------
    #: Set once this store has created the analytics constraints and indexes.
    _analytics_schema_ready: bool = False

    def _ensure_analytics_schema(self) -> None:
        """Create the analytics constraint and index (idempotent, once per store)."""
        if self._analytics_schema_ready:
            return
        with self._translated(), self._session(WRITE_ACCESS) as session:
            for statement in cypher.ANALYTICS_SCHEMA_STATEMENTS:
                session.run(statement).consume()
            session.run(cypher.AWAIT_INDEXES, seconds=300).consume()
        self._analytics_schema_ready = True

    def write_table(self, name: str, table: pa.Table, *, version: str) -> None:
        """Store one version of analytics table ``name`` in one transaction.

        Each row becomes an ``:_AnalyticsRow`` node (UNWIND batches of
        ``write_batch_size``); the ``:_AnalyticsVersion`` node that makes the version
        visible is written in the same transaction, after the rows. A version written
        again has its old rows deleted in that transaction. Lists of numbers, booleans or
        strings (without null elements) are stored as Neo4j lists; structs and lists with
        nulls travel as JSON text; timestamps and dates as integers. The Arrow schema is
        kept on the version node, so reads return the types written.

        Raises
        ------
        InvalidInput
            For a bad name, version, column name or column type.
        BackendUnavailable
            If Neo4j stays unreachable through the retries.

        Notes
        -----
        O(rows x columns) to pack the rows for the driver.
        """
        check_table_name(name)
        check_version(version)
        data = prepare_table(table)
        rows, json_columns = _analytics_rows(data)
        self._ensure_analytics_schema()
        constants = {"name": name, "version": version}

        def work(tx: Transaction) -> bool:
            seq = int(tx.run(cypher.NEXT_ANALYTICS_SEQ).single(strict=True)["seq"])
            while tx.run(
                cypher.DELETE_ANALYTICS_ROWS, {**constants, "batch": self.write_batch_size}
            ).single(strict=True)["deleted"]:
                pass
            if rows:
                self._run_chunked(
                    tx, cypher.CREATE_ANALYTICS_ROWS, {"rows": rows}, {**constants, "seq": seq}
                )
            tx.run(
                cypher.PUT_ANALYTICS_VERSION,
                {
                    **constants,
                    "seq": seq,
                    "n_rows": data.num_rows,
                    "schema": schema_to_text(data.schema),
                    "json_columns": json_columns,
                },
            ).consume()
            return True

        self._in_write_transaction(work, f"write_table {name!r}")

    def read_table(self, name: str, *, version: str | None = None) -> pa.Table:
        """One version (default: the latest written) of analytics table ``name``.

        Raises
        ------
        InvalidInput
            For a bad name or version string.
        EntityNotFound
            If the table or the version does not exist.
        BackendUnavailable
            If Neo4j is unreachable, or the version was rewritten during each of three
            attempts to read it (rows are read in pages of ``page_rows``, one
            transaction each).
        """
        check_table_name(name)
        if version is not None:
            check_version(version)
        for _ in range(_ANALYTICS_READ_ATTEMPTS):
            found = self._read(cypher.ANALYTICS_VERSION, {"name": name, "version": version}, cap=1)
            if not found:
                known = self.table_versions(name)
                if not known:
                    raise no_such_table(name)
                raise no_such_version(name, str(version), known)
            stored_version, seq, n_rows, schema_text, json_columns = found[0]
            params = {"name": name, "version": stored_version, "seq": seq}

            def fetch(lo: int, hi: int, cap: int, params: dict[str, Any] = params) -> Rows:
                return self._read(
                    cypher.ANALYTICS_ROWS_PAGE, {**params, "lo": lo, "hi": hi}, cap=cap
                )

            rows = self._windowed(
                fetch, 0, int(n_rows), width=self.page_rows, what=f"analytics table {name!r}"
            )
            # Pages are separate transactions: a rewrite of this version in between leaves
            # rows missing, and the read starts again on the new write.
            if len(rows) == int(n_rows):
                return _analytics_table(
                    rows, schema_from_text(schema_text), set(json_columns or ())
                )
        raise BackendUnavailable(
            f"analytics table {name!r} kept being rewritten while it was read; try again"
        )

    def table_versions(self, name: str) -> list[str]:
        """Versions of analytics table ``name``, oldest written first."""
        check_table_name(name)
        rows = self._read(cypher.ANALYTICS_VERSIONS, {"name": name}, cap=_LIST_CAP + 1)
        _check_cap(rows, _LIST_CAP, f"versions of analytics table {name!r}")
        return [str(r[0]) for r in rows]

    def drop_table_version(self, name: str, version: str) -> None:
        """Delete one version of analytics table ``name``: its rows and its version node.

        Raises
        ------
        InvalidInput
            For a bad name or version string.
        EntityNotFound
            If the table has no such version.
        """
        check_table_name(name)
        check_version(version)
        constants = {"name": name, "version": version}

        def work(tx: Transaction) -> bool:
            found = tx.run(cypher.DELETE_ANALYTICS_VERSION, constants).single(strict=True)
            if not found["deleted"]:
                return False
            while tx.run(
                cypher.DELETE_ANALYTICS_ROWS, {**constants, "batch": self.write_batch_size}
            ).single(strict=True)["deleted"]:
                pass
            return True

        if not self._in_write_transaction(work, f"drop_table_version {name!r}"):
            raise no_such_version(name, version, self.table_versions(name))


# -- helpers -------------------------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    message = exc.message if isinstance(exc, Neo4jError) and exc.message else str(exc)
    return " ".join(message.split()) or type(exc).__name__


def _check_cap(rows: Rows, cap: int, what: str) -> None:
    if len(rows) > cap:
        raise LimitExceeded(f"more than {cap} {what}")


def _micros(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _datetime(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _timestamps(values: Sequence[Any]) -> pa.Array:
    return pa.array(values, pa.int64()).cast(_TIMESTAMP)


def _entity_from_row(row: Sequence[Any]) -> Entity:
    attrs: dict[str, Any] = {}
    if row[3] is not None:
        attrs["first_ts"] = _datetime(int(row[3]))
    if row[4] is not None:
        attrs["last_ts"] = _datetime(int(row[4]))
    attrs.update((k, v) for k, v in zip(ENTITY_ATTRIBUTES, row[5:], strict=True) if v is not None)
    return Entity(id=int(row[0]), type=node_type_of(int(row[1])), key=str(row[2]), attributes=attrs)


def _nodes_table(rows: Rows) -> pa.Table:
    return _rows_table(rows, cypher.ENTITY_COLUMNS, NODE_EXPORT_SCHEMA)


def _links_table(rows: Rows) -> pa.Table:
    return _rows_table(rows, cypher.LINK_COLUMNS, LINK_EXPORT_SCHEMA)


def _rows_table(rows: Rows, names: Sequence[str], schema: pa.Schema) -> pa.Table:
    """Cypher result rows (columns ``names``) as an Arrow table in ``schema``."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    values = dict(zip(names, columns, strict=True))
    arrays = [
        _timestamps(values[f.name])
        if pa.types.is_timestamp(f.type)
        else pa.array(values[f.name], f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def _split_keys(table: pa.Table, *, with_times: bool) -> dict[NodeType, _Keys]:
    """Per node type (in code order), its sorted keys and first/last seen."""
    out: dict[NodeType, _Keys] = {}
    types = np.asarray(table.column("type").to_numpy(), np.int64)
    keys = table.column("key").to_pylist()
    first = table.column("f").to_numpy() if with_times else None
    last = table.column("l").to_numpy() if with_times else None
    # ``table`` is sorted by type, so each type is one contiguous run.
    bounds = np.flatnonzero(np.diff(types)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(types)], strict=True):
        if hi <= lo:
            continue
        node_type = node_type_of(int(types[lo]))
        out[node_type] = _Keys(
            node_type=node_type,
            keys=keys[lo:hi],
            first=None if first is None else np.asarray(first[lo:hi], np.int64),
            last=None if last is None else np.asarray(last[lo:hi], np.int64),
        )
    return out


def _split_links(table: pa.Table) -> list[_LinkRows]:
    """Per link type, its aggregated rows (``table`` sorted by link type)."""
    out: list[_LinkRows] = []
    codes = np.asarray(table.column("ltype").to_numpy(), np.int64)
    columns = {
        name: table.column(name).to_numpy() for name in ("src_pos", "dst_pos", "n", "a", "f", "l")
    }
    bounds = np.flatnonzero(np.diff(codes)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(codes)], strict=True):
        if hi <= lo:
            continue
        out.append(
            _LinkRows(
                link_type=link_type_of(int(codes[lo])),
                src_pos=np.asarray(columns["src_pos"][lo:hi], np.int64),
                dst_pos=np.asarray(columns["dst_pos"][lo:hi], np.int64),
                n_events=np.asarray(columns["n"][lo:hi], np.int64),
                amount=np.asarray(columns["a"][lo:hi], np.float64),
                first=np.asarray(columns["f"][lo:hi], np.int64),
                last=np.asarray(columns["l"][lo:hi], np.int64),
            )
        )
    return out


def _attribute_rows(node_type: NodeType, table: pa.Table, names: Sequence[str]) -> _AttributeRows:
    return _AttributeRows(
        node_type=node_type,
        pos=np.asarray(table.column("pos").to_numpy(), np.int64),
        attr_ts=np.asarray(table.column("attr_ts").to_numpy(), np.int64),
        values={name: table.column(name).to_pylist() for name in names},
    )


def _plan_labels(rows: pa.Table) -> dict[str, list[Any]]:
    codes = pc.index_in(rows.column("entity_type"), value_set=_NODE_TYPE_NAMES)
    if codes.null_count:
        raise InvalidInput("label rows name an unknown entity type")
    ts = rows.column("ts")
    if ts.null_count:
        raise InvalidInput("label rows need a ts")
    micros = pc.cast(pc.cast(ts, _TIMESTAMP), pa.int64())
    return {
        "entity_type": codes.to_pylist(),
        "entity_key": rows.column("entity_key").to_pylist(),
        "label": rows.column("label").to_pylist(),
        "source": rows.column("source").to_pylist(),
        "author": rows.column("author").to_pylist(),
        "reason": rows.column("reason").to_pylist(),
        "ts": micros.to_pylist(),
    }


# -- analytics table encoding ----------------------------------------------------------------

#: Reads of an analytics table started again when a rewrite lands in the middle.
_ANALYTICS_READ_ATTEMPTS = 3


def _json_safe_type(data_type: pa.DataType) -> pa.DataType:
    """``data_type`` with every timestamp/date leaf replaced by its integer storage type."""
    if pa.types.is_timestamp(data_type) or pa.types.is_date64(data_type):
        return pa.int64()
    if pa.types.is_date32(data_type):
        return pa.int32()
    if pa.types.is_list(data_type):
        return pa.list_(_json_safe_type(data_type.value_type))
    if pa.types.is_large_list(data_type):
        return pa.large_list(_json_safe_type(data_type.value_type))
    if pa.types.is_struct(data_type):
        return pa.struct(
            [
                f.with_type(_json_safe_type(f.type))
                for f in (data_type.field(i) for i in range(data_type.num_fields))
            ]
        )
    return data_type


def _is_native_list(column: pa.ChunkedArray) -> bool:
    """A list of primitives without null elements: kept as a Neo4j list property."""
    data_type = column.type
    if not (pa.types.is_list(data_type) or pa.types.is_large_list(data_type)):
        return False
    value_type = data_type.value_type
    primitive = (
        pa.types.is_integer(value_type)
        or pa.types.is_floating(value_type)
        or pa.types.is_boolean(value_type)
        or pa.types.is_string(value_type)
        or pa.types.is_large_string(value_type)
    )
    null_elements = sum(pc.list_flatten(chunk).null_count for chunk in column.chunks)
    return bool(primitive and null_elements == 0)


def _analytics_rows(data: pa.Table) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows as property maps (with ``_row``), and the names of the JSON-encoded columns."""
    columns: dict[str, list[Any]] = {}
    json_columns: list[str] = []
    for column_field, column in zip(data.schema, data.columns, strict=True):
        data_type = column_field.type
        nested = (
            pa.types.is_list(data_type)
            or pa.types.is_large_list(data_type)
            or pa.types.is_struct(data_type)
        )
        if nested and not _is_native_list(column):
            values = column.cast(_json_safe_type(data_type)).to_pylist()
            columns[column_field.name] = [None if v is None else json.dumps(v) for v in values]
            json_columns.append(column_field.name)
        else:
            columns[column_field.name] = column.cast(_json_safe_type(data_type)).to_pylist()
    names = list(columns)
    rows = (
        [
            {"_row": i, **dict(zip(names, values, strict=True))}
            for i, values in enumerate(zip(*columns.values(), strict=True))
        ]
        if names
        else [{"_row": i} for i in range(data.num_rows)]
    )
    return rows, json_columns


def _analytics_table(rows: Rows, schema: pa.Schema, json_columns: set[str]) -> pa.Table:
    """Property maps read back (``properties(r)``) as a table in the schema written."""
    arrays = []
    for column_field in schema:
        values: list[Any] = [row.get(column_field.name) for row in rows]  # type: ignore[attr-defined]
        if column_field.name in json_columns:
            values = [None if v is None else json.loads(v) for v in values]
        arrays.append(pa.array(values, _json_safe_type(column_field.type)).cast(column_field.type))
    return pa.Table.from_arrays(arrays, schema=schema)
