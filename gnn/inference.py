"""Inference: score every account with the champion and write ``gnn_score`` back.

The champion (or a named version) is loaded against the current feature schema, the graph
is built from the store's export with every link (the present), and all accounts are
scored in one full-neighbourhood pass (sparse matrix products, layer by layer, so the
cost is linear in nodes + links and no neighbour is left out). Scores are written with
``store.write_scores("gnn_score", ids, values, version=<model version>)`` in batches of
``write_batch`` accounts; optionally the account embeddings go to the analytics table
``gnn_embeddings``. Each run's score distribution is compared with the previous run's
(:mod:`gnn.monitoring`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pyarrow as pa
import torch

from gnn.dataset import build_graph
from gnn.models import ACCOUNT
from gnn.monitoring import PSI_WARNING, DriftRecord, record_drift
from gnn.registry import ModelRegistry
from gnn.training import full_graph_embeddings, full_graph_scores, seed_everything
from graph_service.errors import EntityNotFound, InvalidInput
from graph_service.store import GraphStore

log = logging.getLogger(__name__)

#: Name of the score written back to the store.
GNN_SCORE: Final = "gnn_score"

#: Analytics table of account embeddings (``id``, ``embedding`` list<float>).
GNN_EMBEDDINGS: Final = "gnn_embeddings"


@dataclass(frozen=True)
class InferenceResult:
    """What an inference run did.

    Attributes
    ----------
    version : str
        The model used.
    ids : ndarray of int64
        Account store ids, ascending.
    scores : ndarray of float64
        ``gnn_score`` of each account, in [0, 1].
    seconds : dict of str to float
        ``graph`` (export + build), ``score``, ``write``.
    drift : DriftRecord
    """

    version: str
    ids: np.ndarray
    scores: np.ndarray
    seconds: dict[str, float]
    drift: DriftRecord

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures."""
        score_seconds = max(self.seconds["score"], 1e-9)
        return {
            "version": self.version,
            "accounts": int(self.ids.shape[0]),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "accounts_per_second": round(self.ids.shape[0] / score_seconds, 1),
            "mean_score": float(self.scores.mean()) if self.scores.shape[0] else None,
            "psi": self.drift.psi,
            "drift_warning": self.drift.warning,
        }


def infer(
    store: GraphStore,
    registry: ModelRegistry,
    *,
    version: str | None = None,
    device: str = "cpu",
    threads: int = 1,
    embeddings: bool = False,
    write_batch: int = 1_000_000,
    psi_threshold: float = PSI_WARNING,
    run_id: str | None = None,
) -> InferenceResult:
    """Score every account and write ``gnn_score`` (and optionally embeddings) back.

    Parameters
    ----------
    store : GraphStore
        Either backend.
    registry : ModelRegistry
    version : str, optional
        Default: the champion.
    device : str
        ``cpu`` or ``cuda``.
    threads : int
        CPU threads torch may use (1: on a shared two-core machine a second thread made
        the small mini-batch operations several times slower; raise it on a dedicated
        host).
    embeddings : bool
        Also write the ``gnn_embeddings`` analytics table.
    write_batch : int
        Accounts per ``write_scores`` call.
    psi_threshold : float
    run_id : str, optional
        The batch run scoring (see :func:`gnn.monitoring.record_drift`: a re-delivered
        run replaces its drift record).

    Returns
    -------
    InferenceResult

    Raises
    ------
    EntityNotFound
        If there is no champion and no version is given, or the version is unknown.
    ModelSchemaMismatch
        If the model's feature schema differs from the data's.
    InvalidInput
        If ``device`` is cuda without a CUDA device.

    Notes
    -----
    O((N + L) * hidden * layers) for N nodes and L links.
    """
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidInput("device cuda asked for, but no CUDA device is available")
    if write_batch < 1:
        raise InvalidInput("write_batch must be >= 1")
    version = version or registry.champion()
    if version is None:
        raise EntityNotFound("no champion GNN yet: train one first (fraudgraph gnn train)")
    seed_everything(0, threads)
    model = registry.load(version)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    snapshot = build_graph(store.export_nodes(), store.export_links())
    seconds["graph"] = time.perf_counter() - clock
    clock = time.perf_counter()
    scores = full_graph_scores(model, snapshot, device)
    seconds["score"] = time.perf_counter() - clock
    ids = snapshot.store_ids[ACCOUNT]
    clock = time.perf_counter()
    for start in range(0, ids.shape[0], write_batch):
        stop = start + write_batch
        store.write_scores(GNN_SCORE, ids[start:stop], scores[start:stop], version=version)
    if embeddings:
        vectors = full_graph_embeddings(model, snapshot, device)
        width = vectors.shape[1]
        flat = pa.array(vectors.reshape(-1), pa.float32())
        table = pa.table(
            {
                "id": pa.array(ids, pa.int64()),
                "embedding": pa.FixedSizeListArray.from_arrays(flat, width).cast(
                    pa.list_(pa.float32())
                ),
            }
        )
        store.write_table(GNN_EMBEDDINGS, table, version=version)
    seconds["write"] = time.perf_counter() - clock
    drift = record_drift(registry, version, scores, threshold=psi_threshold, run_id=run_id)
    log.info("gnn scores written", extra={"version": version, "accounts": int(ids.shape[0])})
    return InferenceResult(version=version, ids=ids, scores=scores, seconds=seconds, drift=drift)
