"""Ring detection end to end: projection -> graph signals -> features -> scores.

:func:`analyse` is the one entry point: it reads a store through the ``GraphStore``
protocol (any backend), writes the scores back (``entity_risk``, ``ring_score``,
``pagerank``, ``seeded_pagerank``, ``community``) and returns the tables investigators and
the flagging job consume: per-account risk with reasons, ring candidates with score,
reasons, a typology guess, evidence links and ring features, and the super nodes that were
discounted.

When the store holds a ``gnn_score`` (written by the GNN jobs), it joins the account
features as one more entity-model input (accounts without one get 0).

Account risk
    With enough confirmed fraud, a positive-unlabelled model's out-of-fold fraud
    probability (:func:`scoring.model.train_pu_model`); otherwise the population-relative
    evidence score (:mod:`scoring.surprise`). :attr:`AnalysisResult.label_mode` says which.
Ring score
    The ring's significance: how improbable the concentration of each kind of fraud
    evidence among its core members would be for a random group of the same size
    (binomial tail per evidence channel, Fisher-combined, Benjamini-Hochberg q-value over the
    candidates), as ``sig / (sig + significance_half)``; 0.5 at a corrected p of 0.01. A
    dense group without evidence beyond what random accounts show scores near 0.
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
from scoring.model import LabelMode, ScoringModel, label_mode, train_pu_model
from scoring.projection import AccountProjection, ProjectionConfig, project_tables
from scoring.reasons import ACCOUNT_RULES, RING_RULES, TOP_REASONS, reason_codes
from scoring.surprise import (
    LABELLED,
    MODEL,
    ChannelEvidence,
    SurpriseConfig,
    account_channels,
    ring_evidence,
    with_channel,
)

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
        Leiden resolution per account of the coarse level (default 0.001, i.e. 20 at 20,000 accounts and 1,000
        at 1M). Modularity's null model dilutes as the graph grows (the expected weight
        between two accounts falls with the total weight), so a fixed resolution merges
        ever larger neighbourhoods into each ring on larger populations; scaling it with
        the account count keeps communities at the size of the local structure.
    fine_resolution_factor : float
        Communities are also detected at this many times the resolution (10): rings of
        four and of forty accounts do not both come out at one resolution. Candidates of
        both levels are tested; where they overlap, the more significant one is kept.
        1 turns the second level off.
    min_resolution : float
        Floor of the effective resolution (default 5) for small populations; it ramps up
        linearly over the first 1,000 accounts, so a handful of accounts is not cut into
        singletons.
    seed : int
        Seeds communities, seed folds and models: an unchanged store gives the same
        communities and scores.
    damping : float
        PageRank / propagation damping (0.85).
    folds : int
        Seed groups of the leave-group-out fraud propagation (3).
    model_folds : int
        Folds of the out-of-fold scoring of labelled accounts (3).
    community_min_weight : float
        Edges lighter than this are left out of community detection (0.2, about one
        common identifier of weight 0.5 shared by ten accounts): half the edges of a
        bank-sized graph, and the slowest step's cost, for no loss of rings.
    community_max_levels : tuple of int
        Leiden's refinement passes at the coarse and the fine resolution (3, 2): the
        first passes find nearly all of the structure, later ones chase gains of 1e-5 at
        the full cost.
    min_labels_per_class : int
        Legit labels from which the entity model counts as ``supervised`` (20); below it
        learns from fraud against unlabelled accounts (positive-unlabelled).
    min_fraud_labels : int
        Fraud-labelled accounts needed to train the entity model (15); with fewer, risk
        is the population-relative evidence score, known fraud nearby being one of its
        channels (``few_labels``), or without any (``unsupervised``).
    max_unlabelled : int
        Unlabelled accounts sampled as negatives per fit of the entity model (50,000).
    surprise : SurpriseConfig
        Caps and cut-offs of the evidence channels (see :mod:`scoring.surprise`).
    significance_half : float
        Ring significance (``-log10`` of the q-value of its evidence) at which the ring
        score is 0.5 (1.3: q = 0.05): ``score = sig / (sig + significance_half)``.
    self_training : bool
        With too few fraud labels to learn from, train the entity model on the members of
        the rings whose evidence is beyond doubt (significance at least
        ``self_training_significance``, 2.0: q = 0.01) and score the rings again with its
        verdict as one more channel (True). The label mode stays what the labels say.
    min_ring_size : int
        Smallest core reported as a ring candidate (3: two accounts are a pair, scored as accounts).
    member_risk_fraction : float
        A ring keeps the members that show evidence of their own (an active channel) or
        are at least this fraction as risky as its riskiest member (0.4); the rest of its
        community (a mule's victims, a member's household) are hangers-on, not members.
        Ring features other than ``size`` describe the whole core.
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
    fine_resolution_factor: float = 10.0
    min_resolution: float = 5.0
    seed: int = 42
    damping: float = 0.85
    folds: int = 3
    model_folds: int = 3
    community_min_weight: float = 0.2
    community_max_levels: tuple[int, ...] = (3, 2)
    min_labels_per_class: int = 20
    min_fraud_labels: int = 15
    max_unlabelled: int = 50_000
    surprise: SurpriseConfig = field(default_factory=SurpriseConfig)
    significance_half: float = 1.3
    self_training: bool = True
    self_training_significance: float = 2.0
    min_ring_size: int = 3
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
        The model used (None when the evidence score was used).
    label_mode : LabelMode
        How the labels were used (see :class:`scoring.model.LabelMode`).
    """

    entity_risk: pa.Table
    ring_candidates: pa.Table
    super_nodes: pa.Table
    account_features: pa.Table
    timings: dict[str, float]
    version: str
    model: ScoringModel | None
    label_mode: LabelMode = LabelMode.UNSUPERVISED


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

    nodes = store.export_nodes()
    projection = project_tables(nodes, store.export_links(), config.projection)
    facts = NodeFacts.from_table(nodes)
    fraud, legit = account_labels(store.labels())
    done("projection")

    signals = compute_graph_signals(
        projection,
        store.algorithms(),
        fraud,
        method=config.community_method,
        seed=config.seed,
        resolution=_resolutions(config, int(projection.accounts.shape[0])),
        damping=config.damping,
        folds=config.folds,
        community_min_weight=config.community_min_weight,
        max_levels=config.community_max_levels,
    )
    done("signals")

    features = account_features(projection, signals, facts, fraud, legit, config.features)
    features = with_stored_scores(features, store.read_scores("gnn_score"), "gnn_score")
    channels = account_channels(
        {name: features.column(name).to_numpy() for name in features.column_names},
        config.surprise,
    )
    features = _with_channels(features, channels)
    done("features")

    labelled = features.column("known_fraud").to_numpy(zero_copy_only=False)
    channels = with_channel(channels, LABELLED, labelled)
    candidates = _candidates_of_every_level(projection, signals, config)

    def rings_with(evidence: ChannelEvidence, account_risk: np.ndarray) -> pa.Table:
        groups = _ring_groups(candidates, projection, evidence, config)
        found = ring_features(projection, features, facts, groups >= 0, groups)
        found = found.filter(pc.greater_equal(found.column("size"), float(config.min_ring_size)))
        return _ring_candidates(
            found, projection, nodes, account_risk, evidence, config, tests=candidates.num_rows
        )

    risk, model, mode = _entity_risk(features, channels, config)
    if model is None and config.self_training:
        # Without labels to learn from, the members of the rings whose evidence is beyond
        # doubt teach the model what the rest of the fraud looks like.
        first = rings_with(channels, risk)
        model, risk = _self_trained(features, first, projection.accounts, labelled, config)
    if model is not None:
        channels = with_channel(channels, MODEL, risk >= 0.5, risk)
    done("model")

    ring_table = rings_with(channels, risk)
    entity_reasons = reason_codes(features, ACCOUNT_RULES, top=config.top_reasons)
    entity_risk = pa.table(
        {"id": projection.accounts, "risk": risk, "reasons": entity_reasons},
        schema=ENTITY_RISK_SCHEMA,
    )
    version = _version(model, mode, config)
    done("rings")

    if config.write_scores:
        _write_back(store, projection.accounts, risk, signals, ring_table, version)
    done("write")
    log.info("analysis done", extra={"label_mode": mode.value, "rings": ring_table.num_rows})
    return AnalysisResult(
        entity_risk=entity_risk,
        ring_candidates=ring_table,
        super_nodes=projection.super_nodes,
        account_features=features,
        timings=timings,
        version=version,
        model=model,
        label_mode=mode,
    )


def _effective_resolution(config: AnalysisConfig, accounts: int) -> float:
    """Leiden resolution for a population of ``accounts`` (see :class:`AnalysisConfig`)."""
    floor = config.min_resolution * min(1.0, accounts / 1_000)
    return max(floor, config.resolution_per_account * accounts, 1e-3)


def _resolutions(config: AnalysisConfig, accounts: int) -> list[float]:
    """The coarse resolution and, unless the factor is 1, the fine one."""
    coarse = _effective_resolution(config, accounts)
    if config.fine_resolution_factor == 1.0:
        return [coarse]
    return [coarse, coarse * config.fine_resolution_factor]


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


def _candidates_of_every_level(
    projection: AccountProjection, signals: GraphSignals, config: AnalysisConfig
) -> pa.Table:
    """Ring candidates of every community level: ``candidate`` and ``members``, the cores
    of at least ``min_ring_size`` accounts.

    A candidate's label is its community's label, offset by the level times ``(largest
    account id + 1)`` so that labels stay distinct across levels.

    Notes
    -----
    O(n log n + m) per level.
    """
    accounts = projection.accounts
    offset = int(accounts.max()) + 1 if accounts.size else 1
    labels: list[np.ndarray] = []
    members: list[np.ndarray] = []
    sizes: list[np.ndarray] = []
    for level, community in enumerate(signals.community_levels):
        core = ring_core(
            projection,
            community,
            config.features.core_fraction,
            config.features.core_reference_rank,
        )
        kept, label = accounts[core], community[core]
        order = np.lexsort((kept, label))
        kept, label = kept[order], label[order]
        candidate, size = np.unique(label, return_counts=True)
        big = size >= config.min_ring_size
        keep_member = np.repeat(big, size)
        labels.append(candidate[big] + level * offset)
        members.append(kept[keep_member])
        sizes.append(size[big])
    size = np.concatenate(sizes) if sizes else np.zeros(0, np.int64)
    offsets = np.concatenate([[0], np.cumsum(size)]).astype(np.int32)
    flat = np.concatenate(members) if members else np.zeros(0, np.int64)
    return pa.table(
        {
            "candidate": pa.array(np.concatenate(labels) if labels else [], pa.int64()),
            "members": pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, pa.int64())),
        }
    )


def _self_trained(
    features: pa.Table,
    rings: pa.Table,
    accounts: np.ndarray,
    labelled: np.ndarray,
    config: AnalysisConfig,
) -> tuple[ScoringModel | None, np.ndarray]:
    """A positive-unlabelled model whose positives are the members of the rings at least
    ``self_training_significance`` significant (and any labelled fraud); ``(None, risk)``
    unchanged when they are fewer than ``min_fraud_labels``."""
    confident = rings.filter(
        pc.greater_equal(rings.column("significance"), config.self_training_significance)
    )
    members = np.asarray(pc.list_flatten(confident.column("members")).to_numpy(), np.int64)
    positive = np.isin(accounts, members) | labelled
    evidence = evidence_risk(features.column("evidence").to_numpy())
    if int(positive.sum()) < config.min_fraud_labels:
        return None, evidence
    known_legit = features.column("known_legit").to_numpy(zero_copy_only=False)
    model, risk = train_pu_model(
        features,
        positive,
        known_legit,
        model_feature_names(features.column_names),
        seed=config.seed,
        folds=config.model_folds,
        max_unlabelled=config.max_unlabelled,
    )
    log.info(
        "entity model trained on the members of confident rings",
        extra={"positives": int(positive.sum()), "rings": confident.num_rows},
    )
    return model, risk


def _with_channels(features: pa.Table, channels: ChannelEvidence) -> pa.Table:
    """``features`` plus one ``evidence_<channel>`` column per channel and ``evidence``."""
    for j, name in enumerate(channels.names):
        features = features.append_column(f"evidence_{name}", pa.array(channels.strength[:, j]))
    return features.append_column("evidence", pa.array(channels.total))


def evidence_risk(total: np.ndarray) -> np.ndarray:
    """The evidence score as a risk in [0, 1): ``1 - exp(-evidence / 4)``.

    One channel at its cap (evidence 3, a one-in-a-thousand account) gives 0.53; two give
    0.78. Not a probability: without labels there is nothing to calibrate against.
    """
    return np.asarray(1.0 - np.exp(-np.maximum(total, 0.0) / 4.0))


def _entity_risk(
    features: pa.Table, channels: ChannelEvidence, config: AnalysisConfig
) -> tuple[np.ndarray, ScoringModel | None, LabelMode]:
    """Risk of every account (labelled ones out of fold), the model and the label mode."""
    known_fraud = features.column("known_fraud").to_numpy(zero_copy_only=False)
    known_legit = features.column("known_legit").to_numpy(zero_copy_only=False)
    names = model_feature_names(features.column_names)
    if config.model_path is not None:
        model = ScoringModel.load(config.model_path, expected_features=names)
        return model.predict(features), model, LabelMode.SUPERVISED
    mode = label_mode(
        int(known_fraud.sum()),
        int(known_legit.sum()),
        min_fraud=config.min_fraud_labels,
        min_legit=config.min_labels_per_class,
    )
    if mode in (LabelMode.UNSUPERVISED, LabelMode.FEW_LABELS):
        log.info(
            "scoring accounts by evidence alone",
            extra={"label_mode": mode.value, "fraud": int(known_fraud.sum())},
        )
        return evidence_risk(channels.total), None, mode
    model, risk = train_pu_model(
        features,
        known_fraud,
        known_legit,
        names,
        seed=config.seed,
        folds=config.model_folds,
        max_unlabelled=config.max_unlabelled,
    )
    return risk, model, mode


def _ring_candidates(
    rings: pa.Table,
    projection: AccountProjection,
    nodes: pa.Table,
    risk: np.ndarray,
    channels: ChannelEvidence,
    config: AnalysisConfig,
    *,
    tests: int,
) -> pa.Table:
    """Score, explain, classify and evidence every ring.

    The score is the ring's significance (see :mod:`scoring.surprise`) mapped to [0, 1):
    how improbable the concentration of fraud evidence among its members would be for a
    random group of the same size, corrected for the ``tests`` candidates examined.
    """
    accounts = projection.accounts
    k = rings.num_rows
    members = rings.column("members").combine_chunks() if k else pa.array([], pa.list_(pa.int64()))
    flat = np.asarray(pc.list_flatten(members).to_numpy(), np.int64)
    sizes = np.asarray(pc.list_value_length(members).to_numpy(), np.int64)
    group = np.repeat(np.arange(k), sizes)
    rows = np.searchsorted(accounts, flat)
    evidence_of = ring_evidence(channels, rows, group, k, config.surprise, tests=tests)
    significance = evidence_of.significance
    member_risk = risk[rows]
    score = significance / (significance + config.significance_half)
    mean_risk = np.bincount(group, weights=member_risk, minlength=k) / np.maximum(sizes, 1)
    max_risk = np.zeros(k)
    np.maximum.at(max_risk, group, member_risk)
    showing = channels.active[rows][:, channels.per_member].any(axis=1)
    kept = showing | (member_risk >= config.member_risk_fraction * max_risk[group])
    members, flat, group = _kept_members(flat, group, kept, k, config.min_ring_size)

    table = rings.append_column("mean_member_risk", pa.array(mean_risk))
    table = table.append_column("max_member_risk", pa.array(max_risk))
    table = table.append_column("significance", pa.array(significance))
    for j, name in enumerate(channels.names):
        table = table.append_column(f"evidence_{name}", pa.array(evidence_of.surprise[:, j]))
    table = table.set_column(
        table.column_names.index("size"),
        "size",
        pa.array(np.bincount(group, minlength=k).astype(np.float64)),
    )
    evidence, type_share = _evidence(projection, nodes, flat, group, k, config.evidence_links)
    typology = _typology(table, type_share)
    reasons = _ring_reasons(
        table, channels, evidence_of.surprise, rows, np.repeat(np.arange(k), sizes), config
    )
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


#: Ring reason stems per evidence channel: ``<STEM>_<k>_OF_<size>``.
CHANNEL_REASONS: Final[dict[str, str]] = {
    "known_fraud": "NEAR_KNOWN_FRAUD",
    "device": "RISKY_DEVICES",
    "coordination": "OPENED_TOGETHER",
    "takeover": "TAKEN_OVER_TOGETHER",
    "money": "PASSING_MONEY_ON",
    "spending": "SPENDING_SPIKE_TOGETHER",
    "network": "PROXY_OR_ROOTED",
    LABELLED: "CONFIRMED_FRAUD",
    MODEL: "HIGH_MODEL_RISK",
}


def _ring_reasons(
    table: pa.Table,
    channels: ChannelEvidence,
    surprise: np.ndarray,
    rows: np.ndarray,
    group: np.ndarray,
    config: AnalysisConfig,
) -> pa.Array:
    """Evidence reasons (``OPENED_TOGETHER_5_OF_7``), most surprising channel first, then
    the descriptive ring rules, ``top_reasons`` in all."""
    k = table.num_rows
    size = np.bincount(group, minlength=k)
    per_ring: list[list[str]] = [[] for _ in range(k)]
    order = np.argsort(-surprise, axis=1, kind="stable") if k else np.zeros((0, 0), np.int64)
    hits = (
        np.column_stack(
            [
                np.bincount(group, weights=channels.active[rows, j].astype(float), minlength=k)
                for j in range(len(channels.names))
            ]
        )
        if channels.names
        else np.zeros((k, 0))
    )
    for ring in np.flatnonzero(surprise.max(axis=1) >= 1.0) if k and surprise.size else []:
        for j in order[ring]:
            if surprise[ring, j] < 1.0:
                break
            stem = CHANNEL_REASONS.get(channels.names[j], channels.names[j].upper())
            per_ring[ring].append(f"{stem}_{int(hits[ring, j])}_OF_{int(size[ring])}")
    descriptive = reason_codes(table, RING_RULES, top=config.top_reasons).to_pylist()
    merged = [
        (first + [r for r in rest if r not in first])[: config.top_reasons]
        for first, rest in zip(per_ring, descriptive, strict=True)
    ]
    return pa.array(merged, pa.list_(pa.string()))


def _ring_groups(
    candidates: pa.Table,
    projection: AccountProjection,
    channels: ChannelEvidence,
    config: AnalysisConfig,
) -> np.ndarray:
    """The ring each account belongs to (a candidate label), or -1.

    Candidates of every community level are tested; the most significant disjoint ones
    are kept (:func:`_most_significant_disjoint`).

    Notes
    -----
    O(r log r) for r candidate members.
    """
    accounts = projection.accounts
    k = candidates.num_rows
    members = candidates.column("members").combine_chunks()
    flat = np.asarray(pc.list_flatten(members).to_numpy(), np.int64)
    sizes = np.asarray(pc.list_value_length(members).to_numpy(), np.int64)
    group = np.repeat(np.arange(k), sizes)
    rows = np.searchsorted(accounts, flat)
    significance = ring_evidence(channels, rows, group, k, config.surprise).significance
    chosen = _most_significant_disjoint(group, rows, significance, sizes, k)
    label = np.full(accounts.shape[0], -1, np.int64)
    picked = chosen[group]
    label[rows[picked]] = candidates.column("candidate").to_numpy()[group[picked]]
    return label


def _most_significant_disjoint(
    group: np.ndarray, rows: np.ndarray, significance: np.ndarray, sizes: np.ndarray, k: int
) -> np.ndarray:
    """Candidates kept: most significant first (then larger), each sharing no member with
    one kept before it. A coarse community and the finer ones inside it describe the same
    accounts; the reading with the stronger evidence wins.

    Notes
    -----
    O(r log r) plus a Python step per candidate for r candidate members.
    """
    order = np.lexsort((-sizes, -significance))
    starts = np.concatenate([[0], np.cumsum(sizes)])
    taken = np.zeros(int(rows.max()) + 1 if rows.size else 0, np.bool_)
    chosen = np.zeros(k, np.bool_)
    by_group = np.argsort(group, kind="stable")
    member_rows = rows[by_group]
    for candidate in order.tolist():
        members = member_rows[starts[candidate] : starts[candidate + 1]]
        if taken[members].any():
            continue
        taken[members] = True
        chosen[candidate] = True
    return chosen


def _kept_members(
    flat: np.ndarray, group: np.ndarray, keep: np.ndarray, k: int, min_size: int
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """The kept members of every ring; a ring that would shrink below ``min_size`` keeps
    everyone. Returns the ``members`` list array and the kept ``flat`` ids with ``group``."""
    too_small = np.bincount(group[keep], minlength=k) < min_size
    keep = keep | too_small[group]
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


def _version(model: ScoringModel | None, mode: LabelMode, config: AnalysisConfig) -> str:
    digest = hashlib.sha256(repr(config).encode()).hexdigest()[:8]
    return f"{model.version if model else mode.value}+cfg-{digest}"


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
