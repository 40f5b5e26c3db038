"""Heterogeneous GNNs that score accounts.

Two architectures share one interface (``forward(x_dict, edge_index_dict) -> logits`` of
the ``Account`` nodes, ``embed(...)`` for their embeddings):

``sage``
    Heterogeneous GraphSAGE (Hamilton et al., 2017) through ``HeteroConv``: per edge type
    a ``SAGEConv`` with mean aggregation, summed over the edge types that reach a node
    type: :math:`h_v' = \\mathrm{ReLU}(\\sum_r W^r_1 h_v + W^r_2 \\operatorname{mean}_{u
    \\in N_r(v)} h_u)`.

``h2sage``
    The heterophily-aware model. Fraud is heterophilous: a mule's neighbours are mostly
    legitimate victims, so mixing a node with its neighbours washes its own signal out.
    Following H2GCN (Zhu et al., 2020) it keeps ego and neighbour embeddings apart (the
    neighbour aggregate has no self term and is concatenated, not added, to the node's own
    embedding) and combines the intermediate representations of every layer (jumping
    knowledge by concatenation) before the classifier:
    :math:`h_v^{l+1} = \\mathrm{ReLU}(W^l [h_v^l \\,\\|\\, \\sum_r \\operatorname{mean}_{u
    \\in N_r(v)} W^l_r h_u^l])`, logit :math:`= \\mathrm{MLP}([h^0 \\| h^1 \\| \\dots])`.
    It is trained with the focal loss for the class imbalance (see ``gnn.training``).

Both accept ``edge_index_dict`` values as ``(2, e)`` index tensors (mini-batches) or as
sparse ``(n_dst, n_src)`` CSR adjacency matrices (full-graph inference, no per-edge
message tensor).
"""

from __future__ import annotations

import warnings
from enum import StrEnum
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.nn import HeteroConv, SAGEConv

from graph_service.model import NodeType

ACCOUNT = NodeType.ACCOUNT.value

EdgeType = tuple[str, str, str]


class ModelKind(StrEnum):
    """The available architectures."""

    SAGE = "sage"
    H2SAGE = "h2sage"


class _InputEncoder(nn.Module):
    """Per node type: batch-free standardisation then a linear map to ``hidden``."""

    def __init__(self, in_dims: dict[str, int], hidden: int) -> None:
        super().__init__()
        self.lins = nn.ModuleDict({t: nn.Linear(d, hidden) for t, d in in_dims.items()})
        for t, d in in_dims.items():
            self.register_buffer(f"mean_{t}", torch.zeros(d))
            self.register_buffer(f"scale_{t}", torch.ones(d))

    def fit(self, x_dict: dict[str, Tensor]) -> None:
        """Set the standardisation from full-graph features (once, before training)."""
        for t, x in x_dict.items():
            if t not in self.lins or x.shape[0] == 0:
                continue
            getattr(self, f"mean_{t}").copy_(x.mean(0))
            getattr(self, f"scale_{t}").copy_(x.std(0, unbiased=False).clamp_min(1e-3))

    def forward(self, x_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        out = {}
        for t, x in x_dict.items():
            z = (x - getattr(self, f"mean_{t}")) / getattr(self, f"scale_{t}")
            out[t] = torch.relu(self.lins[t](z))
        return out


class HeteroSAGE(nn.Module):
    """Heterogeneous GraphSAGE baseline.

    Parameters
    ----------
    in_dims : dict of str to int
        Input feature width per node type.
    edge_types : list of (str, str, str)
    hidden : int
    layers : int
    dropout : float

    Shapes
    ------
    ``x_dict[T]``: ``(n_T, in_dims[T])``; output ``(n_Account,)`` logits.
    """

    kind = ModelKind.SAGE

    def __init__(
        self,
        in_dims: dict[str, int],
        edge_types: list[EdgeType],
        *,
        hidden: int = 64,
        layers: int = 2,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.encoder = _InputEncoder(in_dims, hidden)
        self.convs = nn.ModuleList(
            HeteroConv(
                {et: SAGEConv((hidden, hidden), hidden, aggr="mean") for et in edge_types},
                aggr="sum",
            )
            for _ in range(layers)
        )
        self.dropout = dropout
        self.head = nn.Linear(hidden, 1)

    def embed(self, x_dict: dict[str, Tensor], edge_index_dict: dict[EdgeType, Any]) -> Tensor:
        """Account embeddings ``(n_Account, hidden)``."""
        h = self.encoder(x_dict)
        for i, conv in enumerate(self.convs):
            out = conv(h, _layer_edges(edge_index_dict, last=i == len(self.convs) - 1))
            h = {
                t: nn.functional.dropout(torch.relu(out[t]), self.dropout, self.training)
                if t in out
                else h[t]
                for t in h
            }
        account: Tensor = h[ACCOUNT]
        return account

    def forward(self, x_dict: dict[str, Tensor], edge_index_dict: dict[EdgeType, Any]) -> Tensor:
        """Fraud logits of every account, ``(n_Account,)``."""
        logits: Tensor = self.head(self.embed(x_dict, edge_index_dict)).squeeze(-1)
        return logits


class HeteroH2SAGE(nn.Module):
    """Heterophily-aware heterogeneous model (ego / neighbour separation, layer concat).

    Parameters
    ----------
    in_dims : dict of str to int
    edge_types : list of (str, str, str)
    hidden : int
    layers : int
    dropout : float

    Shapes
    ------
    ``x_dict[T]``: ``(n_T, in_dims[T])``; embeddings ``(n_Account, hidden * (layers + 1))``;
    output ``(n_Account,)`` logits.
    """

    kind = ModelKind.H2SAGE

    def __init__(
        self,
        in_dims: dict[str, int],
        edge_types: list[EdgeType],
        *,
        hidden: int = 64,
        layers: int = 2,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.encoder = _InputEncoder(in_dims, hidden)
        self.convs = nn.ModuleList(
            HeteroConv(
                {
                    et: SAGEConv((hidden, hidden), hidden, aggr="mean", root_weight=False)
                    for et in edge_types
                },
                aggr="sum",
            )
            for _ in range(layers)
        )
        self.combine = nn.ModuleList(
            nn.ModuleDict({t: nn.Linear(2 * hidden, hidden) for t in in_dims})
            for _ in range(layers)
        )
        self.dropout = dropout
        self.head = nn.Sequential(
            nn.Linear(hidden * (layers + 1), hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )

    def embed(self, x_dict: dict[str, Tensor], edge_index_dict: dict[EdgeType, Any]) -> Tensor:
        """Account embeddings ``(n_Account, hidden * (layers + 1))``."""
        h = self.encoder(x_dict)
        kept = [h[ACCOUNT]]
        for i, (conv, combine) in enumerate(zip(self.convs, self.combine, strict=True)):
            last = i == len(self.convs) - 1
            neighbours = conv(h, _layer_edges(edge_index_dict, last=last))
            h = {
                t: nn.functional.dropout(
                    torch.relu(
                        combine[t](  # type: ignore[index]
                            torch.cat([h[t], neighbours.get(t, torch.zeros_like(h[t]))], dim=-1)
                        )
                    ),
                    self.dropout,
                    self.training,
                )
                for t in ((ACCOUNT,) if last else h)
            }
            kept.append(h[ACCOUNT])
        return torch.cat(kept, dim=-1)

    def forward(self, x_dict: dict[str, Tensor], edge_index_dict: dict[EdgeType, Any]) -> Tensor:
        """Fraud logits of every account, ``(n_Account,)``."""
        logits: Tensor = self.head(self.embed(x_dict, edge_index_dict)).squeeze(-1)
        return logits


AccountModel = HeteroSAGE | HeteroH2SAGE


def _layer_edges(edge_index_dict: dict[EdgeType, Any], *, last: bool) -> dict[EdgeType, Any]:
    """The edges a layer needs: all of them, or only those into accounts for the last
    layer (only account outputs are read after it)."""
    if not last:
        return edge_index_dict
    return {k: v for k, v in edge_index_dict.items() if k[2] == ACCOUNT}


def build_model(
    kind: ModelKind,
    in_dims: dict[str, int],
    edge_types: list[EdgeType],
    *,
    hidden: int,
    layers: int,
    dropout: float,
) -> AccountModel:
    """A fresh model of ``kind`` (weights drawn from torch's current seed)."""
    cls = HeteroSAGE if kind == ModelKind.SAGE else HeteroH2SAGE
    return cls(in_dims, edge_types, hidden=hidden, layers=layers, dropout=dropout)


def sparse_adjacency(
    edge_index_dict: dict[EdgeType, Tensor], num_nodes: dict[str, int]
) -> dict[EdgeType, Tensor]:
    """Each edge type as a sparse CSR ``(n_dst, n_src)`` matrix (full-graph inference).

    Notes
    -----
    O(E log E) (a sort per edge type).
    """
    out = {}
    for (src, rel, dst), edge_index in edge_index_dict.items():
        n_dst, n_src = num_nodes[dst], num_nodes[src]
        order = torch.argsort(edge_index[1], stable=True)
        crow = torch.zeros(n_dst + 1, dtype=torch.long)
        crow[1:] = torch.cumsum(torch.bincount(edge_index[1], minlength=n_dst), 0)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            out[(src, rel, dst)] = torch.sparse_csr_tensor(
                crow,
                edge_index[0][order],
                torch.ones(edge_index.shape[1]),
                (n_dst, n_src),
                check_invariants=False,
            )
    return out
