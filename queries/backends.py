"""The interface of each query family, and the choice of implementation for a store.

Each family (neighbourhood, shared identifiers, paths, ring subgraphs, money flow) is a
small protocol of *primitive reads*: bounded, ordered, capped row fetches that a backend
answers in its own language (SQL on DuckDB in :mod:`queries.embedded_backend`, Cypher on
Neo4j in :mod:`queries.cypher_backend`). The public query functions validate arguments,
call these primitives and assemble the typed results, so the assembly (ordering, cursors,
truncation, path tie-breaking) is one piece of code shared by both backends.

Rows are sequences of plain values; timestamps travel as integer microseconds since the
epoch (UTC) and types as their stored codes (``NODE_TYPE_CODE``, ``LINK_TYPE_CODE``).

The implementation is picked from ``store.backend`` and imported lazily, so a caller
never names a backend class.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, Final, Literal, Protocol, runtime_checkable

from graph_service.errors import BackendUnavailable
from graph_service.model import IDENTIFIER_TYPES, LINK_ENDPOINTS, LinkType
from graph_service.store import GraphStore
from graph_service.typing import I64

#: Every link type whose target is an identifier (everything but ``TRANSFERS_TO``).
IDENTIFIER_LINK_TYPES: Final[tuple[LinkType, ...]] = tuple(
    t for t, (_, target) in LINK_ENDPOINTS.items() if target in IDENTIFIER_TYPES
)

Row = Sequence[Any]

#: Column order of ``NeighbourhoodBackend.neighbour_rows``.
NEIGHBOUR_ROW: Final = (
    "link_type",
    "other_id",
    "direction",
    "other_type",
    "other_key",
    "n_events",
    "amount_sum",
    "first_us",
    "last_us",
)
#: Column order of ``SharedIdentifierBackend.identifier_uses``.
IDENTIFIER_USE_ROW: Final = ("id", "type", "key", "link_type", "account_count")
#: Column order of ``SharedIdentifierBackend.sharing_accounts``.
SHARING_ACCOUNT_ROW: Final = ("id", "type", "key", "n_shared", "rarest")
#: Column order of link rows (``RingSubgraphBackend.ring_links``).
LINK_ROW: Final = ("src", "dst", "type", "n_events", "amount_sum", "first_us", "last_us")
#: Column order of ``MoneyFlowBackend.transfer_rows`` (the type is always TRANSFERS_TO).
TRANSFER_ROW: Final = ("src", "dst", "n_events", "amount_sum", "first_us", "last_us")
#: Column order of ``MoneyFlowBackend.link_transfers``: one row per single transfer.
SINGLE_TRANSFER_ROW: Final = ("src", "dst", "ts_us", "amount")


class NeighbourhoodBackend(Protocol):
    """Reads behind :func:`queries.neighbourhood.neighbourhood`."""

    def neighbour_rows(
        self,
        entity_id: int,
        link_types: Sequence[LinkType],
        after: tuple[int, int, str] | None,
        cap: int,
    ) -> list[Row]:
        """Links of ``entity_id`` in both directions, as ``NEIGHBOUR_ROW`` rows.

        Parameters
        ----------
        entity_id : int
        link_types : sequence of LinkType
            Non-empty.
        after : (link type code, neighbour id, direction) or None
            Only rows strictly after this position.
        cap : int
            At most this many rows.

        Returns
        -------
        list of rows
            Ordered by link type code, neighbour id, direction (``"in"`` < ``"out"``).
        """
        ...


class SharedIdentifierBackend(Protocol):
    """Reads behind :func:`queries.shared_identifiers.shared_identifiers`."""

    def identifier_uses(
        self, account_id: int, link_types: Sequence[LinkType], cap: int
    ) -> list[Row]:
        """Identifiers the account links to by ``link_types``, as ``IDENTIFIER_USE_ROW``.

        ``account_count`` is the number of links into the identifier (one per account).
        At most ``cap`` rows, in no particular order.
        """
        ...

    def sharing_accounts(
        self,
        account_id: int,
        identifier_ids: I64,
        identifier_counts: I64,
        cap: int,
    ) -> list[Row]:
        """Accounts other than ``account_id`` linked to any of ``identifier_ids``.

        Rows are ``SHARING_ACCOUNT_ROW``: ``n_shared`` counts the identifiers linked,
        ``rarest`` is the smallest ``identifier_counts`` among them. Ordered by
        ``n_shared`` descending, ``rarest``, id; at most ``cap`` rows.
        """
        ...

    def shared_pairs(self, account_ids: I64, identifier_ids: I64, cap: int) -> list[Row]:
        """``(account_id, identifier_id)`` for every link from one set to the other."""
        ...


class PathBackend(Protocol):
    """Reads behind :func:`queries.paths.shortest_path`."""

    def adjacent(self, ids: I64, link_types: Sequence[LinkType], cap: int) -> tuple[I64, I64]:
        """Distinct undirected adjacencies ``(from, to)`` with ``from`` among ``ids``.

        Links of ``link_types`` in either direction count; at most ``cap`` pairs.
        """
        ...


class RingSubgraphBackend(Protocol):
    """Reads behind :func:`queries.ring_subgraph.ring_subgraph`."""

    def ring_links(self, member_ids: I64, cap: int) -> list[Row]:
        """Links of a ring, as ``LINK_ROW`` rows ordered by (src, dst, type code).

        The links from members to identifiers linked to two or more members, and the
        transfers between members; at most ``cap`` rows.
        """
        ...

    def account_counts(self, identifier_ids: I64) -> list[Row]:
        """``(identifier_id, links into it)`` for each of ``identifier_ids`` that exists."""
        ...


class MoneyFlowBackend(Protocol):
    """Reads behind :func:`queries.money_flow.money_flow`."""

    def transfer_rows(self, ids: I64, direction: Literal["out", "in"], cap: int) -> list[Row]:
        """``TRANSFERS_TO`` links leaving (``out``) or entering (``in``) any of ``ids``.

        Rows are ``TRANSFER_ROW`` ordered by (src, dst); at most ``cap`` rows.
        """
        ...

    def link_transfers(self, src: I64, dst: I64, cap: int) -> list[Row]:
        """The single transfers of the ``TRANSFERS_TO`` links ``src[i] -> dst[i]``.

        Rows are ``SINGLE_TRANSFER_ROW`` ordered by (src, dst, ts_us, amount); at most
        ``cap`` rows. Links that do not exist have no rows.
        """
        ...


@runtime_checkable
class RelationshipBackend(
    NeighbourhoodBackend,
    SharedIdentifierBackend,
    PathBackend,
    RingSubgraphBackend,
    MoneyFlowBackend,
    Protocol,
):
    """Every query family on one backend."""


#: ``store.backend`` -> ``"module:class"`` of its implementation, imported on first use.
IMPLEMENTATIONS: Final[dict[str, str]] = {
    "embedded": "queries.embedded_backend:EmbeddedRelationships",
    "neo4j": "queries.cypher_backend:CypherRelationships",
}


def backend_for(store: GraphStore) -> RelationshipBackend:
    """The query implementation for ``store``'s backend.

    Parameters
    ----------
    store : GraphStore
        An open store.

    Returns
    -------
    RelationshipBackend

    Raises
    ------
    BackendUnavailable
        If no implementation exists for the store's backend, or the store lacks the
        read capability it needs.

    Notes
    -----
    O(1) after the first call (the implementation module is imported once).
    """
    name = getattr(store, "backend", None)
    target = IMPLEMENTATIONS.get(name) if isinstance(name, str) else None
    if target is None:
        raise BackendUnavailable(
            f"no relationship queries for backend {name!r}; known: {sorted(IMPLEMENTATIONS)}"
        )
    module_name, _, class_name = target.partition(":")
    implementation: Any = getattr(importlib.import_module(module_name), class_name)
    backend: RelationshipBackend = implementation(store)
    return backend
