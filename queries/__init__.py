"""Relationship queries for investigators and the API, the same answers on every backend.

``queries`` owns the relationship queries over a :class:`~graph_service.GraphStore`:

* :func:`neighbourhood` -- an entity's neighbours by link type, paged with a cursor;
* :func:`shared_identifiers` -- the accounts sharing a device, IP, phone... with an account;
* :func:`shortest_path` -- a deterministic shortest path between two entities;
* :func:`ring_subgraph` -- a ring's members, the identifiers they share and the links;
* :func:`money_flow` -- ``TRANSFERS_TO`` links around an account, hop by hop, optionally
  along time-respecting paths only (money moves on after it arrived);
* :func:`ring_flow` -- a ring's money in, out, within, retained, and its longest
  time-respecting chain of internal transfers.

Each query family has an interface (:mod:`queries.backends`), a Cypher implementation
(:mod:`queries.cypher_backend`, statements in :mod:`queries.cypher`) and an embedded one
(:mod:`queries.embedded_backend`); the one matching the store is picked for the caller.
Every query is capped (:mod:`queries.limits`): hitting a cap is reported as
``truncated`` or refused with ``LimitExceeded``, never silent. Results are frozen
dataclasses (:mod:`queries.results`). The package holds no state.
"""

from queries.money_flow import money_flow
from queries.neighbourhood import neighbourhood
from queries.paths import shortest_path
from queries.results import (
    EntityPath,
    EntityRef,
    FlowLink,
    IdentifierUse,
    Link,
    MoneyFlow,
    NeighbourhoodPage,
    NeighbourLink,
    RingFlow,
    RingIdentifier,
    RingSubgraph,
    SharedIdentifiers,
    SharingAccount,
    to_json_ready,
)
from queries.ring_flow import ring_flow
from queries.ring_subgraph import resolve_ring_members, ring_member_ids, ring_subgraph
from queries.shared_identifiers import shared_identifiers

__all__ = [
    "EntityPath",
    "EntityRef",
    "FlowLink",
    "IdentifierUse",
    "Link",
    "MoneyFlow",
    "NeighbourLink",
    "NeighbourhoodPage",
    "RingFlow",
    "RingIdentifier",
    "RingSubgraph",
    "SharedIdentifiers",
    "SharingAccount",
    "money_flow",
    "neighbourhood",
    "resolve_ring_members",
    "ring_flow",
    "ring_member_ids",
    "ring_subgraph",
    "shared_identifiers",
    "shortest_path",
    "to_json_ready",
]
