"""Ring detection end to end: projection -> graph signals -> features -> scores.

:func:`analyse` is the one entry point: it reads a store through the ``GraphStore``
protocol (any backend), writes the scores back (``entity_risk``, ``ring_score``,
``pagerank``, ``seeded_pagerank``, ``community``) and returns the tables investigators and
the flagging job consume: per-account risk with reasons, ring candidates with score,
reasons, a typology guess, evidence links and ring features, and the super nodes that were
discounted.

When the store holds a ``gnn_score`` (written by the GNN jobs), it joins the account
features as one more entity-model input (accounts without one get 0).

Ring score
    The mean risk of the riskier half of the core's members, rounded up and counting the
    middle member (both members of a pair; entity risks are calibrated
    probabilities), raised by labelled fraud among the members:
    ``1 - (1 - top_half_mean) * (1 - known_fraud_boost * min(known_fraud_fraction / 0.3, 1))``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph_service.errors import EntityNotFound, InvalidInput
from graph_service.model import LINK_TYPE_CODE, LinkType, NodeType
from graph_service.store import GraphStore
from scoring.features import (
    FeatureConfig,
    NodeFacts,
    account_features,
    model_feature_names,
    ring_core,
    ring_features,
    with_stored_scores,
)
from scoring.graph_signals import CommunityMethod, GraphSignals, compute_graph_signals
from scoring.model import ScoringModel, fallback_risk, train_model
from scoring.projection import AccountProjection, ProjectionConfig, shared_identifier_projection
from scoring.reasons import ACCOUNT_RULES, RING_RULES, TOP_REASONS, reason_codes

log = logging.getLogger(__name__)

#: ``entity_risk`` result.
ENTITY_RISK_SCHEMA: Final = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("risk", pa.float64(), nullable=False),
        pa.field("reasons", pa.list_(pa.string()), nullable=False),
    ]
)

#: One evidence link of a ring.
EVIDENCE_TYPE: Final = pa.struct(
    [
        pa.field("src", pa.int64()),
        pa.field("dst", pa.int64()),
        pa.field("type", pa.string()),
        pa.field("key", pa.string()),
    ]
)

#: Typology guesses (the values of ``truth.csv``'s typology, plus ``unknown``).
TYPOLOGIES: Final[tuple[str, ...]] = (
    "device_farm",
    "synthetic_identity",
    "mule_network",
    "bust_out",
    "account_takeover",
    "unknown",
)

Progress = Callable[[str, int, int], None]

_STEPS: Final = ("projection", "signals", "features", "model", "rings", "write")


@dataclass(frozen=True)
class AnalysisConfig:
    """Everything :func:`analyse` can be tuned with; the defaults are the product's.

    Parameters
    ----------
    projection : ProjectionConfig
        Identifier weights, super-node caps, transfer weight.
    features : FeatureConfig
        Burst window, ring-core fraction.
    community_method : CommunityMethod
        Leiden (default) or Louvain.
    resolution_per_account : float
        Leiden resolution per account (default 0.001, i.e. 20 at 20,000 accounts and 1,000
        at 1M). Modularity's null model dilutes as the graph grows (the expected weight
        between two accounts falls with the total weight), so a fixed resolution merges
        ever larger neighbourhoods into each ring on larger populations; scaling it with
        the account count keeps communities at the size of the local structure.
    min_resolution : float
        Floor of the effective resolution (default 20) for small populations; it ramps up
        linearly over the first 1,000 accounts, so a handful of accounts is not cut into
        singletons.
    seed : int
        Seeds communities, seed folds and models: an unchanged store gives the same
        communities and scores.
    damping : float
        PageRank / propagation damping (0.85).
    folds : int
        Seed groups of the leave-group-out fraud propagation (5).
    model_folds : int
        Folds of the out-of-fold scoring of labelled accounts (3).
    community_min_weight : float
        Edges lighter than this are left out of community detection (0.2, about one
        common identifier of weight 0.5 shared by ten accounts): half the edges of a
        bank-sized graph, and the slowest step's cost, for no loss of rings.
    min_labels_per_class : int
        Labels of each class needed to train a model (20); below, the transparent
        fallback score is used.
    known_fraud_boost : float
        How far labelled fraud among a ring's members raises its score (0.5).
    min_ring_size : int
        Smallest core reported as a ring candidate (2).
    member_risk_fraction : float
        A ring keeps the members at least this fraction as risky as its riskiest member
        (0.4); the rest of its community (a mule's victims, a member's household) are
        hangers-on, not members. Ring features other than ``size`` describe the whole core.
    top_reasons : int
        Reason codes kept per account and ring (5).
    evidence_links : int
        Strongest internal links reported per ring (5).
    model_path : Path, optional
        Score with this saved model instead of training one.
    write_scores : bool
        Write the scores back to the store (default True).
    """

    projection: ProjectionConfig = field(default_factory=ProjectionConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    community_method: CommunityMethod = CommunityMethod.LEIDEN
    resolution_per_account: float = 1e-3
    min_resolution: float = 20.0
    seed: int = 42
    damping: float = 0.85
    folds: int = 5
    model_folds: int = 3
    community_min_weight: float = 0.2
    min_labels_per_class: int = 20
    known_fraud_boost: float = 0.5
    min_ring_size: int = 2
    member_risk_fraction: float = 0.4
    top_reasons: int = TOP_REASONS
    evidence_links: int = 5
    model_path: Path | None = None
    write_scores: bool = True


@dataclass(frozen=True)
class AnalysisResult:
    """What :func:`analyse` found.

    Attributes
    ----------
    entity_risk : pa.Table
        ``ENTITY_RISK_SCHEMA``: one row per account, ordered by id.
    ring_candidates : pa.Table
        One row per ring candidate: ``candidate``, ``members``, ``score``, ``reasons``,
        ``typology``, ``evidence`` and the ring feature columns; highest score first.
    super_nodes : pa.Table
        ``id, type, key, share_count`` of the identifiers left out as too common.
    account_features : pa.Table
        Every account feature (for investigation and the feature cache).
    timings : dict of str to float
        Seconds per step.
    version : str
        Identifies the model and configuration that produced the scores.
    model : ScoringModel or None
        The model used (None when the fallback score was used).
    """

    entity_risk: pa.Table
    ring_candidates: pa.Table
    super_nodes: pa.Table
    account_features: pa.Table
    timings: dict[str, float]
    version: str
    model: ScoringModel | None


def analyse(
    store: GraphStore,
    config: AnalysisConfig | None = None,
    *,
    progress: Progress | None = None,
) -> AnalysisResult:
    """Detect and score fraud rings and account risk in ``store``.

    Parameters
    ----------
    store : GraphStore
        Either backend; algorithms run on ``store.algorithms()``.
    config : AnalysisConfig, optional
    progress : callable, optional
        ``progress(step, done, total)`` after each step (steps: projection, signals,
        features, model, rings, write).

    Returns
    -------
    AnalysisResult

    Raises
    ------
    InvalidInput
        On an invalid configuration, or a saved model whose features do not match.
    LimitExceeded, BackendUnavailable
        From the algorithm engine.

    Notes
    -----
    O(N + L + P log P) for N nodes, L links and P projected pairs (bounded by the
    super-node caps), plus community detection and model fitting on the labelled rows.
    """
    config = config or AnalysisConfig()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def done(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = now - clock
        clock = now
        log.info("analysis step done", extra={"step": step, "seconds": timings[step]})
        if progress is not None:
            progress(step, _STEPS.index(step) + 1, len(_STEPS))

    projection = shared_identifier_projection(store, config.projection)
    nodes = store.export_nodes()
    facts = NodeFacts.from_table(nodes)
    fraud, legit = account_labels(store.labels())
    done("projection")

    signals = compute_graph_signals(
        projection,
        store.algorithms(),
        fraud,
        method=config.community_method,
        seed=config.seed,
        resolution=_effective_resolution(config, int(projection.accounts.shape[0])),
        damping=config.damping,
        folds=config.folds,
        community_min_weight=config.community_min_weight,
    )
    done("signals")

    features = account_features(projection, signals, facts, fraud, legit, config.features)
    features = with_stored_scores(features, store.read_scores("gnn_score"), "gnn_score")
    core = ring_core(
        projection,
        signals.community,
        config.features.core_fraction,
        config.features.core_reference_rank,
    )
    done("features")

    risk, model = _entity_risk(features, config)
    done("model")

    rings = ring_features(projection, features, facts, core)
    rings = rings.filter(pc.greater_equal(rings.column("size"), float(config.min_ring_size)))
    ring_table = _ring_candidates(rings, projection, nodes, risk, config)
    entity_reasons = reason_codes(features, ACCOUNT_RULES, top=config.top_reasons)
    entity_risk = pa.table(
        {"id": projection.accounts, "risk": risk, "reasons": entity_reasons},
        schema=ENTITY_RISK_SCHEMA,
    )
    version = _version(model, config)
    done("rings")

    if config.write_scores:
        _write_back(store, projection.accounts, risk, signals, ring_table, version)
    done("write")
    return AnalysisResult(
        entity_risk=entity_risk,
        ring_candidates=ring_table,
        super_nodes=projection.super_nodes,
        account_features=features,
        timings=timings,
        version=version,
        model=model,
    )


def _effective_resolution(config: AnalysisConfig, accounts: int) -> float:
    """Leiden resolution for a population of ``accounts`` (see :class:`AnalysisConfig`)."""
    floor = config.min_resolution * min(1.0, accounts / 1_000)
    return max(floor, config.resolution_per_account * accounts, 1e-3)


def account_labels(labels: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Store ids of accounts whose latest label is fraud, and of those whose latest is legit.

    Parameters
    ----------
    labels : pa.Table
        ``store.labels()``.

    Returns
    -------
    fraud, legit : ndarray of int64

    Notes
    -----
    O(l log l) for l labels.
    """
    if labels.num_rows == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty.copy()
    mask = pc.and_(
        pc.equal(labels.column("entity_type"), NodeType.ACCOUNT.value),
        pc.is_valid(labels.column("entity_id")),
    )
    rows = labels.filter(mask)
    ids = rows.column("entity_id").to_numpy().astype(np.int64)
    verdict = np.asarray(rows.column("label").to_pylist(), dtype=object) == "fraud"
    when = rows.column("ts").cast(pa.int64()).fill_null(0).to_numpy()
    order = np.lexsort((when, ids))
    ids, verdict = ids[order], verdict[order]
    last = np.r_[ids[1:] != ids[:-1], True] if ids.size else np.zeros(0, bool)
    return ids[last & verdict], ids[last & ~verdict]


def _entity_risk(
    features: pa.Table, config: AnalysisConfig
) -> tuple[np.ndarray, ScoringModel | None]:
    """Model risk (out-of-fold for labelled accounts), or the fallback score."""
    known_fraud = features.column("known_fraud").to_numpy(zero_copy_only=False)
    known_legit = features.column("known_legit").to_numpy(zero_copy_only=False)
    names = model_feature_names(features.column_names)
    if config.model_path is not None:
        model = ScoringModel.load(config.model_path, expected_features=names)
        return model.predict(features), model
    labelled = np.flatnonzero(known_fraud | known_legit)
    y = known_fraud[labelled].astype(np.int64)
    if min(int(y.sum()), int((1 - y).sum())) < config.min_labels_per_class:
        log.warning(
            "too few labels to train; using the transparent fallback score",
            extra={"fraud": int(y.sum()), "legit": int((1 - y).sum())},
        )
        return fallback_risk(features), None
    training = features.take(pa.array(labelled))
    model, out_of_fold = train_model(training, y, names, seed=config.seed, folds=config.model_folds)
    risk = model.predict(features)
    risk[labelled] = out_of_fold
    return risk, model


def _ring_candidates(
    rings: pa.Table,
    projection: AccountProjection,
    nodes: pa.Table,
    risk: np.ndarray,
    config: AnalysisConfig,
) -> pa.Table:
    """Score, explain, classify and evidence every ring candidate."""
    accounts = projection.accounts
    k = rings.num_rows
    members = rings.column("members").combine_chunks() if k else pa.array([], pa.list_(pa.int64()))
    flat = np.asarray(pc.list_flatten(members).to_numpy(), np.int64)
    sizes = np.asarray(pc.list_value_length(members).to_numpy(), np.int64)
    group = np.repeat(np.arange(k), sizes)
    member_risk = risk[np.searchsorted(accounts, flat)]
    order = np.lexsort((-member_risk, group))
    ranked_group, ranked_risk = group[order], member_risk[order]
    rank = np.arange(ranked_group.size) - np.searchsorted(ranked_group, ranked_group)
    upper = rank < np.ceil((sizes[ranked_group] + 1) / 2)
    top_half = np.bincount(
        ranked_group[upper], weights=ranked_risk[upper], minlength=k
    ) / np.maximum(np.bincount(ranked_group[upper], minlength=k), 1)
    mean_risk = np.bincount(group, weights=member_risk, minlength=k) / np.maximum(sizes, 1)
    max_risk = np.zeros(k)
    np.maximum.at(max_risk, group, member_risk)
    known = np.asarray(rings.column("known_fraud_fraction").to_numpy(), np.float64)
    boost = config.known_fraud_boost * np.minimum(known / 0.3, 1.0)
    score = 1.0 - (1.0 - top_half) * (1.0 - boost)
    members, flat, group = _risky_members(flat, group, member_risk, max_risk, k, config)

    table = rings.append_column("mean_member_risk", pa.array(mean_risk))
    table = table.append_column("max_member_risk", pa.array(max_risk))
    table = table.set_column(
        table.column_names.index("size"),
        "size",
        pa.array(np.bincount(group, minlength=k).astype(np.float64)),
    )
    evidence, type_share = _evidence(projection, nodes, flat, group, k, config.evidence_links)
    typology = _typology(table, type_share)
    reasons = reason_codes(table, RING_RULES, top=config.top_reasons)
    front = pa.table(
        {
            "candidate": table.column("candidate"),
            "members": members,
            "score": pa.array(np.clip(score, 0.0, 1.0), pa.float64()),
            "reasons": reasons,
            "typology": pa.array(typology, pa.string()),
            "evidence": evidence,
        }
    )
    for name in table.column_names:
        if name not in front.column_names:
            front = front.append_column(name, table.column(name))
    if k == 0:
        return front
    return front.take(pa.array(np.lexsort((front.column("candidate").to_numpy(), -score))))


def _risky_members(
    flat: np.ndarray,
    group: np.ndarray,
    member_risk: np.ndarray,
    max_risk: np.ndarray,
    k: int,
    config: AnalysisConfig,
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Members kept in each ring: those at least ``member_risk_fraction`` as risky as its
    riskiest member (a community also holds hangers-on such as a mule's victims or a
    member's household); a ring that would shrink below ``min_ring_size`` keeps everyone.

    Returns the ``members`` list array and the kept ``flat`` ids with their ``group``.
    """
    keep = member_risk >= config.member_risk_fraction * max_risk[group]
    too_small = np.bincount(group[keep], minlength=k) < config.min_ring_size
    keep |= too_small[group]
    flat, group = flat[keep], group[keep]
    offsets = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=k))])
    members = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(flat, pa.int64()))
    return members, flat, group


def _evidence(
    projection: AccountProjection,
    nodes: pa.Table,
    flat: np.ndarray,
    group: np.ndarray,
    k: int,
    per_ring: int,
) -> tuple[pa.Array, np.ndarray]:
    """Strongest internal links per ring, and each ring's internal weight share per link type."""
    accounts = projection.accounts
    slot = np.full(accounts.shape[0], -1, np.int64)
    slot[np.searchsorted(accounts, flat)] = group
    u = np.searchsorted(accounts, projection.src)
    v = np.searchsorted(accounts, projection.dst)
    inside = np.flatnonzero((slot[u] >= 0) & (slot[u] == slot[v]))
    ring = slot[u][inside]
    n_types = len(LINK_TYPE_CODE)
    by_type = np.bincount(
        ring * n_types + projection.evidence_type[inside],
        weights=projection.weight[inside],
        minlength=k * n_types,
    ).reshape(k, n_types)
    type_share = by_type / np.maximum(by_type.sum(axis=1, keepdims=True), 1e-12)
    order = np.lexsort((inside, -projection.weight[inside], ring))
    ring, edge = ring[order], inside[order]
    rank = np.arange(ring.size) - np.searchsorted(ring, ring)
    keep = rank < per_ring
    ring, edge = ring[keep], edge[keep]
    type_names = np.array([t.value for t in LINK_TYPE_CODE], dtype=object)
    ident = projection.evidence_identifier[edge]
    node_ids = nodes.column("id").to_numpy()
    positions = np.searchsorted(node_ids, np.maximum(ident, 0))
    keys = (
        nodes.column("key")
        .combine_chunks()
        .take(pa.array(np.minimum(positions, max(len(node_ids) - 1, 0))))
    )
    keys = pc.if_else(pa.array(ident >= 0), keys, pa.scalar("", pa.string()))
    structs = pa.StructArray.from_arrays(
        [
            pa.array(projection.src[edge], pa.int64()),
            pa.array(projection.dst[edge], pa.int64()),
            pa.array(type_names[projection.evidence_type[edge]].tolist(), pa.string()),
            keys,
        ],
        fields=list(EVIDENCE_TYPE),
    )
    offsets = np.concatenate([[0], np.cumsum(np.bincount(ring, minlength=k))]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), structs), type_share


def _typology(table: pa.Table, type_share: np.ndarray) -> list[str]:
    """A typology guess per ring from its features and what ties it (first match wins)."""

    def col(name: str) -> np.ndarray:
        return np.asarray(table.column(name).to_numpy(), np.float64)

    def share(*links: LinkType) -> np.ndarray:
        picked: np.ndarray = type_share[:, [LINK_TYPE_CODE[t] for t in links]].sum(axis=1)
        return picked

    created_together = col("creation_spread_days") <= 30
    conditions = [
        ((col("emulator_share") >= 0.3) | (col("signup_burst_max") >= 5)) & created_together,
        (col("money_cycle_share") >= 0.2) | (share(LinkType.TRANSFERS_TO) >= 0.4),
        (col("proxy_share") >= 0.3) | (share(LinkType.USES_DEVICE, LinkType.LOGS_IN_FROM) >= 0.5),
        (share(LinkType.PAYS) >= 0.2) | (col("rare_merchant_share") >= 0.5),
        share(LinkType.HAS_EMAIL, LinkType.HAS_PHONE, LinkType.HAS_ADDRESS) >= 0.4,
    ]
    choices = np.array(TYPOLOGIES[:-1])[[0, 2, 4, 3, 1]]
    guess = np.select(conditions, list(choices), default="unknown")
    return [str(g) for g in guess.tolist()]


def _version(model: ScoringModel | None, config: AnalysisConfig) -> str:
    digest = hashlib.sha256(repr(config).encode()).hexdigest()[:8]
    return f"{model.version if model else 'fallback'}+cfg-{digest}"


def _write_back(
    store: GraphStore,
    accounts: np.ndarray,
    risk: np.ndarray,
    signals: GraphSignals,
    rings: pa.Table,
    version: str,
) -> None:
    ring_score = np.zeros(accounts.shape[0])
    if rings.num_rows:
        members = rings.column("members").combine_chunks()
        flat = np.asarray(pc.list_flatten(members).to_numpy(), np.int64)
        sizes = np.asarray(pc.list_value_length(members).to_numpy(), np.int64)
        scores = np.repeat(rings.column("score").to_numpy(), sizes)
        ring_score[np.searchsorted(accounts, flat)] = scores
    store.write_scores("entity_risk", accounts, risk, version=version)
    store.write_scores("ring_score", accounts, ring_score, version=version)
    store.write_scores("pagerank", accounts, signals.pagerank, version=version)
    store.write_scores("seeded_pagerank", accounts, signals.seeded_score, version=version)
    store.write_scores("community", accounts, signals.community.astype(np.float64), version=version)


# -- staging between jobs ----------------------------------------------------------------

#: Analytics tables one staged analysis run is kept in (see :func:`stage_analysis`).
STAGED_TABLES: Final[tuple[str, ...]] = (
    "analysis_candidates",
    "analysis_super_nodes",
    "analysis_reasons",
    "analysis_runs",
)


@dataclass(frozen=True)
class StagedAnalysis:
    """One analysis run read back from the store: what flagging and publishing need.

    Attributes
    ----------
    run_version : str
        The version the run was staged under.
    version : str
        The analysis version (model and configuration), as ``AnalysisResult.version``.
    ring_candidates, super_nodes : pa.Table
        As in :class:`AnalysisResult`.
    reasons : pa.Table
        ``(id, reasons)`` per account.
    """

    run_version: str
    version: str
    ring_candidates: pa.Table
    super_nodes: pa.Table
    reasons: pa.Table


def stage_analysis(
    store: GraphStore, result: AnalysisResult, *, run_version: str, keep_runs: int = 3
) -> None:
    """Record the tables of ``result`` that later jobs consume, under ``run_version``.

    Flagging and publishing may run in another process (a batch worker) than the analysis;
    they read the run back with :func:`read_staged_analysis`. ``analysis_runs`` is written
    last, so a version listed there has all its tables. Writing a version again replaces
    it (a re-delivered job).

    Parameters
    ----------
    store : GraphStore
    result : AnalysisResult
    run_version : str
        A valid analytics table version (the pipeline run's).
    keep_runs : int
        Staged runs kept (the latest, this one included).

    Raises
    ------
    InvalidInput
        For an invalid version or ``keep_runs`` below 1.
    """
    if keep_runs < 1:
        raise InvalidInput(f"keep_runs must be >= 1, got {keep_runs}")
    meta = pa.table(
        {
            "run_version": [run_version],
            "analysis_version": [result.version],
            "accounts": pa.array([result.entity_risk.num_rows], pa.int64()),
            "ring_candidates": pa.array([result.ring_candidates.num_rows], pa.int64()),
        }
    )
    tables = (
        result.ring_candidates,
        result.super_nodes,
        result.entity_risk.select(["id", "reasons"]),
        meta,
    )
    for name, table in zip(STAGED_TABLES, tables, strict=True):
        store.write_table(name, table, version=run_version)
    for name in STAGED_TABLES:
        for old in store.table_versions(name)[:-keep_runs]:
            store.drop_table_version(name, old)


def read_staged_analysis(store: GraphStore, *, run_version: str | None = None) -> StagedAnalysis:
    """The analysis staged under ``run_version`` (default: the latest complete one).

    Raises
    ------
    EntityNotFound
        If no analysis was staged, or not under ``run_version``.
    """
    versions = store.table_versions("analysis_runs")
    if run_version is None:
        if not versions:
            raise EntityNotFound("no analysis staged in the store; run the analyse job first")
        run_version = versions[-1]
    elif run_version not in versions:
        raise EntityNotFound(f"no analysis staged under version {run_version!r}")
    meta = store.read_table("analysis_runs", version=run_version).to_pylist()[0]
    return StagedAnalysis(
        run_version=run_version,
        version=str(meta["analysis_version"]),
        ring_candidates=store.read_table("analysis_candidates", version=run_version),
        super_nodes=store.read_table("analysis_super_nodes", version=run_version),
        reasons=store.read_table("analysis_reasons", version=run_version),
    )
