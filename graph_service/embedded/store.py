"""The embedded backend: a DuckDB file as the durable store, Parquet for raw events.

``EmbeddedStore`` is composed of one class per role, each in its own module:

* ``database.EmbeddedDatabase``: the tables, lookup-table upkeep and compaction (the
  layout of ``store_dir`` and why batches are deltas are described there);
* ``ingest.EmbeddedIngest``: the ledger, batch commits and labels;
* ``reads.EmbeddedReads``: entities, neighbours, subgraphs, counts, exports, labels, and
  the read cursor for other packages;
* ``analytics.EmbeddedAnalytics``: scores and versioned analytics tables.

This module holds the constructor, the lifecycle and the algorithm engine.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import duckdb
import pyarrow as pa

from graph_service.embedded.analytics import EmbeddedAnalytics
from graph_service.embedded.database import DDL, MIGRATIONS, SCHEMA_VERSION
from graph_service.embedded.ingest import EmbeddedIngest
from graph_service.embedded.reads import EmbeddedReads
from graph_service.errors import InvalidInput, StoreLocked
from graph_service.model import NODE_TYPE_CODE, NodeType
from graph_service.transfers import transfer_events

if TYPE_CHECKING:
    from graph_service.algorithms import GraphAlgorithms
    from graph_service.settings import Settings

__all__ = ["SCHEMA_VERSION", "EmbeddedStore"]


class EmbeddedStore(EmbeddedIngest, EmbeddedReads, EmbeddedAnalytics):
    """``GraphStore`` on a DuckDB file plus Parquet event files.

    Parameters
    ----------
    store_dir : Path
        Directory of the store; created if missing.
    memory_limit : str
        DuckDB memory cap, e.g. ``"3GB"``.
    threads : int
        DuckDB worker threads; 0 means all cores.
    read_only : bool
        Open without the write lock (several readers may share a store).

    Raises
    ------
    StoreLocked
        If another process holds the store open for writing.
    """

    backend = "embedded"

    def __init__(
        self,
        store_dir: Path,
        *,
        memory_limit: str = "3GB",
        threads: int = 0,
        read_only: bool = False,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.events_dir = self.store_dir / "events"
        self.read_only = read_only
        if not read_only:
            self.events_dir.mkdir(parents=True, exist_ok=True)
        db_path = self.store_dir / "graph.duckdb"
        if read_only and not db_path.exists():
            raise InvalidInput(f"no store at {self.store_dir} (run `fraudgraph ingest` first)")
        config: dict[str, Any] = {"memory_limit": memory_limit}
        if threads:
            config["threads"] = threads
        try:
            self._con = duckdb.connect(str(db_path), read_only=read_only, config=config)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreLocked(
                    f"store {self.store_dir} is in use by another process: {str(exc).splitlines()[0]}"
                ) from exc
            raise
        self._con.execute("SET TimeZone = 'UTC'")
        # DuckDB prints a progress bar on stdout for long queries; stdout belongs to the
        # caller (the CLI's --json contract is one JSON object there).
        self._con.execute("SET enable_progress_bar = false")
        if not read_only:
            self._con.execute(DDL)
            self._con.execute(MIGRATIONS)
            self._con.execute(
                "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
                [SCHEMA_VERSION],
            )
        self._ensure_lookup_tables()

    @classmethod
    def from_settings(cls, settings: Settings, *, read_only: bool = False) -> EmbeddedStore:
        """Open the store described by ``settings`` (``read_only``: without the write lock)."""
        return cls(
            settings.store_dir,
            memory_limit=settings.duckdb_memory_limit,
            threads=settings.duckdb_threads,
            read_only=read_only,
        )

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Fold pending deltas (when writable) and close the database."""
        if not self.read_only:
            self.compact()
        self._con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def export_transfers(self) -> pa.Table:
        """Every single transfer between accounts (see ``graph_service.transfers``)."""
        self.compact()
        accounts = self._con.execute(
            "SELECT id, key FROM entities WHERE type = ?", [NODE_TYPE_CODE[NodeType.ACCOUNT]]
        ).to_arrow_table()
        return transfer_events(self.events_files(), accounts)

    def algorithms(self) -> GraphAlgorithms:
        """The in-process engine (scipy, igraph) over this store's graph."""
        from graph_service.embedded.algorithms import EmbeddedAlgorithms

        return EmbeddedAlgorithms(self)
