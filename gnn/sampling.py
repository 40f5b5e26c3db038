"""Fixed fan-out, time-respecting neighbour sampling for mini-batches, in plain torch.

PyG's ``NeighborLoader`` needs the compiled ``pyg-lib`` or ``torch-sparse`` sampler, and
its temporal mode filters by node time, not by the first-seen time of each link.
:class:`FanoutSampler` is a ``torch_geometric.sampler.BaseSampler`` written with
vectorised torch operations; batches are built with PyG's ``filter_hetero_data``, so
they are ordinary ``HeteroData`` mini-batches with the seed accounts first.

For every hop and every edge type ``(S, R, T)`` whose target type ``T`` has nodes new at
the previous hop, each such node keeps all its in-neighbours when it has at most
``fanout`` of them, and otherwise ``fanout`` drawn uniformly (with replacement,
duplicates dropped). With a cutoff, only edges first seen strictly before it exist:
within each target's slice of the index the edges are ordered by time, so the edges
before a cutoff are a prefix whose end is precomputed once per cutoff. Draws come from
the sampler's own seeded generator: the same seed gives the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.loader.utils import filter_hetero_data
from torch_geometric.sampler import BaseSampler, HeteroSamplerOutput, NodeSamplerInput

EdgeType = tuple[str, str, str]


class FanoutSampler(BaseSampler):  # type: ignore[misc]
    """Uniform neighbour sampling with a fixed fan-out per hop and edge type.

    Parameters
    ----------
    data : HeteroData
        Every edge type holds ``edge_index`` (``(2, e)``, local indices).
    num_neighbors : sequence of int
        Fan-out per hop (the first is the hop next to the seeds).
    seed : int
        Seeds the sampler's generator.
    edge_time : dict of edge type to Tensor, optional
        First-seen time of every edge (int64, aligned with ``edge_index``).
    cutoffs : sequence of int, optional
        Times a sample may be limited to (see :meth:`sample`); needs ``edge_time``.

    Notes
    -----
    Building the index is O(E log E) plus O(E) per cutoff; one batch costs
    O(sum over hops of sampled edges), with no Python loop per node or edge.
    """

    def __init__(
        self,
        data: HeteroData,
        num_neighbors: Sequence[int],
        *,
        seed: int = 0,
        edge_time: dict[EdgeType, Tensor] | None = None,
        cutoffs: Sequence[int] | np.ndarray | None = None,
    ) -> None:
        self.num_neighbors = [int(k) for k in num_neighbors]
        self.generator = torch.Generator().manual_seed(seed)
        self.num_nodes = {t: int(data[t].num_nodes) for t in data.node_types}
        self._csc: dict[EdgeType, tuple[Tensor, Tensor, Tensor]] = {}
        self._ends: list[dict[EdgeType, Tensor]] = []
        cutoff_list = [int(c) for c in (cutoffs if cutoffs is not None else [])]
        self.cutoffs = cutoff_list
        if cutoff_list and edge_time is None:
            raise ValueError("cutoffs need edge_time")
        for edge_type in data.edge_types:
            edge_index = data[edge_type].edge_index
            dst_nodes = self.num_nodes[edge_type[2]]
            if edge_time is not None:
                when = edge_time[edge_type]
                order = torch.from_numpy(
                    np.lexsort((when.numpy(), edge_index[1].numpy())).astype(np.int64)
                )
            else:
                order = torch.argsort(edge_index[1], stable=True)
            counts = torch.bincount(edge_index[1], minlength=dst_nodes)
            colptr = torch.zeros(dst_nodes + 1, dtype=torch.long)
            colptr[1:] = torch.cumsum(counts, 0)
            self._csc[edge_type] = (colptr, edge_index[0][order], order)
        for cutoff in cutoff_list:
            ends = {}
            for edge_type, (colptr, _, order) in self._csc.items():
                assert edge_time is not None
                valid = (edge_time[edge_type][order] < cutoff).long()
                cumulative = torch.zeros(valid.shape[0] + 1, dtype=torch.long)
                cumulative[1:] = torch.cumsum(valid, 0)
                end = colptr[:-1] + (cumulative[colptr[1:]] - cumulative[colptr[:-1]])
                # int32 halves the per-cutoff index; positions fit while E < 2**31.
                ends[edge_type] = (
                    end.to(torch.int32) if end.shape[0] and int(end.max()) < 2**31 else end
                )
            self._ends.append(ends)
        self._slot = {t: torch.full((n,), -1, dtype=torch.long) for t, n in self.num_nodes.items()}

    def sample_from_nodes(self, index: NodeSamplerInput, **kwargs: Any) -> HeteroSamplerOutput:
        """``BaseSampler`` hook: :meth:`sample` without a cutoff."""
        assert index.input_type is not None
        out = self.sample(index.input_type, index.node)
        out.metadata = (index.input_id, index.time)
        return out

    def sample_from_edges(self, index: Any, neg_sampling: Any = None) -> Any:
        """Not supported: this sampler serves node-level tasks only."""
        raise NotImplementedError("FanoutSampler samples from nodes only")

    def sample(
        self, input_type: str, seeds: Tensor, cutoff: int | None = None
    ) -> HeteroSamplerOutput:
        """Sample the ``len(num_neighbors)``-hop neighbourhood of ``seeds``.

        Parameters
        ----------
        input_type : str
            Node type of the seeds.
        seeds : Tensor
            Local indices (int64, ``(s,)``, no repeats).
        cutoff : int, optional
            Index into ``cutoffs``: only edges first seen before that time are sampled.

        Returns
        -------
        HeteroSamplerOutput
            ``node[input_type]`` starts with the seeds in order; ``row``/``col`` are local
            indices, ``edge`` the edge ids in the full graph.
        """
        seeds = seeds.to(torch.long)
        nodes: dict[str, list[Tensor]] = {t: [] for t in self.num_nodes}
        counts = dict.fromkeys(self.num_nodes, 0)
        ends = self._ends[cutoff] if cutoff is not None else None
        rows: dict[EdgeType, list[Tensor]] = {}
        cols: dict[EdgeType, list[Tensor]] = {}
        edges: dict[EdgeType, list[Tensor]] = {}
        try:
            self._add(input_type, seeds, nodes, counts)
            frontier: dict[str, Tensor] = {input_type: seeds}
            for fanout in self.num_neighbors:
                new_frontier: dict[str, list[Tensor]] = {}
                for edge_type, (colptr, source, perm) in self._csc.items():
                    src_type, _, dst_type = edge_type
                    targets = frontier.get(dst_type)
                    if targets is None or targets.shape[0] == 0:
                        continue
                    end = ends[edge_type] if ends is not None else colptr[1:]
                    picked_src, picked_dst, picked_edge = self._sample_edges(
                        colptr, end, source, perm, targets, fanout
                    )
                    if picked_src.shape[0] == 0:
                        continue
                    fresh = torch.unique(picked_src[self._slot[src_type][picked_src] < 0])
                    self._add(src_type, fresh, nodes, counts)
                    new_frontier.setdefault(src_type, []).append(fresh)
                    rows.setdefault(edge_type, []).append(self._slot[src_type][picked_src])
                    cols.setdefault(edge_type, []).append(self._slot[dst_type][picked_dst])
                    edges.setdefault(edge_type, []).append(picked_edge)
                frontier = {t: torch.cat(parts) for t, parts in new_frontier.items()}
            node_out = {t: torch.cat(parts) if parts else _empty() for t, parts in nodes.items()}
        finally:
            for t, parts in nodes.items():
                for part in parts:
                    self._slot[t][part] = -1
        return HeteroSamplerOutput(
            node=node_out,
            row={k: torch.cat(v) for k, v in rows.items()},
            col={k: torch.cat(v) for k, v in cols.items()},
            edge={k: torch.cat(v) for k, v in edges.items()},
            metadata=(None, None),
        )

    def _add(
        self, node_type: str, fresh: Tensor, nodes: dict[str, list[Tensor]], counts: dict[str, int]
    ) -> None:
        """Give ``fresh`` (unique, not yet sampled) nodes the next local slots."""
        slots = torch.arange(counts[node_type], counts[node_type] + fresh.shape[0])
        self._slot[node_type][fresh] = slots
        counts[node_type] += int(fresh.shape[0])
        nodes[node_type].append(fresh)

    def _sample_edges(
        self,
        colptr: Tensor,
        end: Tensor,
        source: Tensor,
        perm: Tensor,
        targets: Tensor,
        fanout: int,
    ) -> tuple[Tensor, Tensor, Tensor]:
        start = colptr[targets]
        degree = end[targets].long() - start
        full = degree <= fanout
        # Low-degree targets: every in-edge.
        small_deg = degree[full]
        small_t = torch.repeat_interleave(targets[full], small_deg)
        small_start = torch.repeat_interleave(start[full], small_deg)
        offsets = torch.arange(small_t.shape[0]) - torch.repeat_interleave(
            torch.cumsum(small_deg, 0) - small_deg, small_deg
        )
        small_pos = small_start + offsets
        # High-degree targets: ``fanout`` uniform draws each, duplicates dropped.
        big = ~full
        big_degree = degree[big].repeat_interleave(fanout)
        draws = torch.rand(big_degree.shape[0], generator=self.generator)
        big_pos = start[big].repeat_interleave(fanout) + (draws * big_degree).long().clamp_max(
            big_degree - 1
        )
        big_pos = torch.unique(big_pos)
        big_t = torch.searchsorted(colptr, big_pos, right=True) - 1
        positions = torch.cat([small_pos, big_pos])
        dst = torch.cat([small_t, big_t])
        return source[positions], dst, perm[positions]


def _empty() -> Tensor:
    return torch.empty(0, dtype=torch.long)


def sampled_batches(
    sampler: FanoutSampler,
    graphs: Sequence[HeteroData],
    *,
    input_type: str,
    seeds: Tensor,
    snapshot: Tensor,
    batch_size: int,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[HeteroData, Tensor]]:
    """Mini-batches of seeds, each batch drawn from one snapshot.

    Parameters
    ----------
    sampler : FanoutSampler
        Built with one cutoff per snapshot (or none: every edge for every snapshot).
    graphs : sequence of HeteroData
        ``graphs[k]`` holds snapshot ``k``'s features (and every edge).
    input_type : str
    seeds : Tensor
        Local seed indices (``(s,)``, no repeats).
    snapshot : Tensor
        Snapshot of every seed (``(s,)``).
    batch_size : int
    generator : torch.Generator, optional
        Shuffles seeds within each snapshot and the batch order; ``None`` keeps the order.

    Yields
    ------
    batch : HeteroData
        ``batch[input_type].batch_size`` seeds first; ``n_id`` maps back to the graph.
    positions : Tensor
        Positions of the batch's seeds in ``seeds``.
    """
    plan: list[tuple[int, Tensor]] = []
    for k in torch.unique(snapshot).tolist():
        members = torch.nonzero(snapshot == k).flatten()
        if generator is not None:
            members = members[torch.randperm(members.shape[0], generator=generator)]
        plan.extend((int(k), chunk) for chunk in torch.split(members, batch_size))
    order = (
        torch.randperm(len(plan), generator=generator).tolist()
        if generator is not None
        else range(len(plan))
    )
    for i in order:
        k, positions = plan[i]
        out = sampler.sample(input_type, seeds[positions], cutoff=k if sampler.cutoffs else None)
        batch = filter_hetero_data(graphs[k], out.node, out.row, out.col, out.edge)
        for node_type, node in out.node.items():
            batch[node_type].n_id = node
        batch[input_type].batch_size = int(positions.shape[0])
        yield batch, positions
