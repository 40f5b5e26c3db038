"""Graph reads of the Neo4j store: entities, neighbours, subgraphs, counts, exports, labels.

Reads
-----
Every read runs in a managed read transaction with the configured timeout, and every
read statement carries ``LIMIT $cap`` (see :class:`cypher.ReadQuery`). Full exports page
through id windows (``Neo4jConnection._windowed``), so they stay bounded however large the
graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from graph_service.csr import CSRGraph, build_csr
from graph_service.errors import EntityNotFound
from graph_service.model import LinkType, NodeType
from graph_service.neo4j import cypher
from graph_service.neo4j.session import (
    TIMESTAMP,
    Neo4jConnection,
    Rows,
    from_micros,
    timestamp_array,
)
from graph_service.store import (
    ENTITY_ATTRIBUTES,
    LINK_EXPORT_SCHEMA,
    NODE_EXPORT_SCHEMA,
    Entity,
    GraphCounts,
    Subgraph,
    node_type_of,
)

_LABELS_SCHEMA = pa.schema(
    [
        pa.field("entity_id", pa.int64()),
        pa.field("entity_type", pa.string()),
        pa.field("entity_key", pa.string()),
        pa.field("label", pa.string()),
        pa.field("source", pa.string()),
        pa.field("author", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("ts", TIMESTAMP),
        pa.field("recorded_at", TIMESTAMP),
    ]
)


class Neo4jReads(Neo4jConnection):
    """The graph reader of ``Neo4jStore``: capped, paged reads of entities and links."""

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

    def account_keys(self) -> pa.Table:
        """``id`` (int64) and ``key`` (string) of every account, ordered by id.

        Notes
        -----
        Pages of ``page_rows`` ids over the account label only: the read
        ``export_transfers`` needs, without every identifier node's attributes.
        """
        next_id, _ = self._meta()

        def fetch(lo: int, hi: int, cap: int) -> Rows:
            return self._read(cypher.ACCOUNT_KEYS_PAGE, {"lo": lo, "hi": hi}, cap=cap)

        rows = self._windowed(fetch, 0, next_id, width=self.page_rows, what="accounts")
        return pa.table(
            {
                "id": pa.array([r[0] for r in rows], pa.int64()),
                "key": pa.array([r[1] for r in rows], pa.string()),
            }
        )

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
                "ts": timestamp_array(values["ts"]),
                "recorded_at": timestamp_array(values["recorded_at"]),
            },
            schema=_LABELS_SCHEMA,
        )


def _entity_from_row(row: Sequence[Any]) -> Entity:
    attrs: dict[str, Any] = {}
    if row[3] is not None:
        attrs["first_ts"] = from_micros(int(row[3]))
    if row[4] is not None:
        attrs["last_ts"] = from_micros(int(row[4]))
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
        timestamp_array(values[f.name])
        if pa.types.is_timestamp(f.type)
        else pa.array(values[f.name], f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)
