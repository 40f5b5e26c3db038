"""Compressed sparse row form of the graph, built from the Arrow exports of any backend."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import scipy.sparse as sp


@dataclass(frozen=True, slots=True)
class CSRGraph:
    """An undirected view of the entity graph in CSR arrays.

    Every stored link ``src -> dst`` appears twice: in the row of ``src`` and in the row of
    ``dst``; ``direction`` tells which (1 = stored direction, 0 = reverse).

    Attributes
    ----------
    indptr : ndarray of int64, shape (n_nodes + 1,)
    indices : ndarray of int64, shape (2 * n_links,)
        Neighbour ids; row ``i`` is ``indices[indptr[i]:indptr[i + 1]]``.
    link_type : ndarray of uint8, shape (2 * n_links,)
        Link type code of each adjacency entry.
    n_events : ndarray of int64, shape (2 * n_links,)
    direction : ndarray of uint8, shape (2 * n_links,)
    node_type : ndarray of uint8, shape (n_nodes,)
    """

    indptr: np.ndarray
    indices: np.ndarray
    link_type: np.ndarray
    n_events: np.ndarray
    direction: np.ndarray
    node_type: np.ndarray

    @property
    def n_nodes(self) -> int:
        """Number of nodes (rows)."""
        return int(self.node_type.shape[0])

    @property
    def n_links(self) -> int:
        """Number of stored (directed) links; each appears twice in the adjacency."""
        return int(self.indices.shape[0] // 2)

    def degree(self) -> np.ndarray:
        """Undirected degree of every node, shape ``(n_nodes,)``."""
        return np.diff(self.indptr)

    def neighbours(self, node: int) -> np.ndarray:
        """Neighbour ids of ``node`` (with repeats when several link types join them)."""
        return self.indices[self.indptr[node] : self.indptr[node + 1]]

    def to_scipy(self) -> sp.csr_matrix:
        """A scipy CSR adjacency with ``n_events`` as weights, shape ``(n, n)``."""
        return sp.csr_matrix(
            (self.n_events.astype(np.float64), self.indices, self.indptr),
            shape=(self.n_nodes, self.n_nodes),
        )


def build_csr(node_type: np.ndarray, links: pa.Table) -> CSRGraph:
    """Build the undirected CSR of a graph from its link export.

    Parameters
    ----------
    node_type : ndarray of uint8, shape (n_nodes,)
        Type code of every node id ``0..n_nodes-1``.
    links : pa.Table
        Links in ``LINK_EXPORT_SCHEMA`` (``src, dst, type, n_events`` are used).

    Returns
    -------
    CSRGraph

    Notes
    -----
    O(n_nodes + n_links) time and memory, one counting sort, no Python loop.

    Examples
    --------
    >>> import pyarrow as pa, numpy as np
    >>> t = pa.table({"src": [0], "dst": [1], "type": pa.array([0], pa.uint8()), "n_events": [3]})
    >>> g = build_csr(np.zeros(2, np.uint8), t)
    >>> g.neighbours(1).tolist()
    [0]
    """
    n = int(node_type.shape[0])
    src = links.column("src").to_numpy().astype(np.int64, copy=False)
    dst = links.column("dst").to_numpy().astype(np.int64, copy=False)
    ltype = links.column("type").to_numpy().astype(np.uint8, copy=False)
    events = links.column("n_events").to_numpy().astype(np.int64, copy=False)
    rows = np.concatenate([src, dst])
    cols = np.concatenate([dst, src])
    order = np.argsort(rows, kind="stable")
    counts = np.bincount(rows, minlength=n) if rows.size else np.zeros(n, np.int64)
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    direction = np.concatenate([np.ones(src.shape[0], np.uint8), np.zeros(src.shape[0], np.uint8)])
    return CSRGraph(
        indptr=indptr,
        indices=cols[order],
        link_type=np.concatenate([ltype, ltype])[order],
        n_events=np.concatenate([events, events])[order],
        direction=direction[order],
        node_type=np.asarray(node_type, np.uint8),
    )
