"""Champion-challenger: a new model replaces the current one only when measurably better.

The challenger and the champion are scored in shadow on the same held-out examples: the
test part of the time split of the store's current labels, without any account either
model was trained or validated on (the registry records the labels, and the unlabelled
negatives, each model saw). Each example is read on its own point-in-time snapshot, as in
training. With fraud labels only the split is positive-unlabelled and the figures are
those of fraud labels against unlabelled accounts (:func:`gnn.pu.pu_metrics`). The
challenger is promoted when its metric (PR-AUC by default: the positive class is rare)
beats the champion's by at least ``margin``; the first model is promoted because there is
no champion. Every decision, promoted or not, is appended to the registry's decision log.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gnn.dataset import TemporalGraph, build_temporal_graph
from gnn.labels import AccountFirstSeen, LabelSplit, time_split
from gnn.models import AccountModel
from gnn.registry import ModelRegistry
from gnn.sampling import FanoutSampler
from gnn.training import Examples, TrainConfig, TrainingRun, sampled_scores, split_metrics
from graph_service.errors import InvalidInput
from graph_service.store import GraphStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChampionPolicy:
    """When a challenger replaces the champion.

    Parameters
    ----------
    metric : {"pr_auc", "roc_auc"}
    margin : float
        How much better the challenger must be (absolute, default 0.005).
    """

    metric: str = "pr_auc"
    margin: float = 0.005

    def __post_init__(self) -> None:
        if self.metric not in ("pr_auc", "roc_auc"):
            raise InvalidInput(f"metric must be pr_auc or roc_auc, got {self.metric!r}")
        if not 0.0 <= self.margin < 1.0:
            raise InvalidInput("margin must be in [0, 1)")


@dataclass(frozen=True)
class Decision:
    """One champion-challenger decision.

    Attributes
    ----------
    challenger, champion : str or None
        Versions (``champion`` None when there was none).
    promoted : bool
    reason : str
    metric : str
    margin : float
    challenger_metrics, champion_metrics : dict or None
        Shadow metrics on the same held-out labels.
    decided_at : str
    manual : bool
        Promoted by hand (``--force``), regardless of the metrics.
    """

    challenger: str
    champion: str | None
    promoted: bool
    reason: str
    metric: str
    margin: float
    challenger_metrics: dict[str, Any] | None
    champion_metrics: dict[str, Any] | None
    decided_at: str
    manual: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def decide(
    challenger_metrics: dict[str, Any],
    champion_metrics: dict[str, Any] | None,
    policy: ChampionPolicy,
) -> tuple[bool, str]:
    """Whether the challenger wins, and why.

    Parameters
    ----------
    challenger_metrics, champion_metrics : dict
        Metrics on the same labels (``champion_metrics`` None: no champion).
    policy : ChampionPolicy

    Returns
    -------
    promote : bool
    reason : str

    Raises
    ------
    InvalidInput
        If the challenger's metric is missing or not a number.
    """
    value = challenger_metrics.get(policy.metric)
    if not isinstance(value, int | float) or np.isnan(value):
        raise InvalidInput(f"challenger has no {policy.metric} to compare")
    if champion_metrics is None:
        return True, "no champion yet"
    incumbent = champion_metrics.get(policy.metric)
    if not isinstance(incumbent, int | float) or np.isnan(incumbent):
        return True, f"champion has no {policy.metric}"
    delta = float(value) - float(incumbent)
    if delta >= policy.margin:
        return (
            True,
            f"{policy.metric} {value:.4f} beats {incumbent:.4f} by {delta:+.4f} >= {policy.margin}",
        )
    return (
        False,
        f"{policy.metric} {value:.4f} vs {incumbent:.4f}: {delta:+.4f} < margin {policy.margin}",
    )


def challenge(
    store: GraphStore,
    registry: ModelRegistry,
    challenger: str,
    *,
    policy: ChampionPolicy | None = None,
    run: TrainingRun | None = None,
    force: bool = False,
) -> Decision:
    """Score ``challenger`` against the champion in shadow, decide, record, maybe promote.

    Parameters
    ----------
    store : GraphStore
    registry : ModelRegistry
    challenger : str
        A registered version.
    policy : ChampionPolicy, optional
    run : TrainingRun, optional
        The challenger's own training run: its graph and split are reused instead of
        being rebuilt from the store.
    force : bool
        Promote whatever the metrics say (recorded as manual).

    Returns
    -------
    Decision

    Raises
    ------
    EntityNotFound
        If ``challenger`` is not registered.
    InvalidInput
        If the held-out labels cannot be split or no held-out label is left.

    Notes
    -----
    Rebuilds the temporal graph unless ``run`` is given: O(K (N + L log L)).
    """
    policy = policy or ChampionPolicy()
    registry.manifest(challenger)
    champion = registry.champion()
    if champion == challenger:
        raise InvalidInput(f"{challenger} is already the champion")
    versions = [challenger] + ([champion] if champion else [])
    models = {v: registry.load(v) for v in versions}
    config = TrainConfig.from_dict(registry.manifest(challenger).config)
    if run is not None:
        temporal, split, sampler = run.temporal, run.split, run.sampler
    else:
        nodes, links = store.export_nodes(), store.export_links()
        split = time_split(store.labels(), config.split, accounts=AccountFirstSeen.of(nodes, links))
        temporal = build_temporal_graph(nodes, links, split.cutoffs_us)
        sampler = FanoutSampler(
            temporal.full.data,
            config.fanout,
            seed=config.seed,
            edge_time=temporal.full.edge_time,
            cutoffs=temporal.cutoffs_us,
        )
    seen = _trained_on(registry, versions)
    metrics = shadow_metrics(models, temporal, split, sampler, config, exclude=seen)
    challenger_metrics = metrics[challenger]
    champion_metrics = metrics.get(champion) if champion else None
    if force:
        promoted, reason = True, "promoted by hand"
    else:
        promoted, reason = decide(challenger_metrics, champion_metrics, policy)
    decision = Decision(
        challenger=challenger,
        champion=champion,
        promoted=promoted,
        reason=reason,
        metric=policy.metric,
        margin=policy.margin,
        challenger_metrics=challenger_metrics,
        champion_metrics=champion_metrics,
        decided_at=datetime.now(UTC).isoformat(),
        manual=force,
    )
    registry.append("decisions", decision.as_dict())
    if promoted:
        registry.set_champion(challenger)
    log.info("champion-challenger decision", extra=decision.as_dict())
    return decision


def shadow_metrics(
    models: dict[str, AccountModel],
    temporal: TemporalGraph,
    split: LabelSplit,
    sampler: FanoutSampler,
    config: TrainConfig,
    *,
    exclude: np.ndarray,
) -> dict[str, dict[str, Any]]:
    """Metrics of every model on the test examples of ``split`` minus ``exclude``
    (:func:`gnn.training.split_metrics`: lower bounds when the split is
    positive-unlabelled).

    Raises
    ------
    InvalidInput
        If no held-out fraud label or no other held-out example is left.
    """
    keep = ~np.isin(split.test_ids, exclude)
    y = split.test_y[keep]
    if y.shape[0] == 0 or y.sum() in (0, y.shape[0]):
        raise InvalidInput(
            "no held-out labels of both classes left that neither model saw; add labels"
        )
    examples = Examples.select(
        temporal, split, split.test_ids[keep], split.test_ts[keep], split.test_kind[keep]
    )
    graphs = [temporal.at(k) for k in range(len(temporal.features))]
    return {
        version: split_metrics(
            split, "test", sampled_scores(model, sampler, graphs, examples, config), keep=keep
        )
        for version, model in models.items()
    }


def _trained_on(registry: ModelRegistry, versions: list[str]) -> np.ndarray:
    """Account ids any of ``versions`` trained or validated on (labelled or not)."""
    parts = []
    for version in versions:
        seen = registry.labels_seen(version)
        used = seen.filter(pc.is_in(seen.column("split"), pa.array(["train", "val"])))
        parts.append(used.column("entity_id").to_numpy())
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)
