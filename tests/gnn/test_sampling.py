"""The fan-out sampler: real edges only, the fan-out cap, the time cutoff, determinism."""

from __future__ import annotations

import pyarrow as pa
import torch

from gnn.dataset import build_graph
from gnn.sampling import FanoutSampler, sampled_batches
from tests.gnn.graphs import day, planted_graph


def _us(when: object) -> int:
    return int(pa.scalar(when, pa.timestamp("us", tz="UTC")).cast(pa.int64()).as_py())


def _graph() -> object:
    g = planted_graph(legit=60, rings=3)
    return build_graph(g.nodes, g.links)


def test_sampled_edges_exist_and_respect_the_fanout() -> None:
    """Every sampled edge is an edge of the graph, seeds come first, and no target gets
    more than ``fanout`` in-edges of one type per hop."""
    snapshot = _graph()
    data = snapshot.data  # type: ignore[attr-defined]
    sampler = FanoutSampler(data, [3, 2], seed=1)
    seeds = torch.tensor([5, 0, 9])
    out = sampler.sample("Account", seeds)
    assert torch.equal(out.node["Account"][:3], seeds)
    for edge_type, row in out.row.items():
        src, _, dst = edge_type
        pairs = set(
            zip(
                data[edge_type].edge_index[0].tolist(),
                data[edge_type].edge_index[1].tolist(),
                strict=True,
            )
        )
        global_src = out.node[src][row].tolist()
        global_dst = out.node[dst][out.col[edge_type]].tolist()
        assert set(zip(global_src, global_dst, strict=True)) <= pairs
        counts = torch.bincount(out.col[edge_type])
        assert int(counts.max()) <= 3
    # The carrier IP is shared by every account: capped at the fan-out for the seeds.
    ip_edges = out.col["IP", "rev_LOGS_IN_FROM", "Account"]
    assert ip_edges.shape[0] <= 3 * 3


def test_a_cutoff_hides_later_edges() -> None:
    """With a cutoff, no sampled edge was first seen at or after it."""
    snapshot = _graph()
    data = snapshot.data  # type: ignore[attr-defined]
    cutoff = _us(day(40))
    sampler = FanoutSampler(
        data,
        [5, 5],
        seed=1,
        edge_time=snapshot.edge_time,
        cutoffs=[cutoff],  # type: ignore[attr-defined]
    )
    out = sampler.sample("Account", torch.arange(20), cutoff=0)
    assert out.edge
    for edge_type, edge in out.edge.items():
        when = snapshot.edge_time[edge_type][edge]  # type: ignore[attr-defined]
        assert bool(torch.all(when < cutoff)), edge_type


def test_the_same_seed_draws_the_same_batches() -> None:
    """Two samplers with one seed give identical batches; the slots are reset after each."""
    snapshot = _graph()
    data = snapshot.data  # type: ignore[attr-defined]

    def batches(seed: int) -> list[torch.Tensor]:
        sampler = FanoutSampler(data, [2, 2], seed=seed)
        order = torch.Generator().manual_seed(seed)
        return [
            batch["Account"].n_id
            for batch, _ in sampled_batches(
                sampler,
                [data],
                input_type="Account",
                seeds=torch.arange(30),
                snapshot=torch.zeros(30, dtype=torch.long),
                batch_size=8,
                generator=order,
            )
        ]

    first, again = batches(3), batches(3)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert sum(int(b.shape[0] >= 1) for b in first) == 4
