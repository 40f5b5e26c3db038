"""Graph signals over the account projection: components, communities, ranks, propagation,
triangles and money-flow structure.

Components, communities and PageRank run through ``store.algorithms()`` (the embedded
engine or GDS) on the projection's :class:`~graph_service.algorithms.EdgeListProjection`.
Fraud-seeded propagation, triangles and the money-flow signals are computed here with
scipy on the same arrays, so they are identical whichever backend holds the data.

Fraud-seeded propagation is a personalised PageRank whose restart distribution is spread
over known-fraud accounts. A seed's own label must not feed its own score (that would
leak the training label into a feature), so seeds are split into ``folds`` groups by a
seeded hash and every seed is scored by the run that restarts only on the *other* groups;
accounts that are not seeds are scored by the run over all seeds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from graph_service.algorithms import EdgeListProjection, GraphAlgorithms
from graph_service.errors import InvalidInput
from scoring.projection import AccountProjection

log = logging.getLogger(__name__)

#: Rows of the triangle count materialised at once are bounded by about this many 2-paths.
TRIANGLE_BLOCK_ENTRIES: Final = 1 << 22


class CommunityMethod(StrEnum):
    """Community detection algorithm on the weighted projection."""

    LEIDEN = "leiden"
    LOUVAIN = "louvain"


@dataclass(frozen=True, slots=True)
class GraphSignals:
    """Per-account graph signals, aligned with ``AccountProjection.accounts``.

    Attributes
    ----------
    accounts : ndarray of int64, shape (n,)
    component : ndarray of int64, shape (n,)
        Weakly connected component (smallest account id in it).
    community : ndarray of int64, shape (n,)
        Leiden/Louvain community (smallest account id in it) at the first resolution.
    community_levels : tuple of ndarray of int64, each shape (n,)
        The communities at every resolution asked for, coarsest first (the first is
        ``community``). Rings come in every size, and no one resolution cuts them all out.
    pagerank : ndarray of float64, shape (n,)
        Weighted PageRank on the projection (GDS scaling: isolated nodes get 0.15).
    seeded_score : ndarray of float64, shape (n,)
        Fraud-seeded personalised PageRank, scaled so that the mean over all accounts is 1
        (0 when there are no seeds); a seed's own label never feeds its own score.
    triangles : ndarray of int64, shape (n,)
        Triangles through the account in the projection.
    clustering : ndarray of float64, shape (n,)
        Local clustering coefficient (0 below two neighbours).
    in_cycle : ndarray of bool, shape (n,)
        Whether the account lies on a directed money-flow cycle.
    cycle_size : ndarray of int64, shape (n,)
        Size of the account's strongly connected transfer component (1 when none).
    fan_in, fan_out : ndarray of int64, shape (n,)
        Distinct payers / payees.
    amount_in, amount_out : ndarray of float64, shape (n,)
    """

    accounts: np.ndarray
    component: np.ndarray
    community: np.ndarray
    community_levels: tuple[np.ndarray, ...]
    pagerank: np.ndarray
    seeded_score: np.ndarray
    triangles: np.ndarray
    clustering: np.ndarray
    in_cycle: np.ndarray
    cycle_size: np.ndarray
    fan_in: np.ndarray
    fan_out: np.ndarray
    amount_in: np.ndarray
    amount_out: np.ndarray


def compute_graph_signals(
    projection: AccountProjection,
    algorithms: GraphAlgorithms,
    fraud_seeds: np.ndarray,
    *,
    method: CommunityMethod = CommunityMethod.LEIDEN,
    seed: int = 42,
    resolution: float | Sequence[float] = 1.0,
    damping: float = 0.85,
    folds: int = 5,
    community_min_weight: float = 0.0,
    max_levels: Sequence[int] = (10,),
) -> GraphSignals:
    """Run every graph signal on the projection.

    Parameters
    ----------
    projection : AccountProjection
    algorithms : GraphAlgorithms
        ``store.algorithms()``.
    fraud_seeds : ndarray of int64
        Store ids of known-fraud accounts (ids not among the accounts are ignored).
    method : CommunityMethod
        Leiden (default) or Louvain.
    seed : int
        Seed of community detection and of the seed folds; reruns on unchanged data give
        the same communities and scores.
    resolution : float or sequence of float
        Leiden resolution, or several (coarsest first): one community detection per
        resolution (Louvain runs once, without one).
    damping : float
        Damping of PageRank and of the seeded propagation.
    folds : int
        Seed groups of the leave-group-out propagation (>= 2).
    community_min_weight : float
        Community detection sees only edges at least this heavy (every account stays a
        node): the many faint ties (one common mid-popular merchant or IP) carry no ring
        evidence but dominate the edge count, hence the cost of Leiden/Louvain.
    max_levels : sequence of int
        Leiden's refinement passes per resolution (the last value repeats).

    Returns
    -------
    GraphSignals

    Raises
    ------
    InvalidInput
        On ``folds < 2`` or a damping outside [0, 1).

    Notes
    -----
    O((folds + 1) * iterations * (n + m)) for propagation, O(n + m) for components,
    cycles and fans, O(sum of squared degrees) for triangles (bounded memory), plus the
    engine's community detection.
    """
    if folds < 2:
        raise InvalidInput("folds must be >= 2")
    if not 0.0 <= damping < 1.0:
        raise InvalidInput("damping must be in [0, 1)")
    accounts = projection.accounts
    graph = projection.as_edge_list()
    component = _aligned(algorithms.wcc(graph), "component", accounts)
    strong = projection.weight >= community_min_weight
    community_graph = EdgeListProjection(
        nodes=accounts,
        src=projection.src[strong],
        dst=projection.dst[strong],
        weight=projection.weight[strong],
    )
    # The resolution is meant for the whole graph; on the lighter graph the same local
    # structure meets a smaller null model, so it is scaled by the weight kept.
    total = float(projection.weight.sum())
    resolutions = [resolution] if isinstance(resolution, float | int) else list(resolution)
    if method == CommunityMethod.LEIDEN:
        levels = _nested_leiden(
            community_graph, algorithms, resolutions, total, seed, tuple(max_levels)
        )
    else:
        levels = (_aligned(algorithms.louvain(community_graph, seed=seed), "community", accounts),)
    pagerank = _aligned(algorithms.pagerank(graph, damping=damping), "score", accounts).astype(
        np.float64
    )
    adjacency = weighted_adjacency(projection)
    seeded = seeded_propagation(
        adjacency, accounts, fraud_seeds, damping=damping, folds=folds, seed=seed
    )
    triangles, clustering = triangles_and_clustering(adjacency)
    flow = money_flow_signals(projection)
    return GraphSignals(
        accounts=accounts,
        component=component,
        community=levels[0],
        community_levels=levels,
        pagerank=pagerank,
        seeded_score=seeded,
        triangles=triangles,
        clustering=clustering,
        **flow,
    )


def _nested_leiden(
    graph: EdgeListProjection,
    algorithms: GraphAlgorithms,
    resolutions: Sequence[float],
    total_weight: float,
    seed: int,
    max_levels: Sequence[int],
) -> tuple[np.ndarray, ...]:
    """Leiden at the first resolution, then each finer level inside the communities of the
    one before: only the edges within a community are kept, so a finer community never
    crosses a coarser one and each level works on a smaller graph.

    Each level's resolution is scaled by the share of the total weight its graph keeps
    (the null model shrinks with it, as for the light edges left out).
    """
    accounts = np.asarray(graph.nodes)
    src, dst = graph.src, graph.dst
    weight = graph.weight if graph.weight is not None else np.ones(src.shape[0])
    levels: list[np.ndarray] = []
    for resolution in resolutions:
        if levels:
            u = np.searchsorted(accounts, src)
            v = np.searchsorted(accounts, dst)
            inside = levels[-1][u] == levels[-1][v]
            src, dst, weight = src[inside], dst[inside], weight[inside]
        kept = float(weight.sum()) / total_weight if total_weight > 0 else 1.0
        level_graph = EdgeListProjection(nodes=accounts, src=src, dst=dst, weight=weight)
        table = algorithms.leiden(
            level_graph,
            seed=seed,
            resolution=max(resolution * kept, 1e-3),
            max_levels=max_levels[min(len(levels), len(max_levels) - 1)],
        )
        levels.append(_aligned(table, "community", accounts))
    return tuple(levels)


def _aligned(table: pa.Table, column: str, accounts: np.ndarray) -> np.ndarray:
    """Values of ``column`` re-ordered to ``accounts`` (every account must be present)."""
    ids = table.column("id").to_numpy()
    values = table.column(column).to_numpy()
    order = np.argsort(ids, kind="stable")
    ordered = ids[order]
    positions = np.minimum(np.searchsorted(ordered, accounts), max(ordered.shape[0] - 1, 0))
    if ordered.shape[0] == 0 or not np.array_equal(ordered[positions], accounts):
        if accounts.shape[0] == 0:
            return np.zeros(0, values.dtype)
        raise InvalidInput(f"the engine's {column} result does not cover every account")
    return np.asarray(values[order][positions])


def weighted_adjacency(projection: AccountProjection) -> sp.csr_array:
    """Symmetric weighted CSR of the projection over ``accounts`` positions.

    Notes
    -----
    O(n + m log(m / n)).
    """
    n = int(projection.accounts.shape[0])
    u = projection.src_row
    v = projection.dst_row
    rows, cols = np.concatenate([u, v]), np.concatenate([v, u])
    weights = np.concatenate([projection.weight, projection.weight])
    return sp.csr_array((weights, (rows, cols)), shape=(n, n))


def personalised_pagerank(
    adjacency: sp.csr_array,
    restart: np.ndarray,
    *,
    damping: float = 0.85,
    max_iterations: int = 30,
    tolerance: float = 1e-6,
) -> np.ndarray:
    """Personalised PageRank by power iteration, several restart vectors at once.

    ``x = (1 - d) r + d P^T x`` with ``P`` the row-normalised weighted adjacency; the mass
    of nodes without edges returns to the restart distribution, so each column sums to 1.

    Parameters
    ----------
    adjacency : csr_array, shape (n, n)
        Symmetric, non-negative weights.
    restart : ndarray of float64, shape (n, c)
        Restart distributions, one per column, each summing to 1.
    damping : float
    max_iterations : int
        30 by default: the error after ``t`` steps is at most ``2 * damping ** t``
        (about 0.015 in L1), far below the differences that rank accounts.
    tolerance : float
        Stop when the L1 change of every column is below this.

    Returns
    -------
    ndarray of float64, shape (n, c)

    Notes
    -----
    O(max_iterations * c * (n + m)).
    """
    degree = np.asarray(adjacency.sum(axis=1)).reshape(-1)
    inverse = np.divide(1.0, degree, out=np.zeros_like(degree), where=degree > 0)
    dangling = degree == 0
    scores = restart.copy()
    for _ in range(max_iterations):
        spread = adjacency @ (scores * inverse[:, None])
        lost = scores[dangling].sum(axis=0)
        updated = (1 - damping) * restart + damping * (spread + restart * lost[None, :])
        change = np.abs(updated - scores).sum(axis=0).max() if scores.size else 0.0
        scores = updated
        if change < tolerance:
            break
    return np.asarray(scores)


def seed_folds(seeds: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold of every seed id: a seeded hash of the id, so the split is stable across runs.

    Parameters
    ----------
    seeds : ndarray of int64
    folds : int
    seed : int

    Returns
    -------
    ndarray of int64, values in ``[0, folds)``

    Notes
    -----
    O(len(seeds)).
    """
    mixed = (seeds.astype(np.uint64) + np.uint64(seed)) * np.uint64(0x9E3779B97F4A7C15)
    mixed ^= mixed >> np.uint64(29)
    return (mixed % np.uint64(folds)).astype(np.int64)


def seeded_propagation(
    adjacency: sp.csr_array,
    accounts: np.ndarray,
    fraud_seeds: np.ndarray,
    *,
    damping: float = 0.85,
    folds: int = 5,
    seed: int = 42,
) -> np.ndarray:
    """Fraud-seeded personalised PageRank without a seed's label feeding its own score.

    Parameters
    ----------
    adjacency : csr_array, shape (n, n)
    accounts : ndarray of int64, shape (n,)
        Store ids of the rows.
    fraud_seeds : ndarray of int64
        Known-fraud store ids.
    damping : float
    folds : int
    seed : int

    Returns
    -------
    ndarray of float64, shape (n,)
        Scaled by ``n`` (mean 1 over accounts for one restart run); zeros with no seeds.

    Notes
    -----
    One power iteration with ``folds + 1`` restart columns; see :func:`personalised_pagerank`.
    """
    n = int(accounts.shape[0])
    seeds = np.unique(fraud_seeds[np.isin(fraud_seeds, accounts)])
    if seeds.size == 0 or n == 0:
        return np.zeros(n)
    positions = np.searchsorted(accounts, seeds)
    fold = seed_folds(seeds, folds, seed)
    restart = np.zeros((n, folds + 1))
    restart[positions, folds] = 1.0 / seeds.size
    for f in range(folds):
        others = positions[fold != f]
        if others.size:
            restart[others, f] = 1.0 / others.size
    scores = personalised_pagerank(adjacency, restart, damping=damping)
    result = scores[:, folds].copy()
    held_out = scores[positions, fold]
    # A fold with no other seed has nothing to propagate: its seeds score 0.
    has_others = seeds.size - np.bincount(fold, minlength=folds) > 0
    held_out = np.where(has_others[fold], held_out, 0.0)
    result[positions] = held_out
    return result * n


def triangles_and_clustering(
    adjacency: sp.csr_array, *, block_entries: int = TRIANGLE_BLOCK_ENTRIES
) -> tuple[np.ndarray, np.ndarray]:
    """Triangles through every node and its local clustering coefficient (unweighted).

    Parameters
    ----------
    adjacency : csr_array, shape (n, n)
        Symmetric; only the structure is used.
    block_entries : int
        Rows are processed in blocks of about this many 2-paths.

    Returns
    -------
    triangles : ndarray of int64, shape (n,)
    clustering : ndarray of float64, shape (n,)
        ``2 T / (d (d - 1))``, 0 where ``d < 2``.

    Notes
    -----
    O(sum of squared degrees) time, O(block_entries + n + m) memory.
    """
    n = int(adjacency.shape[0])
    structure = sp.csr_array(
        (np.ones(adjacency.nnz), adjacency.indices, adjacency.indptr), shape=adjacency.shape
    )
    structure.setdiag(0)
    structure.eliminate_zeros()
    degree = np.diff(structure.indptr).astype(np.float64)
    paths = np.cumsum(np.asarray(structure @ degree, np.float64))
    total = float(paths[-1]) if n else 0.0
    marks = np.arange(1, int(total // block_entries) + 1, dtype=np.float64) * block_entries
    bounds = np.unique(
        np.concatenate([[0], np.searchsorted(paths, marks, side="right"), [n]]).astype(np.int64)
    )
    triangles = np.zeros(n, np.int64)
    for start, stop in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        block = structure[start:stop]
        closed = (block @ structure).multiply(block)
        triangles[start:stop] = np.asarray(closed.sum(axis=1)).reshape(-1).astype(np.int64) // 2
    pairs = degree * (degree - 1)
    clustering = np.divide(2.0 * triangles, pairs, out=np.zeros(n), where=pairs > 0)
    return triangles, clustering


def money_flow_signals(projection: AccountProjection) -> dict[str, np.ndarray]:
    """Cycle membership, fan-in/out and amounts in/out from the directed transfers.

    Parameters
    ----------
    projection : AccountProjection

    Returns
    -------
    dict
        ``in_cycle``, ``cycle_size``, ``fan_in``, ``fan_out``, ``amount_in``,
        ``amount_out``, each aligned with ``projection.accounts``.

    Notes
    -----
    O(n + t) with scipy's strongly connected components (Pearce's algorithm).
    """
    accounts = projection.accounts
    n = int(accounts.shape[0])
    flow = projection.money_flow
    payer = np.searchsorted(accounts, flow.src)
    payee = np.searchsorted(accounts, flow.dst)
    directed = sp.csr_array((np.ones(payer.shape[0]), (payer, payee)), shape=(n, n))
    _, labels = connected_components(directed, directed=True, connection="strong")
    sizes = np.bincount(labels, minlength=int(labels.max()) + 1 if n else 0)
    cycle_size = sizes[labels].astype(np.int64) if n else np.zeros(0, np.int64)
    return {
        "in_cycle": cycle_size >= 2,
        "cycle_size": cycle_size,
        "fan_in": np.bincount(payee, minlength=n).astype(np.int64),
        "fan_out": np.bincount(payer, minlength=n).astype(np.int64),
        "amount_in": np.bincount(payee, weights=flow.amount, minlength=n),
        "amount_out": np.bincount(payer, weights=flow.amount, minlength=n),
    }
