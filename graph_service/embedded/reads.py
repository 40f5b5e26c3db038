"""Graph reads of the embedded store: entities, neighbours, subgraphs, counts, exports.

Reads that need the folded ``entities`` and ``links`` fold pending deltas first
(``compact``). Point lookups use the lookup tables ordered for them (``entity_keys`` by
key hash, ``links_in`` by destination; see :mod:`graph_service.embedded.database`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from graph_service.csr import CSRGraph, build_csr
from graph_service.embedded.database import ATTR_SQL, EmbeddedDatabase
from graph_service.errors import EntityNotFound
from graph_service.model import LINK_TYPE_CODE, NODE_TYPE_CODE, LinkType, NodeType
from graph_service.store import (
    ENTITY_ATTRIBUTES,
    LINK_EXPORT_SCHEMA,
    NODE_EXPORT_SCHEMA,
    Entity,
    GraphCounts,
    Subgraph,
    node_type_of,
)


class EmbeddedReads(EmbeddedDatabase):
    """The graph reader of ``EmbeddedStore``."""

    # -- reads ---------------------------------------------------------------------------
    def _entity_rows(self, where: str, params: list[Any]) -> list[Entity]:
        self.compact()
        rows = self._con.execute(
            f"SELECT id, type, key, first_ts, last_ts, {ATTR_SQL} FROM entities WHERE {where}",
            params,
        ).fetchall()
        return [_entity_from_row(r) for r in rows]

    def get_entity(self, node_type: NodeType, key: str) -> Entity:
        """The entity ``(node_type, key)``; raises ``EntityNotFound`` if absent."""
        ids = self._con.execute(
            "SELECT id FROM entity_keys WHERE h = hash($key) AND type = $type AND key = $key",
            {"key": key, "type": NODE_TYPE_CODE[node_type]},
        ).fetchall()
        found = self._entity_rows("id = ?", [ids[0][0]]) if ids else []
        if not found:
            raise EntityNotFound(f"no {node_type.value} with key {key!r}")
        return found[0]

    def get_entities(self, ids: Sequence[int]) -> list[Entity]:
        """Entities by id in the order asked; unknown ids skipped."""
        if not ids:
            return []
        by_id = {e.id: e for e in self._entity_rows("id IN (SELECT unnest(?))", [list(ids)])}
        return [by_id[i] for i in ids if i in by_id]

    def subgraph(self, ids: Sequence[int]) -> Subgraph:
        """The nodes ``ids`` and the links among them."""
        self.compact()
        probe = pa.table({"id": pa.array(list(ids), pa.int64())})
        self._con.register("_sg", probe)
        try:
            nodes = self._con.execute(
                "SELECT * FROM entities SEMI JOIN _sg USING (id) ORDER BY id"
            ).to_arrow_table()
            links = self._con.execute(
                "SELECT * FROM links WHERE src IN (SELECT id FROM _sg) "
                "AND dst IN (SELECT id FROM _sg) ORDER BY src, dst, type"
            ).to_arrow_table()
        finally:
            self._con.unregister("_sg")
        return Subgraph(nodes=_as_nodes(nodes), links=_as_links(links))

    def counts(self) -> GraphCounts:
        """Entities per node type and links per link type."""
        self.compact()
        node_rows = dict(
            self._con.execute("SELECT type, count(*) FROM entities GROUP BY type").fetchall()
        )
        link_rows = dict(
            self._con.execute("SELECT type, count(*) FROM links GROUP BY type").fetchall()
        )
        return GraphCounts(
            nodes={t: int(node_rows.get(c, 0)) for t, c in NODE_TYPE_CODE.items()},
            links={t: int(link_rows.get(c, 0)) for t, c in LINK_TYPE_CODE.items()},
        )

    def export_nodes(self) -> pa.Table:
        """All nodes, ordered by id, in ``NODE_EXPORT_SCHEMA``."""
        self.compact()
        return _as_nodes(self._con.execute("SELECT * FROM entities ORDER BY id").to_arrow_table())

    def export_links(self, link_types: Sequence[LinkType] | None = None) -> pa.Table:
        """All links (optionally filtered by type) in ``LINK_EXPORT_SCHEMA``."""
        self.compact()
        codes = [LINK_TYPE_CODE[t] for t in (link_types or list(LinkType))]
        table = self._con.execute(
            "SELECT * FROM links WHERE list_contains(?, type) ORDER BY src, dst, type", [codes]
        ).to_arrow_table()
        return _as_links(table)

    def to_csr(self, link_types: Sequence[LinkType] | None = None) -> CSRGraph:
        """Undirected CSR over all node ids (see ``graph_service.csr``)."""
        self.compact()
        node_type = self._con.execute("SELECT type FROM entities ORDER BY id").fetchnumpy()["type"]
        return build_csr(np.asarray(node_type, np.uint8), self.export_links(link_types))

    def labels(self) -> pa.Table:
        """Labels with entity type name and the entity id (null if not in the graph)."""
        self.compact()
        type_name = " ".join(f"WHEN {c} THEN '{t.value}'" for t, c in NODE_TYPE_CODE.items())
        return self._con.execute(
            f"SELECT e.id AS entity_id, CASE l.entity_type {type_name} END AS entity_type, "
            "l.entity_key, l.label, l.source, l.author, l.reason, l.ts, l.recorded_at "
            "FROM labels l LEFT JOIN entities e ON e.type = l.entity_type AND e.key = l.entity_key "
            "ORDER BY l.recorded_at, l.ts"
        ).to_arrow_table()

    # -- SQL reads for other packages (relationship queries) ----------------------------
    def read_cursor(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB cursor on this store's database, for read-only SQL by other packages.

        Pending deltas are folded first, so ``entities`` and ``links`` are complete. The
        caller owns the cursor (use it as a context manager, which closes it), runs only
        ``SELECT`` statements on it, and passes every value as a parameter. Tables:
        ``entities(id, type, key, first_ts, last_ts, <attributes>)`` and
        ``links(src, dst, type, n_events, amount_sum, first_ts, last_ts)`` ordered by source
        and ``links_in`` (the same columns) ordered by destination, with type codes
        from ``NODE_TYPE_CODE`` / ``LINK_TYPE_CODE``.

        Returns
        -------
        duckdb.DuckDBPyConnection
            A cursor sharing the store's database (and its snapshot isolation).
        """
        self.compact()
        return self._con.cursor()

    def disk_bytes(self) -> int:
        """Bytes on disk used by the store (database file plus event Parquet files)."""
        return sum(p.stat().st_size for p in self.store_dir.rglob("*") if p.is_file())


def _entity_from_row(row: Sequence[Any]) -> Entity:
    attrs = {"first_ts": row[3], "last_ts": row[4]}
    attrs.update(zip(ENTITY_ATTRIBUTES, row[5:], strict=True))
    return Entity(
        id=int(row[0]),
        type=node_type_of(int(row[1])),
        key=str(row[2]),
        attributes={k: v for k, v in attrs.items() if v is not None},
    )


def _as_nodes(table: pa.Table) -> pa.Table:
    return table.select(NODE_EXPORT_SCHEMA.names).cast(NODE_EXPORT_SCHEMA)


def _as_links(table: pa.Table) -> pa.Table:
    return table.select(LINK_EXPORT_SCHEMA.names).cast(LINK_EXPORT_SCHEMA)
