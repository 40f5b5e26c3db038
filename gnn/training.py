"""Training: time-split labels, point-in-time snapshots, mini-batches, early stopping.

:func:`train` reads a store through its exports, splits the labelled accounts by label
time (:func:`gnn.labels.time_split`), builds the snapshot at the training cutoff (train
and validation examples) and the one at the test cutoff (test examples), and trains on
mini-batches of training accounts with a fixed neighbour fan-out. After every epoch the
validation PR-AUC is measured on the validation examples' sampled neighbourhoods; training
stops when it has not improved for ``patience`` epochs and the best epoch's weights are
kept.

Label modes (:mod:`gnn.labels`): ``supervised`` (fraud against legit labels) or, when legit
labels are missing or too few, ``positive_unlabelled`` (fraud against unlabelled
accounts; the loss and the held-out figures are those of :mod:`gnn.pu`, and the
validation PR-AUC of early stopping is that of fraud against unlabelled).

Class imbalance, supervised: the ``sage`` baseline uses class-weighted cross-entropy
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
    TemporalGraph,
    build_temporal_graph,
    edge_types,
    snapshot_id,
)
from gnn.labels import (
    AccountFirstSeen,
    ExampleKind,
    LabelMode,
    LabelSplit,
    SplitConfig,
    time_split,
)
from gnn.models import ACCOUNT, AccountModel, ModelKind, build_model, sparse_adjacency
from gnn.pu import PUMethod, nnpu_loss, pu_metrics, weighted_example_loss
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
        How labels become examples, including the label mode (``auto`` by default).
    pu_method : PUMethod
        Loss of positive-unlabelled training (``unlabelled_negative`` by default; see
        :mod:`gnn.pu`).
    class_prior : float
        Share of fraud among all accounts assumed by ``nnpu`` (0.01; unused otherwise).
    legit_weight : float
        Weight of a legit label relative to an unlabelled account, positive-unlabelled (2).
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
    pu_method: PUMethod = PUMethod.UNLABELLED_NEGATIVE
    class_prior: float = 0.01
    legit_weight: float = 2.0

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
        if not 0.0 < self.class_prior < 1.0:
            problems.append("class_prior must be in (0, 1)")
        if self.legit_weight <= 0:
            problems.append("legit_weight must be > 0")
        if problems:
            raise InvalidInput("; ".join(problems))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready parameters (see :meth:`from_dict`)."""
        out = asdict(self)
        out["model"] = self.model.value
        out["fanout"] = list(self.fanout)
        out["pu_method"] = self.pu_method.value
        out["split"]["label_mode"] = self.split.label_mode.value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The configuration of :meth:`as_dict` (a manifest's ``config``); options a model
        saved before they existed take their defaults."""
        fields = dict(data)
        fields["model"] = ModelKind(fields["model"])
        fields["fanout"] = tuple(fields["fanout"])
        split = dict(fields.get("split") or {})
        if "label_mode" in split:
            split["label_mode"] = LabelMode(split["label_mode"])
        fields["split"] = SplitConfig(**split)
        if "pu_method" in fields:
            fields["pu_method"] = PUMethod(fields["pu_method"])
        return cls(**fields)


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
        ``val`` / ``test``: :func:`split_metrics` (supervised: ``roc_auc``, ``pr_auc``,
        ``n``, ``fraud``; positive-unlabelled: :func:`gnn.pu.pu_metrics`); ``label_mode``,
        ``epochs``, ``best_epoch``, ``train_seconds``, ``history`` (validation PR-AUC per
        epoch).
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
    TooFewLabels
        If there are too few fraud labels (or, supervised, legit labels) to split.
    InvalidInput
        If the configuration is invalid.

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
    split = time_split(labels, config.split, accounts=AccountFirstSeen.of(nodes, links))
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
    loss_fn = _loss(config, split)
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
            loss = loss_fn(logits, train.kind[positions].to(device))
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
        "label_mode": split.mode.value,
        "val": split_metrics(split, "val", sampled_scores(model, sampler, graphs, val, config)),
        "test": split_metrics(split, "test", sampled_scores(model, sampler, graphs, test, config)),
        "epochs": len(history),
        "best_epoch": best_epoch,
        "train_seconds": round(train_seconds, 3),
        "history": history,
    }
    model.to("cpu")
    log.info(
        "gnn trained",
        extra={"label_mode": split.mode.value, "val": metrics["val"], "test": metrics["test"]},
    )
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
    """One part of the split as sampler inputs: local index, snapshot, label, kind
    (:class:`~gnn.labels.ExampleKind`)."""

    index: Tensor
    snapshot: Tensor
    y: Tensor
    kind: Tensor

    @classmethod
    def of(cls, temporal: TemporalGraph, split: LabelSplit, part: str) -> Examples:
        ids, ts, kind = (getattr(split, f"{part}_{name}") for name in ("ids", "ts", "kind"))
        return cls.select(temporal, split, ids, ts, kind)

    @classmethod
    def select(
        cls,
        temporal: TemporalGraph,
        split: LabelSplit,
        ids: np.ndarray,
        ts: np.ndarray,
        kind: np.ndarray,
    ) -> Examples:
        """Examples of store ``ids`` read at reference times ``ts``."""
        kind = np.asarray(kind, np.int64)
        return cls(
            index=torch.from_numpy(temporal.full.account_index(ids)),
            snapshot=torch.from_numpy(split.snapshot_of(ts)),
            y=torch.from_numpy((kind == ExampleKind.FRAUD).astype(np.float32)),
            kind=torch.from_numpy(kind),
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


def split_metrics(
    split: LabelSplit, part: str, scores: np.ndarray, *, keep: np.ndarray | None = None
) -> dict[str, Any]:
    """Held-out figures of one part: :func:`binary_metrics` when the split is supervised,
    :func:`gnn.pu.pu_metrics` (lower bounds) when it is positive-unlabelled.

    Parameters
    ----------
    split : LabelSplit
    part : {"train", "val", "test"}
    scores : ndarray of float
        One score per kept example of the part, in order.
    keep : ndarray of bool, optional
        The part's examples that were scored (default: all).
    """
    kind = getattr(split, f"{part}_kind")
    if keep is not None:
        kind = kind[keep]
    if split.mode == LabelMode.POSITIVE_UNLABELLED:
        return pu_metrics(kind, scores)
    return binary_metrics((kind == ExampleKind.FRAUD).astype(np.float32), scores)


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


def _loss(config: TrainConfig, split: LabelSplit) -> Callable[[Tensor, Tensor], Tensor]:
    """``loss(logits, kind)`` of the training examples.

    Supervised: class-weighted cross-entropy (``sage``) or the focal loss (``h2sage``).
    Positive-unlabelled: the nnPU risk, or (``unlabelled_negative``) the architecture's
    loss with unlabelled accounts as negatives and legit labels weighing ``legit_weight``.
    """
    counts = split.counts()["train"]
    if split.mode == LabelMode.POSITIVE_UNLABELLED:
        if config.pu_method == PUMethod.NNPU:
            return nnpu_loss(config.class_prior, config.legit_weight)
        negatives = counts["unlabelled"] + config.legit_weight * counts["legit"]
        return weighted_example_loss(
            _weighted_loss(config, float(counts["fraud"]), float(negatives)), config.legit_weight
        )
    positives, negatives = float(counts["fraud"]), float(counts["legit"])
    supervised = _weighted_loss(config, positives, negatives)

    def loss(logits: Tensor, kind: Tensor) -> Tensor:
        return supervised(logits, (kind == ExampleKind.FRAUD).to(logits.dtype), None)

    return loss


def _weighted_loss(
    config: TrainConfig, positives: float, negatives: float
) -> Callable[[Tensor, Tensor, Tensor | None], Tensor]:
    """Class-weighted cross-entropy (``sage``) or the focal loss (``h2sage``), with
    optional per-example weights."""
    if config.model == ModelKind.SAGE:
        weight = torch.tensor(negatives / max(positives, 1.0))

        def weighted(logits: Tensor, y: Tensor, example_weight: Tensor | None) -> Tensor:
            return torch.nn.functional.binary_cross_entropy_with_logits(
                logits, y, weight=example_weight, pos_weight=weight.to(logits.device)
            )

        return weighted
    alpha = negatives / max(positives + negatives, 1.0)
    gamma = config.focal_gamma

    def focal(logits: Tensor, y: Tensor, example_weight: Tensor | None) -> Tensor:
        ce = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
        p = torch.sigmoid(logits)
        p_t = p * y + (1 - p) * (1 - y)
        alpha_t = alpha * y + (1 - alpha) * (1 - y)
        per_example = alpha_t * (1 - p_t) ** gamma * ce
        if example_weight is not None:
            per_example = per_example * example_weight
        return per_example.mean()

    return focal
