"""A shortest path between two entities, the same one on every backend.

The search is a bidirectional breadth-first search over the undirected entity graph
(accounts and identifiers alike), run here over capped neighbour expansions that each
backend answers (:meth:`~queries.backends.PathBackend.adjacent`). Each expansion takes
a whole level and keeps every edge into the new level, so the search knows *all*
shortest paths when the two sides meet, and returns the one whose sequence of entity
ids is lexicographically smallest. Neo4j's ``shortestPath`` picks an arbitrary one,
which is why the search does not use it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from graph_service.errors import EntityNotFound, InvalidInput, LimitExceeded
from graph_service.model import LINK_TYPE_CODE, LinkType, NodeType
from graph_service.store import GraphStore
from graph_service.typing import I64
from queries.backends import PathBackend, backend_for
from queries.limits import (
    DEFAULT_PATH_EXPANSION,
    MAX_PATH_EXPANSION,
    MAX_PATH_HOPS,
    checked_limit,
    checked_range,
    parse_key,
    parse_link_types,
    parse_node_type,
)
from queries.results import EntityPath, EntityRef, Link

log = logging.getLogger(__name__)

#: An entity named by type and key, e.g. ``("Account", "A1")``.
EntityName = tuple[NodeType | str, str]


@dataclass(slots=True)
class _Frontier:
    """One side of the search: its levels and the edges between consecutive levels."""

    levels: list[I64]
    seen: I64
    #: ``edges[i]`` = (from, to) arrays, ``from`` in ``levels[i]``, ``to`` in ``levels[i + 1]``.
    edges: list[tuple[I64, I64]] = field(default_factory=list)

    @classmethod
    def start(cls, entity_id: int) -> _Frontier:
        first = np.array([entity_id], np.int64)
        return cls(levels=[first], seen=first)

    @property
    def depth(self) -> int:
        return len(self.levels) - 1


def shortest_path(
    store: GraphStore,
    from_: EntityName,
    to: EntityName,
    *,
    max_hops: int = 4,
    link_types: Sequence[LinkType | str] | None = None,
    max_expansion: int = DEFAULT_PATH_EXPANSION,
) -> EntityPath | None:
    """A shortest path between two entities within ``max_hops``, or ``None``.

    Parameters
    ----------
    store : GraphStore
        Any backend.
    from_, to : (NodeType or str, str)
        The two entities, as ``(type, normalised key)``.
    max_hops : int
        Longest path considered, from 1 to :data:`~queries.limits.MAX_PATH_HOPS`.
    link_types : sequence of LinkType or str, optional
        Only traverse these link types; all by default.
    max_expansion : int
        Most adjacencies the search may read, all levels together (super nodes such as
        a carrier-NAT IP expand to many).

    Returns
    -------
    EntityPath or None
        Among all shortest paths, the one whose sequence of entity ids is
        lexicographically smallest (the same on every backend); a one-node path when
        both ends are the same entity; ``None`` if no path of at most ``max_hops``
        exists.

    Raises
    ------
    InvalidInput
        On a malformed entity name, an unknown type, or ``max_hops`` outside
        ``[1, MAX_PATH_HOPS]``.
    LimitExceeded
        If ``max_expansion`` is above its cap, or the search needs more adjacencies
        than ``max_expansion``.
    EntityNotFound
        If either entity does not exist.

    Examples
    --------
    >>> path = shortest_path(store, ("Account", "A1"), ("Account", "A3"))  # doctest: +SKIP
    >>> [n.key for n in path.nodes]  # doctest: +SKIP
    ['A1', 'D1', 'A3']

    Notes
    -----
    At most ``max_hops`` capped reads (one per level, expanding the smaller side),
    plus one ``subgraph`` read for the links of the path. Work is proportional to the
    adjacencies read, bounded by ``max_expansion``; set operations are vectorised.
    """
    hops = checked_range(max_hops, 1, MAX_PATH_HOPS, "max_hops")
    types = parse_link_types(link_types)
    budget = checked_limit(max_expansion, MAX_PATH_EXPANSION, "max_expansion")
    source = _resolve(store, from_, "from_")
    target = _resolve(store, to, "to")
    if source.id == target.id:
        return EntityPath(nodes=(source,), hops=())
    ids = _search(backend_for(store), source.id, target.id, types, hops, budget)
    if ids is None:
        return None
    nodes = {e.id: EntityRef.of(e) for e in store.get_entities(ids)}
    if len(nodes) != len(set(ids)):
        raise EntityNotFound("an entity on the path disappeared while it was read")
    links = _links_between(store, ids, types)
    log.debug("shortest path", extra={"from": source.id, "to": target.id, "hops": len(ids) - 1})
    return EntityPath(nodes=tuple(nodes[i] for i in ids), hops=links)


def _resolve(store: GraphStore, name: EntityName, what: str) -> EntityRef:
    if not isinstance(name, (tuple, list)) or len(name) != 2:
        raise InvalidInput(f"{what} must be a (node type, key) pair, got {name!r}")
    node_type = parse_node_type(name[0])
    key = parse_key(name[1], f"{what} key")
    return EntityRef.of(store.get_entity(node_type, key))


def _search(
    backend: PathBackend,
    source: int,
    target: int,
    link_types: Sequence[LinkType],
    max_hops: int,
    budget: int,
) -> list[int] | None:
    """Ids of the lexicographically smallest shortest path, or ``None`` within ``max_hops``."""
    forward, backward = _Frontier.start(source), _Frontier.start(target)
    left = budget
    while forward.depth + backward.depth < max_hops:
        # Expand the smaller frontier (ties: the forward side); the answer does not
        # depend on this choice, only the work does.
        side, other = (
            (forward, backward)
            if len(forward.levels[-1]) <= len(backward.levels[-1])
            else (backward, forward)
        )
        src, dst = backend.adjacent(side.levels[-1], link_types, left + 1)
        if len(src) > left:
            raise LimitExceeded(
                f"the path search needs more than {budget} adjacencies (a super node such as "
                "a shared IP is in the way); narrow link_types or lower max_hops"
            )
        left -= len(src)
        new = ~np.isin(dst, side.seen)
        src, dst = src[new], dst[new]
        level = np.unique(dst)
        if level.size == 0:
            return None
        side.edges.append((src, dst))
        side.levels.append(level)
        side.seen = np.union1d(side.seen, level)
        # Until now no node was on both sides, so the new level can only meet the other
        # side's newest level, and every shortest path crosses it there.
        meeting = np.intersect1d(level, other.levels[-1])
        if meeting.size:
            return _smallest_path(forward, backward, meeting)
    return None


def _smallest_path(forward: _Frontier, backward: _Frontier, meeting: I64) -> list[int]:
    """The lexicographically smallest id sequence among the shortest paths found.

    Nodes of the forward levels that lead to ``meeting`` are marked first (walking the
    level edges backwards); the path is then built greedily, taking the smallest marked
    neighbour at each forward step and the smallest neighbour one level closer to the
    target on the backward side, every one of which reaches the target.
    """
    useful: list[I64] = [np.empty(0, np.int64)] * (forward.depth + 1)
    useful[forward.depth] = meeting
    for i in range(forward.depth - 1, -1, -1):
        src, dst = forward.edges[i]
        useful[i] = np.unique(src[np.isin(dst, useful[i + 1])])
    path = [int(forward.levels[0][0])]
    for i in range(forward.depth):
        src, dst = forward.edges[i]
        options = dst[(src == path[-1]) & np.isin(dst, useful[i + 1])]
        path.append(int(options.min()))
    for j in range(backward.depth - 1, -1, -1):
        src, dst = backward.edges[j]
        path.append(int(src[dst == path[-1]].min()))
    return path


def _links_between(
    store: GraphStore, ids: list[int], link_types: Sequence[LinkType]
) -> tuple[tuple[Link, ...], ...]:
    """For each consecutive pair of ``ids``, the links of ``link_types`` between them."""
    links_table = store.subgraph(ids).links
    columns = [
        links_table.column(name).cast(pa.int64()).to_pylist()
        if pa.types.is_timestamp(links_table.schema.field(name).type)
        else links_table.column(name).to_pylist()
        for name in ("src", "dst", "type", "n_events", "amount_sum", "first_ts", "last_ts")
    ]
    allowed = {LINK_TYPE_CODE[t] for t in link_types}
    by_pair: dict[frozenset[int], list[Link]] = {}
    for row in zip(*columns, strict=True):
        if row[2] in allowed:
            link = Link.from_row(row)
            by_pair.setdefault(frozenset((link.src, link.dst)), []).append(link)
    hops = []
    for a, b in itertools.pairwise(ids):
        links = by_pair.get(frozenset((a, b)), [])
        hops.append(tuple(sorted(links, key=lambda k: (LINK_TYPE_CODE[k.type], k.src))))
    return tuple(hops)
