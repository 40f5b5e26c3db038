"""The GNN against gradient boosting, on the same time split and the same snapshots.

Two comparators are fitted on the training accounts (read on the training snapshot) and
scored on the test accounts (read on the test snapshot), exactly like the GNN. With a
positive-unlabelled split they learn fraud against the unlabelled negatives (Elkan &
Noto's unlabelled-as-negative classifier) and are judged like the GNN, by
:func:`gnn.pu.pu_metrics`:

``features_gb``
    ``HistGradientBoostingClassifier`` on the account's own graph features only
    (:data:`gnn.dataset.ACCOUNT_FEATURES`), read on the example's snapshot.
``embeddings_gb``
    The same classifier on those features plus the trained GNN's account embeddings
    (the same sampled neighbourhoods the GNN is scored on).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from gnn.training import TrainingRun, sampled_scores, split_metrics
from graph_service.model import NodeType

log = logging.getLogger(__name__)


def compare_with_boosting(run: TrainingRun, *, seed: int | None = None) -> dict[str, Any]:
    """Test-split metrics of the GNN, features-only boosting and embeddings + features.

    Every example is read on its own snapshot (``run.examples``), as the GNN was.

    Parameters
    ----------
    run : TrainingRun
    seed : int, optional
        Seeds the boosting (default: the run's seed).

    Returns
    -------
    dict
        ``{"gnn": metrics, "features_gb": metrics, "embeddings_gb": metrics}``, each
        :func:`gnn.training.split_metrics` of the test examples.

    Notes
    -----
    One full-graph embedding pass per snapshot plus two boosting fits on the training
    labels: O((N + E) * hidden + rows * features * iterations).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    seed = run.config.seed if seed is None else seed
    split = run.split
    account = NodeType.ACCOUNT.value
    graphs = run.graphs()

    def own_features(part: str) -> np.ndarray:
        examples = run.examples[part]
        stacked = torch.stack([features[account] for features in run.temporal.features])
        return np.asarray(stacked[examples.snapshot, examples.index].numpy(), np.float64)

    def embeddings(part: str) -> np.ndarray:
        return sampled_scores(
            run.model, run.sampler, graphs, run.examples[part], run.config, embeddings=True
        )

    x_train, x_test = own_features("train"), own_features("test")
    e_train, e_test = embeddings("train"), embeddings("test")

    def boosted(train: np.ndarray, test: np.ndarray) -> dict[str, float]:
        model = HistGradientBoostingClassifier(
            max_iter=200, learning_rate=0.05, max_leaf_nodes=15, random_state=seed
        )
        with threadpool_limits(limits=max(1, run.config.threads)):
            model.fit(train, split.train_y.astype(np.int64))
            scores = model.predict_proba(test)[:, 1]
        return split_metrics(split, "test", np.asarray(scores, np.float64))

    result = {
        "gnn": run.metrics["test"],
        "features_gb": boosted(x_train, x_test),
        "embeddings_gb": boosted(np.hstack([x_train, e_train]), np.hstack([x_test, e_test])),
    }
    log.info("comparison done", extra=result)
    return result
