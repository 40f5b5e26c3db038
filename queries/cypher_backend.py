"""The relationship queries on Neo4j: the statements of :mod:`queries.cypher`, run through
the store's capped, timed, parameterised ``run_read``.

Each read runs in its own managed read transaction with the store's query timeout;
driver errors arrive as domain errors (``BackendUnavailable``, ``QueryTimeout``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from graph_service.errors import BackendUnavailable
from graph_service.model import LinkType
from graph_service.neo4j.cypher import ReadQuery, link_code_map
from graph_service.store import GraphStore
from graph_service.typing import I64
from queries import cypher
from queries.backends import Row
from queries.event_transfers import link_transfers
from queries.limits import EMBEDDED_QUERY_TIMEOUT_S


@runtime_checkable
class CypherReadable(Protocol):
    """A store that runs capped, parameterised Cypher reads (the Neo4j backend)."""

    def run_read(
        self,
        query: ReadQuery,
        params: Mapping[str, Any] | None = None,
        *,
        cap: int,
        timeout_s: float | None = None,
    ) -> list[list[Any]]:
        """Rows of one capped read query."""
        ...


def _ids(values: I64) -> list[int]:
    return [int(v) for v in np.asarray(values, np.int64).tolist()]


class CypherRelationships:
    """Every query family on a Neo4j store.

    Parameters
    ----------
    store : GraphStore
        A store with ``run_read`` (the Neo4j backend).

    Raises
    ------
    BackendUnavailable
        If the store cannot run Cypher reads.
    """

    def __init__(self, store: GraphStore) -> None:
        if not isinstance(store, CypherReadable):
            raise BackendUnavailable(f"store {store!r} cannot run Cypher reads")
        self._store = store
        self._link_codes = link_code_map()

    def _rows(self, query: ReadQuery, params: Mapping[str, Any], cap: int) -> list[Row]:
        if cap <= 0:
            return []
        return list(self._store.run_read(query, params, cap=cap))

    def neighbour_rows(
        self,
        entity_id: int,
        link_types: Sequence[LinkType],
        after: tuple[int, int, str] | None,
        cap: int,
    ) -> list[Row]:
        """See ``NeighbourhoodBackend.neighbour_rows``."""
        after_type, after_id, after_direction = after if after is not None else (-1, -1, "")
        params = {
            "id": int(entity_id),
            "link_codes": self._link_codes,
            "after_type": after_type,
            "after_id": after_id,
            "after_direction": after_direction,
        }
        return self._rows(cypher.neighbour_rows(tuple(link_types)), params, cap)

    def identifier_uses(
        self, account_id: int, link_types: Sequence[LinkType], cap: int
    ) -> list[Row]:
        """See ``SharedIdentifierBackend.identifier_uses``."""
        params = {"id": int(account_id), "link_codes": self._link_codes}
        return self._rows(cypher.identifier_uses(tuple(link_types)), params, cap)

    def sharing_accounts(
        self,
        account_id: int,
        identifier_ids: I64,
        identifier_counts: I64,
        cap: int,
    ) -> list[Row]:
        """See ``SharedIdentifierBackend.sharing_accounts``."""
        if len(identifier_ids) == 0:
            return []
        params = {
            "id": int(account_id),
            "identifier_ids": _ids(identifier_ids),
            "identifier_counts": _ids(identifier_counts),
        }
        return self._rows(cypher.SHARING_ACCOUNTS, params, cap)

    def shared_pairs(self, account_ids: I64, identifier_ids: I64, cap: int) -> list[Row]:
        """See ``SharedIdentifierBackend.shared_pairs``."""
        if len(account_ids) == 0 or len(identifier_ids) == 0:
            return []
        params = {"account_ids": _ids(account_ids), "identifier_ids": _ids(identifier_ids)}
        return self._rows(cypher.SHARED_PAIRS, params, cap)

    def adjacent(self, ids: I64, link_types: Sequence[LinkType], cap: int) -> tuple[I64, I64]:
        """See ``PathBackend.adjacent``."""
        rows = self._rows(cypher.adjacent(tuple(link_types)), {"ids": _ids(ids)}, cap)
        pairs = np.asarray(rows, np.int64).reshape(-1, 2)
        return pairs[:, 0].copy(), pairs[:, 1].copy()

    def ring_links(self, member_ids: I64, cap: int) -> list[Row]:
        """See ``RingSubgraphBackend.ring_links``."""
        params = {"member_ids": _ids(member_ids), "link_codes": self._link_codes}
        return self._rows(cypher.RING_LINKS, params, cap)

    def account_counts(self, identifier_ids: I64) -> list[Row]:
        """See ``RingSubgraphBackend.account_counts``."""
        ids = _ids(identifier_ids)
        return self._rows(cypher.ACCOUNT_COUNTS, {"ids": ids}, len(ids))

    def transfer_rows(self, ids: I64, direction: Literal["out", "in"], cap: int) -> list[Row]:
        """See ``MoneyFlowBackend.transfer_rows``."""
        return self._rows(cypher.transfer_rows(direction), {"ids": _ids(ids)}, cap)

    def link_transfers(self, src: I64, dst: I64, cap: int) -> list[Row]:
        """See ``MoneyFlowBackend.link_transfers``.

        Neo4j holds the aggregated links only; the single transfers are read from the
        store's event files, like ``export_transfers`` on this backend.
        """
        timeout_s = float(getattr(self._store, "query_timeout_s", EMBEDDED_QUERY_TIMEOUT_S))
        return link_transfers(self._store, src, dst, cap, timeout_s=timeout_s)
