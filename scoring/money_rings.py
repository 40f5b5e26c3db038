"""Money rings joined by money passed on: the pieces of one laundering network.

A network of mules feeding layered collectors is a tree, and community detection cuts
trees at their hubs, so one network comes out as several rings, each significant on its
own (:func:`joined_by_money` finds them); :func:`with_joined_money_rings` tests each
joined network again as one ring, beside every other candidate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from graph_service.typing import I64
from scoring.flow_rings import FlowPattern
from scoring.projection import AccountProjection
from scoring.typology import told_typology

__all__ = ["MONEY_TYPOLOGIES", "joined_by_money", "with_joined_money_rings"]

#: Typologies of the rings money makes: those :func:`joined_by_money` may join.
MONEY_TYPOLOGIES: Final = frozenset({"mule_network", *(p.value for p in FlowPattern)})


def _member_rows(rings: pa.Table, accounts: I64) -> tuple[I64, I64]:
    """The ring (row of ``rings``) and the account row (into ``accounts``) of every member."""
    members = rings.column("members").combine_chunks()
    sizes = np.asarray(pc.list_value_length(members).to_numpy(), np.int64)
    ring = np.repeat(np.arange(rings.num_rows), sizes)
    rows = np.searchsorted(accounts, pc.list_flatten(members).to_numpy())
    return ring, rows


def joined_by_money(rings: pa.Table, projection: AccountProjection) -> np.ndarray:
    """Money rings that money passed on joins: the pieces of one laundering network.

    A network of mules feeding layered collectors is a tree, and community detection cuts
    trees at their hubs, so one network comes out as several rings, each significant on
    its own. Two significant rings (``score >= 0.5``) whose strongest evidence is money
    passed on (typology ``mule_network``, or a shape of money of
    :class:`~scoring.flow_rings.FlowPattern` whose strongest evidence is that: the
    collectors of one network are each a fan of its mules) are joined when a member of one passes money
    on to a member of the other (a passed-on link between unrelated accounts, see
    :mod:`scoring.pass_through`). Rings read as any other typology are never joined:
    a takeover crew paying out to its mules stays a ring of its own.

    Parameters
    ----------
    rings : pa.Table
        :func:`score_candidates` output (``members``, ``score``, ``typology``).
    projection : AccountProjection

    Returns
    -------
    ndarray of int64, shape (rings.num_rows,)
        For each ring, the number of the joined group it belongs to, or -1 when it is
        joined to no other ring.

    Notes
    -----
    O(t + r log r) for t money links and r ring members.
    """
    k = rings.num_rows
    joined = np.full(k, -1, np.int64)
    if k < 2:
        return joined
    typology = np.asarray(rings.column("typology").to_pylist(), dtype=object)
    money = (typology == "mule_network") | (
        np.isin(typology, list(MONEY_TYPOLOGIES))
        & (np.asarray(told_typology(rings), dtype=object) == "mule_network")
    )
    eligible = money & (rings.column("score").to_numpy() >= 0.5)
    if eligible.sum() < 2:
        return joined
    group, rows = _member_rows(rings, projection.accounts)
    owner = np.full(projection.accounts.shape[0], -1, np.int64)
    owner[rows[eligible[group]]] = group[eligible[group]]
    flow = projection.money_flow
    passed = flow.passed_on & ~flow.related
    a = owner[np.searchsorted(projection.accounts, flow.src[passed])]
    b = owner[np.searchsorted(projection.accounts, flow.dst[passed])]
    tie = (a >= 0) & (b >= 0) & (a != b)
    if not tie.any():
        return joined
    graph = sp.coo_matrix((np.ones(int(tie.sum())), (a[tie], b[tie])), shape=(k, k))
    _, component = connected_components(graph, directed=False)
    count = np.bincount(component, minlength=k)
    together = count[component] >= 2
    joined[together] = np.unique(component[together], return_inverse=True)[1]
    return joined


def with_joined_money_rings(
    rings: pa.Table,
    groups: np.ndarray,
    projection: AccountProjection,
    score: Callable[[np.ndarray], pa.Table],
) -> pa.Table:
    """``rings`` with the money rings that money passed on joins (see
    :func:`joined_by_money`) made one candidate each.

    ``groups`` is the per-account candidate label the rings were scored from (-1: none)
    and ``score`` scores such a labelling, as the first pass did. The candidates of the
    joined rings (and their members) are relabelled as one and every candidate is scored
    again together, so the intra-group correlation and the correction for the candidates
    tested are the first pass's. A joined ring that scores below 0.5 is not joined (its
    pieces stay as they were).
    """
    joined = joined_by_money(rings, projection)
    base = int(max(groups.max(initial=-1), pc.max(rings.column("candidate")).as_py())) + 1
    ring, rows = _member_rows(rings, projection.accounts)
    while (joined >= 0).any():
        inside = joined[ring] >= 0
        label = groups.copy()
        old = groups[rows[inside]]
        new = base + joined[ring[inside]]
        known = old >= 0
        lookup = dict(zip(old[known].tolist(), new[known].tolist(), strict=True))
        if lookup:
            moved = np.isin(groups, np.fromiter(lookup, np.int64))
            label[moved] = [lookup[g] for g in groups[moved].tolist()]
        label[rows[inside]] = new
        again = score(label)
        candidate = again.column("candidate").to_numpy()
        low = candidate[again.column("score").to_numpy() < 0.5]
        weak = np.isin(joined + base, low) & (joined >= 0)
        if not weak.any():
            return again
        joined[weak] = -1
    return rings
