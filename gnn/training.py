"""Training: time-split labels, point-in-time snapshots, mini-batches, early stopping.

:func:`train` reads a store through its exports, splits the labelled accounts by label
time (:func:`gnn.dataset.time_split`), builds the snapshot at the training cutoff (train
and validation examples) and the one at the test cutoff (test examples), and trains on
mini-batches of training accounts with a fixed neighbour fan-out. After every epoch the
validation PR-AUC is measured with full-graph inference; training stops when it has not
improved for ``patience`` epochs and the best epoch's weights are kept.

Class imbalance: the ``sage`` baseline uses class-weighted cross-entropy
(``pos_weight = legit / fraud``); ``h2sage`` uses the focal loss (Lin et al., 2017),
:math:`-\\alpha_t (1 - p_t)^\\gamma \\log p_t`, with :math:`\\alpha` the legit share.

Everything is seeded (weights, batch order, neighbour draws): the same store and
configuration train the same model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from gnn.dataset import (
    GraphSnapshot,
    LabelSplit,
    SplitConfig,
    TemporalGraph,
    build_temporal_graph,
    edge_types,
    snapshot_id,
    time_split,
)
from gnn.models import ACCOUNT, AccountModel, ModelKind, build_model, sparse_adjacency
from gnn.sampling import FanoutSampler, sampled_batches
from graph_service.errors import InvalidInput
from graph_service.store import GraphStore

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a training run; the defaults are the product's.

    Parameters
    ----------
    model : ModelKind
        ``h2sage`` (default) or the ``sage`` baseline.
    hidden : int
        Embedding width (32).
    layers : int
        Message-passing layers (2: account -> identifier -> account).
    dropout : float
    fanout : tuple of int
        Neighbours sampled per node per edge type at each hop (15, 10).
    batch_size : int
        Seed accounts per mini-batch (256).
    max_epochs : int
    patience : int
        Epochs without a better validation PR-AUC before stopping.
    learning_rate, weight_decay : float
        Adam.
    focal_gamma : float
        Focusing parameter of the focal loss (``h2sage``).
    seed : int
    device : str
        ``cpu`` (default) or ``cuda``.
    threads : int
        CPU threads torch may use (1: on a shared two-core machine a second thread made
        the small mini-batch operations several times slower; raise it on a dedicated
        host).
    split : SplitConfig
    """

    model: ModelKind = ModelKind.H2SAGE
    hidden: int = 32
    layers: int = 2
    dropout: float = 0.2
    fanout: tuple[int, ...] = (15, 10)
    batch_size: int = 256
    max_epochs: int = 40
    patience: int = 6
    learning_rate: float = 0.005
    weight_decay: float = 1e-4
    focal_gamma: float = 2.0
    seed: int = 42
    device: str = "cpu"
    threads: int = 1
    split: SplitConfig = field(default_factory=SplitConfig)

    def __post_init__(self) -> None:
        problems = []
        if self.hidden < 1 or self.layers < 1 or self.batch_size < 1 or self.max_epochs < 1:
            problems.append("hidden, layers, batch_size and max_epochs must be >= 1")
        if len(self.fanout) != self.layers or min(self.fanout, default=1) < 1:
            problems.append(f"fanout needs {self.layers} positive values, one per layer")
        if not 0.0 <= self.dropout < 1.0:
            problems.append("dropout must be in [0, 1)")
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            problems.append(f"device must be cpu or cuda, got {self.device!r}")
        if problems:
            raise InvalidInput("; ".join(problems))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        out = asdict(self)
        out["model"] = self.model.value
        out["fanout"] = list(self.fanout)
        return out


@dataclass
class TrainingRun:
    """A trained model with everything the registry records about it.

    Attributes
    ----------
    model : AccountModel
        The best epoch's weights, in eval mode, on the CPU.
    config : TrainConfig
    split : LabelSplit
    snapshot : str
        Fingerprint of the exported data (:func:`gnn.dataset.snapshot_id`).
    metrics : dict
        ``val`` / ``test``: ``roc_auc``, ``pr_auc``, ``n``, ``fraud``; ``epochs``,
        ``best_epoch``, ``train_seconds``, ``history`` (validation PR-AUC per epoch).
    temporal : TemporalGraph
        The graph and its feature snapshots the run read.
    sampler : FanoutSampler
    examples : dict
        ``train`` / ``val`` / ``test`` sampler inputs.
    """

    model: AccountModel
    config: TrainConfig
    split: LabelSplit
    snapshot: str
    metrics: dict[str, Any]
    temporal: TemporalGraph
    sampler: FanoutSampler
    examples: dict[str, Examples]

    def graphs(self) -> list[HeteroData]:
        """One ``HeteroData`` per feature snapshot."""
        return [self.temporal.at(k) for k in range(len(self.temporal.features))]


def seed_everything(seed: int, threads: int) -> None:
    """Seed numpy and torch and cap torch's CPU threads."""
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, threads))


def train(
    store: GraphStore, config: TrainConfig | None = None, *, progress: Progress | None = None
) -> TrainingRun:
    """Train a GNN on the store's labels, point in time.

    Parameters
    ----------
    store : GraphStore
        Either backend (read through ``export_nodes``, ``export_links``, ``labels``).
    config : TrainConfig, optional
    progress : callable, optional
        ``progress("epoch", done, max_epochs)`` after every epoch.

    Returns
    -------
    TrainingRun

    Raises
    ------
    InvalidInput
        If the labels cannot be split (too few of a class in a part) or the configuration
        is invalid.

    Notes
    -----
    Per epoch O(train labels * prod(fanout)) for the mini-batches plus one full-graph
    pass, O((N + E) * hidden), for the validation score.
    """
    config = config or TrainConfig()
    nodes, links, labels = store.export_nodes(), store.export_links(), store.labels()
    return train_on_tables(nodes, links, labels, config, progress=progress)


def train_on_tables(
    nodes: pa.Table,
    links: pa.Table,
    labels: pa.Table,
    config: TrainConfig,
    *,
    progress: Progress | None = None,
) -> TrainingRun:
    """:func:`train` on export tables (the same shapes the store exports)."""
    seed_everything(config.seed, config.threads)
    device = torch.device(config.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInput("device cuda asked for, but no CUDA device is available")
    started = time.perf_counter()
    split = time_split(labels, config.split)
    temporal = build_temporal_graph(nodes, links, split.cutoffs_us)
    graphs = [temporal.at(k) for k in range(len(temporal.features))]
    sampler = FanoutSampler(
        temporal.full.data,
        config.fanout,
        seed=config.seed,
        edge_time=temporal.full.edge_time,
        cutoffs=temporal.cutoffs_us,
    )
    in_dims = {t: int(x.shape[1]) for t, x in temporal.features[0].items()}
    model = build_model(
        config.model,
        in_dims,
        edge_types(),
        hidden=config.hidden,
        layers=config.layers,
        dropout=config.dropout,
    )
    latest_train = int(split.snapshot_of(np.array([split.train_cutoff_us - 1]))[0])
    model.encoder.fit(temporal.features[latest_train])
    model.to(device)
    optimiser = torch.optim.Adam(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    train = Examples.of(temporal, split, "train")
    val = Examples.of(temporal, split, "val")
    test = Examples.of(temporal, split, "test")
    positives = float(split.train_y.sum())
    negatives = float(split.train_y.shape[0]) - positives
    loss_fn = _loss(config, positives, negatives)
    order = torch.Generator().manual_seed(config.seed)
    best_score, best_epoch, best_state = -1.0, -1, None
    history: list[float] = []
    for epoch in range(config.max_epochs):
        model.train()
        for batch, positions in sampled_batches(
            sampler,
            graphs,
            input_type=ACCOUNT,
            seeds=train.index,
            snapshot=train.snapshot,
            batch_size=config.batch_size,
            generator=order,
        ):
            batch = batch.to(device)
            size = int(batch[ACCOUNT].batch_size)
            optimiser.zero_grad()
            logits = model(batch.x_dict, batch.edge_index_dict)[:size]
            loss = loss_fn(logits, train.y[positions].to(device))
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
        val_pr = _pr_auc(split.val_y, sampled_scores(model, sampler, graphs, val, config))
        history.append(round(val_pr, 5))
        log.info("epoch done", extra={"epoch": epoch, "val_pr_auc": val_pr})
        if progress is not None:
            progress("epoch", epoch + 1, config.max_epochs)
        if val_pr > best_score + 1e-6:
            best_score, best_epoch = val_pr, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif epoch - best_epoch >= config.patience:
            break
    assert best_state is not None
    model.load_state_dict(best_state)
    model.eval()
    train_seconds = time.perf_counter() - started
    metrics: dict[str, Any] = {
        "val": binary_metrics(split.val_y, sampled_scores(model, sampler, graphs, val, config)),
        "test": binary_metrics(split.test_y, sampled_scores(model, sampler, graphs, test, config)),
        "epochs": len(history),
        "best_epoch": best_epoch,
        "train_seconds": round(train_seconds, 3),
        "history": history,
    }
    model.to("cpu")
    log.info("gnn trained", extra={"val": metrics["val"], "test": metrics["test"]})
    return TrainingRun(
        model=model,
        config=config,
        split=split,
        snapshot=snapshot_id(nodes, links, split.labels),
        metrics=metrics,
        temporal=temporal,
        sampler=sampler,
        examples={"train": train, "val": val, "test": test},
    )


@dataclass(frozen=True)
class Examples:
    """One part of the split as sampler inputs: local index, snapshot, label."""

    index: Tensor
    snapshot: Tensor
    y: Tensor

    @classmethod
    def of(cls, temporal: TemporalGraph, split: LabelSplit, part: str) -> Examples:
        ids, ts, y = (getattr(split, f"{part}_{name}") for name in ("ids", "ts", "y"))
        return cls(
            index=torch.from_numpy(temporal.full.account_index(ids)),
            snapshot=torch.from_numpy(split.snapshot_of(ts)),
            y=torch.from_numpy(np.asarray(y, np.float32)),
        )


@torch.no_grad()
def sampled_scores(
    model: AccountModel,
    sampler: FanoutSampler,
    graphs: list[HeteroData],
    examples: Examples,
    config: TrainConfig,
    *,
    embeddings: bool = False,
) -> np.ndarray:
    """Fraud probability (or embedding rows) of ``examples``, in their order, each read on
    its own snapshot's sampled neighbourhood.

    The sampler's generator is reseeded first, so every call draws the same
    neighbourhoods (epochs are compared on the same sample).
    """
    was_training = model.training
    model.eval()
    sampler.generator.manual_seed(config.seed + 1)
    device = torch.device(config.device)
    model.to(device)  # a model loaded or trained elsewhere may sit on another device
    out: Tensor | None = None
    for batch, positions in sampled_batches(
        sampler,
        graphs,
        input_type=ACCOUNT,
        seeds=examples.index,
        snapshot=examples.snapshot,
        batch_size=max(config.batch_size, 1024),
    ):
        batch = batch.to(device)
        size = int(batch[ACCOUNT].batch_size)
        if embeddings:
            values = model.embed(batch.x_dict, batch.edge_index_dict)[:size].cpu()
        else:
            values = torch.sigmoid(model(batch.x_dict, batch.edge_index_dict)[:size]).cpu()
        if out is None:
            out = torch.zeros((examples.index.shape[0], *values.shape[1:]))
        out[positions] = values
    model.train(was_training)
    assert out is not None
    return np.asarray(out.numpy(), np.float64)


class _FullGraph:
    """One snapshot prepared for repeated full-graph inference (adjacency built once)."""

    def __init__(self, snapshot: GraphSnapshot, device: torch.device) -> None:
        data = snapshot.data
        self.x = {t: x.to(device) for t, x in data.x_dict.items()}
        num_nodes = {t: int(data[t].num_nodes) for t in data.node_types}
        self.adjacency = {
            k: v.to(device) for k, v in sparse_adjacency(data.edge_index_dict, num_nodes).items()
        }

    @torch.no_grad()
    def scores(self, model: AccountModel) -> np.ndarray:
        was_training = model.training
        model.eval()
        logits = model(self.x, self.adjacency)
        model.train(was_training)
        return np.asarray(torch.sigmoid(logits).cpu().numpy(), np.float64)

    @torch.no_grad()
    def embeddings(self, model: AccountModel) -> np.ndarray:
        model.eval()
        return np.asarray(model.embed(self.x, self.adjacency).cpu().numpy(), np.float32)


def full_graph_scores(
    model: AccountModel, snapshot: GraphSnapshot, device: str = "cpu"
) -> np.ndarray:
    """Fraud probability of every account of ``snapshot`` (full neighbourhoods).

    Returns
    -------
    ndarray of float64, shape (n_Account,)

    Notes
    -----
    O((N + E) * hidden * layers): sparse matrix products, no per-edge message tensor.
    """
    return _FullGraph(snapshot, torch.device(device)).scores(model.to(device))


def full_graph_embeddings(
    model: AccountModel, snapshot: GraphSnapshot, device: str = "cpu"
) -> np.ndarray:
    """Account embeddings of ``snapshot``, ``(n_Account, width)`` float32."""
    return _FullGraph(snapshot, torch.device(device)).embeddings(model.to(device))


def binary_metrics(y: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC (average precision), rows and fraud count."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(y)
    both = 0 < y.sum() < y.shape[0]
    return {
        "roc_auc": round(float(roc_auc_score(y, scores)), 5) if both else float("nan"),
        "pr_auc": round(float(average_precision_score(y, scores)), 5) if both else float("nan"),
        "n": int(y.shape[0]),
        "fraud": int(y.sum()),
    }


def _pr_auc(y: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, scores))


def _loss(
    config: TrainConfig, positives: float, negatives: float
) -> Callable[[Tensor, Tensor], Tensor]:
    """Class-weighted cross-entropy (``sage``) or the focal loss (``h2sage``)."""
    if config.model == ModelKind.SAGE:
        weight = torch.tensor(negatives / max(positives, 1.0))

        def weighted(logits: Tensor, y: Tensor) -> Tensor:
            return torch.nn.functional.binary_cross_entropy_with_logits(
                logits, y, pos_weight=weight.to(logits.device)
            )

        return weighted
    alpha = negatives / max(positives + negatives, 1.0)
    gamma = config.focal_gamma

    def focal(logits: Tensor, y: Tensor) -> Tensor:
        ce = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
        p = torch.sigmoid(logits)
        p_t = p * y + (1 - p) * (1 - y)
        alpha_t = alpha * y + (1 - alpha) * (1 - y)
        return (alpha_t * (1 - p_t) ** gamma * ce).mean()

    return focal
