"""Driver plumbing shared by the parts of ``Neo4jStore``: sessions, errors, retries, paging.

:class:`Neo4jConnection` holds what every part of the store uses: sessions on the
store's database, the translation of driver errors into domain errors, capped reads in
managed read transactions with a timeout, explicit write transactions re-run on
transient failures, chunked UNWIND statements and paged reads over id windows. The
store's constructor (``graph_service.neo4j.store``) sets its attributes.

Timestamps travel through the driver as integer microseconds since the epoch (UTC).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from neo4j import (
    READ_ACCESS,
    WRITE_ACCESS,
    Driver,
    ManagedTransaction,
    Session,
    Transaction,
    unit_of_work,
)
from neo4j.exceptions import (
    AuthError,
    ClientError,
    DriverError,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)

from graph_service.errors import (
    BackendUnavailable,
    FraudGraphError,
    InvalidInput,
    LimitExceeded,
    QueryTimeout,
    one_line,
)
from graph_service.neo4j import cypher

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TIMESTAMP = pa.timestamp("us", tz="UTC")
_TIMEOUT_CODE_PREFIX = "Neo.ClientError.Transaction.TransactionTimedOut"
_DATABASE_NOT_FOUND = "Neo.ClientError.Database.DatabaseNotFound"
#: Driver errors after which re-running a whole batch transaction is safe and useful.
_RETRYABLE = (TransientError, SessionExpired, ServiceUnavailable)
#: Cap on small listings (manifests, ledger file names): far above any real ingest.
LIST_CAP = 1_000_000
Rows = list[list[Any]]


class Neo4jConnection:
    """The driver, its sessions and the retry and paging rules (a part of ``Neo4jStore``).

    Attributes are set by ``Neo4jStore.__init__``; see that class for their meaning.
    """

    uri: str
    user: str
    database: str
    store_dir: Path
    events_dir: Path
    quarantine_dir: Path
    query_timeout_s: float
    write_batch_size: int
    page_rows: int
    max_commit_attempts: int
    _link_codes: dict[str, int]
    _driver: Driver
    #: In-process DuckDB for client-side batch planning and reads of the event files.
    _engine: duckdb.DuckDBPyConnection

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
                f"(check FRAUDGRAPH_NEO4J_USER / FRAUDGRAPH_NEO4J_PASSWORD): {one_line(exc)}"
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
            return BackendUnavailable(f"cannot reach Neo4j at {self.uri}: {one_line(exc)}")
        if isinstance(exc, TransientError):
            return BackendUnavailable(
                f"Neo4j at {self.uri} kept failing with a transient error: {one_line(exc)}"
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
                    extra={"what": what, "attempt": attempt, "error": one_line(exc)},
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

    # -- paged reads -----------------------------------------------------------------------
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


# -- helpers -------------------------------------------------------------------------------


def check_cap(rows: Rows, cap: int, what: str) -> None:
    if len(rows) > cap:
        raise LimitExceeded(f"more than {cap} {what}")


def to_micros(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def timestamp_array(values: Sequence[Any]) -> pa.Array:
    return pa.array(values, pa.int64()).cast(TIMESTAMP)
